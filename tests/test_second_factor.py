"""Two-step log-in with a TOTP second factor (issue 17 item 1), on memory, SQLite and
PostgreSQL. Codes are computed here with hmac and hashlib, never with portalkit's code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import datetime, timedelta
from typing import Any

import pytest

from portalkit import (
    AuthenticationFailed,
    Conflict,
    FixedClock,
    Portal,
    SecondFactorRequired,
    ValidationError,
)
from portalkit.auth import member_of
from portalkit.mail import MemoryMailer
from portals import GOOD
from portals import account_of as _account
from portals import login_with_password as _login
from portals import mail_world as _world


def _code(secret: str, when: datetime) -> str:
    """RFC 6238 with SHA-1, six digits, 30-second steps, by hand."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int(when.timestamp()) // 30
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 1_000_000).zfill(6)


def _clock(portal: Portal) -> FixedClock:
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    return clock


def _enrolled(portal: Portal, **settings: Any) -> tuple[Any, str, str, tuple[str, ...]]:
    """A world, a login's username, its TOTP secret and its recovery codes."""
    world = _world(portal, **settings)
    membership = _login(world)
    member = member_of(membership)
    enrolment = portal.second_factor.begin(member, password=GOOD, issuer="Acme portal")
    assert "<svg" in enrolment.qr_svg and enrolment.secret in enrolment.uri
    codes = portal.second_factor.confirm(member, _code(enrolment.secret, portal.clock.now()))
    _clock(portal).advance(seconds=30)  # the confirming code's step is used up
    return world, _account(world, membership).username, enrolment.secret, codes


def _challenge(portal: Portal, world: Any, username: str) -> str:
    with pytest.raises(SecondFactorRequired) as needed:
        portal.auth.authenticate(world.vendor, username, GOOD)
    return needed.value.challenge


def test_the_right_password_asks_for_the_code_and_the_code_logs_in(portal: Portal) -> None:
    world, username, secret, _ = _enrolled(portal)
    challenge = _challenge(portal, world, username)
    login = portal.auth.complete_login(world.vendor, challenge, _code(secret, portal.clock.now()))
    assert portal.auth.validate_session(world.vendor, login.session) == login.actor


def test_a_host_written_before_second_factors_fails_closed(portal: Portal) -> None:
    """SecondFactorRequired is an AuthenticationFailed: ``except AuthenticationFailed``
    refuses the log-in; and it comes only after the right password."""
    world, username, _, _ = _enrolled(portal)
    with pytest.raises(AuthenticationFailed) as refused:
        portal.auth.authenticate(world.vendor, username, "wrong password number x")
    assert type(refused.value) is AuthenticationFailed
    with pytest.raises(AuthenticationFailed) as unknown:
        portal.auth.authenticate(world.vendor, "nobody", "wrong password number x")
    assert str(unknown.value) == str(refused.value)
    with pytest.raises(AuthenticationFailed) as needed:
        portal.auth.authenticate(world.vendor, username, GOOD)
    assert isinstance(needed.value, SecondFactorRequired)


def test_a_code_is_never_accepted_twice(portal: Portal) -> None:
    world, username, secret, _ = _enrolled(portal)
    code = _code(secret, portal.clock.now())
    portal.auth.complete_login(world.vendor, _challenge(portal, world, username), code)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(world.vendor, _challenge(portal, world, username), code)


def test_the_drift_window_is_one_step_either_way(portal: Portal) -> None:
    world, username, secret, _ = _enrolled(portal)
    _clock(portal).advance(seconds=60)  # the step before is not the confirming one's
    now = portal.clock.now()
    for offset, works in ((-60, False), (60, False), (-30, True), (30, True)):
        challenge = _challenge(portal, world, username)
        code = _code(secret, now + timedelta(seconds=offset))
        if works:
            portal.auth.complete_login(world.vendor, challenge, code)
        else:
            with pytest.raises(AuthenticationFailed):
                portal.auth.complete_login(world.vendor, challenge, code)


