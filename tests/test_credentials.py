"""Accounts and credentials: hashing at login, policies on every path, links, login and sessions.

The requirement each test proves is named in its docstring (``../shared/security.md``).
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portalkit import (
    AuthenticationFailed,
    FixedClock,
    InvalidToken,
    Membership,
    PasswordExpired,
    PasswordRejected,
    Portal,
    ValidationError,
)
from portalkit.auth import Login
from portalkit.mail import MemoryMailer, TemporaryMailError
from portalkit.passwords import PasswordHasher
from portalkit.storage.memory import MemoryStorage
from portalkit.tokens import TokenPurpose
from portals import CountingHasher
from portals import account_of as _account
from portals import login_with_password as _login
from portals import mail_world as _world
from secretscan import stored_everything

GOOD = "correct horse battery staple"
OTHER = "tangerine submarine orchestra"


def _link_token(portal: Portal, path: str) -> str:
    portal.mail.wait()  # reset mail is delivered in the background
    mailer: Any = portal.mailer
    body = mailer.outbox[-1].get_body(("plain",)).get_content()
    found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def _clock(portal: Portal) -> FixedClock:
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    return clock


def _django_hash(password: str, iterations: int = 1000) -> str:
    """A hash as Django's pbkdf2_sha256 hasher writes it (built here with hashlib)."""
    import base64
    import hashlib

    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), b"saltsalt", iterations)
    return f"pbkdf2_sha256${iterations}$saltsalt${base64.b64encode(digest).decode()}"


def _store_hash(portal: Portal, membership: Membership, encoded: str) -> Any:
    """Store an imported hash, as a migration script would (straight through storage)."""
    with portal.transaction() as uow:
        account = uow.accounts.get(membership.vendor_id, membership.account_id)
        assert account is not None
        changed = attrs.evolve(account, password_hash=encoded, version=account.version + 1)
        uow.accounts.update(changed, account.version)
    return changed


# -- A1: storage and upgrade ---------------------------------------------------------------
def test_passwords_are_stored_as_argon2id_and_old_hashes_upgrade_at_login(portal: Portal) -> None:
    """A1: PHC string with OWASP parameters, salted; cheaper hashes upgrade on success only."""
    world = _world(portal)
    first, second = _login(world), _login(world)
    a, b = _account(world, first), _account(world, second)
    assert a.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert a.password_hash != b.password_hash  # same password, different salt
    assert GOOD not in repr(a) and a.password_hash not in repr(a)

    # The portal raises its parameters: the stored hash is now "old".
    portal.hasher = PasswordHasher(iterations=3)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, a.username, "wrong password entirely")
    assert _account(world, first).password_hash == a.password_hash  # a failure never rewrites
    portal.auth.authenticate(world.vendor, a.username, GOOD)
    upgraded = _account(world, first).password_hash
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
    portal.auth.authenticate(world.vendor, a.username, GOOD)  # and it still verifies


def test_an_imported_django_hash_logs_in_and_is_upgraded(portal: Portal) -> None:
    """A1 / issue 5.1: a vendor migrates its users without a reset."""

    world = _world(portal)
    membership = _login(world, password=None)
    account = _store_hash(portal, membership, _django_hash(GOOD))
    login = portal.auth.authenticate(world.vendor, account.email, GOOD)
    assert login.account.password_hash.startswith("$argon2id$")
    assert _account(world, membership).password_hash.startswith("$argon2id$")


# -- A2/A3: one policy on every path -------------------------------------------------------
def test_every_way_of_setting_a_password_applies_the_same_policy(portal: Portal) -> None:
    """A3: admin-set, self-change, reset and invitation reject the same weak password with the
    same codes, and store nothing."""
    world = _world(portal, password_policy="strict")
    weak = "password"
    codes = []
    victim = _login(world, password="Str0ng!Passphrase")
    before = _account(world, victim).password_hash

    with pytest.raises(PasswordRejected) as caught:
        portal.credentials.set_password(world.system, victim, weak)
    codes.append(caught.value.codes)
    with pytest.raises(PasswordRejected) as caught:
        portal.credentials.change_password(
            world.member(victim), current="Str0ng!Passphrase", new=weak
        )
    codes.append(caught.value.codes)
    portal.credentials.request_reset(world.vendor, _account(world, victim).email)
    reset = _link_token(portal, "/reset-password")
    with pytest.raises(PasswordRejected) as caught:
        portal.credentials.reset_password(world.vendor, reset, weak)
    codes.append(caught.value.codes)
    invited = _login(world, password=None, status="invited")
    portal.credentials.invite(world.staff, invited)
    invite = _link_token(portal, "/accept-invitation")
    with pytest.raises(PasswordRejected) as caught:
        portal.credentials.accept_invitation(world.vendor, invite, weak)
    codes.append(caught.value.codes)

    assert codes == [["no_upper", "no_digit", "no_symbol", "common"]] * 4
    assert _account(world, victim).password_hash == before
    assert _account(world, invited).password_hash is None
    # A rejected password leaves the links usable.
    assert portal.credentials.link_works(world.vendor, "reset", reset)
    assert portal.credentials.link_works(world.vendor, "invite", invite)


