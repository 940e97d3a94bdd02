"""Passwords: Argon2id storage and upgrade (A1), the policy presets (A2), generated passwords (A4).

Reference values for the legacy schemes come from two places: strings the real libraries wrote
(Django 5.2.19 ``PBKDF2PasswordHasher.encode``, Werkzeug 3.1.9 ``generate_password_hash``,
argon2-cffi 25.1.0 ``PasswordHasher.hash``; each checked with that library's own verifier when it
was recorded), and strings this file builds itself with :mod:`hashlib`, apart from the parser.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import math
import random
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit import passwords
from portalkit.errors import PasswordRejected, ValidationError
from portalkit.passwords import (
    CODES,
    UNUSABLE_PREFIX,
    PasswordHasher,
    PasswordPolicy,
    generate_password,
    unusable_hash,
)

PHC = re.compile(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")
PASSWORD = "lètmein-Hedgehog-42"


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


@pytest.fixture(scope="module")
def stored(hasher: PasswordHasher) -> str:
    return hasher.hash(PASSWORD)


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count every Argon2id derivation and verification portalkit.passwords makes."""
    calls: Counter[str] = Counter()
    real = passwords.Argon2id

    class Spy:
        def __init__(self, **kwargs: Any) -> None:
            calls["construct"] += 1
            self._kdf = real(**kwargs)

        def derive_phc_encoded(self, key_material: bytes) -> str:
            calls["derive"] += 1
            return self._kdf.derive_phc_encoded(key_material)

        @staticmethod
        def verify_phc_encoded(key_material: bytes, phc_encoded: str) -> None:
            calls["verify"] += 1
            calls["verify " + phc_encoded.split("$")[3]] += 1  # the parameters used
            real.verify_phc_encoded(key_material, phc_encoded)

    monkeypatch.setattr(passwords, "Argon2id", Spy)
    return calls


# -- A1: storage ---------------------------------------------------------------------------


def test_stored_value_is_argon2id_at_least_at_the_owasp_minimum(stored: str) -> None:
    found = PHC.fullmatch(stored)
    assert found, stored
    m, t, p = (int(found[i]) for i in (1, 2, 3))
    assert m >= 19456 and t >= 2 and p >= 1
    assert len(_b64(found[4])) == 16  # salt
    assert len(_b64(found[5])) == 32  # output
    assert PASSWORD not in stored


def test_the_same_password_twice_gives_two_different_hashes(
    hasher: PasswordHasher, stored: str
) -> None:
    again = hasher.hash(PASSWORD)
    assert again != stored
    assert PHC.fullmatch(again)[4] != PHC.fullmatch(stored)[4]  # type: ignore[index]
    assert hasher.verify(PASSWORD, again) and hasher.verify(PASSWORD, stored)


