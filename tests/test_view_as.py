"""View as customer: vendor staff see exactly what a member sees, read-only, time-boxed, audited."""

from __future__ import annotations

from typing import Any

import pytest

from portalkit import (
    FixedClock,
    NotFound,
    PermissionDenied,
    ResourceType,
    Staff,
    ValidationError,
    presets,
)
from portalkit.testing import World


@pytest.fixture
def setup(world: World) -> tuple[World, Staff, Any, list[dict[str, Any]]]:
    world.portal.access.register_resource(
        ResourceType("orders", view="orders.view", sensitive={"amount": "prices.view"})
    )
    customer, other = world.customer(), world.customer()
    profile = world.portal.profiles.create_from(world.staff, presets.TRANSPORT_LIMITED)
    membership = world.membership(customer=customer, profile=profile)
    helpdesk = Staff(
        vendor_id=world.vendor.id, user_id="helpdesk-7", permissions=frozenset({"impersonate"})
    )
    rows = [{"customer_id": customer.id, "amount": "10"}, {"customer_id": other.id, "amount": "20"}]
    return world, helpdesk, membership, rows


def test_staff_see_exactly_what_the_member_sees(setup: Any) -> None:
    world, helpdesk, membership, rows = setup
    p = world.portal
    as_member = p.access.view_as(helpdesk, membership, reason="customer reports missing orders")
    seen = p.access.context(as_member)
    own = p.access.context(world.member(membership))
    assert seen.filter(rows, "orders") == own.filter(rows, "orders") == rows[:1]
    assert [seen.redact(r, "orders") for r in seen.filter(rows, "orders")] == [
        {"customer_id": rows[0]["customer_id"]}
    ]


def test_the_view_is_read_only_unless_writes_are_allowed(setup: Any) -> None:
    world, helpdesk, membership, _ = setup
    p = world.portal
    read_only = p.access.context(p.access.view_as(helpdesk, membership, reason="look"))
    assert read_only.can("orders.view") and not read_only.can("orders.create")
    writable = p.access.context(
        p.access.view_as(helpdesk, membership, reason="place the order for them", allow_writes=True)
    )
    assert writable.can("orders.create")


def test_logins_and_rights_never_change_through_the_view(world: World) -> None:
    customer = world.customer()
    admin_profile = world.portal.profiles.create_from(world.staff, presets.CUSTOMER_ADMIN)
    admin = world.membership(customer=customer, profile=admin_profile)
    helpdesk = Staff(vendor_id=world.vendor.id, user_id="h", permissions=frozenset({"impersonate"}))
    as_admin = world.portal.access.view_as(helpdesk, admin, reason="help", allow_writes=True)
    with pytest.raises(PermissionDenied, match="viewing the portal as a customer"):
        world.portal.accounts.create(as_admin, username="new", email="new@customer.example")
    with pytest.raises(PermissionDenied):
        world.portal.memberships.deactivate(as_admin, admin)


def test_only_staff_with_the_permission_may_view_as_an_active_member(setup: Any) -> None:
    world, helpdesk, membership, _ = setup
    p = world.portal
    with pytest.raises(PermissionDenied, match="impersonate"):
        p.access.view_as(world.staff, membership, reason="curious")
    with pytest.raises(PermissionDenied):
        p.access.view_as(world.member(membership), membership, reason="me")  # type: ignore[arg-type]
    p.memberships.deactivate(world.staff, membership)
    with pytest.raises(PermissionDenied, match="disabled"):
        p.access.view_as(helpdesk, membership, reason="why not")
    stranger = World(p)
    with pytest.raises(NotFound):
        p.access.view_as(
            Staff(
                vendor_id=stranger.vendor.id, user_id="x", permissions=frozenset({"impersonate"})
            ),
            membership,
            reason="r",
        )


def test_a_reason_and_a_sane_time_box_are_required(setup: Any) -> None:
    world, helpdesk, membership, _ = setup
    with pytest.raises(ValidationError) as caught:
        world.portal.access.view_as(helpdesk, membership, reason=" ", minutes=0)
    assert [p.field for p in caught.value.problems] == ["reason", "minutes"]


