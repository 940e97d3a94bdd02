"""Background jobs as records: a request stored to be handled off the caller's thread."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class JobStage(enum.Enum):
    """Where a job is: still to decide, or decided (its mail still to send and record)."""

    PENDING = "pending"
    DECIDED = "decided"


@attrs.frozen
class Job:
    """One stored piece of background work. ``due_at`` is when it may be claimed: its
    creation, its next retry, or the end of the lease of the worker that holds it."""

    id: UUID
    vendor_id: UUID
    kind: str
    created_at: datetime
    due_at: datetime
    payload: str = attrs.field(default="", repr=False)
    stage: JobStage = JobStage.PENDING
    attempts: int = 0
    last_error: str = ""
    version: int = 1
