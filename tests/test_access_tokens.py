"""Access tokens for integrations (issue 18 item 1), on memory, SQLite and PostgreSQL: a token
never holds more than its login, dies with it, and is refused by every credential and
administration call."""

from __future__ import annotations

import inspect
import re
import zlib
from datetime import timedelta
from typing import Any
from uuid import uuid4

import attrs
import pytest
from cryptography.fernet import Fernet

from portalkit import (
    AuthenticationFailed,
    FixedClock,
    NotFound,
    PermissionDenied,
    Portal,
    PortalSettings,
    ValidationError,
)
from portalkit._guard import TOKEN_SERVICES
from portalkit.accesstokens.model import PATTERN, PREFIX
from portalkit.actors import Member
from portalkit.staffrights import LOGINS_MANAGE
from portalkit.testing import World
from portals import GOOD
from portals import login_with_password as _login

CAPS = {"orders.view", "invoices.view", "prices.view"}


@pytest.fixture
def world(portal: Portal) -> World:
    """One vendor on each backend, able to mail (invitations, resets)."""
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
    )
    return World(portal)


def _clock(world: World) -> FixedClock:
    clock = world.portal.clock
    assert isinstance(clock, FixedClock)
    return clock


def _in(world: World, days: float = 30) -> Any:
    return world.portal.clock.now() + timedelta(days=days)


def _customer(world: World, **fields: Any) -> Any:
    """A customer with an active main account, so that its extra logins work."""
    customer = world.customer(**fields)
    world.membership(customer=customer, kind="main", profile=world.profile(capabilities=CAPS))
    return customer


def _login_in(world: World, customer: Any = None, caps: set[str] = CAPS, **fields: Any) -> Any:
    customer = customer or _customer(world)
    fields.setdefault("kind", "extra")  # works only while the customer's main account does
    profile = world.profile(capabilities=caps, scopes=fields.pop("scopes", {}))
    membership = _login(world, customer=customer, profile=profile, **fields)
    return world.member(membership), membership


def _token(world: World, member: Any, membership: Any = None, **fields: Any) -> Any:
    fields.setdefault("name", "ERP")
    fields.setdefault("capabilities", {"orders.view"})
    fields.setdefault("expires_at", _in(world))
    return world.portal.access_tokens.create(
        member, membership if membership is not None else member.membership_id, **fields
    )


def _use(world: World, value: str, client: str | None = "10.0.0.1") -> Any:
    return world.portal.auth.authenticate_token(world.vendor, value, client_key=client)


# -- making and using ----------------------------------------------------------------------
def test_a_login_makes_a_token_for_itself_shown_once_and_scanner_recognisable(
    world: World,
) -> None:
    member, membership = _login_in(world)
    issued = _token(world, member, capabilities={"orders.view", "prices.view"})
    value = issued.value
    assert value.startswith(PREFIX) and re.fullmatch(PATTERN, value)
    # The checksum is a CRC32 of the body, as documented: scanners can check it offline.
    assert zlib.crc32(value[5:-6].encode()) == _base62(value[-6:])
    listed = world.portal.access_tokens.list(member)
    assert [t.id for t in listed] == [issued.token.id]
    assert value not in repr(listed) and value not in repr(issued)
    assert value[5:-6] not in issued.token.digest
    events = world.portal.audit.list(world.staff, action="access_token_created")
    assert events and value not in repr(events)
    ctx = _use(world, value)
    assert ctx.actor.token_id == issued.token.id and ctx.actor.membership_id == membership.id
    assert ctx.can("orders.view") and ctx.can("prices.view")
    assert not ctx.can("invoices.view")  # the login holds it; the token does not


def _base62(text: str) -> int:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = 0
    for char in text:
        number = number * 62 + alphabet.index(char)
    return number


def test_creation_input_is_checked(world: World) -> None:
    member, _ = _login_in(world)
    p = world.portal
    for fields in [
        {"name": ""},
        {"capabilities": set()},
        {"capabilities": "orders.view"},
        {"capabilities": {"no.such"}},
        {"expires_at": p.clock.now()},
        {"expires_at": _in(world, p.settings.access_token_max_days + 1)},
        {"expires_at": _in(world).replace(tzinfo=None)},
    ]:
        with pytest.raises(ValidationError):
            _token(world, member, **fields)
    assert p.access_tokens.list(member) == []


