"""The stored cart (items and quantities only) and the two views of it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

__all__ = [
    "Cart",
    "CartLine",
    "CartView",
    "CartViewLine",
    "PriceFreeCartLine",
    "PriceFreeCartView",
]


@attrs.frozen
class CartLine:
    """An item and how many of it."""

    item_id: UUID
    quantity: int


@attrs.frozen
class Cart:
    """The cart of one membership (at most one each): no price is ever stored in it."""

    id: UUID
    vendor_id: UUID
    membership_id: UUID
    customer_id: UUID
    created_at: datetime
    lines: tuple[CartLine, ...] = ()
    version: int = 1


@attrs.frozen
class CartViewLine:
    """A cart line with the price the member may see."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price: Decimal
    total: Decimal


@attrs.frozen
class PriceFreeCartLine:
    """A cart line without any price."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int


@attrs.frozen
class CartView:
    """The cart with prices and the total (``currency`` "" for an empty cart)."""

    lines: tuple[CartViewLine, ...]
    currency: str
    total: Decimal
    #: What checkout will produce: "order" or "quote_request".
    checkout: str


@attrs.frozen
class PriceFreeCartView:
    """The cart without any price: its checkout makes a quote request."""

    lines: tuple[PriceFreeCartLine, ...]
    checkout: str
