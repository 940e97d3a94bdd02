"""The member's shop (``portal.shop``): the catalogue page, the printer shop, and the price a
member may see — or the fact that it may not — for checkout.

Who may browse: a member of a customer whose ``CustomerSettings.shop_enabled`` is on, holding
``shop.order`` or ``quotes.request`` (browsing reads only, so a read-only view as the customer
browses too; ordering is checkout's, which requires the capability itself). Prices appear only
when the customer's ``show_prices`` is on and the member holds ``prices.view``; otherwise the
answers are :class:`~portalkit.shop.model.ShopItem` and
:class:`~portalkit.shop.model.HiddenPrice`, which have no price attribute at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from portalkit import _validation as v
from portalkit._guard import who
from portalkit._service import MAX_PAGE, ident, page
from portalkit.actors import Member
from portalkit.assortments.service import Reach, effective_assortment
from portalkit.catalogue.model import CatalogueItem, ItemQuery, descendants
from portalkit.errors import NotFound, PermissionDenied, Problem, ValidationError
from portalkit.money import rounded
from portalkit.pricing.service import PriceBook, build_book, check_quantity
from portalkit.shop.model import (
    CheckoutMode,
    HiddenPrice,
    PricedShopItem,
    PrinterShopDevice,
    ShopItem,
    ShopLine,
    ShopPage,
    VisiblePrice,
)

if TYPE_CHECKING:
    from uuid import UUID

    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.actors import Actor
    from portalkit.catalogue.model import Category
    from portalkit.customers.model import Customer
    from portalkit.storage.base import UnitOfWork

__all__ = ["MAX_LINES", "ShopService"]

MAX_LINES = 500
"""At most this many lines are checked in one call."""


@attrs.frozen
class _Visit:
    """What one call knows about the member's shop: read once, at the start."""

    ctx: AccessContext
    customer: Customer
    categories: list[Category]
    reach: Reach
    book: PriceBook | None  # None: prices hidden from this member

    def query(self, **narrowing: Any) -> ItemQuery:
        return ItemQuery(
            allowed_categories=self.reach.categories,
            allowed_ids=self.reach.ids,
            excluded=self.reach.excluded,
            active_only=True,
            **narrowing,
        )


