"""Catalogue records: items a vendor sells and the category tree they hang in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import UUID

import attrs

from portalkit._validation import code_key

__all__ = [
    "MAX_CATEGORY_DEPTH",
    "CatalogueItem",
    "Category",
    "ItemQuery",
    "ancestry",
    "descendants",
]

MAX_CATEGORY_DEPTH = 10
"""How many levels the category tree may have (a category without parent is level 1)."""


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    # A read-only view of a private copy: a caller can change what is stored through neither.
    return MappingProxyType(dict(value))


@attrs.frozen
class Category:
    """A node of the vendor's category tree (``parent_id`` None: a top-level category)."""

    id: UUID
    vendor_id: UUID
    name: str
    created_at: datetime
    parent_id: UUID | None = None
    version: int = 1


@attrs.frozen
class CatalogueItem:
    """An article of the vendor's catalogue, with its list price.

    ``sku`` is unique per vendor, ignoring case. ``attributes`` is a small mapping of
    descriptive facts (colour, page yield) with text, whole-number or flag values; it never
    holds a price (see :func:`portalkit.catalogue.service.check_attributes`), since members see
    it whether or not they may see prices.
    """

    id: UUID
    vendor_id: UUID
    sku: str
    name: str
    list_price: Decimal
    currency: str
    created_at: datetime
    description: str = ""
    unit: str = "piece"
    category_id: UUID | None = None
    active: bool = True
    attributes: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen, hash=False)
    version: int = 1


@attrs.frozen
class ItemQuery:
    """What a catalogue search asks the storage for (all conditions together).

    ``text`` matches part of the SKU, name or description, ignoring case; ``sku`` one SKU
    exactly (ignoring case); both are kept folded. ``categories`` and ``ids`` narrow to items in those categories / with
    those ids (None: no narrowing). ``allowed_categories`` and ``allowed_ids`` together are an
    assortment: an item passes when it is in one of the categories *or* one of the ids (both
    None: every item). ``excluded`` ids never pass. ``active_only`` drops inactive items.
    Categories are taken as given: the caller expands a category to its subcategories.
    """

    text: str = attrs.field(default="", converter=code_key)
    sku: str | None = attrs.field(default=None, converter=attrs.converters.optional(code_key))
    categories: frozenset[UUID] | None = None
    ids: frozenset[UUID] | None = None
    allowed_categories: frozenset[UUID] | None = None
    allowed_ids: frozenset[UUID] | None = None
    excluded: frozenset[UUID] = frozenset()
    active_only: bool = False

    @property
    def restricted(self) -> bool:
        """Whether an assortment limits the result."""
        return self.allowed_categories is not None or self.allowed_ids is not None

    def matches(self, item: CatalogueItem) -> bool:
        """Whether ``item`` passes: the memory backend's filter, and the SQL one's reference.
        ``text`` and ``sku`` are kept folded (:func:`~portalkit._validation.code_key`), and
        are compared with the folded SKU, name and description."""
        if self.active_only and not item.active:
            return False
        if item.id in self.excluded:
            return False
        if self.ids is not None and item.id not in self.ids:
            return False
        if self.categories is not None and item.category_id not in self.categories:
            return False
        if self.restricted and not (
            (self.allowed_ids is not None and item.id in self.allowed_ids)
            or (self.allowed_categories is not None and item.category_id in self.allowed_categories)
        ):
            return False
        if self.sku is not None and code_key(item.sku) != self.sku:
            return False
        return not self.text or any(
            self.text in code_key(part) for part in (item.sku, item.name, item.description)
        )


def descendants(categories: Iterable[Category], roots: Iterable[UUID]) -> frozenset[UUID]:
    """``roots`` and every category below them (a cycle in stored data ends the walk)."""
    children: dict[UUID | None, list[UUID]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category.id)
    found = set(roots)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return frozenset(found)


def ancestry(parents: Mapping[UUID, UUID | None], category_id: UUID | None) -> tuple[UUID, ...]:
    """The category and those above it, nearest first (``parents``: category id to parent
    id); empty for an item without category."""
    path: list[UUID] = []
    while category_id is not None and category_id not in path and len(path) < MAX_CATEGORY_DEPTH:
        path.append(category_id)
        category_id = parents.get(category_id)
    return tuple(path)
