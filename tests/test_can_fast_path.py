"""``ctx.can(capability)`` is a prepared look-up and ``ctx.allows(...)`` prepares its record
check once per (resource, capability): neither may answer differently from the rules.

The reference here is built from the public rule pieces (the predicate of the resource type
and the location rule of write capabilities), not from the prepared checks themselves.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit import AccessContext, Condition, ResourceType, Staff, ValidationError
from portalkit.testing import World

CAPS = ("invoices.view", "jobs.download", "logbook.write", "prices.view", "orders.view")


@attrs.define
class Invoice:
    """An invoice as an object (the other records are dicts)."""

    customer_id: object
    site_id: object
    owner_id: object
    status: object


def _world() -> tuple[World, ResourceType, list[AccessContext], list[Any]]:
    world = World()
    kind = world.portal.access.register_resource(
        ResourceType(
            "invoices",
            view="invoices.view",
            location_field="site_id",
            owner_field="owner_id",
            conditions={"jobs.download": Condition("status", {"paid"})},
        )
    )
    umbrella = world.customer()
    child = world.customer(parent=umbrella)
    stranger = world.customer()
    sites = [world.location(umbrella), world.location(child), world.location(stranger)]
    contexts = []
    for scope in ("own", "location", "customer", "tree"):
        for grants in ({}, {sites[0]: "write"}, {sites[0]: "read", sites[1]: "write"}):
            profile = world.profile(capabilities=set(CAPS[:4]), scopes={"invoices": scope})
            m = world.membership(
                customer=umbrella, profile=profile, location_grants=grants, customer_grants=[child]
            )
            contexts.append(world.portal.access.context(world.member(m)))
    contexts.append(world.portal.access.context(world.staff))
    values = [umbrella.id, child.id, stranger.id, *(s.id for s in sites), None, uuid.uuid4()]
    values += [ctx.actor.account_id for ctx in contexts if hasattr(ctx.actor, "account_id")][:2]
    return world, kind, contexts, values


WORLD, KIND, CONTEXTS, VALUES = _world()


def _reference(ctx: AccessContext, capability: str, record: Any) -> bool:
    if not ctx.can(capability):
        return False
    if not ctx.predicate(KIND, capability).matches(record, KIND):
        return False
    capability_writes = WORLD.portal.access.capabilities[capability].writes
    if not capability_writes:
        return True
    try:
        place = record["site_id"] if isinstance(record, dict) else record.site_id
    except (KeyError, AttributeError):
        return False
    if place is None:
        return ctx.location_read is None
    return ctx.allows(capability, location=place)


value = st.sampled_from(VALUES) | st.just([1, 2]) | st.text(max_size=3)
fields = st.fixed_dictionaries(
    {},
    optional={"customer_id": value, "site_id": value, "owner_id": value, "status": value},
)


@st.composite
def records(draw: st.DrawFn) -> Any:
    found = draw(fields)
    if draw(st.booleans()):
        return found
    return Invoice(**{k: found.get(k) for k in ("customer_id", "site_id", "owner_id", "status")})


@settings(max_examples=400, deadline=None)
@given(
    ctx=st.sampled_from(CONTEXTS),
    capability=st.sampled_from(CAPS),
    batch=st.lists(records(), min_size=1, max_size=4),
)
def test_allows_answers_like_the_rules_first_time_and_every_time_after(
    ctx: AccessContext, capability: str, batch: list[Any]
) -> None:
    for record in batch * 2:  # the second round answers from the prepared checks
        expected = _reference(ctx, capability, record)
        assert ctx.allows(capability, record, "invoices") is expected
        assert ctx.allows(capability, record, KIND) is expected  # the object: never prepared


def test_can_answers_every_registered_capability_and_refuses_any_other() -> None:
    registered = WORLD.portal.access.capabilities
    for ctx in CONTEXTS:
        for name in registered:
            assert ctx.can(name) is (name in ctx.capabilities and not ctx.read_only)
        for unknown in ("invoice.view", "", "INVOICES.VIEW", "\udcff", "x" * 100_000):
            with pytest.raises(ValidationError) as caught:
                ctx.can(unknown)
            assert caught.value.code == "unknown"
            with pytest.raises(ValidationError):
                ctx.allows(unknown, {"customer_id": VALUES[0]}, "invoices")
            with pytest.raises(ValidationError):
                ctx.allows(unknown, {}, "invoices")  # asked again: still an error, not False


def test_can_takes_the_capability_alone() -> None:
    ctx = CONTEXTS[0]
    with pytest.raises(TypeError):
        ctx.can("invoices.view", {"customer_id": ctx.actor.customer_id}, "invoices")  # type: ignore[call-arg]


def test_a_read_only_view_can_nothing_that_writes() -> None:
    world = World()
    profile = world.profile(capabilities={"orders.view", "orders.create"})
    membership = world.membership(profile=profile)
    helpdesk = Staff(
        vendor_id=world.vendor.id, user_id="helpdesk", permissions=frozenset({"impersonate"})
    )
    viewer = world.portal.access.view_as(helpdesk, membership, reason="ticket 7")
    ctx = world.portal.access.context(viewer)
    assert ctx.can("orders.view") is True
    assert ctx.can("orders.create") is False


def test_an_unregistered_resource_is_never_prepared_and_still_refused() -> None:
    ctx = CONTEXTS[2]
    with pytest.raises(Exception) as first:
        ctx.allows("invoices.view", {"customer_id": ctx.actor.customer_id}, "nvoices")
    with pytest.raises(type(first.value)):
        ctx.allows("invoices.view", {"customer_id": ctx.actor.customer_id}, "nvoices")
    # Not held: no, whatever the resource is called (and nothing kept for a made-up name).
    assert ctx.allows("orders.view", {}, "made-up") is False


def test_a_record_whose_location_is_no_id_is_refused_not_an_error() -> None:
    # Found by the property above: a list where the location id belongs made allows() raise
    # TypeError for a write capability instead of answering no.
    for ctx in CONTEXTS:
        customer = ctx.actor.customer_id if hasattr(ctx.actor, "customer_id") else VALUES[0]
        for site in ([1, 2], {"id": 1}, "not-a-uuid", str(VALUES[3])):
            record = {"customer_id": customer, "site_id": site, "owner_id": None, "status": None}
            assert ctx.allows("logbook.write", record, "invoices") is False
            assert ctx.allows("logbook.write", location=site) is False  # type: ignore[arg-type]
