"""Delegated administration, hardened: a customer admin hands out and touches only what it holds
itself — compared as rights work, not as they are written — and adding a person tells it
nothing about the rest of the vendor (D1, C2, B5 in ``../shared/security.md``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import (
    AuthenticationFailed,
    Conflict,
    InvalidToken,
    Membership,
    PermissionDenied,
    Portal,
    PortalSettings,
    ResourceType,
)
from portalkit.testing import World

GOOD = "correct horse battery staple"


@pytest.fixture
def world(portal: Portal) -> World:
    """One vendor on each backend, with what invitations need (a mail key, a base URL)."""
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
    )
    return World(portal)


def _customer(world: World, **fields: Any) -> Any:
    customer = world.customer(**fields)
    world.membership(customer=customer, kind="main")
    return customer


def _admin(world: World, customer: Any, capabilities: set[str], **fields: Any) -> Any:
    profile = world.profile(
        capabilities={"members.manage", *capabilities}, scopes=fields.pop("scopes", {})
    )
    fields.setdefault("kind", "extra")
    return world.member(world.membership(customer=customer, profile=profile, **fields))


def _add(world: World, admin: Any, customer: Any, email: str | None = None, **fields: Any) -> Any:
    n = world._next()
    return world.portal.logins.add(
        admin,
        customer=customer,
        email=email or f"person{n}@customer.example",
        first_name="Per",
        last_name=f"Son{n}",
        **fields,
    )


def _snapshot(world: World, customer: Any) -> Any:
    p = world.portal
    return (
        p.memberships.list(world.staff, customer=customer),
        p.contacts.list(world.staff, customer=customer),
        len(p.accounts.list(world.staff)),
        len(world.portal.mailer.outbox),  # type: ignore[attr-defined]
    )


def _last_token(portal: Portal) -> str:
    body = portal.mailer.outbox[-1].get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    found = re.search(r"\?token=([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def _refused(world: World) -> list[str]:
    return [e.target for e in world.portal.audit.list(world.staff, action="authz_fail")]


# -- 1. Nothing handed out beyond the admin's rights, leaving things out included -----------
def test_a_location_limited_admin_cannot_hand_out_every_location(world: World) -> None:
    """No location grants means no location limit: more than a location-limited admin has."""
    customer = _customer(world)
    kitchen = world.location(customer)
    admin = _admin(world, customer, {"logbook.view"}, location_grants={kitchen: "write"})
    reader = world.profile(capabilities={"logbook.view"})
    before = _snapshot(world, customer)
    with pytest.raises(PermissionDenied, match="every location"):
        _add(world, admin, customer, profile=reader)
    assert _snapshot(world, customer) == before
    assert _refused(world) == ["LoginService.add"]
    login = _add(world, admin, customer, profile=reader, location_grants={kitchen: "read"})
    assert [g.location_id for g in login.location_grants] == [kitchen.id]


def test_an_own_scope_admin_cannot_give_a_profile_that_leaves_the_scope_out(
    world: World,
) -> None:
    """A missing scope falls back to the type's default, wider than the admin's ``own``."""
    world.portal.access.register_resource(ResourceType("tickets", view="tickets.view"))
    customer = _customer(world)
    admin = _admin(world, customer, {"tickets.view"}, scopes={"tickets": "own"})
    silent = world.profile(capabilities={"tickets.view"})  # no scope for tickets: customer
    with pytest.raises(PermissionDenied, match="tickets per customer"):
        _add(world, admin, customer, profile=silent)
    narrow = world.profile(capabilities={"tickets.view"}, scopes={"tickets": "own"})
    assert _add(world, admin, customer, profile=narrow).profile_id == narrow.id


def test_an_admin_that_sees_no_records_of_a_type_gives_none(world: World) -> None:
    """Location scope without grants shows an admin nothing: the login may not see more."""
    world.portal.access.register_resource(
        ResourceType("orders", view="orders.view", location_field="site_id")
    )
    customer = _customer(world)
    site = world.location(customer)
    admin = _admin(world, customer, {"orders.view"}, scopes={"orders": "location"})
    same = world.profile(capabilities={"orders.view"}, scopes={"orders": "location"})
    with pytest.raises(PermissionDenied, match=r"orders \(you see none\)"):
        _add(world, admin, customer, profile=same, location_grants={site: "read"})


def test_every_login_an_admin_makes_or_changes_is_an_extra_account(world: World) -> None:
    """Anything but an extra account would outlive the main account, and so the admin."""
    customer = _customer(world)
    admin = _admin(world, customer, {"orders.view"})
    reader = world.profile(capabilities={"orders.view"})
    with pytest.raises(PermissionDenied, match="a member login"):
        _add(world, admin, customer, profile=reader, kind="member")
    extra = _add(world, admin, customer, profile=reader)
    assert extra.kind.value == "extra"
    with pytest.raises(PermissionDenied, match="a member login"):
        world.portal.memberships.update(admin, extra, kind="member")
    assert world.portal.memberships.get(world.staff, extra.id).kind.value == "extra"


def test_hidden_prices_do_not_let_an_admin_hand_out_prices(world: World) -> None:
    """Effective and written rights both count: an admin whose customer hides prices and whose
    profile lacks prices.view cannot give a profile that would show them once prices are on."""
    customer = _customer(world, settings={"show_prices": False})
    admin = _admin(world, customer, {"orders.view"})
    priced = world.profile(capabilities={"orders.view", "prices.view"})
    with pytest.raises(PermissionDenied, match=r"prices\.view"):
        _add(world, admin, customer, profile=priced)


# -- 2. Credential actions on a richer login are refused ------------------------------------
def test_an_orders_admin_cannot_take_over_the_finance_login(world: World) -> None:
    """Item 2: set a password, invite, deactivate — none on a login richer than the admin."""
    p = world.portal
    customer = _customer(world)
    admin = _admin(world, customer, {"orders.view"})
    finance = world.membership(
        customer=customer,
        kind="extra",
        profile=world.profile(capabilities={"orders.view", "invoices.view"}),
    )
    p.credentials.set_password(world.system, finance, GOOD, must_change=False)
    account_before = p.accounts.get(world.staff, finance.account_id)
    for attempt in (
        lambda: p.credentials.set_password(admin, finance),
        lambda: p.credentials.set_password(admin, finance, "the admins own choice 1"),
        lambda: p.credentials.invite(admin, finance),
        lambda: p.memberships.deactivate(admin, finance),
        lambda: p.memberships.update(admin, finance, subscriptions=["invoices"]),
    ):
        with pytest.raises(PermissionDenied, match=r"invoices\.view"):
            attempt()
    assert p.accounts.get(world.staff, finance.account_id) == account_before
    assert p.memberships.get(world.staff, finance.id) == finance
    assert len(_refused(world)) == 5


def test_a_login_made_by_staff_to_outlive_the_main_account_is_the_staffs(world: World) -> None:
    """A stand-alone member login works without the main account: it is not the admin's."""
    customer = _customer(world)
    admin = _admin(world, customer, {"orders.view"})
    standalone = world.membership(
        customer=customer, kind="member", profile=world.profile(capabilities={"orders.view"})
    )
    with pytest.raises(PermissionDenied, match="a member login"):
        world.portal.memberships.deactivate(admin, standalone)


