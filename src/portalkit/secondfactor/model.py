"""An account's second factor as a record: its sealed TOTP secret and its recovery codes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["SecondFactor", "SecondFactorRule"]


@attrs.frozen
class SecondFactor:
    """An account's TOTP second factor; at most one per account.

    ``secret`` is sealed with ``PORTALKIT_MAIL_ENCRYPTION_KEY`` (never in clear in storage);
    it works only once ``confirmed_at`` is set, by a first code. ``last_step`` is the time
    step of the last code accepted: no code of that step or before works again.
    ``recovery_digests`` are the keyed digests of the unused recovery codes. A factor that
    was disabled or reset keeps its row with an empty secret and no ``confirmed_at``.
    """

    id: UUID
    vendor_id: UUID
    account_id: UUID
    created_at: datetime
    secret: str = attrs.field(default="", repr=False)
    confirmed_at: datetime | None = None
    last_step: int | None = None
    recovery_digests: frozenset[str] = attrs.field(default=frozenset(), repr=False)
    version: int = 1

    @property
    def active(self) -> bool:
        """Whether log-ins of the account need it."""
        return self.confirmed_at is not None and bool(self.secret)


@attrs.frozen
class SecondFactorRule:
    """Which logins of a vendor must have a second factor; at most one per vendor.

    A login falls under it when one of its usable memberships holds one of
    ``capabilities`` once the customer's settings are applied (its effective rights, not
    what its profile lists), or works with one of the profiles ``profile_ids``. A login
    under it without a second factor (a working TOTP factor or a passkey) enrols at its
    next log-in before anything else. Empty sets require nothing.
    """

    id: UUID
    vendor_id: UUID
    created_at: datetime
    capabilities: frozenset[str] = frozenset()
    profile_ids: frozenset[UUID] = frozenset()
    version: int = 1
