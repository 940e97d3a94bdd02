"""Fixtures shared by the test suite: one storage of each kind, fresh for every test.

``backend`` is parametrised over memory, SQLite (a real file) and PostgreSQL (a real server the
session starts on 127.0.0.1 and stops). PostgreSQL tests carry the ``postgres`` marker; without
a server they skip locally and fail in CI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clirun import db_url, run  # noqa: F401 (the CLI tests' fixtures, found here by name)
from pgserver import PostgresServer, start_or_give_up
from portalkit import Portal
from portalkit.clock import FixedClock
from portalkit.mail import MemoryMailer
from portalkit.storage.base import Storage
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

# The SQL backends with their tables under a prefix, as beside a host application's own.
PREFIX = "portalkit_"
PREFIXED = [
    pytest.param("sqlite-prefixed", id="sqlite-prefixed"),
    pytest.param("postgres-prefixed", id="postgres-prefixed", marks=pytest.mark.postgres),
]
# PostgreSQL with portalkit's tables, unprefixed, in a schema of their own.
SCHEMA = "portal_tables"  # not the user name: "$user" leads the search path
IN_SCHEMA = [pytest.param("postgres-schema", id="postgres-schema", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session."""
    server = start_or_give_up()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PostgresServer) -> str:
    """A database with portalkit's schema, created once per session."""
    from portalkit.storage.sqlalchemy import SqlStorage

    url = pg_server.create_database("portalkit_tests")
    storage = SqlStorage(url)
    storage.upgrade_schema()
    storage.close()
    return url


@pytest.fixture(scope="session")
def pg_url_prefixed(pg_url: str) -> str:
    """The same database, with portalkit's schema also under :data:`PREFIX` (the two sets of
    tables live side by side, as portalkit's would beside a host's)."""
    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage(pg_url, table_prefix=PREFIX)
    storage.upgrade_schema()
    storage.close()
    return pg_url


@pytest.fixture(scope="session")
def pg_url_schema(pg_url: str) -> str:
    """The same database, with portalkit's schema also in the PostgreSQL schema
    :data:`SCHEMA`."""
    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage(pg_url, database_schema=SCHEMA)
    storage.upgrade_schema()
    storage.close()
    return pg_url


def _sqlite_template(tmp_path_factory: pytest.TempPathFactory, prefix: str) -> Path:
    from portalkit.storage.sqlalchemy import SqlStorage

    path = tmp_path_factory.mktemp("template") / "template.db"
    storage = SqlStorage(f"sqlite:///{path}", table_prefix=prefix)
    storage.upgrade_schema()
    storage.close()
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per session."""
    return _sqlite_template(tmp_path_factory, "")


@pytest.fixture(scope="session")
def sqlite_template_prefixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, with the tables under :data:`PREFIX`."""
    return _sqlite_template(tmp_path_factory, PREFIX)


def make_storage(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh, empty, migrated storage of the given kind (``…-prefixed``: with its tables
    under :data:`PREFIX`; ``postgres-schema``: in the schema :data:`SCHEMA`)."""
    if kind == "memory":
        return MemoryStorage()
    from sqlalchemy import text

    from portalkit.storage.sqlalchemy import SqlStorage

    kind, _, variant = kind.partition("-")
    prefix = PREFIX if variant == "prefixed" else ""
    database_schema = SCHEMA if variant == "schema" else None
    if kind == "sqlite":
        template: Path = request.getfixturevalue(
            "sqlite_template_prefixed" if prefix else "sqlite_template"
        )
        path = tmp_path / "portal.db"
        shutil.copy(template, path)
        return SqlStorage(f"sqlite:///{path}", table_prefix=prefix)
    url: str = request.getfixturevalue(f"pg_url_{variant}" if variant else "pg_url")
    storage = SqlStorage(url, table_prefix=prefix, database_schema=database_schema)
    with storage.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(storage.schema.metadata.tables)} CASCADE"))
    return storage


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def storage(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """A fresh storage of each kind."""
    store = make_storage(backend, request, tmp_path)
    yield store
    store.close()


@pytest.fixture
def portal(storage: Storage) -> Portal:
    """A portal on each backend, with a fixed clock and a memory mailer."""
    return Portal(storage, MemoryMailer(), clock=FixedClock())


@pytest.fixture
def world(portal: Portal) -> World:
    """One vendor with a staff actor, on each backend."""
    return World(portal)