def test_a_rejected_password_speaks_the_members_language(portal: Portal) -> None:
    """A2: every broken rule, in the account's language."""
    world = _world(portal, password_policy="strict")
    membership = _login(world, password=None)
    portal.accounts.update(world.staff, membership.account_id, language="de")
    with pytest.raises(PasswordRejected) as caught:
        portal.credentials.set_password(world.system, membership, "kurz")
    assert caught.value.codes[0] == "too_short"
    assert "8" in caught.value.problems[0].message
    assert "Zeichen" in caught.value.problems[0].message


# -- A4/A5: generated and admin-set passwords ----------------------------------------------
def test_a_generated_password_must_be_changed_and_expires_unused(portal: Portal) -> None:
    """A4/A5: generated passwords pass the policy, force a change and expire if unused."""
    world = _world(portal, password_policy="strict", generated_password_hours=24)
    membership = _login(world, password=None)
    generated = portal.credentials.set_password(world.system, membership)
    assert generated is not None and len(generated) >= 16
    portal.credentials.policy.check(generated)
    username = _account(world, membership).username
    login = portal.auth.authenticate(world.vendor, username, generated)
    assert login.must_change_password
    _clock(portal).advance(hours=25)
    with pytest.raises(PasswordExpired):
        portal.auth.authenticate(world.vendor, username, generated)
    with pytest.raises(AuthenticationFailed) as wrong:
        portal.auth.authenticate(world.vendor, username, "not the generated one")
    assert type(wrong.value) is AuthenticationFailed  # expiry shows only with the right one


def test_changing_a_password_needs_the_current_one(portal: Portal) -> None:
    """A5: without or with a wrong current password nothing changes."""
    world = _world(portal)
    membership = _login(world)
    member = world.member(membership)
    before = _account(world, membership).password_hash
    for wrong in ("", "not my password at all"):
        with pytest.raises(ValidationError) as caught:
            portal.credentials.change_password(member, current=wrong, new=OTHER)
        assert caught.value.problems[0].field == "current"
    assert _account(world, membership).password_hash == before
    portal.credentials.change_password(member, current=GOOD, new=OTHER)
    portal.auth.authenticate(world.vendor, _account(world, membership).username, OTHER)


def test_credentials_can_be_mailed_and_the_mail_forgets_them(portal: Portal) -> None:
    """Transport seed: generate a password and mail the login details (secret mail)."""
    world = _world(portal)
    mailer: Any = portal.mailer
    membership = _login(world, password=None, status="invited")
    generated = portal.credentials.set_password(world.system, membership, send=True)
    assert generated is not None
    body = mailer.outbox[-1].get_body(("plain",)).get_content()
    assert generated in body and _account(world, membership).username in body
    assert generated not in stored_everything(portal)
    assert portal.memberships.get(world.staff, membership.id).status.value == "active"


# -- A6: one failure for every reason, one verification on every path -----------------------
def test_every_login_failure_looks_the_same_and_costs_one_verification(portal: Portal) -> None:
    """A6: unknown, wrong password, disabled membership, inactive main account, inactive
    customer, no password and a legacy hash: one exception, one message, one verification."""
    world = _world(portal)
    spy = CountingHasher(portal.hasher)
    portal.hasher = spy  # type: ignore[assignment]
    plain = _login(world)
    disabled = _login(world)
    portal.memberships.deactivate(world.staff, disabled)
    customer = world.customer()
    main = _login(world, customer=customer, kind="main")
    extra = _login(world, customer=customer, kind="extra")
    portal.memberships.deactivate(world.staff, main)
    off_customer = _login(world)
    portal.customers.deactivate(world.staff, off_customer.customer_id)
    no_password = _login(world, password=None)
    legacy = _login(world, password=None)
    _store_hash(portal, legacy, _django_hash(GOOD))
    cases = {
        "unknown": ("nobody@customer.example", GOOD),
        "wrong password": (_account(world, plain).username, "not the right password"),
        "disabled membership": (_account(world, disabled).username, GOOD),
        "main account off": (_account(world, extra).username, GOOD),
        "customer off": (_account(world, off_customer).username, GOOD),
        "no password": (_account(world, no_password).username, GOOD),
        "legacy hash": (_account(world, legacy).username, "not the imported password"),
    }
    errors = []
    for path, (login, password) in cases.items():
        spy.verifications = 0
        with pytest.raises(AuthenticationFailed) as caught:
            portal.auth.authenticate(world.vendor, login, password)
        # One check at current cost on every path; an imported hash adds its own, cheaper
        # or dearer, check before it (it cannot cost less than an unknown login).
        assert spy.verifications == (2 if path == "legacy hash" else 1), path
        errors.append((type(caught.value), str(caught.value)))
    assert len(set(errors)) == 1
    reasons = [e.reason for e in portal.audit.list(world.staff) if e.action == "login_failure"]
    assert reasons[0] == "unknown_login" and reasons[1] == "wrong_password"
    assert "main account" in reasons[3] and reasons[5] == "no_password"