def test_a_long_capability_list_is_refused_before_it_is_read(world: World) -> None:
    """Red team: a million names were read one by one (and 300,000 unknown ones took most of
    a second) before the answer; a token holds at most as many as a profile."""
    member, _ = _login_in(world)
    with pytest.raises(ValidationError) as refused:
        _token(world, member, capabilities=["orders.view"] * 1_000_000)
    assert [p.code for p in refused.value.problems] == ["too_many"]


def test_a_token_never_holds_more_than_its_login(world: World) -> None:
    member, _ = _login_in(world, caps={"orders.view"})
    with pytest.raises(PermissionDenied):
        _token(world, member, capabilities={"orders.view", "invoices.view"})
    admin, _ = _login_in(world, caps={"orders.view", "members.manage"})
    with pytest.raises(PermissionDenied):
        _token(world, admin, capabilities={"members.manage"})
    assert world.portal.access_tokens.list(world.staff) == []


def test_the_context_is_the_tokens_subset_of_the_logins_rights_now(world: World) -> None:
    customer = _customer(world)
    member, _ = _login_in(world, customer)
    value = _token(world, member, capabilities={"orders.view", "prices.view"}).value
    assert _use(world, value).can("prices.view")
    # Prices switched off for the customer: the login loses prices.view, so does its token.
    world.portal.customers.update(world.staff, customer, settings={"show_prices": False})
    _clock(world).advance(seconds=11)
    ctx = _use(world, value)
    assert ctx.can("orders.view") and not ctx.can("prices.view")


def test_a_forged_token_actor_never_gets_members_manage(world: World) -> None:
    admin, _ = _login_in(world, caps={"orders.view", "members.manage"})
    forged = attrs.evolve(
        admin, token_id=admin.membership_id, token_capabilities=CAPS | {"members.manage"}
    )
    assert not world.portal.access.context(forged).can("members.manage")


@pytest.mark.parametrize(
    "ending",
    [
        "end_sessions",
        "password_set",
        "membership_off",
        "account_off",
        "customer_off",
        "main_off",
        "profile_changed",
    ],
)
def test_a_token_dies_with_every_end_of_its_logins_sessions(world: World, ending: str) -> None:
    p, staff = world.portal, world.staff
    customer = world.customer()
    main = world.membership(
        customer=customer, kind="main", profile=world.profile(capabilities=CAPS)
    )
    member, membership = _login_in(world, customer)
    value = _token(world, member).value
    assert _use(world, value)
    if ending == "end_sessions":
        p.auth.end_sessions(member, member.account_id)
    elif ending == "password_set":
        p.credentials.set_password(world.system, membership, GOOD + "!", must_change=False)
    elif ending == "membership_off":
        p.memberships.deactivate(staff, membership)
    elif ending == "account_off":
        p.accounts.deactivate(staff, member.account_id)
    elif ending == "customer_off":
        p.customers.deactivate(staff, customer)
    elif ending == "main_off":
        p.memberships.deactivate(staff, main)
    else:
        p.memberships.update(staff, membership, profile=world.profile(capabilities=CAPS))
    _clock(world).advance(seconds=1)
    with pytest.raises(AuthenticationFailed):
        _use(world, value)
    refused = p.audit.list(staff, action="access_token_refused")
    assert refused and refused[-1].reason


def test_a_token_works_only_for_its_own_vendor(world: World, portal: Portal) -> None:
    """Red team: an adapter serving one vendor took another vendor's token (the check had no
    vendor to compare), as a shared database let it."""
    member, _ = _login_in(world)
    issued = _token(world, member)
    other = World(portal)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate_token(other.vendor, issued.value, client_key="10.0.0.1")
    assert _use(world, issued.value).actor.membership_id == member.membership_id


def test_a_member_revoking_anothers_token_is_told_nothing(world: World) -> None:
    """Red team: PermissionDenied for a real id and NotFound for a made-up one told a plain
    member which token ids exist."""
    member, _ = _login_in(world)
    stranger, _ = _login_in(world)
    issued = _token(world, member)
    with pytest.raises(NotFound):
        world.portal.access_tokens.revoke(stranger, issued.token.id)
    with pytest.raises(NotFound):
        world.portal.access_tokens.revoke(stranger, uuid4())
    assert _use(world, issued.value).actor.membership_id == member.membership_id


