"""Delegated administration: a customer's own admin gives out logins, never beyond its rights."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit import NotFound, PermissionDenied, Portal, PortalSettings, presets
from portalkit.testing import World, memory_portal

GRANTABLE = ["orders.view", "orders.create", "invoices.view", "prices.view", "export"]


def _mailing(portal: Portal) -> Portal:
    """Invitations are secret mail: the portal needs a mail key and a base URL."""
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
    )
    return portal


@pytest.fixture
def world(portal: Portal) -> World:
    """One vendor with a staff actor, on each backend, able to mail invitations."""
    return World(_mailing(portal))


def _admin(world: World, customer: Any, capabilities: set[str], **fields: Any) -> Any:
    profile = world.profile(
        capabilities={"members.manage", *capabilities}, scopes=fields.pop("scopes", {})
    )
    membership = world.membership(customer=customer, profile=profile, **fields)
    return world.member(membership), membership


def _customer(world: World, **fields: Any) -> Any:
    """A customer with its main account (the extras its admins give out work under it)."""
    customer = world.customer(**fields)
    world.membership(customer=customer, kind="main")
    return customer


def _new_login(world: World, admin: Any, customer: Any, **fields: Any) -> Any:
    """A login the admin adds (one call), then switched on by staff for the checks."""
    p = world.portal
    n = world._next()
    login = p.logins.add(
        admin,
        customer=customer,
        email=f"x{n}@customer.example",
        first_name="New",
        last_name="Login",
        **fields,
    )
    return p.memberships.activate(world.staff, login)


def test_a_customer_admin_gives_out_a_login_within_its_rights(world: World) -> None:
    customer = _customer(world)
    admin, _ = _admin(world, customer, {"orders.view", "invoices.view"})
    reader = world.profile(capabilities={"orders.view"})
    login = _new_login(world, admin, customer, profile=reader)
    assert login.customer_id == customer.id
    assert login.kind.value == "extra"  # what a customer admin gives out works under the main
    assert world.portal.access.context(world.member(login)).can("orders.view")


def test_it_cannot_grant_a_capability_it_lacks(world: World) -> None:
    customer = _customer(world)
    admin, _ = _admin(world, customer, {"orders.view"})
    rich = world.profile(capabilities={"orders.view", "prices.view"})
    before = world.portal.memberships.list(world.staff, customer=customer)
    with pytest.raises(PermissionDenied, match=r"prices\.view"):
        _new_login(world, admin, customer, profile=rich)
    after = world.portal.memberships.list(world.staff, customer=customer)
    assert after == before


def test_it_cannot_grant_a_wider_scope(world: World) -> None:
    customer = _customer(world)
    admin, _ = _admin(world, customer, {"orders.view"}, scopes={"orders": "location"})
    wide = world.profile(capabilities={"orders.view"}, scopes={"orders": "customer"})
    with pytest.raises(PermissionDenied, match="orders per customer"):
        _new_login(world, admin, customer, profile=wide)


def test_it_cannot_grant_a_location_or_write_right_it_lacks(world: World) -> None:
    customer = world.customer()
    world.membership(customer=customer, kind="main")
    kitchen, cellar = world.location(customer), world.location(customer)
    admin, _ = _admin(
        world, customer, {"logbook.view"}, kind="extra", location_grants={kitchen: "read"}
    )
    with pytest.raises(PermissionDenied, match="location"):
        _new_login(world, admin, customer, location_grants={cellar: "read"})
    with pytest.raises(PermissionDenied, match="write at location"):
        _new_login(world, admin, customer, location_grants={kitchen: "write"})
    fine = _new_login(world, admin, customer, location_grants={kitchen: "read"})
    assert [g.location_id for g in fine.location_grants] == [kitchen.id]


def test_it_stays_inside_its_customers(world: World) -> None:
    umbrella = _customer(world)
    child, neighbour = _customer(world, parent=umbrella), _customer(world)
    admin, _ = _admin(world, umbrella, {"orders.view"})  # customer scope: no tree
    with pytest.raises(NotFound):
        _new_login(world, admin, neighbour)
    with pytest.raises(NotFound):
        _new_login(world, admin, child)
    with pytest.raises(PermissionDenied, match="customer"):
        _new_login(world, admin, umbrella, customer_grants=[child])


def test_an_umbrella_main_account_manages_the_extras_of_its_tree(world: World) -> None:
    umbrella = world.customer()
    branch = world.customer(parent=umbrella)
    main_profile = world.portal.profiles.create_from(world.staff, presets.PEST_CONTROL_MAIN_ACCOUNT)
    main = world.membership(customer=umbrella, kind="main", profile=main_profile)
    world.membership(customer=branch, kind="main")
    admin = world.member(main)
    extra_profile = world.profile(capabilities={"logbook.view"})
    login = _new_login(world, admin, branch, profile=extra_profile)
    assert login.customer_id == branch.id
    world.portal.memberships.deactivate(admin, login)
    assert world.portal.access.context(world.member(login)).denied == "the membership is disabled"


def test_it_leaves_main_accounts_other_admins_and_itself_alone(world: World) -> None:
    customer = world.customer()
    main = world.membership(customer=customer, kind="main")
    admin, own = _admin(world, customer, {"orders.view"})
    _, other_admin = _admin(world, customer, {"orders.view"})
    p = world.portal
    with pytest.raises(PermissionDenied, match="main account"):
        p.memberships.deactivate(admin, main)
    with pytest.raises(PermissionDenied, match="another administrator"):
        p.memberships.update(admin, other_admin, subscriptions=["jobs"])
    with pytest.raises(PermissionDenied, match="own login"):
        p.memberships.update(admin, own, subscriptions=["jobs"])
    with pytest.raises(PermissionDenied, match="main account"):
        _new_login(world, admin, customer, kind="main")
    with pytest.raises(PermissionDenied):
        p.accounts.update(admin, main.account_id, email="takeover@evil.example")
    assert p.memberships.get(world.staff, main.id) == main


def test_without_members_manage_a_member_gives_out_nothing(world: World) -> None:
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    member = world.member(membership)
    with pytest.raises(PermissionDenied, match=r"members\.manage"):
        world.portal.logins.add(
            member,
            customer=membership.customer_id,
            email="s@customer.example",
            first_name="Sneaky",
            last_name="Login",
        )
    with pytest.raises(PermissionDenied):
        world.portal.accounts.create(member, username="sneaky", email="s@customer.example")


@settings(max_examples=40, deadline=None)
@given(
    held=st.sets(st.sampled_from(GRANTABLE)),
    asked=st.sets(st.sampled_from(GRANTABLE)),
    inside=st.booleans(),
)
def test_delegation_succeeds_exactly_when_asked_is_held_and_target_in_reach(
    held: set[str], asked: set[str], inside: bool
) -> None:
    world = World(_mailing(memory_portal()))
    customer, neighbour = _customer(world), _customer(world)
    admin, _ = _admin(world, customer, held)
    target = customer if inside else neighbour
    profile = world.profile(capabilities=asked)
    try:
        _new_login(world, admin, target, profile=profile)
        succeeded = True
    except (PermissionDenied, NotFound):
        succeeded = False
    assert succeeded == (asked <= held and inside)
    stored = world.portal.memberships.list(world.staff, customer=target)
    assert len(stored) == (2 if inside else 1) + succeeded