# -- A7: throttling ------------------------------------------------------------------------
def test_too_many_failures_lock_the_login_until_the_window_ends(portal: Portal) -> None:
    """A7: the 11th attempt, with the right password, is refused; after the window it works;
    Alice@X and alice@x share one counter; the lock is recorded once."""
    world = _world(portal, login_max_failures=10, login_window_seconds=900)
    membership = _login(world, email="alice@customer.example")
    for n in range(10):
        typed = "Alice@Customer.example" if n % 2 else "alice@customer.example"
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, typed, "wrong password number x")
    with pytest.raises(AuthenticationFailed) as refused:
        portal.auth.authenticate(world.vendor, "alice@customer.example", GOOD)
    assert type(refused.value) is AuthenticationFailed
    _clock(portal).advance(seconds=901)
    login = portal.auth.authenticate(world.vendor, "ALICE@customer.example", GOOD)
    assert login.account.id == membership.account_id
    actions = [e.action for e in portal.audit.list(world.staff, limit=500)]
    assert actions.count("login_locked") == 1
    assert actions.count("login_success") == 1


def test_a_client_key_is_throttled_across_logins(portal: Portal) -> None:
    """A7: one client guessing at many logins is stopped too."""
    world = _world(portal, login_max_failures=3)
    membership = _login(world)
    for n in range(3):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, f"guess{n}", GOOD, client_key="203.0.113.9")
    username = _account(world, membership).username
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, username, GOOD, client_key="203.0.113.9")
    portal.auth.authenticate(world.vendor, username, GOOD, client_key="198.51.100.1")


# -- A8: sessions --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "trigger",
    [
        "password_change",
        "password_reset",
        "email_change",
        "account_off",
        "membership_off",
        "rights_reduced",
        "profile_reduced",
        "log_out_everywhere",
        "customer_off_and_on",
    ],
)
def test_a_session_ends_when_its_login_changes(portal: Portal, trigger: str) -> None:
    """A8: each trigger ends a session; an unrelated edit keeps it."""
    world = _world(portal)
    membership = _login(world)
    account = _account(world, membership)
    login: Login = portal.auth.authenticate(world.vendor, account.username, GOOD)
    assert portal.auth.validate_session(world.vendor, login.session) == login.actor
    portal.contacts.update(world.staff, membership.contact_id, job_title="Planner")
    portal.memberships.update(world.staff, membership, subscriptions={"invoices"})
    assert portal.auth.validate_session(world.vendor, login.session) == login.actor

    if trigger == "password_change":
        portal.credentials.change_password(login.actor, current=GOOD, new=OTHER)
    elif trigger == "password_reset":
        portal.credentials.request_reset(world.vendor, account.email)
        token = _link_token(portal, "/reset-password")
        portal.credentials.reset_password(world.vendor, token, OTHER)
    elif trigger == "email_change":
        portal.accounts.update(world.system, account.id, email="new@customer.example")
    elif trigger == "account_off":
        portal.accounts.deactivate(world.staff, account.id)
    elif trigger == "membership_off":
        portal.memberships.deactivate(world.staff, membership.id)
    elif trigger == "rights_reduced":
        portal.memberships.update(world.staff, membership.id, profile=world.profile())
    elif trigger == "profile_reduced":
        assert membership.profile_id is not None
        portal.profiles.update(world.staff, membership.profile_id, capabilities=set())
    elif trigger == "log_out_everywhere":
        portal.auth.end_sessions(login.actor, account.id)
    else:
        portal.customers.deactivate(world.staff, membership.customer_id)
        portal.customers.reactivate(world.staff, membership.customer_id)  # and back on
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, login.session)


def test_forged_sessions_are_refused(portal: Portal) -> None:
    """A8: a session value is checked whole, in constant time."""
    world = _world(portal)
    membership = _login(world)
    login = portal.auth.authenticate(world.vendor, _account(world, membership).username, GOOD)
    other = portal.auth.authenticate(world.vendor, _account(world, _login(world)).username, GOOD)
    record, secret = login.session.split(".")
    forged = [
        "",
        "nonsense",
        login.session + "x",
        login.session[:-1] + ("A" if login.session[-1] != "A" else "B"),
        f"{other.session.split('.')[0]}.{secret}",  # another session's record, my secret
        f"{membership.id}.{secret}",  # the membership's id, as values were before records
        f"{record}.",
        f"{record}.{secret}.",
        None,
    ]
    for value in forged:
        with pytest.raises(AuthenticationFailed):
            portal.auth.validate_session(world.vendor, value)  # type: ignore[arg-type]


# -- B: links ------------------------------------------------------------------------------
def test_an_invitation_sets_the_password_once_and_activates_the_login(portal: Portal) -> None:
    """B1/B3/B5: the raw token is only in the mail; it works once, for its own account."""
    world = _world(portal)
    mailer: Any = portal.mailer
    membership = _login(world, password=None, status="invited")
    stored = portal.credentials.invite(world.staff, membership)
    assert mailer.outbox[-1]["To"] == _account(world, membership).email
    raw = _link_token(portal, "/accept-invitation")
    assert raw not in stored_everything(portal) and raw not in repr(stored)
    assert len(raw) >= 43  # 256 bits, url-safe base64

    someone_else = world.member(_login(world))
    with pytest.raises(InvalidToken):
        portal.credentials.accept_invitation(world.vendor, raw, GOOD, actor=someone_else)
    account = portal.credentials.accept_invitation(world.vendor, raw, GOOD)
    assert portal.memberships.get(world.staff, membership.id).status.value == "active"
    portal.auth.authenticate(world.vendor, account.username, GOOD)
    with pytest.raises(InvalidToken):
        portal.credentials.accept_invitation(world.vendor, raw, OTHER)