class ShopService:
    """A member's view of the shop. Reached as ``portal.shop``.

    Example::

        page = portal.shop.catalogue(member, text="toner", limit=50)
        page.prices_shown            # False for a customer with prices switched off
        portal.shop.printer_shop(member)          # its printers with their accessories
        portal.shop.lines(member, [(toner.id, 3)])  # what checkout may show and order
    """

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def _visit(self, uow: UnitOfWork, actor: Actor | AccessContext) -> _Visit:
        ctx = self._access.context(actor)
        member = who(ctx.actor)
        if not isinstance(member, Member):
            raise PermissionDenied(
                "the shop shows a member's catalogue; staff use portal.catalogue"
            )
        if not ({"shop.order", "quotes.request"} & ctx.capabilities):
            ctx.require("shop.order")  # refuses, with the reason, and is audited
        customer = uow.customers.get(member.vendor_id, member.customer_id)
        if customer is None:
            raise NotFound("customer", member.customer_id)
        if not customer.settings.shop_enabled:
            raise PermissionDenied(
                "the shop is not switched on for customer {code}", code=customer.code
            )
        categories = uow.categories.list(member.vendor_id)
        reach = effective_assortment(uow, customer, categories)
        priced = customer.settings.show_prices and ctx.can("prices.view")
        book = build_book(self._rt, uow, customer, categories) if priced else None
        return _Visit(ctx, customer, categories, reach, book)

    def _views(
        self, uow: UnitOfWork, visit: _Visit, items: Sequence[CatalogueItem]
    ) -> list[ShopItem | PricedShopItem]:
        if visit.book is None:
            return [ShopItem.of(item) for item in items]
        book = visit.book
        book.load(uow, items, up_to=1)  # a page shows the price of one piece: no higher tier
        return [PricedShopItem.of(item, book.decide(item, 1).unit_price) for item in items]

    def prices_shown(self, actor: Actor | AccessContext) -> bool:
        """Whether this member sees prices in the shop."""
        with self._rt.transaction(read_only=True) as uow:
            return self._visit(uow, actor).book is not None

    def checkout_mode(self, actor: Actor | AccessContext) -> CheckoutMode:
        """What this member's checkout produces: an order when it sees prices and holds
        ``shop.order``, else a quote request when it holds ``quotes.request``
        (PermissionDenied when neither applies, or under a read-only view)."""
        with self._rt.transaction(read_only=True) as uow:
            visit = self._visit(uow, actor)
        if visit.book is not None and visit.ctx.can("shop.order"):
            return CheckoutMode.ORDER
        visit.ctx.require("quotes.request")
        return CheckoutMode.QUOTE_REQUEST

    def catalogue(
        self,
        actor: Actor | AccessContext,
        *,
        text: str | None = None,
        category: object = None,
        limit: int = 50,
        offset: int = 0,
    ) -> ShopPage:
        """A page of the active items in the member's assortment, by SKU: ``text`` in the
        SKU, name or description (ignoring case), in ``category`` or below it."""
        limit, offset = page(limit, offset)
        problems: list[Problem] = []
        wanted = v.text(problems, "text", text, required=False)
        v.raise_if(problems)
        with self._rt.transaction(read_only=True) as uow:
            visit = self._visit(uow, actor)
            narrowing: dict[str, Any] = {"text": wanted}
            if category is not None:
                category_id = ident("category", category)
                if category_id not in {c.id for c in visit.categories}:
                    raise NotFound("category", category_id)
                narrowing["categories"] = descendants(visit.categories, [category_id])
            if visit.reach.nothing:
                found: list[CatalogueItem] = []
            else:
                found = uow.search_items(
                    visit.customer.vendor_id,
                    visit.query(**narrowing),
                    limit=limit + 1,
                    offset=offset,
                )
            views = self._views(uow, visit, found[:limit])
        return ShopPage(
            items=tuple(views), prices_shown=visit.book is not None, more=len(found) > limit
        )

    def item(self, actor: Actor | AccessContext, item: object) -> ShopItem | PricedShopItem:
        """One item of the member's assortment (NotFound for any other, inactive included)."""
        return self.lines(actor, [(item, 1)])[0].item

    def visible_price(
        self, actor: Actor | AccessContext, item: object, quantity: int = 1
    ) -> VisiblePrice | HiddenPrice:
        """The price this member may see for ``quantity`` of ``item``, or the fact that it
        may not (:class:`HiddenPrice`): what checkout asks to choose between an order and a
        quote request. NotFound for an item outside its assortment or inactive."""
        return self.lines(actor, [(item, quantity)])[0].price

    def lines(
        self, actor: Actor | AccessContext, lines: Sequence[tuple[object, int]]
    ) -> list[ShopLine]:
        """Check checkout lines ``(item or id, quantity)``: each item must be active and in
        the member's assortment (NotFound naming the first that is not), each quantity a
        whole number from 1 on; prices (tiers included) where the member may see them. A
        constant number of queries for any number of lines (up to :data:`MAX_LINES`)."""
        if isinstance(lines, str | bytes) or not isinstance(lines, Sequence):
            raise ValidationError.single("lines", "not_list", "must be a list of (item, quantity)")
        if len(lines) > MAX_LINES:
            raise ValidationError.single(
                "lines", "too_many", "may have at most {limit} entries", limit=MAX_LINES
            )
        problems: list[Problem] = []
        wanted: list[tuple[UUID, int]] = []
        for n, line in enumerate(lines):
            if not isinstance(line, tuple) or len(line) != 2:
                problems.append(
                    Problem(f"lines.{n}", "not_line", "must be a pair (item, quantity)")
                )
                continue
            wanted.append(
                (ident(f"lines.{n}", line[0]), check_quantity(problems, f"lines.{n}", line[1]))
            )
        v.raise_if(problems)
        with self._rt.transaction(read_only=True) as uow:
            visit = self._visit(uow, actor)
            ids = frozenset(item_id for item_id, _ in wanted)
            found = (
                {}
                if visit.reach.nothing or not ids
                else {
                    item.id: item
                    for item in uow.search_items(
                        visit.customer.vendor_id, visit.query(ids=ids), limit=MAX_PAGE
                    )
                }
            )
            for item_id, _ in wanted:
                if item_id not in found:
                    raise NotFound("catalogue item", item_id)
            if visit.book is not None:
                # The tiers up to the largest quantity asked for, none above.
                visit.book.load(uow, list(found.values()), up_to=max(q for _, q in wanted))
        result = []
        for item_id, quantity in wanted:
            item = found[item_id]
            if visit.book is None:
                result.append(ShopLine(ShopItem.of(item), quantity, HiddenPrice(item_id, quantity)))
                continue
            unit = visit.book.decide(item, quantity).unit_price
            one = unit if quantity == 1 else visit.book.decide(item, 1).unit_price
            result.append(
                ShopLine(
                    PricedShopItem.of(item, one),
                    quantity,
                    VisiblePrice(
                        item_id,
                        quantity,
                        unit,
                        item.currency,
                        rounded(unit * quantity, item.currency),
                    ),
                )
            )
        return result

    def printer_shop(self, actor: Actor | AccessContext) -> list[PrinterShopDevice]:
        """The member's customer's active devices with the accessories it may order for each
        (active, in its assortment). Where locations limit the member, only the devices at
        the locations it may read (the access context's location grants); a device at no
        location is then hidden too. Devices by serial number, accessories by SKU."""
        with self._rt.transaction(read_only=True) as uow:
            visit = self._visit(uow, actor)
            vendor_id = visit.customer.vendor_id
            limited = visit.ctx.location_read
            devices = [
                d
                for d in uow.devices.list(
                    vendor_id, where={"customer_id": visit.customer.id, "active": True}
                )
                if limited is None or d.location_id in limited
            ]
            models = {m.id: m for m in uow.device_models.list(vendor_id)}
            accessory_ids = frozenset(a for d in devices for a in models[d.model_id].accessory_ids)
            items = (
                []
                if visit.reach.nothing or not accessory_ids
                else uow.search_items(vendor_id, visit.query(ids=accessory_ids), limit=MAX_PAGE)
            )
            views = {view.id: view for view in self._views(uow, visit, items)}
        return [
            PrinterShopDevice(
                device_id=d.id,
                model_id=d.model_id,
                model_name=models[d.model_id].name,
                serial=d.serial,
                location_id=d.location_id,
                accessories=tuple(
                    sorted(
                        (views[a] for a in models[d.model_id].accessory_ids if a in views),
                        key=lambda view: (view.sku.casefold(), str(view.id)),
                    )
                ),
            )
            for d in sorted(devices, key=lambda d: (d.serial.casefold(), str(d.id)))
        ]
