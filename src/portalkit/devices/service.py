"""The device service (``portal.devices``): device models with their accessories, and each
customer's installed base."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import load, page, save, seen_version
from portalkit.catalogue.service import ids_of
from portalkit.devices.model import Device, DeviceModel
from portalkit.errors import NotFound, Problem, ValidationError
from portalkit.staffrights import SHOP_MANAGE

if TYPE_CHECKING:
    from uuid import UUID

    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.actors import Actor
    from portalkit.storage.base import UnitOfWork

__all__ = ["DeviceService"]


class DeviceService:
    """Models ("HL-L2350DW" with toner and drum kit) and installed devices (model, serial,
    location). Reached as ``portal.devices``; staff only — members see them through
    ``portal.shop.printer_shop``.

    Example::

        hl = portal.devices.create_model(staff, name="Brother HL-L2350DW",
                                         accessories=[toner, drum])
        portal.devices.add(staff, customer=acme, model=hl, serial="E7890", location=berlin)
    """

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def create_model(
        self, actor: Actor, *, name: str, accessories: Iterable[Any] = ()
    ) -> DeviceModel:
        """Add a device model with its compatible accessories (catalogue items)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        checked = v.text(problems, "name", name)
        v.raise_if(problems)
        accessory_ids = ids_of("accessories", accessories)
        with self._rt.transaction() as uow:
            _check_items(uow, vendor_id, accessory_ids)
            model = DeviceModel(
                id=uuid4(),
                vendor_id=vendor_id,
                name=checked,
                accessory_ids=accessory_ids,
                created_at=self._rt.clock.now(),
            )
            uow.device_models.add(model)
            return model

    def update_model(
        self,
        actor: Actor,
        model: object,
        *,
        name: str | None = None,
        accessories: Iterable[Any] | None = None,
    ) -> DeviceModel:
        """Rename a model or set its accessories (the whole set)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = v.text(problems, "name", name)
        v.raise_if(problems)
        if accessories is not None:
            fields["accessory_ids"] = ids_of("accessories", accessories)
        with self._rt.transaction() as uow:
            current = load(uow.device_models, vendor_id, "device model", model, "model")
            _check_items(uow, vendor_id, fields.get("accessory_ids", ()))
            if all(getattr(current, k) == x for k, x in fields.items()):
                return current
            return save(uow.device_models, current, seen_version(model), "device model", **fields)

    def models(self, actor: Actor) -> list[DeviceModel]:
        """Every device model of the vendor, oldest first."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            return uow.device_models.list(vendor_id)

    def add(
        self,
        actor: Actor,
        *,
        customer: object,
        model: object,
        serial: str,
        location: object = None,
    ) -> Device:
        """Record a device of ``customer``; ``location`` must be one of that customer's."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        checked = v.text(problems, "serial", serial, max_length=v.SHORT_MAX)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            owner = load(uow.customers, vendor_id, "customer", customer, "customer")
            kind = load(uow.device_models, vendor_id, "device model", model, "model")
            location_id = _location_of(uow, vendor_id, owner.id, location)
            device = Device(
                id=uuid4(),
                vendor_id=vendor_id,
                customer_id=owner.id,
                model_id=kind.id,
                serial=checked,
                location_id=location_id,
                created_at=self._rt.clock.now(),
            )
            uow.devices.add(device)
            return device

    def update(
        self,
        actor: Actor,
        device: object,
        *,
        location: object = ...,
        active: bool | None = None,
    ) -> Device:
        """Move a device to another location of its customer (``None``: none) or switch it
        off (a device taken out of service shows no accessories)."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        problems: list[Problem] = []
        fields: dict[str, Any] = {}
        if active is not None:
            fields["active"] = v.boolean(problems, "active", active)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.devices, vendor_id, "device", device, "device")
            if location is not ...:
                fields["location_id"] = _location_of(uow, vendor_id, current.customer_id, location)
            if all(getattr(current, k) == x for k, x in fields.items()):
                return current
            return save(uow.devices, current, seen_version(device), "device", **fields)

    def list(
        self, actor: Actor, *, customer: object, limit: int = 100, offset: int = 0
    ) -> list[Device]:
        """A page of a customer's devices, oldest first."""
        vendor_id = require_admin(actor, SHOP_MANAGE)
        limit, offset = page(limit, offset)
        with self._rt.transaction(read_only=True) as uow:
            owner = load(uow.customers, vendor_id, "customer", customer, "customer")
            return uow.devices.list(
                vendor_id, where={"customer_id": owner.id}, limit=limit, offset=offset
            )


def _check_items(uow: UnitOfWork, vendor_id: UUID, ids: Iterable[UUID]) -> None:
    for item_id in ids:
        if uow.catalogue_items.get(vendor_id, item_id) is None:
            raise NotFound("catalogue item", item_id)


def _location_of(
    uow: UnitOfWork, vendor_id: UUID, customer_id: UUID, location: object
) -> UUID | None:
    if location is None:
        return None
    place = load(uow.locations, vendor_id, "location", location, "location")
    if place.customer_id != customer_id:
        raise ValidationError.single(
            "location", "other_customer", "must be a location of the device's customer"
        )
    return place.id
