"""The vendor's staff directory and inbox address as records."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs


@attrs.frozen
class StaffMember:
    """One employee of the vendor, known by the host's user id (as the ``Staff`` actor is):
    the name and address the inbox assigns work to and mails."""

    id: UUID
    vendor_id: UUID
    user_id: str
    name: str
    email: str
    created_at: datetime
    language: str = "en"
    active: bool = True
    version: int = 1


@attrs.frozen
class InboxAddress:
    """Where the vendor's staff are told about new inbox items (one per vendor)."""

    id: UUID
    vendor_id: UUID
    email: str
    created_at: datetime
    version: int = 1
