"""The pricing service (``portal.pricing``): price lists, their rules, and price books.

A :class:`PriceBook` is one customer's prices for one request, like an access context: built
from three queries (categories, price lists, groups), then one query per page of items for
the rules of those items and their categories — a constant number, whatever the size of the
catalogue or of the price lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from portalkit import _validation as v
from portalkit import money
from portalkit._guard import require_admin, who
from portalkit._service import ident, load, page, save, seen_version
from portalkit.actors import Member
from portalkit.catalogue.model import CatalogueItem, ancestry
from portalkit.catalogue.service import ids_of
from portalkit.errors import Message, PermissionDenied, Problem, ValidationError
from portalkit.groups.service import check_customers
from portalkit.pricing.model import Level, PriceDecision, PriceList, PriceRule, RuleKind, resolve
from portalkit.staffrights import INBOX_WORK, SHOP_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.actors import Actor
    from portalkit.catalogue.model import Category
    from portalkit.customers.model import Customer
    from portalkit.storage.base import UnitOfWork

__all__ = ["MAX_QUANTITY", "PriceBook", "PricingService", "check_quantity"]

MAX_QUANTITY = 1_000_000
"""The largest quantity a price is asked for."""


def check_quantity(problems: list[Problem], field: str, value: object) -> int:
    """Check a quantity: a whole number from 1 to :data:`MAX_QUANTITY`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        problems.append(
            Problem(
                field,
                "out_of_range",
                "must be a whole number from 1 to {limit}",
                {"limit": MAX_QUANTITY},
            )
        )
        return 1
    return value


class PriceBook:
    """The effective prices of one customer, resolved once per request.

    Build it with ``portal.pricing.book(actor)``; then ``book.price(item, quantity)`` gives a
    :class:`~portalkit.pricing.model.PriceDecision`, ``book.explain(item, quantity)`` says
    which rule decided, and ``book.prices(items, quantity)`` prices a page of items with one
    query. The moment prices are asked for is the book's (the portal clock when it was
    built), so one request sees one set of valid rules.
    """

    def __init__(
        self,
        rt: Runtime,
        customer: Customer,
        levels: Sequence[Level],
        parents: dict[UUID, UUID | None],
        at: datetime,
    ) -> None:
        self._rt = rt
        #: The customer whose prices these are.
        self.customer = customer
        #: The moment the prices hold for.
        self.at = at
        self._levels = tuple(levels)
        self._list_ids = frozenset(pl.id for level in levels for pl in level.lists)
        self._parents = parents
        # Per item read: the largest quantity its rules were read for (MAX_QUANTITY: all),
        # those rules, and its category path — one entry, so deciding an item is one lookup.
        self._read: dict[UUID, tuple[int, list[PriceRule], tuple[UUID, ...]]] = {}
        # Per category: it and those above it (a page's items share their categories).
        self._paths: dict[UUID | None, tuple[UUID, ...]] = {}

    def __repr__(self) -> str:
        # Says whose book it is, never what is in it.
        return f"<PriceBook customer={self.customer.code!r}>"

    @property
    def has_price_lists(self) -> bool:
        """Whether any price list applies to the customer at all."""
        return bool(self._list_ids)

    def load(
        self, uow: UnitOfWork, items: Sequence[CatalogueItem], *, up_to: int = MAX_QUANTITY
    ) -> None:
        """Read the rules of ``items`` (not yet read) in one query, in ``uow``: those valid
        at the book's moment with a minimum quantity of at most ``up_to`` (a page priced for
        one piece needs no higher tier; asking a larger quantity later reads them)."""
        read = self._read
        wanted = [item for item in items if (read.get(item.id) or (0,))[0] < up_to]
        if not wanted:
            return
        paths = [self._path(item.category_id) for item in wanted]
        if not self._list_ids:
            for item, path in zip(wanted, paths, strict=True):
                read[item.id] = (MAX_QUANTITY, [], path)
            return
        rules = uow.price_rules_for(
            self.customer.vendor_id,
            self._list_ids,
            item_ids=[item.id for item in wanted],
            category_ids={c for path in paths for c in path},
            valid_at=self.at,
            up_to=up_to,
        )
        by_target: dict[UUID | None, list[PriceRule]] = {}
        for r in rules:
            by_target.setdefault(r.item_id if r.item_id is not None else r.category_id, []).append(
                r
            )
        # The rules of each category's path, gathered once for the items that share it.
        of_category: dict[UUID | None, list[PriceRule]] = {}
        for item, path in zip(wanted, paths, strict=True):
            shared = of_category.get(item.category_id)
            if shared is None:
                shared = of_category[item.category_id] = [
                    r for c in path for r in by_target.get(c, ())
                ]
            own = by_target.get(item.id)
            read[item.id] = (up_to, own + shared if own else shared, path)

    def _path(self, category_id: UUID | None) -> tuple[UUID, ...]:
        path = self._paths.get(category_id)
        if path is None:
            path = self._paths[category_id] = ancestry(self._parents, category_id)
        return path

    def prices(
        self, items: Sequence[CatalogueItem], quantity: int = 1
    ) -> dict[UUID, PriceDecision]:
        """The decisions for a page of items at one quantity, by item id (one query)."""
        problems: list[Problem] = []
        quantity = check_quantity(problems, "quantity", quantity)
        v.raise_if(problems)
        read = self._read
        if any((read.get(item.id) or (0,))[0] < quantity for item in items):
            with self._rt.transaction(read_only=True) as uow:
                self.load(uow, items, up_to=quantity)
        return {item.id: self._decide(item, quantity) for item in items}

    def price(self, item: CatalogueItem, quantity: int = 1) -> PriceDecision:
        """The effective unit price of ``item`` at ``quantity``, and which rule decided."""
        if not isinstance(item, CatalogueItem) or item.vendor_id != self.customer.vendor_id:
            raise ValidationError.single(
                "item", "not_item", "must be a catalogue item of the vendor"
            )
        return self.prices([item], quantity)[item.id]

    def explain(self, item: CatalogueItem, quantity: int = 1) -> Message:
        """Which rule gives ``item`` its price at ``quantity`` (or that the list price stands)."""
        return self.price(item, quantity).reason

    def decide(self, item: CatalogueItem, quantity: int) -> PriceDecision:
        """The decision for one ``item`` of a page already priced or loaded (:meth:`load`)
        at ``quantity``: what :meth:`prices` gives per item, without building a dict for
        each — the shop's page and checkout lines ask item by item."""
        if not isinstance(item, CatalogueItem) or item.vendor_id != self.customer.vendor_id:
            raise ValidationError.single(
                "item", "not_item", "must be a catalogue item of the vendor"
            )
        if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
            problems: list[Problem] = []
            check_quantity(problems, "quantity", quantity)
            v.raise_if(problems)
        read = self._read.get(item.id)
        if read is None or read[0] < quantity:
            return self.prices([item], quantity)[item.id]
        return resolve(item, quantity, self.at, self._levels, read[1], read[2])

    def _decide(self, item: CatalogueItem, quantity: int) -> PriceDecision:
        _, rules, path = self._read[item.id]
        return resolve(item, quantity, self.at, self._levels, rules, path)


