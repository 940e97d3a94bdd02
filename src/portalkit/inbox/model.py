"""The vendor inbox's records: items, their comments, and the events the host's ERP reads."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs


class InboxStatus(enum.Enum):
    """Where an item is in the vendor's queue."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"


TRANSITIONS: dict[InboxStatus, frozenset[InboxStatus]] = {
    InboxStatus.NEW: frozenset({InboxStatus.IN_PROGRESS, InboxStatus.DONE, InboxStatus.REJECTED}),
    InboxStatus.IN_PROGRESS: frozenset({InboxStatus.NEW, InboxStatus.DONE, InboxStatus.REJECTED}),
    # A finished item may be taken up again; a rejected one goes back to the queue first.
    InboxStatus.DONE: frozenset({InboxStatus.IN_PROGRESS}),
    InboxStatus.REJECTED: frozenset({InboxStatus.NEW}),
}
"""The status changes staff may make: from each status, the statuses it may move to."""


@attrs.frozen
class InboxItem:
    """One thing that waits for the vendor: an order, a quote request, a registration, a
    work request, a ticket, or a kind the host registered.

    ``reference`` is the id of the record the item stands for (the order, the ticket …;
    the item's own id for a host kind without one); ``account_id``/``membership_id`` name
    the member who filed it (None for registrations and host items). ``assignee`` is the
    host's user id of the staff member working on it ("" while nobody is).
    """

    id: UUID
    vendor_id: UUID
    kind: str
    reference: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    status: InboxStatus = InboxStatus.NEW
    customer_id: UUID | None = None
    account_id: UUID | None = None
    membership_id: UUID | None = None
    assignee: str = ""
    details: dict[str, Any] = attrs.field(factory=dict)
    version: int = 1


@attrs.frozen
class InboxComment:
    """A remark on an item. ``author`` is ``staff:<user id>`` or ``member:<account id>``;
    an ``internal`` one is for staff only (a ticket's filer never sees it)."""

    id: UUID
    vendor_id: UUID
    item_id: UUID
    author: str
    text: str
    created_at: datetime
    internal: bool = False
    version: int = 1


class EventType(enum.Enum):
    """What happened to an item."""

    CREATED = "created"
    CHANGED = "changed"


@attrs.frozen
class InboxEvent:
    """A change of an item for the host's ERP, stored in the transaction that made it.

    ``sequence`` is the item's version after the change: events of one item are delivered in
    that order, one after the other. ``key`` (``<item id>:<sequence>``) is the idempotency
    key: a consumer that has seen it already skips the event. ``payload`` is the item as it
    was after the change (ids as text).
    """

    id: UUID
    vendor_id: UUID
    item_id: UUID
    sequence: int
    type: EventType
    payload: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    claimed_until: datetime | None = None
    last_error: str = ""
    delivered_at: datetime | None = None
    version: int = 1

    @property
    def key(self) -> str:
        """The idempotency key: the same over every attempt."""
        return f"{self.item_id}:{self.sequence}"
