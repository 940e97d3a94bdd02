"""The customer-group service (``portal.groups``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import load, save, seen_version
from portalkit.catalogue.service import ids_of
from portalkit.errors import NotFound, Problem
from portalkit.groups.model import CustomerGroup
from portalkit.staffrights import SHOP_MANAGE

if TYPE_CHECKING:
    from uuid import UUID

    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.actors import Actor
    from portalkit.storage.base import UnitOfWork

__all__ = ["GroupService"]


def check_customers(uow: UnitOfWork, vendor_id: UUID, ids: Iterable[UUID]) -> None:
    """NotFound for an id that is no customer of the vendor (another vendor's included)."""
    for customer_id in ids:
        if uow.customers.get(vendor_id, customer_id) is None:
            raise NotFound("customer", customer_id)


class GroupService:
    """Named groups of customers, to assign price lists to many customers at once. Reached as
    ``portal.groups``; changes are audited (they change prices)."""

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def create(self, actor: Actor, *, name: str, customers: Iterable[Any] = ()) -> CustomerGroup:
        """Add a group of ``customers`` (records or ids); the name is unique, ignoring case."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        checked = v.text(problems, "name", name, max_length=v.SHORT_MAX)
        v.raise_if(problems)
        members = ids_of("customers", customers)
        with self._rt.transaction() as uow:
            check_customers(uow, vendor_id, members)
            group = CustomerGroup(
                id=uuid4(),
                vendor_id=vendor_id,
                name=checked,
                customer_ids=members,
                created_at=self._rt.clock.now(),
            )
            uow.customer_groups.add(group)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="customer_group_created",
                real=actor,
                target=f"customer_group:{group.id}",
                customers=sorted(str(c) for c in members),
            )
            return group

    def update(
        self,
        actor: Actor,
        group: object,
        *,
        name: str | None = None,
        customers: Iterable[Any] | None = None,
    ) -> CustomerGroup:
        """Rename a group or set its customers (the whole set)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = v.text(problems, "name", name, max_length=v.SHORT_MAX)
        v.raise_if(problems)
        if customers is not None:
            fields["customer_ids"] = ids_of("customers", customers)
        with self._rt.transaction() as uow:
            current = load(uow.customer_groups, vendor_id, "customer group", group, "group")
            check_customers(uow, vendor_id, fields.get("customer_ids", ()))
            if all(getattr(current, k) == x for k, x in fields.items()):
                return current
            saved = save(
                uow.customer_groups, current, seen_version(group), "customer group", **fields
            )
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="customer_group_updated",
                real=actor,
                target=f"customer_group:{saved.id}",
                name=saved.name,
                customers=sorted(str(c) for c in saved.customer_ids),
            )
            return saved

    def get(self, actor: Actor, group: object) -> CustomerGroup:
        """One group (NotFound for another vendor's)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            return load(uow.customer_groups, vendor_id, "customer group", group, "group")

    def list(self, actor: Actor) -> list[CustomerGroup]:
        """Every group of the vendor, oldest first."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            return uow.customer_groups.list(vendor_id)
