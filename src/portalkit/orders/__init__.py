"""Orders: what a member's checkout places (or an accepted quote becomes), their numbers,
their approval by the customer, and their status as staff move it on.

Staff see :class:`~portalkit.orders.model.Order` records; a member sees views made for it
(:class:`~portalkit.orders.model.MemberOrder` with prices, or
:class:`~portalkit.orders.model.PriceFreeOrder` without any price attribute).
"""

from portalkit.orders.model import (
    DeliveryAddress,
    MemberOrder,
    MemberOrderLine,
    Order,
    OrderLine,
    OrderStatus,
    PriceFreeOrder,
    PriceFreeOrderLine,
)

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
