"""Who is acting: every mutating call names its actor, and authorization and audit follow from it.

There is no hidden "current user" in portalkit. A host app builds the actor for each request:

- :class:`Staff` — an employee of the vendor, authenticated by the host app. Staff act as
  customer administrators in every customer of their own vendor.
- :class:`Member` — a login of a customer (an account working through one membership).
- :class:`System` — background jobs and set-up scripts of one vendor. ``System()`` without a
  vendor is the platform itself and may only create and list vendors.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["Actor", "Member", "Staff", "System"]


@attrs.frozen
class Staff:
    """A vendor employee. ``user_id`` is the host app's own identifier, kept in the audit trail.

    ``permissions`` holds the staff-only rights the host grants this employee; portalkit knows
    ``"impersonate"`` (view the portal as a customer's member).
    """

    vendor_id: UUID
    user_id: str
    name: str = ""
    permissions: frozenset[str] = frozenset()


@attrs.frozen
class Member:
    """A customer's login acting through one membership (one customer at a time).

    When vendor staff view the portal as this member (:meth:`portalkit.access.AccessService.view_as`), the actor
    also names the ``impersonator`` and the end of that session, and is read-only unless the
    staff member was allowed to change things.
    """

    vendor_id: UUID
    account_id: UUID
    membership_id: UUID
    customer_id: UUID
    impersonator: str | None = None
    read_only: bool = False
    expires_at: datetime | None = None


@attrs.frozen
class System:
    """Portalkit's own jobs or the host's scripts; ``vendor_id=None`` means the platform."""

    vendor_id: UUID | None = None
    reason: str = "system"


Actor = Staff | Member | System
"""Any of the three kinds of actor."""