def test_the_view_ends_when_its_time_is_up(setup: Any) -> None:
    world, helpdesk, membership, _ = setup
    clock = world.portal.clock
    assert isinstance(clock, FixedClock)
    actor = world.portal.access.view_as(helpdesk, membership, reason="r", minutes=15)
    clock.advance(minutes=14, seconds=59)
    assert world.portal.access.context(actor).can("orders.view")
    clock.advance(seconds=1)
    ended = world.portal.access.context(actor)
    assert not ended.can("orders.view")
    assert ended.explain("orders.view") == "denied: the view-as-customer session has ended"


def test_start_and_end_are_audited_with_both_identities(setup: Any) -> None:
    world, helpdesk, membership, _ = setup
    p = world.portal
    actor = p.access.view_as(helpdesk, membership, reason="ticket 4711")
    p.access.end_view_as(actor)
    events = [
        e
        for e in p.audit.list(world.staff, customer=membership.customer_id)
        if e.action.startswith("impersonation")
    ]
    assert [e.action for e in events] == ["impersonation_start", "impersonation_end"]
    start = events[0]
    assert start.real_actor == "staff:helpdesk-7"
    assert start.effective_actor == f"member:{membership.id}"
    assert start.reason == "ticket 4711"
    assert start.details == {"minutes": 30, "allow_writes": False}
    assert start.at.tzinfo is not None
    assert p.audit.list(world.staff, action="impersonation_end") == events[1:]
    with pytest.raises(PermissionDenied):
        p.audit.list(world.member(membership))


def test_an_audit_event_rolls_back_with_its_transaction(setup: Any) -> None:
    world, helpdesk, membership, _ = setup

    class Abort(Exception):
        pass

    with pytest.raises(Abort), world.portal.transaction():
        world.portal.access.view_as(helpdesk, membership, reason="r")
        raise Abort
    assert world.portal.audit.list(world.staff, action="impersonation_start") == []


def test_every_mutating_service_refuses_a_read_only_view(world: World) -> None:
    p = world.portal
    customer = world.customer()
    admin_profile = p.profiles.create_from(world.staff, presets.CUSTOMER_ADMIN)
    admin = world.membership(customer=customer, profile=admin_profile)
    other = world.membership(customer=customer)
    helpdesk = Staff(vendor_id=world.vendor.id, user_id="h", permissions=frozenset({"impersonate"}))
    view = p.access.view_as(helpdesk, admin, reason="read-only check")
    attempts = [
        lambda: p.customers.create(view, code="NEW", name="New"),
        lambda: p.customers.update(view, customer, name="x"),
        lambda: p.customers.deactivate(view, customer),
        lambda: p.locations.create(view, customer=customer, name="x"),
        lambda: p.contacts.create(view, customer=customer, first_name="a", last_name="b"),
        lambda: p.accounts.create(view, username="v1", email="v1@customer.example"),
        lambda: p.accounts.deactivate(view, other.account_id),
        lambda: p.memberships.update(view, other, subscriptions=["jobs"]),
        lambda: p.memberships.deactivate(view, other),
        lambda: p.memberships.activate(view, other),
        lambda: p.profiles.create(view, name="x"),
        lambda: p.profiles.update(view, admin_profile, name="y"),
        lambda: p.vendors.create(view, code="v", name="v"),  # type: ignore[arg-type]
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    assert p.memberships.get(world.staff, other.id) == other


def test_the_member_can_be_told_in_its_own_language(world: World) -> None:
    from portalkit.mail import MemoryMailer

    mailer = MemoryMailer()
    world.portal.mailer = mailer
    customer = world.customer()
    profile = world.portal.profiles.create_from(world.staff, presets.TRANSPORT_LIMITED)
    membership = world.membership(
        customer=customer,
        profile=profile,
        account=world.account(email="jan@customer.example", language="nl"),
    )
    helpdesk = Staff(vendor_id=world.vendor.id, user_id="h", permissions=frozenset({"impersonate"}))
    world.portal.access.view_as(
        helpdesk, membership, reason="ticket 4711", minutes=20, notify_member=True
    )
    (mail,) = mailer.outbox
    assert mail["To"] == "jan@customer.example"
    assert mail["Subject"].startswith("Een medewerker van")
    assert "Opgegeven reden: ticket 4711" in mail.get_body(("plain",)).get_content()
    world.portal.access.view_as(helpdesk, membership, reason="quiet", minutes=5)
    assert len(mailer.outbox) == 1  # not told unless asked
