"""Peer password hashes (issue 18.3): every hash Django and Werkzeug write verifies, is
imported through an audited call, and becomes Argon2id at the next log-in.

Every hash here is made in the test run by the real library (Django's hashers, Werkzeug's
``generate_password_hash``), never copied into this file; cheap parameters keep the run short,
the formats are the libraries' own.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Callable

import argon2
import bcrypt
import pytest
from django.contrib.auth import hashers as django_hashers
from werkzeug.security import check_password_hash, generate_password_hash

from portalkit import AuthenticationFailed, Portal, ValidationError
from portalkit.errors import PermissionDenied
from portalkit.passwords import PasswordHasher
from portalkit.staffrights import DATA_IMPORT, IMPERSONATE, LOGINS_MANAGE
from portals import account_of, login_with_password, mail_world

PASSWORD = "lètmein to the portal"
WRONG = "letmein to the portal"


class _CheapArgon2(django_hashers.Argon2PasswordHasher):
    memory_cost = 1024
    time_cost = 1
    parallelism = 1


class _CheapArgon2i(_CheapArgon2):
    """Django before 3.2 wrote argon2i."""

    def params(self) -> argon2.Parameters:
        params = super().params()
        return argon2.Parameters(
            type=argon2.Type.I,
            version=params.version,
            salt_len=params.salt_len,
            hash_len=params.hash_len,
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
        )


class _CheapBCryptSHA256(django_hashers.BCryptSHA256PasswordHasher):
    rounds = 4


class _CheapBCrypt(django_hashers.BCryptPasswordHasher):
    rounds = 4


class _CheapScrypt(django_hashers.ScryptPasswordHasher):
    work_factor = 2**10


def _django(hasher: django_hashers.BasePasswordHasher, **options: int) -> Callable[[str], str]:
    def make(password: str) -> str:
        encoded = hasher.encode(password, hasher.salt(), **options)
        assert hasher.verify(password, encoded)  # Django itself accepts what it wrote
        return str(encoded)

    return make


def _django_argon2_v10(password: str) -> str:
    """The oldest Django argon2 hashes: Argon2 version 1.0, no ``v=`` (argon2-cffi wrote them)."""
    raw = argon2.low_level.hash_secret(
        password.encode(),
        django_hashers.Argon2PasswordHasher().salt().encode(),
        time_cost=1,
        memory_cost=1024,
        parallelism=1,
        hash_len=32,
        type=argon2.Type.I,
        version=0x10,
    ).decode()
    encoded = "argon2" + raw.replace("$v=16", "")
    assert django_hashers.Argon2PasswordHasher().verify(password, encoded)
    return encoded


def _werkzeug(method: str) -> Callable[[str], str]:
    def make(password: str) -> str:
        encoded = generate_password_hash(password, method)
        assert check_password_hash(encoded, password)
        return encoded

    return make


PEERS: dict[str, Callable[[str], str]] = {
    "django pbkdf2_sha256": _django(django_hashers.PBKDF2PasswordHasher(), iterations=1000),
    "django pbkdf2_sha1": _django(django_hashers.PBKDF2SHA1PasswordHasher(), iterations=1000),
    "django argon2 (argon2id)": _django(_CheapArgon2()),
    "django argon2 (argon2i)": _django(_CheapArgon2i()),
    "django argon2 (argon2i, version 1.0)": _django_argon2_v10,
    "django bcrypt_sha256": _django(_CheapBCryptSHA256()),
    "django bcrypt": _django(_CheapBCrypt()),
    "django scrypt": _django(_CheapScrypt()),
    "werkzeug pbkdf2:sha256": _werkzeug("pbkdf2:sha256:1000"),
    "werkzeug pbkdf2:sha512": _werkzeug("pbkdf2:sha512:1000"),
    "werkzeug pbkdf2:sha1": _werkzeug("pbkdf2:sha1:1000"),
    "werkzeug scrypt": _werkzeug("scrypt:1024:8:1"),
}


@pytest.mark.parametrize("peer", list(PEERS))
def test_each_peer_hash_imports_verifies_and_is_upgraded_at_the_next_log_in(
    portal: Portal, peer: str
) -> None:
    world = mail_world(portal)
    membership = login_with_password(world, password=None)
    encoded = PEERS[peer](PASSWORD)
    trusted = world.staff_holding(LOGINS_MANAGE, IMPERSONATE)
    account = portal.credentials.import_hash(trusted, membership, encoded)
    assert account.password_hash == encoded

    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, account.username, WRONG)
    assert account_of(world, membership).password_hash == encoded  # a failure never rewrites

    login = portal.auth.authenticate(world.vendor, account.username, PASSWORD)
    upgraded = account_of(world, membership).password_hash
    assert upgraded.startswith("$argon2id$v=19$") and login.account.password_hash == upgraded
    assert not portal.hasher.needs_rehash(upgraded)
    portal.auth.authenticate(world.vendor, account.username, PASSWORD)  # and it still works

    events = portal.audit.list(world.staff, action="password_hash_imported")
    assert [e.target for e in events] == [f"account:{account.id}"]
    assert encoded not in repr(events)  # the scheme is recorded, never the hash


def test_a_bcrypt_hash_of_a_long_password_checks_what_django_hashed() -> None:
    """Django's plain bcrypt hashed the first 72 bytes; bcrypt 5 refuses longer input."""
    long_password = "x" * 100
    prefix = long_password[:72]
    hasher = _CheapBCrypt()
    encoded = "bcrypt$" + bcrypt.hashpw(prefix.encode(), hasher.salt()).decode()
    assert PasswordHasher().verify(long_password[:80], encoded)
    assert not PasswordHasher().verify("y" * 80, encoded)