def test_revoked_expired_altered_and_unknown_values_get_one_answer(world: World) -> None:
    p = world.portal
    member, _ = _login_in(world)
    revoked = _token(world, member)
    expiring = _token(world, member, expires_at=_in(world, 1))
    kept = _token(world, member)
    p.access_tokens.revoke(member, revoked.token)
    assert p.access_tokens.revoke(member, revoked.token).revoked_at is not None  # idempotent
    _clock(world).advance(days=1)
    body = kept.value[5:-6]
    flipped = ("B" if body[-1] == "A" else "A").join([body[:-1], ""])
    forged = PREFIX + flipped + kept.value[-6:]  # checksum no longer fits
    # Right id and checksum, wrong secret: the body's last digit changed, checksum recomputed.
    from portalkit.accesstokens.model import _base62 as b62  # the documented checksum

    resealed = PREFIX + flipped + b62(zlib.crc32(flipped.encode()), 6)
    answers = set()
    for value in [revoked.value, expiring.value, forged, resealed, "pkat_x", "", None, 7]:
        with pytest.raises(AuthenticationFailed) as refused:
            _use(world, value, client=None)  # type: ignore[arg-type]
        answers.add((type(refused.value), str(refused.value)))
    assert len(answers) == 1
    assert _use(world, kept.value).actor.token_id == kept.token.id
    reasons = {e.reason for e in p.audit.list(world.staff, action="access_token_refused")}
    assert {"revoked", "expired"} <= reasons


def test_bad_values_are_throttled_per_client_key(world: World) -> None:
    p = world.portal
    member, _ = _login_in(world)
    value = _token(world, member).value
    for n in range(p.settings.login_max_failures):
        with pytest.raises(AuthenticationFailed):
            _use(world, f"pkat_guess{n}", client="203.0.113.9")
    with pytest.raises(AuthenticationFailed):
        _use(world, value, client="203.0.113.9")  # locked: the right value too
    assert _use(world, value, client="198.51.100.1")  # another client is not
    _clock(world).advance(seconds=p.settings.login_window_seconds + 1)
    assert _use(world, value, client="203.0.113.9")


def test_last_use_is_written_at_most_once_per_interval(world: World) -> None:
    p = world.portal
    member, _ = _login_in(world)
    issued = _token(world, member)
    first = p.clock.now()
    _use(world, issued.value)
    (token,) = p.access_tokens.list(member)
    assert token.last_used_at == first
    version = token.version
    _clock(world).advance(seconds=p.settings.access_token_use_seconds - 1)
    for _ in range(3):
        _use(world, issued.value)
    (token,) = p.access_tokens.list(member)
    assert token.last_used_at == first and token.version == version  # no write
    _clock(world).advance(seconds=2)
    _use(world, issued.value)
    (token,) = p.access_tokens.list(member)
    assert token.last_used_at == p.clock.now() and token.version == version + 1


# -- who may make them -----------------------------------------------------------------------
def test_a_customer_admin_makes_tokens_only_within_both_rights(world: World) -> None:
    customer = _customer(world)
    admin, _ = _login_in(world, customer, caps={"members.manage", "orders.view", "prices.view"})
    _, login = _login_in(world, customer, caps={"orders.view"})
    issued = _token(world, admin, login)
    assert issued.token.membership_id == login.id
    assert _use(world, issued.value).actor.membership_id == login.id
    with pytest.raises(PermissionDenied):  # the login does not hold prices.view
        _token(world, admin, login, capabilities={"prices.view"})
    # A login that holds more than the admin is the vendor's to hand out, not the admin's.
    _, richer = _login_in(world, customer, caps={"orders.view", "invoices.view"})
    with pytest.raises(PermissionDenied):
        _token(world, admin, richer)
    assert [t.id for t in world.portal.access_tokens.list(admin, login)] == [issued.token.id]
    world.portal.access_tokens.revoke(admin, issued.token)


@pytest.mark.parametrize("change", ["admin_off", "admin_demoted", "admin_narrowed"])
def test_a_token_an_admin_made_holds_only_what_the_admin_may_still_grant(
    world: World, change: str
) -> None:
    """Red team: an administrator fired or demoted kept, through the tokens it had made
    for its customer's logins, rights it no longer held."""
    portal = world.portal
    customer = _customer(world)
    admin, admin_login = _login_in(
        world, customer, caps={"members.manage", "orders.view", "invoices.view"}
    )
    _, clerk = _login_in(world, customer, caps={"orders.view", "invoices.view"})
    issued = _token(world, admin, clerk, capabilities={"orders.view", "invoices.view"})
    assert issued.token.granted_by == admin_login.id
    assert _use(world, issued.value).can("invoices.view")
    if change == "admin_off":
        portal.memberships.deactivate(world.staff, admin_login)
    elif change == "admin_demoted":  # no longer an administrator
        portal.memberships.update(
            world.staff, admin_login, profile=world.profile(capabilities=set(CAPS))
        )
    elif change == "admin_narrowed":  # still one, but the login now holds more than it
        portal.memberships.update(
            world.staff,
            admin_login,
            profile=world.profile(capabilities={"members.manage", "orders.view"}),
        )
    else:  # the vendor gives the login a right the administrator does not hold
        portal.memberships.update(world.staff, clerk, profile=world.profile(capabilities=CAPS))
    with pytest.raises(AuthenticationFailed):
        _use(world, issued.value)
    # The login's own token is its own: none of that touches it.
    own = _token(world, world.member(clerk), capabilities={"orders.view"})
    assert own.token.granted_by is None
    assert _use(world, own.value).can("orders.view")