def build_book(
    rt: Runtime,
    uow: UnitOfWork,
    customer: Customer,
    categories: Sequence[Category] | None = None,
) -> PriceBook:
    """The price book of ``customer``, read in ``uow`` with three queries (one fewer when
    the vendor's ``categories`` are given, already read, and one fewer when no active price
    list is assigned to a group)."""
    vendor_id = customer.vendor_id
    if categories is None:
        categories = uow.categories.list(vendor_id)
    parents = {c.id: c.parent_id for c in categories}
    lists = [pl for pl in uow.price_lists.list(vendor_id) if pl.active]
    # Groups matter only through a list assigned to one: without such a list, none is read.
    groups = (
        [g for g in uow.customer_groups.list(vendor_id) if customer.id in g.customer_ids]
        if any(pl.group_ids for pl in lists)
        else []
    )
    own = tuple(pl for pl in lists if customer.id in pl.customer_ids)
    levels = [Level(own, Message("assigned to the customer"))] if own else []
    for group in groups:
        # One level per group, in the order the groups were made: an older group's list is
        # asked first (documented precedence; a customer is rarely in two priced groups).
        in_group = tuple(pl for pl in lists if group.id in pl.group_ids and pl not in own)
        if in_group:
            levels.append(Level(in_group, Message("assigned to group {group}", group=group.name)))
    return PriceBook(rt, customer, levels, parents, rt.clock.now())


