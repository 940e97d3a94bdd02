"""One transaction with the host: the host's writes, portalkit's changes and the mail they
queue commit or roll back together, both ways round, on SQLite and PostgreSQL.

The host here is a tiny SQLAlchemy ORM application with an ``orders`` table in the database
portalkit's tables (under the prefix ``portalkit_``) live in.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    scoped_session,
    sessionmaker,
)

from conftest import IN_SCHEMA, PREFIXED, make_storage
from portalkit import ConfigurationError, Portal, PortalError
from portalkit.clock import FixedClock
from portalkit.errors import PermissionDenied
from portalkit.mail import MemoryMailer
from portalkit.storage.memory import MemoryStorage
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World


class HostBase(DeclarativeBase):
    pass


class Order(HostBase):
    __tablename__ = (
        "host_orders"  # not "orders": portalkit's shop has one, unprefixed, in this database
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID | None]
    note: Mapped[str] = mapped_column(String(100))


class Boom(Exception):
    """The host's own failure, after everyone wrote."""


@pytest.fixture(params=PREFIXED + IN_SCHEMA)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStorage]:
    """portalkit's tables under a prefix (or in a schema), the host's ``orders`` beside."""
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


def _orders(storage: SqlStorage) -> list[str]:
    with Session(storage.engine) as session:
        return list(session.scalars(select(Order.note).order_by(Order.id)))


def _count(storage: SqlStorage, table: str) -> int:
    with storage.engine.connect() as conn:
        query = select(func.count()).select_from(storage.schema.tables[table])
        return int(conn.execute(query).scalar_one())


def _queued(storage: SqlStorage) -> int:
    return _count(storage, "outbox_messages")


def _customer_codes(world: World) -> list[str]:
    return [c.code for c in world.portal.customers.list(world.staff)]


def _change_and_mail(world: World) -> Any:
    customer = world.portal.customers.create(world.staff, code="ACME", name="Acme B.V.")
    world.portal.mail.enqueue(
        world.staff, to="buyer@acme.example", subject="Order received", text="Thank you."
    )
    return customer


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_the_hosts_session_joins_portal_transaction(
    world: World, storage: SqlStorage, mailer: MemoryMailer, ending: str
) -> None:
    """Host joins portal: a Session on ``uow.connection`` commits with the portal's block."""
    failing = pytest.raises(Boom) if ending == "rollback" else contextlib.nullcontext()
    with failing, world.portal.transaction() as uow:
        customer = _change_and_mail(world)
        with Session(bind=uow.connection, join_transaction_mode="create_savepoint") as s:
            s.add(Order(customer_id=customer.id, note="10 pallets"))
            s.commit()  # releases the session's savepoint; the portal's block commits
        assert mailer.outbox == []  # nothing is delivered before the commit
        if ending == "rollback":
            raise Boom
    if ending == "commit":
        assert _orders(storage) == ["10 pallets"]
        assert _customer_codes(world) == ["ACME"]
        assert _queued(storage) == 1
        assert [m["Subject"] for m in mailer.outbox] == ["Order received"]
    else:
        assert _orders(storage) == []
        assert _customer_codes(world) == []
        assert _queued(storage) == 0
        assert mailer.outbox == []


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_portal_transaction_joins_the_hosts_session(
    world: World, storage: SqlStorage, mailer: MemoryMailer, ending: str
) -> None:
    """Portal joins host: the host commits or rolls back; mail waits for the host's commit."""
    # A scoped_session (Flask-SQLAlchemy's db.session) is taken for the session it holds.
    scoped = scoped_session(sessionmaker(storage.engine))
    with scoped() as session:
        session.add(Order(note="before"))
        with world.portal.transaction(session=scoped):
            customer = _change_and_mail(world)
            with world.portal.transaction():  # nested blocks and services join as well
                world.portal.locations.create(world.staff, customer=customer, name="Depot")
        session.add(Order(customer_id=customer.id, note="after"))
        session.flush()
        assert mailer.outbox == []  # portalkit's block is over, the host's transaction is not
        if ending == "commit":
            session.commit()
        else:
            session.rollback()
    if ending == "commit":
        assert _orders(storage) == ["before", "after"]
        assert _customer_codes(world) == ["ACME"]
        assert _count(storage, "locations") == 1
        assert _queued(storage) == 1
        assert [m["Subject"] for m in mailer.outbox] == ["Order received"]
    else:
        assert _orders(storage) == []
        assert _customer_codes(world) == []
        assert _count(storage, "locations") == 0
        assert _queued(storage) == 0
        assert mailer.outbox == []


def test_a_failed_block_undoes_portalkits_part_and_leaves_the_hosts(
    world: World, storage: SqlStorage, mailer: MemoryMailer
) -> None:
    with Session(storage.engine) as session:
        session.add(Order(note="kept"))
        session.flush()
        with pytest.raises(Boom), world.portal.transaction(session=session) as uow:
            _change_and_mail(world)
            uow.connection  # noqa: B018 - writes what portalkit buffered, inside the savepoint
            raise Boom
        session.commit()
    assert _orders(storage) == ["kept"]
    assert _customer_codes(world) == []
    assert _queued(storage) == 0
    assert mailer.outbox == []


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_refusal_inside_the_hosts_transaction_is_audited_once_it_ends(
    world: World, storage: SqlStorage, ending: str
) -> None:
    """The audit of a refusal runs in a transaction of its own after the host's ends (on
    SQLite no other transaction could write before), and stays whichever way it ended."""
    member = world.member(world.membership())
    table = storage.schema.tables["audit_events"]
    with Session(storage.engine) as session:
        with world.portal.transaction(session=session), pytest.raises(PermissionDenied):
            world.portal.customers.create(member, code="NOPE", name="No")
        session.add(Order(note="x"))
        session.commit() if ending == "commit" else session.rollback()
    with storage.engine.connect() as conn:
        actions = list(conn.execute(select(table.c.action).where(table.c.outcome == "failure")))
    assert [a for (a,) in actions] == ["authz_fail"]


