"""Sharing the host's database: a host application's own Alembic project and portalkit's
migrations upgrade one database in either order, each with its own version table, and
portalkit's go down again without touching the host's tables.

The host's tables are the names portalkit's would clash with (``customers``, with a unique
constraint named as portalkit's is): the table prefix keeps them apart.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from portalkit import ConfigurationError, Portal, PortalSettings, System
from portalkit.mail import MemoryMailer
from portalkit.storage.base import TABLES
from portalkit.storage.sqlalchemy import SqlStorage, alembic_config
from portalkit.storage.sqlalchemy.rows import schema_for
from test_migrations import _assert_schema_matches_models

PREFIX = "portalkit_"

HOST_ENV = """
from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""

HOST_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "h001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(50), nullable=False),
        sa.UniqueConstraint("code", name="uq_customers_code"),
    )
    op.create_index("ix_customers_vendor_id", "customers", ["code"])
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    )


def downgrade():
    op.drop_table("orders")
    op.drop_index("ix_customers_vendor_id", "customers")
    op.drop_table("customers")
"""


def _host_project(root: Path) -> Path:
    """A host application's Alembic tree: its env.py and one revision."""
    (root / "versions").mkdir(parents=True)
    (root / "env.py").write_text(textwrap.dedent(HOST_ENV))
    (root / "versions" / "h001_shop.py").write_text(textwrap.dedent(HOST_REVISION))
    return root


