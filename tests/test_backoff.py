"""Growing back-off: a client key's lock windows in a row grow, an account's never do.

Issue 17 item 5. Every test runs on memory, SQLite and PostgreSQL with an injected clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from portalkit import AuthenticationFailed, FixedClock, Portal
from portalkit.mail import MemoryMailer
from portals import GOOD
from portals import account_of as _account
from portals import login_with_password as _login
from portals import mail_world as _world

CLIENT = "203.0.113.9"
WINDOW = 900
LONGEST = 3600


def _clock(portal: Portal) -> FixedClock:
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    return clock


def _fail(portal: Portal, world: Any, login: str = "guess", client: str | None = CLIENT) -> str:
    """One refused attempt; the reason the audit log gives for it."""
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, login, "wrong password number x", client_key=client)
    failures = portal.audit.list(world.staff, action="login_failure", limit=1000)
    return failures[-1].reason


def _locks(portal: Portal, world: Any, target: str) -> list[int]:
    events = portal.audit.list(world.staff, action="login_locked", limit=1000)
    return [e.details["lock_seconds"] for e in events if e.target == target]


def _lock_round(portal: Portal, world: Any) -> None:
    """Three wrong guesses from the client: the first is judged, the third locks it."""
    assert _fail(portal, world) == "unknown_login"
    _fail(portal, world)
    _fail(portal, world)
    assert _fail(portal, world) == "throttled"


def _settings() -> dict[str, Any]:
    return {
        "login_max_failures": 3,
        "login_window_seconds": WINDOW,
        "login_backoff_max_seconds": LONGEST,
    }


def test_a_client_keys_lock_windows_double_up_to_the_longest(portal: Portal) -> None:
    """Each lock window of one client key in a row lasts twice the one before, up to
    PORTALKIT_LOGIN_BACKOFF_MAX_SECONDS; a second before its end it still holds."""
    world = _world(portal, **_settings())
    clock = _clock(portal)
    for n, expected in enumerate((900, 1800, 3600, 3600)):
        _lock_round(portal, world)
        clock.advance(seconds=expected - 1)
        # A login of its own: the probe must not count on the guessed login's counter.
        assert _fail(portal, world, f"probe{n}") == "throttled"
        clock.advance(seconds=1)
    assert _locks(portal, world, "client") == [900, 1800, 3600, 3600]


def test_a_success_from_the_client_ends_its_back_off(portal: Portal) -> None:
    world = _world(portal, **_settings())
    clock = _clock(portal)
    membership = _login(world)
    username = _account(world, membership).username
    _lock_round(portal, world)
    clock.advance(seconds=900)
    _lock_round(portal, world)  # the second lock: 1800 s
    clock.advance(seconds=1800)
    portal.auth.authenticate(world.vendor, username, GOOD, client_key=CLIENT)
    _lock_round(portal, world)
    clock.advance(seconds=900)  # one window again, not 3600
    portal.auth.authenticate(world.vendor, username, GOOD, client_key=CLIENT)
    assert _locks(portal, world, "client") == [900, 1800, 900]


def test_the_back_off_holds_across_servers(portal: Portal) -> None:
    """The lock count is stored, not kept in process: a second server on the same storage
    sees the first server's locks and makes the next one longer."""
    world = _world(portal, **_settings())
    other = Portal(portal.storage, MemoryMailer(), settings=portal.settings, clock=portal.clock)
    _lock_round(portal, world)
    _clock(portal).advance(seconds=900)
    assert _fail(other, world) == "unknown_login"
    _fail(other, world)
    _fail(other, world)
    _clock(portal).advance(seconds=1799)
    assert _fail(portal, world, "probe") == "throttled"
    assert _locks(portal, world, "client") == [900, 1800]


def test_an_accounts_lock_stays_one_window_however_often_it_is_locked(portal: Portal) -> None:
    """Nobody can lock a known login out for long by guessing wrong on purpose: the
    account's lock ends with its window, however many windows in a row were locked, and
    from however many client keys."""
    world = _world(portal, **_settings())
    clock = _clock(portal)
    membership = _login(world)
    username = _account(world, membership).username
    for n in range(4):
        for k in range(4):
            _fail(portal, world, username, client=f"198.51.100.{10 * n + k}")
        clock.advance(seconds=WINDOW)
    login = portal.auth.authenticate(world.vendor, username, GOOD, client_key="192.0.2.1")
    assert login.account.id == membership.account_id
    target = f"account:{membership.account_id}"
    assert _locks(portal, world, target) == [WINDOW] * 4
