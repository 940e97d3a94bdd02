"""What the shop files lands in the vendor's inbox, in the transaction that filed it: a placed
order, a quote request (moved on when the vendor sends its quote), an approved order — and
never an amount, since the member who filed an item reads it back."""

from __future__ import annotations

from datetime import timedelta

from portalkit.inbox.model import InboxStatus
from portalkit.orders.model import OrderStatus
from portalkit.testing import World
from portals import without_ids
from test_orders import BUYER, make_shop


def test_a_placed_order_and_a_quote_request_land_in_the_inbox(world: World) -> None:
    shop = make_shop(world)
    buyer = shop.member(BUYER)
    order = shop.portal.cart.checkout(buyer, lines=[(shop.drum, 1)])
    items = shop.portal.inbox.list(shop.staff, kind="order")
    assert [i.reference for i in items] == [order.id]
    assert items[0].title == f"Order {order.number}" and items[0].customer_id == shop.customer.id
    # The member who ordered sees it among its own items, without any amount.
    mine = shop.portal.inbox.mine(buyer)
    assert [i.reference for i in mine] == [order.id]
    assert "876" not in without_ids(repr(mine))

    hidden = make_shop(world, code="DESK", show_prices=False)
    asker = hidden.member(BUYER)
    request = hidden.portal.cart.checkout(asker, lines=[(hidden.toner, 2)])
    (item,) = hidden.portal.inbox.list(hidden.staff, kind="quote_request")
    assert item.reference == request.id and item.status is InboxStatus.NEW
    valid = world.portal.clock.now().date() + timedelta(days=14)
    hidden.portal.quotes.send(
        hidden.staff, request.id, prices={hidden.toner.id: "765.43"}, currency="EUR",
        valid_until=valid,
    )  # fmt: skip
    assert hidden.portal.inbox.get(hidden.staff, item.id).status is InboxStatus.IN_PROGRESS
    assert "765" not in without_ids(repr(hidden.portal.inbox.mine(asker)))


def test_an_order_waiting_for_approval_reaches_the_inbox_once_approved(world: World) -> None:
    shop = make_shop(world, code="APPR", approval_above="1000")
    placer = shop.member(BUYER)
    approver = shop.member([*BUYER, "orders.approve"])
    big = shop.portal.cart.checkout(placer, lines=[(shop.toner, 2)])
    assert big.status is OrderStatus.AWAITING_APPROVAL
    assert shop.portal.inbox.list(shop.staff, kind="order") == []  # the customer's own matter
    shop.portal.orders.approve(approver, big.id)
    assert [i.reference for i in shop.portal.inbox.list(shop.staff, kind="order")] == [big.id]
