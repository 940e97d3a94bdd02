"""Vendors: the businesses that run portals. Every other record belongs to exactly one vendor."""

from portalkit.vendors.model import (
    Vendor,
)
from portalkit.vendors.service import (
    VendorService,
)

__all__ = [
    "Vendor",
    "VendorService",
]
