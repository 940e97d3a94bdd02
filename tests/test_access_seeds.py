"""Each product page's access levels, built from the presets, behave as the page describes.

Runs on every backend: the access context reads its facts from storage.
"""

from __future__ import annotations

import io
from typing import Any
from uuid import UUID, uuid4

import pytest

from portalkit import Condition, PermissionDenied, ResourceType, presets
from portalkit.testing import World


def _order(
    customer: Any,
    *,
    location: UUID | None = None,
    owner: UUID | None = None,
    status: str = "planned",
) -> dict[str, Any]:
    return {
        "id": str(uuid4()),
        "customer_id": customer.id,
        "location_id": location,
        "owner_id": owner,
        "status": status,
        "amount": "412.50",
        "carrier": "Van Dijk B.V.",
        "lines": [{"product": "Pallet", "amount": "12.00"}],
    }


@pytest.fixture
def orders(world: World) -> ResourceType:
    return world.portal.access.register_resource(
        ResourceType(
            "orders",
            view="orders.view",
            location_field="location_id",
            owner_field="owner_id",
            sensitive={"amount": "prices.view", "carrier": "carrier.view"},
        )
    )


def _member(world: World, spec: presets.ProfileSpec, customer: Any = None, **fields: Any) -> Any:
    profile = world.profile(
        name=f"{spec.name} {uuid4().hex[:6]}", capabilities=spec.capabilities, scopes=spec.scopes
    )
    membership = world.membership(customer=customer, profile=profile, **fields)
    return world.portal.access.context(world.member(membership)), membership


# -- EasyTrans: five levels -----------------------------------------------------------------
def test_transport_no_access_sees_nothing_even_with_credentials(world: World, orders: Any) -> None:
    ctx, m = _member(world, presets.TRANSPORT_NO_ACCESS)
    customer = world.portal.customers.get(world.staff, m.customer_id)
    assert not ctx.can("orders.view")
    assert ctx.filter([_order(customer)], "orders") == []
    assert "does not grant orders.view" in ctx.explain("orders.view")


def test_transport_full_access_sees_rates_invoices_and_exports(world: World, orders: Any) -> None:
    ctx, m = _member(world, presets.TRANSPORT_FULL)
    customer = world.portal.customers.get(world.staff, m.customer_id)
    record = _order(customer)
    assert ctx.can("orders.create") and ctx.can("invoices.view") and ctx.can("export")
    shown = ctx.redact(record, "orders")
    assert shown["amount"] == "412.50" and shown["lines"][0]["amount"] == "12.00"
    assert "carrier" not in shown  # only the carrier-view level shows the carrier
    out = io.StringIO()
    assert ctx.export([record], "orders", out) == 1
    assert "412.50" in out.getvalue()


def test_transport_limited_access_never_sees_rates(world: World, orders: Any) -> None:
    ctx, m = _member(world, presets.TRANSPORT_LIMITED)
    customer = world.portal.customers.get(world.staff, m.customer_id)
    record = _order(customer)
    assert ctx.can("orders.view") and ctx.can("orders.create")
    assert not ctx.can("invoices.view") and not ctx.can("prices.view")
    shown = ctx.redact(record, "orders")
    assert "amount" not in shown and "amount" not in shown["lines"][0]  # absent, not blank
    assert "412.50" not in repr(shown) and "12.00" not in repr(shown)
    with pytest.raises(PermissionDenied):
        ctx.export([record], "orders", io.StringIO())


def test_transport_full_with_carrier_view_shows_the_carrier(world: World, orders: Any) -> None:
    ctx, m = _member(world, presets.TRANSPORT_FULL_WITH_CARRIER)
    customer = world.portal.customers.get(world.staff, m.customer_id)
    assert ctx.redact(_order(customer), "orders")["carrier"] == "Van Dijk B.V."


def test_transport_read_only_sees_orders_without_rates_and_places_none(
    world: World, orders: Any
) -> None:
    ctx, m = _member(world, presets.TRANSPORT_READ_ONLY)
    customer = world.portal.customers.get(world.staff, m.customer_id)
    record = _order(customer)
    assert ctx.filter([record], "orders") == [record]
    assert not ctx.can("orders.create")
    with pytest.raises(PermissionDenied):
        ctx.require("orders.create")
    assert "amount" not in ctx.redact(record, "orders")


