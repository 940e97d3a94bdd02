"""The outbox's records: queued messages, their status, and what a flush did."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class OutboxStatus(enum.Enum):
    """Where a message is: waiting, being sent by a worker, delivered, or given up."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


@attrs.frozen
class OutboxMessage:
    """One queued mail. ``message_id`` stays the same over every attempt, so a receiver can
    recognise a message that arrives twice after an unclear failure.

    A ``secret`` message (an invitation or reset link, a generated password) is stored
    encrypted, and its body is purged once it is delivered or given up.
    """

    id: UUID
    vendor_id: UUID
    created_at: datetime
    message_id: str
    to: str
    subject: str
    next_attempt_at: datetime
    text: str = attrs.field(default="", repr=False)
    html: str = attrs.field(default="", repr=False)
    kind: str = "custom"
    secret: bool = False
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    claimed_until: datetime | None = None
    last_error: str = ""
    sent_at: datetime | None = None
    version: int = 1


@attrs.frozen
class FlushReport:
    """What one flush did: messages sent, to retry and given up, and background jobs (reset
    and registration requests) handled."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0
    jobs: int = 0

    def __add__(self, other: FlushReport) -> FlushReport:
        return FlushReport(
            self.sent + other.sent,
            self.retrying + other.retrying,
            self.dead + other.dead,
            self.jobs + other.jobs,
        )
