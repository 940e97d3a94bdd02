"""What a member sees of the shop: item views with a price, and item views without one.

A view without prices is a type of its own that has no price attribute at all — not a None
in a price field — so no listing, repr, ``attrs.asdict`` or JSON made from it can carry a
price, a discount, a tier or a price list's name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from portalkit.catalogue.model import CatalogueItem

__all__ = [
    "CheckoutMode",
    "HiddenPrice",
    "PricedShopItem",
    "PrinterShopDevice",
    "ShopItem",
    "ShopLine",
    "ShopPage",
    "VisiblePrice",
]


@attrs.frozen
class ShopItem:
    """An item as a member who may not see prices sees it: no price of any kind."""

    id: UUID
    sku: str
    name: str
    description: str
    unit: str
    category_id: UUID | None
    attributes: Mapping[str, Any] = attrs.field(hash=False)

    @classmethod
    def of(cls, item: CatalogueItem) -> ShopItem:
        """The price-free view of a catalogue item."""
        return cls(
            id=item.id,
            sku=item.sku,
            name=item.name,
            description=item.description,
            unit=item.unit,
            category_id=item.category_id,
            attributes=item.attributes,
        )


@attrs.frozen
class PricedShopItem:
    """An item as a member who may see prices sees it: with its effective unit price (for a
    quantity of one; tiers through :meth:`ShopService.lines
    <portalkit.shop.service.ShopService.lines>`)."""

    id: UUID
    sku: str
    name: str
    description: str
    unit: str
    category_id: UUID | None
    attributes: Mapping[str, Any] = attrs.field(hash=False)
    unit_price: Decimal
    currency: str

    @classmethod
    def of(cls, item: CatalogueItem, unit_price: Decimal) -> PricedShopItem:
        """The priced view of a catalogue item."""
        return cls(
            id=item.id,
            sku=item.sku,
            name=item.name,
            description=item.description,
            unit=item.unit,
            category_id=item.category_id,
            attributes=item.attributes,
            unit_price=unit_price,
            currency=item.currency,
        )


@attrs.frozen
class ShopPage:
    """One page of a member's catalogue: every item a :class:`PricedShopItem` when
    ``prices_shown``, else every one a :class:`ShopItem`; ``more`` when a next page exists."""

    items: tuple[ShopItem | PricedShopItem, ...]
    prices_shown: bool
    more: bool


@attrs.frozen
class VisiblePrice:
    """The price a member may see for ``quantity`` of an item: unit price and line total."""

    item_id: UUID
    quantity: int
    unit_price: Decimal
    currency: str
    total: Decimal


@attrs.frozen
class HiddenPrice:
    """The fact that the member may not see the price of this item: nothing else."""

    item_id: UUID
    quantity: int


@attrs.frozen
class ShopLine:
    """One checked line for checkout: the item as the member sees it, the quantity, and the
    price it may see or the fact that it may not."""

    item: ShopItem | PricedShopItem
    quantity: int
    price: VisiblePrice | HiddenPrice


class CheckoutMode(enum.Enum):
    """What a member's checkout produces: an order (prices shown and ``shop.order`` held) or
    a quote request (prices hidden, or only ``quotes.request`` held)."""

    ORDER = "order"
    QUOTE_REQUEST = "quote_request"


@attrs.frozen
class PrinterShopDevice:
    """One device of the member's customer with the accessories it may order for it."""

    device_id: UUID
    model_id: UUID
    model_name: str
    serial: str
    location_id: UUID | None
    accessories: tuple[ShopItem | PricedShopItem, ...]