def test_a_customer_admin_cannot_reach_main_accounts_admins_or_other_customers(
    world: World,
) -> None:
    p = world.portal
    parent = world.customer()
    child = _customer(world, parent=parent)
    # Its rights reach the customers below its own (an umbrella's), its tokens do not.
    admin, _ = _login_in(
        world,
        parent,
        caps={"members.manage", "orders.view"},
        kind="main",
        scopes={"memberships": "tree"},
    )
    _, other_admin = _login_in(world, parent, caps={"members.manage", "orders.view"})
    _, below = _login_in(world, child, caps={"orders.view"})
    _, elsewhere = _login_in(world, caps={"orders.view"})
    foreign = World(p, vendor_code="other")
    _, theirs = _login_in(foreign, caps={"orders.view"})
    with pytest.raises(PermissionDenied):
        _token(world, admin, other_admin)
    for target in [below, elsewhere, theirs]:
        with pytest.raises(NotFound):
            _token(world, admin, target)
        with pytest.raises(NotFound):
            p.access_tokens.list(admin, target)
    mine = _token(foreign, foreign.member(theirs)).token
    with pytest.raises(NotFound):
        p.access_tokens.revoke(admin, mine)
    plain, _ = _login_in(world, parent, caps={"orders.view"})
    _, neighbour = _login_in(world, parent, caps={"orders.view"})
    with pytest.raises(PermissionDenied):
        _token(world, plain, neighbour)


def test_staff_need_logins_manage(world: World) -> None:
    _, login = _login_in(world)
    with pytest.raises(PermissionDenied):
        _token(world, world.staff_holding("customers.provision"), login)
    issued = _token(world, world.staff_holding(LOGINS_MANAGE), login)
    assert _use(world, issued.value).actor.membership_id == login.id


def test_a_view_as_customer_makes_no_token(world: World) -> None:
    _, login = _login_in(world)
    viewer = world.portal.access.view_as(
        world.staff_holding("impersonate"), login, reason="support", allow_writes=True
    )
    with pytest.raises(PermissionDenied):
        _token(world, viewer)


# -- never for credentials or administration ---------------------------------------------------
def _token_actor(world: World, caps: set[str] = CAPS) -> tuple[Member, Any]:
    customer = _customer(world)
    admin, membership = _login_in(world, customer, caps={"members.manage", *caps}, kind="extra")
    value = _token(world, admin, capabilities=caps).value
    actor = _use(world, value).actor
    assert isinstance(actor, Member) and actor.token_id is not None
    return actor, membership


def test_a_token_is_refused_by_credential_session_and_admin_calls(world: World) -> None:
    p = world.portal
    actor, membership = _token_actor(world)
    _, other = _login_in(world, caps={"orders.view"})
    calls = [
        lambda: p.credentials.change_password(actor, current=GOOD, new=GOOD + "x"),
        lambda: p.second_factor.begin(actor, password=GOOD),
        lambda: p.auth.end_sessions(actor, actor.account_id),
        lambda: p.auth.session(actor),
        lambda: p.access.switch(actor, other.customer_id),
        lambda: p.access.memberships(actor),
        lambda: p.access_tokens.create(
            actor,
            actor.membership_id,
            name="x",
            capabilities={"orders.view"},
            expires_at=_in(world),
        ),
        lambda: p.access_tokens.list(actor),
        lambda: p.memberships.update(actor, membership, subscriptions=[]),
        lambda: p.logins.add(
            actor,
            customer=actor.customer_id,
            email="n@customer.example",
            first_name="N",
            last_name="N",
        ),
        lambda: p.contacts.create(actor, customer=actor.customer_id, first_name="N", last_name="N"),
        lambda: p.access.delegated_admin(actor, LOGINS_MANAGE),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied, match="access token"):
            call()
    # The same calls work for the login itself (the refusal is the token's, not the call's).
    assert p.access.memberships(world.member(membership))


