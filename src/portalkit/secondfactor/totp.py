"""Time-based one-time passwords (RFC 6238) and single-use recovery codes, with no storage.

The building blocks the second-factor log-in stands on, each a pure function the service
calls with the stored state::

    secret = new_secret()                              # 160 random bits, kept sealed
    svg = qr_svg(provisioning_uri(secret, "jan@acme.example", "Acme portal"))
    step = verify(secret, "492039", now, last_step=None)   # the step used, or None
    # store ``step``: the same code (or an older one) never works again

    codes = new_recovery_codes()                      # shown once
    digests = [recovery_digest(c, key) for c in codes] # only these are stored

Codes are six digits over SHA-1 in 30-second steps: what every authenticator app reads from
the QR code. One step of clock drift either way is accepted, never more, and a step at or
before the last one used is refused, so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

__all__ = [
    "DIGITS",
    "DRIFT_STEPS",
    "RECOVERY_CODES",
    "STEP_SECONDS",
    "code_at",
    "matching_recovery",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "qr_svg",
    "recovery_digest",
    "step_of",
    "verify",
]

DIGITS = 6
"""Digits of a code."""

STEP_SECONDS = 30
"""How long one code lasts (RFC 6238's default, the one authenticator apps assume)."""

DRIFT_STEPS = 1
"""Steps of clock drift accepted either way: a code of the step before or after works too."""

RECOVERY_CODES = 10
"""How many recovery codes an enrolment hands out."""

_SECRET_BYTES = 20  # 160 bits: RFC 4226's recommended key length for HMAC-SHA-1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def new_secret() -> bytes:
    """A fresh shared secret from the operating system's secure random source."""
    return secrets.token_bytes(_SECRET_BYTES)


def _totp(secret: bytes, digits: int = DIGITS) -> TOTP:
    # HMAC-SHA-1 is what RFC 6238's default and every authenticator app use; collisions of
    # SHA-1 do not weaken an HMAC. enforce_key_length: a short key would be a weak one.
    return TOTP(secret, digits, SHA1(), STEP_SECONDS, enforce_key_length=True)  # noqa: S303


def step_of(now: datetime) -> int:
    """The number of the 30-second step ``now`` (tz-aware) falls in."""
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: bytes, now: datetime, digits: int = DIGITS) -> str:
    """The code of the step ``now`` falls in (what an authenticator app shows then)."""
    return _totp(secret, digits).generate(step_of(now) * STEP_SECONDS).decode()


def verify(secret: bytes, code: str, now: datetime, last_step: int | None) -> int | None:
    """The step whose code ``code`` is, within :data:`DRIFT_STEPS` of ``now`` and after
    ``last_step`` (the step of the last code accepted); None when it is none of them.

    Every candidate step is checked (in constant time each), so the time taken does not
    tell which one matched. The caller stores the step returned, in the same write that
    accepts the log-in, so no code is accepted twice.
    """
    if not isinstance(code, str):
        return None
    typed = code.replace(" ", "")
    if len(typed) != DIGITS or not typed.isascii() or not typed.isdigit():
        return None
    totp = _totp(secret)
    current = step_of(now)
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        try:
            totp.verify(typed.encode(), step * STEP_SECONDS)
        except InvalidToken:
            continue
        if last_step is None or step > last_step:
            found = step if found is None else found
    return found


def provisioning_uri(secret: bytes, account_name: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    label = quote(f"{issuer}:{account_name}", safe="@:")
    key = base64.b32encode(secret).decode().rstrip("=")
    return (
        f"otpauth://totp/{label}?secret={key}&issuer={quote(issuer, safe='')}"
        f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an SVG document (no raster library needed)."""
    import qrcode  # type: ignore[import-untyped]  # ships no type hints
    import qrcode.image.svg  # type: ignore[import-untyped]

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    out = io.BytesIO()
    image.save(out)
    return str(out.getvalue().decode())


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Fresh recovery codes, shown to the member once: ten letters and digits each (about
    50 bits), written ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(count):
        text = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{text[:5]}-{text[5:]}")
    return codes


def _normal(code: str) -> str:
    return code.replace("-", "").replace(" ", "").strip().lower()


def recovery_digest(code: str, key: bytes) -> str:
    """What storage keeps of a recovery code: an HMAC-SHA-256 under the portal's secret
    key. A slow hash is not needed: the codes are random, not chosen by people, and the
    key keeps a stolen table from being checked offline."""
    return hmac.new(key, _normal(code).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def matching_recovery(code: str, digests: Sequence[str], key: bytes) -> str | None:
    """The stored digest ``code`` matches (to be removed: each code works once), or None.

    Every digest is compared, in constant time, whatever matched.
    """
    if not isinstance(code, str) or len(code) > 40:
        return None
    wanted = recovery_digest(code, key)
    found = None
    for digest in digests:
        if hmac.compare_digest(digest, wanted):
            found = digest
    return found