def test_importing_a_hash_needs_the_right_to_set_a_password(portal: Portal) -> None:
    """Whoever chose the hash may know its password: the same guard as set_password."""
    world = mail_world(portal)
    membership = login_with_password(world)
    before = account_of(world, membership).password_hash
    manager = world.staff_holding(LOGINS_MANAGE)
    with pytest.raises(PermissionDenied):
        portal.credentials.import_hash(manager, membership, PEERS["werkzeug scrypt"](PASSWORD))
    assert account_of(world, membership).password_hash == before
    trusted = world.staff_holding(LOGINS_MANAGE, IMPERSONATE)
    portal.credentials.import_hash(trusted, membership, PEERS["werkzeug scrypt"](PASSWORD))
    portal.auth.authenticate(world.vendor, account_of(world, membership).username, PASSWORD)


def _swap(text: str, old: str, new: str) -> str:
    assert old in text  # the hostile variant really differs from the library's hash
    return text.replace(old, new, 1)


def _hostile() -> dict[str, str]:
    pbkdf2 = PEERS["django pbkdf2_sha256"](PASSWORD)
    werkzeug = PEERS["werkzeug pbkdf2:sha256"](PASSWORD)
    bcrypted = PEERS["django bcrypt"](PASSWORD)
    scrypt = PEERS["django scrypt"](PASSWORD)
    argon = PEERS["django argon2 (argon2id)"](PASSWORD)
    return {
        "django pbkdf2, 10**9 rounds": _swap(pbkdf2, "$1000$", "$1000000000$"),
        "werkzeug pbkdf2, 10**9 rounds": _swap(werkzeug, ":1000$", ":1000000000$"),
        "bcrypt cost 31": _swap(bcrypted, "$2b$04$", "$2b$31$"),
        "scrypt p = 10**6": _swap(scrypt, "$8$5$", "$8$1000000$"),
        "argon2 8 GiB": _swap(argon, "m=1024,", "m=8388608,"),
        "argon2id version 1.0": _swap(argon, "v=19$", ""),
        "unknown algorithm": "md5$salt$" + "0" * 32,
        "plain text": PASSWORD,
        "unusable marker": "!" + "x" * 40,
        "truncated": pbkdf2[:-5],
        "huge": _swap(pbkdf2, "$1000$", "$1000$" + "s" * 1000),
    }


