"""The shop's catalogue: items with SKU, list price and attributes, in a category tree.

Staff keep it through ``portal.catalogue``; members see it only through ``portal.shop``.
"""

from portalkit.catalogue.model import CatalogueItem, Category, ItemQuery
from portalkit.catalogue.service import CatalogueService

__all__ = ["CatalogueItem", "CatalogueService", "Category", "ItemQuery"]
