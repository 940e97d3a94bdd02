"""The printer shop's records: device models with their accessories, and installed devices."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["Device", "DeviceModel"]


@attrs.frozen
class DeviceModel:
    """A model of device ("Brother HL-L2350DW") and the catalogue items that fit it (toner,
    drum kit)."""

    id: UUID
    vendor_id: UUID
    name: str
    created_at: datetime
    accessory_ids: frozenset[UUID] = frozenset()
    version: int = 1


@attrs.frozen
class Device:
    """One device of a customer's installed base, at one of its locations (or none)."""

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    model_id: UUID
    serial: str
    created_at: datetime
    location_id: UUID | None = None
    active: bool = True
    version: int = 1