class PricingService:
    """Price lists and their rules (staff), and price books. Reached as ``portal.pricing``;
    every change to a list or rule is audited.

    Example::

        retail = portal.pricing.create_list(staff, name="Retail 2027", currency="EUR",
                                            customers=[acme], groups=[resellers])
        portal.pricing.add_rule(staff, retail, item=toner, kind="fixed", value=Decimal("39.90"))
        portal.pricing.add_rule(staff, retail, category=paper, kind="percent",
                                value=Decimal("10"), min_quantity=10)
        book = portal.pricing.book(staff, customer=acme)
        book.price(toner, 5).unit_price      # Decimal('39.90')
        book.explain(toner, 5)               # 'a fixed price for the item in price list …'
    """

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    # -- price lists ----------------------------------------------------------------------
    def create_list(
        self,
        actor: Actor,
        *,
        name: str,
        currency: str,
        customers: Iterable[Any] = (),
        groups: Iterable[Any] = (),
        active: bool = True,
    ) -> PriceList:
        """Add a price list in ``currency``, assigned to ``customers`` and ``groups``."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        checked = v.text(problems, "name", name, max_length=v.SHORT_MAX)
        code = money.currency(problems, "currency", currency)
        v.boolean(problems, "active", active)
        v.raise_if(problems)
        customer_ids, group_ids = ids_of("customers", customers), ids_of("groups", groups)
        with self._rt.transaction() as uow:
            self._check_assignees(uow, vendor_id, customer_ids, group_ids)
            price_list = PriceList(
                id=uuid4(),
                vendor_id=vendor_id,
                name=checked,
                currency=code,
                customer_ids=customer_ids,
                group_ids=group_ids,
                active=active,
                created_at=self._rt.clock.now(),
            )
            uow.price_lists.add(price_list)
            self._audit(uow, actor, "price_list_created", price_list)
            return price_list

    def update_list(
        self,
        actor: Actor,
        price_list: object,
        *,
        name: str | None = None,
        customers: Iterable[Any] | None = None,
        groups: Iterable[Any] | None = None,
        active: bool | None = None,
    ) -> PriceList:
        """Rename a list, switch it on or off, or set whom it is assigned to (whole sets)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = v.text(problems, "name", name, max_length=v.SHORT_MAX)
        if active is not None:
            fields["active"] = v.boolean(problems, "active", active)
        v.raise_if(problems)
        if customers is not None:
            fields["customer_ids"] = ids_of("customers", customers)
        if groups is not None:
            fields["group_ids"] = ids_of("groups", groups)
        with self._rt.transaction() as uow:
            current = load(uow.price_lists, vendor_id, "price list", price_list, "price_list")
            self._check_assignees(
                uow, vendor_id, fields.get("customer_ids", ()), fields.get("group_ids", ())
            )
            if all(getattr(current, k) == x for k, x in fields.items()):
                return current
            saved = save(uow.price_lists, current, seen_version(price_list), "price list", **fields)
            self._audit(uow, actor, "price_list_updated", saved)
            return saved

    def _check_assignees(
        self, uow: UnitOfWork, vendor_id: UUID, customers: Iterable[UUID], groups: Iterable[UUID]
    ) -> None:
        check_customers(uow, vendor_id, customers)
        for group_id in groups:
            load(uow.customer_groups, vendor_id, "customer group", group_id, "groups")

    def lists(self, actor: Actor) -> list[PriceList]:
        """Every price list of the vendor, oldest first."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            return uow.price_lists.list(vendor_id)

    # -- rules ----------------------------------------------------------------------------
    def add_rule(
        self,
        actor: Actor,
        price_list: object,
        *,
        kind: str | RuleKind,
        value: object,
        item: object = None,
        category: object = None,
        min_quantity: int = 1,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> PriceRule:
        """Add a rule for ``item`` or for ``category`` (exactly one): ``kind="fixed"`` sets
        the unit price to ``value`` (in the list's currency), ``"percent"`` takes ``value``
        percent off the list price (negative: a surcharge; at most 100). It applies from
        ``min_quantity`` on, from ``valid_from`` (inclusive) until ``valid_until``
        (exclusive), both timezone-aware."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        chosen = v.choice(problems, "kind", kind, RuleKind)
        number = money.amount(problems, "value", value, negative=chosen is RuleKind.PERCENT)
        if chosen is RuleKind.PERCENT and not -1000 <= number <= 100:
            problems.append(Problem("value", "out_of_range", "must be a percentage of at most 100"))
        quantity = check_quantity(problems, "min_quantity", min_quantity)
        for field, moment in (("valid_from", valid_from), ("valid_until", valid_until)):
            if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
                problems.append(Problem(field, "not_datetime", "must be a timezone-aware datetime"))
        if (
            isinstance(valid_from, datetime)
            and isinstance(valid_until, datetime)
            and valid_from.tzinfo is not None
            and valid_until.tzinfo is not None
            and valid_until <= valid_from
        ):
            problems.append(Problem("valid_until", "out_of_range", "must be after valid_from"))
        if (item is None) == (category is None):
            problems.append(Problem("item", "required", "name either an item or a category"))
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            owner = load(uow.price_lists, vendor_id, "price list", price_list, "price_list")
            item_id = category_id = None
            if item is not None:
                item_id = load(uow.catalogue_items, vendor_id, "catalogue item", item, "item").id
            else:
                category_id = load(uow.categories, vendor_id, "category", category, "category").id
            rule = PriceRule(
                id=uuid4(),
                vendor_id=vendor_id,
                price_list_id=owner.id,
                kind=chosen,
                value=number,
                item_id=item_id,
                category_id=category_id,
                min_quantity=quantity,
                valid_from=valid_from,
                valid_until=valid_until,
                created_at=self._rt.clock.now(),
            )
            uow.price_rules.add(rule)
            self._audit(uow, actor, "price_rule_added", owner, rule=_rule_details(rule))
            return rule

    def remove_rule(self, actor: Actor, rule: object) -> None:
        """Delete a rule (NotFound for another vendor's)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        with self._rt.transaction() as uow:
            found = load(uow.price_rules, vendor_id, "price rule", rule, "rule")
            owner = load(uow.price_lists, vendor_id, "price list", found.price_list_id, "rule")
            uow.delete_price_rule(vendor_id, found.id)
            self._audit(uow, actor, "price_rule_removed", owner, rule=_rule_details(found))

    def rules(
        self, actor: Actor, price_list: object, *, limit: int = 100, offset: int = 0
    ) -> list[PriceRule]:
        """A page of a list's rules, oldest first."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        limit, offset = page(limit, offset)
        with self._rt.transaction(read_only=True) as uow:
            owner = load(uow.price_lists, vendor_id, "price list", price_list, "price_list")
            return uow.price_rules.list(
                vendor_id, where={"price_list_id": owner.id}, limit=limit, offset=offset
            )

    # -- books ----------------------------------------------------------------------------
    def book(self, actor: Actor | AccessContext, customer: object = None) -> PriceBook:
        """The price book of ``customer`` (staff) or of the member's own customer.

        A member gets one only when it may see prices (its customer shows them and it holds
        ``prices.view``); otherwise PermissionDenied, whose message names no price.
        """
        ctx = self._access.context(actor)
        real = who(ctx.actor)
        with self._rt.transaction(read_only=True) as uow:
            if isinstance(real, Member):
                if customer is not None and ident("customer", customer) != real.customer_id:
                    raise PermissionDenied("a member sees the prices of its own customer only")
                owner = uow.customers.get(real.vendor_id, real.customer_id)
                if owner is None or not owner.settings.show_prices:
                    raise PermissionDenied("prices are not shown to this customer")
                ctx.require("prices.view")
            else:
                vendor_id = require_admin(real, SHOP_MANAGE, INBOX_WORK)
                if customer is None:
                    raise ValidationError.single("customer", "required", "name the customer")
                owner = load(uow.customers, vendor_id, "customer", customer, "customer")
            return build_book(self._rt, uow, owner)

    def _audit(
        self, uow: UnitOfWork, actor: Actor, action: str, price_list: PriceList, **details: Any
    ) -> None:
        self._rt.record(
            uow,
            vendor_id=price_list.vendor_id,
            action=action,
            real=actor,
            target=f"price_list:{price_list.id}",
            name=price_list.name,
            currency=price_list.currency,
            active=price_list.active,
            customers=sorted(str(c) for c in price_list.customer_ids),
            groups=sorted(str(g) for g in price_list.group_ids),
            **details,
        )


def _rule_details(rule: PriceRule) -> dict[str, Any]:
    return {
        "id": str(rule.id),
        "kind": rule.kind.value,
        "value": str(rule.value),
        "item": str(rule.item_id) if rule.item_id else None,
        "category": str(rule.category_id) if rule.category_id else None,
        "min_quantity": rule.min_quantity,
        "valid_from": rule.valid_from.isoformat() if rule.valid_from else None,
        "valid_until": rule.valid_until.isoformat() if rule.valid_until else None,
    }