def test_links_work_only_for_their_purpose_and_until_they_expire(portal: Portal) -> None:
    """B2: the purpose matrix and the 24-hour edge of a reset link."""
    world = _world(portal)
    membership = _login(world)
    portal.credentials.request_reset(world.vendor, _account(world, membership).email)
    reset = _link_token(portal, "/reset-password")
    assert not portal.credentials.link_works(world.vendor, TokenPurpose.INVITE, reset)
    with pytest.raises(InvalidToken):
        portal.credentials.accept_invitation(world.vendor, reset, OTHER)
    clock = _clock(portal)
    clock.advance(hours=24, seconds=-1)
    assert portal.credentials.link_works(world.vendor, TokenPurpose.RESET, reset)
    clock.advance(seconds=1)
    assert not portal.credentials.link_works(world.vendor, TokenPurpose.RESET, reset)
    with pytest.raises(InvalidToken):
        portal.credentials.reset_password(world.vendor, reset, OTHER)


@pytest.mark.parametrize(
    "trigger",
    [
        "newer_request",
        "password_change",
        "email_change",
        "account_off",
        "membership_off_and_on",
        "customer_off_and_on",
        "main_off_and_on",
        "used",
    ],
)
def test_a_reset_link_dies_when_the_account_changes(portal: Portal, trigger: str) -> None:
    """B4: a newer link, a password change, an e-mail change or a deactivation (of the
    login, its customer or its main account) revokes it: switching back on does not
    bring it back."""
    world = _world(portal)
    customer = world.customer()
    main = _login(world, customer=customer, kind="main")
    membership = _login(world, customer=customer, kind="extra")
    account = _account(world, membership)
    portal.credentials.request_reset(world.vendor, account.email)
    token = _link_token(portal, "/reset-password")
    if trigger == "newer_request":
        portal.credentials.request_reset(world.vendor, account.email)
        assert _link_token(portal, "/reset-password") != token
    elif trigger == "password_change":
        portal.credentials.change_password(world.member(membership), current=GOOD, new=OTHER)
    elif trigger == "email_change":
        portal.accounts.update(world.system, account.id, email="moved@customer.example")
    elif trigger == "account_off":
        portal.accounts.deactivate(world.staff, account.id)
    elif trigger == "membership_off_and_on":
        portal.memberships.deactivate(world.staff, membership.id)
        portal.memberships.activate(world.staff, membership.id)
    elif trigger == "customer_off_and_on":
        portal.customers.deactivate(world.staff, customer.id)
        portal.customers.reactivate(world.staff, customer.id)
    elif trigger == "main_off_and_on":
        portal.memberships.deactivate(world.staff, main.id)
        portal.memberships.activate(world.staff, main.id)
    else:
        portal.credentials.reset_password(world.vendor, token, OTHER)
    with pytest.raises(InvalidToken) as caught:
        portal.credentials.reset_password(world.vendor, token, "yet another passphrase")
    assert str(caught.value) == "this link is invalid or has expired; ask for a new one"


def test_a_reset_request_answers_the_same_for_everyone(portal: Portal) -> None:
    """B6/decision 4: known, unknown, disabled and password-less accounts get the same answer;
    mail goes only to the known, active one, at its stored address."""
    world = _world(portal)
    mailer: Any = portal.mailer
    known = _account(world, _login(world))
    disabled = _login(world)
    portal.accounts.deactivate(world.staff, disabled.account_id)
    no_password = _login(world, password=None)
    mailer.clear()
    answers = [
        portal.credentials.request_reset(world.vendor, login)
        for login in (
            known.email.upper(),
            "nobody@customer.example",
            _account(world, disabled).email,
            _account(world, no_password).username,
            ["victim@customer.example", "evil@attacker.example"],  # type: ignore[arg-type]
        )
    ]
    assert answers == [None] * 5
    portal.mail.wait()
    assert [m["To"] for m in mailer.outbox] == [known.email]
    # A broken mail server changes nothing either: the request only queues.
    mailer.fail_with = TemporaryMailError("server down")
    assert portal.credentials.request_reset(world.vendor, known.email) is None
    portal.mail.wait()
    (failed,) = portal.mail.list(world.staff, status="pending")
    assert failed.to == known.email and "server down" in failed.last_error


def test_a_completed_reset_has_every_side_effect(portal: Portal) -> None:
    """B8: no login, sessions end, the throttle and must-change are cleared, a notice without
    secrets is mailed, the audit log has it."""
    world = _world(portal, login_max_failures=5)
    mailer: Any = portal.mailer
    membership = _login(world)
    account = _account(world, membership)
    session = portal.auth.authenticate(world.vendor, account.username, GOOD).session
    portal.credentials.set_password(world.system, membership, "an admin set passphrase")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, account.username, "wrong one, sorry")
    portal.credentials.request_reset(world.vendor, account.email)
    token = _link_token(portal, "/reset-password")
    result = portal.credentials.reset_password(world.vendor, token, OTHER)
    assert not result.must_change_password and result.password_expires_at is None
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, session)
    notice = mailer.outbox[-1].get_body(("plain",)).get_content()
    assert "changed" in notice and token not in notice and OTHER not in notice
    for _ in range(4):  # the four earlier failures were forgotten
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, account.username, "wrong again, sorry")
    portal.auth.authenticate(world.vendor, account.username, OTHER)
    events = portal.audit.list(world.staff, limit=500)
    assert "password_reset" in [e.action for e in events]
    everything = repr(events) + stored_everything(portal)
    assert token not in everything and OTHER not in everything and GOOD not in everything


