"""Cart, checkout, orders, quotes both ways and order approval, per seed scenario.

The transport seed (000): a limited login never sees rates; the workwear seed (003): order
numbers carry the customer's code; the service-desk seed (004): hidden prices turn checkout
into a quote request, orders and quote requests are records the vendor lists.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from portalkit import Portal
from portalkit.actors import Member, Staff
from portalkit.carts.model import CartView, PriceFreeCartView
from portalkit.clock import FixedClock
from portalkit.customers.model import Address, Customer
from portalkit.errors import ConfigurationError, NotFound, PermissionDenied, ValidationError
from portalkit.orders.model import MemberOrder, OrderStatus, PriceFreeOrder
from portalkit.quotes.model import QuoteRequestView, QuoteStatus, QuoteView
from portalkit.settings import load_settings
from portalkit.testing import World
from portals import without_ids

BUYER = ["shop.order", "quotes.request", "quotes.view", "prices.view", "orders.view"]
LIMITED = ["shop.order", "quotes.request", "orders.view"]  # transport "limited": no rates


@dataclass
class Shop:
    world: World
    customer: Customer
    toner: Any
    drum: Any
    staff: Staff

    @property
    def portal(self) -> Portal:
        return self.world.portal

    def member(self, capabilities: list[str], customer: Customer | None = None) -> Member:
        profile = self.world.profile(capabilities=capabilities)
        return self.world.member(
            self.world.membership(customer=customer or self.customer, profile=profile)
        )


def make_shop(
    world: World, *, code: str = "ACME", show_prices: bool = True, **settings: Any
) -> Shop:
    portal, staff = world.portal, world.staff
    customer = portal.customers.create(
        staff,
        code=code,
        name=f"{code} B.V.",
        settings={"show_prices": show_prices, "shop_enabled": True, **settings},
        addresses=[
            Address("Keizersgracht 1", "1015 AA", "Amsterdam", "NL", "office", True),
            Address("Havenweg 9", "3089 JB", "Rotterdam", "NL", "warehouse"),
        ],
    )
    toner = portal.catalogue.create_item(
        staff, sku=f"TN-{code}", name="Toner black", list_price=Decimal("987.65"), currency="EUR"
    )
    drum = portal.catalogue.create_item(
        staff, sku=f"DR-{code}", name="Drum kit", list_price=Decimal("876.54"), currency="EUR"
    )
    portal.assortments.set(staff, customer, mode="all")
    return Shop(world, customer, toner, drum, staff)


@pytest.fixture
def shop(world: World) -> Shop:
    return make_shop(world)


def _names(view: object) -> set[str]:
    found: set[str] = set()

    def walk(value: object) -> None:
        if attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                found.add(field.name)
                walk(getattr(value, field.name))
        elif isinstance(value, tuple | list):
            for element in value:
                walk(element)

    walk(view)
    return found


def _body(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


PRICE_FIELDS = {"unit_price", "total", "currency", "price", "list_price", "discount"}


# -- the workwear seed: order numbers ------------------------------------------------------
def test_order_number_carries_the_customer_code(shop: Shop) -> None:
    buyer = shop.member(BUYER)
    shop.portal.cart.set(buyer, shop.toner, 2)
    order = shop.portal.cart.checkout(buyer)
    assert isinstance(order, MemberOrder)
    assert order.number == "ACME-000001"
    shop.portal.cart.set(buyer, shop.toner, 1)
    assert shop.portal.cart.checkout(buyer).number == "ACME-000002"


def test_order_number_pattern_is_configurable_and_checked(world: World) -> None:
    world.portal.settings = load_settings(
        order_number_pattern="WW/{year}/{customer_code}/{seq:04d}"
    )
    shop = make_shop(world, code="HOSP")
    buyer = shop.member(BUYER)
    order = shop.portal.cart.checkout(buyer, lines=[(shop.toner, 1)])
    assert order.number == f"WW/{world.portal.clock.now().year}/HOSP/0001"
    for bad in ("{customer}-{seq}", "{customer_code}", "{seq!r}", "{seq:zz}", "{"):
        with pytest.raises(ConfigurationError, match="ORDER_NUMBER_PATTERN"):
            load_settings(order_number_pattern=bad)


# -- checkout and prices ---------------------------------------------------------------------
def test_checkout_places_an_order_at_the_effective_prices_in_decimal(shop: Shop) -> None:
    buyer = shop.member(BUYER)
    shop.portal.cart.set(buyer, shop.toner, 3)
    shop.portal.cart.add(buyer, shop.drum)
    view = shop.portal.cart.view(buyer)
    assert isinstance(view, CartView)
    assert view.total == Decimal("987.65") * 3 + Decimal("876.54")
    assert view.currency == "EUR" and view.checkout == "order"
    order = shop.portal.cart.checkout(buyer, delivery=1, reference="PO-77")
    assert order.total == view.total and isinstance(order.total, Decimal)
    assert order.delivery.city == "Rotterdam"
    assert order.status is OrderStatus.PLACED
    assert shop.portal.cart.view(buyer).lines == ()  # the cart is emptied
    staff_view = shop.portal.orders.list(shop.staff, customer=shop.customer)
    assert [o.number for o in staff_view] == [order.number]


def test_limited_transport_member_sees_no_price_field_in_cart_or_order(shop: Shop) -> None:
    limited = shop.member(LIMITED)
    cart = shop.portal.cart.set(limited, shop.toner, 2)
    assert isinstance(cart, PriceFreeCartView)
    assert not _names(cart) & PRICE_FIELDS
    request = shop.portal.cart.checkout(limited)
    assert isinstance(request, QuoteRequestView)
    assert not _names(request) & PRICE_FIELDS
    # An order it placed through a buyer of the same customer shows it no price either.
    buyer = shop.member(BUYER)
    shop.portal.cart.checkout(buyer, lines=[(shop.toner, 1)])
    scoped = shop.portal.orders.list(limited)
    assert scoped and all(isinstance(o, PriceFreeOrder) for o in scoped)
    assert not _names(scoped) & PRICE_FIELDS
    assert "987" not in without_ids(repr(scoped) + repr(cart) + repr(request))


def test_hidden_prices_customer_checkout_yields_a_quote_request(world: World) -> None:
    shop = make_shop(world, code="DESK", show_prices=False)
    buyer = shop.member(BUYER)  # holds prices.view, but the customer hides prices
    shop.portal.cart.set(buyer, shop.toner, 5)
    assert isinstance(shop.portal.cart.view(buyer), PriceFreeCartView)
    request = shop.portal.cart.checkout(buyer, note="for the 3rd floor")
    assert isinstance(request, QuoteRequestView)
    assert request.status is QuoteStatus.REQUESTED and request.number == "DESK-Q00001"
    assert shop.portal.orders.list(shop.staff) == []
    [stored] = shop.portal.quotes.list(shop.staff, status="requested")
    assert stored.lines[0].quantity == 5 and stored.lines[0].unit_price is None


def test_an_item_outside_the_assortment_cannot_be_ordered(shop: Shop) -> None:
    other = shop.portal.catalogue.create_item(
        shop.staff, sku="X-9", name="Not for you", list_price=Decimal("1"), currency="EUR"
    )
    shop.portal.assortments.set(shop.staff, shop.customer, mode="selected", items=[shop.toner])
    buyer = shop.member(BUYER)
    with pytest.raises(NotFound):
        shop.portal.cart.set(buyer, other, 1)
    with pytest.raises(NotFound):
        shop.portal.cart.checkout(buyer, lines=[(shop.drum, 1)])
    shop.portal.catalogue.update_item(shop.staff, shop.toner, active=False)
    with pytest.raises(NotFound):
        shop.portal.cart.checkout(buyer, lines=[(shop.toner, 1)])
    assert shop.portal.orders.list(shop.staff) == []


def test_another_customers_delivery_address_is_refused_and_nothing_stored(shop: Shop) -> None:
    rival = shop.portal.customers.create(shop.staff, code="RIVAL", name="Rival")
    theirs = shop.portal.locations.create(
        shop.staff, customer=rival, name="Depot", address=Address("Weg 1", "1000 AA", "Utrecht")
    )
    ours = shop.portal.locations.create(
        shop.staff,
        customer=shop.customer,
        name="Site A",
        address=Address("Laan 2", "2000 BB", "Delft"),
    )
    buyer = shop.member(BUYER)
    shop.portal.cart.set(buyer, shop.toner, 2)
    with pytest.raises(NotFound):
        shop.portal.cart.checkout(buyer, delivery=theirs)
    with pytest.raises(ValidationError):
        shop.portal.cart.checkout(buyer, delivery=Address("Weg 1", "1000 AA", "Utrecht"))
    assert shop.portal.orders.list(shop.staff) == []
    assert shop.portal.quotes.list(shop.staff, status=None) == []
    assert len(shop.portal.cart.view(buyer).lines) == 1  # the cart stays as it was
    order = shop.portal.cart.checkout(buyer, delivery=ours)
    assert order.delivery.location_id == ours.id and order.delivery.city == "Delft"


def test_quantities_are_whole_and_bounded(shop: Shop) -> None:
    buyer = shop.member(BUYER)
    for bad in (-1, 1.5, Decimal("2"), True, 10**7, "3"):
        with pytest.raises(ValidationError):
            shop.portal.cart.set(buyer, shop.toner, bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        shop.portal.cart.checkout(buyer)  # an empty cart
    with pytest.raises(ValidationError):
        shop.portal.cart.checkout(buyer, lines=[(shop.toner, 1)], note="x" * 2001)


def test_checkout_needs_the_capability_the_shop_and_no_read_only_view(shop: Shop) -> None:
    nobody = shop.member(["orders.view"])
    with pytest.raises(PermissionDenied):
        shop.portal.cart.checkout(nobody, lines=[(shop.toner, 1)])
    buyer = shop.member(BUYER)
    support = attrs.evolve(shop.staff, permissions=frozenset({"impersonate"}))
    viewer = shop.portal.access.view_as(support, buyer.membership_id, reason="support")
    with pytest.raises(PermissionDenied):
        shop.portal.cart.checkout(viewer, lines=[(shop.toner, 1)])
    with pytest.raises(PermissionDenied):
        shop.portal.cart.set(viewer, shop.toner, 1)
    shop.portal.customers.update(shop.staff, shop.customer, settings={"shop_enabled": False})
    with pytest.raises(PermissionDenied):
        shop.portal.cart.checkout(buyer, lines=[(shop.toner, 1)])
    assert shop.portal.orders.list(shop.staff) == []


# -- quotes both ways ------------------------------------------------------------------------
def _request(shop: Shop, member: Member, quantity: int = 4) -> QuoteRequestView:
    request = shop.portal.cart.checkout(member, lines=[(shop.toner, quantity)])
    assert isinstance(request, QuoteRequestView)
    return request


def test_a_quote_accepted_becomes_an_order_at_the_quoted_prices(world: World) -> None:
    shop = make_shop(world, code="DESK", show_prices=False)
    buyer = shop.member(BUYER)
    request = _request(shop, buyer)
    valid = world.portal.clock.now().date() + timedelta(days=14)
    sent = shop.portal.quotes.send(
        shop.staff, request.id, prices={shop.toner.id: "765.43"}, currency="EUR", valid_until=valid
    )
    assert sent.total == Decimal("3061.72")
    # The list price moves on; the quote's price holds.
    shop.portal.catalogue.update_item(shop.staff, shop.toner, list_price=Decimal("999.99"))
    quote = shop.portal.quotes.get(buyer, request.id)
    assert isinstance(quote, QuoteView) and quote.lines[0].unit_price == Decimal("765.43")
    order = shop.portal.quotes.accept(buyer, quote)
    assert isinstance(order, MemberOrder)
    assert order.lines[0].unit_price == Decimal("765.43") and order.total == Decimal("3061.72")
    assert order.quote_id == request.id and order.number == "DESK-000001"
    assert shop.portal.quotes.get(shop.staff, request.id).status is QuoteStatus.ACCEPTED
    with pytest.raises(ValidationError):
        shop.portal.quotes.accept(buyer, request.id)  # once only
    # A member without quotes.view sees neither the quote's prices nor the order's.
    limited = shop.member(LIMITED)
    assert all(isinstance(o, PriceFreeOrder) for o in shop.portal.orders.list(limited))
    actions = [e.action for e in shop.portal.audit.list(shop.staff, limit=100)]
    assert {"quote_requested", "quote_sent", "quote_accepted", "order_placed"} <= set(actions)


def test_an_expired_quote_cannot_be_accepted_but_can_be_declined(world: World) -> None:
    clock = FixedClock()
    world.portal.clock = clock
    shop = make_shop(world, code="DESK", show_prices=False)
    buyer = shop.member(BUYER)
    request = _request(shop, buyer)
    today = clock.now().date()
    shop.portal.quotes.send(
        shop.staff,
        request.id,
        prices={shop.toner.id: Decimal("10")},
        currency="EUR",
        valid_until=today,
    )
    clock.advance(days=2)
    with pytest.raises(ValidationError, match="expired"):
        shop.portal.quotes.accept(buyer, request.id)
    declined = shop.portal.quotes.decline(buyer, request.id, reason="too late")
    assert declined.status is QuoteStatus.DECLINED and declined.expired is False
    assert shop.portal.orders.list(shop.staff) == []
    with pytest.raises(ValidationError):
        shop.portal.quotes.send(
            shop.staff,
            request.id,
            prices={shop.toner.id: 1},
            currency="EUR",
            valid_until=today + timedelta(days=400),
        )


def test_the_quote_thread_takes_member_and_staff_messages(world: World) -> None:
    shop = make_shop(world, code="DESK", show_prices=False)
    buyer = shop.member(BUYER)
    request = _request(shop, buyer)
    shop.portal.quotes.post(buyer, request.id, "Delivery on Friday?")
    world.portal.clock.advance(seconds=1)  # type: ignore[attr-defined]
    shop.portal.quotes.post(shop.staff, request.id, "Yes, before noon.")
    thread = shop.portal.quotes.messages(buyer, request.id)
    assert [m.text for m in thread] == ["Delivery on Friday?", "Yes, before noon."]
    for bad in ("", "x" * 2001, "\ud800"):
        with pytest.raises(ValidationError):
            shop.portal.quotes.post(buyer, request.id, bad)
    other = make_shop(world, code="OTHER", show_prices=False)
    stranger = other.member(BUYER)
    with pytest.raises(NotFound):
        shop.portal.quotes.post(stranger, request.id, "hello")
    with pytest.raises(NotFound):
        shop.portal.quotes.get(stranger, request.id)


# -- order approval --------------------------------------------------------------------------
def test_orders_above_the_amount_wait_for_approval_by_another_member(world: World) -> None:
    shop = make_shop(world, code="APPR", approval_above=Decimal("1000"))
    placer = shop.member(BUYER)
    approver = shop.member([*BUYER, "orders.approve"])
    small = shop.portal.cart.checkout(placer, lines=[(shop.drum, 1)])
    assert small.status is OrderStatus.PLACED
    big = shop.portal.cart.checkout(placer, lines=[(shop.toner, 2)])
    assert big.status is OrderStatus.AWAITING_APPROVAL
    assert [o.id for o in shop.portal.orders.approvals(approver)] == [big.id]
    with pytest.raises(PermissionDenied):
        shop.portal.orders.approvals(placer)
    with pytest.raises(PermissionDenied):
        shop.portal.orders.approve(placer, big.id)  # lacks orders.approve
    self_approver = shop.member([*BUYER, "orders.approve"])
    own = shop.portal.cart.checkout(self_approver, lines=[(shop.toner, 2)])
    with pytest.raises(PermissionDenied, match="yourself"):
        shop.portal.orders.approve(self_approver, own.id)
    other = make_shop(world, code="ELSE")
    foreign = other.member([*BUYER, "orders.approve"])
    with pytest.raises(NotFound):
        other.portal.orders.approve(foreign, big.id)
    mailer = world.portal.mailer
    before = len(mailer.outbox)  # type: ignore[attr-defined]
    approved = shop.portal.orders.approve(approver, big.id)
    assert approved.status is OrderStatus.PLACED
    with pytest.raises(ValidationError):
        shop.portal.orders.approve(approver, big.id)
    sent = mailer.outbox[before:]  # type: ignore[attr-defined]
    assert len(sent) == 1 and big.number in sent[0]["Subject"]
    assert "987" not in _body(sent[0])
    rejected = shop.portal.orders.reject(approver, own.id, reason="over budget")
    assert rejected.status is OrderStatus.REJECTED
    notice = mailer.outbox[-1]  # type: ignore[attr-defined]
    assert "over budget" in _body(notice) and own.number in notice["Subject"]
    actions = [e.action for e in shop.portal.audit.list(shop.staff, limit=200)]
    assert {"order_approved", "order_rejected"} <= set(actions)


# -- concurrency -----------------------------------------------------------------------------
@pytest.mark.postgres
def test_fifty_simultaneous_checkouts_get_fifty_distinct_numbers(
    request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    from conftest import make_storage
    from portalkit.mail import MemoryMailer

    storage = make_storage("postgres", request, tmp_path)
    try:
        portal = Portal(storage, MemoryMailer(), clock=FixedClock())
        shop = make_shop(World(portal), code="RACE")
        buyers = [shop.member(BUYER) for _ in range(50)]
        barrier = threading.Barrier(50, timeout=60)
        numbers: list[str] = []
        errors: list[BaseException] = []

        def checkout(buyer: Member) -> None:
            try:
                barrier.wait()
                numbers.append(portal.cart.checkout(buyer, lines=[(shop.toner, 1)]).number)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=checkout, args=(b,)) for b in buyers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(numbers) == [f"RACE-{n:06d}" for n in range(1, 51)]
        assert len(portal.orders.list(shop.staff, limit=100)) == 50
    finally:
        storage.close()