def test_the_hosts_session_must_be_on_the_portals_database(
    world: World, storage: SqlStorage, tmp_path: Path
) -> None:
    other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with (
        Session(other) as session,
        pytest.raises(ConfigurationError, match="another database"),
        world.portal.transaction(session=session),
    ):
        pass
    other.dispose()
    with (
        pytest.raises(ConfigurationError, match="takes a SQLAlchemy Session"),
        world.portal.transaction(session=storage.engine),
    ):
        pass


def test_on_sqlite_the_session_needs_an_engine_portalkit_built(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = make_storage("sqlite-prefixed", request, tmp_path)
    assert isinstance(store, SqlStorage)
    portal = Portal(store, MemoryMailer())
    # The same file, but pysqlite begins transactions late and its savepoints do not hold.
    plain = create_engine(store.engine.url)
    with (
        Session(plain) as session,
        pytest.raises(ConfigurationError, match=r"storage\.engine"),
        portal.transaction(session=session),
    ):
        pass
    plain.dispose()
    store.close()


def test_a_second_host_session_inside_a_portal_transaction_is_refused(
    world: World, storage: SqlStorage
) -> None:
    with (
        Session(storage.engine) as session,
        world.portal.transaction(),
        pytest.raises(PortalError, match="outermost"),
        world.portal.transaction(session=session),
    ):
        pass


def test_the_memory_storage_shares_no_transaction() -> None:
    portal = Portal(MemoryStorage(), MemoryMailer())
    with portal.transaction() as uow, pytest.raises(PortalError, match="SQL storage"):
        uow.connection  # noqa: B018
    engine = create_engine("sqlite://")
    with (
        Session(engine) as session,
        pytest.raises(PortalError, match="cannot join"),
        portal.transaction(session=session),
    ):
        pass
    engine.dispose()


def test_one_host_session_serves_many_transactions(
    world: World, storage: SqlStorage, mailer: MemoryMailer
) -> None:
    """A long-lived session joined again and again: each host transaction decides for the
    blocks that joined it only."""
    with Session(storage.engine) as session:
        for code, ending in [("A1", "commit"), ("A2", "rollback"), ("A3", "commit")]:
            for n in range(2):  # two blocks in one host transaction
                with world.portal.transaction(session=session):
                    world.portal.customers.create(world.staff, code=f"{code}-{n}", name=code)
                    world.portal.mail.enqueue(
                        world.staff, to="buyer@acme.example", subject=code, text="."
                    )
            session.commit() if ending == "commit" else session.rollback()
    assert sorted(_customer_codes(world)) == ["A1-0", "A1-1", "A3-0", "A3-1"]
    assert sorted(m["Subject"] for m in mailer.outbox) == ["A1", "A1", "A3", "A3"]


def test_a_host_session_that_ends_the_transaction_inside_the_block_is_an_error(
    world: World, storage: SqlStorage, mailer: MemoryMailer
) -> None:
    """A session bound to ``uow.connection`` without a savepoint of its own rolls back the
    whole transaction: the block must not carry on as if portalkit's part were still there."""
    with pytest.raises(PortalError, match="create_savepoint"):  # noqa: SIM117
        with world.portal.transaction() as uow:
            _change_and_mail(world)
            with Session(bind=uow.connection) as session:
                session.add(Order(note="dropped"))
                session.flush()
                session.rollback()
    assert _orders(storage) == []
    assert _customer_codes(world) == []
    assert _queued(storage) == 0
    assert mailer.outbox == []


def test_a_read_only_block_in_the_hosts_transaction_refuses_writes(
    world: World, storage: SqlStorage
) -> None:
    with Session(storage.engine) as session:
        session.add(Order(note="the host's"))
        with (
            pytest.raises(PortalError, match="read-only"),
            world.portal.transaction(session=session, read_only=True),
        ):
            assert world.portal.customers.list(world.staff) == []
            world.portal.customers.create(world.staff, code="RO", name="Read only")
        session.commit()
    assert _customer_codes(world) == []
    assert _orders(storage) == ["the host's"]


@pytest.mark.postgres
def test_on_postgres_a_session_of_the_hosts_own_engine_joins(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Any engine on portalkit's PostgreSQL database will do (SQLite needs
    portal.storage.engine: see above)."""
    storage = make_storage("postgres-prefixed", request, tmp_path)
    assert isinstance(storage, SqlStorage)
    HostBase.metadata.drop_all(storage.engine)
    HostBase.metadata.create_all(storage.engine)
    mailer = MemoryMailer()
    world = World(Portal(storage, mailer, clock=FixedClock()))
    host_engine = create_engine(storage.engine.url)
    with Session(host_engine) as session:
        session.add(Order(note="own engine"))
        with world.portal.transaction(session=session):
            _change_and_mail(world)
        session.commit()
    host_engine.dispose()
    assert _orders(storage) == ["own engine"]
    assert _customer_codes(world) == ["ACME"]
    assert len(mailer.outbox) == 1
    storage.close()