def test_prices_switched_off_for_a_customer_hide_them_from_everyone(
    world: World, orders: Any
) -> None:
    customer = world.customer(settings={"show_prices": False})
    ctx, _ = _member(world, presets.TRANSPORT_FULL, customer)
    assert not ctx.can("prices.view")
    assert "amount" not in ctx.redact(_order(customer), "orders")
    assert "prices switched off" in ctx.explain("prices.view")


# -- Klipboard: checkboxes, completed jobs, only its own client -----------------------------
def test_field_service_member_downloads_only_completed_jobs(world: World) -> None:
    world.portal.access.register_resource(
        ResourceType(
            "jobs",
            view="jobs.view_completed",
            conditions={"jobs.download": Condition("status", {"completed"})},
        )
    )
    ctx, m = _member(world, presets.field_service(completed_jobs=True, work_requests=True))
    customer = world.portal.customers.get(world.staff, m.customer_id)
    done = {"customer_id": customer.id, "status": "completed"}
    open_job = {"customer_id": customer.id, "status": "scheduled"}
    assert ctx.allows("jobs.download", done, "jobs")
    assert not ctx.allows("jobs.download", open_job, "jobs")
    assert ctx.filter([done, open_job], "jobs", capability="jobs.download") == [done]
    assert "status must be one of completed" in ctx.explain("jobs.download", open_job, "jobs")
    assert ctx.can("work_requests.create") and not ctx.can("invoices.view")


def test_a_portal_member_only_ever_sees_its_own_client(world: World, orders: Any) -> None:
    ctx, m = _member(world, presets.TRANSPORT_FULL)
    own = world.portal.customers.get(world.staff, m.customer_id)
    neighbour = world.customer()
    mine, theirs = _order(own), _order(neighbour)
    assert ctx.filter([mine, theirs], "orders") == [mine]
    assert not ctx.allows("orders.view", theirs, "orders")
    assert "outside the member's reach" in ctx.explain("orders.view", theirs, "orders")


# -- DoIT!: main users see all company tickets, users their own -----------------------------
def test_service_desk_main_user_and_user(world: World) -> None:
    world.portal.access.register_resource(
        ResourceType("tickets", view="tickets.view", owner_field="created_by")
    )
    customer = world.customer()
    main_ctx, main = _member(world, presets.SERVICE_DESK_MAIN_USER, customer)
    user_ctx, user = _member(world, presets.SERVICE_DESK_USER, customer)
    by_user = {"customer_id": customer.id, "created_by": user.account_id}
    by_main = {"customer_id": customer.id, "created_by": main.account_id}
    assert main_ctx.filter([by_user, by_main], "tickets") == [by_user, by_main]
    assert user_ctx.filter([by_user, by_main], "tickets") == [by_user]
    assert user_ctx.can("tickets.create") and not user_ctx.can("shop.order")


# -- PestScan: main and extra accounts, locations, umbrella ---------------------------------
@pytest.fixture
def logbook(world: World) -> ResourceType:
    return world.portal.access.register_resource(
        ResourceType("logbook", view="logbook.view", location_field="location_id")
    )


def test_extra_accounts_stop_when_the_main_account_is_disabled(world: World, logbook: Any) -> None:
    p = world.portal
    customer = world.customer()
    _, main = _member(world, presets.PEST_CONTROL_MAIN_ACCOUNT, customer, kind="main")
    site = world.location(customer)
    extra_ctx, extra = _member(
        world,
        presets.PEST_CONTROL_EXTRA_ACCOUNT,
        customer,
        kind="extra",
        location_grants={site: "read"},
    )
    assert extra_ctx.can("logbook.view")
    p.memberships.deactivate(world.staff, main)
    off = p.access.context(world.member(extra))
    assert not off.can("logbook.view")
    assert "main account" in off.explain("logbook.view")
    p.memberships.activate(world.staff, main.id)
    assert p.access.context(world.member(extra)).can("logbook.view")  # back without touching it
    p.accounts.deactivate(world.staff, main.account_id)  # the main login's account counts too
    assert not p.access.context(world.member(extra)).can("logbook.view")