def test_every_service_not_open_to_tokens_refuses_a_token_actor_in_every_call(
    world: World,
) -> None:
    """Walks the portal's services: outside TOKEN_SERVICES, every public call refuses a token
    actor before looking at anything else — whatever the call and its other arguments."""
    p = world.portal
    actor, _ = _token_actor(world)
    context = p.auth.authenticate_token  # noqa: F841 - the path that made the actor
    walked = 0
    for name, service in vars(p).items():
        if name.startswith("_") or name in TOKEN_SERVICES:
            continue
        for attribute in dir(type(service)):
            member = getattr(type(service), attribute)
            if attribute.startswith("_") or isinstance(member, property) or not callable(member):
                continue
            method = getattr(service, attribute)
            if not inspect.signature(method).parameters:
                continue
            with pytest.raises(PermissionDenied, match="access token"):
                method(actor)
            walked += 1
    assert walked > 100
    # Credential and administration services are never open to tokens.
    closed = {
        "auth", "credentials", "second_factor", "memberships", "profiles", "logins",
        "accounts", "access_tokens", "staff", "registrations", "provisioning", "review",
        "imports", "exports", "vendors", "retention", "copying", "audit", "groups",
    }  # fmt: skip
    assert not closed & TOKEN_SERVICES
    assert set(vars(p)) >= TOKEN_SERVICES


def test_a_token_actor_does_its_business_within_the_token(world: World) -> None:
    p = world.portal
    actor, _ = _token_actor(world, caps={"orders.view"})
    assert p.customers.get(actor, actor.customer_id).id == actor.customer_id
    ctx = p.access.context(actor)
    assert ctx.can("orders.view") and not ctx.can("invoices.view")
    assert not ctx.can("members.manage")


def test_erasing_the_person_erases_its_tokens(world: World) -> None:
    p = world.portal
    member, membership = _login_in(world)
    value = _token(world, member).value
    p.retention.erase_person(world.staff_holding("data.erase"), account=membership.account_id)
    with pytest.raises(AuthenticationFailed):
        _use(world, value)
    assert p.access_tokens.list(world.staff_holding(LOGINS_MANAGE)) == []


def test_listings_page_like_other_listings(world: World) -> None:
    member, _membership = _login_in(world)
    made = []
    for n in range(5):
        made.append(_token(world, member, name=f"ERP {n}").token.id)
        _clock(world).advance(seconds=1)
    tokens = world.portal.access_tokens
    assert [t.id for t in tokens.list(member, limit=2)] == made[:2]
    assert [t.id for t in tokens.list(member, limit=2, offset=2)] == made[2:4]
    assert [t.id for t in tokens.list(member, offset=4)] == made[4:]
    everyone = tokens.list(world.staff, limit=1000)
    assert [t.id for t in tokens.list(world.staff, limit=3, offset=1)] == [
        t.id for t in everyone[1:4]
    ]
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": True}):
        with pytest.raises(ValidationError):
            tokens.list(member, **bad)


def test_a_customer_admin_lists_the_tokens_of_its_customers_logins_in_its_reach(
    world: World,
) -> None:
    p = world.portal
    customer = world.customer()
    main = world.membership(
        customer=customer, kind="main", profile=world.profile(capabilities=CAPS)
    )
    admin, admin_login = _login_in(world, customer, caps={"members.manage", "orders.view"})
    _, other_admin = _login_in(world, customer, caps={"members.manage", "orders.view"})
    _, login = _login_in(world, customer, caps={"orders.view"})
    _, elsewhere = _login_in(world, caps={"orders.view"})
    made = {
        name: _token(world, world.member(m), m).token.id
        for name, m in [
            ("main", main), ("self", admin_login), ("admin", other_admin),
            ("login", login), ("elsewhere", elsewhere),
        ]
    }  # fmt: skip
    listed = {t.id for t in p.access_tokens.list(admin, customer=customer)}
    # Its own and the logins it may manage; not the main account's, another admin's, or
    # another customer's.
    assert listed == {made["self"], made["login"]}
    assert len(p.access_tokens.list(admin, customer=customer, limit=1)) == 1
    with pytest.raises(NotFound):
        p.access_tokens.list(admin, customer=elsewhere.customer_id)
    plain, _ = _login_in(world, customer, caps={"orders.view"})
    with pytest.raises(PermissionDenied):
        p.access_tokens.list(plain, customer=customer)
    staff_sees = {t.id for t in p.access_tokens.list(world.staff, customer=customer)}
    assert staff_sees == {made[n] for n in ("main", "self", "admin", "login")}
