"""Quote records and the member's views of them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import attrs

from portalkit.orders.model import DeliveryAddress

__all__ = [
    "Quote",
    "QuoteLine",
    "QuoteMessage",
    "QuoteRequestLine",
    "QuoteRequestView",
    "QuoteStatus",
    "QuoteView",
    "QuotedLine",
]


class QuoteStatus(enum.Enum):
    """``requested``: a member asked, no prices yet; ``sent``: the vendor answered with
    prices valid until ``valid_until``; then ``accepted`` (an order was made), ``declined``
    by the member, or ``withdrawn`` by the vendor."""

    REQUESTED = "requested"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


@attrs.frozen
class QuoteLine:
    """One line of a quote; ``unit_price`` and ``total`` stay None until the vendor sends
    prices."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price: Decimal | None = None
    total: Decimal | None = None


@attrs.frozen
class Quote:
    """A quote request and, once the vendor answers it, the quote (staff's record)."""

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    membership_id: UUID
    number: str
    created_at: datetime
    lines: tuple[QuoteLine, ...]
    delivery: DeliveryAddress
    note: str = ""
    reference: str = ""
    status: QuoteStatus = QuoteStatus.REQUESTED
    currency: str = ""
    total: Decimal | None = None
    valid_until: date | None = None
    sent_at: datetime | None = None
    sent_by: str = ""
    decided_at: datetime | None = None
    decided_by: UUID | None = None
    order_id: UUID | None = None
    version: int = 1

    def expired(self, today: date) -> bool:
        """Whether a sent quote's validity has run out (``valid_until`` is the last day)."""
        return (
            self.status is QuoteStatus.SENT
            and self.valid_until is not None
            and today > self.valid_until
        )


@attrs.frozen
class QuoteMessage:
    """A message in a quote's thread, by a member (``membership_id``) or by staff."""

    id: UUID
    vendor_id: UUID
    quote_id: UUID
    created_at: datetime
    author: str
    text: str
    membership_id: UUID | None = None
    version: int = 1


@attrs.frozen
class QuoteRequestLine:
    """A line of a quote request as a member sees it without prices."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int


@attrs.frozen
class QuotedLine:
    """A line of a sent quote as a member holding ``quotes.view`` sees it."""

    item_id: UUID
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price: Decimal
    total: Decimal


@attrs.frozen
class QuoteRequestView:
    """A quote (request) as a member sees it without prices: no price attribute at all."""

    id: UUID
    number: str
    customer_id: UUID
    requested_by_me: bool
    created_at: datetime
    status: QuoteStatus
    lines: tuple[QuoteRequestLine, ...]
    delivery: DeliveryAddress
    note: str
    reference: str
    valid_until: date | None
    expired: bool
    order_id: UUID | None
    version: int


@attrs.frozen
class QuoteView:
    """A sent (or decided) quote as a member holding ``quotes.view`` sees it: the quoted
    prices, and until when they hold."""

    id: UUID
    number: str
    customer_id: UUID
    requested_by_me: bool
    created_at: datetime
    status: QuoteStatus
    lines: tuple[QuotedLine, ...]
    currency: str
    total: Decimal
    delivery: DeliveryAddress
    note: str
    reference: str
    valid_until: date | None
    expired: bool
    order_id: UUID | None
    version: int


def member_view(
    quote: Quote, *, priced: bool, me: UUID, today: date
) -> QuoteView | QuoteRequestView:
    """The view of ``quote`` for the member ``me``: with prices only when ``priced`` and the
    vendor has sent them."""
    common: dict[str, object] = {
        "id": quote.id,
        "number": quote.number,
        "customer_id": quote.customer_id,
        "requested_by_me": quote.membership_id == me,
        "created_at": quote.created_at,
        "status": quote.status,
        "delivery": quote.delivery,
        "note": quote.note,
        "reference": quote.reference,
        "valid_until": quote.valid_until,
        "expired": quote.expired(today),
        "order_id": quote.order_id,
        "version": quote.version,
    }
    if priced and quote.total is not None:
        return QuoteView(
            lines=tuple(
                QuotedLine(
                    line.item_id,
                    line.sku,
                    line.name,
                    line.unit,
                    line.quantity,
                    line.unit_price or Decimal(0),
                    line.total or Decimal(0),
                )
                for line in quote.lines
            ),
            currency=quote.currency,
            total=quote.total,
            **common,  # type: ignore[arg-type]
        )
    return QuoteRequestView(
        lines=tuple(
            QuoteRequestLine(line.item_id, line.sku, line.name, line.unit, line.quantity)
            for line in quote.lines
        ),
        **common,  # type: ignore[arg-type]
    )