def test_a_challenge_works_once_even_on_another_server(portal: Portal) -> None:
    """Two portals on one storage (two servers on one PostgreSQL): one challenge, one log-in."""
    world, username, secret, _ = _enrolled(portal)
    other = Portal(portal.storage, MemoryMailer(), settings=portal.settings, clock=portal.clock)
    challenge = _challenge(portal, world, username)
    portal.auth.complete_login(world.vendor, challenge, _code(secret, portal.clock.now()))
    _clock(portal).advance(seconds=30)
    with pytest.raises(AuthenticationFailed):
        other.auth.complete_login(world.vendor, challenge, _code(secret, portal.clock.now()))


def test_a_wrong_code_uses_the_challenge_up(portal: Portal) -> None:
    world, username, secret, _ = _enrolled(portal)
    challenge = _challenge(portal, world, username)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(world.vendor, challenge, "000000")
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(world.vendor, challenge, _code(secret, portal.clock.now()))


def test_a_challenge_dies_after_five_minutes(portal: Portal) -> None:
    world, username, secret, _ = _enrolled(portal)
    challenge = _challenge(portal, world, username)
    _clock(portal).advance(seconds=300)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(world.vendor, challenge, _code(secret, portal.clock.now()))


def test_recovery_codes_work_once_each(portal: Portal) -> None:
    world, username, _, codes = _enrolled(portal)
    assert len(codes) == 10 == len(set(codes))
    portal.auth.complete_login(world.vendor, _challenge(portal, world, username), codes[0])
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(world.vendor, _challenge(portal, world, username), codes[0])
    portal.auth.complete_login(world.vendor, _challenge(portal, world, username), codes[1])


def test_wrong_codes_are_throttled_like_passwords(portal: Portal) -> None:
    """Knowing the password buys no more guesses at the code: after the limit even the
    right code is refused until the window ends."""
    world, username, secret, _ = _enrolled(portal, login_max_failures=3)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            portal.auth.complete_login(world.vendor, _challenge(portal, world, username), "123456")
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(
            world.vendor, _challenge(portal, world, username), _code(secret, portal.clock.now())
        )
    _clock(portal).advance(seconds=901)
    portal.auth.complete_login(
        world.vendor, _challenge(portal, world, username), _code(secret, portal.clock.now())
    )


def test_staff_reset_a_lost_second_factor(portal: Portal) -> None:
    world, username, _, _ = _enrolled(portal)
    account = portal.auth.authenticate
    found = next(a for a in portal.accounts.list(world.staff) if a.username == username)
    assert portal.second_factor.enabled(world.staff, found)
    portal.second_factor.reset(world.staff, found)
    assert account(world.vendor, username, GOOD).account.id == found.id
    events = portal.audit.list(world.staff, action="second_factor_reset")
    assert [e.target for e in events] == [f"account:{found.id}"]
    with pytest.raises(Conflict):
        portal.second_factor.reset(world.staff, found)


def test_enrolment_needs_the_apps_first_code(portal: Portal) -> None:
    world = _world(portal)
    member = member_of(_login(world))
    enrolment = portal.second_factor.begin(member, password=GOOD)
    with pytest.raises(ValidationError):
        portal.second_factor.confirm(member, "000000")
    assert not portal.second_factor.enabled(member, member.account_id)
    portal.second_factor.confirm(member, _code(enrolment.secret, portal.clock.now()))
    with pytest.raises(Conflict):
        portal.second_factor.begin(member, password=GOOD)


def test_disabling_needs_the_password_or_a_recovery_code_and_ends_sessions(
    portal: Portal,
) -> None:
    world, username, secret, codes = _enrolled(portal)
    login = portal.auth.complete_login(
        world.vendor, _challenge(portal, world, username), _code(secret, portal.clock.now())
    )
    with pytest.raises(ValidationError):
        portal.second_factor.disable(login.actor, "wrong password number x")
    assert portal.second_factor.enabled(login.actor, login.account)
    portal.second_factor.disable(login.actor, codes[5])
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, login.session)  # every session ended
    plain = portal.auth.authenticate(world.vendor, username, GOOD)  # the password alone
    assert not portal.second_factor.enabled(plain.actor, plain.account)


def test_disabling_with_the_password(portal: Portal) -> None:
    world, username, secret, _ = _enrolled(portal)
    login = portal.auth.complete_login(
        world.vendor, _challenge(portal, world, username), _code(secret, portal.clock.now())
    )
    portal.second_factor.disable(login.actor, GOOD)
    portal.auth.authenticate(world.vendor, username, GOOD)


