"""Protections that once could be removed without any test failing (issue 9, item 11).

Each test here was checked by removing its protection from ``src/`` and seeing the test fail
(the report of issue 9 lists each removal and the failure it gave). The requirement each one
proves is named in its docstring (``../shared/security.md``).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

import pytest

from portalkit import (
    AuthenticationFailed,
    InvalidToken,
    PasswordRejected,
    PermissionDenied,
    Portal,
)
from portalkit.passwords import PasswordHasher, PasswordPolicy
from portalkit.testing import World
from portalkit.tokens import TokenPurpose, token_digest
from portals import account_of as _account
from portals import login_with_password as _login
from portals import mail_world as _world

GOOD = "correct horse battery staple"
OTHER = "tangerine submarine orchestra"
MEGABYTE = 1_000_000


def _tokens(portal: Portal, path: str) -> list[str]:
    """The raw tokens of every link mailed so far (background mail included), in order."""
    portal.mail.wait()
    mailer: Any = portal.mailer
    found = []
    for message in mailer.outbox:
        body = message.get_body(("plain",)).get_content()
        found += re.findall(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", body)
    return found


def _events(world: World, action: str) -> list[Any]:
    return world.portal.audit.list(world.staff, action=action, limit=500)


# -- A7: the throttle key is NFKC ----------------------------------------------------------
def test_failures_typed_in_full_width_count_on_the_same_counter(portal: Portal) -> None:
    """A7: ``ｋｉｍ`` (full-width) and ``kim`` are one login for the throttle, so typing a
    compatibility variant does not buy an attacker a fresh counter."""
    world = _world(portal, login_max_failures=3)
    account = _account(world, _login(world, username="kim.jansen"))
    for typed in ("ｋｉｍ．ｊａｎｓｅｎ", "KIM.JANSEN", "ｋｉｍ．ｊａｎｓｅｎ"):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, typed, "wrong, wrong, wrong")
    with pytest.raises(AuthenticationFailed):  # locked: the right password is refused too
        portal.auth.authenticate(world.vendor, account.username, GOOD)
    assert [e.target for e in _events(world, "login_locked")] == [f"account:{account.id}"]


def test_an_unknown_login_typed_with_ligatures_counts_on_one_counter(portal: Portal) -> None:
    """A7: for a login nobody has, NFKC variants (a ligature, full-width letters) still share
    one counter: the fourth attempt of a limit of three locks it, exactly once."""
    world = _world(portal, login_max_failures=3)
    for typed in ("ghost.ﬁsh", "ｇｈｏｓｔ.fish", "ghost.ﬁsh", "GHOST.FISH"):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, typed, "anything at all, really")
    assert [e.target for e in _events(world, "login_locked")] == ["login:unknown"]


# -- A7/B6: reset requests are limited per login -------------------------------------------
def test_reset_requests_beyond_the_hourly_limit_send_no_mail(portal: Portal) -> None:
    """A7/B6: at most ``request_max_per_hour`` reset mails per login an hour, however the
    login is typed (username, e-mail, any case); the limit lifts after the hour."""
    world = _world(portal, request_max_per_hour=2)
    account = _account(world, _login(world))
    for typed in (account.email, account.username, account.email.upper(), account.username):
        portal.credentials.request_reset(world.vendor, typed)
    assert len(_tokens(portal, "/reset-password")) == 2
    refused = _events(world, "reset_refused")
    assert [e.reason for e in refused] == ["throttled", "throttled"]
    world_clock: Any = portal.clock
    world_clock.advance(hours=1, seconds=1)
    portal.credentials.request_reset(world.vendor, account.email)
    assert len(_tokens(portal, "/reset-password")) == 3


# -- B1: tokens come from secrets ----------------------------------------------------------
@pytest.fixture
def token_source(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int | None, str]]:
    """Every ``secrets.token_urlsafe`` call while the test runs: its size and its result."""
    calls: list[tuple[int | None, str]] = []
    real = secrets.token_urlsafe

    def spy(nbytes: int | None = None) -> str:
        made = real(nbytes)
        calls.append((nbytes, made))
        return made

    monkeypatch.setattr(secrets, "token_urlsafe", spy)
    return calls


@pytest.mark.parametrize("flow", ["invite", "reset"])
def test_every_link_token_is_32_bytes_from_secrets(
    portal: Portal, token_source: list[tuple[int | None, str]], flow: str
) -> None:
    """B1: the raw token in the mail is one that ``secrets.token_urlsafe(32)`` (256 bits) made.

    (The `random` module cannot be forbidden here as for generated passwords: the standard
    library's ``email.utils.make_msgid`` uses it for Message-IDs.)"""
    world = _world(portal)
    if flow == "invite":
        membership = _login(world, password=None, status="invited")
        portal.credentials.invite(world.staff, membership)
        (raw,) = _tokens(portal, "/accept-invitation")
    else:
        membership = _login(world)
        portal.credentials.request_reset(world.vendor, _account(world, membership).email)
        (raw,) = _tokens(portal, "/reset-password")
    assert (32, raw) in token_source


# -- B5: a re-invitation revokes the old link ----------------------------------------------
def test_a_second_invitation_revokes_the_first_link(portal: Portal) -> None:
    """B5: re-inviting makes a fresh token and the first link stops working for good."""
    world = _world(portal)
    membership = _login(world, password=None, status="invited")
    portal.credentials.invite(world.staff, membership)
    portal.credentials.invite(world.staff, membership)
    first, second = _tokens(portal, "/accept-invitation")
    assert first != second
    assert not portal.credentials.link_works(world.vendor, TokenPurpose.INVITE, first)
    with pytest.raises(InvalidToken):
        portal.credentials.accept_invitation(world.vendor, first, GOOD)
    portal.credentials.accept_invitation(world.vendor, second, GOOD)
    portal.auth.authenticate(world.vendor, _account(world, membership).username, GOOD)


# -- B5/D1: an invitation never carries more than its inviter holds ------------------------
def test_a_delegated_admin_cannot_invite_a_login_richer_than_itself(portal: Portal) -> None:
    """B5/D1: a customer admin holding ``orders.view`` cannot send (or resend) the invitation
    of a login that also sees invoices; no link is made, the staff's link keeps working."""
    world = _world(portal)
    customer = world.customer()
    world.membership(customer=customer, kind="main")
    admin_profile = world.profile(capabilities={"members.manage", "orders.view"})
    admin = world.member(world.membership(customer=customer, profile=admin_profile, kind="extra"))
    rich = world.profile(capabilities={"orders.view", "invoices.view"})
    invited = _login(world, password=None, status="invited", customer=customer, kind="extra")
    portal.memberships.update(world.staff, invited, profile=rich)
    portal.credentials.invite(world.staff, invited.id)
    (staff_link,) = _tokens(portal, "/accept-invitation")
    with pytest.raises(PermissionDenied, match=r"invoices\.view"):
        portal.credentials.invite(admin, invited.id)
    assert _tokens(portal, "/accept-invitation") == [staff_link]
    assert portal.credentials.link_works(world.vendor, TokenPurpose.INVITE, staff_link)
    # A login within its rights it may invite: the refusal is about the profile.
    modest = _login(world, password=None, status="invited", customer=customer, kind="extra")
    portal.credentials.invite(admin, modest.id)
    assert len(_tokens(portal, "/accept-invitation")) == 2


# -- H2: the audit log names a token by a short prefix of its hash only --------------------
def test_the_audit_log_holds_only_a_short_prefix_of_a_tokens_hash(portal: Portal) -> None:
    """H2: issue, use and refusal events name the token by a prefix of at most 16 hex digits
    of its SHA-256; neither the raw token nor the full hash is anywhere in the audit log."""
    world = _world(portal)
    membership = _login(world, password=None, status="invited")
    portal.credentials.invite(world.staff, membership)
    (invite,) = _tokens(portal, "/accept-invitation")
    portal.credentials.accept_invitation(world.vendor, invite, GOOD)
    portal.credentials.request_reset(world.vendor, _account(world, membership).email)
    (reset,) = _tokens(portal, "/reset-password")
    portal.credentials.reset_password(world.vendor, reset, OTHER)
    events = portal.audit.list(world.staff, limit=500)
    referenced = [e for e in events if "token" in e.details]
    assert {e.action for e in referenced} >= {
        "invitation_issued",
        "invitation_accepted",
        "reset_issued",
        "password_reset",
    }
    everything = repr(events)
    for raw in (invite, reset):
        digest = token_digest(raw)
        assert raw not in everything and digest not in everything
        assert digest[:8] in everything  # named, by its prefix
    for event in referenced:
        reference = event.details["token"]
        assert 8 <= len(reference) <= 16
        assert token_digest(invite).startswith(reference) or token_digest(reset).startswith(
            reference
        )


# -- G3: huge passwords are cut before NFKC, validators and hashing ------------------------
@pytest.fixture
def nfkc_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every string NFKC-normalised while the test runs."""
    sizes: list[int] = []
    real = unicodedata.normalize

    def spy(form: str, text: str) -> str:
        sizes.append(len(text))
        return real(form, text)

    monkeypatch.setattr(unicodedata, "normalize", spy)
    return sizes


def test_the_policy_refuses_a_megabyte_before_normalising_or_validating(
    nfkc_sizes: list[int],
) -> None:
    """G3 (the policy's cut): a 1 MB password is ``too_long`` and nothing else — no other rule
    was evaluated on it — and it never reached NFKC."""
    policy = PasswordPolicy.strict()  # all-lowercase input would break four more rules
    huge = "a" * MEGABYTE
    assert policy.violations(huge, context=["acme", "kim@customer.example"]) == ["too_long"]
    with pytest.raises(PasswordRejected) as caught:
        policy.check(huge)
    assert caught.value.codes == ["too_long"]
    assert all(size <= 4 * policy.max_length + 1 for size in nfkc_sizes), max(nfkc_sizes)
    # Just over the limit is still judged in full: the cut is only for what cannot fit.
    assert policy.violations("a" * (policy.max_length + 1)) == [
        "too_long",
        "no_upper",
        "no_digit",
        "no_symbol",
    ]


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2id derivation or verification portalkit.passwords starts."""
    from portalkit import passwords

    calls: list[str] = []
    real = passwords.Argon2id

    class Spy:
        def __init__(self, **kwargs: Any) -> None:
            calls.append("construct")
            self._kdf = real(**kwargs)

        def derive_phc_encoded(self, key_material: bytes) -> str:
            return self._kdf.derive_phc_encoded(key_material)

        @staticmethod
        def verify_phc_encoded(key_material: bytes, phc_encoded: str) -> None:
            calls.append("verify")
            real.verify_phc_encoded(key_material, phc_encoded)

    monkeypatch.setattr(passwords, "Argon2id", Spy)
    return calls


def test_the_hasher_cuts_a_megabyte_before_normalising_or_hashing(
    nfkc_sizes: list[int], argon2_calls: list[str]
) -> None:
    """G3 (the hasher's own cut): hash, verify and dummy_verify of a 1 MB password normalise
    at most 4 × max_length + 1 characters of it and start no Argon2id work."""
    hasher = PasswordHasher()
    stored = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43
    for huge in ("a" * MEGABYTE, "ﷺ" * MEGABYTE):
        with pytest.raises(PasswordRejected) as caught:
            hasher.hash(huge)
        assert caught.value.codes == ["too_long"]
        assert hasher.verify(huge, stored) is False
        hasher.dummy_verify(huge)
    assert nfkc_sizes and max(nfkc_sizes) <= 4 * hasher.max_length + 1
    assert argon2_calls == []


def test_a_megabyte_password_at_login_is_never_normalised_whole(
    portal: Portal, nfkc_sizes: list[int]
) -> None:
    """G3 through the portal: a 1 MB password at login and at set_password fails the usual
    way, and no part of the portal NFKC-normalises more than the cut leaves of it."""
    world = _world(portal)
    membership = _login(world)
    limit = 4 * portal.settings.password_max_length + 1
    nfkc_sizes.clear()
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, _account(world, membership).username, "ﷺ" * MEGABYTE)
    with pytest.raises(PasswordRejected):
        portal.credentials.set_password(world.system, membership.id, "ﷺ" * MEGABYTE)
    assert nfkc_sizes and max(nfkc_sizes) <= limit


# -- A6/A7: a locked login learns nothing about the password -------------------------------
class RecordingHasher:
    """The real hasher, remembering every password it was asked to check."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.checked: list[str] = []

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, password: str, encoded: str | None) -> bool:
        self.checked.append(password)
        return self.real.verify(password, encoded)

    def dummy_verify(self, password: str) -> None:
        self.checked.append(password)
        self.real.dummy_verify(password)

    def needs_rehash(self, encoded: str | None) -> bool:
        return self.real.needs_rehash(encoded)

    def is_usable(self, encoded: str | None) -> bool:
        return self.real.is_usable(encoded)


def test_while_locked_the_typed_password_is_never_checked(portal: Portal) -> None:
    """A6/A7: once the limit is reached, attempts still cost one verification each, but of
    nothing the attacker typed: a locked login cannot be used to test guesses."""
    world = _world(portal, login_max_failures=3)
    spy = RecordingHasher(portal.hasher)
    portal.hasher = spy  # type: ignore[assignment]
    username = _account(world, _login(world)).username
    for guess in ("guess one, wrong", "guess two, wrong", "guess three, wrong"):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, username, guess)
    spy.checked.clear()
    for guess in ("guess four, wrong", GOOD):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, username, guess)
    assert len(spy.checked) == 2  # the same work as any attempt
    assert "guess four, wrong" not in spy.checked and GOOD not in spy.checked


# -- H2/A7: what is typed into the login field is stored nowhere ---------------------------
def test_a_password_typed_as_login_name_is_stored_nowhere(portal: Portal) -> None:
    """H2/A7: people type passwords into the login field; the throttle keeps only an HMAC of
    what was typed and the audit log says ``login:unknown``."""
    from secretscan import stored_everything

    world = _world(portal)
    typed = "Hunter2-Is-My-Password"
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, typed, "whatever", client_key="198.51.100.7")
    portal.credentials.request_reset(world.vendor, typed)
    portal.mail.wait()
    everything = stored_everything(portal) + repr(portal.audit.list(world.staff, limit=500))
    for form in (typed, typed.casefold()):
        assert form not in everything
    assert "198.51.100.7" not in everything
    assert [e.target for e in _events(world, "login_failure")] == ["login:unknown"]


# -- A7: a success gives the attempt back --------------------------------------------------
def test_a_successful_login_clears_the_failures_before_it(portal: Portal) -> None:
    """A7: the member who mistypes twice and then logs in starts from zero again; only
    failures in a row lock a login."""
    world = _world(portal, login_max_failures=3)
    username = _account(world, _login(world)).username
    for _ in range(3):
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                portal.auth.authenticate(world.vendor, username, "a typo, again")
        portal.auth.authenticate(world.vendor, username, GOOD)
    assert _events(world, "login_locked") == []


# -- B4/B5: a link is bound to the address it was sent to ----------------------------------
def test_a_link_dies_when_the_address_changes_even_behind_the_services_back(
    portal: Portal,
) -> None:
    """B4/B5: a host script that moves an account's address straight in storage (as an
    import would) does not leave the old address a working link: the link is bound to the
    address it was mailed to, not only revoked by the service that changes it."""
    import attrs

    world = _world(portal)
    membership = _login(world)
    portal.credentials.request_reset(world.vendor, _account(world, membership).email)
    (token,) = _tokens(portal, "/reset-password")
    with portal.transaction() as uow:
        account = uow.accounts.get(membership.vendor_id, membership.account_id)
        assert account is not None
        moved = attrs.evolve(account, email="moved@customer.example", version=account.version + 1)
        uow.accounts.update(moved, account.version)
    with pytest.raises(InvalidToken):
        portal.credentials.reset_password(world.vendor, token, OTHER)


# -- B4: switching an account off and on brings back no link -------------------------------
@pytest.mark.parametrize("flow", ["invite", "reset"])
def test_an_account_switched_off_and_on_again_has_no_working_link(
    portal: Portal, flow: str
) -> None:
    """B4: deactivating an account revokes its links for good; reactivating it does not bring
    them back (a link sent before a suspension must not work after it)."""
    world = _world(portal)
    if flow == "invite":
        membership = _login(world, password=None, status="invited")
        portal.credentials.invite(world.staff, membership)
        (token,) = _tokens(portal, "/accept-invitation")
    else:
        membership = _login(world)
        portal.credentials.request_reset(world.vendor, _account(world, membership).email)
        (token,) = _tokens(portal, "/reset-password")
    portal.accounts.deactivate(world.staff, membership.account_id)
    portal.accounts.reactivate(world.staff, membership.account_id)
    purpose = TokenPurpose.INVITE if flow == "invite" else TokenPurpose.RESET
    assert not portal.credentials.link_works(world.vendor, purpose, token)
    with pytest.raises(InvalidToken):
        if flow == "invite":
            portal.credentials.accept_invitation(world.vendor, token, GOOD)
        else:
            portal.credentials.reset_password(world.vendor, token, OTHER)


# -- F4: a secret mail's body is gone once it is delivered or given up ---------------------
def test_a_secret_mail_keeps_no_body_once_sent_or_dead(portal: Portal) -> None:
    """F4: the stored body of a mail carrying a password or a link is purged after delivery
    and when delivery is given up (even encrypted, it must not wait for a stolen key); a
    purged dead message cannot be retried."""
    from portalkit import ValidationError
    from portalkit.mail import PermanentMailError

    world = _world(portal)
    mailer: Any = portal.mailer
    sent = _login(world, password=None, status="invited")
    portal.credentials.set_password(world.system, sent, send=True)
    portal.mail.wait()
    (delivered,) = portal.mail.list(world.staff, status="sent")
    assert delivered.secret and delivered.text == "" and delivered.html == ""
    mailer.fail_with = PermanentMailError("550 no such user")
    dead = _login(world, password=None, status="invited")
    portal.credentials.invite(world.staff, dead)
    portal.mail.wait()
    (given_up,) = portal.mail.list(world.staff, status="dead")
    assert given_up.secret and given_up.text == "" and given_up.html == ""
    with pytest.raises(ValidationError, match="purged"):
        portal.mail.retry(world.staff, given_up)
