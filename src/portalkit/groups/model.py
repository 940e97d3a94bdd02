"""Customer groups: named sets of customers of one vendor (price lists are assigned to them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["CustomerGroup"]


@attrs.frozen
class CustomerGroup:
    """A named group of the vendor's customers ("resellers", "public sector")."""

    id: UUID
    vendor_id: UUID
    name: str
    created_at: datetime
    customer_ids: frozenset[UUID] = frozenset()
    version: int = 1
