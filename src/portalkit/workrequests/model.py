"""Work requests as records: a member asks the vendor to come and do something at a site."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

NOTES_MAX = 4000
"""The longest notes a work request takes (field-service seed)."""


@attrs.frozen
class WorkRequest:
    """A request for work at one of the customer's locations.

    ``wished_at`` is what the member asked for: tentative until the vendor schedules the
    work (``scheduled_at``). ``status`` follows the request's inbox item (new, in_progress,
    done, rejected).
    """

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    location_id: UUID
    account_id: UUID
    membership_id: UUID
    subject: str
    created_at: datetime
    item_id: UUID
    notes: str = ""
    wished_at: datetime | None = None
    scheduled_at: datetime | None = None
    status: str = "new"
    version: int = 1

    @property
    def tentative(self) -> bool:
        """Whether the date shown is only the member's wish (nothing scheduled yet)."""
        return self.scheduled_at is None
