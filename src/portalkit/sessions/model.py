"""A log-in session as a record: when it began, when it was last seen, and from where."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["SessionRecord", "SessionSummary"]


@attrs.frozen
class SessionRecord:
    """One browser's log-in: what ``Login.session`` names and every request checks.

    The session value is ``<id>.<secret>``; only the secret's SHA-256 (``digest``) is stored,
    so a copy of the table logs nobody in. ``stamps`` is a digest of the account's and the
    membership's session stamps as they were when the session was made: a password change, a
    disabled login or a change of rights renews them, and the record no longer holds. ``last_seen_at`` moves at most every
    ``PORTALKIT_SESSION_TOUCH_SECONDS``; ``client_key`` and ``user_agent`` are what the host
    said about the client when the session began. An ended session keeps its row, with
    ``ended_at`` set, until ``portal.retention.prune`` removes it.
    """

    id: UUID
    vendor_id: UUID
    account_id: UUID
    membership_id: UUID
    created_at: datetime
    last_seen_at: datetime
    digest: str = attrs.field(repr=False)
    stamps: str = attrs.field(repr=False)
    client_key: str = ""
    user_agent: str = ""
    ended_at: datetime | None = None
    version: int = 1


@attrs.frozen
class SessionSummary:
    """A session as ``portal.sessions.list`` shows it: no secret, no stamps.

    ``current`` is True for the session whose value the caller passed (the browser asking);
    ``idle_ends_at`` and ``ends_at`` are when it ends unless used again, and at the latest.
    """

    id: UUID
    account_id: UUID
    customer_id: UUID
    created_at: datetime
    last_seen_at: datetime
    idle_ends_at: datetime
    ends_at: datetime
    client_key: str
    user_agent: str
    current: bool
