"""Who may do what before access control arrives: deny by default."""

from __future__ import annotations

import uuid

import pytest

from portalkit import Member, NotFound, PermissionDenied, Staff, System, ValidationError
from portalkit.testing import World


def test_a_member_reads_its_own_customer_and_nothing_else(world: World) -> None:
    p = world.portal
    own = world.membership(profile=world.profile(capabilities={"orders.view"}))
    member = world.member(own)
    neighbour = world.customer()
    assert p.customers.get(member, own.customer_id).id == own.customer_id
    assert [c.id for c in p.customers.list(member)] == [own.customer_id]
    with pytest.raises(NotFound):
        p.customers.get(member, neighbour.id)
    with pytest.raises(NotFound):
        p.customers.get_by_code(member, neighbour.code)
    with pytest.raises(NotFound):
        p.locations.get(member, world.location(neighbour).id)
    with pytest.raises(NotFound):
        p.contacts.get(member, world.contact(neighbour).id)
    with pytest.raises(NotFound):
        p.memberships.list(member, customer=neighbour)
    with pytest.raises(NotFound):
        p.accounts.get(member, world.account().id)
    assert p.accounts.get(member, own.account_id).id == own.account_id


def test_a_member_changes_nothing(world: World) -> None:
    p = world.portal
    own = world.membership(profile=world.profile(capabilities={"orders.view"}))
    member = world.member(own)
    customer = p.customers.get(world.staff, own.customer_id)
    attempts = [
        lambda: p.customers.create(member, code="MINE", name="Mine"),
        lambda: p.customers.update(member, customer, name="Renamed"),
        lambda: p.customers.deactivate(member, customer),
        lambda: p.locations.create(member, customer=customer, name="Shed"),
        lambda: p.contacts.create(member, customer=customer, first_name="A", last_name="B"),
        lambda: p.accounts.create(member, username="sneaky", email="sneaky@example.com"),
        lambda: p.memberships.update(member, own, subscriptions=["invoices"]),
        lambda: p.memberships.activate(member, own),
        lambda: p.profiles.create(member, name="Everything", capabilities={"members.manage"}),
        lambda: p.accounts.list(member),
        lambda: p.profiles.list(member),  # a vendor's profiles are its own business
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    assert p.customers.get(world.staff, customer.id) == customer
    assert p.memberships.get(world.staff, own.id) == own


def test_only_the_platform_manages_vendors(portal_memory: World) -> None:
    p = portal_memory.portal
    with pytest.raises(PermissionDenied):
        p.vendors.create(portal_memory.staff, code="mine", name="Mine")
    with pytest.raises(PermissionDenied):
        p.vendors.create(System(vendor_id=portal_memory.vendor.id), code="mine", name="Mine")
    made = p.vendors.create(System(), code="new-vendor", name="New vendor")
    assert p.vendors.get_by_code(System(), "NEW-VENDOR") == made
    assert made in p.vendors.list(System())
    assert p.vendors.list(portal_memory.staff) == [portal_memory.vendor]
    with pytest.raises(NotFound):
        p.vendors.get(portal_memory.staff, made.id)
    with pytest.raises(PermissionDenied):
        p.customers.create(System(), code="X", name="No vendor")


def test_vendor_bound_system_actors_administer_their_vendor(portal_memory: World) -> None:
    system = System(vendor_id=portal_memory.vendor.id, reason="nightly ERP import")
    made = portal_memory.portal.customers.create(system, code="ERP1", name="From the ERP")
    assert made.vendor_id == portal_memory.vendor.id


def test_anything_else_is_not_an_actor(portal_memory: World) -> None:
    with pytest.raises(ValidationError) as caught:
        portal_memory.portal.customers.list("admin")  # type: ignore[arg-type]
    assert caught.value.field == "actor"


def test_a_forged_member_of_another_vendor_sees_nothing(portal_memory: World) -> None:
    own = portal_memory.membership()
    forged = Member(
        vendor_id=uuid.uuid4(),
        account_id=own.account_id,
        membership_id=own.id,
        customer_id=own.customer_id,
    )
    with pytest.raises((NotFound, PermissionDenied)):  # refused either way, nothing revealed
        portal_memory.portal.customers.get(forged, own.customer_id)
    staff_elsewhere = Staff(vendor_id=uuid.uuid4(), user_id="x")
    assert portal_memory.portal.customers.list(staff_elsewhere) == []


@pytest.fixture
def portal_memory() -> World:
    return World()


def test_a_member_whose_login_stopped_working_reads_nothing(world: World) -> None:
    p = world.portal
    own = world.membership(profile=world.profile(capabilities={"orders.view"}))
    member = world.member(own)
    assert p.customers.get(member, own.customer_id).id == own.customer_id
    p.memberships.deactivate(world.staff, own)
    with pytest.raises(PermissionDenied, match="disabled"):
        p.customers.get(member, own.customer_id)
    with pytest.raises(PermissionDenied):
        p.memberships.list(member, customer=own.customer_id)
    with pytest.raises(PermissionDenied):
        p.accounts.get(member, own.account_id)
