"""Service-desk tickets as records."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

TEXT_MAX = 10_000
"""The longest description or comment a ticket takes."""


@attrs.frozen
class Ticket:
    """A question or problem a member files with the vendor's service desk.

    ``account_id`` is the filer (the ``own`` scope); ``followers`` the accounts told by mail
    of every change (the filer follows from the start). ``status`` follows the ticket's
    inbox item; a closed ticket is ``done``.
    """

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    account_id: UUID
    membership_id: UUID
    subject: str
    text: str
    created_at: datetime
    item_id: UUID
    status: str = "new"
    followers: frozenset[UUID] = frozenset()
    closed_at: datetime | None = None
    version: int = 1
