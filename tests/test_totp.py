"""TOTP codes and recovery codes (issue 17 item 1), checked against codes computed here
with hmac and hashlib (RFC 6238 appendix A's algorithm), never with portalkit's own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from portalkit.secondfactor import totp

RFC_SECRET = b"12345678901234567890"  # RFC 6238 appendix B, SHA-1


def _reference(secret: bytes, when: datetime, digits: int = 6, step: int = 30) -> str:
    """RFC 6238 / RFC 4226 by hand: HOTP of the step counter, dynamic truncation."""
    counter = int(when.timestamp()) // step
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


@pytest.mark.parametrize(
    ("seconds", "published"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_codes_are_rfc_6238s_test_vectors(seconds: int, published: str) -> None:
    when = datetime.fromtimestamp(seconds, UTC)
    assert _reference(RFC_SECRET, when, digits=8) == published  # the hand-made check holds
    assert totp.code_at(RFC_SECRET, when, digits=8) == published
    assert totp.code_at(RFC_SECRET, when) == published[-6:]


NOW = datetime(2026, 12, 3, 15, 0, 10, tzinfo=UTC)


def test_a_code_of_the_step_before_or_after_works_but_not_two_steps_away() -> None:
    secret = totp.new_secret()
    step = totp.step_of(NOW)
    for offset in (-1, 0, 1):
        code = _reference(secret, NOW + timedelta(seconds=30 * offset))
        assert totp.verify(secret, code, NOW, None) == step + offset
    for offset in (-2, 2):
        code = _reference(secret, NOW + timedelta(seconds=30 * offset))
        assert totp.verify(secret, code, NOW, None) is None


def test_the_drift_window_ends_at_the_steps_edges() -> None:
    """The last second of the next step still takes the current code; the first second
    of the step after that does not."""
    secret = totp.new_secret()
    start = datetime.fromtimestamp(totp.step_of(NOW) * 30, UTC)
    code = _reference(secret, start)
    assert totp.verify(secret, code, start + timedelta(seconds=59), None) is not None
    assert totp.verify(secret, code, start + timedelta(seconds=60), None) is None
    assert totp.verify(secret, code, start - timedelta(seconds=30), None) is not None
    assert totp.verify(secret, code, start - timedelta(seconds=31), None) is None


def test_a_code_is_never_accepted_twice_nor_an_older_one() -> None:
    secret = totp.new_secret()
    code = _reference(secret, NOW)
    used = totp.verify(secret, code, NOW, None)
    assert used is not None
    assert totp.verify(secret, code, NOW, used) is None  # replay
    earlier = _reference(secret, NOW - timedelta(seconds=30))
    assert totp.verify(secret, earlier, NOW, used) is None  # older than the last one used
    later = _reference(secret, NOW + timedelta(seconds=30))
    assert totp.verify(secret, later, NOW + timedelta(seconds=30), used) == used + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", None, 123456])
def test_malformed_codes_are_refused(typed: object) -> None:
    assert totp.verify(totp.new_secret(), typed, NOW, None) is None  # type: ignore[arg-type]


def test_the_qr_code_carries_the_secret_for_authenticator_apps() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "jan@acme.example", "Acme portal")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    query = parse_qs(parts.query)
    padded = query["secret"][0] + "=" * (-len(query["secret"][0]) % 8)
    assert base64.b32decode(padded) == secret
    assert query["digits"] == ["6"] and query["period"] == ["30"]
    svg = totp.qr_svg(uri)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<path" in svg


def test_recovery_codes_are_ten_different_and_match_their_digest_once() -> None:
    key = b"k" * 32
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    digests = [totp.recovery_digest(c, key) for c in codes]
    assert not any(c.replace("-", "") in "".join(digests) for c in codes)  # never in clear
    first = totp.matching_recovery(codes[3].upper(), digests, key)
    assert first == digests[3]
    digests.remove(first)  # what the service stores: the code is gone
    assert totp.matching_recovery(codes[3], digests, key) is None
    assert totp.matching_recovery("aaaaa-aaaaa", digests, key) is None
    assert totp.matching_recovery(codes[4], digests, b"another key" * 3) is None
