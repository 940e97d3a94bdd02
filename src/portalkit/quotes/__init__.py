"""Quotes both ways: a member's quote request (no prices), the vendor's quote answering it
(prices with a validity date), the member's acceptance (an order at the quoted prices) or
refusal, and a thread of messages on it.

Staff see :class:`~portalkit.quotes.model.Quote` records; members see
:class:`~portalkit.quotes.model.QuoteRequestView` (no price attribute) or, holding
``quotes.view`` once the vendor has sent prices, :class:`~portalkit.quotes.model.QuoteView`.
"""

from portalkit.quotes.model import (
    Quote,
    QuotedLine,
    QuoteLine,
    QuoteMessage,
    QuoteRequestLine,
    QuoteRequestView,
    QuoteStatus,
    QuoteView,
)

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
