"""The SQLAlchemy backend: SQLite (embedded default) and PostgreSQL (psycopg 3).

It runs SQLAlchemy Core statements on one connection per unit of work. New records are buffered
and written in batches (one ``executemany`` per table) right before the next query that could see
them and at commit, which is what makes bulk provisioning fast; a unit of work remembers every
record it wrote or read, so a look-up by id costs no query. Unique keys are checked in three
places: among the buffered records at once, against the table with one ``IN`` query per batch,
and by the database's own unique indexes (which settle races between servers).
"""

from __future__ import annotations

import builtins
import enum
import functools
import os
import re
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

import attrs
from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Connection,
    Engine,
    Executable,
    Select,
    Table,
    Transaction,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.pool import StaticPool

from portalkit._validation import code_key
from portalkit.customers.model import MAX_TREE_DEPTH
from portalkit.errors import (
    ConcurrentModification,
    ConfigurationError,
    Conflict,
    ImproperlyInstalled,
    PortalError,
    StorageError,
)
from portalkit.outbox.model import OutboxStatus
from portalkit.storage.base import (
    APPEND_ONLY,
    ERASABLE_TABLES,
    RECENT_TABLES,
    RIGHTS_TABLES,
    TABLES,
    UNIQUE_KEYS,
    MemberFacts,
    UniqueKey,
    check_pseudonyms,
    pseudonymised,
    unique_key,
)
from portalkit.storage.sqlalchemy._convert import FROM_ROW, TO_ROW, from_tuple, sqlite_page
from portalkit.storage.sqlalchemy.rows import (
    Schema,
    UTCDateTime,
    check_database_schema,
    check_prefix,
    schema_for,
)

if TYPE_CHECKING:
    from portalkit.accesstokens.model import AccessToken
    from portalkit.accounts.model import Account
    from portalkit.assortments.model import Assortment
    from portalkit.audit.model import AuditEvent
    from portalkit.carts.model import Cart
    from portalkit.catalogue.model import CatalogueItem, Category, ItemQuery
    from portalkit.customers.model import Contact, Customer, Location
    from portalkit.devices.model import Device, DeviceModel
    from portalkit.documents.model import Document
    from portalkit.groups.model import CustomerGroup
    from portalkit.inbox.model import InboxComment, InboxEvent, InboxItem
    from portalkit.jobs.model import Job
    from portalkit.memberships.model import Membership
    from portalkit.orders.model import Order
    from portalkit.outbox.model import OutboxMessage
    from portalkit.passkeys.model import Passkey
    from portalkit.pricing.model import PriceList, PriceRule
    from portalkit.profiles.model import PermissionProfile
    from portalkit.quotes.model import Quote, QuoteMessage
    from portalkit.registrations.model import Registration
    from portalkit.secondfactor.model import SecondFactor, SecondFactorRule
    from portalkit.sessions.model import SessionRecord
    from portalkit.settings import PortalSettings
    from portalkit.sso.model import SsoAttempt, SsoConfig, SsoDomain
    from portalkit.staff.model import InboxAddress, StaffMember
    from portalkit.tickets.model import Ticket, TicketAttachment
    from portalkit.tokens import Token, TokenPurpose
    from portalkit.vendors.model import Vendor
    from portalkit.workrequests.model import WorkRequest

__all__ = ["SqlStorage", "SqlUnitOfWork"]

T = TypeVar("T")
_CHUNK = 500
_MIGRATIONS = Path(__file__).parent / "migrations"


