"""Fail closed on shapes and names: redaction takes every record apart or refuses it, resource
types name only fields their model has, profiles scope only known resource types, and no text
— a lone surrogate, ten megabytes — gets past a public call as anything but a PortalError."""

from __future__ import annotations

import collections
import dataclasses
import io
import sqlite3
import typing
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, String, Table, Uuid, create_engine, literal, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from portalkit import PortalError, ResourceType, ValidationError, presets
from portalkit.access import MAX_DEPTH, AccessContext
from portalkit.errors import MESSAGE_MAX, Problem
from portalkit.testing import World

HIDDEN = "amount"

meta = MetaData()
rates = Table(
    "rates",
    meta,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid),
    Column("site_id", Uuid),
    Column("rate", String(20)),
    Column("lines", String(200)),
)


class _Base(DeclarativeBase):
    pass


class Shipment(_Base):
    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID]
    rate: Mapped[str]


def _clerk(world: World) -> AccessContext:
    """A member who may see invoices but not prices, with ``amount`` hidden."""
    world.portal.access.register_resource(
        ResourceType("invoices", view="invoices.view", sensitive={HIDDEN: "prices.view"})
    )
    profile = world.profile(capabilities={"invoices.view", "export"})
    return world.portal.access.context(world.member(world.membership(profile=profile)))


# -- redaction takes every shape apart, or refuses it ---------------------------------------
Pair = collections.namedtuple("Pair", ["item", "amount"])


class TypedPair(typing.NamedTuple):
    item: str
    amount: str


class Slotted:
    __slots__ = ("amount", "item")

    def __init__(self) -> None:
        self.item, self.amount = "a", "9"


class SlottedChild(Slotted):
    __slots__ = ("note",)

    def __init__(self) -> None:
        super().__init__()
        self.note = "n"


def _sqlite_row() -> sqlite3.Row:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    row: sqlite3.Row = conn.execute("SELECT 'a' AS item, '9' AS amount").fetchone()
    conn.close()
    return row


def _sqlalchemy_row() -> Any:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        row = conn.execute(select(literal("a").label("item"), literal("9").label("amount"))).one()
    engine.dispose()
    return row


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(lambda: _sqlite_row(), id="sqlite3.Row"),
        pytest.param(lambda: _sqlalchemy_row(), id="sqlalchemy Row"),
        pytest.param(lambda: Slotted(), id="__slots__"),
        pytest.param(lambda: SlottedChild(), id="inherited __slots__"),
        pytest.param(lambda: Pair("a", "9"), id="namedtuple"),
        pytest.param(lambda: TypedPair("a", "9"), id="typing.NamedTuple"),
    ],
)
def test_redact_takes_rows_slots_and_named_tuples_apart(world: World, record: Any) -> None:
    ctx = _clerk(world)
    shown = ctx.redact(record(), "invoices")
    assert isinstance(shown, dict)
    assert HIDDEN not in shown and shown["item"] == "a"
    nested = ctx.redact({"lines": [record()], "by_key": {"x": record()}}, "invoices")
    assert HIDDEN not in nested["lines"][0] and HIDDEN not in nested["by_key"]["x"]
    assert "'9'" not in repr(nested) and "9" not in str(nested.values())


def test_redact_refuses_what_it_cannot_take_apart(world: World) -> None:
    ctx = _clerk(world)
    for opaque in (object(), bytearray(b"9"), Slotted, (n for n in range(2))):
        with pytest.raises(ValidationError) as caught:
            ctx.redact({"id": 1, "inner": opaque}, "invoices")
        assert caught.value.code == "unsupported_shape", opaque


def test_redact_keeps_plain_values_as_they_are(world: World) -> None:
    import datetime as dt
    import decimal
    import enum

    class Colour(enum.Enum):
        RED = "red"

    ctx = _clerk(world)
    values = [
        "t",
        b"b",
        1,
        1.5,
        decimal.Decimal("2.50"),
        True,
        None,
        uuid.uuid4(),
        dt.date(2026, 1, 1),
        dt.datetime(2026, 1, 1, 12),
        dt.time(12),
        dt.timedelta(1),
        Colour.RED,
    ]
    assert ctx.redact({"values": values, HIDDEN: 1}, "invoices") == {"values": values}


def test_redact_and_export_refuse_cycles_and_deep_nesting(world: World) -> None:
    ctx = _clerk(world)
    looped: dict[str, Any] = {"customer_id": None}
    looped["self"] = looped
    cyclic: list[Any] = []
    cyclic.append([cyclic])
    deep: Any = {"leaf": 1}
    for _ in range(MAX_DEPTH + 5):
        deep = {"down": deep}
    for record, code in ((looped, "cyclic"), (cyclic, "cyclic"), (deep, "too_deep")):
        with pytest.raises(ValidationError) as caught:
            ctx.redact(record, "invoices")
        assert caught.value.code == code
    customer = ctx.actor.customer_id  # type: ignore[attr-defined]
    for record in ({**looped, "customer_id": customer}, {**deep, "customer_id": customer}):
        with pytest.raises(ValidationError):
            ctx.export([record], "invoices", io.StringIO())
    shared = {"k": 1}
    assert ctx.redact({"a": shared, "b": shared}, "invoices") == {"a": shared, "b": shared}