def _upgrade_host(project: Path, url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(project))
    engine = create_engine(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()


def _portalkit_head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _rows(url: str, query: str) -> list[Any]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = [tuple(row) for row in conn.execute(text(query))]
    engine.dispose()
    return found


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    engine.dispose()
    return names


def _database(request: pytest.FixtureRequest, tmp_path: Path, kind: str, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    server = request.getfixturevalue("pg_server")
    return str(server.create_database(name))


DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("kind", DATABASES)
@pytest.mark.parametrize("first", ["host", "portalkit"])
def test_host_alembic_and_portalkit_share_one_database(
    kind: str, first: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = _database(request, tmp_path, kind, f"shared_{first}")
    project = _host_project(tmp_path / "host_migrations")
    storage = SqlStorage(url, table_prefix=PREFIX)
    steps = [lambda: _upgrade_host(project, url), storage.upgrade_schema]
    for step in steps if first == "host" else steps[::-1]:
        step()
    for step in steps:  # both again, in the other order: nothing left to do
        step()

    assert _rows(url, "select version_num from alembic_version") == [("h001",)]
    assert _rows(url, f"select version_num from {PREFIX}alembic_version") == [(_portalkit_head(),)]
    _assert_schema_matches_models(url, PREFIX)

    # Both applications write their own customers.
    portal = Portal(storage, MemoryMailer())
    vendor = portal.vendors.create(System(), code="acme", name="Acme")
    portal.customers.create(System(vendor_id=vendor.id), code="C1", name="One")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("insert into customers (id, code) values (1, 'C1')"))
        conn.execute(text("insert into orders (id, customer_id) values (7, 1)"))
    engine.dispose()
    assert _rows(url, f"select code from {PREFIX}customers") == [("C1",)]

    # portalkit alone goes down: its tables go, the host's stay with their rows and revision.
    storage.downgrade_schema("base")
    storage.close()
    left = _tables(url)
    assert not set(storage.schema.metadata.tables) & left
    assert {PREFIX + t for t in TABLES} <= set(storage.schema.metadata.tables)
    assert {"customers", "orders", "alembic_version"} <= left
    assert _rows(url, "select id, customer_id from orders") == [(7, 1)]
    assert _rows(url, "select version_num from alembic_version") == [("h001",)]
    assert _rows(url, f"select version_num from {PREFIX}alembic_version") == []


def test_the_prefix_setting_reaches_the_storage_and_its_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``PORTALKIT_TABLE_PREFIX`` names the tables `portalkit db upgrade` and the portal use."""
    from portalkit.cli import main

    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("PORTALKIT_DATABASE_URL", url)
    monkeypatch.setenv("PORTALKIT_TABLE_PREFIX", "pk_")
    assert main(["db", "upgrade"]) == 0
    assert set(schema_for("pk_").metadata.tables) | {"pk_alembic_version"} == _tables(url)
    portal = Portal.from_settings(mail_backend="memory")
    assert portal.default_vendor().code == "default"
    portal.close()
    assert _rows(url, "select code from pk_vendors") == [("default",)]


@pytest.mark.parametrize(
    "prefix", ["Portal_", "portal", "1portal_", "portal-kit_", "a" * 20 + "_", "_", "pk; drop_"]
)
def test_a_bad_prefix_is_a_configuration_error(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="PORTALKIT_TABLE_PREFIX"):
        SqlStorage("sqlite://", table_prefix=prefix)
    with pytest.raises(ConfigurationError, match="PORTALKIT_TABLE_PREFIX"):
        alembic_config(table_prefix=prefix)
    from portalkit.settings import load_settings

    with pytest.raises(ConfigurationError, match="PORTALKIT_TABLE_PREFIX"):
        load_settings(table_prefix=prefix)


def test_the_longest_prefix_keeps_every_name_within_postgres_limit() -> None:
    schema = schema_for("a" * 19 + "_")
    names = [t.name for t in schema.metadata.tables.values()]
    for table in schema.metadata.tables.values():
        names += [str(c.name) for c in table.constraints]
        names += [str(i.name) for i in table.indexes]
    names.append(schema.version_table)
    assert max(len(n) for n in names) <= 63
    assert all(n.startswith("a" * 19 + "_") for n in names)
    assert PortalSettings(table_prefix="a" * 19 + "_").table_prefix == "a" * 19 + "_"


@pytest.mark.postgres
@pytest.mark.parametrize("first", ["host", "portalkit"])
def test_in_a_postgres_schema_of_its_own_portalkit_needs_no_prefix(
    first: str, pg_server: Any, tmp_path: Path
) -> None:
    """``PORTALKIT_DATABASE_SCHEMA``: portalkit's ``customers`` in schema ``shop_portal``, the
    host's in ``public``, with the same names; each application's migrations on their own."""
    url = pg_server.create_database(f"schema_{first}")
    project = _host_project(tmp_path / "host_migrations")
    storage = SqlStorage.from_settings(
        PortalSettings(database_url=url, database_schema="shop_portal")
    )
    steps = [lambda: _upgrade_host(project, url), storage.upgrade_schema]
    for step in steps if first == "host" else steps[::-1]:
        step()
    storage.upgrade_schema()

    engine = create_engine(url)
    with engine.connect() as conn:
        public = set(inspect(conn).get_table_names())
        ours = set(inspect(conn).get_table_names(schema="shop_portal"))
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": "portalkit_version",
                "version_table_schema": "shop_portal",
                "include_schemas": True,
                "include_name": lambda name, type_, parents: (
                    name == "shop_portal"
                    if type_ == "schema"
                    else type_ != "table"
                    or parents["schema_qualified_table_name"] in storage.schema.metadata.tables
                ),
            },
        )
        assert compare_metadata(context, storage.schema.metadata) == []
    engine.dispose()
    assert public == {"customers", "orders", "alembic_version"}
    assert ours == set(schema_for().metadata.tables) | {"portalkit_version"}

    portal = Portal(storage, MemoryMailer())
    vendor = portal.vendors.create(System(), code="acme", name="Acme")
    portal.customers.create(System(vendor_id=vendor.id), code="C1", name="One")
    assert _rows(url, "select code from shop_portal.customers") == [("C1",)]
    assert _rows(url, "select count(*) from public.customers") == [(0,)]

    storage.downgrade_schema("base")
    storage.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names(schema="shop_portal")) == {"portalkit_version"}
        assert set(inspect(conn).get_table_names()) == public
    engine.dispose()
    assert _rows(url, "select version_num from alembic_version") == [("h001",)]


def test_a_schema_needs_postgres(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="PORTALKIT_DATABASE_SCHEMA"):
        SqlStorage(f"sqlite:///{tmp_path / 'x.db'}", database_schema="shop_portal")
    for bad in ("Portal", "1p", "p-k", "p" * 64, "p;drop"):
        with pytest.raises(ConfigurationError, match="PORTALKIT_DATABASE_SCHEMA"):
            SqlStorage("sqlite://", database_schema=bad)