def test_location_rights_write_implies_read(world: World, logbook: Any) -> None:
    customer = world.customer()
    _member(world, presets.PEST_CONTROL_MAIN_ACCOUNT, customer, kind="main")
    kitchen, cellar, attic = (world.location(customer) for _ in range(3))
    ctx, _ = _member(
        world,
        presets.PEST_CONTROL_EXTRA_ACCOUNT,
        customer,
        kind="extra",
        location_grants={kitchen: "read", cellar: "write"},
    )
    entries = [
        {"customer_id": customer.id, "location_id": place.id} for place in (kitchen, cellar, attic)
    ]
    assert ctx.filter(entries, "logbook") == entries[:2]
    assert ctx.allows("logbook.write", entries[1], "logbook")
    assert not ctx.allows("logbook.write", entries[0], "logbook")  # read only at the kitchen
    assert ctx.allows("logbook.write", location=cellar.id)
    assert not ctx.allows("logbook.write", location=attic.id)
    assert "no write right" in ctx.explain("logbook.write", location=kitchen.id)


def test_a_deactivated_location_stops_counting(world: World, logbook: Any) -> None:
    customer = world.customer()
    _member(world, presets.PEST_CONTROL_MAIN_ACCOUNT, customer, kind="main")
    site = world.location(customer)
    ctx, extra = _member(
        world,
        presets.PEST_CONTROL_EXTRA_ACCOUNT,
        customer,
        kind="extra",
        location_grants={site: "write"},
    )
    entry = {"customer_id": customer.id, "location_id": site.id}
    assert ctx.filter([entry], "logbook") == [entry]
    world.portal.locations.deactivate(world.staff, site)
    assert world.portal.access.context(world.member(extra)).filter([entry], "logbook") == []


def test_umbrella_main_sees_the_tree_and_extras_see_granted_customers(
    world: World, logbook: Any
) -> None:
    umbrella = world.customer(name="Supermarkt Hoofdaccount")
    north, south = world.customer(parent=umbrella), world.customer(parent=umbrella)
    deep = world.customer(parent=north)
    outsider = world.customer()
    main_ctx, _ = _member(world, presets.PEST_CONTROL_MAIN_ACCOUNT, umbrella, kind="main")
    extra_spec = presets.ProfileSpec(
        "Umbrella extra", frozenset({"logbook.view"}), {"logbook": presets.Scope.CUSTOMER}
    )
    extra_ctx, _ = _member(world, extra_spec, umbrella, kind="extra", customer_grants=[south])
    entries = {
        c.code: {"customer_id": c.id, "location_id": None}
        for c in (umbrella, north, south, deep, outsider)
    }
    seen = [e for e in entries.values() if e in main_ctx.filter(entries.values(), "logbook")]
    assert [e["customer_id"] for e in seen] == [umbrella.id, north.id, south.id, deep.id]
    extra_seen = extra_ctx.filter(entries.values(), "logbook")
    assert [e["customer_id"] for e in extra_seen] == [umbrella.id, south.id]
    # A child switched off drops out of the tree, with everything below it.
    world.portal.customers.deactivate(world.staff, north)
    again = world.portal.access.context(main_ctx.actor).filter(entries.values(), "logbook")
    assert [e["customer_id"] for e in again] == [umbrella.id, south.id]


def test_a_child_customer_never_sees_its_parent_or_siblings(world: World, logbook: Any) -> None:
    umbrella = world.customer()
    child, sibling = world.customer(parent=umbrella), world.customer(parent=umbrella)
    ctx, _ = _member(world, presets.PEST_CONTROL_MAIN_ACCOUNT, child, kind="main")
    entries = [{"customer_id": c.id, "location_id": None} for c in (umbrella, child, sibling)]
    assert ctx.filter(entries, "logbook") == [entries[1]]