# -- 3. Adding a login reveals nothing about the rest of the vendor -------------------------
def _shape(m: Membership) -> tuple[Any, ...]:
    """What the admin's answer holds, less the fresh ids and times every answer differs in."""
    return (
        type(m),
        m.status,
        m.kind,
        m.profile_id,
        m.location_grants,
        m.customer_grants,
        m.version,
    )


def test_adding_a_known_or_unknown_address_answers_the_same(world: World) -> None:
    p = world.portal
    here, elsewhere = _customer(world), _customer(world)
    reader = world.profile(capabilities={"orders.view"})
    known = world.membership(
        customer=elsewhere,
        account=world.account(username="karin", email="karin@elsewhere.example"),
        profile=reader,
    )
    p.credentials.set_password(world.system, known, GOOD, must_change=False)
    admin = _admin(world, here, {"orders.view"})
    fresh = _add(world, admin, here, "new@here.example", profile=reader, username="karin")
    joined = _add(world, admin, here, "karin@elsewhere.example", profile=reader, username="k")
    assert _shape(fresh) == _shape(joined)
    # Both get an invitation; the admin can resend either, and set a password for neither.
    for login in (fresh, joined):
        p.credentials.invite(admin, login)
    refusals = []
    for login in (fresh, joined):
        with pytest.raises(PermissionDenied) as caught:
            p.credentials.set_password(admin, login)
        refusals.append(str(caught.value))
    assert refusals[0] == refusals[1]
    # The taken username went to the new person without a word about whose it was.
    new_account = p.accounts.get(world.staff, fresh.account_id)
    assert new_account.username != "karin" and new_account.username.startswith("karin")
    assert joined.account_id == known.account_id  # the known person joins with its own login
    added = [e for e in p.audit.list(world.staff) if e.action == "login_added"]
    assert len(added) == 2
    created = [e for e in p.audit.list(world.staff) if e.action == "account_created"]
    assert f"account:{fresh.account_id}" in [e.target for e in created]


