"""Passwords: storing them with Argon2id, the rules a new one must meet, and generating one.

Three tools, each usable on its own:

- :class:`PasswordHasher` turns a password into a PHC string (``$argon2id$v=19$m=…``) for the
  database, verifies a login against it in constant time (also against hashes imported from
  Django or Werkzeug), says when a stored hash should be upgraded, and can spend the cost of a
  verification for a user who does not exist.
- :class:`PasswordPolicy` lists every rule a new password breaks, as stable codes and as
  messages in English, Dutch or German. Two presets: ``nist`` (the default: length, a list of
  common passwords, no words from the account) and ``strict`` (8 characters with an upper-case
  letter, a digit and a special character).
- :func:`generate_password` makes a password from :mod:`secrets` that meets a policy.

Every password is NFKC-normalised before it is measured, checked or hashed, so the same text
typed on two keyboards ("ﬁ" or "fi", full-width or ASCII digits) is the same password. Nothing is
ever truncated: a password longer than the maximum (128 by default, never below 64) is refused
before any hashing.

Example::

    policy = PasswordPolicy.named("nist")
    policy.check(new_password, context=[customer.name, account.email], language="nl")
    hasher = PasswordHasher()
    stored = hasher.hash(new_password)       # checks only the maximum length
    ...
    if hasher.verify(typed, stored) and hasher.needs_rehash(stored):
        stored = hasher.hash(typed)          # persist in the same transaction as the log-in
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import gzip
import hashlib
import hmac
import math
import os
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import Any, Final

import attrs
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2i, Argon2id

from portalkit.errors import ImproperlyInstalled, PasswordRejected, Problem, ValidationError
from portalkit.i18n import translations

__all__ = [
    "CODES",
    "UNUSABLE_PREFIX",
    "PasswordHasher",
    "PasswordPolicy",
    "generate_password",
    "unusable_hash",
]

CODES: Final = (
    "too_short",
    "too_long",
    "no_upper",
    "no_lower",
    "no_digit",
    "no_symbol",
    "common",
    "contains_context",
)
"""Every rule code a password can break, in the order :meth:`PasswordPolicy.violations` lists them."""

UNUSABLE_PREFIX: Final = "!"
"""Stored values starting with this never verify: the account has no password (yet)."""

# OWASP Password Storage Cheat Sheet, Argon2id minimum: 19 MiB, 2 passes, 1 lane.
_MIN_MEMORY_KIB: Final = 19456
_MIN_ITERATIONS: Final = 2
_MIN_LANES: Final = 1
# Below 64 a passphrase no longer fits; NIST SP 800-63B and ASVS 4.0.3 (2.1.2) ask that 64 be allowed.
_MIN_MAX_LENGTH: Final = 64
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32

# Sanity bounds for stored values, far above any published recommendation (RFC 9106's largest is
# 2 GiB, Django 5.2 uses 1,000,000 PBKDF2 rounds): a corrupted or hostile row must not make one
# log-in allocate gigabytes or spin for minutes.
_MAX_ARGON2_MEMORY_KIB: Final = 4 * 1024 * 1024
_MAX_ARGON2_ITERATIONS: Final = 64
_MAX_ARGON2_LANES: Final = 64
_MAX_PBKDF2_ITERATIONS: Final = 10_000_000
_MAX_SCRYPT_BYTES: Final = 1024 * 1024 * 1024

# Werkzeug accepts "pbkdf2:sha256$salt$hash" without a round count and then uses its own current
# default. No Werkzeug release ever wrote such a string (all of them store the count), so the only
# sensible reading is what today's Werkzeug (3.1 and later) does with it: 1,000,000 rounds.
_WERKZEUG_PBKDF2_DEFAULT_ITERATIONS: Final = 1_000_000
_WERKZEUG_SCRYPT_DEFAULT: Final = (2**15, 8, 1)


def _(message: str) -> str:
    # Marks a message for extraction (babel's default keyword) and leaves it untranslated here:
    # the language is only known when the message is shown.
    return message


_REJECTIONS: Final[dict[str, str]] = {
    "too_short": _("Use at least {min} characters."),
    "too_long": _("Use at most {max} characters."),
    "no_upper": _("Add an upper-case letter."),
    "no_lower": _("Add a lower-case letter."),
    "no_digit": _("Add a digit."),
    "no_symbol": _("Add a special character, such as ! or #."),
    "common": _("This password is too common. Choose one that is harder to guess."),
    "contains_context": _("Do not use names or e-mail addresses linked to this account."),
}

_RULES: Final[dict[str, str]] = {
    "too_short": _("At least {min} characters"),
    "too_long": _("At most {max} characters"),
    "no_upper": _("At least one upper-case letter"),
    "no_lower": _("At least one lower-case letter"),
    "no_digit": _("At least one digit"),
    "no_symbol": _("At least one special character, such as ! or #"),
    "common": _("Not a commonly used password"),
    "contains_context": _("No names or e-mail addresses linked to this account"),
}


# -- hashing -------------------------------------------------------------------------------


def unusable_hash() -> str:
    """Return a stored value that no password verifies, for an account without a password.

    It starts with :data:`UNUSABLE_PREFIX` and carries random characters, so two such accounts
    still differ in the database (as Django does). :meth:`PasswordHasher.is_usable` is False for it.
    """
    return UNUSABLE_PREFIX + secrets.token_urlsafe(30)


def _at_least(minimum: int, why: str) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name} must be an int, not {type(value).__name__}")
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum} ({why}), not {value}")

    return check


def _normalise(password: str, max_length: int | None = None) -> str:
    # A huge input must not cost its NFKC form first (G3): NFKC joins at most three code
    # points into one (Hangul jamo, a letter with two accents), so anything over four times
    # the limit is too long however it normalises; it is cut, which keeps it too long.
    if max_length is not None and len(password) > 4 * max_length:
        password = password[: 4 * max_length + 1]
    return unicodedata.normalize("NFKC", password)


def _utf8(text: str) -> bytes:
    # A lone surrogate (JSON allows "\ud800") must not make hashing fail; surrogatepass encodes
    # it reproducibly, so such a password still hashes and verifies.
    return text.encode("utf-8", "surrogatepass")


def _b64_length(text: str) -> int | None:
    try:
        return len(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


_ARGON2_RE: Final = re.compile(
    r"\$argon2id\$v=19\$m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,10})"
    r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)
# Django's Argon2PasswordHasher: "argon2" + argon2-cffi's PHC string. Django 3.2+ writes
# argon2id; older releases argon2i, the oldest of them without "v=" (Argon2 version 1.0).
_DJANGO_ARGON2_RE: Final = re.compile(
    r"argon2\$argon2(id|i)\$(?:v=(16|19)\$)?m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,10})"
    r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)
_DJANGO_PBKDF2_RE: Final = re.compile(
    r"pbkdf2_(sha256|sha1)\$([0-9]{1,10})\$([^$]+)\$([A-Za-z0-9+/]{27,43}=)"
)
_DJANGO_BCRYPT_RE: Final = re.compile(
    r"(bcrypt_sha256|bcrypt)\$(\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53})"
)
_DJANGO_SCRYPT_RE: Final = re.compile(
    r"scrypt\$([0-9]{1,10})\$([^$]+)\$([0-9]{1,10})\$([0-9]{1,10})\$([A-Za-z0-9+/]{86}==)"
)
_WERKZEUG_PBKDF2_RE: Final = re.compile(
    r"pbkdf2(?::(sha256|sha512|sha1)(?::([0-9]{1,10}))?)?\$([^$]+)\$([0-9a-f]{40,128})"
)
_WERKZEUG_SCRYPT_RE: Final = re.compile(
    r"scrypt(?::([0-9]{1,10}):([0-9]{1,10}):([0-9]{1,10}))?\$([^$]+)\$([0-9a-f]{128})"
)
_DIGEST_BYTES: Final = {"sha1": 20, "sha256": 32, "sha512": 64}

# Caps on imported hashes, which are hostile input until they verify: each is several times
# the peers' defaults (Django 5.2: PBKDF2 1,000,000 rounds, bcrypt cost 12, scrypt
# 2**14·8·5, Argon2 100 MiB × 2; Werkzeug 3.1: PBKDF2 1,000,000, scrypt 2**15·8·1) and keeps
# one log-in to seconds: a hash with 10**9 rounds is refused, never run.
_MAX_BCRYPT_COST: Final = 16
_MAX_SCRYPT_WORK: Final = 2**24  # n · r · p
_MAX_ENCODED_LENGTH: Final = 512  # the column's width; no peer writes half of it


@attrs.frozen
class _Stored:
    """A stored value taken apart; ``scheme`` is ``argon2id`` or one of the legacy schemes."""

    scheme: str
    params: tuple[int, ...]
    salt: str
    expected: str
    digest: str = "sha256"


def _argon2_ok(m: int, t: int, p: int, salt: str, hashed: str) -> bool:
    salt_bytes, hash_bytes = _b64_length(salt), _b64_length(hashed)
    return (
        0 < m <= _MAX_ARGON2_MEMORY_KIB
        and 0 < t <= _MAX_ARGON2_ITERATIONS
        and 0 < p <= _MAX_ARGON2_LANES
        and m >= 8 * p  # Argon2's own minimum
        and salt_bytes is not None
        and salt_bytes >= 8
        and hash_bytes is not None
        and hash_bytes >= 4
    )


def _scrypt_ok(n: int, r: int, p: int) -> bool:
    return (
        n > 1
        and n & (n - 1) == 0  # scrypt needs a power of two
        and r > 0
        and p > 0
        and n * r * p <= _MAX_SCRYPT_WORK
        and _scrypt_bytes(n, r, p) <= _MAX_SCRYPT_BYTES
    )


def _parse(encoded: object) -> _Stored | None:
    """Take a stored value apart, or None if it is unusable, malformed or out of bounds."""
    if (
        not isinstance(encoded, str)
        or not encoded
        or len(encoded) > _MAX_ENCODED_LENGTH
        or encoded.startswith(UNUSABLE_PREFIX)
    ):
        return None
    if found := _ARGON2_RE.fullmatch(encoded):
        m, t, p = (int(found[i]) for i in (1, 2, 3))
        if _argon2_ok(m, t, p, found[4], found[5]):
            salt_bytes, hash_bytes = _b64_length(found[4]), _b64_length(found[5])
            assert salt_bytes is not None and hash_bytes is not None
            return _Stored("argon2id", (m, t, p, salt_bytes, hash_bytes), found[4], found[5])
        return None
    if found := _DJANGO_ARGON2_RE.fullmatch(encoded):
        m, t, p = (int(found[i]) for i in (3, 4, 5))
        if found[1] == "id" and found[2] != "19":
            return None  # argon2id only ever existed as version 1.3
        if _argon2_ok(m, t, p, found[6], found[7]):
            # Argon2 version 1.0 ("v=16" or none) is beyond cryptography: argon2-cffi checks it.
            scheme = "django_argon2" if found[2] == "19" else "django_argon2_v10"
            return _Stored(scheme, (m, t, p), "", encoded.removeprefix("argon2"), found[1])
        return None
    if found := _DJANGO_PBKDF2_RE.fullmatch(encoded):
        iterations = int(found[2])
        if (
            0 < iterations <= _MAX_PBKDF2_ITERATIONS
            and _b64_length(found[4]) == _DIGEST_BYTES[found[1]]
        ):
            return _Stored("django_pbkdf2", (iterations,), found[3], found[4], found[1])
        return None
    if found := _DJANGO_BCRYPT_RE.fullmatch(encoded):
        cost = int(found[3])
        if 4 <= cost <= _MAX_BCRYPT_COST:
            return _Stored("django_" + found[1], (cost,), "", found[2])
        return None
    if found := _DJANGO_SCRYPT_RE.fullmatch(encoded):
        n, r, p = int(found[1]), int(found[3]), int(found[4])
        if _scrypt_ok(n, r, p) and _b64_length(found[5]) == 64:
            return _Stored("django_scrypt", (n, r, p), found[2], found[5])
        return None
    if found := _WERKZEUG_PBKDF2_RE.fullmatch(encoded):
        digest = found[1] or "sha256"
        iterations = int(found[2]) if found[2] else _WERKZEUG_PBKDF2_DEFAULT_ITERATIONS
        if 0 < iterations <= _MAX_PBKDF2_ITERATIONS and len(found[4]) == 2 * _DIGEST_BYTES[digest]:
            return _Stored("werkzeug_pbkdf2", (iterations,), found[3], found[4], digest)
        return None
    if found := _WERKZEUG_SCRYPT_RE.fullmatch(encoded):
        n, r, p = (int(found[i]) for i in (1, 2, 3)) if found[1] else _WERKZEUG_SCRYPT_DEFAULT
        if _scrypt_ok(n, r, p):
            return _Stored("werkzeug_scrypt", (n, r, p), found[4], found[5])
        return None
    return None


# Tighter caps for what is imported, a few times the peers' defaults: a hostile admin who
# imports a hash at the sanity bounds above could make every failed log-in of that login cost
# minutes and gigabytes. Stored values portalkit wrote itself keep the bounds above.
_IMPORT_MAX_PBKDF2_ITERATIONS: Final = 2_000_000
_IMPORT_MAX_BCRYPT_COST: Final = 13
_IMPORT_MAX_ARGON2: Final = (256 * 1024, 10, 8)  # memory KiB, passes, lanes
_IMPORT_MAX_SCRYPT_WORK: Final = 2**21  # n · r · p (Django: 2**14·8·5)
_IMPORT_MAX_SCRYPT_BYTES: Final = 256 * 1024 * 1024


def _import_cost_ok(stored: _Stored) -> bool:
    """Whether an imported hash stays within the import caps (its scheme already parsed)."""
    scheme, params = stored.scheme, stored.params
    if scheme in ("argon2id", "django_argon2", "django_argon2_v10"):
        return all(got <= cap for got, cap in zip(params[:3], _IMPORT_MAX_ARGON2, strict=True))
    if scheme in ("django_pbkdf2", "werkzeug_pbkdf2"):
        return params[0] <= _IMPORT_MAX_PBKDF2_ITERATIONS
    if scheme in ("django_bcrypt", "django_bcrypt_sha256"):
        return params[0] <= _IMPORT_MAX_BCRYPT_COST
    if scheme in ("django_scrypt", "werkzeug_scrypt"):
        n, r, p = params
        return n * r * p <= _IMPORT_MAX_SCRYPT_WORK and _scrypt_bytes(n, r, p) <= (
            _IMPORT_MAX_SCRYPT_BYTES
        )
    return False  # a scheme without import caps is not importable


def _scrypt_bytes(n: int, r: int, p: int) -> int:
    # What OpenSSL allocates for scrypt: the 128·r·N block array plus 128·r per lane and a little.
    return 128 * r * (n + p + 2)


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError:
        raise ImproperlyInstalled("Checking a bcrypt password hash", "bcrypt") from None
    return bcrypt


def _argon2_cffi() -> Any:
    try:
        import argon2
    except ImportError:
        raise ImproperlyInstalled(
            "Checking an Argon2 version 1.0 password hash", "argon2"
        ) from None
    return argon2


def _verify_legacy(raw: str, stored: _Stored) -> bool:
    # Legacy systems hashed the password exactly as typed, without NFKC: verify that string.
    secret = raw.encode("utf-8")  # strict, as Django and Werkzeug; a surrogate can never match
    salt = stored.salt.encode("utf-8")
    expected = stored.expected.encode("ascii")
    if stored.scheme == "django_pbkdf2":
        derived = hashlib.pbkdf2_hmac(stored.digest, secret, salt, stored.params[0])
        return hmac.compare_digest(base64.b64encode(derived), expected)
    if stored.scheme == "werkzeug_pbkdf2":
        derived = hashlib.pbkdf2_hmac(stored.digest, secret, salt, stored.params[0])
        return hmac.compare_digest(derived.hex().encode("ascii"), expected)
    if stored.scheme == "django_argon2":
        kdf = Argon2id if stored.digest == "id" else Argon2i
        kdf.verify_phc_encoded(secret, stored.expected)  # InvalidKey for a wrong password
        return True
    if stored.scheme == "django_argon2_v10":
        argon2 = _argon2_cffi()
        try:
            return bool(argon2.PasswordHasher().verify(stored.expected, secret))
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError as error:
            raise ValueError(str(error)) from None
    if stored.scheme in ("django_bcrypt", "django_bcrypt_sha256"):
        bcrypt = _bcrypt()
        if stored.scheme == "django_bcrypt_sha256":
            secret = hashlib.sha256(secret).hexdigest().encode("ascii")
        # Django's bcrypt hashed the first 72 bytes (the library cut the rest off then; bcrypt
        # 5 refuses longer input instead): checking those bytes is checking what it hashed.
        return bool(bcrypt.checkpw(secret[:72], expected))
    n, r, p = stored.params
    derived = hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, maxmem=_scrypt_bytes(n, r, p) + 1024 * 1024, dklen=64
    )
    if stored.scheme == "django_scrypt":
        return hmac.compare_digest(base64.b64encode(derived), expected)
    return hmac.compare_digest(derived.hex().encode("ascii"), expected)


class _DummyHash:
    """The dummy hash of one hasher, made on first use, once, even with many threads."""

    __slots__ = ("_lock", "_value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: str | None = None

    def get(self, make: Callable[[], str]) -> str:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = make()
                value = self._value
        return value


@attrs.frozen
class PasswordHasher:
    """Hashes passwords with Argon2id and verifies them in constant time; legacy hashes verify too.

    The parameters default to the OWASP minimum (19 MiB, 2 passes, 1 lane) and may only be raised.
    Each hash gets a fresh 16-byte salt from :func:`os.urandom` and a 32-byte output, stored as a
    PHC string that names its own parameters, so raising them later keeps old hashes valid
    (:meth:`needs_rehash` then says which to upgrade at the next successful log-in).

    Verification also accepts hashes imported from other systems, for upgrade at log-in:

    - Django ``pbkdf2_sha256$<rounds>$<salt>$<base64 hash>`` and ``pbkdf2_sha1$…``;
    - Django ``argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>``, and the argon2i of Django
      before 3.2 (``argon2$argon2i$v=19$…``; the oldest, Argon2 1.0 without ``v=19``, through
      the ``argon2`` extra, argon2-cffi);
    - Django ``bcrypt_sha256$$2b$<cost>$…`` and ``bcrypt$$2b$<cost>$…``, through the
      ``bcrypt`` extra (the bcrypt package);
    - Django ``scrypt$<n>$<salt>$<r>$<p>$<base64 hash>``;
    - Werkzeug ``pbkdf2:sha256:<rounds>$<salt>$<hex hash>``, ``pbkdf2:sha512:…`` and
      ``pbkdf2:sha1:…`` (also ``pbkdf2:sha256`` and ``pbkdf2`` without rounds, read as
      1,000,000 rounds like Werkzeug 3.1+ does);
    - Werkzeug ``scrypt:<n>:<r>:<p>$<salt>$<hex hash>`` (also ``scrypt`` alone: 32768, 8, 1).

    A hash over the caps is refused as malformed, never run: PBKDF2 over 10,000,000 rounds,
    bcrypt over cost 16, scrypt over n·r·p = 2**24 or 1 GiB, Argon2 over 4 GiB, 64 passes or
    64 lanes, any value over 512 characters. A bcrypt or Argon2 1.0 hash whose extra is not
    installed raises :class:`~portalkit.errors.ImproperlyInstalled` from :meth:`verify`
    (it is well-formed, so a silent False would lock its owner out unexplained).

    Example::

        hasher = PasswordHasher()
        stored = hasher.hash("correct horse battery staple")
        hasher.verify("correct horse battery staple", stored)  # True
    """

    memory_kib: int = attrs.field(
        default=_MIN_MEMORY_KIB, validator=_at_least(_MIN_MEMORY_KIB, "the OWASP minimum")
    )
    """Argon2 memory cost in KiB (m); at least 19456 (19 MiB)."""
    iterations: int = attrs.field(
        default=_MIN_ITERATIONS, validator=_at_least(_MIN_ITERATIONS, "the OWASP minimum")
    )
    """Argon2 passes over the memory (t); at least 2."""
    lanes: int = attrs.field(
        default=_MIN_LANES, validator=_at_least(_MIN_LANES, "the OWASP minimum")
    )
    """Argon2 parallelism (p); at least 1."""
    max_length: int = attrs.field(
        default=128, validator=_at_least(_MIN_MAX_LENGTH, "room for a passphrase")
    )
    """The longest password accepted, in characters after NFKC; at least 64."""
    _dummy: _DummyHash = attrs.field(init=False, factory=_DummyHash, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.memory_kib < 8 * self.lanes:
            raise ValueError(f"memory_kib must be at least 8 × lanes ({8 * self.lanes})")

    def hash(self, password: str) -> str:
        """Hash ``password`` into a PHC string for storage: ``$argon2id$v=19$m=…,t=…,p=…$salt$hash``.

        The password is NFKC-normalised and UTF-8 encoded first. One longer than
        :attr:`max_length` raises :class:`~portalkit.errors.PasswordRejected` (``too_long``)
        before any hashing. This checks no other rule: run :meth:`PasswordPolicy.check` first.
        """
        text = _normalise(password, self.max_length)
        if len(text) > self.max_length:
            raise _rejection(["too_long"], "en", min_length=0, max_length=self.max_length)
        kdf = Argon2id(
            salt=os.urandom(_SALT_BYTES),
            length=_HASH_BYTES,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive_phc_encoded(_utf8(text))

    def verify(self, password: str, encoded: str | None) -> bool:
        """Whether ``password`` matches the stored value ``encoded``; never raises.

        Argon2id values (any parameters) are checked against the NFKC form of the password; the
        legacy schemes against the password exactly as given, because the systems that wrote them
        hashed it unchanged (after a successful legacy log-in :meth:`hash` stores the NFKC form).
        Comparison is constant-time.

        A password longer than :attr:`max_length` is False at once, without hashing. An empty,
        ``None``, unusable (``!…``), malformed or unknown stored value is False after one dummy
        Argon2id verification (:meth:`dummy_verify`), so it costs what a wrong password costs and
        the caller needs no special case.
        """
        if not isinstance(password, str):
            return False
        text = _normalise(password, self.max_length)
        if len(text) > self.max_length:
            return False
        stored = _parse(encoded)
        if stored is None:
            self._verify_dummy(text)
            return False
        try:
            if stored.scheme == "argon2id":
                assert isinstance(encoded, str)
                Argon2id.verify_phc_encoded(_utf8(text), encoded)
                return True
            return _verify_legacy(password, stored)
        except (InvalidKey, ValueError, TypeError, OverflowError, MemoryError):
            return False

    def dummy_verify(self, password: str) -> None:
        """Spend exactly what verifying ``password`` against a real hash would cost, for nobody.

        Call it when the account does not exist, so an unknown user costs the same as a known one.
        It verifies against a dummy hash at this hasher's parameters, made on first use (once,
        thread-safe). Like :meth:`verify`, a password over :attr:`max_length` costs nothing.
        """
        if not isinstance(password, str):
            return
        text = _normalise(password, self.max_length)
        if len(text) <= self.max_length:
            self._verify_dummy(text)

    def _verify_dummy(self, text: str) -> None:
        dummy = self._dummy.get(lambda: self.hash(secrets.token_urlsafe(16)))
        with contextlib.suppress(InvalidKey):  # the expected outcome; only the work matters
            Argon2id.verify_phc_encoded(_utf8(text), dummy)

    def needs_rehash(self, encoded: str | None) -> bool:
        """Whether a stored value that just verified should be replaced by :meth:`hash`.

        True for every legacy scheme, and for Argon2id whose memory, passes or lanes differ from
        this hasher's (so all hashes converge on the configured parameters), or whose salt or
        output is shorter than what :meth:`hash` makes. False for unusable or unknown values:
        they never verify, so there is nothing to upgrade.
        """
        stored = _parse(encoded)
        if stored is None:
            return False
        if stored.scheme != "argon2id":
            return True
        m, t, p, salt_bytes, hash_bytes = stored.params
        return (
            (m, t, p) != (self.memory_kib, self.iterations, self.lanes)
            or salt_bytes < _SALT_BYTES
            or hash_bytes < _HASH_BYTES
        )

    def importable(self, encoded: object) -> str:
        """Check a peer's hash before storing it; return its scheme's name (``django_bcrypt``…).

        Raises :class:`~portalkit.errors.ValidationError` (field ``password_hash``, code
        ``unknown_format``) for anything :meth:`verify` would never accept: an unknown
        algorithm, a malformed value, parameters over the caps, an unusable marker; and
        :class:`~portalkit.errors.ImproperlyInstalled` when its scheme needs an extra that is
        missing, so the import fails now and not at the member's log-in.
        """
        stored = _parse(encoded)
        if stored is None or not _import_cost_ok(stored):
            raise ValidationError.single(
                "password_hash",
                "unknown_format",
                "this is not a password hash portalkit can check (Django, Werkzeug or Argon2id), "
                "or its cost is beyond the documented limits",
            )
        if stored.scheme in ("django_bcrypt", "django_bcrypt_sha256"):
            _bcrypt()
        elif stored.scheme == "django_argon2_v10":
            _argon2_cffi()
        return stored.scheme

    def is_usable(self, encoded: str | None) -> bool:
        """Whether some password could verify against ``encoded``.

        False for ``None``, empty strings, values made by :func:`unusable_hash` (``!…``) and
        anything that is not a well-formed Argon2id or supported legacy value.
        """
        return _parse(encoded) is not None


# -- policy --------------------------------------------------------------------------------


def _is_symbol(char: str) -> bool:
    return not char.isalpha() and not char.isdigit() and not char.isspace()


@functools.cache
def _common_passwords() -> frozenset[str]:
    source = resources.files("portalkit") / "data" / "common-passwords.txt.gz"
    with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return frozenset(_normalise(line.strip()).casefold() for line in lines if line.strip())


def _is_common(text: str) -> bool:
    folded = text.casefold()
    common = _common_passwords()
    if folded in common:
        return True
    end = len(folded)
    while end and not folded[end - 1].isalpha() and not folded[end - 1].isspace():
        end -= 1
    # A stem under four characters ("abc1234!") is too short to call the password common.
    return end < len(folded) and end >= 4 and folded[:end] in common


def _context_words(context: Iterable[str | None]) -> Iterator[str]:
    for item in context:
        if not item:
            continue
        folded = _normalise(item).casefold()
        if "@" in folded:
            folded = folded.rpartition("@")[0]  # an e-mail address: only its local part
        word: list[str] = []
        for char in [*folded, " "]:
            if char.isalnum():
                word.append(char)
            else:
                if len(word) >= 4:
                    yield "".join(word)
                word = []


def _rejection(
    codes: list[str], language: str, *, min_length: int, max_length: int
) -> PasswordRejected:
    translations(language)  # an unsupported language: the ValidationError on "language"
    values = {"min": min_length, "max": max_length}
    return PasswordRejected(
        Problem("password", code, _REJECTIONS[code], values, language=language) for code in codes
    )


@attrs.frozen(kw_only=True)
class PasswordPolicy:
    """The rules a new password must meet; :meth:`violations` lists every one it breaks.

    Rules are checked on the NFKC-normalised password, and each is one code of :data:`CODES`:

    - ``too_short`` / ``too_long``: fewer than :attr:`min_length` or more than
      :attr:`max_length` characters (Unicode code points after NFKC).
    - ``no_upper`` / ``no_lower``: no character ``c`` with ``c.isupper()`` / ``c.islower()``
      (Unicode upper/lower case, so "É" and "ß" count; titlecase letters such as "ǅ" are neither).
    - ``no_digit``: no character with ``c.isdigit()`` (any script's digits, such as "٣").
    - ``no_symbol``: no character that is neither a letter (``c.isalpha()``), a digit nor white
      space (``c.isspace()``); punctuation, symbols, emoji and marks all count.
    - ``common``: the case-folded password is on the bundled list of 19,640 common passwords
      (Django's), or becomes one when its trailing digits and symbols are cut off and at least
      four characters remain ("Sunshine2024!" → "sunshine").
    - ``contains_context``: the case-folded password contains a word of at least four letters
      or digits from one of the ``context`` strings (customer name, vendor name, username; of an
      e-mail address only the part before the "@").

    The composition rules only apply when asked for (``require_*``); the list and context rules
    are on unless switched off, which gives up a promise of the security page.

    Example::

        PasswordPolicy.strict().violations("acme2024", context=["Acme B.V."])
        # ['no_upper', 'no_symbol', 'contains_context']
    """

    min_length: int = attrs.field(default=12, validator=_at_least(8, "NIST SP 800-63B"))
    """The fewest characters allowed; at least 8."""
    max_length: int = attrs.field(
        default=128, validator=_at_least(_MIN_MAX_LENGTH, "room for a passphrase")
    )
    """The most characters allowed; at least 64. Keep it equal to the hasher's ``max_length``."""
    require_upper: bool = False
    """Ask for an upper-case letter."""
    require_lower: bool = False
    """Ask for a lower-case letter."""
    require_digit: bool = False
    """Ask for a digit."""
    require_symbol: bool = False
    """Ask for a special character (not a letter, digit or white space)."""
    blocklist: bool = True
    """Refuse common passwords."""
    context_words: bool = True
    """Refuse passwords containing words of the account's names and e-mail address."""

    def __attrs_post_init__(self) -> None:
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length ({self.min_length}) must not exceed max_length ({self.max_length})"
            )

    @classmethod
    def nist(cls) -> PasswordPolicy:
        """The default: at least 12 characters, not common, no account words, no composition rules.

        NIST SP 800-63B (revision 4) asks for at least 15 characters when the password is the only
        factor and at least 8 when it is part of multi-factor authentication, and forbids
        composition rules because they make passwords predictable, not strong. 12 is our compromise
        for portals where a second factor is optional; raise ``min_length`` to 15 for
        single-factor log-ins.
        """
        return cls()

    @classmethod
    def strict(cls) -> PasswordPolicy:
        """At least 8 characters with an upper-case letter, a digit and a special character.

        The rule many vendors already impose (the pest-control seed). The list of common
        passwords and the context words stay on, so "Password1!" is still refused.
        """
        return cls(min_length=8, require_upper=True, require_digit=True, require_symbol=True)

    @classmethod
    def named(cls, name: str) -> PasswordPolicy:
        """The preset called ``name``: ``"nist"`` or ``"strict"``; ValueError for anything else."""
        if name == "nist":
            return cls.nist()
        if name == "strict":
            return cls.strict()
        raise ValueError(f"unknown password policy {name!r}: use 'nist' or 'strict'")

    def violations(self, password: str, *, context: Iterable[str | None] = ()) -> list[str]:
        """Every rule ``password`` breaks, as codes in the order of :data:`CODES`; ``[]`` if none.

        ``context`` holds the words the password must not contain: the customer's and vendor's
        names, the username, the e-mail address (``None`` and empty entries are skipped).
        """
        if len(password) > 4 * self.max_length:
            return ["too_long"]  # nothing else is worth computing on a huge input (G3)
        text = _normalise(password)
        broken = []
        if len(text) < self.min_length:
            broken.append("too_short")
        if len(text) > self.max_length:
            broken.append("too_long")
        if self.require_upper and not any(c.isupper() for c in text):
            broken.append("no_upper")
        if self.require_lower and not any(c.islower() for c in text):
            broken.append("no_lower")
        if self.require_digit and not any(c.isdigit() for c in text):
            broken.append("no_digit")
        if self.require_symbol and not any(_is_symbol(c) for c in text):
            broken.append("no_symbol")
        if self.blocklist and _is_common(text):
            broken.append("common")
        if self.context_words:
            folded = text.casefold()
            if any(word in folded for word in _context_words(context)):
                broken.append("contains_context")
        return broken

    def check(
        self, password: str, *, context: Iterable[str | None] = (), language: str = "en"
    ) -> None:
        """Raise :class:`~portalkit.errors.PasswordRejected` listing every broken rule, if any.

        The messages are in ``language`` (en, nl or de); an unsupported language raises
        :class:`~portalkit.errors.ValidationError` on the field ``language``.
        """
        broken = self.violations(password, context=context)
        if broken:
            raise _rejection(
                broken, language, min_length=self.min_length, max_length=self.max_length
            )

    def describe(self, language: str = "en") -> list[str]:
        """The rules of this policy as short sentences in ``language``, for a form's hint."""
        translate = translations(language).gettext
        values = {"min": self.min_length, "max": self.max_length}
        wanted = {
            "too_short": True,
            "too_long": True,
            "no_upper": self.require_upper,
            "no_lower": self.require_lower,
            "no_digit": self.require_digit,
            "no_symbol": self.require_symbol,
            "common": self.blocklist,
            "contains_context": self.context_words,
        }
        return [translate(_RULES[code]).format_map(values) for code in CODES if wanted[code]]


# -- generation ----------------------------------------------------------------------------

# No look-alikes (I/l/1, O/0) and no symbols that quoting, URLs or fonts mangle: generated
# passwords are read off a screen or a letter and typed by hand.
_UPPER: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_LOWER: Final = "abcdefghijkmnopqrstuvwxyz"
_DIGITS: Final = "23456789"
_SYMBOLS: Final = "!#%+=?@"
_ALPHABET: Final = _UPPER + _LOWER + _DIGITS + _SYMBOLS
_MIN_GENERATED_LENGTH: Final = 16
_MIN_GENERATED_BITS: Final = 96


def _pick(choices: str) -> str:
    return choices[secrets.randbelow(len(choices))]


def _shuffle(chars: list[str]) -> None:
    # Fisher–Yates on secrets.randbelow: random.shuffle would use the non-cryptographic Mersenne
    # Twister unless handed a SystemRandom, which is easy to get wrong later.
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]


