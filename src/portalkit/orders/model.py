"""Order records, and the two views a member gets of one: with prices, or with none at all."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

__all__ = [
    "DeliveryAddress",
    "MemberOrder",
    "MemberOrderLine",
    "Order",
    "OrderLine",
    "OrderStatus",
    "PriceFreeOrder",
    "PriceFreeOrderLine",
]


class OrderStatus(enum.Enum):
    """Where an order is. ``awaiting_approval`` waits in the customer's approval list;
    ``rejected`` was refused there; the rest is the vendor's progress."""

    AWAITING_APPROVAL = "awaiting_approval"
    PLACED = "placed"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


STAFF_MOVES: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.AWAITING_APPROVAL: frozenset({OrderStatus.CANCELLED}),
    OrderStatus.PLACED: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}
"""The status changes staff may make (approval is the customer's, never staff's)."""


@attrs.frozen
class DeliveryAddress:
    """Where an order goes: a copy of one of the customer's addresses or of a location's
    address, taken at checkout (a later change of the customer's addresses leaves it)."""

    street: str
    postal_code: str
    city: str
    country: str = ""
    label: str = ""
    location_id: UUID | None = None


@attrs.frozen
class OrderLine:
    """One line of an order, with the unit price it was ordered at."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price: Decimal
    total: Decimal


@attrs.frozen
class Order:
    """An order of a customer, placed by one of its members (``membership_id``).

    ``quote_id`` names the quote it was made from (its prices are the quote's);
    ``approved_by`` / ``decided_at`` record the customer's approval when one was needed.
    """

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    membership_id: UUID
    number: str
    created_at: datetime
    currency: str
    lines: tuple[OrderLine, ...]
    total: Decimal
    delivery: DeliveryAddress
    status: OrderStatus = OrderStatus.PLACED
    note: str = ""
    reference: str = ""
    quote_id: UUID | None = None
    decided_by: UUID | None = None
    decided_at: datetime | None = None
    decision_reason: str = ""
    version: int = 1


@attrs.frozen
class MemberOrderLine:
    """A line of an order as a member who may see its prices sees it."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price: Decimal
    total: Decimal


@attrs.frozen
class PriceFreeOrderLine:
    """A line of an order as a member who may not see prices sees it: no price of any kind."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int


@attrs.frozen
class MemberOrder:
    """An order as a member who may see its prices sees it."""

    id: UUID
    number: str
    customer_id: UUID
    placed_by_me: bool
    created_at: datetime
    status: OrderStatus
    lines: tuple[MemberOrderLine, ...]
    currency: str
    total: Decimal
    delivery: DeliveryAddress
    note: str
    reference: str
    quote_id: UUID | None
    version: int


@attrs.frozen
class PriceFreeOrder:
    """An order as a member who may not see prices sees it: no price, total or currency."""

    id: UUID
    number: str
    customer_id: UUID
    placed_by_me: bool
    created_at: datetime
    status: OrderStatus
    lines: tuple[PriceFreeOrderLine, ...]
    delivery: DeliveryAddress
    note: str
    reference: str
    quote_id: UUID | None
    version: int


def member_view(order: Order, *, priced: bool, me: UUID) -> MemberOrder | PriceFreeOrder:
    """The view of ``order`` for the member with membership ``me``."""
    common: dict[str, object] = {
        "id": order.id,
        "number": order.number,
        "customer_id": order.customer_id,
        "placed_by_me": order.membership_id == me,
        "created_at": order.created_at,
        "status": order.status,
        "delivery": order.delivery,
        "note": order.note,
        "reference": order.reference,
        "quote_id": order.quote_id,
        "version": order.version,
    }
    if priced:
        return MemberOrder(
            lines=tuple(
                MemberOrderLine(
                    line.item_id,
                    line.sku,
                    line.name,
                    line.unit,
                    line.quantity,
                    line.unit_price,
                    line.total,
                )
                for line in order.lines
            ),
            currency=order.currency,
            total=order.total,
            **common,  # type: ignore[arg-type]
        )
    return PriceFreeOrder(
        lines=tuple(
            PriceFreeOrderLine(line.item_id, line.sku, line.name, line.unit, line.quantity)
            for line in order.lines
        ),
        **common,  # type: ignore[arg-type]
    )
