"""`portalkit db upgrade` creates the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from portalkit.cli import main
from portalkit.storage.base import TABLES
from portalkit.storage.sqlalchemy.rows import schema_for


def _assert_schema_matches_models(url: str, prefix: str = "") -> None:
    """The migrated database holds exactly the tables the rows describe under ``prefix``
    (any other table is the host's and not compared)."""
    schema = schema_for(prefix)
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": schema.version_table,
                "include_name": lambda name, type_, _parents: (
                    type_ != "table" or name in schema.metadata.tables
                ),
            },
        )
        diff = compare_metadata(context, schema.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert {prefix + t for t in TABLES} <= tables


def test_db_upgrade_on_a_sqlite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["db", "upgrade", "--url", url]) == 0
    assert main(["db", "upgrade", "--url", url]) == 0  # a second run changes nothing
    assert "up to date" in capsys.readouterr().out
    _assert_schema_matches_models(url)


@pytest.mark.postgres
def test_db_upgrade_on_postgres(pg_server: object) -> None:
    url = pg_server.create_database("migrations_check")  # type: ignore[attr-defined]
    assert main(["db", "upgrade", "--url", url]) == 0
    _assert_schema_matches_models(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        partial = conn.execute(
            text("select indexdef from pg_indexes where indexname = 'uq_memberships_main'")
        ).scalar_one()
    engine.dispose()
    assert "WHERE" in partial and "main" in partial


def test_db_upgrade_reads_the_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTALKIT_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "env.db").exists()


def test_db_upgrade_explains_a_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--url", "nonsense"]) == 3  # ExitCode.SETTINGS
    assert "PORTALKIT_DATABASE_URL" in capsys.readouterr().err