def test_login_counts_and_time_are_kept(portal: Portal) -> None:
    """Issue 5.3: last login time and login count per account."""
    world = _world(portal)
    membership = _login(world)
    username = _account(world, membership).username
    portal.auth.authenticate(world.vendor, username, GOOD)
    _clock(portal).advance(minutes=5)
    portal.auth.authenticate(world.vendor, username, GOOD)
    account = _account(world, membership)
    assert account.login_count == 2 and account.last_login_at == portal.clock.now()


# -- H1/H2: the audit log ------------------------------------------------------------------
def test_every_change_to_a_login_is_audited_once_without_secrets(portal: Portal) -> None:
    """H1/H2: each call leaves exactly one event naming actor, target and time; no event
    holds a password, a token or a hash."""
    world = _world(portal)
    profile = world.profile(capabilities={"orders.view", "invoices.view"})
    account = world.account(username="eva", email="eva@customer.example")
    customer = world.customer()
    seen = len(portal.audit.list(world.staff, limit=500))

    def new_actions() -> list[str]:
        nonlocal seen
        events = portal.audit.list(world.staff, limit=500)
        fresh = events[seen:]
        seen = len(events)
        for event in fresh:
            assert event.at == portal.clock.now() and event.real_actor and event.target
        return [e.action for e in fresh]

    membership = world.membership(customer=customer, account=account, profile=profile)
    assert new_actions() == ["membership_created"]
    portal.credentials.invite(world.staff, membership)
    assert new_actions() == ["invitation_issued"]
    token = _link_token(portal, "/accept-invitation")
    portal.credentials.accept_invitation(world.vendor, token, GOOD)
    assert new_actions() == ["invitation_accepted"]
    portal.auth.authenticate(world.vendor, "eva", GOOD)
    assert new_actions() == ["login_success"]
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, "eva", OTHER)
    assert new_actions() == ["login_failure"]
    portal.memberships.update(world.staff, membership.id, location_grants={})
    assert new_actions() == []  # nothing changed, nothing to record
    portal.memberships.update(world.staff, membership.id, profile=world.profile())
    assert new_actions() == ["profile_created", "membership_updated"]
    portal.profiles.update(world.staff, profile.id, capabilities={"orders.view"})
    assert new_actions() == ["profile_rights_changed"]
    portal.memberships.deactivate(world.staff, membership.id)
    portal.memberships.activate(world.staff, membership.id)
    assert new_actions() == ["membership_deactivated", "membership_activated"]
    portal.accounts.update(world.system, account.id, email="eva.new@customer.example")
    assert new_actions() == ["account_updated"]
    portal.credentials.set_password(world.system, membership.id, OTHER)
    assert new_actions() == ["password_set"]
    portal.accounts.deactivate(world.staff, account.id)
    assert new_actions() == ["account_deactivated"]
    everything = repr(portal.audit.list(world.staff, limit=500))
    stored = _account(world, membership).password_hash
    for secret in (GOOD, OTHER, token, stored):
        assert secret not in everything


def test_guessing_the_current_password_counts_like_failed_logins(portal: Portal) -> None:
    """A7: a stolen session cannot brute-force the password through change_password."""
    world = _world(portal, login_max_failures=3)
    membership = _login(world)
    member = world.member(membership)
    for _ in range(3):
        with pytest.raises(ValidationError):
            portal.credentials.change_password(member, current="a wrong guess here", new=OTHER)
    with pytest.raises(ValidationError):  # locked now: the right one is refused too
        portal.credentials.change_password(member, current=GOOD, new=OTHER)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, _account(world, membership).username, GOOD)
    _clock(portal).advance(seconds=901)
    portal.credentials.change_password(member, current=GOOD, new=OTHER)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    password=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=14, max_size=40
    ).filter(lambda s: len(s.strip()) >= 14)
)
def test_no_password_is_kept_anywhere_in_clear(password: str) -> None:
    """A1/H2: whatever the password, it is in no stored column, no repr and no log line."""
    import logging

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep(logging.DEBUG)
    logging.getLogger("portalkit").addHandler(handler)
    try:
        portal = Portal(MemoryStorage(), MemoryMailer(), clock=FixedClock())
        world = _world(portal)
        membership = _login(world, password=None)
        try:
            portal.credentials.set_password(world.system, membership, password, must_change=False)
        except PasswordRejected as exc:
            assert password not in str(exc) and password not in repr(exc)
            return
        account = _account(world, membership)
        login = portal.auth.authenticate(world.vendor, account.username, password)
        with pytest.raises(AuthenticationFailed) as failed:
            portal.auth.authenticate(world.vendor, account.username, password + "x")
        seen = (
            stored_everything(portal)
            + repr(login)
            + repr(account)
            + str(failed.value)
            + repr(portal.audit.list(world.staff, limit=500))
            + "\n".join(records)
        )
        assert password not in seen
    finally:
        logging.getLogger("portalkit").removeHandler(handler)


