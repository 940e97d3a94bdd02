"""Self-registration requests as records."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class RegistrationStatus(enum.Enum):
    """Where a request is: e-mail not yet confirmed, waiting for staff, or decided."""

    UNCONFIRMED = "unconfirmed"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@attrs.frozen
class Registration:
    """A request for a login, as the person gave it."""

    id: UUID
    vendor_id: UUID
    email: str
    first_name: str
    last_name: str
    company: str
    created_at: datetime
    phone: str = ""
    message: str = ""
    language: str = "en"
    status: RegistrationStatus = RegistrationStatus.UNCONFIRMED
    confirmed_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str = ""
    account_id: UUID | None = None
    customer_id: UUID | None = None
    version: int = 1
