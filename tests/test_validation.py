"""Bad input gets a clear error naming the field and the rule, and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portalkit import NotFound, PortalError, ValidationError
from portalkit.testing import World


class Prepared(World):
    """A world with one of everything, so each case creates or changes only its target."""

    def __init__(self) -> None:
        super().__init__()
        self.c = self.customer()
        self.ct = self.contact(self.c)
        self.loc = self.location(self.c)
        self.m = self.membership(customer=self.c, contact=self.ct)
        self.a = self.account()
        self.pr = self.profile()


@pytest.fixture
def w() -> Prepared:
    return Prepared()


def mem(w: Prepared, **fields: Any) -> Any:
    """Create a membership of the spare account in the prepared customer."""
    return w.portal.memberships.create(w.staff, account=w.a, customer=w.c, contact=w.ct, **fields)


def _snapshot(w: Prepared) -> tuple[object, ...]:
    p, s = w.portal, w.staff
    return (
        p.customers.list(s, limit=1000),
        p.accounts.list(s, limit=1000),
        p.profiles.list(s, limit=1000),
        p.memberships.list(s, customer=w.c),
        p.contacts.list(s, customer=w.c),
        p.locations.list(s, customer=w.c),
    )


Case = tuple[str, Callable[[Prepared], Any], str, str]

CASES: list[Case] = [
    # customers: the code
    ("empty code", lambda w: w.customer(code=""), "code", "required"),
    ("code with a space", lambda w: w.customer(code="AC ME"), "code", "invalid_characters"),
    ("code with a slash", lambda w: w.customer(code="ACME/1"), "code", "invalid_characters"),
    ("code with an umlaut", lambda w: w.customer(code="MÜLLER"), "code", "invalid_characters"),
    ("code with Arabic digits", lambda w: w.customer(code="A١٢"), "code", "invalid_characters"),
    ("code with a newline", lambda w: w.customer(code="ACME\n"), "code", "invalid_characters"),
    ("code of 51 characters", lambda w: w.customer(code="C" * 51), "code", "too_long"),
    ("code as a number", lambda w: w.customer(code=123), "code", "not_text"),
    ("code as a list", lambda w: w.customer(code=["A", "B"]), "code", "not_text"),
    # customers: other fields
    ("blank name", lambda w: w.customer(name="   "), "name", "required"),
    ("name of 201 characters", lambda w: w.customer(name="n" * 201), "name", "too_long"),
    ("name with CR LF", lambda w: w.customer(name="Acme\r\nBcc: x"), "name", "control_characters"),
    ("name with NUL", lambda w: w.customer(name="Acme\x00"), "name", "control_characters"),
    ("name with U+2028", lambda w: w.customer(name="Ac\u2028me"), "name", "control_characters"),
    ("settings as a string", lambda w: w.customer(settings="all"), "settings", "not_mapping"),
    (
        "setting as 'yes'",
        lambda w: w.customer(settings={"show_prices": "yes"}),
        "settings.show_prices",
        "not_boolean",
    ),
    (
        "setting as 1",
        lambda w: w.customer(settings={"shop_enabled": 1}),
        "settings.shop_enabled",
        "not_boolean",
    ),
    (
        "unknown setting",
        lambda w: w.customer(settings={"is_admin": True}),
        "settings.is_admin",
        "unknown_field",
    ),
    (
        "addresses as a dict",
        lambda w: w.customer(addresses={"street": "x"}),
        "addresses",
        "not_list",
    ),
    (
        "address without street",
        lambda w: w.customer(addresses=[{"postal_code": "1", "city": "A"}]),
        "addresses[0].street",
        "required",
    ),
    (
        "two default addresses",
        lambda w: w.customer(
            addresses=[
                {"street": "a", "postal_code": "1", "city": "A", "default_delivery": True},
                {"street": "b", "postal_code": "2", "city": "B", "default_delivery": True},
            ]
        ),
        "addresses",
        "several_defaults",
    ),
    (
        "unknown address field",
        lambda w: w.customer(
            addresses=[{"street": "a", "postal_code": "1", "city": "A", "owner_id": "x"}]
        ),
        "addresses[0].owner_id",
        "unknown_field",
    ),
    ("parent that is no id", lambda w: w.customer(parent="nope"), "parent", "not_an_id"),
    (
        "changing the code",
        lambda w: w.portal.customers.update(w.staff, w.c, code="NEW"),
        "code",
        "immutable",
    ),
    (
        "changing the vendor",
        lambda w: w.portal.customers.update(w.staff, w.c, vendor_id=uuid.uuid4()),
        "vendor_id",
        "not_changeable",
    ),
    (
        "changing active by update",
        lambda w: w.portal.customers.update(w.staff, w.c, active=False),
        "active",
        "not_changeable",
    ),
    (
        "list filter active='no'",
        lambda w: w.portal.customers.list(w.staff, active="no"),
        "active",
        "not_boolean",
    ),
    # accounts
    ("username with a space", lambda w: w.account(username="jan jansen"), "username", "whitespace"),
    ("empty username", lambda w: w.account(username=""), "username", "required"),
    ("username of 151 characters", lambda w: w.account(username="u" * 151), "username", "too_long"),
    ("e-mail without @", lambda w: w.account(email="jan.example.com"), "email", "invalid_email"),
    (
        "e-mail with display name",
        lambda w: w.account(email="Jan <jan@example.com>"),
        "email",
        "invalid_email",
    ),
    (
        "two e-mails in one string",
        lambda w: w.account(email="a@example.com, b@example.com"),
        "email",
        "invalid_email",
    ),
    (
        "e-mail with a header",
        lambda w: w.account(email="a@example.com\r\nBcc: b@evil.example"),
        "email",
        "invalid_email",
    ),
    (
        "e-mail as a list",
        lambda w: w.account(email=["victim@example.com", "evil@example.org"]),
        "email",
        "not_text",
    ),
    (
        "e-mail of 255 characters",
        lambda w: w.account(email="a" * 243 + "@example.com"),
        "email",
        "too_long",
    ),
    ("unsupported language", lambda w: w.account(language="fr"), "language", "unsupported"),
    (
        "changing the password hash",
        lambda w: w.portal.accounts.update(w.staff, w.a, password_hash="$argon2id$x"),
        "password_hash",
        "not_changeable",
    ),
    (
        "changing the session stamp",
        lambda w: w.portal.accounts.update(w.staff, w.a, session_stamp="fixed"),
        "session_stamp",
        "not_changeable",
    ),
    # contacts and locations
    (
        "contact without first name",
        lambda w: w.contact(w.c, first_name=""),
        "first_name",
        "required",
    ),
    (
        "contact with a bad e-mail",
        lambda w: w.contact(w.c, email="@example.com"),
        "email",
        "invalid_email",
    ),
    (
        "contact moved to another customer",
        lambda w: w.portal.contacts.update(w.staff, w.ct, customer_id=uuid.uuid4()),
        "customer_id",
        "not_changeable",
    ),
    (
        "location code with a space",
        lambda w: w.location(w.c, code="A B"),
        "code",
        "invalid_characters",
    ),
    # memberships
    ("unknown kind", lambda w: mem(w, kind="boss"), "kind", "invalid_choice"),
    ("created disabled", lambda w: mem(w, status="disabled"), "status", "invalid_choice"),
    (
        "unknown location right",
        lambda w: mem(w, location_grants={uuid.uuid4(): "admin"}),
        "location_grants[",
        "invalid_choice",
    ),
    (
        "location grants as a string",
        lambda w: mem(w, location_grants="all"),
        "location_grants",
        "not_mapping",
    ),
    (
        "subscriptions as a string",
        lambda w: mem(w, subscriptions="invoices"),
        "subscriptions",
        "not_list",
    ),
    (
        "subscription with spaces",
        lambda w: mem(w, subscriptions=["new invoices"]),
        "subscriptions",
        "invalid_name",
    ),
    (
        "customer grants as a string",
        lambda w: mem(w, customer_grants="ACME"),
        "customer_grants",
        "not_list",
    ),
    (
        "membership moved by update",
        lambda w: w.portal.memberships.update(w.staff, w.m, customer_id=uuid.uuid4()),
        "customer_id",
        "not_changeable",
    ),
    (
        "status set by update",
        lambda w: w.portal.memberships.update(w.staff, w.m, status="active"),
        "status",
        "not_changeable",
    ),
    # profiles
    (
        "capabilities as a string",
        lambda w: w.profile(capabilities="orders.view"),
        "capabilities",
        "not_list",
    ),
    (
        "capability with spaces",
        lambda w: w.profile(capabilities=["Orders View"]),
        "capabilities",
        "invalid_name",
    ),
    (
        "unknown scope",
        lambda w: w.profile(scopes={"orders": "galaxy"}),
        "scopes.orders",
        "invalid_choice",
    ),
    ("scopes as a list", lambda w: w.profile(scopes=["orders"]), "scopes", "not_mapping"),
    # paging
    ("limit 0", lambda w: w.portal.customers.list(w.staff, limit=0), "limit", "out_of_range"),
    ("limit 1001", lambda w: w.portal.accounts.list(w.staff, limit=1001), "limit", "out_of_range"),
    ("limit True", lambda w: w.portal.profiles.list(w.staff, limit=True), "limit", "out_of_range"),
    (
        "negative offset",
        lambda w: w.portal.customers.list(w.staff, offset=-1),
        "offset",
        "out_of_range",
    ),
    ("memberships of nobody", lambda w: w.portal.memberships.list(w.staff), "customer", "required"),
]


@pytest.mark.parametrize(
    ("call", "field", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_names_field_and_rule_and_changes_nothing(
    w: Prepared, call: Callable[[Prepared], Any], field: str, code: str
) -> None:
    before = _snapshot(w)
    with pytest.raises(ValidationError) as caught:
        call(w)
    problem = caught.value.problems[0]
    assert problem.field.startswith(field), caught.value.problems
    assert problem.code == code, caught.value.problems
    assert problem.message
    assert _snapshot(w) == before


def test_every_problem_is_reported_at_once(w: Prepared) -> None:
    with pytest.raises(ValidationError) as caught:
        w.portal.customers.create(
            w.staff,
            code="bad code",
            name="",
            erp_reference="x" * 101,
            settings={"show_prices": "no"},
        )
    fields = [p.field for p in caught.value.problems]
    assert fields == ["code", "name", "erp_reference", "settings.show_prices"]
    assert str(caught.value).startswith("code: ")
    assert w.portal.customers.list(w.staff) == [w.c]


def test_unknown_records_are_not_found(w: Prepared) -> None:
    with pytest.raises(NotFound):
        w.customer(parent=uuid.uuid4())
    with pytest.raises(NotFound):
        w.portal.customers.get(w.staff, uuid.uuid4())
    with pytest.raises(NotFound):
        w.portal.customers.get_by_code(w.staff, "NOPE")
    with pytest.raises(NotFound):
        mem(w, profile=uuid.uuid4())
    with pytest.raises(LookupError):  # NotFound is a LookupError too
        w.portal.accounts.get_by_username(w.staff, "nobody")


def test_a_code_may_use_every_allowed_character(w: Prepared) -> None:
    code = "Az09-_" + "x" * 44
    assert w.customer(code=code).code == code


def test_emails_are_normalised_but_keep_their_local_part(w: Prepared) -> None:
    account = w.account(email="  Jan.Jansen@EXAMPLE.COM ")
    assert account.email == "Jan.Jansen@example.com"
    idn = w.account(email="kees@bücher.example")
    assert idn.email == "kees@bücher.example"


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.binary(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.uuids(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=_junk, name=_junk, erp=_junk, settings_=_junk, addresses=_junk, parent=_junk)
def test_any_input_to_customer_create_succeeds_or_raises_a_portal_error(
    code: object,
    name: object,
    erp: object,
    settings_: object,
    addresses: object,
    parent: object,
) -> None:
    world = World()
    try:
        world.portal.customers.create(
            world.staff,
            code=code,
            name=name,
            erp_reference=erp,  # type: ignore[arg-type]
            settings=settings_,
            addresses=addresses,
            parent=parent,
        )  # type: ignore[arg-type]
    except PortalError:
        assert world.portal.customers.list(world.staff) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    username=_junk,
    email=_junk,
    language=_junk,
    kind=_junk,
    status=_junk,
    grants=_junk,
    subscriptions=_junk,
)
def test_any_input_to_accounts_and_memberships_raises_only_portal_errors(
    username: object,
    email: object,
    language: object,
    kind: object,
    status: object,
    grants: object,
    subscriptions: object,
) -> None:
    world = World()
    customer = world.customer()
    contact = world.contact(customer)
    try:
        account = world.portal.accounts.create(
            world.staff,
            username=username,
            email=email,  # type: ignore[arg-type]
            language=language,
        )  # type: ignore[arg-type]
    except PortalError:
        account = world.account()
    try:
        world.portal.memberships.create(
            world.staff,
            account=account,
            customer=customer,
            contact=contact,
            kind=kind,
            status=status,  # type: ignore[arg-type]
            location_grants=grants,
            subscriptions=subscriptions,
        )  # type: ignore[arg-type]
    except PortalError:
        assert world.portal.memberships.list(world.staff, customer=customer) == []


def test_vendor_lookups_check_their_input(w: Prepared) -> None:
    from portalkit import System

    with pytest.raises(ValidationError) as caught:
        w.portal.vendors.get(System(), "not-a-uuid")  # type: ignore[arg-type]
    assert caught.value.field == "vendor"
    with pytest.raises(ValidationError) as caught:
        w.portal.vendors.get_by_code(System(), "x" * 10_000)
    assert (caught.value.field, caught.value.code) == ("code", "too_long")
    with pytest.raises(ValidationError) as caught:
        w.portal.vendors.list(None)  # type: ignore[arg-type]
    assert caught.value.field == "actor"


def test_an_explicit_expected_version_guards_a_form_round_trip(w: Prepared) -> None:
    from portalkit import ConcurrentModification

    p = w.portal
    shown_version = p.customers.get(w.staff, w.c.id).version  # put into the edit form
    p.customers.update(w.staff, w.c.id, name="Changed by a colleague")
    with pytest.raises(ConcurrentModification):
        p.customers.update(w.staff, w.c.id, expected_version=shown_version, name="Mine")
    current = p.customers.get(w.staff, w.c.id)
    assert current.name == "Changed by a colleague"
    updated = p.customers.update(w.staff, w.c.id, expected_version=current.version, name="Mine")
    assert updated.name == "Mine"
    with pytest.raises(ValidationError) as caught:
        p.customers.update(w.staff, w.c.id, expected_version="3", name="x")
    assert caught.value.field == "expected_version"


def test_reprs_show_no_secrets(w: Prepared) -> None:
    from portalkit import PortalSettings

    account = w.portal.accounts.get(w.staff, w.a.id)
    assert account.session_stamp not in repr(account)
    assert "password_hash" not in repr(account)
    settings = PortalSettings(database_url="postgresql://portal:s3cret-pw@db.internal/portal")
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings)


_atext = st.sampled_from(list("abcXYZ019!#$%&'*+/=?^_`{|}~-."))
_domains = st.sampled_from(
    [
        "example.com",
        "Example.COM",
        "bücher.example",
        "xn--bcher-kva.example",
        "a.b",
        "x..y",
        "-bad.example",
        "localhost",
        "example.test",
        "ex_ample.com",
        "exa mple.com",
        "",
    ]
)


@settings(max_examples=400, deadline=None)
@given(local=st.text(_atext, min_size=0, max_size=70), domain=_domains)
def test_the_fast_email_path_agrees_with_email_validator(local: str, domain: str) -> None:
    import email_validator

    from portalkit._validation import email

    address = f"{local}@{domain}"
    problems: list[Any] = []
    ours = email(problems, "email", address)
    try:
        theirs = email_validator.validate_email(
            address, check_deliverability=False, allow_quoted_local=False
        ).normalized
    except email_validator.EmailNotValidError:
        theirs = None
    assert (ours or None) == theirs
    assert bool(problems) == (theirs is None)


# -- any text, surrogates included, into every checker ----------------------------------------
_any_text = st.text(st.characters(exclude_categories=()), max_size=60) | st.text(
    st.characters(categories=["Cs", "Cc", "Zl", "Zp", "Zs", "Lo"]), max_size=10
)


@settings(max_examples=300, deadline=None)
@given(value=_any_text, multiline=st.booleans())
def test_every_text_checker_returns_a_value_or_a_problem_for_any_text(
    value: str, multiline: bool
) -> None:
    """Whatever text comes in — a lone surrogate from ``json.loads`` too — each checker returns
    a value every backend can store, or notes a problem; none raises."""
    import enum

    from portalkit import _validation as v

    class Kind(enum.Enum):
        A = "a"

    checks: list[Callable[[list[Any]], object]] = [
        lambda p: v.text(p, "f", value, multiline=multiline),
        lambda p: v.text(p, "f", value, required=False),
        lambda p: v.code(p, "f", value),
        lambda p: v.username(p, "f", value),
        lambda p: v.email(p, "f", value),
        lambda p: v.email(p, "f", value, required=False),
        lambda p: v.choice(p, "f", value, Kind),
        lambda p: v.boolean(p, "f", value),
        lambda p: v.only_fields(p, {value: 1}, frozenset({"a"}), "thing"),
    ]
    for check in checks:
        problems: list[Any] = []
        result = check(problems)
        if isinstance(result, str):
            result.encode("utf-8")  # storable and loggable
        for problem in problems:
            f"{problem.field}: {problem.message}".encode()
            assert len(problem.message) <= 500
    assert v.encodable(value) == (not any("\ud800" <= ch <= "\udfff" for ch in value))
    assert len(v.shown(value * 1000)) <= 50


def test_shown_quotes_a_short_prefix_of_anything() -> None:
    from portalkit import _validation as v

    class Loud:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert v.shown("x" * 10_000_000) == repr("x" * 40) + "…"
    assert v.shown("short") == "'short'"
    assert v.shown(b"y" * 1000).startswith("b'yyy") and len(v.shown(b"y" * 1000)) <= 50
    assert len(v.shown(list(range(10**6)))) <= 51
    assert v.shown(Loud()).startswith("<Loud")
    assert v.shown("\ud800").isascii()