def test_a_record_that_fails_to_read_is_a_validation_error(world: World) -> None:
    class Lazy:
        __slots__ = ("amount",)

        def __getattribute__(self, name: str) -> Any:
            raise RuntimeError("lazy load failed")

    with pytest.raises(ValidationError) as caught:
        _clerk(world).redact({"x": Lazy()}, "invoices")
    assert caught.value.code == "unreadable"


@attrs.define
class _AttrsBox:
    item: Any
    amount: Any


@dataclasses.dataclass
class _DataBox:
    item: Any
    amount: Any


def _wrap(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["item", HIDDEN, "lines", "x"])
    return st.one_of(
        st.dictionaries(keys, children, max_size=4),
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.tuples(children, children).map(lambda p: Pair(*p)),
        st.tuples(children, children).map(lambda p: TypedPair(*p)),
        st.tuples(children, children).map(lambda p: _AttrsBox(*p)),
        st.tuples(children, children).map(lambda p: _DataBox(*p)),
    )


_records = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3), st.uuids()), _wrap, max_leaves=30
)


def _keys_anywhere(value: Any) -> set[Any]:
    if isinstance(value, dict):
        return set(value) | set().union(*map(_keys_anywhere, value.values()))
    if isinstance(value, list):
        return set().union(*map(_keys_anywhere, value))
    return set()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=_records)
def test_no_hidden_key_survives_at_any_depth(record: Any) -> None:
    world = World()
    ctx = _clerk(world)
    try:
        shown = ctx.redact(record, "invoices")
    except ValidationError:
        return
    assert HIDDEN not in _keys_anywhere(shown)
    # Only plain dicts, lists and leaves come back: nothing left to hide a field in.
    pending = [shown]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending += item.values()
        elif isinstance(item, list):
            pending += item
        else:
            assert item is None or isinstance(item, int | str | uuid.UUID)


# -- resource types name only fields their model has -----------------------------------------
@pytest.mark.parametrize("model", [rates, Shipment], ids=["Table", "mapped class"])
def test_a_sensitive_field_the_model_lacks_is_refused(world: World, model: Any) -> None:
    access = world.portal.access
    with pytest.raises(ValidationError) as caught:
        access.register_resource(
            ResourceType(
                "rates", view="orders.view", sensitive={"rates": "prices.view"}, model=model
            )
        )
    assert [(p.field, p.code) for p in caught.value.problems] == [("sensitive", "unknown")]
    assert "'rates'" in str(caught.value)
    assert "rates" not in access.resources
    ok = access.register_resource(
        ResourceType("rates", view="orders.view", sensitive={"rate": "prices.view"}, model=model)
    )
    assert access.resource("rates") is ok


def test_every_field_a_resource_type_names_must_be_a_column(world: World) -> None:
    from portalkit import Condition

    with pytest.raises(ValidationError) as caught:
        world.portal.access.register_resource(
            ResourceType(
                "rates",
                view="orders.view",
                customer_field="customer",
                location_field="site",
                owner_field="owner_id",
                vendor_field="vendor_id",
                conditions={"jobs.download": Condition("state", {"done"})},
                model=rates,
            )
        )
    assert [p.field for p in caught.value.problems] == [
        "customer_field",
        "location_field",
        "owner_field",
        "vendor_field",
        "conditions",
    ]
    with pytest.raises(ValidationError) as caught:
        world.portal.access.register_resource(
            ResourceType("rates", view="orders.view", model={"customer_id": 1})
        )
    assert caught.value.code == "not_model"


def test_a_nested_sensitive_field_is_declared_as_nested_and_removed_at_any_depth(
    world: World,
) -> None:
    access = world.portal.access
    with pytest.raises(ValidationError):  # a typo in a top-level name still fails...
        access.register_resource(
            ResourceType(
                "rates",
                view="orders.view",
                model=rates,
                sensitive={"rates": "prices.view", "unit_price": "prices.view"},
            )
        )
    with pytest.raises(ValidationError) as caught:  # ...and a nested one needs a real capability
        access.register_resource(
            ResourceType(
                "rates", view="orders.view", model=rates, nested_sensitive={"unit_price": "price"}
            )
        )
    assert caught.value.code == "unknown"
    access.register_resource(
        ResourceType(
            "rates",
            view="orders.view",
            location_field="site_id",
            model=rates,
            sensitive={"rate": "prices.view"},
            nested_sensitive={"unit_price": "prices.view"},
        )
    )
    profile = world.profile(capabilities={"orders.view"})
    ctx = world.portal.access.context(world.member(world.membership(profile=profile)))
    line = collections.namedtuple("line", ["n", "unit_price"])
    record = {"rate": "9", "lines": [{"item": "pallet", "unit_price": "3", "sub": [line(1, 2)]}]}
    assert ctx.redact(record, "rates") == {"lines": [{"item": "pallet", "sub": [{"n": 1}]}]}
    assert ctx.hidden_fields("rates") == {"rate", "unit_price"}


