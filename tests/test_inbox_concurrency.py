"""The inbox under concurrency on PostgreSQL: two app servers (two portals, two connection
pools) on one database.

Two staff taking one item: exactly one wins. Two event workers: every event reaches the
host's consumer exactly once, one item's events in order, also when the consumer fails half
of the first attempts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from portalkit import ConcurrentModification, Portal, Staff
from portalkit.clock import FixedClock
from portalkit.inbox import InboxEvent
from portalkit.staffrights import INBOX_WORK
from portalkit.storage.base import TABLES
from portalkit.testing import World

pytestmark = pytest.mark.postgres


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
        t.join(timeout=120)
    return outcomes


@pytest.fixture
def two_portals(pg_url: str) -> Iterator[tuple[Portal, Portal]]:
    from portalkit.storage.sqlalchemy import SqlStorage

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    clock = FixedClock()  # one time for both servers, moved by the test
    yield Portal(first, clock=clock), Portal(second, clock=clock)
    first.close()
    second.close()


def test_two_staff_taking_one_item_exactly_one_wins(two_portals: tuple[Portal, Portal]) -> None:
    one, two = two_portals
    world = World(one)
    pia = Staff(vendor_id=world.vendor.id, user_id="pia", permissions={INBOX_WORK})
    tom = Staff(vendor_id=world.vendor.id, user_id="tom", permissions={INBOX_WORK})
    for person in (pia, tom):
        one.staff.add(
            world.staff,
            user_id=person.user_id,
            name=person.user_id,
            email=f"{person.user_id}@vendor.example",
        )
    one.inbox.register_kind("service_call")
    two.inbox.register_kind("service_call")
    barrier = threading.Barrier(2, timeout=10)

    def wait_before_update(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE INBOX_ITEMS"):
            barrier.wait()

    for portal in (one, two):
        event.listen(portal.storage.engine, "before_cursor_execute", wait_before_update)  # type: ignore[attr-defined]
    for _round in range(5):
        with one.transaction() as uow:
            item = one.inbox.file(uow, world.vendor.id, kind="service_call", title="Call back")
        outcomes = _race(
            [
                lambda it=item: one.inbox.claim(pia, it.id, expected_version=it.version),
                lambda it=item: two.inbox.claim(tom, it.id, expected_version=it.version),
            ]
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrentModification", "NoneType"]
        winner = ("pia", "tom")[outcomes.index(None)]
        stored = one.inbox.get(world.staff, item.id)
        assert stored.assignee == winner and stored.version == 2
        assert len(one.inbox.events(world.staff, item.id)) == 2  # created, and one change
        assert isinstance(next(o for o in outcomes if o is not None), ConcurrentModification)


def test_two_event_workers_deliver_every_event_exactly_once_in_order(
    two_portals: tuple[Portal, Portal],
) -> None:
    one, two = two_portals
    world = World(one)
    one.inbox.register_kind("service_call")
    items = []
    for n in range(20):
        with one.transaction() as uow:
            item = one.inbox.file(uow, world.vendor.id, kind="service_call", title=f"Call {n}")
        one.inbox.set_status(world.staff, item.id, "in_progress")
        one.inbox.comment(world.staff, item.id, "On it")
        items.append(item)
    lock = threading.Lock()
    attempted: set[str] = set()
    received: list[InboxEvent] = []
    failures = 0

    def consumer(found: InboxEvent) -> None:
        nonlocal failures
        with lock:
            first_attempt = found.key not in attempted
            attempted.add(found.key)
            # Half of the first attempts fail: the ERP is down for them.
            if (
                first_attempt
                and (found.sequence + items.index(next(i for i in items if i.id == found.item_id)))
                % 2
            ):
                failures += 1
                raise RuntimeError("ERP unavailable")
            received.append(found)

    for _round in range(12):
        outcomes = _race(
            [
                lambda: one.inbox.deliver_events(consumer, batch=7),
                lambda: two.inbox.deliver_events(consumer, batch=7),
            ]
        )
        assert outcomes == [None, None]
        if len(received) == 60:
            break
        one.clock.advance(hours=2)  # type: ignore[attr-defined]  # retries fall due
    keys = [e.key for e in received]
    assert len(keys) == 60 and len(set(keys)) == 60  # every event once, none twice
    assert failures == 30
    for item in items:
        sequences = [e.sequence for e in received if e.item_id == item.id]
        assert sequences == [1, 2, 3]  # in order per item
