"""Memberships as records: what ties an account to a customer, with its rights."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from portalkit._stamps import new_session_stamp
from portalkit._validation import NOTIFICATION_KIND_RE

SUBSCRIPTION_RE = NOTIFICATION_KIND_RE
"""What a notification kind's name looks like (``portalkit._validation`` keeps the rule)."""
MAX_GRANTS = 500


class MembershipStatus(enum.Enum):
    """Invited (no password set yet), active, or disabled."""

    INVITED = "invited"
    ACTIVE = "active"
    DISABLED = "disabled"


class MembershipKind(enum.Enum):
    """A login on its own, the customer's main account, or an extra account under the main."""

    MEMBER = "member"
    MAIN = "main"
    EXTRA = "extra"


class Access(enum.Enum):
    """Rights at one location: write implies read."""

    READ = "read"
    WRITE = "write"


@attrs.frozen
class LocationGrant:
    """Access to one location of the customer."""

    location_id: UUID
    access: Access

    @property
    def can_write(self) -> bool:
        """True for write access (which includes read)."""
        return self.access is Access.WRITE


@attrs.frozen
class Membership:
    """An account's access to one customer."""

    id: UUID
    vendor_id: UUID
    account_id: UUID
    customer_id: UUID
    contact_id: UUID
    created_at: datetime
    status: MembershipStatus = MembershipStatus.INVITED
    kind: MembershipKind = MembershipKind.MEMBER
    profile_id: UUID | None = None
    location_grants: tuple[LocationGrant, ...] = ()
    customer_grants: frozenset[UUID] = frozenset()
    subscriptions: frozenset[str] = frozenset()
    session_stamp: str = attrs.field(factory=new_session_stamp, repr=False)
    version: int = 1

    @property
    def active(self) -> bool:
        """True while the membership's own status is active (see access control for the rest)."""
        return self.status is MembershipStatus.ACTIVE
