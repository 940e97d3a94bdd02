"""portalkit's storage on Django's own database connection: one connection, one transaction.

portalkit's SQL storage normally opens connections of its own. Beside Django that costs a
deadlock on SQLite: a request whose ORM write holds the database's write lock on Django's
connection would wait out the busy timeout when portalkit then begins ``BEGIN IMMEDIATE`` on
another. :class:`DjangoStorage` runs portalkit's statements on the very DB-API connection
Django holds for this thread, so there is only one writer:

- outside ``transaction.atomic()`` portalkit begins, commits and rolls back transactions of
  its own on that connection (``BEGIN IMMEDIATE`` on SQLite, as it always does);
- inside ``transaction.atomic()`` every portalkit call joins Django's transaction in a
  savepoint of its own (a failed call changes nothing), commits or rolls back with Django's
  rows, and its after-commit work (mail delivery) waits for Django's commit
  (``transaction.on_commit``).

Django never learns of a rollback by a hook, so what waits for the end of a rolled-back
transaction (the audit of refused calls, the removal of files written for it) runs at the
next portalkit call outside ``transaction.atomic()`` or when the request ends
(:func:`finish`, called by the middleware).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from django.db import connections, transaction
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from portalkit import ConfigurationError, PortalSettings
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.storage.sqlalchemy._backend import SqlUnitOfWork

__all__ = ["DjangoStorage", "django_engine", "finish"]

_DIALECTS = {"sqlite": "sqlite+pysqlite://", "postgresql": "postgresql+psycopg://"}
_STATE = "_portalkit_host"


def _as_text(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return value


class _TextCursor:
    """A cursor of Django's SQLite connection that hands dates and times back as the text
    SQLite stores: Django's connection converts declared DATETIME columns itself
    (``detect_types``), and SQLAlchemy's types parse that text."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def _row(self, row: Any) -> Any:
        if row is None:
            return None
        return tuple(_as_text(value) for value in row)

    def fetchone(self) -> Any:
        return self._row(self._cursor.fetchone())

    def fetchmany(self, *args: Any) -> list[Any]:
        return [self._row(row) for row in self._cursor.fetchmany(*args)]

    def fetchall(self) -> list[Any]:
        return [self._row(row) for row in self._cursor.fetchall()]

    def __iter__(self) -> Any:
        return (self._row(row) for row in self._cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _SharedConnection:
    """Django's DB-API connection as SQLAlchemy's pool sees it: closing it leaves it to
    Django, and commit and rollback end only a transaction portalkit began itself (never
    Django's, which ``transaction.atomic()`` ends)."""

    def __init__(self, wrapper: Any) -> None:
        self._wrapper = wrapper
        self._raw = wrapper.connection
        self._own = False
        self._sqlite = wrapper.vendor == "sqlite"

    def cursor(self, *args: Any) -> Any:
        cursor = self._raw.cursor(*args)
        return _TextCursor(cursor) if self._sqlite else cursor

    def begin(self, statement: str) -> None:
        cursor = self._raw.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        self._own = True

    def _end(self, statement: str) -> None:
        if not self._own:
            return
        self._own = False
        cursor = self._raw.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()

    def commit(self) -> None:
        self._end("COMMIT")

    def rollback(self) -> None:
        self._end("ROLLBACK")

    def close(self) -> None:
        self.rollback()  # never leave a transaction of portalkit's open on Django's connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def django_engine(alias: str = "default") -> Engine:
    """A SQLAlchemy engine whose every connection is Django's connection ``alias`` of the
    calling thread (opened by Django if it is closed). Django opens, closes and configures
    it; the engine never does."""
    wrapper = connections[alias]
    vendor = wrapper.vendor
    if vendor not in _DIALECTS:
        raise ConfigurationError(
            f"PORTALKIT: Django's database {alias!r} is {vendor}; portalkit shares SQLite "
            "and PostgreSQL connections only"
        )

    def creator() -> _SharedConnection:
        django_connection = connections[alias]  # this thread's
        django_connection.ensure_connection()
        return _SharedConnection(django_connection)

    sqlite = vendor == "sqlite"
    # psycopg's type look-ups want its own connection class, not the wrapper Django's is
    # handed over in; portalkit's tables use no hstore.
    options: dict[str, Any] = {} if sqlite else {"use_native_hstore": False}
    engine = create_engine(
        _DIALECTS[vendor],
        creator=creator,
        poolclass=NullPool,
        pool_reset_on_return=None,
        **options,
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.info.pop("portalkit_read_only", False)
        shared = conn.connection.dbapi_connection
        assert isinstance(shared, _SharedConnection)
        if connections[alias].in_atomic_block:
            return  # Django's transaction is under way: portalkit's savepoints go in it
        # As portalkit's own SQLite engine: IMMEDIATE takes the write lock up front, so two
        # processes' transactions never both wait to upgrade.
        shared.begin("BEGIN IMMEDIATE" if sqlite and not read_only else "BEGIN")

    return engine


class _Join:
    """One portalkit block inside Django's transaction, waiting for it to end."""

    def __init__(self, when_host_ends: Callable[[bool], None]) -> None:
        self.when_host_ends = when_host_ends
        self.done = False

    def end(self, committed: bool) -> None:
        if not self.done:
            self.done = True
            self.when_host_ends(committed)


class _HostTransaction:
    """Django's outermost transaction of one connection, as portalkit joins it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.joins: list[_Join] = []
        # Vendors whose rights generation a block moved on (the host's until it commits).
        self.moved: set[UUID] = set()


class DjangoStorage(SqlStorage):
    """portalkit's SQL storage on Django's database connection ``alias`` (see the module's
    text); its tables are under ``table_prefix`` beside Django's own."""

    def __init__(self, alias: str = "default", *, table_prefix: str = "portalkit_") -> None:
        self.alias = alias
        super().__init__(django_engine(alias), table_prefix=table_prefix)

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> DjangoStorage:
        """The storage on the connection ``settings.PORTALKIT["DATABASE"]`` names, under
        ``TABLE_PREFIX`` (what ``STORAGE = "portalkit_django.db.DjangoStorage"`` builds)."""
        from portalkit_django.conf import adapter_options

        alias = adapter_options()["DATABASE"] or "default"
        return cls(alias, table_prefix=settings.table_prefix)

    def ambient(self) -> object | None:
        """Django's transaction under way on this thread's connection, or None."""
        wrapper = connections[self.alias]
        if not wrapper.in_atomic_block:
            finish(self.alias)
            return None
        state: _HostTransaction | None = getattr(wrapper, _STATE, None)
        if state is None:
            state = _HostTransaction(self.engine.connect())
            setattr(wrapper, _STATE, state)
        return state

    def join(
        self, host: object, *, read_only: bool, when_host_ends: Callable[[bool], None]
    ) -> SqlUnitOfWork:
        """A unit of work in a savepoint inside Django's transaction ``host`` (what
        :meth:`ambient` returned); a SQLAlchemy session is joined as :class:`SqlStorage`
        joins it."""
        if not isinstance(host, _HostTransaction):
            return super().join(host, read_only=read_only, when_host_ends=when_host_ends)
        self.when_ended(host, when_host_ends)
        return SqlUnitOfWork(self, read_only, host=host.conn, host_moved=host.moved)

    def when_ended(self, host: object, action: Callable[[bool], None]) -> None:
        """Call ``action(committed)`` once Django's transaction ``host`` is over: at its
        commit (``transaction.on_commit``), or, rolled back, at :func:`finish`."""
        if not isinstance(host, _HostTransaction):
            raise ConfigurationError("when_ended: not a Django transaction of this storage")
        joined = _Join(action)
        host.joins.append(joined)
        # Registered at the savepoint under way: Django drops it if that savepoint (or the
        # whole transaction) rolls back, and the action then runs as rolled back.
        transaction.on_commit(lambda: joined.end(True), using=self.alias)


def finish(alias: str = "default") -> None:
    """End what waited for Django's transactions of this thread that are over: a block whose
    transaction committed has ended already; one whose transaction (or savepoint) rolled back
    ends now, as rolled back. The middleware calls it at the end of every request; call it
    yourself after ``transaction.atomic()`` blocks outside requests (a worker, a command)."""
    wrapper = connections[alias]
    state: _HostTransaction | None = getattr(wrapper, _STATE, None)
    # While Django runs its commit hooks, a join whose hook has not run yet is not over.
    if state is None or wrapper.in_atomic_block or wrapper.run_commit_hooks_on_set_autocommit_on:
        return
    setattr(wrapper, _STATE, None)
    waiting = [j for j in state.joins if not j.done]
    state.joins.clear()
    state.conn.close()
    for joined in waiting:
        joined.end(False)
