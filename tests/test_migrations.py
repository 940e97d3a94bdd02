"""`portalkit db upgrade` creates the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from portalkit.cli import main
from portalkit.storage.base import TABLES
from portalkit.storage.sqlalchemy.rows import Base


def _assert_schema_matches_models(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert set(TABLES) <= tables


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