def test_a_known_person_joins_with_the_password_it_has(world: World) -> None:
    """django-organizations' "invite existing users": the owner accepts with its own password,
    which stays as it was; a wrong one is a failed log-in and leaves the link usable."""
    p = world.portal
    here, elsewhere = _customer(world), _customer(world)
    reader = world.profile(capabilities={"orders.view"})
    known = world.membership(
        customer=elsewhere,
        account=world.account(username="karin", email="karin@elsewhere.example"),
        profile=reader,
    )
    p.credentials.set_password(world.system, known, GOOD, must_change=False)
    hash_before = p.accounts.get(world.staff, known.account_id).password_hash
    admin = _admin(world, here, {"orders.view"})
    joined = _add(world, admin, here, "Karin@Elsewhere.example", profile=reader)
    mail = p.mailer.outbox[-1]  # type: ignore[attr-defined]
    assert mail["To"] == "karin@elsewhere.example"
    assert "karin" in mail.get_body(("plain",)).get_content()  # the username to use
    token = _last_token(p)
    with pytest.raises(AuthenticationFailed):
        p.credentials.accept_invitation(world.vendor, token, "not my password at all")
    p.credentials.accept_invitation(world.vendor, token, GOOD)
    assert p.accounts.get(world.staff, known.account_id).password_hash == hash_before
    assert p.memberships.get(world.staff, joined.id).status.value == "active"
    login = p.auth.authenticate(world.vendor, "karin", GOOD, customer=here)
    assert login.actor.membership_id == joined.id
    with pytest.raises(InvalidToken):  # used once
        p.credentials.accept_invitation(world.vendor, token, GOOD)


def test_only_a_login_at_the_same_customer_is_a_conflict(world: World) -> None:
    """The one clash the admin is told of is one it can see: a login of its own customer."""
    customer = _customer(world)
    admin = _admin(world, customer, {"orders.view"})
    reader = world.profile(capabilities={"orders.view"})
    _add(world, admin, customer, "twice@customer.example", profile=reader)
    with pytest.raises(Conflict):
        _add(world, admin, customer, "twice@customer.example", profile=reader)


def test_customer_admins_cannot_create_accounts_directly(world: World) -> None:
    """accounts.create answers Conflict for a taken address: a vendor-wide oracle, so it is
    staff's only; every account creation is audited."""
    customer = _customer(world)
    admin = _admin(world, customer, {"orders.view"})
    with pytest.raises(PermissionDenied, match=r"logins\.add"):
        world.portal.accounts.create(admin, username="probe", email="probe@else.example")
    made = world.portal.accounts.create(world.staff, username="ok", email="ok@customer.example")
    assert f"account:{made.id}" in [
        e.target for e in world.portal.audit.list(world.staff, action="account_created")
    ]


# -- 6. Switching the main account off and on revives nothing -------------------------------
@pytest.mark.parametrize("how", ["membership", "account"])
def test_switching_the_main_account_off_and_on_revives_no_session_or_link(
    world: World, how: str
) -> None:
    p = world.portal
    customer = world.customer()
    main = world.membership(customer=customer, kind="main")
    reader = world.profile(capabilities={"orders.view"})
    extra = world.membership(customer=customer, kind="extra", profile=reader)
    p.credentials.set_password(world.system, extra, GOOD, must_change=False)
    invited = world.membership(customer=customer, kind="extra", profile=reader, status="invited")
    p.credentials.invite(world.staff, invited)
    link = _last_token(p)
    username = p.accounts.get(world.staff, extra.account_id).username
    session = p.auth.authenticate(world.vendor, username, GOOD).session
    if how == "membership":
        p.memberships.deactivate(world.staff, main.id)
        p.memberships.activate(world.staff, main.id)
    else:
        p.accounts.deactivate(world.staff, main.account_id)
        p.accounts.reactivate(world.staff, main.account_id)
    with pytest.raises(AuthenticationFailed):
        p.auth.validate_session(world.vendor, session)
    assert not p.credentials.link_works(world.vendor, "invite", link)
    # The logins themselves work again: a new log-in, a new invitation.
    assert p.auth.authenticate(world.vendor, username, GOOD).actor.membership_id == extra.id
    p.credentials.invite(world.staff, invited)
    assert p.credentials.link_works(world.vendor, "invite", _last_token(p))


def test_accepting_one_invitation_to_join_switches_on_that_customer_only(world: World) -> None:
    """Consent is per customer: a person asked to join two customers who accepts the second
    link has said yes to that one, not to the other (whose admin may resend)."""
    p = world.portal
    first, second, home = _customer(world), _customer(world), _customer(world)
    reader = world.profile(capabilities={"orders.view"})
    known = world.membership(
        customer=home,
        account=world.account(username="karin", email="karin@home.example"),
        profile=reader,
    )
    p.credentials.set_password(world.system, known, GOOD, must_change=False)
    asked_first = _add(
        world, _admin(world, first, {"orders.view"}), first, "karin@home.example", profile=reader
    )
    asked_second = _add(
        world, _admin(world, second, {"orders.view"}), second, "karin@home.example", profile=reader
    )
    p.credentials.accept_invitation(world.vendor, _last_token(p), GOOD)
    assert p.memberships.get(world.staff, asked_second.id).status.value == "active"
    assert p.memberships.get(world.staff, asked_first.id).status.value == "invited"