HOSTILE = list(_hostile())


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_peer_hashes_are_refused_and_change_nothing(portal: Portal, case: str) -> None:
    world = mail_world(portal)
    membership = login_with_password(world)
    before = account_of(world, membership).password_hash
    encoded = _hostile()[case]
    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        portal.credentials.import_hash(
            world.staff_holding(LOGINS_MANAGE, IMPERSONATE), membership, encoded
        )
    assert (caught.value.field, caught.value.code) == ("password_hash", "unknown_format")
    assert account_of(world, membership).password_hash == before
    # Stored some other way, it still never verifies, and costs one dummy check at most.
    assert portal.hasher.verify(PASSWORD, encoded) is False
    assert time.perf_counter() - started < 5


def test_an_unknown_login_costs_one_check_whatever_the_imported_hashes() -> None:
    """Constant-ish timing: a malformed stored value costs the dummy check, as no account does."""
    hasher = PasswordHasher()
    hasher.dummy_verify(PASSWORD)  # make the dummy hash
    for encoded in _hostile().values():
        started = time.perf_counter()
        assert hasher.verify(PASSWORD, encoded) is False
        assert time.perf_counter() - started < 2


_BLOCKED = """
import sys
sys.modules[{module!r}] = None
from portalkit.errors import ImproperlyInstalled
from portalkit.passwords import PasswordHasher
encoded = sys.stdin.read()
for call in (PasswordHasher().importable, lambda e: PasswordHasher().verify("x", e)):
    try:
        call(encoded)
    except ImproperlyInstalled as error:
        print(error)
    else:
        print("no error")
"""


@pytest.mark.parametrize(
    ("peer", "module", "extra"),
    [
        ("django bcrypt", "bcrypt", "bcrypt"),
        ("django bcrypt_sha256", "bcrypt", "bcrypt"),
        ("django argon2 (argon2i, version 1.0)", "argon2", "argon2"),
    ],
)
def test_a_missing_extra_fails_with_the_pip_install_that_fixes_it(
    peer: str, module: str, extra: str
) -> None:
    encoded = PEERS[peer](PASSWORD)
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKED.format(module=module)],
        input=encoded,
        capture_output=True,
        text=True,
        check=True,
    )
    wanted = f'pip install "portalkit[{extra}]"'
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(wanted in line for line in lines), done.stdout + done.stderr


def test_argon2id_and_argon2i_from_django_need_no_extra() -> None:
    encoded = PEERS["django argon2 (argon2i)"](PASSWORD)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['argon2'] = None; sys.modules['bcrypt'] = None\n"
            "from portalkit.passwords import PasswordHasher\n"
            "print(PasswordHasher().verify(sys.argv[1], sys.stdin.read()))",
            PASSWORD,
        ],
        input=encoded,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True", done.stderr


def _csv(rows: list[tuple[str, str]], profile: str) -> io.BytesIO:
    lines = ["customer,email,first_name,last_name,profile,password_hash"]
    lines += [f"HGZ,{email},Karin,Bos,{profile},{encoded}" for email, encoded in rows]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def test_the_csv_import_of_logins_takes_peer_hashes_and_refuses_bad_ones(portal: Portal) -> None:
    world = mail_world(portal)
    world.customer(code="HGZ")
    profile = world.profile(capabilities={"orders.view"}).name
    good = PEERS["django pbkdf2_sha256"](PASSWORD)
    bad = _hostile()["django pbkdf2, 10**9 rounds"]
    rows = [("karin@hgz.example", good), ("piet@hgz.example", bad)]

    # Staff who may import but not set passwords: every row with a hash is refused.
    importer = world.staff_holding(DATA_IMPORT, LOGINS_MANAGE)
    refused = portal.imports.load(importer, "logins", _csv(rows[:1], profile), mode="valid-rows")
    assert refused.written == 0
    assert [(p.column, p.code) for p in refused.problems] == [("password_hash", "denied")]

    trusted = world.staff_holding(DATA_IMPORT, LOGINS_MANAGE, IMPERSONATE)
    report = portal.imports.load(
        trusted, "logins", _csv(rows, profile), mode="valid-rows", invite=True
    )
    assert (report.created, report.skipped, report.invited) == (1, 1, 0), report.problems
    assert [(p.line, p.column, p.code) for p in report.problems] == [
        (3, "password_hash", "unknown_format")
    ]
    login = portal.auth.authenticate(world.vendor, "karin@hgz.example", PASSWORD)
    assert login.account.password_hash.startswith("$argon2id$")
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, "piet@hgz.example", PASSWORD)