# -- profiles scope only known resource types -------------------------------------------------
def test_a_profile_scoping_an_unknown_resource_type_is_refused(world: World) -> None:
    p = world.portal
    with pytest.raises(ValidationError) as caught:
        world.profile(capabilities={"orders.view"}, scopes={"order": "own"})  # for "orders"
    assert (caught.value.field, caught.value.code) == ("scopes", "unknown")
    assert "'order'" in str(caught.value)
    assert p.profiles.list(world.staff) == []
    profile = world.profile(capabilities={"orders.view"}, scopes={"orders": "own"})
    with pytest.raises(ValidationError) as caught:
        p.profiles.update(world.staff, profile, scopes={"contracts": "tree"})
    assert caught.value.code == "unknown"
    assert p.profiles.get(world.staff, profile.id).scopes == {"orders": presets.Scope.OWN}
    p.access.declare_resource_types("contracts")  # e.g. in a CLI that registers nothing
    assert p.profiles.update(world.staff, profile, scopes={"contracts": "tree"}).scopes
    p.access.register_resource(ResourceType("visits", view="jobs.view_status"))
    assert "visits" in p.access.resource_types
    assert world.profile(scopes={"visits": "own"}).scopes == {"visits": presets.Scope.OWN}
    with pytest.raises(ValidationError):
        p.access.declare_resource_types("Bad Name")


def test_every_preset_creates_on_a_portal_that_registered_nothing(world: World) -> None:
    specs = [*presets.PRESETS.values(), presets.field_service(job_status=True)]
    for spec in specs:
        made = world.portal.profiles.create_from(world.staff, spec, name=f"p {spec.name}")
        assert made.scopes == spec.scopes


# -- only PortalErrors escape, for any text ---------------------------------------------------
SURROGATE = "\ud800"


def test_a_lone_surrogate_is_a_validation_error_on_every_backend(world: World) -> None:
    p = world.portal
    customer = world.customer()
    calls = {
        "customer name": lambda: p.customers.create(world.staff, code="S1", name=SURROGATE),
        "customer code": lambda: p.customers.create(world.staff, code=SURROGATE, name="x"),
        "contact name": lambda: world.contact(customer, first_name=f"Jo{SURROGATE}"),
        "location name": lambda: world.location(customer, name=SURROGATE + "x"),
        "profile name": lambda: p.profiles.create(world.staff, name=SURROGATE),
        "username": lambda: world.account(username=f"u{SURROGATE}"),
        "e-mail": lambda: world.account(email=f"a{SURROGATE}@example.com"),
        "capability": lambda: p.access.register_capability(f"x.{SURROGATE}"),
        "description": lambda: p.access.register_capability("x.y", SURROGATE),
    }
    for what, call in calls.items():
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.code in ("invalid_unicode", "invalid_name", "invalid_characters"), what
        str(caught.value).encode("utf-8")  # the message itself can be logged


def test_messages_quote_only_a_short_prefix_of_a_huge_input(world: World) -> None:
    p = world.portal
    huge = "x" * 10_000_000
    calls = [
        lambda: p.profiles.create(world.staff, name="p", capabilities=[huge]),
        lambda: p.profiles.create(world.staff, name="p", scopes={huge: "own"}),
        lambda: p.access.register_capability(huge),
        lambda: p.access.resource(huge),
        lambda: p.access.context(world.staff).can(huge),
        lambda: p.memberships.update(world.staff, uuid.uuid4(), **{huge: 1}),
    ]
    for call in calls:
        with pytest.raises(PortalError) as caught:
            call()
        assert len(str(caught.value)) < 300, str(caught.value)[:400]


def test_errors_never_hold_a_message_over_the_bound() -> None:
    problem = Problem("f" * 10_000, "c" * 10_000, "m" * 10_000 + SURROGATE)
    assert (len(problem.field), len(problem.code), len(problem.message)) == (100, 50, 500)
    many = ValidationError(Problem("names", "invalid_name", "m" * 400) for _ in range(500))
    assert len(str(many)) <= MESSAGE_MAX and "500 problems" in str(many)
    assert len(many.problems) == 500
    assert len(str(PortalError("x" * 10**6))) == MESSAGE_MAX
    str(ValidationError.single("f", "c", SURROGATE)).encode("utf-8")
