"""The cart service (``portal.cart``): a member's cart, kept per membership, and checkout —
an order where the member may see prices and order, a quote request otherwise.

A host that keeps the cart itself (in its session) passes the lines to :meth:`CartService.view`
and :meth:`CartService.checkout` instead: ``lines=[(item, quantity), …]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import attrs

from portalkit import _validation as v
from portalkit._service import ident
from portalkit.carts.model import (
    Cart,
    CartLine,
    CartView,
    CartViewLine,
    PriceFreeCartLine,
    PriceFreeCartView,
)
from portalkit.errors import Problem, ValidationError
from portalkit.orders.model import OrderLine
from portalkit.orders.service import (
    OrderService,
    check_note,
    check_reference,
    delivery_address,
    member_context,
)
from portalkit.pricing.service import check_quantity
from portalkit.quotes.model import QuoteLine
from portalkit.shop.model import CheckoutMode, VisiblePrice

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.actors import Actor, Member
    from portalkit.customers.model import Customer
    from portalkit.quotes.service import QuoteService
    from portalkit.shop.model import ShopLine
    from portalkit.shop.service import ShopService
    from portalkit.storage.base import UnitOfWork

__all__ = ["MAX_CART_LINES", "CartService"]

MAX_CART_LINES = 200
"""At most this many different items in one cart."""

Lines = Sequence[tuple[object, int]]


class CartService:
    """A member's cart and checkout. Reached as ``portal.cart``.

    Example::

        portal.cart.set(member, toner, 3)          # 0 removes the line
        view = portal.cart.view(member)            # CartView, or PriceFreeCartView
        result = portal.cart.checkout(member, delivery=site_amsterdam, reference="PO-77")
        # an order view, or (prices hidden) a quote request view

    Every item is checked against the customer's assortment and activity, through the shop
    (``portal.shop.lines``), at every call: an item that left the assortment since it was put
    in the cart stops checkout with NotFound.
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        access: AccessService,
        shop: ShopService,
        orders: OrderService,
        quotes: QuoteService,
    ) -> None:
        self._rt = rt
        self._access = access
        self._shop = shop
        self._orders = orders
        self._quotes = quotes

    # -- the stored cart ---------------------------------------------------------------------
    def set(self, actor: Actor | AccessContext, item: object, quantity: int) -> Any:
        """Set how many of ``item`` the cart holds (0 removes it); returns the cart's view."""
        problems: list[Problem] = []
        item_id = ident("item", item)
        if quantity != 0 or isinstance(quantity, bool):
            quantity = check_quantity(problems, "quantity", quantity)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            ctx, member, customer = self._shopper(uow, actor)
            if quantity:
                self._shop.lines(ctx, [(item_id, quantity)])  # in the assortment, active
            cart = self._cart(uow, member)
            lines = [line for line in cart.lines if line.item_id != item_id]
            if quantity:
                lines.append(CartLine(item_id, quantity))
            if len(lines) > MAX_CART_LINES:
                raise ValidationError.single(
                    "item", "too_many", "a cart holds at most {limit} items", limit=MAX_CART_LINES
                )
            self._save(uow, cart, tuple(lines))
            return self._view(ctx, customer, [(line.item_id, line.quantity) for line in lines])

    def add(self, actor: Actor | AccessContext, item: object, quantity: int = 1) -> Any:
        """Add ``quantity`` of ``item`` to what the cart holds of it."""
        item_id = ident("item", item)
        problems: list[Problem] = []
        quantity = check_quantity(problems, "quantity", quantity)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            _ctx, member, _customer = self._shopper(uow, actor)
            held = next(
                (
                    line.quantity
                    for line in self._cart(uow, member).lines
                    if line.item_id == item_id
                ),
                0,
            )
            return self.set(actor, item_id, held + quantity)

    def clear(self, actor: Actor | AccessContext) -> None:
        """Empty the cart."""
        with self._rt.transaction() as uow:
            _ctx, member, _customer = self._shopper(uow, actor)
            self._save(uow, self._cart(uow, member), ())

    def view(self, actor: Actor | AccessContext, *, lines: Lines | None = None) -> Any:
        """The cart (or the ``lines`` given) as the member may see it: a :class:`CartView`
        with prices and the total, or a :class:`PriceFreeCartView` without any price."""
        with self._rt.transaction(read_only=True) as uow:
            ctx, member, customer = member_context(self._access, uow, actor)
            if lines is None:
                found = uow.carts.get_by(member.vendor_id, "membership", member.membership_id)
                wanted: Lines = [(c.item_id, c.quantity) for c in found.lines] if found else []
            else:
                wanted = lines
            return self._view(ctx, customer, wanted)

    def _view(self, ctx: AccessContext, customer: Customer, lines: Lines) -> Any:
        checked = self._shop.lines(ctx, lines) if lines else []
        mode = self._mode(ctx, customer)
        if mode is CheckoutMode.QUOTE_REQUEST or any(
            not isinstance(line.price, VisiblePrice) for line in checked
        ):
            return PriceFreeCartView(
                lines=tuple(
                    PriceFreeCartLine(
                        line.item.id, line.item.sku, line.item.name, line.item.unit, line.quantity
                    )
                    for line in checked
                ),
                checkout=CheckoutMode.QUOTE_REQUEST.value,
            )
        priced = [_priced(line) for line in checked]
        currency = _currency(checked)
        return CartView(
            lines=tuple(priced),
            currency=currency,
            total=sum((line.total for line in priced), Decimal(0)),
            checkout=mode.value,
        )

    @staticmethod
    def _mode(ctx: AccessContext, customer: Customer) -> CheckoutMode:
        priced = customer.settings.show_prices and ctx.can("prices.view")
        return (
            CheckoutMode.ORDER if priced and ctx.can("shop.order") else CheckoutMode.QUOTE_REQUEST
        )

    # -- checkout ----------------------------------------------------------------------------
    def checkout(
        self,
        actor: Actor | AccessContext,
        *,
        delivery: object = None,
        note: str | None = None,
        reference: str | None = None,
        lines: Lines | None = None,
    ) -> Any:
        """Turn the cart (or the ``lines`` given) into an order — when the customer shows
        prices and the member holds ``prices.view`` and ``shop.order`` — or else into a quote
        request (``quotes.request``); the stored cart is emptied. Returns the member's view of
        the order (:class:`~portalkit.orders.model.MemberOrder`, or waiting for approval when
        the customer's rule says so) or of the quote request
        (:class:`~portalkit.quotes.model.QuoteRequestView`, no prices).

        ``delivery`` is one of the customer's own addresses or locations (see
        :func:`~portalkit.orders.service.delivery_address`); another customer's location
        answers NotFound and stores nothing. One transaction: a failure leaves no order, no
        request and the cart as it was.
        """
        problems: list[Problem] = []
        text = check_note(problems, "note", note)
        ref = check_reference(problems, reference)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            ctx, member, customer = self._shopper(uow, actor)
            mode = self._mode(ctx, customer)
            ctx.require("shop.order" if mode is CheckoutMode.ORDER else "quotes.request")
            stored = None
            if lines is None:
                stored = uow.carts.get_by(member.vendor_id, "membership", member.membership_id)
                wanted: Lines = [(c.item_id, c.quantity) for c in stored.lines] if stored else []
            else:
                wanted = lines
            if not wanted:
                raise ValidationError.single("lines", "required", "the cart is empty")
            checked = self._shop.lines(ctx, wanted)
            place = delivery_address(uow, ctx, customer, delivery)
            if stored is not None:
                self._save(uow, stored, ())
            if mode is CheckoutMode.ORDER and all(
                isinstance(line.price, VisiblePrice) for line in checked
            ):
                priced = [_priced(line) for line in checked]
                order = self._orders.file(
                    uow,
                    member,
                    customer,
                    lines=[
                        OrderLine(
                            item_id=line.item_id,
                            sku=line.sku,
                            name=line.name,
                            unit=line.unit,
                            quantity=line.quantity,
                            unit_price=line.unit_price,
                            total=line.total,
                        )
                        for line in priced
                    ],
                    currency=_currency(checked),
                    delivery=place,
                    note=text,
                    reference=ref,
                )
                return self._orders.view(ctx, customer, order)
            ctx.require("quotes.request")
            quote = self._quotes.file_request(
                uow,
                member,
                customer,
                lines=[
                    QuoteLine(
                        item_id=line.item.id,
                        sku=line.item.sku,
                        name=line.item.name,
                        unit=line.item.unit,
                        quantity=line.quantity,
                    )
                    for line in checked
                ],
                delivery=place,
                note=text,
                reference=ref,
            )
            return self._quotes.view(ctx, quote)

    # -- helpers -----------------------------------------------------------------------------
    def _shopper(
        self, uow: UnitOfWork, actor: Actor | AccessContext
    ) -> tuple[AccessContext, Member, Customer]:
        ctx, member, customer = member_context(self._access, uow, actor)
        if not ({"shop.order", "quotes.request"} & ctx.capabilities) or ctx.read_only:
            # The cart is the start of an order: a read-only view as the member refuses it.
            ctx.require("shop.order")
        return ctx, member, customer

    def _cart(self, uow: UnitOfWork, member: Member) -> Cart:
        found = uow.carts.get_by(member.vendor_id, "membership", member.membership_id)
        if found is not None:
            return found
        cart = Cart(
            id=uuid4(),
            vendor_id=member.vendor_id,
            membership_id=member.membership_id,
            customer_id=member.customer_id,
            created_at=self._rt.clock.now(),
        )
        uow.carts.add(cart)
        return cart

    @staticmethod
    def _save(uow: UnitOfWork, cart: Cart, lines: tuple[CartLine, ...]) -> None:
        if cart.lines != lines:
            uow.carts.update(
                attrs.evolve(cart, lines=lines, version=cart.version + 1), cart.version
            )


def _priced(line: ShopLine) -> CartViewLine:
    price = line.price
    assert isinstance(price, VisiblePrice)
    return CartViewLine(
        item_id=line.item.id,
        sku=line.item.sku,
        name=line.item.name,
        unit=line.item.unit,
        quantity=line.quantity,
        unit_price=price.unit_price,
        total=price.total,
    )


def _currency(lines: Sequence[ShopLine]) -> str:
    """The one currency of the lines' visible prices ("" for none); an order is in one."""
    found = {line.price.currency for line in lines if isinstance(line.price, VisiblePrice)}
    if len(found) > 1:
        raise ValidationError.single(
            "lines", "mixed_currency", "the items are priced in different currencies"
        )
    return found.pop() if found else ""
