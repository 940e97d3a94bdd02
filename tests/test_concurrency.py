"""Races between servers and threads: exactly one winner, the loser gets a Conflict.

On PostgreSQL two engines (two connection pools, as two app servers would have) run behind a
barrier placed right before the INSERT, so both have passed every check in Python and only the
database's unique index can decide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from portalkit import ConcurrentModification, Conflict, Portal, Staff, System
from portalkit.staffrights import STAFF_PERMISSIONS
from portalkit.storage.base import TABLES
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World

ROUNDS = 10


def _race(calls: list[Callable[[], Any]]) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            calls[i]()
        except BaseException as exc:  # the test inspects every outcome
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.fixture
def pg_portals(pg_url: str) -> Iterator[tuple[Portal, Portal, threading.Barrier]]:
    from portalkit.storage.sqlalchemy import SqlStorage

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    barrier = threading.Barrier(2, timeout=10)

    def wait_before_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT INTO ACCOUNTS", "INSERT INTO CUSTOMERS")):
            barrier.wait()

    for storage in (first, second):
        event.listen(storage.engine, "before_cursor_execute", wait_before_insert)
    yield Portal(first), Portal(second), barrier
    first.close()
    second.close()


@pytest.mark.postgres
def test_two_servers_creating_one_username_on_postgres(
    pg_portals: tuple[Portal, Portal, threading.Barrier],
) -> None:
    one, two, barrier = pg_portals
    vendor = one.vendors.create(System(), code="race", name="Race")
    staff = Staff(vendor_id=vendor.id, user_id="s", permissions=STAFF_PERMISSIONS)
    for n in range(ROUNDS):
        barrier.reset()
        outcomes = _race(
            [
                lambda n=n: one.accounts.create(
                    staff, username=f"user{n}", email=f"a{n}@example.com"
                ),
                lambda n=n: two.accounts.create(
                    staff, username=f"USER{n}", email=f"b{n}@example.com"
                ),
            ]
        )
        assert sum(o is None for o in outcomes) == 1, outcomes
        loser = next(o for o in outcomes if o is not None)
        assert isinstance(loser, Conflict) and loser.field == "username", loser
    assert len(one.accounts.list(staff)) == ROUNDS


@pytest.mark.postgres
def test_two_servers_creating_one_customer_code_on_postgres(
    pg_portals: tuple[Portal, Portal, threading.Barrier],
) -> None:
    one, two, barrier = pg_portals
    vendor = one.vendors.create(System(), code="race", name="Race")
    staff = Staff(vendor_id=vendor.id, user_id="s", permissions=STAFF_PERMISSIONS)
    for n in range(ROUNDS):
        barrier.reset()
        outcomes = _race(
            [
                lambda n=n: one.customers.create(staff, code=f"ACME{n}", name="First"),
                lambda n=n: two.customers.create(staff, code=f"acme{n}", name="Second"),
            ]
        )
        assert sum(o is None for o in outcomes) == 1, outcomes
        loser = next(o for o in outcomes if o is not None)
        assert isinstance(loser, Conflict) and loser.field == "code", loser
    assert len(two.customers.list(staff)) == ROUNDS


@pytest.mark.postgres
def test_two_servers_editing_one_membership_on_postgres(pg_url: str) -> None:
    from portalkit.storage.sqlalchemy import SqlStorage

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    one, two = Portal(first), Portal(second)
    world = World(one)
    read_by_both = world.membership()
    one.memberships.update(world.staff, read_by_both, subscriptions=["invoices"])
    with pytest.raises(ConcurrentModification):
        two.memberships.update(world.staff, read_by_both, subscriptions=["jobs"])
    assert two.memberships.get(world.staff, read_by_both.id).subscriptions == {"invoices"}
    first.close()
    second.close()


def test_two_threads_creating_one_username_on_a_sqlite_file(tmp_path: Path) -> None:
    from portalkit.storage.sqlalchemy import SqlStorage

    url = f"sqlite:///{tmp_path / 'race.db'}"
    first = SqlStorage(url)
    first.upgrade_schema()
    second = SqlStorage(url)
    one, two = Portal(first), Portal(second)
    vendor = one.vendors.create(System(), code="race", name="Race")
    staff = Staff(vendor_id=vendor.id, user_id="s", permissions=STAFF_PERMISSIONS)
    start = threading.Barrier(2, timeout=10)
    for n in range(ROUNDS):
        outcomes = _race(
            [
                lambda n=n: (
                    start.wait(),
                    one.accounts.create(staff, username=f"u{n}", email=f"a{n}@example.com"),
                ),
                lambda n=n: (
                    start.wait(),
                    two.accounts.create(staff, username=f"U{n}", email=f"b{n}@example.com"),
                ),
            ]
        )
        assert sum(o is None for o in outcomes) == 1, outcomes
        assert any(isinstance(o, Conflict) for o in outcomes), outcomes
    assert len(one.accounts.list(staff)) == ROUNDS
    first.close()
    second.close()


def test_sixteen_threads_on_the_memory_backend_keep_every_invariant() -> None:
    portal = Portal(MemoryStorage())
    world = World(portal)
    codes = [f"C{n % 40}" for n in range(100)]  # many threads try the same 40 codes
    wins: list[str] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for i in range(100):
            code = codes[(i + offset) % len(codes)]
            try:
                with portal.transaction():
                    customer = portal.customers.create(world.staff, code=code, name=code)
                    portal.locations.create(world.staff, customer=customer, name="Site")
            except Conflict:
                continue
            with lock:
                wins.append(code)

    threads = [threading.Thread(target=worker, args=(k * 7,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = portal.customers.list(world.staff, limit=1000)
    assert sorted(wins) == sorted({*codes})
    assert sorted(c.code for c in stored) == sorted({*codes})
    for customer in stored:  # every winner's location is there, no loser left one behind
        assert len(portal.locations.list(world.staff, customer=customer)) == 1


@pytest.mark.postgres
def test_two_servers_moving_customers_under_each_other_never_make_a_cycle(pg_url: str) -> None:
    import time

    from portalkit import ValidationError
    from portalkit.storage.sqlalchemy import SqlStorage

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))

    def slow_update(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Widen the race: each move checks for a cycle, then dawdles before writing.
        if statement.lstrip().upper().startswith("UPDATE CUSTOMERS"):
            time.sleep(0.2)

    for storage in (first, second):
        event.listen(storage.engine, "before_cursor_execute", slow_update)
    one, two = Portal(first), Portal(second)
    world = World(one)
    start = threading.Barrier(2, timeout=10)
    for _ in range(5):
        a, b = world.customer(), world.customer()
        outcomes = _race(
            [
                lambda a=a, b=b: (
                    start.wait(),
                    one.customers.update(world.staff, a.id, parent=b.id),
                ),
                lambda a=a, b=b: (
                    start.wait(),
                    two.customers.update(world.staff, b.id, parent=a.id),
                ),
            ]
        )
        assert sum(o is None for o in outcomes) == 1, outcomes
        assert any(isinstance(o, ValidationError) and o.code == "cycle" for o in outcomes)
        a_now = one.customers.get(world.staff, a.id)
        b_now = one.customers.get(world.staff, b.id)
        assert not (a_now.parent_id == b.id and b_now.parent_id == a.id)
    first.close()
    second.close()


def test_a_read_only_transaction_on_sqlite_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Access checks and logins read while another request holds the write lock."""
    import time

    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage(f"sqlite:///{tmp_path / 'portal.db'}")
    storage.upgrade_schema()
    portal = Portal(storage)
    world = World(portal)
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    member = world.member(membership)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with portal.transaction():
            world.customer()  # takes SQLite's write lock and keeps it until release
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        context = portal.access.context(member)
        waited = time.monotonic() - started
        assert context.denied is None and waited < 5  # busy_timeout would be 30 s
    finally:
        release.set()
        thread.join(30)
        storage.close()
