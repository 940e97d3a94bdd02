"""Red team, third pass: the host-integration features (session contexts, context reuse,
host audit events, translated messages, visible columns, vendor names), attacked through the
public API as a hostile customer admin, a hostile member, an anonymous visitor and a careless
host developer would.

Each test passes when the protection holds. Those under "holes" failed on the code as it was
found and pass since their fix (each fails again when its fix is taken out).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import String, create_engine, event, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    column_property,
    mapped_column,
    synonym,
)

from portalkit import PermissionDenied, ResourceType, Staff, ValidationError
from portalkit.testing import World


def _member(world: World) -> Any:
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    return membership, world.member(membership)


# =============================================================================================
# Holes
# =============================================================================================
@pytest.mark.parametrize(
    "name",
    ["effective", "target", "reason", "outcome", "customer_id", "vendor_id", "real", "uow"],
)
def test_a_host_detail_cannot_take_the_place_of_an_event_field(world: World, name: str) -> None:
    """A host event's details went to the audit log as keyword arguments beside the event's
    own fields. ``details={"effective": "x"}`` silently set the event's *effective actor*
    (to "unknown": an ordinary member's event then reads as someone acting for someone else)
    and dropped the detail; ``target``, ``reason``, ``vendor_id``… raised a bare TypeError, an
    undocumented exception (G1). Such a name is refused like any bad detail name."""
    portal = world.portal
    membership, member = _member(world)
    before = len(portal.audit.list(world.staff, customer=membership.customer_id))
    with pytest.raises(ValidationError) as caught:
        portal.audit.record(member, "order.placed", details={name: "x"})
    assert caught.value.problems[0].field == "details"
    assert len(portal.audit.list(world.staff, customer=membership.customer_id)) == before


@pytest.mark.parametrize("by_keyword", [False, True])
def test_a_refused_view_as_is_on_record_however_the_staff_is_passed(
    world: World, by_keyword: bool
) -> None:
    """Every refusal is an ``authz_fail`` event (H1). The watcher looked for the refused
    party in the first argument or ``actor=``; ``view_as`` names it ``staff``, so staff
    without ``impersonate`` trying ``view_as(staff=..., ...)`` left no trace at all — a
    way to probe which logins exist for viewing without being seen."""
    portal = world.portal
    membership, _member_actor = _member(world)
    eve = Staff(vendor_id=world.staff.vendor_id, user_id="eve")
    with pytest.raises(PermissionDenied):
        if by_keyword:
            portal.access.view_as(staff=eve, membership=membership.id, reason="curious")
        else:
            portal.access.view_as(eve, membership.id, reason="curious")
    refused = portal.audit.list(world.staff, action="authz_fail")
    assert [e.real_actor for e in refused] == ["staff:eve"]
    assert refused[0].target == "AccessService.view_as"


class _Host(DeclarativeBase):
    pass


class _Quote(_Host):
    __tablename__ = "rt3_quotes"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID]
    amount: Mapped[str] = mapped_column(String(20))
    # A label the host derives for its pages; it reads the sensitive column.
    shown_amount = column_property("EUR " + amount)


def test_a_column_computed_from_a_hidden_one_never_leaves_the_database(world: World) -> None:
    """``ctx.select()`` deferred the sensitive ``amount`` but kept a ``column_property`` built
    from it: the SQL a member without ``prices.view`` sent read ``'EUR ' || amount`` and the
    member's object carried the rate as ``shown_amount``. A derived column is refused like a
    sensitive field that is no column, until it is named sensitive itself."""
    portal = world.portal
    portal.access.register_resource(
        ResourceType(
            "quotes", view="orders.view", sensitive={"amount": "prices.view"}, model=_Quote
        )
    )
    _membership, member = _member(world)
    ctx = portal.access.context(member)
    engine = create_engine("sqlite://")
    _Host.metadata.create_all(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with Session(engine) as session:
        session.add(_Quote(customer_id=_membership.customer_id, amount="123.45"))
        session.commit()
        statements.clear()
        for call in (lambda: ctx.select("quotes"), lambda: ctx.columns("quotes")):
            try:
                query = call()
            except ValidationError as refused:
                assert refused.code == "derived"
                continue
            found = session.execute(select(*query) if isinstance(query, list) else query).all()
            assert "123.45" not in repr(found), "the hidden amount left the database"
        assert not any("amount" in s for s in statements)
    engine.dispose()


class _Priced(_Host):
    __tablename__ = "rt3_priced"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID]
    amount: Mapped[str] = mapped_column(String(20))
    price = synonym("amount")  # the name the host's templates use
    shown_amount = column_property("EUR " + amount)


def test_a_heading_never_offers_a_hidden_field_under_another_name(world: World) -> None:
    """``visible_fields(resource, heading)`` took the hidden ``amount`` out of the heading but
    kept ``price``, a synonym of it, and ``shown_amount``, computed from it: a page that shows
    ``getattr(row, f)`` for each offered field showed the rate to a member without
    ``prices.view``."""
    portal = world.portal
    portal.access.register_resource(
        ResourceType(
            "priced", view="orders.view", sensitive={"amount": "prices.view"}, model=_Priced
        )
    )
    _membership, member = _member(world)
    ctx = portal.access.context(member)
    heading = ["id", "price", "amount", "shown_amount"]
    assert ctx.visible_fields("priced", heading) == ["id"]
    assert "shown_amount" not in ctx.visible_fields("priced")
    staff = portal.access.context(world.staff)
    assert staff.visible_fields("priced", heading) == heading


def test_a_write_at_an_unreadable_location_is_denied_not_an_exception(world: World) -> None:
    """C1: an error while deciding is a denial. The record check of a capability that writes
    looked the record's location up in a set: a location field holding a list (a JSON value)
    raised TypeError out of ``allows()`` — for members and staff alike —
    where a record with a location nobody has answers False."""
    portal = world.portal
    portal.access.register_capability("visits.view")
    portal.access.register_capability("visits.write", writes=True)
    portal.access.register_resource(
        ResourceType("visits", view="visits.view", location_field="site_id")
    )
    membership = world.membership(
        profile=world.profile(capabilities={"visits.view", "visits.write"})
    )
    odd = {"customer_id": membership.customer_id, "site_id": [1, 2]}
    for ctx in (
        portal.access.context(world.member(membership)),
        portal.access.context(world.staff),
    ):
        for _ in range(2):  # first time and from the prepared check
            assert ctx.allows("visits.write", odd, "visits") is False
        assert ctx.allows("visits.write", location=[1, 2]) is False  # type: ignore[arg-type]