def test_verify_accepts_the_password_and_refuses_any_other(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.verify(PASSWORD, stored) is True
    assert hasher.verify(PASSWORD.upper(), stored) is False
    assert hasher.verify(PASSWORD + " ", stored) is False
    assert hasher.verify("", stored) is False


@pytest.mark.parametrize(
    ("typed_at_signup", "typed_at_login"),
    [
        ("ﬁsh and chips", "fish and chips"),  # ligature
        ("Ｐａｓｓｗｏｒｄ１２３４５", "Password12345"),  # full-width letters and digits
        ("cafe\u0301-au-lait", "café-au-lait"),  # combining accent vs precomposed
    ],
)
def test_nfkc_equivalent_passwords_verify_against_each_other(
    hasher: PasswordHasher, typed_at_signup: str, typed_at_login: str
) -> None:
    assert typed_at_signup != typed_at_login
    assert hasher.verify(typed_at_login, hasher.hash(typed_at_signup))
    assert hasher.verify(typed_at_signup, hasher.hash(typed_at_login))


def test_a_password_over_the_maximum_is_refused_before_hashing(
    argon2_calls: Counter[str],
) -> None:
    hasher = PasswordHasher(max_length=64)
    with pytest.raises(PasswordRejected) as caught:
        hasher.hash("x" * 65)
    assert caught.value.codes == ["too_long"]
    assert "64" in caught.value.problems[0].message
    # Counted after NFKC: 33 ligatures are 66 characters.
    with pytest.raises(PasswordRejected):
        hasher.hash("ﬁ" * 33)
    assert (
        hasher.verify("x" * 65, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g") is False
    )
    hasher.dummy_verify("x" * 65)
    assert sum(argon2_calls.values()) == 0
    # The limit itself is allowed.
    assert hasher.verify("ﬁ" * 32, hasher.hash("fi" * 32))


@pytest.mark.parametrize(
    "options",
    [
        {"memory_kib": 19455},
        {"iterations": 1},
        {"lanes": 0},
        {"max_length": 63},
        {"memory_kib": 19456, "lanes": 2433},  # Argon2 needs 8 KiB per lane
    ],
)
def test_the_hasher_refuses_parameters_below_the_minimum(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PasswordHasher(**options)


def test_the_hasher_accepts_the_minimum_and_shows_no_secret_in_repr() -> None:
    hasher = PasswordHasher(memory_kib=19456, iterations=2, lanes=1, max_length=64)
    hasher.dummy_verify(PASSWORD)
    stored = hasher.hash(PASSWORD)
    assert PASSWORD not in repr(hasher) and PASSWORD not in str(hasher)
    assert "$argon2id$" not in repr(hasher)  # the dummy hash stays private too
    assert hasher == PasswordHasher(max_length=64)
    assert stored not in repr(hasher)


# -- A1: upgrade ---------------------------------------------------------------------------


def test_needs_rehash_when_the_parameters_change(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.needs_rehash(stored) is False
    assert PasswordHasher(iterations=3).needs_rehash(stored) is True
    assert PasswordHasher(memory_kib=32768).needs_rehash(stored) is True
    assert PasswordHasher(lanes=2).needs_rehash(stored) is True
    # A stronger hash still verifies under the weaker hasher, which then wants it back in line.
    stronger = PasswordHasher(iterations=3).hash(PASSWORD)
    assert hasher.verify(PASSWORD, stronger)
    assert hasher.needs_rehash(stronger) is True


# Recorded from argon2-cffi 25.1.0: PasswordHasher(time_cost=3, memory_cost=8192, parallelism=2)
ARGON2_CFFI = "$argon2id$v=19$m=8192,t=3,p=2$SrFJEctK+Fe7yV7zJYWbbA$/kU17o4VWEEO/TefTdeQexlIHPXNOfP+/oOtVIEM1gQ"


def test_argon2id_from_another_library_verifies_and_asks_for_a_rehash(
    hasher: PasswordHasher,
) -> None:
    assert hasher.verify("lètmein", ARGON2_CFFI)
    assert not hasher.verify("letmein", ARGON2_CFFI)
    assert hasher.needs_rehash(ARGON2_CFFI)


# Written by the real libraries; the password is "lètmein" in each.
RECORDED_LEGACY = [
    # Django 5.2.19 PBKDF2PasswordHasher().encode("lètmein", "seasalt", iterations=1000)
    "pbkdf2_sha256$1000$seasalt$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A=",
    # Werkzeug 3.1.9 generate_password_hash("lètmein", "pbkdf2:sha256:1000")
    "pbkdf2:sha256:1000$jB5xPyR2QPIl6Pnh$ce097024dda38f1c84a36116cd753bf1f5cabc55c9cf2af2a0ddc0a17263d64d",
    # Werkzeug 3.1.9 generate_password_hash("lètmein"), its default scrypt:32768:8:1
    "scrypt:32768:8:1$e3pdEBTr9oKF6Do7$6422a607346fbff8937d912e4c21c3ef6e0873ba43a0b83a9d01e136bd"
    "fffd6ed5f08ace7fd28124bd75da731db83da1964a44aa6954e20bfea1b845756dc860",
    # Werkzeug 3.1.9 generate_password_hash("lètmein", "scrypt:1024:8:2")
    "scrypt:1024:8:2$HJmAZCp9k8qc5UXZ$853e0b841f5d774103cf8fd7ad384c5138b614c5546924c301960d4526a"
    "f4641bac38bb99da4573a0c22d10b656e7fc2b12c0cd48e7cb1ac33390e4de66bceed",
    # Werkzeug 3.1.9 reads the round-less forms with its defaults (check_password_hash → True)
    "pbkdf2:sha256$NoRoundsSalt1234$902b88ae4bff9ad321cbecdceb07dd1cb3a163ecd4c70ebb79d87a0467db826c",
    "scrypt$PlainScryptSalt9$23a8e78f73325559f9acbc8c791d99eec56316ecd50121eaa3cdc9e3814bd33e327600"
    "54bd84470fe9c9f8ec6d18c9c93ce35ae676a3f94de6241905ece4d0c3",
]


@pytest.mark.parametrize("encoded", RECORDED_LEGACY, ids=lambda e: re.split(r"\$", e)[0])
def test_hashes_written_by_django_and_werkzeug_verify_and_ask_for_a_rehash(
    hasher: PasswordHasher, encoded: str
) -> None:
    assert hasher.is_usable(encoded)
    assert hasher.verify("lètmein", encoded) is True
    assert hasher.verify("letmein", encoded) is False
    assert hasher.needs_rehash(encoded) is True


def django_pbkdf2(password: str, salt: str, iterations: int) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def werkzeug_pbkdf2(password: str, salt: str, iterations: int) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2:sha256:{iterations}${salt}${digest.hex()}"


def werkzeug_scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, dklen=64)
    return f"scrypt:{n}:{r}:{p}${salt}${digest.hex()}"


legacy_passwords = st.text(
    st.characters(exclude_categories=("Cs",)), max_size=20
)  # UTF-8 encodable, as those systems required


@settings(max_examples=15, deadline=None)
@given(
    password=legacy_passwords,
    other=legacy_passwords,
    salt=st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=22
    ),
    scheme=st.sampled_from(["django", "werkzeug-pbkdf2", "werkzeug-scrypt"]),
)
def test_legacy_hashes_built_with_hashlib_verify_only_their_password(
    password: str, other: str, salt: str, scheme: str
) -> None:
    hasher = PasswordHasher()
    if scheme == "django":
        encoded = django_pbkdf2(password, salt, 600)
    elif scheme == "werkzeug-pbkdf2":
        encoded = werkzeug_pbkdf2(password, salt, 700)
    else:
        encoded = werkzeug_scrypt(password, salt, 256, 4, 2)
    assert hasher.verify(password, encoded) is True
    assert hasher.verify(other, encoded) is (other == password)
    assert hasher.needs_rehash(encoded) is True


def test_legacy_hashes_are_checked_against_the_password_as_typed() -> None:
    # The old system hashed "ﬁsh" itself; NFKC would turn it into "fish" and never match.
    hasher = PasswordHasher()
    encoded = django_pbkdf2("ﬁsh & chips 2", "Xk3dJ9sQ2pLm0aZr7tYu1w", 2000)
    assert hasher.verify("ﬁsh & chips 2", encoded) is True
    assert hasher.verify("fish & chips 2", encoded) is False
    # After the upgrade the NFKC form is stored, so both spellings work from then on.
    upgraded = hasher.hash("ﬁsh & chips 2")
    assert hasher.verify("fish & chips 2", upgraded)


MALFORMED = [
    None,
    "",
    "!",
    "$argon2id$",
    "$argon2id$v=19$m=19456,t=2,p=1$$",
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
    "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2id$v=19$m=19456,t=2,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA",  # 3-byte salt
    " $argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA\n",
    "pbkdf2_sha256$0$salt$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A=",
    "pbkdf2_sha256$1000$$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A=",
    "pbkdf2_sha256$1000$seasalt$not-base64",
    "pbkdf2_sha256$99999999999$seasalt$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A=",
    "pbkdf2_sha1$1000$seasalt$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A=",
    "pbkdf2:sha1:1000$jB5xPyR2QPIl6Pnh$" + "ab" * 32,
    "pbkdf2:sha256:1000$jB5xPyR2QPIl6Pnh$" + "AB" * 32,  # Werkzeug only writes lower case
    "pbkdf2:sha256:1000$jB5xPyR2QPIl6Pnh$" + "ab" * 31,
    "scrypt:1000:8:1$salt$" + "ab" * 64,  # n is not a power of two
    "scrypt:1048576:64:1$salt$" + "ab" * 64,  # 8 GiB
    "scrypt:1024:8$salt$" + "ab" * 64,
    "bcrypt$$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # over the cost cap
    "sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8",
    "plain$$lètmein",
    "lètmein",
]


@pytest.mark.parametrize("encoded", MALFORMED)
def test_malformed_and_unknown_stored_values_never_verify_and_never_raise(
    hasher: PasswordHasher, encoded: str | None
) -> None:
    assert hasher.verify("lètmein", encoded) is False
    assert hasher.is_usable(encoded) is False
    assert hasher.needs_rehash(encoded) is False


def test_stored_values_that_are_not_strings_never_verify(hasher: PasswordHasher) -> None:
    for encoded in (b"$argon2id$", 42, ["x"]):
        assert hasher.verify("lètmein", encoded) is False  # type: ignore[arg-type]
        assert hasher.is_usable(encoded) is False  # type: ignore[arg-type]


def test_an_unusable_marker_never_verifies_and_each_is_different(hasher: PasswordHasher) -> None:
    first, second = unusable_hash(), unusable_hash()
    assert first.startswith(UNUSABLE_PREFIX) and first != second
    assert not hasher.is_usable(first)
    assert hasher.verify("", first) is False
    assert hasher.is_usable(hasher.hash("")) is True


# -- A6 groundwork: equal work -------------------------------------------------------------


def test_dummy_verify_does_exactly_one_argon2_verification_at_current_parameters(
    argon2_calls: Counter[str],
) -> None:
    hasher = PasswordHasher(iterations=3)
    hasher.dummy_verify(PASSWORD)
    assert argon2_calls["verify"] == 1
    assert argon2_calls["verify m=19456,t=3,p=1"] == 1
    hasher.dummy_verify(PASSWORD)
    assert argon2_calls["verify"] == 2
    assert argon2_calls["derive"] == 1  # the dummy hash is made once per hasher


def test_a_real_and_a_dummy_verification_do_the_same_work(argon2_calls: Counter[str]) -> None:
    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    hasher.dummy_verify(PASSWORD)  # warm: the dummy hash is made now
    argon2_calls.clear()
    hasher.verify("wrong password", stored)
    real = dict(argon2_calls)
    argon2_calls.clear()
    hasher.dummy_verify("wrong password")
    assert dict(argon2_calls) == real == {"verify": 1, "verify m=19456,t=2,p=1": 1}


def test_an_unusable_stored_value_costs_one_dummy_verification(argon2_calls: Counter[str]) -> None:
    hasher = PasswordHasher()
    for encoded in (None, "", unusable_hash(), "md5$x$y"):
        argon2_calls.clear()
        assert hasher.verify(PASSWORD, encoded) is False
        assert argon2_calls["verify"] == 1


def test_the_dummy_hash_is_made_once_even_with_many_threads(argon2_calls: Counter[str]) -> None:
    hasher = PasswordHasher()
    barrier = threading.Barrier(6)

    def log_in() -> None:
        barrier.wait()
        hasher.dummy_verify(PASSWORD)

    threads = [threading.Thread(target=log_in) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert argon2_calls["derive"] == 1
    assert argon2_calls["verify"] == 6


# -- A2: the policy ------------------------------------------------------------------------

STRICT = PasswordPolicy.strict()
NIST = PasswordPolicy.nist()


@pytest.mark.parametrize(
    ("password", "codes"),
    [
        ("Xk9#mpq", ["too_short"]),  # 7
        ("Xk9#mpqz", []),  # 8
        ("xk9#mpqz", ["no_upper"]),
        ("Xkq#mpqz", ["no_digit"]),
        ("Xk9zmpqz", ["no_symbol"]),
        ("Password1!", ["common"]),
        ("Sunshine2024!!", ["common"]),  # "sunshine" with digits and symbols tacked on
        ("", ["too_short", "no_upper", "no_digit", "no_symbol"]),
        ("Ｘｋ９＃ｍｐｑｚ", []),  # full-width, counted after NFKC
        ("Xk9ↁmpqz", []),  # a numeral that is not a digit is a special character
        ("Xk9\u3000mpqz", ["no_symbol"]),  # white space is not
    ],
)
def test_strict_preset_boundaries(password: str, codes: list[str]) -> None:
    assert STRICT.violations(password) == codes


@pytest.mark.parametrize(
    ("password", "codes"),
    [
        ("violet-otter", []),  # 12 characters, no composition rules
        ("violetotter", ["too_short"]),  # 11
        ("correct horse battery staple", []),
        ("Password1!", ["too_short", "common"]),
        ("passwordpassword", []),  # not on the list, and "password" is not its trailing stem
        ("abc98765!#xy", []),
        ("x" * 128, []),
        ("x" * 129, ["too_long"]),
        ("ﬁ" * 65, ["too_long"]),  # 65 characters typed, 130 after NFKC
    ],
)
def test_nist_preset_boundaries(password: str, codes: list[str]) -> None:
    assert NIST.violations(password) == codes


def test_a_short_stem_does_not_make_a_password_common() -> None:
    policy = PasswordPolicy(min_length=8)
    assert policy.violations("abc98765!#") == []  # "abc" is listed but too short a stem
    assert policy.violations("dragon98765!#") == ["common"]


def test_nist_is_the_default_and_presets_are_found_by_name() -> None:
    assert PasswordPolicy() == NIST == PasswordPolicy.named("nist")
    assert PasswordPolicy.named("strict") == STRICT
    assert STRICT.blocklist and STRICT.context_words
    assert (NIST.min_length, NIST.require_upper, NIST.require_digit, NIST.require_symbol) == (
        12,
        False,
        False,
        False,
    )
    for name in ("NIST", "default", ""):
        with pytest.raises(ValueError):
            PasswordPolicy.named(name)


@pytest.mark.parametrize(
    "options",
    [{"min_length": 7}, {"max_length": 63}, {"min_length": 100, "max_length": 99}],
)
def test_a_policy_refuses_unsafe_bounds(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PasswordPolicy(**options)


@pytest.mark.parametrize(
    ("password", "context", "rejected"),
    [
        ("Bakker-rules-2024", ["Bakker Ongediertebestrijding B.V."], True),
        ("ongediertebestrijding!", ["Bakker Ongediertebestrijding B.V."], True),
        ("deVries-garden-77", ["j.devries@acme.example"], True),  # e-mail local part
        ("acme-garden-7777", ["j.devries@acme.example"], False),  # the domain does not count
        ("jan-garden-77777", ["Jan"], False),  # words under four characters do not count
        ("VRIES-garden-777", ["De Vries", None, ""], True),
        ("garden-party-777", ["De Vries", "Acme"], False),
    ],
)
def test_context_words_of_customer_vendor_and_email(
    password: str, context: list[str | None], rejected: bool
) -> None:
    assert ("contains_context" in NIST.violations(password, context=context)) is rejected


def test_violations_are_the_complete_list_in_a_fixed_order() -> None:
    everything = PasswordPolicy(
        min_length=8,
        max_length=64,
        require_upper=True,
        require_lower=True,
        require_digit=True,
        require_symbol=True,
    )
    # Hiragana are letters without case: no upper, no lower, no digit, no symbol.
    assert everything.violations("あ" * 65, context=["ああああ"]) == [
        "too_long",
        "no_upper",
        "no_lower",
        "no_digit",
        "no_symbol",
        "contains_context",
    ]
    assert everything.violations("password", context=["The Password Company"]) == [
        "no_upper",
        "no_digit",
        "no_symbol",
        "common",
        "contains_context",
    ]
    assert everything.violations("") == [
        "too_short",
        "no_upper",
        "no_lower",
        "no_digit",
        "no_symbol",
    ]
    assert set(CODES) == {
        *everything.violations("あ" * 65, context=["ああああ"]),
        *everything.violations("password"),
        "too_short",
    }


# The oracle: the documented rules written again, apart from portalkit's code.
with gzip.open(
    resources.files("portalkit").joinpath("data", "common-passwords.txt.gz").open("rb"),
    "rt",
    encoding="utf-8",
) as _lines:
    COMMON = {unicodedata.normalize("NFKC", w.strip()).casefold() for w in _lines if w.strip()}
LETTER_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo"}


def _letter(c: str) -> bool:
    return unicodedata.category(c) in LETTER_CATEGORIES


def _digit(c: str) -> bool:
    return unicodedata.digit(c, None) is not None


def _space(c: str) -> bool:
    return re.fullmatch(r"\s", c) is not None


def oracle(policy: PasswordPolicy, password: str, context: Iterable[str | None]) -> list[str]:
    text = unicodedata.normalize("NFKC", password)
    folded = text.casefold()
    symbols = [c for c in text if not _letter(c) and not _digit(c) and not _space(c)]
    stem = "".join(
        reversed(
            list(itertools.dropwhile(lambda c: not _letter(c) and not _space(c), reversed(folded)))
        )
    )
    words = set()
    for item in context:
        if item:
            local = unicodedata.normalize("NFKC", item).rsplit("@", 1)[0].casefold()
            words |= {w for w in re.split(r"[\W_]+", local) if len(w) >= 4}
    rules = {
        "too_short": len(text) < policy.min_length,
        "too_long": len(text) > policy.max_length,
        "no_upper": policy.require_upper and not any(c.isupper() for c in text),
        "no_lower": policy.require_lower and not any(c.islower() for c in text),
        "no_digit": policy.require_digit and not any(_digit(c) for c in text),
        "no_symbol": policy.require_symbol and not symbols,
        "common": policy.blocklist
        and (folded in COMMON or (len(stem) >= 4 and stem != folded and stem in COMMON)),
        "contains_context": policy.context_words and any(w in folded for w in words),
    }
    return [code for code in CODES if rules[code]]


policies = st.one_of(
    st.sampled_from([NIST, STRICT]),
    st.builds(
        PasswordPolicy,
        min_length=st.integers(8, 16),
        max_length=st.integers(64, 70),
        require_upper=st.booleans(),
        require_lower=st.booleans(),
        require_digit=st.booleans(),
        require_symbol=st.booleans(),
        blocklist=st.booleans(),
        context_words=st.booleans(),
    ),
)
COMMON_SAMPLE = sorted(COMMON)[::97]
pieces = st.one_of(
    st.text(max_size=6),
    st.sampled_from(COMMON_SAMPLE),
    st.sampled_from(
        ["!", "1", "2024", "#!", "Ⅻ", "ﬁ", "١٢", "A", "ǅ", " ", "_", "ↁ", "௰", "acme", "vries"]
    ),
)
candidates = st.one_of(
    st.text(), st.text(min_size=60, max_size=80), st.lists(pieces, max_size=8).map("".join)
)
contexts = st.lists(
    st.one_of(
        st.none(),
        st.text(max_size=12),
        st.emails(),
        st.sampled_from(["Acme B.V.", "j.de.vries@acme.example", "Bakker & Zn", "PASSWORD"]),
    ),
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(policy=policies, password=candidates, context=contexts)
def test_violations_equal_an_independent_oracle_for_any_text(
    policy: PasswordPolicy, password: str, context: list[str | None]
) -> None:
    expected = oracle(policy, password, context)
    assert policy.violations(password, context=context) == expected
    if expected:
        with pytest.raises(PasswordRejected) as caught:
            policy.check(password, context=context, language="de")
        assert caught.value.codes == expected
    else:
        policy.check(password, context=context)


# -- messages ------------------------------------------------------------------------------


def _messages(language: str) -> dict[str, str]:
    policy = PasswordPolicy(
        min_length=9,
        max_length=70,
        require_upper=True,
        require_lower=True,
        require_digit=True,
        require_symbol=True,
    )
    found: dict[str, str] = {}
    for password, context in (("", []), ("あ" * 71, ["ああああ"]), ("password", [])):
        with pytest.raises(PasswordRejected) as caught:
            policy.check(password, context=context, language=language)
        found |= {p.code: p.message for p in caught.value.problems}
        assert {p.field for p in caught.value.problems} == {"password"}
    return found


def test_every_rule_has_a_message_in_english_dutch_and_german() -> None:
    by_language = {language: _messages(language) for language in ("en", "nl", "de")}
    for code in CODES:
        texts = {by_language[language][code] for language in by_language}
        assert len(texts) == 3, code  # really translated, never the English msgid
    for language, messages in by_language.items():
        assert "9" in messages["too_short"], language
        assert "70" in messages["too_long"], language
    assert by_language["nl"]["too_short"] == "Gebruik minstens 9 tekens."
    assert by_language["de"]["too_short"] == "Verwenden Sie mindestens 9 Zeichen."


def test_describe_lists_the_rules_of_the_policy_in_each_language() -> None:
    english = STRICT.describe("en")
    assert english[0] == "At least 8 characters"
    assert len(english) == 7  # min, max, upper, digit, symbol, common, context
    assert len(NIST.describe("en")) == 4
    for language in ("nl", "de"):
        translated = STRICT.describe(language)
        assert len(translated) == len(english)
        assert all(t != e for t, e in zip(translated, english, strict=True)), language
        assert "8" in translated[0] and "128" in translated[1]


def test_an_unsupported_language_is_a_clear_error() -> None:
    with pytest.raises(ValidationError) as caught:
        STRICT.check("x", language="fr")
    assert caught.value.field == "language"
    assert not isinstance(caught.value, PasswordRejected)
    with pytest.raises(ValidationError):
        STRICT.describe("fr")


@pytest.mark.parametrize("secret", ["zebra-QUUX", "Hunter2Hunter2", "ﬁsh-and-chips", "a" * 200])
def test_the_rejection_never_shows_the_password(secret: str) -> None:
    for language in ("en", "nl", "de"):
        with pytest.raises(PasswordRejected) as caught:
            STRICT.check(secret, context=[secret], language=language)
        shown = str(caught.value) + repr(caught.value) + repr(caught.value.problems)
        assert secret not in shown
        assert unicodedata.normalize("NFKC", secret) not in shown
    with pytest.raises(PasswordRejected) as caught:
        PasswordHasher().hash(secret * 30)
    assert secret not in str(caught.value) + repr(caught.value)


# -- A4: generated passwords ---------------------------------------------------------------

generator_policies = st.builds(
    PasswordPolicy,
    min_length=st.integers(8, 64),
    max_length=st.integers(64, 128),
    require_upper=st.booleans(),
    require_lower=st.booleans(),
    require_digit=st.booleans(),
    require_symbol=st.booleans(),
)


@settings(max_examples=25, deadline=None)
@given(policy=generator_policies)
def test_generated_passwords_satisfy_any_policy(policy: PasswordPolicy) -> None:
    for _ in range(40):  # 25 policies × 40 = 1,000 passwords
        password = generate_password(policy)
        assert policy.violations(password) == []
        assert len(password) == max(policy.min_length, 20) >= 16


@pytest.mark.parametrize("policy", [NIST, STRICT], ids=["nist", "strict"])
def test_a_thousand_generated_passwords_pass_each_preset(policy: PasswordPolicy) -> None:
    generated = [generate_password(policy) for _ in range(1000)]
    assert all(policy.violations(p) == [] for p in generated)
    assert len(set(generated)) == 1000
    alphabet = set("".join(generated))
    # At least 96 bits: the length times the bits of the alphabet actually drawn from.
    assert min(map(len, generated)) * math.log2(len(alphabet)) >= 96
    assert not alphabet & set("0O1lI")  # no look-alikes
    # The characters a policy requires sit anywhere, not in fixed places.
    for position in (0, 1, 2, -1):
        assert {_kind(p[position]) for p in generated} == {"upper", "lower", "digit", "symbol"}


def test_a_required_character_is_equally_likely_at_every_position() -> None:
    # Only a symbol is required and 7 of the 64 characters are symbols, so with a uniform
    # shuffle the first of 17 characters is one with probability 1/17 + 16/17 × 7/64 ≈ 0.162.
    # A shuffle that never leaves the forced symbol in place (Sattolo's) gives 7/64 ≈ 0.109.
    # 6,000 draws put the 0.135 threshold over five standard deviations from either value.
    policy = PasswordPolicy(require_symbol=True)
    first = [generate_password(policy, length=17)[0] for _ in range(6000)]
    share = sum(_kind(c) == "symbol" for c in first) / len(first)
    assert 0.135 < share < 0.19


def _kind(char: str) -> str:
    if char.isupper():
        return "upper"
    if char.islower():
        return "lower"
    return "digit" if char.isdigit() else "symbol"


@pytest.fixture
def random_module_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every `random` function and Random method raise, so only `secrets` can work."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the random module must not be used for passwords")

    names = ("random", "choice", "choices", "shuffle", "randint", "randrange", "sample", "uniform")
    for name in names:
        monkeypatch.setattr(random, name, forbidden)
        monkeypatch.setattr(random.Random, name, forbidden)
    monkeypatch.setattr(random.SystemRandom, "random", forbidden)
    with pytest.raises(AssertionError):
        random.choice("ab")  # the trap works


def test_generation_uses_secrets_not_random(random_module_forbidden: None) -> None:
    for policy in (NIST, STRICT, PasswordPolicy(min_length=30, require_lower=True)):
        password = generate_password(policy)
        assert policy.violations(password) == []


def test_generated_length_is_bounded_by_policy_and_entropy() -> None:
    assert len(generate_password(NIST, length=16)) == 16  # 16 × 6 bits = 96
    with pytest.raises(ValueError):
        generate_password(NIST, length=15)
    with pytest.raises(ValueError):
        generate_password(STRICT, length=17)  # four forced characters leave 93 bits
    assert len(generate_password(STRICT, length=18)) == 18
    with pytest.raises(ValueError):
        generate_password(PasswordPolicy(min_length=30), length=25)
    with pytest.raises(ValueError):
        generate_password(PasswordPolicy(max_length=64), length=65)
    assert len(generate_password(PasswordPolicy(min_length=40))) == 40


def _rigged_randbelow(monkeypatch: pytest.MonkeyPatch, zeros: int | None) -> None:
    """Make `secrets.randbelow` answer 0 for its first ``zeros`` calls (or always)."""
    import secrets

    real = secrets.randbelow
    counter: Iterator[int] = itertools.count()

    def randbelow(n: int) -> int:
        return 0 if zeros is None or next(counter) < zeros else real(n)

    monkeypatch.setattr(secrets, "randbelow", randbelow)


def test_a_generated_password_with_a_context_word_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rigged_randbelow(monkeypatch, zeros=40)  # the first draw is "AAAA…"
    password = generate_password(NIST, context=["Aaaa Holding"])
    assert "aaaa" not in password.casefold()
    assert NIST.violations(password, context=["Aaaa Holding"]) == []


def test_generation_gives_up_loudly_rather_than_return_a_rejected_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rigged_randbelow(monkeypatch, zeros=None)
    with pytest.raises(RuntimeError):
        generate_password(NIST, context=["aaaa"])
