"""A vendor: the tenant a portal serves."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs


@attrs.frozen
class Vendor:
    """A tenant: the business running a portal for its customers (``code`` is its login code)."""

    id: UUID
    code: str
    name: str
    created_at: datetime
