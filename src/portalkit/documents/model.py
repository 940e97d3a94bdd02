"""Documents as records: a file the vendor shares with one customer, and who may see it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs


@attrs.frozen
class Document:
    """A file the vendor's staff shared with a customer (the field-service seed's
    "Documenten bekijken").

    ``visible`` is the seed's "zichtbaar in de klantportal": off, the document is the
    vendor's own and no member sees it. ``restricted`` limits it to the memberships in
    ``members`` (the seed's key icon: per-member visibility); a restricted document with no
    member left is seen by none. ``location_id``, when set, ties it to one site, so members
    whose rights are limited to other locations do not see it. The bytes live in the asset
    store under ``asset_key`` (a private key); ``sha256`` is checked when they are read.
    """

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    name: str
    content_type: str
    size: int
    sha256: str
    asset_key: str = attrs.field(repr=False)
    uploaded_by: str
    created_at: datetime
    location_id: UUID | None = None
    visible: bool = True
    restricted: bool = False
    members: frozenset[UUID] = frozenset()
    version: int = 1

    def shown_to(self, membership_id: UUID) -> bool:
        """Whether the document's own settings let this membership see it (the member's
        rights, scope and locations are checked by the access context besides)."""
        return self.visible and (not self.restricted or membership_id in self.members)
