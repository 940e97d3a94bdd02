"""One-time links: invitations, password resets, e-mail confirmations and e-mail changes.

A token is 256 random bits (``secrets.token_urlsafe(32)``) that exists in clear only in the
mail that carries it; storage keeps its SHA-256. It is bound to one purpose and one account (or
one pending registration), expires, works once (consumed by one conditional ``UPDATE``), and
dies when a newer token of the same purpose is issued, or the password, the login e-mail or the
account's state changes.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["Token", "TokenPurpose", "token_digest"]


class TokenPurpose(enum.Enum):
    """What a link is for; a token works only in its own flow."""

    INVITE = "invite"
    RESET = "reset"
    CONFIRM = "confirm"
    #: A new login e-mail waiting for its owner to confirm it; the token's e-mail is the new one.
    EMAIL_CHANGE = "email_change"
    #: The second step of a log-in: the password was right, a code is still needed.
    SECOND_FACTOR = "second_factor"
    #: A log-in that must enrol a second factor first: the password was right, the vendor's
    #: rule covers the login, and it has no second factor yet.
    SECOND_FACTOR_ENROL = "second_factor_enrol"
    #: A passkey being registered: the WebAuthn challenge, bound to the member's account.
    PASSKEY_REGISTER = "passkey_register"
    #: A log-in with a passkey and no password: a WebAuthn challenge bound to no account.
    PASSKEY_LOGIN = "passkey_login"


def new_token() -> str:
    """A fresh raw token: 256 bits from the operating system's secure random source."""
    return secrets.token_urlsafe(32)


def token_digest(raw: str) -> str:
    """The SHA-256 (hex) that storage keeps of a raw token.

    A plain hash suffices: the token has 256 bits of entropy, so there is nothing to guess
    (ASVS 6.5.2 allows a plain hash from 112 bits).
    """
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class Token:
    """A stored one-time link: its digest, never the token itself."""

    id: UUID
    vendor_id: UUID
    purpose: TokenPurpose
    digest: str = attrs.field(repr=False)
    email: str
    created_at: datetime
    expires_at: datetime
    account_id: UUID | None = None
    registration_id: UUID | None = None
    #: The membership an invitation is for: accepting it activates that one.
    membership_id: UUID | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    version: int = 1

    def usable(self, purpose: TokenPurpose, now: datetime) -> bool:
        """Whether the token works for ``purpose`` at ``now``: unused, unrevoked and
        ``now < expires_at`` (the SQL backend says the same in its ``UPDATE``)."""
        return (
            self.purpose is purpose
            and self.used_at is None
            and self.revoked_at is None
            and now < self.expires_at
        )

    @property
    def reference(self) -> str:
        """A short, harmless name for logs and the audit log: the digest's first 12 digits."""
        return self.digest[:12]
