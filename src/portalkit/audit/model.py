"""Audit events as records, and how an actor is named in them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from portalkit.actors import Actor, Member, Staff, System


@attrs.frozen
class AuditEvent:
    """One thing that happened. ``action`` uses OWASP logging-vocabulary style names
    (``impersonation_start``, ``authz_fail``, …); ``outcome`` is ``success`` or ``failure``."""

    id: UUID
    vendor_id: UUID
    at: datetime
    action: str
    outcome: str
    real_actor: str
    effective_actor: str = ""
    customer_id: UUID | None = None
    target: str = ""
    reason: str = ""
    details: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def created_at(self) -> datetime:
        """Same as :attr:`at` (storage orders every record by ``created_at``)."""
        return self.at

    @property
    def request_id(self) -> str:
        """The host's id of the request the event happened in ("" when none was given; see
        :meth:`AuditService.correlate`)."""
        value = self.details.get("request_id", "")
        return value if isinstance(value, str) else ""


# The request id of the host's current request: every event recorded inside carries it.
def describe(actor: Actor) -> str:
    """A short, stable, secret-free name for an actor, as the audit log records it."""
    if isinstance(actor, Staff):
        return f"staff:{actor.user_id}"
    if isinstance(actor, Member):
        return f"member:{actor.membership_id}"
    if isinstance(actor, System):
        return f"system:{actor.reason}"
    return "unknown"
