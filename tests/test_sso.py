"""Single sign-on per customer (issue 18 item 2) against a local OpenID provider on 127.0.0.1,
on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
import requests
from joserfc.jwk import RSAKey

from oidc_provider import Provider, running
from portalkit import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    Portal,
    ValidationError,
)
from portalkit.customers import Customer
from portalkit.memberships import Membership, MembershipKind, MembershipStatus
from portalkit.testing import World
from portalkit.tokens import token_digest
from portals import GOOD, mail_world
from portals import account_of as _account
from portals import login_with_password as _login

REDIRECT = "https://portal.vendor.example/sso/callback"


@attrs.define
class Sso:
    """A vendor whose customer Acme signs in through its own provider (``idp``)."""

    world: World
    idp: Provider
    acme: Customer
    main: Membership  # Acme's main account, signed in by password until SSO is required

    @property
    def portal(self) -> Portal:
        return self.world.portal

    def configure(self, customer: Customer | None = None, **changes: Any) -> Any:
        fields: dict[str, Any] = {
            "issuer": self.idp.issuer,
            "client_id": self.idp.client_id,
            "client_secret": self.idp.client_secret,
            "domains": ["acme.example"],
        }
        fields.update(changes)
        return self.portal.sso.configure(self.world.staff, customer or self.acme, **fields)

    def redirect(self, customer: Customer | None = None) -> dict[str, str]:
        """Begin, and follow the provider's answer back to the host: its state and code."""
        url = self.portal.sso.begin(self.world.vendor, customer or self.acme, REDIRECT)
        answer = requests.get(url, allow_redirects=False, timeout=5)
        assert answer.status_code == 302
        back = answer.headers["Location"]
        assert back.startswith(REDIRECT + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}

    def sign_in(self, email: str, verified: Any = True, **claims: Any) -> Any:
        self.idp.identity = {"email": email, "email_verified": verified, **claims}
        back = self.redirect()
        return self.portal.sso.complete(self.world.vendor, back["state"], back["code"], REDIRECT)


@pytest.fixture
def sso(portal: Portal) -> Iterator[Sso]:
    world = mail_world(portal, sso_allow_http_loopback=True)
    acme = world.customer(name="Acme")
    main = _login(world, customer=acme, email="boss@acme.example", kind="main")
    with running(portal.clock.now) as idp:
        setup = Sso(world, idp, acme, main)
        setup.configure()
        yield setup


def _member_of(sso: Sso, customer: Customer, email: str) -> Membership:
    return _login(sso.world, customer=customer, email=email, kind="extra")


# -- mapping ---------------------------------------------------------------------------------
def test_a_verified_address_of_the_customers_domain_signs_in_its_login(sso: Sso) -> None:
    anna = _member_of(sso, sso.acme, "anna@acme.example")
    login = sso.sign_in("Anna@ACME.example")
    assert login.actor.membership_id == anna.id
    assert login.account.id == anna.account_id
    # The session value is the one auth makes, and it holds.
    assert sso.portal.auth.validate_session(sso.world.vendor, login.session) == login.actor
    actions = [e.action for e in sso.portal.audit.list(sso.world.staff)]
    assert "sso_signed_in" in actions and "login_success" in actions


@pytest.mark.parametrize("verified", [False, None, "true", 1])
def test_an_unverified_address_is_refused(sso: Sso, verified: Any) -> None:
    _member_of(sso, sso.acme, "anna@acme.example")
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("anna@acme.example", verified=verified)


def test_another_customers_domain_and_login_are_refused(sso: Sso) -> None:
    other = sso.world.customer(name="Other")
    _login(sso.world, customer=other, email="main@other.example", kind="main")
    _member_of(sso, other, "kim@other.example")
    sso.configure(
        other,
        domains=["other.example"],
        client_id="x",
        client_secret="y",
        issuer="https://o.example",
    )
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("kim@other.example")  # Acme's provider vouches for another domain
    # An address of Acme's domain whose login is another customer's: not Acme's login.
    _member_of(sso, other, "spy@acme.example")
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("spy@acme.example")


@pytest.mark.parametrize(
    "email", ["anna@evil.acme.example", "anna@acme.example.evil", "anna@xacme.example"]
)
def test_a_subdomain_or_lookalike_domain_is_refused(sso: Sso, email: str) -> None:
    sso.configure(
        allow_new_accounts=True, default_profile=sso.world.profile(capabilities={"orders.view"})
    )
    with pytest.raises(AuthenticationFailed):
        sso.sign_in(email)