def test_look_alike_addresses_do_not_reach_each_other(portal: Portal) -> None:
    """B5: 'mıke' (dotless i) is not 'mike': no login and no reset mail crosses over."""
    world = _world(portal)
    mailer: Any = portal.mailer
    membership = _login(world, email="mike@customer.example")
    mailer.clear()
    portal.credentials.request_reset(world.vendor, "mıke@customer.example")
    portal.mail.wait()
    assert mailer.outbox == []
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, "mıke@customer.example", GOOD)
    assert portal.auth.authenticate(world.vendor, "MIKE@customer.example", GOOD).account.id == (
        membership.account_id
    )


def test_the_audit_log_has_no_way_to_change_an_event() -> None:
    """H3: append-only through the API: the audit service lists and appends, nothing else."""
    from portalkit.audit import AuditService

    public = {name for name in dir(AuditService) if not name.startswith("_")}
    # correlate only tags events still to come; record appends a new one of the host's own.
    assert public == {"list", "correlate", "record"}


def test_a_refused_call_is_audited_even_when_the_change_rolls_back(portal: Portal) -> None:
    """H1: authorization failures are recorded; the refused change is not."""
    from portalkit import PermissionDenied

    world = _world(portal)
    admin = world.member(world.membership(profile=world.profile(capabilities={"orders.view"})))

    class Abort(Exception):
        pass

    with pytest.raises(Abort), portal.transaction():
        world.customer(name="Made in the rolled back transaction")
        with pytest.raises(PermissionDenied):
            portal.customers.create(admin, code="X1", name="Not for members")
        raise Abort
    names = [c.name for c in portal.customers.list(world.staff)]
    assert "Made in the rolled back transaction" not in names
    (refused,) = portal.audit.list(world.staff, action="authz_fail")
    assert refused.real_actor == f"member:{admin.membership_id}"
    assert refused.target == "CustomerService.create" and refused.outcome == "failure"
    assert "staff" in refused.reason


def test_login_refuses_to_join_a_callers_transaction(portal: Portal) -> None:
    """A7: a caller's rollback must not erase failed attempts."""
    world = _world(portal)
    with pytest.raises(Exception, match="transaction of its own"), portal.transaction():
        portal.auth.authenticate(world.vendor, "someone", "whatever it is")


def test_two_logins_of_one_account_at_once_both_succeed(portal: Portal, backend: str) -> None:
    """Two tabs logging in together: neither is refused because the other changed the
    account (last login, count) while it was verifying."""
    import threading

    world = _world(portal)
    membership = _login(world)
    username = _account(world, membership).username
    results: list[object] = []

    def login() -> None:
        try:
            results.append(portal.auth.authenticate(world.vendor, username, GOOD))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=login) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [type(r).__name__ for r in results] == ["Login", "Login"]
    assert _account(world, membership).login_count == 2


class _ZoneClock:
    """A host's clock that answers in some other time zone (still tz-aware)."""

    def __init__(self, start: Any, zone: Any) -> None:
        self.utc = FixedClock(start)
        self.zone = zone

    def now(self) -> Any:
        return self.utc.now().astimezone(self.zone)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.just(UTC),
    ),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    hours=st.integers(min_value=1, max_value=72),
)
def test_no_issue_time_or_time_zone_extends_a_links_life(
    start: Any, offset_minutes: int, hours: int
) -> None:
    """B2: valid while now < issued + lifetime, whatever the clock's zone."""
    clock = _ZoneClock(start, timezone(timedelta(minutes=offset_minutes)))
    portal = Portal(MemoryStorage(), MemoryMailer(), clock=clock)
    world = _world(portal, reset_hours=hours)
    membership = _login(world)
    portal.credentials.request_reset(world.vendor, _account(world, membership).email)
    token = _link_token(portal, "/reset-password")
    clock.utc.advance(hours=hours, seconds=-1)
    assert portal.credentials.link_works(world.vendor, "reset", token)
    clock.utc.advance(seconds=1)
    assert not portal.credentials.link_works(world.vendor, "reset", token)


def test_invitations_stop_with_their_customer_and_resends_are_limited(portal: Portal) -> None:
    """B4/A7: an invitation to a switched-off customer does not work; resending is capped."""
    from portalkit import RateLimited

    world = _world(portal, request_max_per_hour=2)
    customer = world.customer()
    invited = _login(world, customer=customer, password=None, status="invited")
    portal.credentials.invite(world.staff, invited)
    token = _link_token(portal, "/accept-invitation")
    portal.customers.deactivate(world.staff, customer.id)
    with pytest.raises(InvalidToken):
        portal.credentials.accept_invitation(world.vendor, token, GOOD)
    portal.customers.reactivate(world.staff, customer.id)
    with pytest.raises(InvalidToken):  # revoked, not merely paused
        portal.credentials.accept_invitation(world.vendor, token, GOOD)
    portal.credentials.invite(world.staff, invited.id)
    with pytest.raises(RateLimited):
        portal.credentials.invite(world.staff, invited.id)
    fresh = _link_token(portal, "/accept-invitation")
    portal.credentials.accept_invitation(world.vendor, fresh, GOOD)


def test_reset_mail_greets_the_person_with_the_customers_logo(portal: Portal) -> None:
    world = _world(portal)
    mailer: Any = portal.mailer
    customer = world.customer(name="Acme Pest B.V.")
    portal.customers.update(
        world.staff, customer.id, branding={"email_logo_url": "https://cdn.acme.example/l.png"}
    )
    membership = _login(world, customer=customer)
    contact = portal.contacts.get(world.staff, membership.contact_id)
    portal.credentials.request_reset(world.vendor, _account(world, membership).email)
    portal.mail.wait()
    mail = mailer.outbox[-1]
    assert contact.full_name in mail.get_body(("plain",)).get_content()
    assert "https://cdn.acme.example/l.png" in mail.get_body(("html",)).get_content()


