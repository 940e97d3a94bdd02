"""An access token as a record, and the shape of the value handed out once.

A value reads ``pkat_`` followed by 92 letters and digits: 86 base62 digits carry the
vendor's id, the token's id and 256 random bits; the last 6 are a CRC32 of those 86 in
base62, so a secret scanner (or a typo check) tells a real token from look-alike text without
asking anyone. Regular expression for scanners: ``\\bpkat_[0-9A-Za-z]{92}\\b``.

Storage keeps the SHA-256 of the random part only; the value itself exists only in the
answer of :meth:`~portalkit.accesstokens.service.AccessTokenService.create`.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["PATTERN", "PREFIX", "AccessToken", "IssuedToken", "parse_value"]

PREFIX = "pkat_"
"""What every access token value starts with ("portalkit access token")."""

PATTERN = r"\bpkat_[0-9A-Za-z]{92}\b"
"""A regular expression that finds access token values in text (for secret scanners)."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_BODY = 86  # 62**86 > 2**512: the 64 bytes of vendor id, token id and secret
_CHECK = 6  # 62**6 > 2**32: one CRC32
_LENGTH = len(PREFIX) + _BODY + _CHECK


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def _number(text: str) -> int | None:
    number = 0
    for char in text:
        digit = _INDEX.get(char)
        if digit is None:
            return None
        number = number * 62 + digit
    return number


def secret_digest(secret: bytes) -> str:
    """The SHA-256 (hex) storage keeps of a token's 256 random bits (nothing to guess, so
    a plain hash suffices, as for one-time links)."""
    return hashlib.sha256(secret).hexdigest()


def new_value(vendor_id: UUID, token_id: UUID) -> tuple[str, str]:
    """A fresh value for a token and the digest storage keeps of it."""
    secret = secrets.token_bytes(32)
    body = _base62(int.from_bytes(vendor_id.bytes + token_id.bytes + secret, "big"), _BODY)
    check = _base62(zlib.crc32(body.encode("ascii")), _CHECK)
    return f"{PREFIX}{body}{check}", secret_digest(secret)


def parse_value(value: object) -> tuple[UUID, UUID, str] | None:
    """The vendor id, the token id and the secret's digest in a value, or None for anything
    that is not a well-formed value with the right checksum."""
    if not isinstance(value, str) or len(value) != _LENGTH or not value.startswith(PREFIX):
        return None
    body, check = value[len(PREFIX) : -_CHECK], value[-_CHECK:]
    number = _number(body)
    if number is None or number >= 1 << 512:
        return None
    if _base62(zlib.crc32(body.encode("ascii")), _CHECK) != check:
        return None
    raw = number.to_bytes(64, "big")
    return UUID(bytes=raw[:16]), UUID(bytes=raw[16:32]), secret_digest(raw[32:])


@attrs.frozen
class AccessToken:
    """A stored access token: bound to one membership, with a name, an expiry and the
    capabilities it may use (never more than the membership's own, checked at every use).

    ``stamps`` is a digest of the account's and the membership's session stamps when the
    token was made: whatever ends the membership's sessions ends the token too.

    ``granted_by`` is the membership of the customer's administrator that made the token for
    another login (None for a login's own token and for staff's): at every use the token
    holds no more than that administrator may still grant, and nothing once it may not.
    """

    id: UUID
    vendor_id: UUID
    account_id: UUID
    membership_id: UUID
    customer_id: UUID
    name: str
    capabilities: frozenset[str]
    digest: str = attrs.field(repr=False)
    stamps: str = attrs.field(repr=False)
    created_at: datetime
    expires_at: datetime
    created_by: str = ""
    granted_by: UUID | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    version: int = 1

    def usable(self, now: datetime) -> bool:
        """Whether the token works at ``now``: not revoked and ``now < expires_at``."""
        return self.revoked_at is None and now < self.expires_at

    @property
    def reference(self) -> str:
        """A short, harmless name for logs: the token's id."""
        return f"access_token:{self.id}"


@attrs.frozen
class IssuedToken:
    """What :meth:`~portalkit.accesstokens.service.AccessTokenService.create` answers: the
    record, and the value — shown to the person once, never stored, never shown again."""

    token: AccessToken
    value: str = attrs.field(repr=False)
