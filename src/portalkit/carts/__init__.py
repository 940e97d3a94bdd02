"""The cart: what a member means to order, kept per membership until checkout.

A cart stores items and quantities only, never a price: prices are worked out when it is
shown (:class:`~portalkit.carts.model.CartView` for a member who may see them,
:class:`~portalkit.carts.model.PriceFreeCartView` without any price attribute otherwise).
"""

from portalkit.carts.model import (
    Cart,
    CartLine,
    CartView,
    CartViewLine,
    PriceFreeCartLine,
    PriceFreeCartView,
)

__all__ = [
    "Cart",
    "CartLine",
    "CartView",
    "CartViewLine",
    "PriceFreeCartLine",
    "PriceFreeCartView",
]
