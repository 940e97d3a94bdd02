"""Session lifetimes and a member's own sessions (issue 17 item 3), through the public API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import text

from portalkit import AuthenticationFailed, FixedClock, NotFound, Portal, PortalSettings
from portalkit.errors import PermissionDenied
from portalkit.mail import MemoryMailer
from portalkit.testing import World
from portals import GOOD
from portals import account_of as _account
from portals import login_with_password as _login
from secretscan import stored_everything


def _clock(portal: Portal) -> FixedClock:
    return cast(FixedClock, portal.clock)


def _log_in(world: World, **fields: Any) -> Any:
    membership = _login(world, **fields)
    username = _account(world, membership).username
    return world.portal.auth.authenticate(
        world.vendor, username, GOOD, client_key="203.0.113.7", user_agent="Firefox/133.0"
    )


def _valid(portal: Portal, world: World, value: str) -> bool:
    try:
        portal.auth.validate_session(world.vendor, value)
    except AuthenticationFailed:
        return False
    return True


def test_a_session_ends_after_its_idle_time_out_and_use_keeps_it(world: World) -> None:
    p = world.portal
    p.settings = PortalSettings(session_idle_minutes=30, session_touch_seconds=60)
    login = _log_in(world)
    clock = _clock(p)
    for _ in range(5):  # used every 29 minutes: 2.5 hours, never idle for 30
        clock.advance(minutes=29)
        assert _valid(p, world, login.session)
    clock.advance(minutes=29, seconds=59)
    assert _valid(p, world, login.session)  # one second before the edge: still good
    clock.advance(minutes=30)  # last seen 30 minutes ago, exactly: ended
    assert not _valid(p, world, login.session)
    clock.advance(seconds=-1)
    # Time does not go back for a session that was refused either: it was seen last at
    # the previous request (a refused request does not record a sighting).
    assert _valid(p, world, login.session)


def test_the_idle_edge_is_exact(world: World) -> None:
    p = world.portal
    p.settings = PortalSettings(session_idle_minutes=10, session_touch_seconds=0)
    login = _log_in(world)
    _clock(p).advance(minutes=10, seconds=-1)
    assert _valid(p, world, login.session)
    _clock(p).advance(minutes=10)
    assert not _valid(p, world, login.session)


def test_a_session_ends_at_its_absolute_time_out_however_much_it_is_used(world: World) -> None:
    p = world.portal
    p.settings = PortalSettings(session_absolute_hours=2, session_idle_minutes=30)
    login = _log_in(world)
    clock = _clock(p)
    for _ in range(11):
        clock.advance(minutes=10)
        assert _valid(p, world, login.session)
    clock.advance(minutes=9, seconds=59)  # 1:59:59 after the log-in
    assert _valid(p, world, login.session)
    # A renewal (a switch of customer, a password change) keeps the log-in time.
    renewed = p.auth.session(login.actor, login.session)
    assert _valid(p, world, renewed) and not _valid(p, world, login.session)
    clock.advance(seconds=1)  # 2:00:00
    assert not _valid(p, world, renewed)


def test_touches_are_written_at_most_every_touch_interval(world: World) -> None:
    p = world.portal
    p.settings = PortalSettings(session_touch_seconds=60)
    login = _log_in(world)
    clock = _clock(p)

    def seen() -> Any:
        (mine,) = p.sessions.list(login.actor)
        return mine.last_seen_at

    start = seen()
    clock.advance(seconds=59)
    p.auth.validate_session(world.vendor, login.session)
    assert seen() == start  # no write within the interval
    clock.advance(seconds=1)
    p.auth.validate_session(world.vendor, login.session)
    assert seen() == start + timedelta(seconds=60)


def test_a_member_lists_its_own_sessions_with_the_current_one_marked(world: World) -> None:
    p = world.portal
    membership = _login(world)
    username = _account(world, membership).username
    here = p.auth.authenticate(
        world.vendor, username, GOOD, client_key="10.0.0.1", user_agent="Firefox/133.0"
    )
    _clock(p).advance(seconds=5)
    there = p.auth.authenticate(world.vendor, username, GOOD, user_agent="Safari/18")
    _log_in(world)  # someone else's
    listed = p.sessions.list(here.actor, current=here.session)
    assert [(s.user_agent, s.client_key, s.current) for s in listed] == [
        ("Firefox/133.0", "10.0.0.1", True),
        ("Safari/18", "", False),
    ]
    assert {s.customer_id for s in listed} == {membership.customer_id}
    assert [s.current for s in p.sessions.list(there.actor, current=there.session)] == [
        False,
        True,
    ]


def test_a_session_ended_from_the_list_is_refused_at_once(world: World) -> None:
    p = world.portal
    membership = _login(world)
    username = _account(world, membership).username
    here = p.auth.authenticate(world.vendor, username, GOOD)
    there = p.auth.authenticate(world.vendor, username, GOOD)
    assert _valid(p, world, there.session)  # its facts are now kept by this process
    (_, other) = p.sessions.list(here.actor, current=here.session)
    p.sessions.end(here.actor, other.id)
    assert not _valid(p, world, there.session)
    assert _valid(p, world, here.session)
    assert [s.current for s in p.sessions.list(here.actor, current=here.session)] == [True]
    with pytest.raises(NotFound):
        p.sessions.end(here.actor, other.id)  # ended already
    events = [e for e in p.audit.list(world.staff) if e.action == "session_ended"]
    assert len(events) == 1 and events[0].target == f"account:{membership.account_id}"


def test_logging_out_ends_the_session_for_every_copy_of_its_value(world: World) -> None:
    """A log-out ends the record, not only this browser's cookie: a copy of the value taken
    before (a stolen cookie; Flask keeps it in the cookie itself) is refused from then on."""
    p = world.portal
    username = _account(world, _login(world)).username
    login = p.auth.authenticate(world.vendor, username, GOOD)
    other = p.auth.authenticate(world.vendor, username, GOOD)  # the same login elsewhere
    assert _valid(p, world, login.session)
    record, secret = login.session.split(".", 1)
    assert not p.sessions.log_out(world.vendor, f"{record}.{'x' * len(secret)}")  # wrong secret
    assert _valid(p, world, login.session)
    assert not p.sessions.log_out(World(p).vendor, login.session)  # another vendor's
    assert p.sessions.log_out(world.vendor, login.session)
    assert not _valid(p, world, login.session)
    assert _valid(p, world, other.session)  # other browsers stay logged in
    assert not p.sessions.log_out(world.vendor, login.session)  # once
    for junk in ["", "x" * 1_000_000, "\ud800.\ud800", None, 7]:
        assert not p.sessions.log_out(world.vendor, junk)
    events = [e for e in p.audit.list(world.staff) if e.action == "logout"]
    assert len(events) == 1 and events[0].target == f"account:{login.account.id}"


def test_ending_all_others_keeps_only_this_browser(world: World) -> None:
    p = world.portal
    membership = _login(world)
    username = _account(world, membership).username
    here, *others = (p.auth.authenticate(world.vendor, username, GOOD) for _ in range(3))
    assert p.sessions.end_others(here.actor, here.session) == 2
    assert _valid(p, world, here.session)
    assert not any(_valid(p, world, o.session) for o in others)
    with pytest.raises(NotFound):
        p.sessions.end_others(here.actor, others[0].session)  # an ended one is no anchor


def test_a_member_cannot_see_or_end_another_accounts_sessions(world: World) -> None:
    p = world.portal
    mine, theirs = _log_in(world), _log_in(world)
    (their_session,) = p.sessions.list(theirs.actor)
    with pytest.raises(NotFound):
        p.sessions.end(mine.actor, their_session.id)
    with pytest.raises(PermissionDenied):
        p.sessions.list(mine.actor, account=theirs.actor.account_id)
    assert _valid(p, world, theirs.session)


def test_staff_with_logins_manage_list_and_end_a_logins_sessions(world: World) -> None:
    p = world.portal
    login = _log_in(world)
    account = login.actor.account_id
    (listed,) = p.sessions.list(world.staff, account=account)
    assert listed.user_agent == "Firefox/133.0" and not listed.current
    weak = world.staff_holding("audit.read")
    with pytest.raises(PermissionDenied):
        p.sessions.list(weak, account=account)
    with pytest.raises(PermissionDenied):
        p.sessions.end(weak, listed.id)
    p.sessions.end(world.staff, listed.id)
    assert not _valid(p, world, login.session)
    assert p.sessions.list(world.staff, account=account) == []


def test_forged_and_unknown_records_are_refused(world: World) -> None:
    p = world.portal
    login = _log_in(world)
    record, secret = login.session.split(".")
    other = _log_in(world)
    forged = [
        f"{record}.{'A' * len(secret)}",  # the record, not its secret
        f"{other.session.split('.')[0]}.{secret}",  # the secret on another record
        f"{login.actor.membership_id}.{secret}",  # a membership's id is no record
        f"00000000-0000-0000-0000-000000000000.{secret}",
        f"{login.actor.membership_id}.stamp.stamp",  # the values of before records
    ]
    for value in forged:
        assert not _valid(p, world, value), value
    assert _valid(p, world, login.session)


def test_the_raw_secret_is_never_stored(world: World) -> None:
    login = _log_in(world)
    secret = login.session.split(".")[1]
    assert secret not in stored_everything(world.portal)


def test_a_session_of_one_vendor_is_useless_in_another(world: World) -> None:
    p = world.portal
    login = _log_in(world)
    other = World(p, vendor_code="OTHER")
    assert not _valid(p, other, login.session)
    assert _valid(p, world, login.session)


def test_what_ended_sessions_before_still_ends_them(world: World) -> None:
    p = world.portal
    membership = _login(world)
    username = _account(world, membership).username
    login = p.auth.authenticate(world.vendor, username, GOOD)
    p.auth.end_sessions(world.staff, membership.account_id)  # "log out everywhere"
    assert not _valid(p, world, login.session)
    assert p.sessions.list(world.staff, account=membership.account_id) == []
    login = p.auth.authenticate(world.vendor, username, GOOD)
    p.memberships.deactivate(world.staff, membership.id)
    assert not _valid(p, world, login.session)
    p.memberships.activate(world.staff, membership.id)
    assert not _valid(p, world, login.session)  # back on: the stamp changed, the session not back
    login = p.auth.authenticate(world.vendor, username, GOOD)
    changed = p.credentials.change_password(login.actor, current=GOOD, new="another long one here")
    assert changed and not _valid(p, world, login.session)


def test_prune_removes_ended_and_long_dead_sessions_and_erasure_takes_the_rest(
    world: World,
) -> None:
    p = world.portal
    ended, kept = _log_in(world), _log_in(world)
    (record,) = p.sessions.list(ended.actor)
    p.sessions.end(ended.actor, record.id)
    assert p.retention.prune(world.staff).sessions == 0  # ended just now: kept for a while
    _clock(p).advance(days=p.settings.retention_session_days, seconds=1)
    assert p.retention.prune(world.staff).sessions == 2  # the ended one, and the one unused
    assert kept.session.split(".")[0] not in stored_everything(p)
    fresh = _log_in(world)
    eraser = world.staff_holding("data.erase")
    p.retention.erase_person(eraser, account=fresh.actor.account_id)
    assert not _valid(p, world, fresh.session)
    assert fresh.session.split(".")[0] not in stored_everything(p)


@pytest.mark.postgres
def test_a_session_ended_on_one_server_is_refused_on_the_other(pg_url: str) -> None:
    from portalkit.storage.sqlalchemy import SqlStorage
    from portalkit.storage.sqlalchemy.rows import Base

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(Base.metadata.tables)} CASCADE"))
    clock = FixedClock()
    one = Portal(first, MemoryMailer(), clock=clock)
    two = Portal(second, MemoryMailer(), clock=clock)
    try:
        world = World(one)
        membership = _login(world)
        username = _account(world, membership).username
        here = one.auth.authenticate(world.vendor, username, GOOD)
        there = one.auth.authenticate(world.vendor, username, GOOD)
        # Both servers have checked (and keep the facts of) the session.
        assert _valid(one, world, there.session) and _valid(two, world, there.session)
        (_, other) = two.sessions.list(here.actor, current=here.session)
        one.sessions.end(here.actor, other.id)
        assert not _valid(two, world, there.session)
        assert _valid(two, world, here.session)
    finally:
        first.close()
        second.close()


def test_staff_must_name_the_account_whose_sessions_they_list(world: World) -> None:
    from portalkit import ValidationError

    with pytest.raises(ValidationError):
        world.portal.sessions.list(world.staff)