def test_a_database_without_schema_says_to_upgrade(tmp_path: Path) -> None:
    from portalkit import Portal, StorageError, System
    from portalkit.storage.sqlalchemy import SqlStorage

    portal = Portal(SqlStorage(f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(StorageError, match="portalkit db upgrade"):
        portal.vendors.list(System())
    portal.close()


@pytest.mark.postgres  # needs psycopg, which the PostgreSQL extra brings
def test_an_unreachable_database_is_a_storage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from portalkit import Portal, StorageError, System
    from portalkit.storage.sqlalchemy import SqlStorage

    url = "postgresql://nobody@127.0.0.1:1/none"  # port 1: refused at once
    portal = Portal(SqlStorage(url))
    with pytest.raises(StorageError, match="the database failed"):
        portal.vendors.list(System())
    assert main(["db", "upgrade", "--url", url]) == 5  # ExitCode.UNAVAILABLE
    assert "the database failed" in capsys.readouterr().err


def test_the_newest_migrations_go_down_and_up_again(tmp_path: Path) -> None:
    """0007 (jobs) and 0008 (a token's membership) undo cleanly and apply again."""
    from alembic import command

    from portalkit.storage.sqlalchemy._backend import alembic_config

    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    assert main(["db", "upgrade", "--url", url]) == 0
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0006")
    with engine.connect() as conn:
        assert "jobs" not in inspect(conn).get_table_names()
        assert "membership_id" not in {c["name"] for c in inspect(conn).get_columns("tokens")}
    engine.dispose()
    assert main(["db", "upgrade", "--url", url]) == 0
    _assert_schema_matches_models(url)


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return str(request.getfixturevalue("pg_server").create_database(name))


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = [tuple(row) for row in conn.execute(text(query))]
    engine.dispose()
    return found


def _as_before_portalkit_had_its_own_version_table(url: str, *host_rows: str) -> None:
    """Put portalkit's revision back into Alembic's default table, where it used to be."""
    engine = create_engine(url)
    with engine.begin() as conn:
        (revision,) = conn.execute(text("select version_num from portalkit_version")).one()
        conn.execute(text("drop table portalkit_version"))
        conn.execute(
            text("create table alembic_version (version_num varchar(32) primary key not null)")
        )
        for row in (revision, *host_rows):
            conn.execute(text("insert into alembic_version values (:r)"), {"r": row})
    engine.dispose()


SQL_DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("kind", SQL_DATABASES)
@pytest.mark.parametrize("host_rows", [(), ("h001",)], ids=["alone", "beside-a-host-row"])
def test_an_older_database_moves_its_revision_into_portalkits_own_table(
    kind: str, host_rows: tuple[str, ...], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A database portalkit migrated before (its revision in ``alembic_version``) upgrades
    on: the revision moves to ``portalkit_version``, a host's row stays."""
    from portalkit.storage.sqlalchemy import SqlStorage

    url = _url(kind, request, tmp_path, f"old_{len(host_rows)}")
    storage = SqlStorage(url)
    storage.upgrade_schema()
    storage.downgrade_schema("0006")  # an older portalkit's database: no jobs table yet
    _as_before_portalkit_had_its_own_version_table(url, *host_rows)
    storage.upgrade_schema()
    storage.close()
    _assert_schema_matches_models(url)
    head = _rows(url, "select version_num from portalkit_version")
    assert head != [("0006",)] and len(head) == 1
    left = set(inspect(create_engine(url)).get_table_names())
    if host_rows:
        assert _rows(url, "select version_num from alembic_version") == [("h001",)]
    else:
        assert "alembic_version" not in left  # it held portalkit's row only


def test_a_hosts_own_version_row_is_left_alone(tmp_path: Path) -> None:
    """A host's ``alembic_version`` whose revision happens to be named like one of
    portalkit's, with no portalkit tables: not portalkit's, so not moved."""
    from portalkit.storage.sqlalchemy import SqlStorage

    url = f"sqlite:///{tmp_path / 'host.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table alembic_version (version_num varchar(32) primary key)"))
        conn.execute(text("insert into alembic_version values ('0003')"))
    engine.dispose()
    storage = SqlStorage(url)
    storage.upgrade_schema()
    storage.close()
    assert _rows(url, "select version_num from alembic_version") == [("0003",)]
    _assert_schema_matches_models(url)


def test_db_downgrade_needs_yes_and_honours_the_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    monkeypatch.setenv("PORTALKIT_TABLE_PREFIX", "portalkit_")
    assert main(["db", "upgrade", "--url", url]) == 0
    assert main(["db", "downgrade", "base", "--url", url]) != 0
    assert "--yes" in capsys.readouterr().err
    assert "portalkit_vendors" in inspect(create_engine(url)).get_table_names()
    assert main(["db", "downgrade", "base", "--url", url, "--yes"]) == 0
    assert set(inspect(create_engine(url)).get_table_names()) == {"portalkit_alembic_version"}
    assert main(["db", "downgrade", "nonsense", "--url", url, "--yes"]) != 0


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_customers_stored_before_0015_have_no_notification_defaults(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """0015 adds the notification defaults: a customer stored without the column (0015
    undone, its row kept) reads with none once the column is back."""
    from alembic import command

    from portalkit import Portal
    from portalkit.storage.sqlalchemy import SqlStorage
    from portalkit.storage.sqlalchemy._backend import alembic_config
    from portalkit.testing import World

    url = _url(kind, request, tmp_path, "defaults_0015")
    assert main(["db", "upgrade", "--url", url]) == 0
    storage = SqlStorage(url)
    old = World(Portal(storage)).customer(code="OLD", settings={"show_prices": False})
    storage.close()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0014")
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("customers")}
    engine.dispose()
    assert "notification_defaults" not in columns
    assert main(["db", "upgrade", "--url", url]) == 0
    _assert_schema_matches_models(url)
    storage = SqlStorage(url)
    uow = storage.begin(read_only=True)
    try:
        assert uow.customers.get(old.vendor_id, old.id) == old
        assert old.settings.notification_defaults == frozenset()
    finally:
        uow.rollback()
        storage.close()