def test_a_disabled_login_is_not_signed_in_by_its_provider(sso: Sso) -> None:
    anna = _member_of(sso, sso.acme, "anna@acme.example")
    sso.portal.memberships.deactivate(sso.world.staff, anna)
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("anna@acme.example")
    reasons = [e.reason for e in sso.portal.audit.list(sso.world.staff)]
    assert "membership_disabled" in reasons


def test_a_wrong_client_secret_is_refused_by_the_provider(sso: Sso) -> None:
    _member_of(sso, sso.acme, "anna@acme.example")
    sso.configure(client_secret="not-the-secret-the-provider-knows")
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("anna@acme.example")
    assert sso.idp.token_requests == 1


# -- the ID token ----------------------------------------------------------------------------
SPOILS: dict[str, dict[str, Any]] = {
    "wrong_nonce": {"nonce": "not-the-one-we-sent"},
    "no_nonce": {"nonce": None},
    "wrong_audience": {"aud": "another-client"},
    "wrong_issuer": {"iss": "https://evil.example"},
    "expired": {"exp": "EXPIRED"},
    "issued_in_the_future": {"iat": "FUTURE"},
}


@pytest.mark.parametrize("spoil", sorted(SPOILS))
def test_an_id_token_with_wrong_claims_is_refused(sso: Sso, spoil: str) -> None:
    _member_of(sso, sso.acme, "anna@acme.example")
    now = int(sso.portal.clock.now().timestamp())
    values = {"EXPIRED": now - 61, "FUTURE": now + 3600}
    sso.idp.spoil = {k: values.get(v, v) for k, v in SPOILS[spoil].items()}
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("anna@acme.example")


@pytest.mark.parametrize("how", ["other_key", "none", "HS256"])
def test_an_id_token_not_signed_by_the_providers_key_is_refused(sso: Sso, how: str) -> None:
    _member_of(sso, sso.acme, "anna@acme.example")
    if how == "other_key":
        sso.idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    else:
        sso.idp.alg = how  # "none", or an HMAC keyed with the client secret
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("anna@acme.example")


def test_the_clock_that_judges_expiry_is_the_portals(sso: Sso) -> None:
    _member_of(sso, sso.acme, "anna@acme.example")
    # The provider's tokens live 300 s; by the portal's (fixed) clock this one ended 61 s ago.
    then = sso.portal.clock.now() - timedelta(seconds=300 + 61)
    sso.idp.clock = lambda: then
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("anna@acme.example")
    sso.idp.clock = lambda: then + timedelta(seconds=2)  # within the minute of leeway
    assert sso.sign_in("anna@acme.example").account.email == "anna@acme.example"


# -- the state -------------------------------------------------------------------------------
def test_a_state_works_once(sso: Sso) -> None:
    _member_of(sso, sso.acme, "anna@acme.example")
    sso.idp.identity = {"email": "anna@acme.example", "email_verified": True}
    back = sso.redirect()
    sso.portal.sso.complete(sso.world.vendor, back["state"], back["code"], REDIRECT)
    asked = sso.idp.token_requests
    with pytest.raises(AuthenticationFailed):
        sso.portal.sso.complete(sso.world.vendor, back["state"], back["code"], REDIRECT)
    assert sso.idp.token_requests == asked  # refused before the provider was asked


def test_an_unknown_expired_or_misdirected_state_is_refused(sso: Sso) -> None:
    _member_of(sso, sso.acme, "anna@acme.example")
    sso.idp.identity = {"email": "anna@acme.example", "email_verified": True}
    vendor = sso.world.vendor
    back = sso.redirect()
    with pytest.raises(AuthenticationFailed):
        sso.portal.sso.complete(vendor, back["state"] + "x", back["code"], REDIRECT)
    with pytest.raises(AuthenticationFailed):
        sso.portal.sso.complete(vendor, back["state"], back["code"], REDIRECT + "/other")
    late = sso.redirect()
    sso.portal.clock.advance(seconds=601)  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationFailed):
        sso.portal.sso.complete(vendor, late["state"], late["code"], REDIRECT)
    assert sso.idp.token_requests == 0


def test_the_state_of_another_vendor_is_unknown(sso: Sso) -> None:
    other = World(sso.portal, vendor_code="other")
    sso.idp.identity = {"email": "boss@acme.example", "email_verified": True}
    back = sso.redirect()
    with pytest.raises(AuthenticationFailed):
        sso.portal.sso.complete(other.vendor, back["state"], back["code"], REDIRECT)


