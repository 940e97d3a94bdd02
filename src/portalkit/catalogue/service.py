"""The catalogue service (``portal.catalogue``): staff keep the items and the category tree.

Members browse through ``portal.shop``, which shows only their assortment and only the prices
they may see; everything here is the vendor's own view, list prices included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from portalkit import _validation as v
from portalkit import money
from portalkit._guard import require_admin
from portalkit._service import ident, load, page, save, seen_version
from portalkit.catalogue.model import (
    MAX_CATEGORY_DEPTH,
    CatalogueItem,
    Category,
    ItemQuery,
    descendants,
)
from portalkit.errors import NotFound, Problem, ValidationError
from portalkit.staffrights import INBOX_WORK, SHOP_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.actors import Actor
    from portalkit.storage.base import UnitOfWork

__all__ = ["MAX_ATTRIBUTES", "CatalogueService", "check_attributes", "ids_of"]

MAX_ATTRIBUTES = 30
"""An item has at most this many attributes."""

_ATTRIBUTE_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Attributes are shown to every member who sees the item, prices hidden or not: a key that
# names money would carry a price past the price check (Odoo leaked hidden prices through
# its variant data, odoo/odoo#202867), so such keys are refused outright.
_MONEY_WORDS = re.compile(r"price|cost|rate|discount|tier|amount|total|margin|tariff|fee")
_ITEM_FIELDS = frozenset(
    {
        "sku",
        "name",
        "description",
        "unit",
        "list_price",
        "currency",
        "category",
        "active",
        "attributes",
    }
)


def check_attributes(problems: list[Problem], value: object) -> dict[str, Any]:
    """Check an item's attributes: at most :data:`MAX_ATTRIBUTES` keys of lowercase letters,
    digits and ``_`` (up to 40, no word for money such as ``price`` or ``discount``), each
    with a text (up to 200 characters), whole-number or true/false value — nothing nested,
    no decimals, so no price can hide in them."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(
            Problem("attributes", "not_mapping", "must be a mapping of names to values")
        )
        return {}
    if len(value) > MAX_ATTRIBUTES:
        problems.append(
            Problem(
                "attributes",
                "too_many",
                "may have at most {limit} entries",
                {"limit": MAX_ATTRIBUTES},
            )
        )
        return {}
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ATTRIBUTE_KEY.fullmatch(key):
            problems.append(
                Problem(
                    "attributes",
                    "invalid_key",
                    "{key} is not an attribute name (lowercase letters, digits and _)",
                    {"key": v.shown(key)},
                )
            )
            continue
        if _MONEY_WORDS.search(key):
            problems.append(
                Problem(
                    "attributes",
                    "money_key",
                    "{key}: attributes are shown without the price check, so they hold no prices",
                    {"key": key},
                )
            )
            continue
        field = f"attributes.{key}"
        if isinstance(item, bool) or (isinstance(item, int) and abs(item) < 10**15):
            checked[key] = item
        elif isinstance(item, str):
            checked[key] = v.text(problems, field, item, max_length=200)
        else:
            problems.append(
                Problem(field, "invalid_value", "must be text, a whole number or true/false")
            )
    return checked


_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,49}")


def _sku(problems: list[Problem], value: object) -> str:
    """Check a SKU: 1–50 letters A–Z, digits, ``.``, ``_``, ``/`` or ``-``, starting with a
    letter or digit (no space or wildcard, so search and URLs take it as it is)."""
    if not isinstance(value, str) or not _SKU.fullmatch(value):
        problems.append(
            Problem(
                "sku",
                "invalid_sku",
                "must be 1 to 50 letters A–Z, digits, '.', '_', '/' or '-', starting with a "
                "letter or digit",
            )
        )
        return ""
    return value


