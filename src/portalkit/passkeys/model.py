"""An account's passkey as a record: the credential's id, public key and signature counter."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["Passkey"]


@attrs.frozen
class Passkey:
    """A WebAuthn credential registered to an account; an account may have several.

    ``credential_id`` and ``public_key`` are base64url text (the key is COSE-encoded, as the
    authenticator made it); neither is secret, but only the authenticator holds the private
    key. ``sign_count`` is the authenticator's signature counter as last seen: a counter that
    does not grow (once it is above zero) tells of a cloned authenticator. ``user_handle`` is
    the WebAuthn user id the credential was made for (base64url; random-looking, no personal
    data). A removed passkey keeps its row, with ``removed_at`` set, and never works again.
    """

    id: UUID
    vendor_id: UUID
    account_id: UUID
    created_at: datetime
    credential_id: str
    public_key: str = attrs.field(repr=False)
    user_handle: str = attrs.field(repr=False)
    name: str
    sign_count: int = 0
    transports: tuple[str, ...] = ()
    aaguid: str = ""
    backed_up: bool = False
    last_used_at: datetime | None = None
    removed_at: datetime | None = None
    version: int = 1

    @property
    def active(self) -> bool:
        """Whether the passkey still works (it was not removed)."""
        return self.removed_at is None
