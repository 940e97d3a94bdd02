"""Price lists, their rules, and the one function that decides a unit price.

Precedence (also in docs/shop.md): the price lists that apply to a customer form two levels —
first the lists assigned to the customer itself, then the lists assigned to a group it is in.
The first level with a rule that applies decides. Within it, a rule for the item beats a rule
for a category, and a rule for a nearer category (the item's own) beats one for a category
further up the tree; among those, the highest minimum quantity not above the quantity ordered
wins (the tier); if several rules are still left, the lowest resulting price wins (then the
rule's id, so the answer never depends on storage order). No rule: the list price.

A rule applies when its list is active and in the item's currency, the quantity reaches its
``min_quantity``, and the moment asked about lies in ``[valid_from, valid_until)``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

from portalkit.catalogue.model import CatalogueItem
from portalkit.errors import Message
from portalkit.money import rounded

__all__ = [
    "Level",
    "PriceDecision",
    "PriceList",
    "PriceRule",
    "RuleKind",
    "resolve",
]


class RuleKind(enum.Enum):
    """A fixed unit price, or a percentage off the list price (negative: a surcharge)."""

    FIXED = "fixed"
    PERCENT = "percent"


@attrs.frozen
class PriceList:
    """A named price list in one currency, assigned to customers and customer groups."""

    id: UUID
    vendor_id: UUID
    name: str
    currency: str
    created_at: datetime
    customer_ids: frozenset[UUID] = frozenset()
    group_ids: frozenset[UUID] = frozenset()
    active: bool = True
    version: int = 1


@attrs.frozen
class PriceRule:
    """One rule of a price list: for an item or (``item_id`` None) a whole category, from a
    minimum quantity on, within optional validity dates."""

    id: UUID
    vendor_id: UUID
    price_list_id: UUID
    kind: RuleKind
    value: Decimal
    created_at: datetime
    item_id: UUID | None = None
    category_id: UUID | None = None
    min_quantity: int = 1
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    version: int = 1

    def valid_at(self, at: datetime) -> bool:
        """Whether ``at`` lies within ``[valid_from, valid_until)``."""
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )

    def price_of(self, list_price: Decimal, currency: str) -> Decimal:
        """The unit price this rule gives an item with ``list_price``."""
        if self.kind is RuleKind.FIXED:
            return rounded(self.value, currency)
        return rounded(list_price * (100 - self.value) / 100, currency)


@attrs.frozen
class PriceDecision:
    """The effective unit price of one item for one customer and quantity, and why.

    ``rule`` and ``price_list`` are None when the list price stands. Only staff and members
    who may see prices ever receive one.
    """

    item_id: UUID
    quantity: int
    unit_price: Decimal
    currency: str
    list_price: Decimal
    rule: PriceRule | None = None
    price_list: PriceList | None = None
    #: Where the deciding list comes from ("assigned to the customer"), or None.
    source: Message | None = None

    @property
    def reason(self) -> Message:
        """Which rule decided, in words (made when asked: a page of prices needs none)."""
        if self.rule is None or self.price_list is None or self.source is None:
            return Message("the list price: no rule of the customer's price lists applies")
        return Message(
            "{what} in price list {name} ({source}), from quantity {quantity}",
            what=_what(self.rule),
            name=self.price_list.name,
            source=self.source,
            quantity=self.rule.min_quantity,
        )


@attrs.frozen
class Level:
    """The price lists of one precedence level and the words that say where they come from."""

    lists: tuple[PriceList, ...]
    source: Message


def _what(rule: PriceRule) -> Message:
    if rule.item_id is not None:
        if rule.kind is RuleKind.FIXED:
            return Message("a fixed price for the item")
        return Message("{percent} percent off the list price of the item", percent=str(rule.value))
    if rule.kind is RuleKind.FIXED:
        return Message("a fixed price for its category")
    return Message("{percent} percent off the list price in its category", percent=str(rule.value))


def resolve(
    item: CatalogueItem,
    quantity: int,
    at: datetime,
    levels: Sequence[Level],
    rules: Iterable[PriceRule],
    category_path: Sequence[UUID],
) -> PriceDecision:
    """The unit price of ``item`` at ``quantity`` and moment ``at``, by the precedence above.

    ``rules`` may hold rules of any item, category and list (those that do not apply are
    passed over); ``category_path`` is the item's category and its ancestors, nearest first.
    """
    nearness = {category: rank for rank, category in enumerate(category_path, start=1)}
    # PriceRule.valid_at, written out: a page decides fifty prices over some three rules each.
    usable = [
        r
        for r in rules
        if r.min_quantity <= quantity
        and (r.valid_from is None or r.valid_from <= at)
        and (r.valid_until is None or at < r.valid_until)
    ]
    item_id, currency, list_price = item.id, item.currency, item.list_price
    for level in levels:
        lists = {pl.id: pl for pl in level.lists if pl.active and pl.currency == currency}
        # The smallest (rank, -min_quantity, price, str(id)) wins; the price and the id are
        # only worked out for a rule that ties with the best on the first two.
        best: PriceRule | None = None
        best_order = (0, 0)
        best_price = Decimal(0)
        for rule in usable:
            if rule.price_list_id not in lists:
                continue
            if rule.item_id is not None:
                if rule.item_id != item_id:
                    continue
                rank = 0
            else:
                near = nearness.get(rule.category_id) if rule.category_id is not None else None
                if near is None:
                    continue
                rank = near
            order = (rank, -rule.min_quantity)
            if best is not None and order > best_order:
                continue
            price = rule.price_of(list_price, currency)
            if (
                best is None
                or order < best_order
                or (price, str(rule.id)) < (best_price, str(best.id))
            ):
                best, best_order, best_price = rule, order, price
        if best is not None:
            return PriceDecision(
                item_id=item_id,
                quantity=quantity,
                unit_price=best_price,
                currency=currency,
                list_price=list_price,
                rule=best,
                price_list=lists[best.price_list_id],
                source=level.source,
            )
    return PriceDecision(
        item_id=item.id,
        quantity=quantity,
        unit_price=rounded(item.list_price, item.currency),
        currency=item.currency,
        list_price=item.list_price,
    )
