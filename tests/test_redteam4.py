"""Red-team pass 4 on sharing the host's database and transaction (issue 11 items 1-2):
each test here failed on the code before its fix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from conftest import IN_SCHEMA, PREFIXED, make_storage
from portalkit import ConfigurationError, Portal, PortalError
from portalkit.clock import FixedClock
from portalkit.errors import PermissionDenied
from portalkit.mail import MemoryMailer
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World


class HostBase(DeclarativeBase):
    pass


class Shipment(HostBase):
    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID | None]
    note: Mapped[str] = mapped_column(String(100))


@pytest.fixture(params=PREFIXED + IN_SCHEMA)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStorage]:
    store = make_storage(request.param, request, tmp_path)
    assert isinstance(store, SqlStorage)
    HostBase.metadata.drop_all(store.engine)
    HostBase.metadata.create_all(store.engine)
    yield store
    store.close()


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def world(storage: SqlStorage, mailer: MemoryMailer) -> World:
    return World(Portal(storage, mailer, clock=FixedClock()))


def _failures(storage: SqlStorage) -> list[str]:
    table = storage.schema.tables["audit_events"]
    with storage.engine.connect() as conn:
        rows = conn.execute(select(table.c.action).where(table.c.outcome == "failure"))
        return [action for (action,) in rows]


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_refusal_stays_audited_when_the_host_ends_its_transaction_inside_the_block(
    world: World, storage: SqlStorage, ending: str
) -> None:
    """A careless host commits (or rolls back) its session inside the joined block, after a
    member's call was refused there. The block is an error, but the refusal must still be
    on record: its audit ran nested in the dead joined transaction and vanished with it."""
    member = world.member(world.membership())
    with (
        Session(storage.engine) as session,
        pytest.raises(PortalError),
        world.portal.transaction(session=session),
    ):
        with pytest.raises(PermissionDenied):
            world.portal.customers.create(member, code="NOPE", name="No")
        session.commit() if ending == "commit" else session.rollback()
    assert _failures(storage) == ["authz_fail"]


def test_a_session_inside_a_transaction_of_the_hosts_own_connection_is_refused(
    world: World, storage: SqlStorage, mailer: MemoryMailer
) -> None:
    """A session bound to a Connection the host began a transaction on (the usual test
    fixture, or a request-wide transaction) "commits" a savepoint only: portalkit took that
    for the host's commit, ran the mail delivery and the refusals' audit while the database
    transaction was still open (on SQLite they waited 30 s for its lock and were lost; on
    PostgreSQL the mail was never delivered after the real commit). Refused, fail closed."""
    with storage.engine.connect() as conn, conn.begin():
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        with pytest.raises(ConfigurationError, match="Connection"):  # noqa: SIM117
            with world.portal.transaction(session=session):
                world.portal.mail.enqueue(world.staff, to="b@acme.example", subject="s", text=".")
        session.close()
    assert mailer.outbox == []


@pytest.mark.postgres
def test_a_schema_named_like_the_database_user_is_refused(pg_server: Any) -> None:
    """PostgreSQL's default ``search_path`` is ``"$user", public``: portalkit's tables in a
    schema named like the user come first for every unqualified query of the host's, so its
    own ``customers`` silently became portalkit's. The docs said "choose another"; the
    migration now refuses it before making the schema."""
    url = pg_server.create_database("rt4_user_schema")
    user = make_url(url).username
    assert user
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table customers (id integer primary key, name text)"))
        conn.execute(text("insert into customers values (1, 'the host''s')"))
    storage = SqlStorage(url, database_schema=user)
    with pytest.raises(ConfigurationError, match="search_path"):
        storage.upgrade_schema()
    storage.close()
    with engine.connect() as conn:
        assert conn.execute(text("select name from customers")).scalar_one() == "the host's"
        schemas = set(inspect(conn).get_schema_names())
    engine.dispose()
    assert user not in schemas


def test_no_mail_leaves_from_inside_a_joined_transaction_the_host_rolls_back(
    world: World, storage: SqlStorage, mailer: MemoryMailer
) -> None:
    """``portal.mail.flush()`` inside the block joined the host's transaction, claimed the
    invitation it had just queued there and sent it; then the host rolled back: a link for
    a change that never happened was in someone's mailbox. Refused inside a transaction."""
    with Session(storage.engine) as session:
        with world.portal.transaction(session=session):
            world.portal.customers.create(world.staff, code="GONE", name="Never")
            world.portal.mail.enqueue(
                world.staff, to="buyer@gone.example", subject="Your invitation", text="link"
            )
            with pytest.raises(PortalError, match="own"):
                world.portal.mail.flush()
        session.rollback()
    assert mailer.outbox == []
    assert [c.code for c in world.portal.customers.list(world.staff)] == []


class Later(Exception):
    """The host's failure in a later portal transaction of its own."""


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["postgres-prefixed", "postgres-schema"])
def test_the_hosts_commit_inside_another_portal_transaction_runs_its_work_on_its_own(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The host commits the joined session while inside another ``portal.transaction()`` of
    the same portal (a later step of its request). The joined block's delivery and refusal
    audit ran nested in that other transaction: when it rolled back, the audit vanished and
    the mail's claim was undone after the mail had gone, so the worker sent it again."""
    store = make_storage(kind, request, tmp_path)
    assert isinstance(store, SqlStorage)
    mailer = MemoryMailer()
    world = World(Portal(store, mailer, clock=FixedClock()))
    member = world.member(world.membership())
    with Session(store.engine) as session:
        with world.portal.transaction(session=session):
            world.portal.mail.enqueue(world.staff, to="b@acme.example", subject="once", text=".")
            with pytest.raises(PermissionDenied):
                world.portal.customers.create(member, code="NOPE", name="No")
        with pytest.raises(Later), world.portal.transaction():
            session.commit()
            raise Later
    world.portal.mail.flush()
    assert [m["Subject"] for m in mailer.outbox] == ["once"]
    assert _failures(store) == ["authz_fail"]
    store.close()
