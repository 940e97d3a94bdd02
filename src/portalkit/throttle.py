"""Throttle counters' keys and the form typed logins are compared in.

Counters are keyed by an HMAC under ``PORTALKIT_SECRET_KEY``, so the table holds no typed
logins, not even ones a word list could find again.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from portalkit.accounts.model import Account

__all__ = ["account_throttle_key", "login_key", "throttle_key"]


def login_key(value: str) -> str:
    """The form a typed login is compared and throttled in: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


def throttle_key(kind: str, vendor_id: UUID, value: str, secret: bytes) -> str:
    """The stored key of a throttle counter: an HMAC with ``PORTALKIT_SECRET_KEY``, so the
    table holds no typed logins, not even ones a word list could find again."""
    message = f"{kind}\x00{vendor_id}\x00{value}".encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def account_throttle_key(
    vendor_id: UUID, account: Account | None, typed: str, secret: bytes
) -> str:
    """The failed-login counter of an account (however its login was typed: username or
    e-mail, any case), or of the typed login when no account has it."""
    if account is not None:
        return throttle_key("account", vendor_id, str(account.id), secret)
    return throttle_key("login", vendor_id, typed, secret)