# -- new accounts ----------------------------------------------------------------------------
def test_an_unknown_address_becomes_an_account_only_where_allowed(sso: Sso) -> None:
    reader = sso.world.profile(capabilities={"orders.view"})
    sso.configure(allow_new_accounts=False, default_profile=reader)
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("newbie@acme.example")
    sso.configure(allow_new_accounts=True, default_profile=reader)
    login = sso.sign_in("newbie@acme.example", given_name="New", family_name="Bie")
    membership = sso.portal.memberships.get(sso.world.staff, login.actor.membership_id)
    assert membership.customer_id == sso.acme.id
    assert membership.profile_id == reader.id
    assert membership.kind is MembershipKind.EXTRA
    assert membership.status is MembershipStatus.ACTIVE
    assert _account(sso.world, membership).password_hash is None
    # The next sign-in finds the same login.
    again = sso.sign_in("newbie@acme.example")
    assert again.actor.membership_id == membership.id


def test_new_accounts_need_a_default_profile(sso: Sso) -> None:
    with pytest.raises(ValidationError):
        sso.configure(allow_new_accounts=True)


# -- SSO required ----------------------------------------------------------------------------
def test_sso_required_blocks_password_log_in_and_reset(sso: Sso) -> None:
    portal, vendor = sso.portal, sso.world.vendor
    email = _account(sso.world, sso.main).email
    assert portal.auth.authenticate(vendor, email, GOOD).actor.membership_id == sso.main.id
    sso.configure(required=True)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(vendor, email, GOOD)
    sent = len(portal.mailer.outbox)  # type: ignore[attr-defined]
    portal.credentials.request_reset(vendor, email)
    portal.mail.wait()
    assert len(portal.mailer.outbox) == sent  # type: ignore[attr-defined]
    # Single sign-on still works for the same login.
    assert sso.sign_in(email).actor.membership_id == sso.main.id
    # The account's login of a customer without the rule still takes its password.
    elsewhere = sso.world.customer()
    sso.world.membership(customer=elsewhere, account=_account(sso.world, sso.main),
                         profile=sso.world.profile(capabilities={"orders.view"}))  # fmt: skip
    assert portal.auth.authenticate(vendor, email, GOOD).actor.customer_id == elsewhere.id


def _shared(sso: Sso) -> tuple[Customer, Membership, Membership]:
    """consultant@acme.example works for Acme and, on the same account, for Beta."""
    w = sso.world
    beta = w.customer(name="Beta")
    _login(w, customer=beta, email="main@beta.example", kind="main")
    at_acme = _member_of(sso, sso.acme, "consultant@acme.example")
    at_beta = w.membership(
        customer=beta, account=_account(w, at_acme), kind="extra",
        profile=w.profile(capabilities={"orders.view", "invoices.view"}),
    )  # fmt: skip
    return beta, at_acme, at_beta


def test_a_customers_provider_does_not_sign_in_an_account_that_works_elsewhere_too(
    sso: Sso,
) -> None:
    """Red team: Acme's provider (Acme's own, in its admin's hands) signed in a shared account
    with its Beta login, and a switch opened Beta's portal."""
    _shared(sso)
    with pytest.raises(AuthenticationFailed):
        sso.sign_in("consultant@acme.example")
    reasons = [
        e.reason for e in sso.portal.audit.list(sso.world.staff) if e.action == "login_failure"
    ]
    assert "works_for_another_customer" in reasons
    # The password still signs it in, for both customers.
    login = sso.portal.auth.authenticate(sso.world.vendor, "consultant@acme.example", GOOD)
    assert len(login.memberships) == 2


def test_a_password_log_in_does_not_switch_into_a_customer_that_requires_sso(sso: Sso) -> None:
    """Red team: logged in by password at Acme, a switch reached Beta, whose logins start only
    from Beta's own provider."""
    beta, at_acme, at_beta = _shared(sso)
    portal, vendor = sso.portal, sso.world.vendor
    login = portal.auth.authenticate(vendor, "consultant@acme.example", GOOD, customer=sso.acme)
    assert portal.access.switch(login.actor, beta).membership_id == at_beta.id
    portal.sso.configure(
        sso.world.staff, beta, issuer="https://login.beta.example", client_id="beta",
        client_secret="s", domains=["beta.example"], required=True,
    )  # fmt: skip
    assert [m.id for m in portal.access.memberships(login.actor)] == [at_acme.id]
    with pytest.raises(NotFound):
        portal.access.switch(login.actor, beta)


