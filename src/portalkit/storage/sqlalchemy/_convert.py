"""Domain records to row dicts and back, through one cattrs converter.

cattrs generates every table's pair of functions from its record's attrs fields; the rules are
set once, by type. A field that is a column of its own (ids, text, numbers, flags, timestamps)
passes as it is: SQLAlchemy's column types bind it, and ``UTCDateTime`` keeps timestamps
timezone-aware UTC. Enums are stored by value. Every other field is a JSON column, in which ids
are strings, sets are sorted lists (equal records store equal JSON) and a location grant is the
pair ``[location id, access]``. What differs per table is declared once, in its
:class:`_Layout`: the normalised ``<field>_key`` columns that unique indexes compare, fields
stored as their own fields' columns, and columns that repeat a field.

Reading a row takes every field from its column, none from a default: a missing column is an
error. At import, each table's columns must be exactly those its layout accounts for, so a
column no field reads, or a field no column stores, fails at once instead of losing data.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import UTC, date, datetime
from decimal import Decimal
from numbers import Number
from types import GenericAlias
from typing import Any, cast, get_args, get_origin
from uuid import UUID, SafeUUID

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn_from_attrs, make_dict_unstructure_fn, override
from sqlalchemy import JSON, String, Table, Uuid, type_coerce

from portalkit._validation import code_key, email_key
from portalkit.accesstokens.model import AccessToken
from portalkit.accounts import Account
from portalkit.assortments.model import Assortment
from portalkit.audit import AuditEvent
from portalkit.carts.model import Cart
from portalkit.catalogue.model import CatalogueItem, Category
from portalkit.customers import Contact, Customer, Location
from portalkit.devices.model import Device, DeviceModel
from portalkit.documents.model import Document
from portalkit.groups.model import CustomerGroup
from portalkit.inbox.model import InboxComment, InboxEvent, InboxItem
from portalkit.jobs import Job
from portalkit.memberships import LocationGrant, Membership
from portalkit.orders.model import Order
from portalkit.outbox import OutboxMessage
from portalkit.passkeys.model import Passkey
from portalkit.pricing.model import PriceList, PriceRule
from portalkit.profiles import PermissionProfile
from portalkit.quotes.model import Quote, QuoteMessage
from portalkit.registrations import Registration
from portalkit.secondfactor.model import SecondFactor, SecondFactorRule
from portalkit.sessions.model import SessionRecord
from portalkit.sso.model import SsoAttempt, SsoConfig, SsoDomain
from portalkit.staff.model import InboxAddress, StaffMember
from portalkit.storage.base import UNIQUE_KEYS
from portalkit.storage.sqlalchemy.rows import Base, UTCDateTime
from portalkit.tickets.model import Ticket, TicketAttachment
from portalkit.tokens import Token
from portalkit.vendors import Vendor
from portalkit.workrequests.model import WorkRequest

__all__ = ["FROM_ROW", "LAYOUTS", "TO_ROW", "converter", "from_tuple", "sqlite_page"]

ToRow = Callable[[Any], dict[str, Any]]
FromRow = Callable[[Mapping[Any, Any]], Any]

converter = cattrs.Converter(
    # Rows are read on every request: the detailed mode's error collection costs there, and
    # a malformed stored value raises all the same.
    detailed_validation=False,
    # A JSON value holding a key its class does not know is corrupt, not ignorable.
    forbid_extra_keys=True,
    unstruct_collection_overrides={Set: sorted},
)
"""The one converter between records and rows; its converter-wide hooks are the JSON rules."""


def _fields(record: type) -> dict[str, attrs.Attribute[Any]]:
    attrs.resolve_types(record)  # the domain modules' annotations are strings
    return attrs.fields_dict(record)


def _is_homogenous_tuple(t: Any) -> bool:
    return get_origin(t) is tuple and get_args(t)[1:] == (...,)


def _is_frozenset(t: Any) -> bool:
    return get_origin(t) is frozenset


def _frozenset_hook(t: Any, c: cattrs.Converter) -> Callable[[Any, Any], frozenset[Any]]:
    as_list = list_structure_factory(t, c)
    return lambda value, _: frozenset(as_list(value, t))


def _as_pair(record: type) -> None:
    # The values of the fields in order, as a JSON array; its length is checked on reading.
    pair = GenericAlias(tuple, tuple(a.type for a in _fields(record).values()))
    structure_pair = converter.get_structure_hook(pair)
    converter.register_unstructure_hook(record, converter.unstructure_attrs_astuple)
    converter.register_structure_hook(record, lambda value, _: record(*structure_pair(value, pair)))


converter.register_unstructure_hook(UUID, str)
# Money inside JSON (an order's lines) is its exact text, never a float.
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda value, _: Decimal(value))
converter.register_structure_hook(UUID, lambda value, _: UUID(value))
# cattrs' default tuple and set hooks look the element hook up again for every value.
converter.register_structure_hook_factory(
    _is_homogenous_tuple, cast("Any", homogenous_tuple_structure_factory)
)
converter.register_structure_hook_factory(_is_frozenset, cast("Any", _frozenset_hook))
# A location grant is the pair [location id, access], the form it has always been stored in.
_as_pair(LocationGrant)


def _is_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, enum.Enum)


def _enum_hook(t: type[enum.Enum], _c: cattrs.Converter) -> Callable[[Any, Any], enum.Enum]:
    # A dict lookup instead of the enum's own call, which every status of a page paid for; a
    # value it does not hold goes to the enum, which raises as it always did.
    members = {member.value: member for member in t}

    def structure(value: Any, _type: Any) -> enum.Enum:
        try:
            return members[value]
        except (KeyError, TypeError):
            return t(value)

    return structure


def _json_object(value: Any, _type: Any) -> dict[str, Any]:
    # A JSON object's keys are strings already: copy it, as cattrs would, without a call
    # per key; anything but an object is corrupt.
    if type(value) is not dict:
        raise TypeError(f"a JSON object was expected, not {type(value).__name__}")
    return value.copy()


converter.register_structure_hook_factory(_is_enum, cast("Any", _enum_hook))
converter.register_structure_hook_func(lambda t: t == dict[str, Any], _json_object)

# The types of fields that are columns of their own: the value is the column's value.
_COLUMN_TYPES: frozenset[object] = frozenset(
    {
        str,
        int,
        bool,
        UUID,
        datetime,
        Decimal,
        str | None,
        UUID | None,
        datetime | None,
        Decimal | None,
        date | None,
    }
)


def _as_is(value: Any, _type: Any) -> Any:
    return value


@attrs.frozen
class _Layout:
    """Where a table's columns differ from one column per field of its record.

    ``keys``: fields whose normalised form is stored in ``<field>_key`` too, beyond those the
    table's unique keys normalise; ``flat``: fields of an attrs type stored as that type's
    own fields' columns; ``copies``: column -> the field whose value it repeats.
    """

    record: type
    keys: Mapping[str, Callable[[str], str]] = attrs.field(factory=dict)
    flat: tuple[str, ...] = ()
    copies: Mapping[str, str] = attrs.field(factory=dict)


LAYOUTS: Mapping[str, _Layout] = {
    "vendors": _Layout(Vendor),
    "profiles": _Layout(PermissionProfile),
    "customers": _Layout(Customer, flat=("settings",)),
    "locations": _Layout(Location),
    "contacts": _Layout(Contact),
    "accounts": _Layout(Account),
    "memberships": _Layout(Membership),
    # Looked up by e-mail address, which is not unique: one address may register twice.
    "registrations": _Layout(Registration, keys={"email": email_key}),
    "audit_events": _Layout(AuditEvent, copies={"created_at": "at"}),
    "outbox_messages": _Layout(OutboxMessage),
    "tokens": _Layout(Token),
    "jobs": _Layout(Job),
    "documents": _Layout(Document),
    "staff_members": _Layout(StaffMember),
    "inbox_settings": _Layout(InboxAddress),
    "inbox_items": _Layout(InboxItem),
    "inbox_comments": _Layout(InboxComment),
    "inbox_events": _Layout(InboxEvent),
    "work_requests": _Layout(WorkRequest),
    "tickets": _Layout(Ticket),
    "ticket_attachments": _Layout(TicketAttachment),
    "second_factors": _Layout(SecondFactor),
    "access_tokens": _Layout(AccessToken),
    "sso_configs": _Layout(SsoConfig),
    "sso_domains": _Layout(SsoDomain),
    "sso_attempts": _Layout(SsoAttempt),
    "passkeys": _Layout(Passkey),
    "second_factor_rules": _Layout(SecondFactorRule),
    "sessions": _Layout(SessionRecord),
    "category_tree": _Layout(Category),
    # The folded name and description are what a catalogue search compares.
    "catalogue_items": _Layout(CatalogueItem, keys={"name": code_key, "description": code_key}),
    "customer_groups": _Layout(CustomerGroup),
    "assortments": _Layout(Assortment),
    "price_lists": _Layout(PriceList),
    "price_rules": _Layout(PriceRule),
    "device_models": _Layout(DeviceModel),
    "devices": _Layout(Device),
    "carts": _Layout(Cart),
    "orders": _Layout(Order),
    "quotes": _Layout(Quote),
    "quote_messages": _Layout(QuoteMessage),
}
"""The record type and layout of every table."""


def _flat_type(layout: _Layout, field: str) -> type:
    return cast("type", _fields(layout.record)[field].type)


def _column_hooks(record: type) -> dict[str, Any]:
    return {
        name: override(unstruct_hook=identity, struct_hook=_as_is)
        for name, a in _fields(record).items()
        if a.type in _COLUMN_TYPES
    }


def _keys(table: str, layout: _Layout) -> dict[str, Callable[[str], str]]:
    unique = {part: f for rule in UNIQUE_KEYS[table] for part, f in rule.normalise.items()}
    return unique | dict(layout.keys)


def _columns(table: str, layout: _Layout) -> set[str]:
    """The columns a record of ``layout`` fills."""
    columns = set(_fields(layout.record)) - set(layout.flat)
    for field in layout.flat:
        columns |= set(_fields(_flat_type(layout, field)))
    return columns | {f"{field}_key" for field in _keys(table, layout)} | set(layout.copies)


def _to_row_fn(table: str, layout: _Layout) -> ToRow:
    for field in layout.flat:
        # A flattened record's fields are columns too: their values go in as they are (an
        # amount stays a Decimal for its column, not the text JSON would hold).
        t = _flat_type(layout, field)
        converter.register_unstructure_hook(
            t, make_dict_unstructure_fn(t, converter, **_column_hooks(t))
        )
    unstructure: ToRow = make_dict_unstructure_fn(
        layout.record, converter, **_column_hooks(layout.record)
    )
    keys = tuple((f"{field}_key", field, f) for field, f in _keys(table, layout).items())
    flat, copies = layout.flat, tuple(layout.copies.items())
    if not (keys or flat or copies):
        return unstructure

    def to_row(item: Any) -> dict[str, Any]:
        row = unstructure(item)
        for field in flat:
            row.update(row.pop(field))
        for column, field, normalise in keys:
            row[column] = normalise(row[field])
        for column, field in copies:
            row[column] = row[field]
        return row

    return to_row


def _structure_fn(record: type, **hooks: Any) -> Callable[..., Any]:
    # Every field required: a row holds every column, so a missing one is an error, not a
    # default. Extra keys are allowed: the *_key columns, and the other tables' columns of a
    # joined row (member_facts reads a membership, its customer and its profile from one).
    required = [a.evolve(default=attrs.NOTHING) for a in _fields(record).values()]
    return make_dict_structure_fn_from_attrs(
        required, record, converter, _cattrs_forbid_extra_keys=False, **hooks
    )


def _record_fn(
    layout: _Layout,
    position: Mapping[str, int] | None = None,
    decode: Mapping[str, tuple[Callable[[Any], Any], bool]] | None = None,
) -> Callable[..., Any]:
    """What cattrs would generate for the record, with the column fields passed as they are
    instead of through a hook call each: a page of fifty rows made that many thousand calls.

    Every field is read, none defaulted (a missing column raises). ``position``: read the
    row as a tuple in that column order (flattened fields then read ``row._mapping``).
    ``decode``: column -> (function making its value of the stored one, nullable), for rows
    read without the column types' own processing (see :func:`sqlite_page`).
    """
    record = layout.record
    fields = _fields(record)
    names: dict[str, Any] = {"__cl": record}
    args = []
    for name, a in fields.items():
        if name in layout.flat:
            # A flattened field is structured from the row itself, which holds its columns.
            t = _flat_type(layout, name)
            names[f"__h_{name}"] = _structure_fn(t, **_column_hooks(t))
            row = "o" if position is None else "o._mapping"
            args.append(f"__h_{name}({row}, __t_{name})")
            names[f"__t_{name}"] = t
            continue
        value = f"o[{name!r}]" if position is None else f"o[{position[name]}]"
        if decode and name in decode:
            names[f"__d_{name}"], nullable = decode[name]
            # NULL is None in every column type; only a stored value is decoded.
            value = (
                f"(None if (_v_{name} := {value}) is None else __d_{name}(_v_{name}))"
                if nullable
                else f"__d_{name}({value})"
            )
        if a.type in _COLUMN_TYPES:
            args.append(value)
        else:
            names[f"__h_{name}"] = converter.get_structure_hook(a.type)
            names[f"__t_{name}"] = a.type
            args.append(f"__h_{name}({value}, __t_{name})")
    source = f"def from_row(o):\n    return __cl({', '.join(args)})\n"
    exec(compile(source, f"<portalkit from_row {record.__qualname__}>", "exec"), names)  # noqa: S102
    return cast("Callable[..., Any]", names["from_row"])


def _plain_init(record: type) -> bool:
    # The generated call passes every field positionally, in order, to the attrs __init__.
    return all(a.init and not a.kw_only for a in _fields(record).values())


def _from_row_fn(layout: _Layout) -> FromRow:
    if _plain_init(layout.record):
        return cast("FromRow", _record_fn(layout))
    hooks = _column_hooks(layout.record)
    for field in layout.flat:
        t = _flat_type(layout, field)
        hooks[field] = override(struct_hook=_structure_fn(t, **_column_hooks(t)))
    structure = _structure_fn(layout.record, **hooks)
    if not layout.flat:
        return cast("FromRow", structure)
    flat = layout.flat
    return lambda row: structure({**row, **dict.fromkeys(flat, row)})


@functools.cache
def from_tuple(table: str, columns: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
    """Row tuple whose columns are ``columns`` (``select(table)``'s order) -> record: a
    page's rows need no name lookups."""
    layout = LAYOUTS[table]
    if not _plain_init(layout.record):
        by_name = FROM_ROW[table]
        return lambda row: by_name(row._mapping)  # type: ignore[attr-defined]
    return _record_fn(layout, {column: n for n, column in enumerate(columns)})


_new_object = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown
_from_hex = bytes.fromhex
_from_bytes = int.from_bytes


def _sqlite_uuid(text: Any) -> UUID:
    # What SQLAlchemy's Uuid column reads from SQLite's 32 hex digits (UUID(text)), without
    # the checks for the other forms UUID() accepts; any other value goes to UUID(), which
    # reads or refuses it as SQLAlchemy's own processing does. bytes.fromhex takes hex
    # digits and spaces only, so 16 bytes from 32 characters are 32 hex digits (cheaper than
    # str.isalnum, which looks each character up in the Unicode tables, and int(text, 16)).
    if len(text) == 32:
        try:
            raw = _from_hex(text)
        except (TypeError, ValueError):
            raw = b""
        if len(raw) == 16:
            found = _new_object(UUID)
            _set(found, "int", _from_bytes(raw, "big"))
            _set(found, "is_safe", _UNKNOWN)
            return found
    return UUID(text)


# A column naming another record (the vendor, a price list, a category) holds the same few
# ids row after row: each text is decoded once and its UUID shared (UUIDs are immutable).
_sqlite_reference = functools.lru_cache(maxsize=4096)(_sqlite_uuid)


def _sqlite_datetime(text: Any) -> datetime:
    # UTCDateTime on SQLite: the stored "YYYY-MM-DD HH:MM:SS.ffffff" is naive UTC.
    found = datetime.fromisoformat(text)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _sqlite_json(text: Any) -> Any:
    # SQLAlchemy's SQLite JSON column: the text through json.loads, a number as it is.
    try:
        return json.loads(text)
    except TypeError:
        if isinstance(text, Number):
            return text
        raise


@functools.cache
def sqlite_page(table: str, t: Table) -> tuple[tuple[Any, ...], Callable[[Sequence[Any]], Any]]:
    """The columns to select from ``t`` (``table``'s, in its order) on a SQLite engine
    portalkit built, and the function making a record of such a row tuple.

    Ids, timestamps and JSON are selected as the text SQLite stores and decoded by the
    record's function in one step each: through the column types, every value of a page
    paid for two or three Python calls on the way to the same object. Other columns keep
    their types. A table whose records need a row mapping gets ``select(t)``'s columns and
    :func:`from_tuple`.
    """
    columns = tuple(t.c.keys())
    layout = LAYOUTS[table]
    if layout.flat or not _plain_init(layout.record):
        return tuple(t.c), from_tuple(table, columns)
    selected: list[Any] = []
    decode: dict[str, tuple[Callable[[Any], Any], bool]] = {}
    for column in t.c:
        kind = column.type
        how = (
            (_sqlite_reference if column.foreign_keys else _sqlite_uuid)
            if isinstance(kind, Uuid)
            else _sqlite_datetime
            if isinstance(kind, UTCDateTime)
            else _sqlite_json
            if isinstance(kind, JSON)
            else None
        )
        if how is None:
            selected.append(column)
            continue
        decode[column.key] = (how, bool(column.nullable))
        selected.append(type_coerce(column, String()).label(column.key))
    build = _record_fn(layout, {column: n for n, column in enumerate(columns)}, decode)
    return tuple(selected), build


for _table, _layout in LAYOUTS.items():
    _stored = set(Base.metadata.tables[_table].c.keys())
    if _columns(_table, _layout) != _stored:
        raise TypeError(
            f"{_table}: the columns {sorted(_stored)} do not match the fields of "
            f"{_layout.record.__name__}, which fill {sorted(_columns(_table, _layout))}"
        )

TO_ROW: Mapping[str, ToRow] = {table: _to_row_fn(table, lay) for table, lay in LAYOUTS.items()}
"""Record -> row dict, by table."""

FROM_ROW: Mapping[str, FromRow] = {table: _from_row_fn(lay) for table, lay in LAYOUTS.items()}
"""Row mapping -> record, by table."""
