"""The entry points other services and hosts call inside their own transaction —
``inbox.update``, ``orders.file``, ``quotes.file_request`` — keep the rules that decide access
even though their caller has authorised its actor: an item's customer, filer and kind cannot
be moved, and an order or quote request is filed only for the member's own customer."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from portalkit.errors import ConcurrentModification, PermissionDenied, ValidationError
from portalkit.inbox.model import InboxStatus
from portalkit.orders.model import DeliveryAddress, OrderLine
from portalkit.quotes.model import QuoteLine
from portalkit.testing import World
from test_orders import BUYER, Shop, make_shop

WHERE = DeliveryAddress("Keizersgracht 1", "1015 AA", "Amsterdam", "NL")


def _line(shop: Shop) -> OrderLine:
    price = Decimal("987.65")
    return OrderLine(shop.toner.id, shop.toner.sku, "Toner black", "piece", 1, price, price)


def _counts(shop: Shop) -> tuple[int, int, int]:
    with shop.portal.transaction(read_only=True) as uow:
        return (
            len(uow.orders.list(shop.customer.vendor_id)),
            len(uow.quotes.list(shop.customer.vendor_id)),
            len(uow.inbox_items.list(shop.customer.vendor_id)),
        )


def test_an_order_is_filed_only_for_the_members_own_customer(world: World) -> None:
    acme = make_shop(world)
    other = make_shop(world, code="OTHER")
    intruder = other.member(BUYER)
    before = _counts(acme)
    with (
        pytest.raises(PermissionDenied, match="its own customer"),
        acme.portal.transaction() as uow,
    ):
        acme.portal.orders.file(
            uow, intruder, acme.customer, lines=[_line(acme)], currency="EUR", delivery=WHERE
        )
    with (
        pytest.raises(PermissionDenied, match="its own customer"),
        acme.portal.transaction() as uow,
    ):
        acme.portal.quotes.file_request(
            uow,
            intruder,
            acme.customer,
            lines=[QuoteLine(acme.toner.id, acme.toner.sku, "Toner black", "piece", 1)],
            delivery=WHERE,
        )
    assert _counts(acme) == before


def test_a_read_only_view_files_nothing_and_staff_is_no_filer(world: World) -> None:
    acme = make_shop(world)
    viewer = attrs.evolve(acme.member(BUYER), read_only=True)
    before = _counts(acme)
    with pytest.raises(PermissionDenied, match="read-only"), acme.portal.transaction() as uow:
        acme.portal.orders.file(
            uow, viewer, acme.customer, lines=[_line(acme)], currency="EUR", delivery=WHERE
        )
    with pytest.raises(PermissionDenied), acme.portal.transaction() as uow:
        acme.portal.orders.file(
            uow, acme.staff, acme.customer, lines=[_line(acme)], currency="EUR", delivery=WHERE
        )  # type: ignore[arg-type]
    assert _counts(acme) == before


def test_the_members_own_order_is_still_filed(world: World) -> None:
    acme = make_shop(world)
    buyer = acme.member(BUYER)
    with acme.portal.transaction() as uow:
        order = acme.portal.orders.file(
            uow, buyer, acme.customer, lines=[_line(acme)], currency="EUR", delivery=WHERE
        )
    assert order.customer_id == acme.customer.id and _counts(acme)[0] == 1


def test_inbox_update_cannot_move_what_access_is_decided_by(world: World) -> None:
    acme = make_shop(world)
    other = make_shop(world, code="OTHER")
    acme.portal.cart.checkout(acme.member(BUYER), lines=[(acme.toner, 1)])
    (item,) = acme.portal.inbox.list(acme.staff, kind="order")
    inbox = acme.portal.inbox
    # Only status and details are fields of the call; anything else is refused outright.
    with (
        pytest.raises(ValidationError, match="no argument 'customer_id'"),
        acme.portal.transaction() as uow,
    ):
        inbox.update(uow, acme.staff, item, customer_id=other.customer.id)  # type: ignore[call-arg]
    # A copy altered to point elsewhere is not the stored item.
    moved = attrs.evolve(item, customer_id=other.customer.id, account_id=None)
    with pytest.raises(ConcurrentModification), acme.portal.transaction() as uow:
        inbox.update(uow, acme.staff, moved, details={"note": "mine now"})
    with pytest.raises(ValidationError), acme.portal.transaction() as uow:
        inbox.update(uow, acme.staff, item, status="stolen")
    with pytest.raises(ValidationError), acme.portal.transaction() as uow:
        inbox.update(uow, acme.staff, item, details=["not", "a", "mapping"])  # type: ignore[arg-type]
    stored = inbox.get(acme.staff, item.id)
    assert stored == item
    assert [i.id for i in other.portal.inbox.list(other.staff, customer=other.customer)] == []
    # What the call is for still works.
    with acme.portal.transaction() as uow:
        changed = inbox.update(
            uow, acme.staff, item, status=InboxStatus.IN_PROGRESS, details={"note": "on it"}
        )
    assert changed.status is InboxStatus.IN_PROGRESS and changed.details == {"note": "on it"}
    assert changed.customer_id == acme.customer.id