# -- set-up ----------------------------------------------------------------------------------
def test_only_the_vendors_staff_may_set_up_sso(sso: Sso) -> None:
    admin = sso.world.member(sso.main)
    with pytest.raises(PermissionDenied):
        sso.portal.sso.configure(
            admin, sso.acme, issuer="https://evil.example", client_id="x",
            client_secret="y", domains=["acme.example"],
        )  # fmt: skip
    clerk = sso.world.staff_holding("inbox.work")
    with pytest.raises(PermissionDenied):
        sso.portal.sso.get(clerk, sso.acme)
    config = sso.portal.sso.get(sso.world.staff, sso.acme)
    assert config is not None and config.issuer == sso.idp.issuer
    assert sso.idp.client_secret not in config.client_secret  # sealed at rest
    assert "sso_configured" in [e.action for e in sso.portal.audit.list(sso.world.staff)]


def test_a_domain_belongs_to_one_customer(sso: Sso) -> None:
    other = sso.world.customer()
    with pytest.raises(Conflict):
        sso.configure(other, domains=["acme.example"])
    # Released by Acme, it may move.
    sso.configure(domains=["acme-group.example"])
    assert sso.configure(other, domains=["acme.example"]).domains == ("acme.example",)


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": "http://idp.example"},
        {"issuer": "https://idp.example/#x"},
        {"client_id": ""},
        {"domains": []},
        {"domains": "acme.example"},
        {"domains": ["not a domain"]},
        {"domains": ["acme"]},
        {"required": "yes"},
    ],
)
def test_bad_set_ups_are_refused_and_change_nothing(sso: Sso, changes: dict[str, Any]) -> None:
    before = sso.portal.sso.get(sso.world.staff, sso.acme)
    with pytest.raises(ValidationError):
        sso.configure(**changes)
    assert sso.portal.sso.get(sso.world.staff, sso.acme) == before


def test_an_http_issuer_needs_the_loopback_setting(sso: Sso) -> None:
    sso.portal.settings = sso.portal.settings.model_copy(update={"sso_allow_http_loopback": False})
    with pytest.raises(ValidationError):
        sso.configure()
    with pytest.raises(AuthenticationFailed):  # one stored before: its endpoints are refused
        sso.redirect()


def test_disabled_sso_signs_nobody_in_requires_nothing_and_frees_its_domains(sso: Sso) -> None:
    portal, vendor = sso.portal, sso.world.vendor
    email = _account(sso.world, sso.main).email
    sso.configure(required=True)
    sso.idp.identity = {"email": email, "email_verified": True}
    back = sso.redirect()  # begun before it was switched off
    assert sso.portal.sso.disable(sso.world.staff, sso.acme).active is False
    with pytest.raises(AuthenticationFailed):
        portal.sso.complete(vendor, back["state"], back["code"], REDIRECT)
    with pytest.raises(NotFound):
        portal.sso.begin(vendor, sso.acme, REDIRECT)
    assert portal.auth.authenticate(vendor, email, GOOD).actor.membership_id == sso.main.id
    sso.configure(sso.world.customer(), domains=["acme.example"])
    with pytest.raises(PermissionDenied):
        portal.sso.disable(sso.world.member(sso.main), sso.acme)


def test_a_customer_without_sso_has_nothing_to_begin(sso: Sso) -> None:
    with pytest.raises(NotFound):
        sso.portal.sso.begin(sso.world.vendor, sso.world.customer(), REDIRECT)