def _costly() -> dict[str, str]:
    """Hashes within the sanity bounds of stored values but over the import caps."""
    return {
        "django pbkdf2, 3,000,000 rounds": _swap(
            PEERS["django pbkdf2_sha256"](PASSWORD), "$1000$", "$3000000$"
        ),
        "bcrypt cost 14": _swap(PEERS["django bcrypt"](PASSWORD), "$2b$04$", "$2b$14$"),
        "scrypt n·r·p 2**22": _swap(PEERS["django scrypt"](PASSWORD), "$8$5$", "$8$512$"),
        "argon2 1 GiB": _swap(PEERS["django argon2 (argon2id)"](PASSWORD), "m=1024,", "m=1048576,"),
    }


@pytest.mark.parametrize("case", list(_costly()))
def test_imports_are_capped_lower_than_stored_values(portal: Portal, case: str) -> None:
    """A hostile admin must not make every failed log-in of a login cost seconds and
    gigabytes: what is imported stays a few times the peers' defaults."""
    world = mail_world(portal)
    membership = login_with_password(world)
    before = account_of(world, membership).password_hash
    with pytest.raises(ValidationError) as caught:
        portal.credentials.import_hash(
            world.staff_holding(LOGINS_MANAGE, IMPERSONATE), membership, _costly()[case]
        )
    assert (caught.value.field, caught.value.code) == ("password_hash", "unknown_format")
    assert account_of(world, membership).password_hash == before


def test_a_customer_admin_may_not_import_a_hash(portal: Portal) -> None:
    """Nothing makes the member change an imported password: a customer admin who chose it
    would keep a way in. Importing is the vendor's job."""
    world = mail_world(portal)
    customer = world.customer()
    admin = login_with_password(
        world, customer=customer, profile=world.profile(capabilities={"members.manage"})
    )
    extra = login_with_password(world, customer=customer)
    before = account_of(world, extra).password_hash
    actor = world.member(admin)
    with pytest.raises(PermissionDenied):
        portal.credentials.import_hash(actor, extra, PEERS["werkzeug scrypt"](PASSWORD))
    assert account_of(world, extra).password_hash == before


class _Recorder:
    """The real hasher, noting which stored values it was asked to check."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.checked: list[str | None] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def verify(self, password: str, encoded: str | None) -> bool:
        self.checked.append(encoded)
        return self.real.verify(password, encoded)


def test_a_locked_login_never_runs_its_stored_hash(portal: Portal) -> None:
    """Locked, an attempt checks the dummy hash: a stored hash made costly cannot be run
    again and again by someone who only knows the login's name."""
    world = mail_world(portal)
    membership = login_with_password(world)
    trusted = world.staff_holding(LOGINS_MANAGE, IMPERSONATE)
    portal.credentials.import_hash(trusted, membership, PEERS["werkzeug scrypt"](PASSWORD))
    stored = account_of(world, membership).password_hash
    username = account_of(world, membership).username
    recorder = _Recorder(portal.hasher)
    portal.hasher = recorder  # type: ignore[assignment]
    for _ in range(portal.settings.login_max_failures):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, username, "wrong " + PASSWORD)
    assert recorder.checked.count(stored) == portal.settings.login_max_failures
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, username, "wrong " + PASSWORD)  # now locked
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, username, PASSWORD)  # locked, right password
    assert recorder.checked.count(stored) == portal.settings.login_max_failures