def test_a_tampered_link_is_refused_and_leaves_the_real_one_working(portal: Portal) -> None:
    """B1/B3: a link with one character changed, cut short or padded does not work."""
    world = _world(portal)
    membership = _login(world)
    portal.credentials.request_reset(world.vendor, _account(world, membership).email)
    token = _link_token(portal, "/reset-password")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for tampered in (flipped, token[:-1], token + "A", token.upper(), "", " " + token, "x" * 500):
        with pytest.raises(InvalidToken):
            portal.credentials.reset_password(world.vendor, tampered, OTHER)
    portal.credentials.reset_password(world.vendor, token, OTHER)


def test_an_imported_werkzeug_hash_logs_in_and_is_upgraded(portal: Portal) -> None:
    """Issue 5.1: Flask apps' users move over without a reset (scrypt and pbkdf2)."""
    import hashlib

    world = _world(portal)
    for encoded in (
        "scrypt:16384:8:1$pepper$"
        + hashlib.scrypt(GOOD.encode(), salt=b"pepper", n=16384, r=8, p=1, dklen=64).hex(),
        "pbkdf2:sha256:1000$pepper$"
        + hashlib.pbkdf2_hmac("sha256", GOOD.encode(), b"pepper", 1000).hex(),
    ):
        membership = _login(world, password=None)
        account = _store_hash(portal, membership, encoded)
        login = portal.auth.authenticate(world.vendor, account.username, GOOD)
        assert login.account.password_hash.startswith("$argon2id$")
        assert _account(world, membership).password_hash.startswith("$argon2id$")


def test_a_megabyte_password_is_refused_before_any_expensive_work(portal: Portal) -> None:
    """G3: the length is checked first; the hasher never sees it; login fails the same way."""
    world = _world(portal)
    spy = CountingHasher(portal.hasher)
    portal.hasher = spy  # type: ignore[assignment]
    membership = _login(world)
    huge = "ﷺ" * 1_000_000  # NFKC makes 18 characters of each: it must not get that far
    spy.verifications = 0
    with pytest.raises(PasswordRejected) as caught:
        portal.credentials.set_password(world.system, membership.id, huge)
    assert caught.value.codes == ["too_long"]
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, _account(world, membership).username, huge)
    assert spy.verifications == 1  # the login's one (cheap: too long to hash) check


# -- found in review: delegation, view-as sessions ------------------------------------------
def test_a_customer_admin_cannot_take_over_an_account_that_logs_in_elsewhere(
    portal: Portal,
) -> None:
    """D1: a password belongs to the account; an admin of customer A may not set one for an
    account that is also a main account or admin in B, nor attach such an account to A."""
    from portalkit import NotFound, PermissionDenied

    world = _world(portal)
    admin_profile = world.profile(capabilities={"members.manage", "orders.view"})
    plain = world.profile(capabilities={"orders.view"})
    a, b = world.customer(), world.customer()
    admin = world.member(_login(world, customer=a, profile=admin_profile))
    victim = world.account(username="victim", email="victim@b.example")
    in_b = world.membership(customer=b, account=victim, profile=admin_profile, kind="main")
    in_a = world.membership(customer=a, account=victim, profile=plain)  # staff did this
    with pytest.raises(PermissionDenied):
        portal.credentials.set_password(admin, in_a, "the attackers new password")
    with pytest.raises(PermissionDenied):
        portal.credentials.invite(admin, in_a)
    other = world.account(username="b-user", email="b-user@b.example")
    world.membership(customer=b, account=other, profile=plain)
    contact = world.contact(a)
    extra = world.profile(capabilities={"orders.view"})
    world.membership(customer=a, kind="main")
    with pytest.raises((PermissionDenied, NotFound)):
        portal.memberships.create(
            admin, account=other, customer=a, contact=contact, profile=extra, status="active"
        )
    # Invited, the account only gets an invitation to join, which its owner accepts or not;
    # its password stays out of the admin's hands.
    asked = portal.memberships.create(
        admin, account=other, customer=a, contact=contact, profile=extra
    )
    with pytest.raises(PermissionDenied):
        portal.credentials.set_password(admin, asked, "the attackers new password")
    assert _account(world, in_b).password_hash is None  # nobody set the victim's password
    assert _account(world, asked).password_hash is None
    states = [m.status.value for m in portal.memberships.list(world.staff, customer=a)]
    assert sorted(states) == ["active", "active", "active", "invited"]  # admin, staff's two


def test_a_view_as_session_gets_no_session_value_and_cannot_log_the_member_out(
    portal: Portal,
) -> None:
    """D3/A8: a view-as-customer actor cannot be turned into the member's lasting login."""
    from portalkit import PermissionDenied, Staff

    world = _world(portal)
    membership = _login(world)
    helpdesk = Staff(vendor_id=world.vendor.id, user_id="h", permissions=frozenset({"impersonate"}))
    viewer = portal.access.view_as(helpdesk, membership, reason="ticket 1")
    with pytest.raises(PermissionDenied):
        portal.auth.session(viewer)
    with pytest.raises(PermissionDenied):
        portal.auth.end_sessions(viewer, membership.account_id)
    refused = portal.audit.list(world.staff, action="authz_fail")
    assert [e.target for e in refused] == ["AuthService.session", "AuthService.end_sessions"]