def _stored(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def _column(part: str, rule: UniqueKey) -> str:
    return f"{part}_key" if part in rule.normalise else part


def _storage_error(exc: SQLAlchemyError) -> StorageError:
    # Only the database's own words: str(exc) would add the statement and its parameters,
    # which may hold personal data or hashes.
    said = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()
    hint = (
        " (has `portalkit db upgrade` run?)"
        if "no such table" in str(exc) or ("does not exist" in str(exc))
        else ""
    )
    return StorageError(f"the database failed: {said[0] if said else 'unknown error'}{hint}")


def _scope(item: Any) -> UUID:
    # A vendor is its own scope; every other record names its vendor.
    return item.vendor_id if hasattr(item, "vendor_id") else item.id  # type: ignore[no-any-return]


def _conflict_for(table: str, stored: Table, error: IntegrityError) -> Conflict:
    """Name the unique rule an IntegrityError broke, from the constraint name or columns
    (both as the database names them: with the table prefix)."""
    orig = error.orig
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    text = str(orig)
    prefix = stored.name[: len(stored.name) - len(table)]
    for rule in UNIQUE_KEYS[table]:
        if constraint == prefix + rule.name or prefix + rule.name in text:
            return rule.conflict()
        columns = ", ".join(f"{stored.name}.{_column(p, rule)}" for p in rule.parts)
        if re.search(rf"UNIQUE constraint failed: {re.escape(columns)}$", text):
            return rule.conflict()
    return Conflict(table, "the change to {table} clashes with stored data", table=table)


class _Repo(Generic[T]):
    """One table's repository inside a :class:`SqlUnitOfWork`."""

    def __init__(self, uow: SqlUnitOfWork, table: str) -> None:
        self._uow = uow
        self._name = table
        self._table = uow._schema.tables[table]
        self._to_row = TO_ROW[table]
        self._from_row = FROM_ROW[table]
        self._rules = UNIQUE_KEYS[table]
        self._seen: dict[UUID, Any] = {}
        # Keys of records added in this unit of work and not yet checked against the table.
        self._pending_keys: dict[str, dict[tuple[object, ...], Any]] = {
            rule.name: {} for rule in self._rules
        }
        self._pending: list[Any] = []
        # Changes here move the vendor's rights generation on at commit.
        self._rights = table in RIGHTS_TABLES

    # -- writes ---------------------------------------------------------------------------
    def add(self, item: T) -> None:
        self._uow._writing()
        self._uow._check_open()
        if self._rules:
            pending = self._pending_keys
            keys = [(rule, rule.key_of(item)) for rule in self._rules]
            for rule, key in keys:
                if key is not None and key in pending[rule.name]:
                    raise rule.conflict()
            for rule, key in keys:
                if key is not None:
                    pending[rule.name][key] = item
        self._pending.append(item)
        self._seen[item.id] = item  # type: ignore[attr-defined]
        if self._rights:
            self._uow._rights_changed.add(item.vendor_id)  # type: ignore[attr-defined]

    def add_many(self, items: Sequence[T]) -> None:
        for item in items:
            self.add(item)

    def _flush(self) -> None:
        if not self._pending:
            return
        items, self._pending = self._pending, []
        conn = self._uow._conn
        for rule in self._rules:
            self._check_stored(conn, rule, list(self._pending_keys[rule.name]))
            self._pending_keys[rule.name].clear()
        rows = [self._to_row(item) for item in items]
        try:
            if self._uow._conn.dialect.name == "sqlite":
                self._uow._insert_sqlite(self._table, rows)
                return
            for start in range(0, len(rows), _CHUNK * 10):
                self._uow._execute(insert(self._table), rows[start : start + _CHUNK * 10])
        except IntegrityError as exc:
            raise _conflict_for(self._name, self._table, exc) from None

    def _check_stored(
        self, conn: Connection, rule: UniqueKey, keys: list[tuple[object, ...]]
    ) -> None:
        """One query per batch of keys: is any of them stored already?

        The query puts a plain ``IN`` on one indexed column (grouped by vendor where the key
        starts with it) and compares whole keys here: SQLite plans a row-value
        ``(a, b) IN (…)`` as a scan of the whole index, which grows with the table.
        """
        if not keys:
            return
        columns = [self._table.c[_column(p, rule)] for p in rule.parts]
        by_prefix: dict[tuple[object, ...], list[object]] = {}
        if rule.parts[0] == "vendor_id" and len(rule.parts) == 2:
            for key in keys:
                by_prefix.setdefault(key[:1], []).append(key[1])
            fixed, probe = columns[:1], columns[1]
        else:
            by_prefix[()] = [key[0] for key in keys]
            fixed, probe = [], columns[0]
        wanted = set(keys)
        for prefix, values in by_prefix.items():
            for start in range(0, len(values), _CHUNK):
                query = select(*columns).where(probe.in_(values[start : start + _CHUNK]))
                for column, value in zip(fixed, prefix, strict=True):
                    query = query.where(column == value)
                for field, only in rule.only.items():
                    query = query.where(self._table.c[field] == only)
                if any(tuple(row) in wanted for row in self._uow._execute(query)):
                    raise rule.conflict()

    def update(self, item: T, expected_version: int) -> None:
        self._uow._writing()
        self._uow._check_open()
        if self._name == "audit_events":
            raise PortalError(APPEND_ONLY)
        self._uow._flush()
        item_id: UUID = item.id  # type: ignore[attr-defined]
        row = self._to_row(item)
        row.pop("id")
        row.pop("created_at", None)
        if item.version != expected_version + 1:  # type: ignore[attr-defined]
            raise ConcurrentModification(self._name.rstrip("s"), item_id)
        params = {f"v_{k}": v for k, v in row.items()}
        params.update(b_id=item_id, b_vendor_id=row["vendor_id"], b_version=expected_version)
        try:
            result = self._uow._execute(_statement(self._table, "update", tuple(row)), params)
        except IntegrityError as exc:
            raise _conflict_for(self._name, self._table, exc) from None
        if result.rowcount != 1:
            raise ConcurrentModification(self._name.rstrip("s"), item_id)
        self._seen[item_id] = item
        if self._rights:
            self._uow._rights_changed.add(row["vendor_id"])

    # -- reads ----------------------------------------------------------------------------
    def get(self, vendor_id: UUID, item_id: UUID) -> T | None:
        self._uow._check_open()
        item = self._seen.get(item_id)
        if item is None:
            row = (
                self._uow._execute(_statement(self._table, "get"), {"b_id": item_id})
                .mappings()
                .first()
            )
            if row is None:
                return None
            item = self._remember(row)
        return item if _scope(item) == vendor_id else None

    def get_by(self, vendor_id: UUID, key: str, value: object) -> T | None:
        self._uow._check_open()
        rule = unique_key(self._name, key)
        wanted = rule.lookup_key(vendor_id, value)
        pending = self._pending_keys[rule.name].get(wanted)
        if pending is not None:
            return pending if pending.vendor_id == vendor_id else None
        columns = tuple(_column(part, rule) for part in rule.parts)
        query = _statement(self._table, "get_by", columns, tuple(rule.only.items()))
        params = {f"b_{c}": v for c, v in zip(columns, wanted, strict=True)}
        row = self._uow._execute(query, params).mappings().first()
        if row is None:
            return None
        item = self._remember(row)
        return item if item.vendor_id == vendor_id else None

    def list(
        self,
        vendor_id: UUID,
        *,
        where: Mapping[str, object] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[T]:
        self._uow._check_open()
        self._uow._flush()
        conditions = {field: _stored(value) for field, value in (where or {}).items()}
        # None means IS NULL, which a bound "= :value" would never match.
        fields = tuple(f for f, v in conditions.items() if v is not None)
        nulls = tuple(f for f, v in conditions.items() if v is None)
        query: Any = _statement(self._table, "list", fields, nulls)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        params = {f"b_{f}": conditions[f] for f in fields}
        params["b_vendor_id"] = vendor_id
        return [self._remember(row) for row in self._uow._execute(query, params).mappings()]

    def _remember_all(
        self,
        rows: Iterable[Sequence[Any]],
        build: Callable[[Sequence[Any]], Any] | None = None,
    ) -> builtins.list[Any]:
        """``_remember`` for the rows of ``select(table)``, read as tuples (by ``build``, of
        :func:`sqlite_page`'s columns when given): a page of them spent as long on name
        lookups as on building its records."""
        by_position, at = _by_position(self._name, self._table)
        build = build or by_position
        if self._uow._read_only:
            # Nothing in a read-only unit of work changes a record, so there is no instance
            # a later read must share; remembering cost two id hashes per row.
            return [build(row) for row in rows]
        seen = self._seen
        page = []
        for row in rows:
            item_id = row[at]
            item = seen.get(item_id)
            if item is None:
                item = seen[item_id] = build(row)
            page.append(item)
        return page

    def _remember(self, row: Mapping[Any, Any]) -> Any:
        item = self._seen.get(row["id"])
        if item is None:
            item = self._from_row(row)
            self._seen[item.id] = item
        return item

    def get_many_by(self, vendor_id: UUID, key: str, values: Collection[object]) -> dict[object, T]:
        self._uow._check_open()
        rule = unique_key(self._name, key)
        found: dict[object, T] = {}
        # The values each stored key stands for (two spellings may share one key).
        asked: dict[tuple[object, ...], builtins.list[object]] = {}
        for value in values:
            wanted = rule.lookup_key(vendor_id, value)
            pending = self._pending_keys[rule.name].get(wanted)
            if pending is not None:
                if pending.vendor_id == vendor_id:
                    found[value] = pending
                continue
            asked.setdefault(wanted, []).append(value)
        if not asked:
            return found
        if rule.parts[0] != "vendor_id" or len(rule.parts) != 2:
            # Keys of several parts besides the vendor: no single column to put an IN on.
            for spellings in asked.values():
                item = self.get_by(vendor_id, key, spellings[0])
                if item is not None:
                    found.update(dict.fromkeys(spellings, item))
            return found
        # As in _check_stored: a plain IN on the indexed key column, the vendor fixed.
        probe = self._table.c[_column(rule.parts[1], rule)]
        keys = [wanted[1] for wanted in asked]
        for start in range(0, len(keys), _CHUNK):
            query = select(self._table).where(
                self._table.c.vendor_id == vendor_id, probe.in_(keys[start : start + _CHUNK])
            )
            for field, only in rule.only.items():
                query = query.where(self._table.c[field] == only)
            for row in self._uow._execute(query).mappings():
                item = self._remember(row)
                stored = rule.key_of(item)
                if stored is not None and item.vendor_id == vendor_id:
                    found.update(dict.fromkeys(asked.get(stored, ()), item))
        return found

    def list_in(self, vendor_id: UUID, field: str, values: Collection[object]) -> builtins.list[T]:
        self._uow._check_open()
        self._uow._flush()
        wanted = builtins.list(dict.fromkeys(_stored(v) for v in values if v is not None))
        column = self._table.c[field]
        found: dict[UUID, Any] = {}
        for start in range(0, len(wanted), _CHUNK):
            query = select(self._table).where(
                self._table.c.vendor_id == vendor_id, column.in_(wanted[start : start + _CHUNK])
            )
            for row in self._uow._execute(query).mappings():
                item = self._remember(row)
                found[item.id] = item
        return sorted(found.values(), key=lambda item: (item.created_at, str(item.id)))


class _Vendors:
    """The vendors table (unscoped)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._repo: _Repo[Vendor] = uow._repo("vendors")
        self._uow = uow

    def add(self, vendor: Vendor) -> None:
        self._repo.add(vendor)

    def get(self, vendor_id: UUID) -> Vendor | None:
        return self._repo.get(vendor_id, vendor_id)

    def get_by_code(self, code: str) -> Vendor | None:
        self._uow._check_open()
        self._uow._flush()
        table = self._uow._schema.tables["vendors"]
        row = (
            self._uow._execute(select(table).where(table.c.code_key == code_key(code)))
            .mappings()
            .first()
        )
        return self._repo._remember(row) if row is not None else None

    def list(self) -> list[Vendor]:
        self._uow._check_open()
        self._uow._flush()
        table = self._uow._schema.tables["vendors"]
        rows = self._uow._execute(select(table).order_by(table.c.created_at, table.c.id))
        return [self._repo._remember(row) for row in rows.mappings()]

    def rename(self, vendor_id: UUID, name: str) -> Vendor | None:
        current = self.get(vendor_id)
        if current is None:
            return None
        self._uow._writing()
        table = self._repo._table
        self._uow._execute(update(table).where(table.c.id == vendor_id).values(name=name))
        renamed = attrs.evolve(current, name=name)
        self._repo._seen[vendor_id] = renamed
        return renamed


@functools.cache
def _sqlite_insert(t: Table, dialect: Any) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """``INSERT`` of every column of ``t`` as SQL text for the driver, and each column with
    the function that makes its bound value (None: the value as it is), as SQLAlchemy's
    own statement would bind it."""
    sql = str(insert(t).compile(dialect=dialect))
    columns = tuple(
        (
            column.key,
            _sqlite_timestamp
            if isinstance(column.type, UTCDateTime)
            else column.type.dialect_impl(dialect).bind_processor(dialect),
        )
        for column in t.c
    )
    return sql, columns


def _sqlite_timestamp(value: datetime | None) -> str | None:
    # UTCDateTime on SQLite in one step: the naive UTC text its two processing functions
    # make ("YYYY-MM-DD HH:MM:SS.ffffff"), read back by either path (see _sqlite_datetime).
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("portalkit stores timezone-aware datetimes only")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@functools.cache
def _by_position(table: str, t: Table) -> tuple[Callable[[Sequence[Any]], Any], int]:
    """``table``'s records from ``select(t)`` row tuples, and where the id is in them."""
    columns = tuple(t.c.keys())
    return from_tuple(table, columns), columns.index("id")


@functools.cache
def _statement(
    t: Table, kind: str, fields: tuple[str, ...] = (), extra: tuple[Any, ...] = ()
) -> Any:
    """A repository statement with bound parameters, built once per shape: building one
    (coercing every column and value) cost as much as running it on SQLite.

    ``get``: by ``b_id``. ``get_by``: ``fields`` equal to ``b_<field>``, plus the rule's
    fixed ``extra`` (field, value) pairs. ``list``: ``b_vendor_id`` and ``fields`` equal to
    ``b_<field>``, ``extra`` fields NULL, oldest first. ``update``: set every one of
    ``fields`` to ``v_<field>`` where id, vendor and version are ``b_id``, ``b_vendor_id``
    and ``b_version``.
    """
    if kind == "get":
        return select(t).where(t.c.id == bindparam("b_id"))
    if kind == "get_by":
        query = select(t)
        for field in fields:
            query = query.where(t.c[field] == bindparam(f"b_{field}"))
        for field, value in extra:
            query = query.where(t.c[field] == value)
        return query
    if kind == "list":
        query = select(t).where(t.c.vendor_id == bindparam("b_vendor_id"))
        for field in fields:
            query = query.where(t.c[field] == bindparam(f"b_{field}"))
        for field in extra:
            query = query.where(t.c[field].is_(None))
        return query.order_by(t.c.created_at, t.c.id)
    assert kind == "update"
    return (
        update(t)
        .where(
            t.c.id == bindparam("b_id"),
            t.c.vendor_id == bindparam("b_vendor_id"),
            t.c.version == bindparam("b_version"),
        )
        .values({field: bindparam(f"v_{field}") for field in fields})
    )


@functools.cache
def _recent_statement(
    t: Table,
    fields: tuple[str, ...],
    nulls: tuple[str, ...],
    sets: tuple[str, ...],
    columns: tuple[Any, ...] | None = None,
) -> Select[Any]:
    """A page newest first: ``b_vendor_id``, ``fields`` equal to ``b_<field>``, ``nulls``
    NULL and ``sets`` in the expanding ``s_<field>``, selecting ``columns`` (``t``'s by
    default); built once per shape."""
    query = (select(t) if columns is None else select(*columns)).where(
        t.c.vendor_id == bindparam("b_vendor_id")
    )
    for field in fields:
        query = query.where(t.c[field] == bindparam(f"b_{field}"))
    for field in nulls:
        query = query.where(t.c[field].is_(None))
    for field in sets:
        query = query.where(t.c[field].in_(bindparam(f"s_{field}", expanding=True)))
    return (
        query.order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(bindparam("b_limit"))
        .offset(bindparam("b_offset"))
    )


@functools.cache
def _throttle_count_statement(schema: Schema) -> Select[Any]:
    """Asked before every login: built once per schema."""
    t = schema.tables["login_throttles"]
    return select(func.max(t.c.failures)).where(
        t.c.key.in_(bindparam("keys", expanding=True)),
        t.c.window_start > bindparam("window_start"),
    )


@functools.cache
def _rights_generation_statement(schema: Schema) -> Select[Any]:
    t = schema.tables["rights_generations"]
    return select(t.c.generation).where(t.c.vendor_id == bindparam("vendor_id"))


@functools.cache
def _session_statement(schema: Schema) -> Select[Any]:
    """The rights generation and one session of the vendor in one row (the session's
    columns NULL when there is none), built once per schema."""
    g = schema.tables["rights_generations"]
    s = schema.tables["sessions"]
    generation = (
        select(g.c.generation).where(g.c.vendor_id == bindparam("vendor_id")).scalar_subquery()
    )
    # One row whatever is found: a session nobody has reads as a real one does.
    one = select(literal(1).label("x_one")).subquery()
    return select(generation.label("x_generation"), *s.c).select_from(
        one.outerjoin(
            s, and_(s.c.id == bindparam("session_id"), s.c.vendor_id == bindparam("vendor_id"))
        )
    )


@functools.cache
def _price_rules_statement(
    t: Table, stored_forms: bool, items: bool, categories: bool, at: bool, up_to: bool
) -> Executable:
    """``price_rules_for``'s statement, built once per shape with its values bound
    (``lists``, ``items``, ``categories``, ``at``, ``up_to``): building it for every page
    coerced each id of the page into the statement, and cost about as much as running it.

    Two branches in one UNION ALL, each on its own index: an OR of both makes SQLite scan
    every rule of the lists, which grows with the catalogue. The vendor is checked on the
    rows read, not in the WHERE: there SQLite would pick the vendor's index and read every
    rule of the vendor. The moment and the quantity are checked on the rows the index finds
    (no index holds them), so rules of other moments and higher tiers are never decoded.
    """
    # Ids, timestamps and JSON decoded from their stored text on SQLite portalkit built.
    columns = sqlite_page("price_rules", t)[0] if stored_forms else tuple(t.c)
    limits: list[Any] = [t.c.price_list_id.in_(bindparam("lists", expanding=True))]
    if at:
        moment = bindparam("at", type_=t.c.valid_from.type)
        limits.append(or_(t.c.valid_from.is_(None), t.c.valid_from <= moment))
        limits.append(or_(t.c.valid_until.is_(None), t.c.valid_until > moment))
    if up_to:
        limits.append(t.c.min_quantity <= bindparam("up_to"))
    branches: list[Any] = []
    if items:
        branches.append(
            select(*columns).where(*limits, t.c.item_id.in_(bindparam("items", expanding=True)))
        )
    if categories:
        branches.append(
            select(*columns).where(
                *limits,
                t.c.category_id.in_(bindparam("categories", expanding=True)),
                t.c.item_id.is_(None),
            )
        )
    # Read as tuples, in the table's column order (both branches select the same columns).
    return branches[0] if len(branches) == 1 else union_all(*branches)


@functools.cache
def _member_facts_statements(schema: Schema) -> tuple[Select[Any], CompoundSelect[Any]]:
    """The two statements of ``member_facts``, built once per schema: building them (some
    forty labelled columns, aliases, a recursive CTE) cost more than running them."""
    t = schema.tables
    m, a, c, p = t["memberships"], t["accounts"], t["customers"], t["profiles"]
    main, main_account = m.alias("main"), a.alias("main_account")
    vendor_id: BindParameter[Any] = bindparam("vendor_id")
    first = (
        select(
            m,
            a.c.status.label("x_account_status"),
            a.c.session_stamp.label("x_account_session_stamp"),
            *[col.label(f"c_{col.name}") for col in c.c],
            *[col.label(f"p_{col.name}") for col in p.c],
            main.c.status.label("x_main_status"),
            main_account.c.status.label("x_main_account_status"),
        )
        .select_from(
            m.join(a, a.c.id == m.c.account_id)
            .join(c, c.c.id == m.c.customer_id)
            .outerjoin(p, p.c.id == m.c.profile_id)
            .outerjoin(main, and_(main.c.customer_id == m.c.customer_id, main.c.kind == "main"))
            .outerjoin(main_account, main_account.c.id == main.c.account_id)
        )
        .where(m.c.id == bindparam("membership_id"), m.c.vendor_id == vendor_id)
    )
    # Customers below, level by level in one recursive query; the depth bound keeps a
    # corrupt cycle from running forever.
    below = (
        select(c.c.id, c.c.parent_id, c.c.active, literal(1).label("depth"))
        .where(c.c.parent_id == bindparam("customer_id"), c.c.vendor_id == vendor_id)
        .cte("below", recursive=True)
    )
    below = below.union_all(
        select(c.c.id, c.c.parent_id, c.c.active, (below.c.depth + 1).label("depth"))
        .where(c.c.parent_id == below.c.id, c.c.vendor_id == vendor_id)
        .where(below.c.depth < MAX_TREE_DEPTH)
    )
    loc = t["locations"]
    second = union_all(
        select(literal("c").label("kind"), below.c.id, below.c.parent_id, below.c.active),
        select(literal("l").label("kind"), loc.c.id, loc.c.customer_id, loc.c.active).where(
            loc.c.id.in_(bindparam("granted", expanding=True)), loc.c.vendor_id == vendor_id
        ),
        # Every location in the member's tree, so "is this location within reach?" needs no
        # further query (the same CTE, so still one statement).
        select(literal("l").label("kind"), loc.c.id, loc.c.customer_id, loc.c.active).where(
            or_(
                loc.c.customer_id == bindparam("customer_id"),
                loc.c.customer_id.in_(select(below.c.id)),
            ),
            loc.c.vendor_id == vendor_id,
        ),
    )
    return first, second


# The columns an outcome changes; the rest of a message never changes after it is queued.
_SETTLED = (
    "status",
    "attempts",
    "claimed_until",
    "last_error",
    "sent_at",
    "next_attempt_at",
    "version",
)


class SqlUnitOfWork:
    """One database transaction on one connection: its own, or a savepoint in the host's
    transaction on the host's connection (``host``), which the host commits."""

    def __init__(
        self,
        storage: SqlStorage,
        read_only: bool = False,
        host: Connection | None = None,
        host_moved: set[UUID] | None = None,
    ) -> None:
        self._read_only = read_only
        # Vendors whose generation an earlier block of the host's transaction moved on: that
        # number is the host's until it commits, and comes round again if the host rolls back.
        self._host_moved: set[UUID] = set() if host_moved is None else host_moved
        self._schema = storage.schema
        self._joined = host is not None
        self._transaction: Transaction
        try:
            if host is None:
                self._conn = storage.engine.connect()
                # Read by the SQLite "begin" hook: a read-only unit of work need not wait
                # for, or hold, the write lock.
                self._conn.info["portalkit_read_only"] = read_only
                self._transaction = self._conn.begin()
            else:
                self._conn = host
                # A savepoint: when the block fails, portalkit's part of it is undone and
                # the host's transaction stays usable (a failed call changes nothing).
                self._transaction = host.begin_nested()
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        self._open = True
        # An engine portalkit built on SQLite stores ids, timestamps and JSON in the forms
        # sqlite_page decodes (a host's engine may read JSON its own way).
        self._sqlite_stored_forms = self._conn.engine in _TUNED
        # Repositories are made when first used: a unit of work touches two or three of
        # them, and a login makes two units of work.
        self._made: dict[str, _Repo[Any]] = {}
        self._vendors: _Vendors | None = None
        # Vendors whose rights tables this unit of work changed (see rights_generation).
        self._rights_changed: set[UUID] = set()

    def _repo(self, table: str) -> _Repo[Any]:
        found = self._made.get(table)
        if found is None:
            found = self._made[table] = _Repo(self, table)
        return found

    @property
    def _repos(self) -> list[_Repo[Any]]:
        # In TABLES order: referenced tables first, so foreign keys hold at every statement.
        return [self._made[t] for t in TABLES if t in self._made]

    @property
    def vendors(self) -> _Vendors:
        """The vendors."""
        if self._vendors is None:
            self._vendors = _Vendors(self)
        return self._vendors

    @property
    def profiles(self) -> _Repo[PermissionProfile]:
        """Permission profiles."""
        return self._repo("profiles")

    @property
    def customers(self) -> _Repo[Customer]:
        """Customers."""
        return self._repo("customers")

    @property
    def locations(self) -> _Repo[Location]:
        """Locations."""
        return self._repo("locations")

    @property
    def contacts(self) -> _Repo[Contact]:
        """Contacts."""
        return self._repo("contacts")

    @property
    def accounts(self) -> _Repo[Account]:
        """Accounts."""
        return self._repo("accounts")

    @property
    def memberships(self) -> _Repo[Membership]:
        """Memberships."""
        return self._repo("memberships")

    @property
    def audit(self) -> _Repo[AuditEvent]:
        """The audit log."""
        return self._repo("audit_events")

    @property
    def outbox(self) -> _Repo[OutboxMessage]:
        """Queued mail."""
        return self._repo("outbox_messages")

    @property
    def registrations(self) -> _Repo[Registration]:
        """Self-registration requests."""
        return self._repo("registrations")

    @property
    def tokens(self) -> _Repo[Token]:
        """One-time links."""
        return self._repo("tokens")

    @property
    def jobs(self) -> _Repo[Job]:
        """Stored background jobs."""
        return self._repo("jobs")

    @property
    def documents(self) -> _Repo[Document]:
        """Documents shared with customers."""
        return self._repo("documents")

    def delete_document(self, vendor_id: UUID, document_id: UUID, expected_version: int) -> bool:
        """One conditional ``DELETE``."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["documents"]
        self.documents._seen.pop(document_id, None)
        deleted = self._execute(
            delete(t).where(
                t.c.id == document_id,
                t.c.vendor_id == vendor_id,
                t.c.version == expected_version,
            )
        )
        return int(deleted.rowcount) == 1

    @property
    def staff_members(self) -> _Repo[StaffMember]:
        """The staff directory."""
        return self._repo("staff_members")

    @property
    def inbox_settings(self) -> _Repo[InboxAddress]:
        """Inbox addresses."""
        return self._repo("inbox_settings")

    @property
    def inbox_items(self) -> _Repo[InboxItem]:
        """The vendor inbox."""
        return self._repo("inbox_items")

    @property
    def inbox_comments(self) -> _Repo[InboxComment]:
        """Comments on inbox items."""
        return self._repo("inbox_comments")

    @property
    def inbox_events(self) -> _Repo[InboxEvent]:
        """Inbox events for the host."""
        return self._repo("inbox_events")

    @property
    def work_requests(self) -> _Repo[WorkRequest]:
        """Work requests."""
        return self._repo("work_requests")

    @property
    def tickets(self) -> _Repo[Ticket]:
        """Tickets."""
        return self._repo("tickets")

    @property
    def second_factors(self) -> _Repo[SecondFactor]:
        """Accounts' second factors."""
        return self._repo("second_factors")

    @property
    def access_tokens(self) -> _Repo[AccessToken]:
        """Integrations' access tokens."""
        return self._repo("access_tokens")

    @property
    def sso_configs(self) -> _Repo[SsoConfig]:
        """Customers' single sign-on set-ups."""
        return self._repo("sso_configs")

    @property
    def sso_domains(self) -> _Repo[SsoDomain]:
        """The e-mail domains of customers' single sign-on."""
        return self._repo("sso_domains")

    @property
    def sso_attempts(self) -> _Repo[SsoAttempt]:
        """Single sign-ons under way."""
        return self._repo("sso_attempts")

    @property
    def passkeys(self) -> _Repo[Passkey]:
        """Accounts' passkeys."""
        return self._repo("passkeys")

    @property
    def second_factor_rules(self) -> _Repo[SecondFactorRule]:
        """The vendor's rule of which logins need a second factor."""
        return self._repo("second_factor_rules")

    @property
    def sessions(self) -> _Repo[SessionRecord]:
        """Log-in sessions."""
        return self._repo("sessions")

    @property
    def ticket_attachments(self) -> _Repo[TicketAttachment]:
        """Files added to tickets."""
        return self._repo("ticket_attachments")

    def recent(
        self,
        table: str,
        vendor_id: UUID,
        *,
        where: Mapping[str, object] | None = None,
        among: Mapping[str, Collection[object]] | None = None,
        limit: int,
        offset: int = 0,
    ) -> list[Any]:
        """One statement walking an index newest first (``ix_inbox_items_page`` for the
        inbox page)."""
        self._check_open()
        if table not in RECENT_TABLES:
            raise PortalError(f"{table} is not paged newest first")
        self._flush()
        equal = {field: _stored(value) for field, value in (where or {}).items()}
        sets = {f: [_stored(v) for v in values] for f, values in (among or {}).items()}
        repo = self._repo(table)
        # None means IS NULL, which a bound "= :value" would never match.
        fields = tuple(f for f, value in equal.items() if value is not None)
        nulls = tuple(f for f, value in equal.items() if value is None)
        columns, build = None, None
        if self._sqlite_stored_forms:
            columns, build = sqlite_page(table, repo._table)
        query = _recent_statement(repo._table, fields, nulls, tuple(sets), columns)
        params: dict[str, Any] = {f"b_{f}": equal[f] for f in fields}
        params.update({f"s_{f}": values for f, values in sets.items()})
        params.update(b_vendor_id=vendor_id, b_limit=limit, b_offset=offset)
        return repo._remember_all(self._execute(query, params), build)

    def claim_inbox_events(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[InboxEvent]:
        """The first undelivered event of each item, if due and not leased: ``FOR UPDATE
        SKIP LOCKED`` on PostgreSQL; SQLite's IMMEDIATE transactions run one at a time.

        Of two workers, the second skips the events the first holds, and the later events
        of those items wait, since an earlier one of theirs is still undelivered.
        """
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["inbox_events"]
        earlier = t.alias("earlier")
        query = (
            select(t)
            .where(
                t.c.delivered_at.is_(None),
                t.c.next_attempt_at <= now,
                or_(t.c.claimed_until.is_(None), t.c.claimed_until < now),
                ~select(earlier.c.id)
                .where(
                    earlier.c.item_id == t.c.item_id,
                    earlier.c.sequence < t.c.sequence,
                    earlier.c.delivered_at.is_(None),
                )
                .exists(),
            )
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=t)
        rows = self._execute(query).mappings().all()
        claimed = []
        for row in rows:
            found = FROM_ROW["inbox_events"](row)
            taken = attrs.evolve(found, claimed_until=lease_until, version=found.version + 1)
            self.inbox_events._seen[taken.id] = taken
            claimed.append(taken)
        if claimed:
            self._execute(
                update(t)
                .where(t.c.id.in_([e.id for e in claimed]))
                .values(claimed_until=lease_until, version=t.c.version + 1)
            )
        return claimed

    @property
    def categories(self) -> _Repo[Category]:
        """The category tree."""
        return self._repo("category_tree")

    @property
    def catalogue_items(self) -> _Repo[CatalogueItem]:
        """Catalogue items."""
        return self._repo("catalogue_items")

    @property
    def customer_groups(self) -> _Repo[CustomerGroup]:
        """Customer groups."""
        return self._repo("customer_groups")

    @property
    def assortments(self) -> _Repo[Assortment]:
        """Assortments."""
        return self._repo("assortments")

    @property
    def price_lists(self) -> _Repo[PriceList]:
        """Price lists."""
        return self._repo("price_lists")

    @property
    def price_rules(self) -> _Repo[PriceRule]:
        """Price rules."""
        return self._repo("price_rules")

    @property
    def device_models(self) -> _Repo[DeviceModel]:
        """Device models."""
        return self._repo("device_models")

    @property
    def devices(self) -> _Repo[Device]:
        """Installed devices."""
        return self._repo("devices")

    @property
    def carts(self) -> _Repo[Cart]:
        """Members' carts."""
        return self._repo("carts")

    @property
    def orders(self) -> _Repo[Order]:
        """Orders."""
        return self._repo("orders")

    @property
    def quotes(self) -> _Repo[Quote]:
        """Quote requests and quotes."""
        return self._repo("quotes")

    @property
    def quote_messages(self) -> _Repo[QuoteMessage]:
        """Messages on quotes."""
        return self._repo("quote_messages")

    def next_number(self, vendor_id: UUID, scope: str) -> int:
        """One upsert that adds one and returns the new value (``INSERT … ON CONFLICT DO
        UPDATE … RETURNING``): the row stays locked until commit, so concurrent checkouts
        queue on it and each gets its own number."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["number_counters"]
        statement = (
            self._upsert(t)
            .values(vendor_id=vendor_id, scope=scope, value=1)
            .on_conflict_do_update(
                index_elements=[t.c.vendor_id, t.c.scope], set_={"value": t.c.value + 1}
            )
            .returning(t.c.value)
        )
        return int(self._execute(statement).scalar_one())

    def search_items(
        self, vendor_id: UUID, query: ItemQuery, *, limit: int, offset: int = 0
    ) -> list[CatalogueItem]:
        """One ``SELECT`` with the query's conditions, ordered by ``(sku_key, id)`` (the
        unique index's order); the text is a ``LIKE`` on the folded columns."""
        self._check_open()
        self._flush()
        t = self._schema.tables["catalogue_items"]
        columns, build = None, None
        if self._sqlite_stored_forms:
            # Ids, timestamps and JSON decoded from their stored text, as the inbox page is.
            columns, build = sqlite_page("catalogue_items", t)
        statement = (select(*columns) if columns else select(t)).where(t.c.vendor_id == vendor_id)
        if query.active_only:
            statement = statement.where(t.c.active.is_(True))
        if query.excluded:
            statement = statement.where(t.c.id.not_in(list(query.excluded)))
        if query.ids is not None:
            statement = statement.where(t.c.id.in_(list(query.ids)))
        if query.categories is not None:
            statement = statement.where(t.c.category_id.in_(list(query.categories)))
        if query.restricted:
            allowed = []
            if query.allowed_ids:
                allowed.append(t.c.id.in_(list(query.allowed_ids)))
            if query.allowed_categories:
                allowed.append(t.c.category_id.in_(list(query.allowed_categories)))
            statement = statement.where(or_(*allowed) if allowed else literal(False))
        if query.sku is not None:
            statement = statement.where(t.c.sku_key == query.sku)
        if query.text:
            statement = statement.where(
                or_(
                    t.c.sku_key.contains(query.text, autoescape=True),
                    t.c.name_key.contains(query.text, autoescape=True),
                    t.c.description_key.contains(query.text, autoescape=True),
                )
            )
        statement = statement.order_by(t.c.sku_key, t.c.id).limit(limit).offset(offset)
        return self.catalogue_items._remember_all(self._execute(statement), build)

    def price_rules_for(
        self,
        vendor_id: UUID,
        price_list_ids: Iterable[UUID],
        *,
        item_ids: Iterable[UUID],
        category_ids: Iterable[UUID],
        valid_at: datetime | None = None,
        up_to: int | None = None,
    ) -> list[PriceRule]:
        """One ``SELECT`` on the ``(price_list_id, item_id)`` and ``(price_list_id,
        category_id)`` indexes."""
        self._check_open()
        self._flush()
        lists, items, categories = list(price_list_ids), list(item_ids), list(category_ids)
        if not lists or not (items or categories):
            return []
        t = self._schema.tables["price_rules"]
        statement = _price_rules_statement(
            t,
            self._sqlite_stored_forms,
            bool(items),
            bool(categories),
            valid_at is not None,
            up_to is not None,
        )
        params: dict[str, Any] = {"lists": lists}
        if items:
            params["items"] = items
        if categories:
            params["categories"] = categories
        if valid_at is not None:
            params["at"] = valid_at
        if up_to is not None:
            params["up_to"] = up_to
        build = sqlite_page("price_rules", t)[1] if self._sqlite_stored_forms else None
        return [
            rule
            for rule in self.price_rules._remember_all(self._execute(statement, params), build)
            if rule.vendor_id == vendor_id
        ]

    def delete_price_rule(self, vendor_id: UUID, rule_id: UUID) -> bool:
        """One ``DELETE``."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["price_rules"]
        self.price_rules._seen.pop(rule_id, None)
        deleted = self._execute(delete(t).where(t.c.id == rule_id, t.c.vendor_id == vendor_id))
        return int(deleted.rowcount) == 1

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for host code that joins it: a Session bound to it
        (``join_transaction_mode="create_savepoint"``) or Core statements on it commit when
        the ``portal.transaction()`` block does, or roll back with it. What portalkit has
        buffered is written first, so the host's statements see it."""
        self._check_open()
        self._flush()
        return self._conn

    def _check_open(self) -> None:
        if not self._open:
            raise PortalError("this unit of work has ended; start a new transaction")

    def _writing(self) -> None:
        if self._read_only:
            raise PortalError("this transaction is read-only (transaction(read_only=True))")

    def claim_jobs(self, now: datetime, limit: int, lease_until: datetime) -> list[Job]:
        """Claim due jobs: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers side by side
        never take the same one; SQLite's IMMEDIATE transactions run one at a time."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["jobs"]
        query = select(t).where(t.c.due_at <= now).order_by(t.c.due_at, t.c.id).limit(limit)
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = self._execute(query).mappings().all()
        claimed = []
        for row in rows:
            job = FROM_ROW["jobs"](row)
            taken = attrs.evolve(job, due_at=lease_until, version=job.version + 1)
            self.jobs._seen[taken.id] = taken
            claimed.append(taken)
        if claimed:
            # The rows cannot change between the read and this write: PostgreSQL holds them
            # FOR UPDATE, SQLite's IMMEDIATE transaction holds the whole database.
            self._execute(
                update(t)
                .where(t.c.id.in_([j.id for j in claimed]))
                .values(due_at=lease_until, version=t.c.version + 1)
            )
        return claimed

    def delete_job(self, vendor_id: UUID, job_id: UUID, expected_version: int) -> bool:
        """One conditional ``DELETE``."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["jobs"]
        self.jobs._seen.pop(job_id, None)
        deleted = self._execute(
            delete(t).where(
                t.c.id == job_id, t.c.vendor_id == vendor_id, t.c.version == expected_version
            )
        )
        return int(deleted.rowcount) == 1

    def claim_outbox(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        ids: Sequence[UUID] | None = None,
    ) -> list[OutboxMessage]:
        """Claim due messages: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers side by
        side never take the same one; SQLite's IMMEDIATE transactions run one at a time."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["outbox_messages"]
        # Two queries, each walking the (status, next_attempt_at, id) index in order, rather
        # than one OR that makes the database read and sort every pending row per batch.
        waiting = (
            select(t)
            .where(t.c.status == "pending", t.c.next_attempt_at <= now)
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        abandoned = (
            select(t)
            .where(t.c.status == "sending", t.c.claimed_until < now)
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        rows: list[Any] = []
        for query in (waiting, abandoned):
            if ids is not None:
                query = query.where(t.c.id.in_(list(ids)))
            if self._conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows += self._execute(query).mappings().all()
        rows.sort(key=lambda row: (row["next_attempt_at"], row["id"]))
        claimed = []
        for row in rows[:limit]:
            message = FROM_ROW["outbox_messages"](row)
            taken = attrs.evolve(
                message,
                status=OutboxStatus.SENDING,
                claimed_until=lease_until,
                version=message.version + 1,
            )
            self.outbox._seen[taken.id] = taken
            claimed.append(taken)
        if claimed:
            # One statement for the batch. The rows cannot change between the read and this
            # write: PostgreSQL holds them FOR UPDATE, SQLite's IMMEDIATE transaction holds
            # the whole database.
            self._execute(
                update(t)
                .where(t.c.id.in_([m.id for m in claimed]))
                .values(status="sending", claimed_until=lease_until, version=t.c.version + 1)
            )
        return claimed

    def settle_outbox(self, outcomes: Sequence[OutboxMessage]) -> set[UUID]:
        """Record outcomes with one executemany per shape (secret bodies are purged, others
        keep theirs untouched); a lost lease is found by reading back only when the row count
        says so."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["outbox_messages"]
        to_row = TO_ROW["outbox_messages"]
        matched = 0
        for purge in (False, True):
            group = [m for m in outcomes if m.secret is purge]
            if not group:
                continue
            columns = _SETTLED + (("text", "html") if purge else ())
            statement = (
                update(t)
                .where(t.c.id == bindparam("b_id"), t.c.version == bindparam("b_version"))
                .values({c: bindparam(f"v_{c}") for c in columns})
            )
            params = []
            for outcome in group:
                row = to_row(outcome)
                params.append(
                    {"b_id": outcome.id, "b_version": outcome.version - 1}
                    | {f"v_{c}": row[c] for c in columns}
                )
            matched += self._execute(statement, params).rowcount
        for outcome in outcomes:
            self.outbox._seen.pop(outcome.id, None)
        if matched == len(outcomes) and self._conn.dialect.supports_sane_multi_rowcount:
            return {m.id for m in outcomes}
        # Someone took a message over after our lease ran out. Ours is the row at our version
        # with no lease: another worker's claim at that version still holds one.
        stored = self._execute(
            select(t.c.id, t.c.version, t.c.claimed_until).where(
                t.c.id.in_([m.id for m in outcomes])
            )
        ).all()
        ours = {m.id: m.version for m in outcomes}
        return {
            row.id for row in stored if row.version == ours[row.id] and row.claimed_until is None
        }

    def consume_token(
        self, vendor_id: UUID, purpose: TokenPurpose, digest: str, now: datetime
    ) -> Token | None:
        """One conditional ``UPDATE``: it succeeds for one caller only, on SQLite and on
        PostgreSQL alike, without a ``SELECT … FOR UPDATE`` first."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["tokens"]
        used = self._execute(
            update(t)
            .where(
                t.c.vendor_id == vendor_id,
                t.c.digest == digest,
                t.c.purpose == purpose.value,
                t.c.used_at.is_(None),
                t.c.revoked_at.is_(None),
                t.c.expires_at > now,
            )
            .values(used_at=now, version=t.c.version + 1)
        )
        if used.rowcount != 1:
            return None
        self.tokens._seen.clear()
        return self.tokens.get_by(vendor_id, "token", digest)

    def revoke_tokens(
        self,
        vendor_id: UUID,
        now: datetime,
        *,
        account_id: UUID | None = None,
        registration_id: UUID | None = None,
        membership_id: UUID | None = None,
        purposes: Iterable[TokenPurpose] | None = None,
    ) -> int:
        """One ``UPDATE`` over the outstanding tokens of an account or a registration."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["tokens"]
        statement = (
            update(t)
            .where(t.c.vendor_id == vendor_id, t.c.used_at.is_(None), t.c.revoked_at.is_(None))
            .values(revoked_at=now, version=t.c.version + 1)
        )
        if account_id is not None:
            statement = statement.where(t.c.account_id == account_id)
        if registration_id is not None:
            statement = statement.where(t.c.registration_id == registration_id)
        if membership_id is not None:
            statement = statement.where(t.c.membership_id == membership_id)
        if purposes is not None:
            statement = statement.where(t.c.purpose.in_([p.value for p in purposes]))
        self.tokens._seen.clear()
        return int(self._execute(statement).rowcount)

    def throttle_hit(self, key: str, now: datetime, window_start: datetime) -> int:
        """An upsert that adds one and returns the count in the same statement, so failures
        from many processes at once each count (no read-then-write)."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["login_throttles"]
        when = literal(now, t.c.window_start.type)
        stale = t.c.window_start <= literal(window_start, t.c.window_start.type)
        statement = (
            self._upsert(t)
            .values(key=key, failures=1, window_start=now)
            .on_conflict_do_update(
                index_elements=[t.c.key],
                set_={
                    "failures": case((stale, 1), else_=t.c.failures + 1),
                    "window_start": case((stale, when), else_=t.c.window_start),
                },
            )
            .returning(t.c.failures)
        )
        return int(self._execute(statement).scalar_one())

    def throttle_count(self, keys: Sequence[str], window_start: datetime) -> int:
        """The highest failure count of ``keys`` in a current window."""
        self._check_open()
        self._flush()
        found = self._execute(
            _throttle_count_statement(self._schema),
            {"keys": list(keys), "window_start": window_start},
        ).scalar()
        return int(found or 0)

    def throttle_clear(self, keys: Sequence[str]) -> None:
        """Delete the counters of ``keys``."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["login_throttles"]
        self._execute(delete(t).where(t.c.key.in_(list(keys))))

    def throttle_strike(self, key: str, now: datetime, forget_before: datetime) -> int:
        """An upsert that counts a lock window and returns the count in one statement, as
        :meth:`throttle_hit` does (servers striking at once each count)."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["login_throttles"]
        old = t.c.window_start <= literal(forget_before, t.c.window_start.type)
        statement = (
            self._upsert(t)
            .values(key=key, failures=1, window_start=now)
            .on_conflict_do_update(
                index_elements=[t.c.key],
                set_={
                    "failures": case((old, 1), else_=t.c.failures + 1),
                    "window_start": literal(now, t.c.window_start.type),
                },
            )
            .returning(t.c.failures)
        )
        return int(self._execute(statement).scalar_one())

    def throttle_get(self, key: str) -> tuple[int, datetime] | None:
        """The stored count and time of ``key``."""
        self._check_open()
        self._flush()
        t = self._schema.tables["login_throttles"]
        row = self._execute(select(t.c.failures, t.c.window_start).where(t.c.key == key)).first()
        return None if row is None else (int(row.failures), row.window_start)

    def prune_tokens(self, vendor_id: UUID, before: datetime) -> int:
        """One ``DELETE`` of the vendor's dead links."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["tokens"]
        self.tokens._seen.clear()
        deleted = self._execute(
            delete(t).where(
                t.c.vendor_id == vendor_id,
                or_(t.c.expires_at < before, t.c.used_at < before, t.c.revoked_at < before),
            )
        )
        return int(deleted.rowcount)

    def prune_sso_attempts(self, vendor_id: UUID, before: datetime) -> int:
        """One ``DELETE`` of the vendor's expired sign-ins."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["sso_attempts"]
        self.sso_attempts._seen.clear()
        deleted = self._execute(
            delete(t).where(t.c.vendor_id == vendor_id, t.c.expires_at < before)
        )
        return int(deleted.rowcount)

    def prune_sessions(self, vendor_id: UUID, before: datetime) -> int:
        """One ``DELETE`` of the vendor's ended and long-unseen sessions."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["sessions"]
        self.sessions._seen.clear()
        when = literal(before, t.c.last_seen_at.type)
        deleted = self._execute(
            delete(t).where(
                t.c.vendor_id == vendor_id, or_(t.c.last_seen_at < when, t.c.ended_at < when)
            )
        )
        return int(deleted.rowcount)

    def prune_throttles(self, before: datetime) -> int:
        """One ``DELETE`` of the old counters."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["login_throttles"]
        when = literal(before, t.c.window_start.type)
        return int(self._execute(delete(t).where(t.c.window_start < when)).rowcount)

    def purge_outbox(self, vendor_id: UUID, before: datetime) -> int:
        """One ``UPDATE`` that empties the old delivered bodies."""
        self._writing()
        self._check_open()
        self._flush()
        t = self._schema.tables["outbox_messages"]
        self.outbox._seen.clear()
        purged = self._execute(
            update(t)
            .where(
                t.c.vendor_id == vendor_id,
                t.c.status.in_([OutboxStatus.SENT.value, OutboxStatus.DEAD.value]),
                t.c.created_at < before,
                or_(t.c.text != "", t.c.html != ""),
            )
            .values(text="", html="", version=t.c.version + 1)
        )
        return int(purged.rowcount)

    def erase(self, vendor_id: UUID, table: str, ids: Collection[UUID]) -> int:
        """``DELETE`` by id, in chunks."""
        self._writing()
        self._check_open()
        if table not in ERASABLE_TABLES:
            raise PortalError(
                APPEND_ONLY if table == "audit_events" else f"{table} records are not erased"
            )
        self._flush()
        repo = self._repo(table)
        t = repo._table
        wanted = list(set(ids))
        deleted = 0
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            deleted += int(
                self._execute(
                    delete(t).where(t.c.vendor_id == vendor_id, t.c.id.in_(chunk))
                ).rowcount
            )
        for item_id in wanted:
            repo._seen.pop(item_id, None)
        if deleted and repo._rights:
            self._rights_changed.add(vendor_id)
        return deleted

    def pseudonymise_audit(
        self, vendor_id: UUID, event_ids: Collection[UUID], replacements: Mapping[str, str]
    ) -> int:
        """Read the events, rewrite them here, and write back only their text columns."""
        self._writing()
        self._check_open()
        check_pseudonyms(replacements)
        self._flush()
        t = self._schema.tables["audit_events"]
        to_row = TO_ROW["audit_events"]
        columns = ("real_actor", "effective_actor", "target", "reason", "details")
        statement = (
            update(t)
            .where(t.c.id == bindparam("b_id"), t.c.vendor_id == bindparam("b_vendor_id"))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        wanted = list(set(event_ids))
        changed = 0
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self._execute(
                select(t).where(t.c.vendor_id == vendor_id, t.c.id.in_(chunk))
            ).mappings()
            params = []
            for row in rows:
                stored = FROM_ROW["audit_events"](row)
                rewritten = pseudonymised(stored, replacements)
                if rewritten == stored:
                    continue
                new = to_row(rewritten)
                params.append(
                    {"b_id": stored.id, "b_vendor_id": vendor_id}
                    | {f"v_{c}": new[c] for c in columns}
                )
            if params:
                self._execute(statement, params)
                changed += len(params)
        self.audit._seen.clear()
        return changed

    def lock_vendor(self, vendor_id: UUID) -> None:
        """``SELECT … FOR UPDATE`` on the vendor's row (PostgreSQL). SQLite needs nothing: its
        transactions begin IMMEDIATE and so already run one at a time."""
        self._writing()
        self._check_open()
        self._flush()
        if self._conn.dialect.name == "postgresql":
            vendors = self._schema.tables["vendors"]
            self._execute(select(vendors.c.id).where(vendors.c.id == vendor_id).with_for_update())
        # Rows read before the lock may be stale by now: read them again after it.
        for repo in self._repos:
            repo._seen.clear()

    def member_facts(self, vendor_id: UUID, membership_id: UUID) -> MemberFacts | None:
        """The facts about one membership in two queries: the membership with everything it
        hangs on, then the customers below it, their locations and the granted ones."""
        self._check_open()
        self._flush()
        first, second = _member_facts_statements(self._schema)
        row = (
            self._execute(first, {"membership_id": membership_id, "vendor_id": vendor_id})
            .mappings()
            .first()
        )
        if row is None:
            # Both queries for a membership nobody has too (with its id as a customer id
            # nobody has): a background job asks for an unknown login's context as for a
            # known one, and its reads must not tell them apart (issue 9).
            self._execute(
                second, {"customer_id": membership_id, "vendor_id": vendor_id, "granted": []}
            ).all()
            return None
        membership = FROM_ROW["memberships"](row)
        customer = FROM_ROW["customers"]({k[2:]: v for k, v in row.items() if k.startswith("c_")})
        profile = (
            FROM_ROW["profiles"]({k[2:]: v for k, v in row.items() if k.startswith("p_")})
            if row["p_id"] is not None
            else None
        )
        main_active = (
            None
            if row["x_main_status"] is None
            else row["x_main_status"] == "active" and row["x_main_account_status"] == "active"
        )
        granted = [g.location_id for g in membership.location_grants]
        subtree: dict[UUID, tuple[UUID, UUID | None, bool]] = {}
        locations: dict[UUID, tuple[UUID, bool]] = {}
        found: list[Any] = list(
            self._execute(
                second,
                {"customer_id": customer.id, "vendor_id": vendor_id, "granted": granted},
            )
        )
        for kind, item_id, parent_id, active in found:
            if kind == "c":
                subtree.setdefault(item_id, (item_id, parent_id, bool(active)))
            else:
                locations[item_id] = (parent_id, bool(active))
        # The membership and its customer as this transaction read them: a later get of
        # either in it (the shop's customer, checkout's filer for the inbox) needs no query.
        self.memberships._seen.setdefault(membership.id, membership)
        self.customers._seen.setdefault(customer.id, customer)
        return MemberFacts(
            membership=membership,
            account_active=row["x_account_status"] == "active",
            account_session_stamp=row["x_account_session_stamp"],
            customer=customer,
            profile=profile,
            main_active=main_active,
            subtree=tuple(subtree.values()),
            locations=locations,
        )

    def rights_generation(self, vendor_id: UUID) -> int | None:
        """The vendor's rights generation (0 before its first change), or None once this
        unit of work changed one of its rights tables."""
        self._check_open()
        if vendor_id in self._rights_changed or vendor_id in self._host_moved:
            return None
        found = self._execute(
            _rights_generation_statement(self._schema), {"vendor_id": vendor_id}
        ).scalar()
        return int(found or 0)

    def _move_rights_generations(self) -> None:
        # Last thing before the commit, so the vendor's row is locked (PostgreSQL) for the
        # commit only, never while this transaction goes on to lock other rows.
        if not self._rights_changed:
            return
        t = self._schema.tables["rights_generations"]
        for vendor_id in sorted(self._rights_changed):  # one order: no deadlock between two
            self._execute(
                self._upsert(t)
                .values(vendor_id=vendor_id, generation=1)
                .on_conflict_do_update(
                    index_elements=[t.c.vendor_id], set_={"generation": t.c.generation + 1}
                )
            )
        self._host_moved.update(self._rights_changed)
        self._rights_changed.clear()

    def _upsert(self, table: Table) -> Any:
        """An ``INSERT`` of this database's dialect, which has ``on_conflict_do_update``
        (PostgreSQL and SQLite spell it alike)."""
        insert_of = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        return insert_of(table)

    def _execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        """Run a statement; database failures other than key clashes become StorageError."""
        try:
            return self._conn.execute(statement, params)
        except IntegrityError:
            raise  # the repository maps it to the Conflict naming the field
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None

    def _insert_sqlite(self, table: Table, rows: builtins.list[dict[str, Any]]) -> None:
        """Insert ``rows`` (each a value for every column) as one ``executemany`` of the
        driver's: the values bound here by the columns' own processing, as ``insert()``
        would, without its per-row parameter bookkeeping (on SQLite that took longer than
        the database's own work)."""
        sql, columns = _sqlite_insert(table, self._conn.dialect)
        try:
            try:
                params = [
                    tuple(
                        [row[name] if bind is None else bind(row[name]) for name, bind in columns]
                    )
                    for row in rows
                ]
            except (TypeError, ValueError) as exc:
                # What insert() says of a value its column cannot bind.
                raise StatementError(str(exc), sql, None, exc) from None
            self._conn.exec_driver_sql(sql, params)
        except IntegrityError:
            raise  # the repository maps it to the Conflict naming the field
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None

    def _flush(self) -> None:
        # TABLES lists referenced tables first, so foreign keys hold at every statement.
        for repo in self._repos:
            repo._flush()

    def commit(self) -> None:
        """Write what is buffered, then commit (joined to a host's transaction: release the
        savepoint; the host's commit makes the change durable)."""
        if not self._open:
            return
        try:
            self._flush()
            self._move_rights_generations()
            if not self._transaction.is_active:
                raise PortalError(
                    "the transaction ended inside its portal.transaction() block: commit or "
                    "roll back a joined host session after the block, and bind a session to "
                    "uow.connection with join_transaction_mode='create_savepoint'"
                )
            self._transaction.commit()
        except IntegrityError:
            raise Conflict("data", "the change clashes with data stored meanwhile") from None
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        finally:
            if self._transaction.is_active:
                self._transaction.rollback()
            self._close()

    def rollback(self) -> None:
        """Drop what is buffered and roll back."""
        if not self._open:
            return
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._close()

    def _close(self) -> None:
        self._open = False
        # Each repository points back at this unit of work: without the cycle broken, what
        # it remembered and buffered (a whole import batch's records) waited for the garbage
        # collector, which scanned it over and over meanwhile.
        self._made = {}
        self._vendors = None
        if not self._joined:  # a host's connection is the host's to close
            self._conn.close()


_JOINS = "portalkit_joins"
# The host's root transaction and the vendors whose rights generation its blocks moved on.
_MOVED = "portalkit_rights_moved"


@attrs.define
class _Join:
    """A ``portal.transaction(session=…)`` block waiting for the host's transaction to end."""

    root: Any  # the session's root SessionTransaction the block ran in
    when_host_ends: Callable[[bool], None]
    committed: bool = False
    #: The host's own savepoints (SessionTransactions) the block ran inside.
    within: tuple[Any, ...] = ()
    #: One of them was rolled back: the block's work is gone whatever the root does.
    undone: bool = False


def _host_committed(session: Any) -> None:
    # Fired for the session's root transaction only, after the database's COMMIT; the blocks
    # waiting are all of that transaction (those of earlier ones left when theirs ended).
    for join in session.info.get(_JOINS, ()):
        join.committed = True


def _host_rolled_back(session: Any, transaction: Any) -> None:
    # Fired for savepoints too: a host's savepoint rolled back takes the blocks inside it
    # with it, so their after-commit work (a file's removal) must never run, and what they
    # wrote outside the database is taken back when the root ends.
    for join in session.info.get(_JOINS, ()):
        if any(t is transaction for t in join.within):
            join.undone = True


def _host_ended(session: Any, transaction: Any) -> None:
    # Also fired for the session's savepoints: only the root's end is the host's commit or
    # rollback, and only then is the database free for the work that waited for it.
    joins: list[_Join] = session.info.get(_JOINS, [])
    ending = [j for j in joins if j.root is transaction]
    if not ending:
        return
    joins[:] = [j for j in joins if j.root is not transaction]
    for join in ending:
        join.when_host_ends(join.committed and not join.undone)


class SqlStorage:
    """Storage in a SQL database through SQLAlchemy 2.x.

    ``url`` is a SQLAlchemy URL: ``sqlite:///portalkit.db`` (the default) or
    ``postgresql://user@host/db`` (needs ``pip install "portalkit[postgres]"``); an engine you
    built yourself can be passed instead.
    """

    def __init__(
        self,
        url: str | Engine,
        *,
        echo: bool = False,
        table_prefix: str = "",
        database_schema: str | None = None,
    ) -> None:
        #: portalkit's tables under ``table_prefix`` (``portalkit_`` puts them beside a host's
        #: own ``customers`` and ``accounts``), in the PostgreSQL schema ``database_schema``.
        self.schema = schema_for(check_prefix(table_prefix), check_database_schema(database_schema))
        self.engine = url if isinstance(url, Engine) else _engine(url, echo)
        if database_schema is not None and self.engine.dialect.name != "postgresql":
            raise ConfigurationError(
                "PORTALKIT_DATABASE_SCHEMA: a schema needs PostgreSQL; on SQLite use "
                "PORTALKIT_TABLE_PREFIX"
            )

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> SqlStorage:
        """The storage ``PORTALKIT_DATABASE_URL`` and ``PORTALKIT_TABLE_PREFIX`` name."""
        return cls(
            settings.database_url,
            echo=settings.sql_echo,
            table_prefix=settings.table_prefix,
            database_schema=settings.database_schema or None,
        )

    @property
    def table_prefix(self) -> str:
        """The prefix of every table, index and constraint name of portalkit's."""
        return self.schema.prefix

    def read_rights_generation(self, vendor_id: UUID) -> int | None:
        """The vendor's rights generation (see :meth:`SqlUnitOfWork.rights_generation`) in one
        statement on a pooled connection, outside any unit of work: what every request's
        session check reads first, without a BEGIN and a COMMIT around it (one statement
        reads one committed state by itself). None when it cannot be read so — on an
        in-memory database's one shared connection, or after any database error — and the
        caller then reads it in a unit of work, which reports the error."""
        if isinstance(self.engine.pool, StaticPool):
            return None  # the one connection may be inside another unit of work's transaction
        try:
            with self.engine.connect() as conn:
                # Read by the SQLite "begin" hook: no BEGIN for this one statement.
                conn.info["portalkit_single_read"] = True
                try:
                    found = conn.execute(
                        _rights_generation_statement(self.schema), {"vendor_id": vendor_id}
                    ).scalar()
                finally:
                    # Never left for the pooled connection's next unit of work, which must
                    # begin a real transaction.
                    conn.info.pop("portalkit_single_read", None)
        except SQLAlchemyError:
            return None
        return int(found or 0)

    def read_session(
        self, vendor_id: UUID, session_id: UUID
    ) -> tuple[int, SessionRecord | None] | None:
        """The rights generation and the session in one statement on a pooled connection,
        outside any unit of work, as :meth:`read_rights_generation` reads the number alone:
        a request's session check then costs this one statement while the vendor's rights
        stand still. None when it cannot be read so."""
        if isinstance(self.engine.pool, StaticPool):
            return None
        try:
            with self.engine.connect() as conn:
                conn.info["portalkit_single_read"] = True
                try:
                    row = (
                        conn.execute(
                            _session_statement(self.schema),
                            {"vendor_id": vendor_id, "session_id": session_id},
                        )
                        .mappings()
                        .first()
                    )
                finally:
                    conn.info.pop("portalkit_single_read", None)
        except SQLAlchemyError:
            return None
        if row is None:
            return None
        generation = int(row["x_generation"] or 0)
        if row["id"] is None:
            return generation, None
        record: SessionRecord = FROM_ROW["sessions"](row)
        return generation, record

    def begin(self, *, read_only: bool = False) -> SqlUnitOfWork:
        """Start a unit of work on a connection from the pool (``read_only``: one that only
        reads, so on SQLite it neither waits for nor holds the write lock)."""
        return SqlUnitOfWork(self, read_only)

    def join(
        self, host: object, *, read_only: bool, when_host_ends: Callable[[bool], None]
    ) -> SqlUnitOfWork:
        """A unit of work inside the transaction of the host's SQLAlchemy ``Session``
        ``host`` (or ``scoped_session``; begun here if it has none yet), in a savepoint of
        its own.

        Committing the unit of work writes what is buffered and releases the savepoint;
        rolling it back undoes portalkit's part only. The host commits or rolls back the
        whole: then ``when_host_ends(committed)`` is called, once, after the database
        transaction is over. The session must be on this storage's database (on SQLite, on
        an engine portalkit built, such as :attr:`engine`, so that its transactions begin
        IMMEDIATE and savepoints work).
        """
        from sqlalchemy.orm import Session, scoped_session

        if isinstance(host, scoped_session):  # Flask-SQLAlchemy's db.session
            host = host()
        if not isinstance(host, Session):
            raise ConfigurationError(
                f"transaction(session=…) takes a SQLAlchemy Session, not {type(host).__name__}"
            )
        if isinstance(host.get_bind(), Connection):
            # Its commit may be no database commit (a transaction of the host's own around
            # it): the mail and the audit that wait for the commit would run too early.
            raise ConfigurationError(
                "transaction(session=…): the session is bound to a Connection, whose "
                "transaction it may not end; bind it to an Engine (portal.storage.engine)"
            )
        try:
            conn = host.connection()
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        self._check_host(conn)
        root = host.get_transaction()
        moved: tuple[Any, set[UUID]] | None = host.info.get(_MOVED)
        if moved is None or moved[0] is not root:
            moved = host.info[_MOVED] = (root, set())
        uow = SqlUnitOfWork(self, read_only, host=conn, host_moved=moved[1])
        joins: list[_Join] | None = host.info.get(_JOINS)
        if joins is None:
            # Listeners once per session (they cannot be removed while they run), each
            # handing the end of the host's transaction to the blocks that joined it.
            joins = host.info[_JOINS] = []
            event.listen(host, "after_commit", _host_committed)
            event.listen(host, "after_soft_rollback", _host_rolled_back)
            event.listen(host, "after_transaction_end", _host_ended)
        within: list[Any] = []
        nested = host.get_nested_transaction()
        while nested is not None and nested is not root:
            within.append(nested)
            nested = nested.parent
        joins.append(_Join(root, when_host_ends, within=tuple(within)))
        return uow

    def _check_host(self, conn: Connection) -> None:
        """Refuse a host connection portalkit's tables are not on, or one whose transactions
        would not hold: fail closed rather than write beside the host's transaction."""
        if conn.dialect.name not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"transaction(session=…): the session is on {conn.dialect.name}; portalkit "
                "joins transactions on SQLite and PostgreSQL only"
            )
        if conn.engine is self.engine:
            return
        where = _database_of(conn.engine.url)
        if where != _database_of(self.engine.url) or where[3] in ("", ":memory:"):
            raise ConfigurationError(
                "transaction(session=…): the session is on another database than the "
                "portal's storage (PORTALKIT_DATABASE_URL)"
            )
        if conn.dialect.name == "sqlite" and conn.engine not in _TUNED:
            raise ConfigurationError(
                "transaction(session=…): on SQLite, bind the session to portal.storage.engine "
                "(pysqlite's own transaction handling begins late and breaks savepoints)"
            )

    def upgrade_schema(self) -> None:
        """Run the Alembic migrations up to the newest one (under the table prefix, recorded
        in portalkit's own version table)."""
        self._migrate("upgrade", "head")

    def downgrade_schema(self, revision: str) -> None:
        """Undo portalkit's migrations down to ``revision`` (``"base"``: drop every table of
        portalkit's, and only those)."""
        self._migrate("downgrade", revision)

    def _migrate(self, direction: str, revision: str) -> None:
        from alembic import command
        from alembic.util import CommandError

        try:
            with self.engine.connect() as conn:
                sqlite = conn.dialect.name == "sqlite"
                if sqlite:
                    # Batch mode alters a SQLite table by copying it and dropping the old
                    # one, which stored rows referring to it forbid; the references are
                    # checked once at the end instead (SQLite allows this switch outside a
                    # transaction only).
                    conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
                try:
                    with conn.begin():
                        getattr(command, direction)(
                            alembic_config(
                                conn,
                                table_prefix=self.table_prefix,
                                database_schema=self.schema.database_schema,
                            ),
                            revision,
                        )
                        if sqlite:
                            self._check_references(conn)
                finally:
                    if sqlite:
                        conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
        except CommandError as exc:
            raise ConfigurationError(f"portalkit's migrations: {exc}") from None
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None

    def _check_references(self, conn: Connection) -> None:
        stored = set(inspect(conn).get_table_names())
        for table in self.schema.tables.values():
            if (
                table.name in stored
                and conn.exec_driver_sql(f'PRAGMA foreign_key_check("{table.name}")').first()
            ):
                raise StorageError(
                    f"the migrations left rows of {table.name} whose references do not hold; "
                    "nothing was changed"
                )

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def alembic_config(
    connection: Connection | None = None,
    url: str | None = None,
    *,
    table_prefix: str = "",
    database_schema: str | None = None,
) -> Any:
    """An Alembic configuration for portalkit's migrations, on a connection or a URL, for
    the tables under ``table_prefix`` (in the PostgreSQL schema ``database_schema``, created
    if missing). The revision is kept in a version table of
    portalkit's own (:func:`~portalkit.storage.sqlalchemy.rows.version_table_for`), so a
    host's Alembic, Flask-Migrate or Django migrations run beside them on one database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["portalkit_table_prefix"] = check_prefix(table_prefix)
    config.attributes["portalkit_database_schema"] = check_database_schema(database_schema)
    return config


def _engine(url: str, echo: bool) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "PORTALKIT_DATABASE_URL: not a database URL; use sqlite:///portalkit.db or "
            "postgresql://user@host/database"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"PORTALKIT_DATABASE_URL: {parsed.get_backend_name()!r} is not supported; "
            "use SQLite or PostgreSQL"
        )
    options: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "postgresql":
        options["pool_pre_ping"] = True
    elif parsed.database in (None, "", ":memory:"):
        # An in-memory SQLite database lives in one connection: share it.
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    try:
        engine = create_engine(parsed, **options)
    except (ModuleNotFoundError, NoSuchModuleError):
        raise ImproperlyInstalled("PostgreSQL storage", "postgres") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


# SQLite engines portalkit built (and so tuned): a host session joins a transaction only on one.
_TUNED: weakref.WeakSet[Engine] = weakref.WeakSet()


def _database_of(url: URL) -> tuple[object, ...]:
    """What names a database, whichever driver reaches it."""
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        database = os.path.realpath(database)
    return (url.get_backend_name(), url.host, url.port, database)


def _tune_sqlite(engine: Engine) -> None:
    _TUNED.add(engine)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: two deferred transactions that both try to
        # upgrade to writing would deadlock and one would fail with "database is locked". A
        # read-only one never upgrades, so it reads from its snapshot without the lock.
        read_only = conn.info.pop("portalkit_read_only", False)
        if conn.info.pop("portalkit_single_read", False):
            return  # one SELECT on its own (autocommit): it reads one committed state anyway
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def metadata(table_prefix: str = "", database_schema: str | None = None) -> Any:
    """The schema under ``table_prefix`` (in ``database_schema``) as SQLAlchemy MetaData (for
    comparing with the migrations)."""
    return schema_for(check_prefix(table_prefix), check_database_schema(database_schema)).metadata
