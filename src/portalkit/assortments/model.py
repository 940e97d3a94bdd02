"""Assortments: which catalogue items a customer may order."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["Assortment", "AssortmentMode"]


class AssortmentMode(enum.Enum):
    """What an assortment starts from: every item, only the chosen categories and items, or
    (``INHERIT``) nothing of its own — the umbrella's assortment applies."""

    ALL = "all"
    SELECTED = "selected"
    INHERIT = "inherit"


@attrs.frozen
class Assortment:
    """The items one customer may order: ``ALL`` items, or (``SELECTED``) the items of
    ``category_ids`` (with their subcategories) and ``item_ids``; ``excluded_ids`` are never
    in it. A customer without an assortment of its own takes its umbrella's (its parent's,
    and so on up); one with none anywhere up its tree may order nothing (deny by default)."""

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    created_at: datetime
    mode: AssortmentMode = AssortmentMode.ALL
    category_ids: frozenset[UUID] = frozenset()
    item_ids: frozenset[UUID] = frozenset()
    excluded_ids: frozenset[UUID] = frozenset()
    version: int = 1