def _item_fields(problems: list[Problem], values: Mapping[str, Any]) -> dict[str, Any]:
    """Check the given fields of an item; returns them checked."""
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name == "sku":
            checked[name] = _sku(problems, value)
        elif name == "name":
            checked[name] = v.text(problems, name, value)
        elif name == "description":
            checked[name] = v.text(
                problems, name, value, required=False, max_length=v.TEXT_MAX, multiline=True
            )
        elif name == "unit":
            checked[name] = v.text(problems, name, value, max_length=20)
        elif name == "list_price":
            checked[name] = money.amount(problems, name, value)
        elif name == "currency":
            checked[name] = money.currency(problems, name, value)
        elif name == "active":
            checked[name] = v.boolean(problems, name, value)
        else:
            checked[name] = check_attributes(problems, value)
    return checked


class CatalogueService:
    """Items and categories of the vendor's catalogue. Reached as ``portal.catalogue``.

    Example::

        toner = portal.catalogue.create_category(staff, name="Toner")
        item = portal.catalogue.create_item(
            staff, sku="TN-2420", name="Toner TN-2420", list_price=Decimal("49.90"),
            currency="EUR", category=toner, attributes={"page_yield": 3000})
        portal.catalogue.search(staff, text="tn-24", limit=50)
    """

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    # -- categories -----------------------------------------------------------------------
    def create_category(self, actor: Actor, *, name: str, parent: object = None) -> Category:
        """Add a category (under ``parent``, a category or its id, if given)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        checked = v.text(problems, "name", name)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            parent_id = None
            if parent is not None:
                parent_id = load(uow.categories, vendor_id, "category", parent, "parent").id
                self._check_tree(uow, vendor_id, None, parent_id)
            category = Category(
                id=uuid4(),
                vendor_id=vendor_id,
                name=checked,
                parent_id=parent_id,
                created_at=self._rt.clock.now(),
            )
            uow.categories.add(category)
            return category

    def update_category(
        self, actor: Actor, category: object, *, name: str | None = None, parent: object = ...
    ) -> Category:
        """Rename a category or move it (``parent=None``: to the top); a move under itself or
        one of its own subcategories, or deeper than the tree may go, is refused."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = v.text(problems, "name", name)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.categories, vendor_id, "category", category, "category")
            if parent is not ...:
                parent_id = (
                    None
                    if parent is None
                    else load(uow.categories, vendor_id, "category", parent, "parent").id
                )
                self._check_tree(uow, vendor_id, current.id, parent_id)
                fields["parent_id"] = parent_id
            if all(getattr(current, k) == value for k, value in fields.items()):
                return current
            return save(uow.categories, current, seen_version(category), "category", **fields)

    def _check_tree(
        self, uow: UnitOfWork, vendor_id: UUID, moved: UUID | None, parent_id: UUID | None
    ) -> None:
        every = uow.categories.list(vendor_id)
        if moved is not None and parent_id in descendants(every, [moved]):
            raise ValidationError.single("parent", "cycle", "a category cannot move below itself")
        parents = {c.id: c.parent_id for c in every}
        depth, node = 1, parent_id
        while node is not None and depth <= MAX_CATEGORY_DEPTH:
            depth, node = depth + 1, parents.get(node)
        below = 0
        if moved is not None:
            level, seen = {moved}, {moved}
            while level:
                level = {c.id for c in every if c.parent_id in level and c.id not in seen}
                seen |= level
                below += bool(level)
        if depth + below > MAX_CATEGORY_DEPTH:
            raise ValidationError.single(
                "parent",
                "too_deep",
                "the category tree may have at most {limit} levels",
                limit=MAX_CATEGORY_DEPTH,
            )

    def categories(self, actor: Actor) -> list[Category]:
        """Every category of the vendor, oldest first."""
        vendor_id = require_admin(actor, SHOP_MANAGE, INBOX_WORK)
        with self._rt.transaction(read_only=True) as uow:
            return uow.categories.list(vendor_id)

    # -- items ----------------------------------------------------------------------------
    def create_item(
        self,
        actor: Actor,
        *,
        sku: str,
        name: str,
        list_price: object,
        currency: str,
        description: str | None = None,
        unit: str = "piece",
        category: object = None,
        active: bool = True,
        attributes: Mapping[str, Any] | None = None,
    ) -> CatalogueItem:
        """Add an item; its SKU must be new in the vendor, ignoring case (Conflict if not)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        fields = _item_fields(
            problems,
            {
                "sku": sku,
                "name": name,
                "description": description,
                "unit": unit,
                "list_price": list_price,
                "currency": currency,
                "active": active,
                "attributes": attributes,
            },
        )
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            category_id = (
                None
                if category is None
                else load(uow.categories, vendor_id, "category", category, "category").id
            )
            item = CatalogueItem(
                id=uuid4(),
                vendor_id=vendor_id,
                category_id=category_id,
                created_at=self._rt.clock.now(),
                **fields,
            )
            uow.catalogue_items.add(item)
            return item

    def update_item(self, actor: Actor, item: object, **changes: Any) -> CatalogueItem:
        """Change an item's ``sku``, ``name``, ``description``, ``unit``, ``list_price``,
        ``currency``, ``category``, ``active`` or ``attributes``; any other name is refused."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        v.only_fields(problems, changes, _ITEM_FIELDS, "catalogue item")
        v.raise_if(problems)
        fields = _item_fields(problems, {k: x for k, x in changes.items() if k != "category"})
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.catalogue_items, vendor_id, "catalogue item", item, "item")
            if "category" in changes:
                fields["category_id"] = (
                    None
                    if changes["category"] is None
                    else load(
                        uow.categories, vendor_id, "category", changes["category"], "category"
                    ).id
                )
            if all(getattr(current, k) == x for k, x in fields.items()):
                return current
            return save(
                uow.catalogue_items, current, seen_version(item), "catalogue item", **fields
            )

    def get_item(self, actor: Actor, item: object) -> CatalogueItem:
        """One item (NotFound for another vendor's)."""
        vendor_id = require_admin(actor, SHOP_MANAGE, INBOX_WORK)
        with self._rt.transaction(read_only=True) as uow:
            return load(uow.catalogue_items, vendor_id, "catalogue item", item, "item")

    def get_by_sku(self, actor: Actor, sku: str) -> CatalogueItem:
        """The item with this SKU, ignoring case (NotFound if none)."""
        vendor_id = require_admin(actor, SHOP_MANAGE, INBOX_WORK)
        if not v.encodable(sku) or len(sku) > v.CODE_MAX:
            raise NotFound("catalogue item", v.shown(sku))
        with self._rt.transaction(read_only=True) as uow:
            found = uow.catalogue_items.get_by(vendor_id, "sku", sku)
        if found is None:
            raise NotFound("catalogue item", sku)
        return found

    def search(
        self,
        actor: Actor,
        *,
        text: str | None = None,
        sku: str | None = None,
        category: object = None,
        active_only: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CatalogueItem]:
        """A page of items, by SKU: ``text`` in the SKU, name or description (ignoring case),
        exactly one ``sku``, in ``category`` or below it, only active ones (``active_only``)."""
        vendor_id = require_admin(actor, SHOP_MANAGE, INBOX_WORK)
        limit, offset = page(limit, offset)
        problems: list[Problem] = []
        wanted = v.text(problems, "text", text, required=False)
        exact = v.text(problems, "sku", sku, required=False, max_length=v.CODE_MAX)
        v.boolean(problems, "active_only", active_only)
        v.raise_if(problems)
        with self._rt.transaction(read_only=True) as uow:
            categories = None
            if category is not None:
                root = load(uow.categories, vendor_id, "category", category, "category")
                categories = descendants(uow.categories.list(vendor_id), [root.id])
            query = ItemQuery(
                text=wanted,
                sku=exact if sku is not None else None,
                categories=categories,
                active_only=active_only,
            )
            return uow.search_items(vendor_id, query, limit=limit, offset=offset)


def ids_of(field: str, values: object) -> frozenset[UUID]:
    """Records or ids in a list, as a set of ids."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise ValidationError.single(field, "not_list", "must be a list of records or ids")
    return frozenset(ident(field, value) for value in values)