def test_an_invitation_does_not_work_while_the_main_account_is_off(portal: Portal) -> None:
    """A9/B4: an extra login's invitation follows its main account, evaluated live."""
    world = _world(portal)
    customer = world.customer()
    main = _login(world, customer=customer, kind="main")
    extra = _login(world, customer=customer, kind="extra", password=None, status="invited")
    portal.credentials.invite(world.staff, extra)
    token = _link_token(portal, "/accept-invitation")
    portal.accounts.deactivate(world.staff, main.account_id)
    with pytest.raises(InvalidToken):
        portal.credentials.accept_invitation(world.vendor, token, GOOD)


def test_a_refusal_by_an_access_context_in_host_code_is_audited(portal: Portal) -> None:
    """H1: ctx.require() in the host's own code records its refusals too."""
    from portalkit import PermissionDenied

    world = _world(portal)
    member = world.member(world.membership(profile=world.profile(capabilities={"orders.view"})))
    context = portal.access.context(member)
    context.require("orders.view")
    with pytest.raises(PermissionDenied):
        context.require("invoices.view")
    (refused,) = portal.audit.list(world.staff, action="authz_fail")
    assert refused.target == "require:invoices.view"
    assert refused.real_actor == f"member:{member.membership_id}"


_HOSTILE = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.binary(max_size=50),
    st.lists(st.text(max_size=20), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(login=_HOSTILE, password=_HOSTILE, token=_HOSTILE, client_key=_HOSTILE)
def test_hostile_input_to_the_login_flows_gets_only_their_documented_answers(
    login: Any, password: Any, token: Any, client_key: Any
) -> None:
    """G1: whatever arrives from a form, the flows answer with their own errors only."""
    portal = Portal(MemoryStorage(), MemoryMailer(), clock=FixedClock())
    world = _world(portal)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, login, password, client_key=client_key)
    assert portal.credentials.request_reset(world.vendor, login, client_key=client_key) is None
    portal.mail.wait()
    with pytest.raises((InvalidToken, PasswordRejected, ValidationError)):
        portal.credentials.reset_password(world.vendor, token, password)
    with pytest.raises((InvalidToken, PasswordRejected, ValidationError)):
        portal.credentials.accept_invitation(world.vendor, token, password)
    assert portal.credentials.link_works(world.vendor, "reset", token) is False
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, token)
    with contextlib.suppress(ValidationError):  # bad input may be refused, nothing else
        portal.registrations.request(
            world.vendor, email=login, first_name=password, last_name="X", company=token
        )
    portal.mail.wait()


def test_passwords_are_hashed_with_no_transaction_open(portal: Portal) -> None:
    """SQLite has one writer: tens of milliseconds of Argon2 must not hold its lock, on any
    path that sets a password (admin, reset, invitation, change) or checks one (login)."""
    world = _world(portal)
    open_while: list[bool] = []
    real = portal.hasher

    class Watching(CountingHasher):
        def hash(self, password: str) -> str:
            open_while.append(portal._current.get() is not None)
            return real.hash(password)

        def verify(self, password: str, encoded: str | None) -> bool:
            open_while.append(portal._current.get() is not None)
            return real.verify(password, encoded)

    membership = _login(world, password=None, status="invited")
    portal.hasher = Watching(real)  # type: ignore[assignment]
    portal.credentials.invite(world.staff, membership)
    portal.credentials.accept_invitation(
        world.vendor, _link_token(portal, "/accept-invitation"), GOOD
    )
    username = _account(world, membership).username
    login = portal.auth.authenticate(world.vendor, username, GOOD)
    portal.credentials.change_password(login.actor, current=GOOD, new=OTHER)
    portal.credentials.request_reset(world.vendor, username)
    portal.credentials.reset_password(world.vendor, _link_token(portal, "/reset-password"), GOOD)
    portal.credentials.set_password(world.system, membership.id, "an admin chose this one")
    assert len(open_while) >= 6 and not any(open_while)


def test_looking_at_dead_links_counts_per_client_like_redeeming_them(portal: Portal) -> None:
    """Red team, second pass: ``link_works`` (the page that shows the form) records every
    dead link (``token_rejected``) and counts it per client key; at the limit that client's
    links all look dead — its own, never another client's."""
    world = _world(portal, login_max_failures=3)
    membership = _login(world)
    portal.credentials.request_reset(world.vendor, _account(world, membership).email)
    token = _link_token(portal, "/reset-password")
    credentials = portal.credentials
    assert credentials.link_works(world.vendor, "reset", token, client_key="203.0.113.9")
    for n in range(3):
        assert not credentials.link_works(
            world.vendor, "reset", f"guess{n}", client_key="203.0.113.9"
        )
    rejected = [
        e for e in portal.audit.list(world.staff, limit=100) if e.action == "token_rejected"
    ]
    assert len(rejected) == 3
    assert not credentials.link_works(world.vendor, "reset", token, client_key="203.0.113.9")
    assert credentials.link_works(world.vendor, "reset", token, client_key="198.51.100.7")
    portal.credentials.reset_password(world.vendor, token, OTHER, client_key="198.51.100.7")
