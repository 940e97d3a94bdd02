"""The assortment service (``portal.assortments``) and the resolution of a customer's
effective assortment, umbrellas included."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import load
from portalkit.assortments.model import Assortment, AssortmentMode
from portalkit.catalogue.model import Category, descendants
from portalkit.catalogue.service import ids_of
from portalkit.customers.model import MAX_TREE_DEPTH, Customer
from portalkit.errors import NotFound, Problem
from portalkit.staffrights import SHOP_MANAGE

if TYPE_CHECKING:
    from uuid import UUID

    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.actors import Actor
    from portalkit.storage.base import UnitOfWork

__all__ = ["AssortmentService", "Reach", "effective_assortment"]


@attrs.frozen
class Reach:
    """A customer's effective assortment as a search understands it: None sets mean no
    limit; ``source`` is the customer whose assortment it is (None: none anywhere up the
    tree, so nothing may be ordered)."""

    categories: frozenset[UUID] | None
    ids: frozenset[UUID] | None
    excluded: frozenset[UUID]
    source: UUID | None

    @property
    def nothing(self) -> bool:
        """Whether no item at all is in it."""
        return self.categories == frozenset() and self.ids == frozenset()


def effective_assortment(
    uow: UnitOfWork, customer: Customer, categories: Iterable[Category]
) -> Reach:
    """The assortment that applies to ``customer``: its own, else its umbrella's (walking up
    at most the tree's depth), else nothing (deny by default). Categories are expanded to
    their subcategories. One look-up per level of the tree, whatever the catalogue's size."""
    node: Customer | None = customer
    for _ in range(MAX_TREE_DEPTH):
        if node is None:
            break
        found = uow.assortments.get_by(customer.vendor_id, "customer", node.id)
        if found is not None and found.mode is not AssortmentMode.INHERIT:
            if found.mode is AssortmentMode.ALL:
                return Reach(None, None, found.excluded_ids, node.id)
            return Reach(
                descendants(categories, found.category_ids),
                found.item_ids,
                found.excluded_ids,
                node.id,
            )
        node = (
            uow.customers.get(customer.vendor_id, node.parent_id)
            if node.parent_id is not None
            else None
        )
    return Reach(frozenset(), frozenset(), frozenset(), None)


class AssortmentService:
    """Which items each customer may order. Reached as ``portal.assortments``; every change is
    audited.

    Example::

        portal.assortments.set(staff, acme, mode="selected", categories=[toner],
                               items=[paper], excluded=[colour_toner])
        portal.assortments.set(staff, acme_berlin, mode="inherit")   # takes Acme's
    """

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def set(
        self,
        actor: Actor,
        customer: object,
        *,
        mode: str | AssortmentMode,
        categories: Iterable[Any] = (),
        items: Iterable[Any] = (),
        excluded: Iterable[Any] = (),
    ) -> Assortment:
        """Set the customer's assortment: ``"all"`` items (minus ``excluded``),
        ``"selected"`` (the ``categories`` with their subcategories and the ``items``, minus
        ``excluded``), or ``"inherit"`` (its umbrella's)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        chosen = v.choice(problems, "mode", mode, AssortmentMode)
        v.raise_if(problems)
        fields = {
            "mode": chosen,
            "category_ids": ids_of("categories", categories),
            "item_ids": ids_of("items", items),
            "excluded_ids": ids_of("excluded", excluded),
        }
        with self._rt.transaction() as uow:
            owner = load(uow.customers, vendor_id, "customer", customer, "customer")
            for category_id in fields["category_ids"]:
                if uow.categories.get(vendor_id, category_id) is None:
                    raise NotFound("category", category_id)
            for item_id in fields["item_ids"] | fields["excluded_ids"]:
                if uow.catalogue_items.get(vendor_id, item_id) is None:
                    raise NotFound("catalogue item", item_id)
            current = uow.assortments.get_by(vendor_id, "customer", owner.id)
            if current is None:
                saved = Assortment(
                    id=uuid4(),
                    vendor_id=vendor_id,
                    customer_id=owner.id,
                    created_at=self._rt.clock.now(),
                    **fields,
                )
                uow.assortments.add(saved)
            elif all(getattr(current, k) == x for k, x in fields.items()):
                return current
            else:
                saved = attrs.evolve(current, version=current.version + 1, **fields)
                uow.assortments.update(saved, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="assortment_set",
                real=actor,
                customer_id=owner.id,
                target=f"assortment:{saved.id}",
                mode=saved.mode.value,
                categories=sorted(str(c) for c in saved.category_ids),
                items=sorted(str(i) for i in saved.item_ids),
                excluded=sorted(str(i) for i in saved.excluded_ids),
            )
            return saved

    def get(self, actor: Actor, customer: object) -> Assortment | None:
        """The customer's own assortment, or None when it has none."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            owner = load(uow.customers, vendor_id, "customer", customer, "customer")
            return uow.assortments.get_by(vendor_id, "customer", owner.id)

    def effective(self, actor: Actor, customer: object) -> Reach:
        """The assortment that applies to the customer (its own or its umbrella's)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            owner = load(uow.customers, vendor_id, "customer", customer, "customer")
            return effective_assortment(uow, owner, uow.categories.list(vendor_id))
