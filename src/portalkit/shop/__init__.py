"""The member's shop: its catalogue page, the printer shop, and prices that never leak."""

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
from portalkit.shop.service import ShopService

__all__ = [
    "CheckoutMode",
    "HiddenPrice",
    "PricedShopItem",
    "PrinterShopDevice",
    "ShopItem",
    "ShopLine",
    "ShopPage",
    "ShopService",
    "VisiblePrice",
]
