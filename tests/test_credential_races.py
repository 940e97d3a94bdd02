"""Races on links and login counters: one winner per link, every failure counted."""

from __future__ import annotations

import multiprocessing
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, text

from portalkit import FixedClock, InvalidToken, Portal, PortalSettings
from portalkit.mail import MemoryMailer
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World
from test_concurrency import _race

ROUNDS = 20
GOOD = "correct horse battery staple"


def _settings(**extra: Any) -> PortalSettings:
    return PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        **extra,
    )


def _reset_token(world: World, mailer: MemoryMailer) -> str:
    profile = world.profile(capabilities={"orders.view"})
    membership = world.membership(profile=profile)
    world.portal.credentials.set_password(world.system, membership, GOOD, must_change=False)
    account = world.portal.accounts.get(world.staff, membership.account_id)
    world.portal.credentials.request_reset(world.vendor, account.email)
    world.portal.mail.wait()
    body = mailer.outbox[-1].get_body(("plain",)).get_content()
    found = re.search(r"token=([A-Za-z0-9_-]+)", body)
    assert found
    return found.group(1)


@pytest.fixture
def pg_pair(pg_url: str) -> Iterator[tuple[Portal, Portal, threading.Barrier]]:
    from portalkit.storage.sqlalchemy import SqlStorage
    from portalkit.storage.sqlalchemy.rows import Base

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(Base.metadata.tables)} CASCADE"))
    barrier = threading.Barrier(2, timeout=10)

    def wait_before_use(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Both requests have checked the link and the password; only the database decides.
        if statement.lstrip().upper().startswith("UPDATE TOKENS SET USED_AT"):
            barrier.wait()

    for storage in (first, second):
        event.listen(storage.engine, "before_cursor_execute", wait_before_use)
    mailer = MemoryMailer()
    clock = FixedClock()
    one = Portal(first, mailer, settings=_settings(), clock=clock)
    two = Portal(second, mailer, settings=one.settings, clock=clock)
    yield one, two, barrier
    first.close()
    second.close()


@pytest.mark.postgres
def test_two_servers_using_one_reset_link_on_postgres(
    pg_pair: tuple[Portal, Portal, threading.Barrier],
) -> None:
    """B3: one conditional UPDATE decides; exactly one reset succeeds per round."""
    one, two, barrier = pg_pair
    world = World(one)
    mailer: Any = one.mailer
    for n in range(ROUNDS):
        token = _reset_token(world, mailer)
        barrier.reset()
        outcomes = _race(
            [
                lambda t=token, n=n: one.credentials.reset_password(
                    world.vendor, t, f"first new pass {n}"
                ),
                lambda t=token, n=n: two.credentials.reset_password(
                    world.vendor, t, f"second new pass {n}"
                ),
            ]
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["InvalidToken", "NoneType"], n


def test_eight_threads_using_one_link_in_memory() -> None:
    """B3 on the memory backend: the store's lock makes the use atomic."""
    mailer = MemoryMailer()
    portal = Portal(MemoryStorage(), mailer, settings=_settings(), clock=FixedClock())
    world = World(portal)
    for _ in range(5):
        token = _reset_token(world, mailer)
        start = threading.Barrier(8, timeout=10)

        def use(token: str = token, start: threading.Barrier = start) -> None:
            start.wait()
            with portal.transaction() as uow:
                from portalkit.tokens import TokenPurpose, token_digest

                if (
                    uow.consume_token(
                        world.vendor.id, TokenPurpose.RESET, token_digest(token), portal.clock.now()
                    )
                    is None
                ):
                    raise InvalidToken()

        outcomes = _race([use] * 8)
        assert sum(o is None for o in outcomes) == 1
        assert all(isinstance(o, InvalidToken) for o in outcomes if o is not None)


@pytest.mark.postgres
def test_failed_logins_from_two_processes_count_together_on_postgres(pg_url: str) -> None:
    """A7 / issue 5: 2 processes × 15 wrong passwords against a limit of 20 → 20 checked,
    10 refused unchecked, one lock."""
    from loginworker import fail_logins
    from portalkit.storage.sqlalchemy import SqlStorage
    from portalkit.storage.sqlalchemy.rows import Base

    storage = SqlStorage(pg_url)
    with storage.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(Base.metadata.tables)} CASCADE"))
    portal = Portal(
        storage, settings=PortalSettings(login_max_failures=20, login_window_seconds=3600)
    )
    world = World(portal)
    world.account(username="target", email="target@customer.example")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(2) as pool:
            results = [
                pool.apply_async(
                    fail_logins,
                    (pg_url, str(world.vendor.id), "TARGET@customer.example", 15, start),
                )
                for _ in range(2)
            ]
            start.set()
            assert [r.get(timeout=120) for r in results] == [15, 15]
    events = portal.audit.list(world.staff, limit=500)
    reasons = [e.reason for e in events if e.action == "login_failure"]
    # Every attempt took its number: 20 were checked, the 10 over the limit were not.
    assert len(reasons) == 30 and reasons.count("throttled") == 10  # the others: no_password
    assert [e.action for e in events].count("login_locked") == 1
    # The count is the account's, so its username is locked out too.
    with pytest.raises(Exception, match="not correct"):
        portal.auth.authenticate(world.vendor, "target", "whatever it is")
    reasons = [e.reason for e in portal.audit.list(world.staff, limit=500)]
    assert reasons[-1] == "throttled"
    storage.close()


@pytest.mark.postgres
def test_two_servers_logging_one_account_in_at_once_on_postgres(pg_url: str) -> None:
    """Both logins succeed and both count, though each one's bookkeeping write meets the
    other's (the loser of the version check judges again)."""
    from portalkit.storage.sqlalchemy import SqlStorage
    from portalkit.storage.sqlalchemy.rows import Base

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(Base.metadata.tables)} CASCADE"))
    barrier = threading.Barrier(2, timeout=10)
    waiting = [0]  # the first two bookkeeping writes of a round meet; the retry goes alone
    lock = threading.Lock()

    def wait_before_bookkeeping(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ACCOUNTS SET"):
            with lock:
                meet = waiting[0] < 2
                waiting[0] += 1
            if meet:
                barrier.wait()

    one = Portal(first, MemoryMailer(), settings=_settings())
    two = Portal(second, MemoryMailer(), settings=one.settings)
    world = World(one)
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    one.credentials.set_password(world.system, membership, GOOD, must_change=False)
    username = one.accounts.get(world.staff, membership.account_id).username
    for storage in (first, second):
        event.listen(storage.engine, "before_cursor_execute", wait_before_bookkeeping)
    for n in range(5):
        barrier.reset()
        waiting[0] = 0
        outcomes = _race(
            [
                lambda: one.auth.authenticate(world.vendor, username, GOOD),
                lambda: two.auth.authenticate(world.vendor, username, GOOD),
            ]
        )
        assert outcomes == [None, None], (n, outcomes)
    waiting[0] = 2
    assert one.accounts.get(world.staff, membership.account_id).login_count == 10
    first.close()
    second.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_attempts_in_parallel_cannot_all_slip_under_the_limit(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    """A7: 24 attempts at once against a limit of 8: only 8 get their password checked."""
    from conftest import make_storage

    portal = Portal(
        make_storage(backend, request, tmp_path),
        MemoryMailer(),
        settings=PortalSettings(login_max_failures=8, login_window_seconds=3600),
    )
    world = World(portal)
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    portal.credentials.set_password(world.system, membership, GOOD, must_change=False)
    username = portal.accounts.get(world.staff, membership.account_id).username
    start = threading.Barrier(24, timeout=30)

    def attempt(n: int) -> None:
        start.wait()
        portal.auth.authenticate(world.vendor, username, f"wrong guess number {n}")

    outcomes = _race([lambda n=n: attempt(n) for n in range(24)])
    assert all(type(o).__name__ == "AuthenticationFailed" for o in outcomes)
    reasons = [e.reason for e in portal.audit.list(world.staff, action="login_failure")]
    assert reasons.count("wrong_password") == 8 and reasons.count("throttled") == 16


def _email_change_token(world: World, mailer: MemoryMailer, new: str) -> str:
    """A fresh login's e-mail change link to ``new``."""
    profile = world.profile(capabilities={"orders.view"})
    membership = world.membership(profile=profile)
    world.portal.credentials.set_password(world.system, membership, GOOD, must_change=False)
    world.portal.accounts.request_email_change(world.member(membership), new, password=GOOD)
    world.portal.mail.wait()
    for message in reversed(mailer.outbox):
        found = re.search(r"token=([A-Za-z0-9_-]+)", message.get_body(("plain",)).get_content())
        if message["To"] == new and found:
            return found.group(1)
    raise AssertionError("no e-mail change link")


@pytest.mark.postgres
def test_two_servers_using_one_email_change_link_on_postgres(
    pg_pair: tuple[Portal, Portal, threading.Barrier],
) -> None:
    """Issue 17.4: the link works once, whoever races for it."""
    one, two, barrier = pg_pair
    world = World(one)
    mailer: Any = one.mailer
    for n in range(ROUNDS // 4):
        token = _email_change_token(world, mailer, f"moved{n}@elsewhere.example")
        barrier.reset()
        outcomes = _race(
            [
                lambda t=token: one.accounts.confirm_email_change(world.vendor, t),
                lambda t=token: two.accounts.confirm_email_change(world.vendor, t),
            ]
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["InvalidToken", "NoneType"], n


@pytest.mark.postgres
def test_two_logins_moving_to_one_address_at_once_on_postgres(
    pg_pair: tuple[Portal, Portal, threading.Barrier],
) -> None:
    """Issue 17.4: two links to the same new address used at the same moment: one login gets
    it, the other's link fails as a dead link (the unique index decides), nothing half-done."""
    one, two, barrier = pg_pair
    world = World(one)
    mailer: Any = one.mailer
    for n in range(ROUNDS // 4):
        address = f"wanted{n}@elsewhere.example"
        first = _email_change_token(world, mailer, address)
        second = _email_change_token(world, mailer, address)
        barrier.reset()
        outcomes = _race(
            [
                lambda t=first: one.accounts.confirm_email_change(world.vendor, t),
                lambda t=second: two.accounts.confirm_email_change(world.vendor, t),
            ]
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["InvalidToken", "NoneType"], n
        owners = [a for a in one.accounts.list(world.staff, limit=1000) if a.email == address]
        assert len(owners) == 1