def test_enrolling_needs_the_password_and_ends_the_sessions_made_before(portal: Portal) -> None:
    """A stolen session alone must not put the thief's factor in front of the owner's next
    log-in, nor outlive the factor it was made before."""
    world = _world(portal)
    membership = _login(world)
    member = member_of(membership)
    session = portal.auth.session(member)
    with pytest.raises(ValidationError) as wrong:
        portal.second_factor.begin(member, password="not " + GOOD)
    assert wrong.value.field == "current"
    assert not portal.second_factor.enabled(member, member.account_id)
    enrolment = portal.second_factor.begin(member, password=GOOD)
    portal.second_factor.confirm(member, _code(enrolment.secret, portal.clock.now()))
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, session)


def test_a_client_locked_by_failed_passwords_gets_no_second_step(portal: Portal) -> None:
    """The second step counts per client key as the password step does: a client that ran
    out of password guesses cannot finish a log-in with a code either."""
    world, username, secret, _ = _enrolled(portal, login_max_failures=3)
    challenge = _challenge(portal, world, username)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, "nobody", "wrong", client_key="10.0.0.9")
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(
            world.vendor, challenge, _code(secret, portal.clock.now()), client_key="10.0.0.9"
        )
    login = portal.auth.complete_login(
        world.vendor,
        _challenge(portal, world, username),
        _code(secret, portal.clock.now()),
        client_key="10.0.0.10",
    )
    assert login.account.username == username


def test_wrong_codes_count_on_the_client_key_across_logins(portal: Portal) -> None:
    """Wrong codes from one client lock that client out of every account's second step,
    though no account reached its own limit."""
    world, username, _, _ = _enrolled(portal, login_max_failures=3)
    other = _login(world)
    other_member = member_of(other)
    enrolment = portal.second_factor.begin(other_member, password=GOOD)
    portal.second_factor.confirm(other_member, _code(enrolment.secret, portal.clock.now()))
    _clock(portal).advance(seconds=30)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            portal.auth.complete_login(
                world.vendor, _challenge(portal, world, username), "000000", client_key="ip-1"
            )
    other_name = _account(world, other).username
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(
            world.vendor,
            _challenge(portal, world, other_name),
            _code(enrolment.secret, portal.clock.now()),
            client_key="ip-1",
        )


def _mails_to(portal: Portal, address: str) -> list[Any]:
    mailer: Any = portal.mailer
    return [m for m in mailer.outbox if m["To"] == address]


def test_disabling_mails_the_owner(portal: Portal) -> None:
    """A thief with the password and a session who switches the factor off is seen: the
    owner hears of it, in the account's language, with no secret in the mail."""
    world, username, secret, codes = _enrolled(portal)
    login = portal.auth.complete_login(
        world.vendor, _challenge(portal, world, username), _code(secret, portal.clock.now())
    )
    before = len(_mails_to(portal, login.account.email))
    with pytest.raises(ValidationError):
        portal.second_factor.disable(login.actor, "wrong password number x")
    assert len(_mails_to(portal, login.account.email)) == before  # nothing happened
    portal.second_factor.disable(login.actor, codes[2])
    (notice,) = _mails_to(portal, login.account.email)[before:]
    body = notice.get_body(("plain",)).get_content()
    assert "switched off" in notice["Subject"] and "every session" in body
    assert codes[2] not in body and GOOD not in body


def test_a_staff_reset_ends_the_sessions_and_mails_the_owner(portal: Portal) -> None:
    world, username, secret, _ = _enrolled(portal)
    login = portal.auth.complete_login(
        world.vendor, _challenge(portal, world, username), _code(secret, portal.clock.now())
    )
    before = len(_mails_to(portal, login.account.email))
    portal.second_factor.reset(world.staff, login.account)
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, login.session)  # the phone's thief too
    (notice,) = _mails_to(portal, login.account.email)[before:]
    assert "reset the second factor" in notice["Subject"]
    (event,) = portal.audit.list(world.staff, action="second_factor_reset")
    assert event.target == f"account:{login.account.id}"