def test_a_missing_extra_names_it() -> None:
    code = (
        "import sys; sys.modules['authlib'] = None\n"
        "from portalkit.errors import ImproperlyInstalled\n"
        "from portalkit.sso import _oidc\n"
        "try:\n    _oidc.session('x', timeout=1)\n"
        "except ImproperlyInstalled as e:\n    print(e.extra, e)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.startswith("sso ") and "portalkit[sso]" in found.stdout


# -- issue 18 follow-up: throttling, sessions, pruning ---------------------------------------
def test_switching_sso_required_on_ends_open_password_sessions(sso: Sso) -> None:
    portal, vendor = sso.portal, sso.world.vendor
    email = _account(sso.world, sso.main).email
    before = portal.auth.authenticate(vendor, email, GOOD)
    elsewhere = sso.world.customer()
    other = sso.world.membership(customer=elsewhere, kind="main",
                                 profile=sso.world.profile(capabilities={"orders.view"}))  # fmt: skip
    theirs = portal.auth.session(sso.world.member(other))
    sso.configure()  # replaced, still not required: sessions stay
    assert portal.auth.validate_session(vendor, before.session) == before.actor
    sso.configure(required=True)
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(vendor, before.session)  # its next request is refused
    # Another customer's logins keep their sessions.
    assert portal.auth.validate_session(vendor, theirs).membership_id == other.id
    # A session signed in through the provider afterwards holds, and configuring again
    # while already required ends nothing.
    after = sso.sign_in(email)
    sso.configure(required=True)
    assert portal.auth.validate_session(vendor, after.session) == after.actor


def test_beginning_a_sign_in_is_throttled_per_client_key(sso: Sso) -> None:
    portal, vendor = sso.portal, sso.world.vendor
    portal.settings = portal.settings.model_copy(update={"sso_begin_max": 3})
    for _ in range(3):
        portal.sso.begin(vendor, sso.acme, REDIRECT, client_key="10.0.0.9")
    with portal.transaction(read_only=True) as uow:
        stored = len(uow.sso_attempts.list(vendor.id))
    requests_before = sso.idp.token_requests
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            portal.sso.begin(vendor, sso.acme, REDIRECT, client_key="10.0.0.9")
    with portal.transaction(read_only=True) as uow:
        assert len(uow.sso_attempts.list(vendor.id)) == stored  # nothing stored past it
    assert sso.idp.token_requests == requests_before
    # Another client key is not held up; recorded once, not once per refusal.
    portal.sso.begin(vendor, sso.acme, REDIRECT, client_key="10.0.0.10")
    refused = portal.audit.list(sso.world.staff, action="sso_failure")
    assert [e.reason for e in refused] == ["throttled"]
    # The window ends, and the key begins again.
    sso.world.portal.clock.advance(seconds=portal.settings.login_window_seconds + 1)  # type: ignore[attr-defined]
    portal.sso.begin(vendor, sso.acme, REDIRECT, client_key="10.0.0.9")


def test_prune_removes_old_sign_ins_only(sso: Sso) -> None:
    portal, vendor = sso.portal, sso.world.vendor
    clock = portal.clock
    portal.sso.begin(vendor, sso.acme, REDIRECT)  # never finished
    sso.idp.identity = {"email": "boss@acme.example", "email_verified": True}
    back = sso.redirect()
    portal.sso.complete(vendor, back["state"], back["code"], REDIRECT)  # used
    clock.advance(days=portal.settings.retention_token_days, seconds=3600)  # type: ignore[attr-defined]
    fresh = portal.sso.begin(vendor, sso.acme, REDIRECT)
    staff = sso.world.staff_holding("data.prune")
    assert portal.retention.prune(staff, dry_run=True).sso_attempts == 2
    report = portal.retention.prune(staff)
    assert report.sso_attempts == 2
    with portal.transaction(read_only=True) as uow:
        (left,) = uow.sso_attempts.list(vendor.id)
    state = parse_qs(urlsplit(fresh).query)["state"][0]
    assert left.digest == token_digest(state)  # the one under way stays
    (event,) = portal.audit.list(sso.world.staff, action="data_pruned")
    assert event.details["sso_attempts"] == 2
    assert portal.retention.prune(staff).sso_attempts == 0


def test_the_company_sign_in_finds_the_customer_by_address_or_code(sso: Sso) -> None:
    portal, vendor = sso.portal, sso.world.vendor
    find = portal.sso.customer_for
    assert find(vendor, email="Anna@ACME.example") == sso.acme.id
    assert find(vendor, code=sso.acme.code.lower()) == sso.acme.id
    for email in ("anna@sub.acme.example", "anna@other.example", "no address", "", None):
        assert find(vendor, email=email) is None  # type: ignore[arg-type]
    plain = sso.world.customer()
    for code in (plain.code, "NOPE", "", "x" * 51):
        assert find(vendor, code=code) is None
    other = World(portal, vendor_code="elsewhere")
    assert find(other.vendor, email="anna@acme.example") is None  # another vendor's domain
    portal.sso.disable(sso.world.staff, sso.acme)
    assert find(vendor, email="anna@acme.example") is None
    assert find(vendor, code=sso.acme.code) is None