def _entropy_bits(length: int, classes: list[str]) -> float:
    # A lower bound: the forced characters only count for their own class, the shuffle for nothing.
    forced = sum(math.log2(len(c)) for c in classes)
    return forced + (length - len(classes)) * math.log2(len(_ALPHABET))


def generate_password(
    policy: PasswordPolicy, *, length: int | None = None, context: Iterable[str | None] = ()
) -> str:
    """Generate a password from :mod:`secrets` that ``policy`` accepts.

    The length defaults to ``max(policy.min_length, 20)``; it is never under 16 characters or
    96 bits of entropy (ValueError), nor outside the policy's bounds. The alphabet is 64
    characters without look-alikes (letters, digits 2–9, ``!#%+=?@``); one character of each
    class the policy requires is placed at a random position. A password that happens to be
    common or to contain a ``context`` word is thrown away and drawn again.

    Example::

        generate_password(PasswordPolicy.strict())  # e.g. 'q7Hx%Vm2kPz9cR!tWb4N'
    """
    context = list(context)
    size = max(policy.min_length, 20) if length is None else length
    if not policy.min_length <= size <= policy.max_length:
        raise ValueError(
            f"length {size} is outside the policy's {policy.min_length}–{policy.max_length}"
        )
    classes = [
        chars
        for wanted, chars in (
            (policy.require_upper, _UPPER),
            (policy.require_lower, _LOWER),
            (policy.require_digit, _DIGITS),
            (policy.require_symbol, _SYMBOLS),
        )
        if wanted
    ]
    bits = _entropy_bits(size, classes)
    if size < _MIN_GENERATED_LENGTH or bits < _MIN_GENERATED_BITS:
        raise ValueError(
            f"a generated password needs at least {_MIN_GENERATED_LENGTH} characters and "
            f"{_MIN_GENERATED_BITS} bits; {size} characters give {bits:.0f} bits"
        )
    for _attempt in range(100):
        chars = [_pick(c) for c in classes]
        chars += [_pick(_ALPHABET) for _position in range(size - len(classes))]
        _shuffle(chars)
        password = "".join(chars)
        if not policy.violations(password, context=context):
            return password
    # Only reachable if the context makes most passwords illegal, e.g. a 4-letter word per letter.
    raise RuntimeError("could not generate a password outside the blocklist and context words")
