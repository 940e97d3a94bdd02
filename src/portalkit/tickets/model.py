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


ATTACHMENTS_MAX = 20
"""The most files one ticket takes (each at most ``PORTALKIT_ASSET_MAX_BYTES``)."""


@attrs.frozen
class TicketAttachment:
    """A file added to a ticket: a screenshot, a log, a delivery note.

    Whoever sees the ticket sees its attachments; the bytes live in the asset store under a
    private ``asset_key`` and are checked against ``sha256`` when read. ``added_by`` names the
    adder as the audit log does (a member's account id or the staff user id). Attachments are
    part of the ticket's history: none is changed or removed afterwards.
    """

    id: UUID
    vendor_id: UUID
    ticket_id: UUID
    customer_id: UUID
    name: str
    content_type: str
    size: int
    sha256: str
    asset_key: str = attrs.field(repr=False)
    added_by: str
    created_at: datetime
    version: int = 1
