"""A conformance check for the host's own resource types: SQL, Python and ``can()`` agree.

portalkit decides who sees a record three ways — ``ctx.can(capability, record, resource)``,
``ctx.filter(records, resource)`` on an iterable and ``ctx.filter(select(...), resource)`` in
the database — and all three must say the same for *your* table: its column types, its NULLs,
its collation, its mapped attributes. :func:`check_resource_type` builds hostile worlds on your
portal (two vendors with the same look-alike customer codes, umbrella trees with inactive
customers in the middle, locations of neighbours and of the other vendor, main, extra and plain
logins in every status, every scope, customer and location grant), asks your row factory for
rows of your model — NULL customers and locations where the columns allow them, text that
differs from a condition's value only in case or by a wildcard — and asserts, for staff and
every member::

    {rows can() allows} == {rows the iterable filter keeps}
                        == {rows the SQL filter returns} == {rows ctx.select() returns}

and that nothing is seen across vendors, that ``ctx.select()`` names no hidden column, and
that ``ctx.redact()`` leaves no hidden field, nor a hidden field's value under another name::

    from portalkit.testing.conformance import check_resource_type

    def test_invoices_conform(portal, session):
        check_resource_type(
            portal, "invoices", session=session,
            make_row=lambda request: {"id": uuid4(), "number": "F-1", **request.fields},
        )

It needs hypothesis (``pip install "portalkit[test]"``). The worlds are derandomized: the same
``examples`` worlds every run, so a failure reproduces; the failing world's description is in
the error.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import attrs
from sqlalchemy import Column, Table, inspect, select
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.expression import FromClause

from portalkit.access import AccessContext, ResourceType
from portalkit.actors import Member, Staff, System
from portalkit.staffrights import STAFF_PERMISSIONS

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy
    from sqlalchemy.orm import Session

    from portalkit.customers.model import Customer, Location
    from portalkit.memberships.model import Membership
    from portalkit.portal import Portal
    from portalkit.vendors.model import Vendor

__all__ = [
    "DEFAULT_EXAMPLES",
    "BuiltVendor",
    "BuiltWorld",
    "RowRequest",
    "build",
    "check_resource_type",
    "check_world",
    "requests",
    "worlds",
]

DEFAULT_EXAMPLES = 20
"""How many worlds :func:`check_resource_type` tries unless told otherwise."""

SCOPES = ("own", "location", "customer", "tree")
# Customer codes that differ by a character a careless LIKE or a case-folding compare would
# ignore; both vendors use the same ones.
_CODES = ("ACME", "ACME_", "ACME-1", "ACM", "ACME-")


def _decides(ctx: AccessContext, capability: str, record: object, resource: str) -> bool:
    """The record-level decision the filters must agree with (one place to call it from)."""
    return ctx.allows(capability, record, resource)


def _hypothesis() -> Any:
    try:
        import hypothesis
    except ImportError as exc:  # pragma: no cover - the test extra brings it
        raise ImportError(
            "portalkit.testing.conformance needs hypothesis: pip install 'portalkit[test]'"
        ) from exc
    return hypothesis


# -- worlds: plain descriptions, drawn by hypothesis ---------------------------------------
def worlds(*resources: ResourceType) -> SearchStrategy[dict[str, Any]]:
    """A hypothesis strategy of plain world descriptions for ``resources``.

    A world is ``{"vendors": [vendor, vendor]}``; a vendor has ``customers`` (``parent``
    index or None, ``active``, ``locations``: a list of active flags), ``profiles`` (``caps``:
    drawn from the capabilities the resource types name; ``scopes``: a scope per resource
    type, or none for its default) and ``members`` (``home`` customer, ``kind`` main, extra or
    member, ``status`` active, invited or disabled, ``account_active``, ``profile`` index or
    None, customer ``grants`` below home, ``location_grants`` ``{(customer, k): "read" |
    "write"}``). :func:`build` makes it real.
    """
    st = _hypothesis().strategies
    pool = sorted(
        {
            capability
            for r in resources
            for capability in (
                r.view,
                *r.sensitive.values(),
                *r.nested_sensitive.values(),
                *r.conditions,
            )
        }
    )
    names = [r.name for r in resources]
    blind = sorted(
        set(pool)
        - {c for r in resources for c in (*r.sensitive.values(), *r.nested_sensitive.values())}
    )

    @st.composite  # type: ignore[untyped-decorator]
    def draw_world(draw: Any) -> dict[str, Any]:
        vendors: list[dict[str, Any]] = []
        for _ in range(2):
            n = draw(st.integers(1, 5))
            parents = [None] + [draw(st.sampled_from([None, *range(i)])) for i in range(1, n)]
            customers = [
                {
                    "parent": parents[i],
                    "active": draw(st.booleans()) or i == 0,
                    "locations": [draw(st.booleans()) for _ in range(draw(st.integers(0, 2)))],
                }
                for i in range(n)
            ]
            profiles = []
            for _ in range(draw(st.integers(1, 3))):
                scopes = {}
                for name in names:
                    scope = draw(st.sampled_from([None, *SCOPES]))
                    if scope is not None:
                        scopes[name] = scope
                profiles.append({"caps": draw(st.sets(st.sampled_from(pool))), "scopes": scopes})
            members = []
            mains: set[int] = set()
            for _ in range(draw(st.integers(1, 4))):
                home = draw(st.integers(0, n - 1))
                kind = draw(st.sampled_from(["member", "main", "extra"]))
                if kind == "main" and home in mains:
                    kind = "member"
                if kind == "extra" and home not in mains:
                    kind = "member"
                if kind == "main":
                    mains.add(home)
                below = [i for i in range(n) if _is_below(customers, i, home)]
                grants = sorted(draw(st.sets(st.sampled_from(below)))) if below else []
                places = [
                    (c, k) for c in [home, *grants] for k in range(len(customers[c]["locations"]))
                ]
                location_grants = (
                    draw(
                        st.dictionaries(
                            st.sampled_from(places), st.sampled_from(["read", "write"]), max_size=3
                        )
                    )
                    if places
                    else {}
                )
                members.append(
                    {
                        "home": home,
                        "kind": kind,
                        "status": draw(
                            st.sampled_from(["active", "active", "active", "invited", "disabled"])
                        ),
                        "account_active": draw(st.booleans()) or draw(st.booleans()),
                        "profile": draw(st.sampled_from([None, *range(len(profiles))])),
                        "grants": grants,
                        "location_grants": location_grants,
                    }
                )
            if not vendors:
                _add_probes(customers, profiles, members, pool, names, blind)
            vendors.append({"customers": customers, "profiles": profiles, "members": members})
        return {"vendors": vendors}

    strategy: SearchStrategy[dict[str, Any]] = draw_world()
    return strategy


def _add_probes(
    customers: list[dict[str, Any]],
    profiles: list[dict[str, Any]],
    members: list[dict[str, Any]],
    pool: list[str],
    names: list[str],
    blind: list[str],
) -> None:
    """One active login per scope at the first customer, so every world shows each scope at
    work whatever else was drawn: own, customer and tree without the sensitive capabilities
    (so redaction is tested on rows they see), location with all of them and grants on every
    location in reach; the customer scope reaches every customer below by customer grants."""
    below = [i for i in range(len(customers)) if _is_below(customers, i, 0)]
    places = [(c, k) for c in [0, *below] for k in range(len(customers[c]["locations"]))]
    for scope in SCOPES:
        profiles.append(
            {
                "caps": set(pool if scope == "location" else blind),
                "scopes": dict.fromkeys(names, scope),
            }
        )
        members.append(
            {
                "home": 0,
                "kind": "member",
                "status": "active",
                "account_active": True,
                "profile": len(profiles) - 1,
                "grants": below if scope in ("location", "customer") else [],
                "location_grants": (
                    {p: ("read", "write")[i % 2] for i, p in enumerate(places)}
                    if scope == "location"
                    else {}
                ),
            }
        )


def _is_below(customers: list[dict[str, Any]], child: int, ancestor: int) -> bool:
    parent = customers[child]["parent"]
    while parent is not None:
        if parent == ancestor:
            return True
        parent = customers[parent]["parent"]
    return False


# -- building a world through the public API -----------------------------------------------
@attrs.frozen
class BuiltVendor:
    """One vendor of a built world and what was made for it, in the description's order."""

    vendor: Vendor
    staff: Staff
    customers: list[Customer]
    locations: dict[tuple[int, int], Location]
    members: list[Membership]

    def member(self, membership: Membership) -> Member:
        """The actor of one of the vendor's memberships, as a host builds it after log-in."""
        return Member(
            vendor_id=membership.vendor_id,
            account_id=membership.account_id,
            membership_id=membership.id,
            customer_id=membership.customer_id,
        )


@attrs.frozen
class BuiltWorld:
    """A world description made real on a portal (two vendors side by side)."""

    portal: Portal
    spec: dict[str, Any]
    vendors: list[BuiltVendor]

    def contexts(self) -> Iterator[tuple[str, int, AccessContext]]:
        """(who, vendor index, context) for the staff, a vendor system actor and every member."""
        access = self.portal.access
        for v, vendor in enumerate(self.vendors):
            yield f"staff of vendor {v}", v, access.context(vendor.staff)
            yield (
                f"system actor of vendor {v}",
                v,
                access.context(System(vendor_id=vendor.vendor.id)),
            )
            for m, membership in enumerate(vendor.members):
                spec = self.spec["vendors"][v]["members"][m]
                yield (
                    f"member {m} of vendor {v} {spec}",
                    v,
                    access.context(vendor.member(membership)),
                )


# Vendor codes and login names unique across the worlds one process builds on a portal.
_serial = itertools.count(1)


def build(portal: Portal, spec: dict[str, Any]) -> BuiltWorld:
    """Make a world description (see :func:`worlds`) real on ``portal``: two new vendors,
    made through the public API as staff would make them."""
    vendors = []
    for vendor_spec in spec["vendors"]:
        code = f"conformance-{next(_serial)}"
        vendor = portal.vendors.create(System(), code=code, name=f"Vendor {code}")
        staff = Staff(
            vendor_id=vendor.id,
            user_id=f"staff-{code}",
            name="Staff",
            permissions=STAFF_PERMISSIONS,
        )
        customers: list[Customer] = []
        for i, c in enumerate(vendor_spec["customers"]):
            parent = customers[c["parent"]] if c["parent"] is not None else None
            customers.append(
                portal.customers.create(
                    staff,
                    code=_CODES[i] if i < len(_CODES) else f"ACME-{i}",
                    name=f"Customer {i}",
                    parent=parent,
                )
            )
        locations = {
            (c, k): portal.locations.create(staff, customer=customers[c], name=f"Site {c}.{k}")
            for c, c_spec in enumerate(vendor_spec["customers"])
            for k in range(len(c_spec["locations"]))
        }
        profiles = [
            portal.profiles.create(
                staff, name=f"Profile {i}", capabilities=p["caps"], scopes=p["scopes"]
            )
            for i, p in enumerate(vendor_spec["profiles"])
        ]
        members = []
        for i, m in enumerate(vendor_spec["members"]):
            home = customers[m["home"]]
            grants: dict[Any, Any] = {locations[p]: r for p, r in m["location_grants"].items()}
            members.append(
                portal.memberships.create(
                    staff,
                    customer=home,
                    account=portal.accounts.create(
                        staff, username=f"login{i}", email=f"login{i}@customer.example"
                    ),
                    contact=portal.contacts.create(
                        staff,
                        customer=home,
                        first_name="Kim",
                        last_name=f"Jansen {i}",
                        email=f"kim{i}@customer.example",
                    ),
                    kind=m["kind"],
                    status="invited" if m["status"] == "invited" else "active",
                    profile=profiles[m["profile"]] if m["profile"] is not None else None,
                    customer_grants=[customers[g] for g in m["grants"]],
                    location_grants=grants,
                )
            )
        # Switched off only once everything exists, as a vendor would over time: a main
        # account that goes off leaves its extra accounts behind.
        for m, membership in zip(vendor_spec["members"], members, strict=True):
            if m["status"] == "disabled":
                portal.memberships.deactivate(staff, membership.id)
            if not m["account_active"]:
                portal.accounts.deactivate(staff, membership.account_id)
        for c, c_spec in enumerate(vendor_spec["customers"]):
            if not c_spec["active"]:
                portal.customers.deactivate(staff, customers[c])
            for k, active in enumerate(c_spec["locations"]):
                if not active:
                    portal.locations.deactivate(staff, locations[(c, k)])
        vendors.append(BuiltVendor(vendor, staff, customers, locations, members))
    return BuiltWorld(portal, spec, vendors)


# -- rows: what the check asks the host's factory for --------------------------------------
@attrs.frozen
class RowRequest:
    """One row the check wants in the host's table.

    ``fields`` holds the values of every field the resource type names — customer, location,
    owner, vendor, condition fields and sensitive fields (a recognisable value each, so a
    leak shows) — keyed by the resource type's field names. The row factory returns the row
    with these values and its own NOT NULL and foreign-key columns filled: a mapping of
    column values, or an instance of a mapped model. ``vendor``, ``customer``, ``location``
    and ``owner`` say where the row sits in the world description (indices; ``location`` is
    ``(customer, k)`` of the row's vendor, ``owner`` ``(vendor, member)``; None for none, and
    for the other vendor's location or member, whose ids ``fields`` still holds), for a
    factory or an oracle that needs them.
    """

    fields: Mapping[str, Any]
    vendor: int
    customer: int | None
    location: tuple[int, int] | None
    owner: tuple[int, int] | None
    serial: int


def _model_columns(model: Any) -> dict[str, Column[Any]]:
    if isinstance(model, FromClause):
        return {key: column for key, column in model.c.items() if isinstance(column, Column)}
    mapper = inspect(model, raiseerr=False) if isinstance(model, type) else None
    if not isinstance(mapper, Mapper):
        raise TypeError(f"{model!r} is neither a SQLAlchemy Table nor a mapped class")
    return {
        attr.key: attr.columns[0]
        for attr in mapper.column_attrs
        if isinstance(attr.columns[0], Column)
    }


def _nullable(columns: Mapping[str, Column[Any]], field: str | None) -> bool:
    column = columns.get(field) if field else None
    return column is None or bool(column.nullable)


def _sentinel(column: Column[Any] | None, serial: int) -> Any:
    """A value no other field holds, of the column's type, or None when the type is unknown."""
    if column is None:
        return None
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return None
    if kind is str:
        length = getattr(column.type, "length", None) or 12
        return f"§{serial:06d}·hidden"[:length]
    if kind is int:
        return 1_900_000_000 + serial  # fits a 32-bit integer column
    if kind is Decimal:
        return Decimal(f"{7000 + serial}.37")
    if kind is float:
        return 7000.37 + serial
    if kind is UUID:
        return uuid4()
    return None


def _lookalikes(values: Sequence[object]) -> list[object]:
    """A condition's values, then text that a case-folding or wildcard compare would confuse
    with them, then one that is plainly not among them."""
    found: list[object] = list(values)
    for value in values:
        if isinstance(value, str) and value:
            found += [value.swapcase(), f"{value}%", f"_{value[1:]}", f" {value}"]
    if all(isinstance(value, str) for value in values):
        found.append("x-other")
    return list(dict.fromkeys(found))


def requests(
    built: BuiltWorld, resource: ResourceType, *, columns: Mapping[str, Column[Any]] | None = None
) -> list[RowRequest]:
    """The rows the check puts in the host's table for one world.

    Every customer of both vendors (and no customer, where the column allows NULL) × no
    location, each of its own locations, a neighbour's and the other vendor's × no owner,
    each member of the vendor and a member of the other vendor; condition fields cycle through
    their values and look-alikes. Fields the resource type does not name do not multiply.
    """
    columns = columns if columns is not None else _model_columns(resource.model)
    condition_values = {
        field: _lookalikes(sorted({v for c in conds for v in c.values}, key=repr))
        for field, conds in itertools.groupby(
            sorted(resource.conditions.values(), key=lambda c: c.field), key=lambda c: c.field
        )
    }
    found: list[RowRequest] = []
    serial = itertools.count()
    for v, vendor in enumerate(built.vendors):
        other = built.vendors[1 - v] if len(built.vendors) > 1 else None
        homes: list[int | None] = list(range(len(vendor.customers)))
        if _nullable(columns, resource.customer_field):
            homes.append(None)
        for c in homes:
            places: list[tuple[tuple[int, int] | None, UUID | None]] = [(None, None)]
            if resource.location_field is not None:
                if not _nullable(columns, resource.location_field):
                    places = []
                places += [(key, loc.id) for key, loc in vendor.locations.items() if key[0] == c]
                neighbour = next(
                    ((key, loc.id) for key, loc in vendor.locations.items() if key[0] != c), None
                )
                if neighbour is not None:
                    places.append(neighbour)
                if other is not None and other.locations:
                    places.append((None, next(iter(other.locations.values())).id))
            owners: list[tuple[tuple[int, int] | None, UUID | None]] = [(None, None)]
            if resource.owner_field is not None:
                if not _nullable(columns, resource.owner_field):
                    owners = []
                owners += [((v, m), ms.account_id) for m, ms in enumerate(vendor.members)]
                if other is not None and other.members:
                    owners.append((None, other.members[0].account_id))
            for (place, location_id), (owner, account_id) in itertools.product(places, owners):
                n = next(serial)
                fields: dict[str, Any] = {
                    resource.customer_field: vendor.customers[c].id if c is not None else None
                }
                if resource.location_field is not None:
                    fields[resource.location_field] = location_id
                if resource.owner_field is not None:
                    fields[resource.owner_field] = account_id
                if resource.vendor_field is not None:
                    fields[resource.vendor_field] = vendor.vendor.id
                for field, values in condition_values.items():
                    fields[field] = values[n % len(values)]
                for field in resource.sensitive:
                    value = _sentinel(columns.get(field), n)
                    if value is not None:
                        fields[field] = value
                found.append(RowRequest(fields, v, c, place, owner, n))
    return found


# -- the check -----------------------------------------------------------------------------
class _Rows:
    """The host's rows as read back from the database, keyed by primary key."""

    def __init__(self, resource: ResourceType, session: Session) -> None:
        model = resource.model
        self.orm = not isinstance(model, FromClause)
        table = model if not self.orm else inspect(model).local_table
        self.key_columns = list(table.primary_key.columns)
        if not self.key_columns:
            raise ValueError(f"{resource.name!r}: the check needs a primary key on the model")
        self.session = session
        self.model = model

    def key(self, row: Any) -> tuple[Any, ...]:
        if self.orm and not isinstance(row, Mapping):
            identity = inspect(row).identity
            assert identity is not None  # flushed before it is read
            return tuple(identity)
        return tuple(row[c] for c in self.key_columns)

    def all(self) -> list[Any]:
        result = self.session.execute(select(self.model))
        return list(result.scalars() if self.orm else result.mappings())

    def keys(self, query: Any) -> set[tuple[Any, ...]]:
        result = self.session.execute(query)
        return {self.key(r) for r in (result.scalars() if self.orm else result.mappings())}

    def narrowed(self, query: Any) -> list[Any]:
        # Through the connection: an ORM select comes back as rows of the columns it names,
        # so a column that left the database shows, identity map or not.
        return list(self.session.connection().execute(query).mappings())


def _value(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


def _insert(resource: ResourceType, session: Session, made: list[Any]) -> None:
    model = resource.model
    if isinstance(model, Table):
        if not all(isinstance(row, Mapping) for row in made):
            raise TypeError(f"{resource.name!r}: make_row must return mappings for a Table")
        if made:
            session.execute(model.insert(), [dict(row) for row in made])
    else:
        session.add_all([model(**row) if isinstance(row, Mapping) else row for row in made])
    session.flush()


def _leaks(value: Any, hidden: frozenset[str], secrets: set[Any], path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, Mapping):
        for k, item in value.items():
            where = f"{path}.{k}" if path else str(k)
            if k in hidden:
                found.append(f"hidden field {where!r} is present")
            found += _leaks(item, hidden, secrets, where)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found += _leaks(item, hidden, secrets, f"{path}[{i}]")
    elif (not isinstance(value, bool) and value in secrets) or (
        isinstance(value, str) and any(isinstance(s, str) and s in value for s in secrets)
    ):
        found.append(f"the value of a hidden field shows at {path!r}")
    return found


def check_world(
    built: BuiltWorld,
    resource: str | ResourceType,
    *,
    session: Session,
    make_row: Callable[[RowRequest], Any],
) -> None:
    """Put one world's rows in the host's table, check every context on them, roll back.

    Raises AssertionError naming the context, the capability and the rows where the
    decisions part.
    """
    kind = built.portal.access.resource(resource)
    if kind.model is None:
        raise ValueError(f"{kind.name!r} has no model: register it with model= to check it")
    columns = _model_columns(kind.model)
    wanted = requests(built, kind, columns=columns)
    rows = _Rows(kind, session)
    labels = {
        customer.id: f"customer {c} ({customer.code}) of vendor {v}"
        for v, vendor in enumerate(built.vendors)
        for c, customer in enumerate(vendor.customers)
    }
    for v, vendor in enumerate(built.vendors):
        labels[vendor.vendor.id] = f"vendor {v}"
        labels.update(
            {loc.id: f"location {key} of vendor {v}" for key, loc in vendor.locations.items()}
        )
        labels.update(
            {ms.account_id: f"member {m} of vendor {v}" for m, ms in enumerate(vendor.members)}
        )
    vendor_customers = [{c.id for c in vendor.customers} for vendor in built.vendors]
    secrets_of = {
        field: {r.fields[field] for r in wanted if field in r.fields} for field in kind.sensitive
    }
    try:
        _insert(kind, session, [make_row(r) for r in wanted])
        stored = rows.all()
        by_key = {rows.key(r): r for r in stored}

        def show(keys: set[tuple[Any, ...]]) -> str:
            return "; ".join(
                ", ".join(
                    f"{name}={labels.get(value, value) if isinstance(value, UUID) else value}"
                    for name in (
                        kind.customer_field,
                        kind.location_field,
                        kind.owner_field,
                        kind.vendor_field,
                        *(c.field for c in kind.conditions.values()),
                    )
                    if name is not None
                    for value in [_value(by_key[k], name)]
                )
                for k in sorted(keys, key=repr)[:5]
            )

        checked_hidden: set[frozenset[str]] = set()
        for who, v, ctx in built.contexts():
            checks: list[tuple[str | None, str, bool]] = [
                (None, kind.view, kind.view not in kind.conditions)
            ]
            for conditional in sorted(kind.conditions):
                writes = built.portal.access.capabilities[conditional].writes
                checks.append((conditional, conditional, not writes))
            for capability, decided, exact in checks:
                allowed = {rows.key(r) for r in stored if _decides(ctx, decided, r, kind.name)}
                in_python = {
                    rows.key(r) for r in ctx.filter(stored, kind.name, capability=capability)
                }
                in_sql = rows.keys(ctx.filter(select(kind.model), kind.name, capability=capability))
                narrowed_rows = rows.narrowed(ctx.select(kind.name, capability=capability))
                narrowed = {rows.key(r) for r in narrowed_rows}
                hidden = ctx.hidden_fields(kind.name)
                # A column select's rows are keyed by column name, which may differ from the
                # attribute (field) name.
                hidden_columns = hidden | {columns[f].name for f in hidden if f in columns}
                what = f"{kind.name}: {who}, filter(capability={capability!r})"
                assert in_python == in_sql, (
                    f"{what}: only in SQL: {show(in_sql - in_python)} | "
                    f"only in Python: {show(in_python - in_sql)} | {ctx.explain(decided)}"
                )
                assert narrowed == in_sql, f"{what}: ctx.select() returns other rows than filter()"
                if exact:
                    assert allowed == in_sql, (
                        f"{what}: the database returns {show(in_sql - allowed)} which can() "
                        f"refuses, and misses {show(allowed - in_sql)} which can() allows | "
                        f"{ctx.explain(decided)}"
                    )
                else:
                    assert allowed <= in_sql, (
                        f"{what}: can() allows {show(allowed - in_sql)} the filter hides"
                    )
                for row in narrowed_rows:
                    shown = set(row.keys())
                    fetched = shown & hidden_columns
                    assert not fetched, f"{what}: ctx.select() fetches {fetched}"
                vendor_id = built.vendors[v].vendor.id
                for k in allowed | in_sql:
                    record = by_key[k]
                    customer = _value(record, kind.customer_field)
                    if kind.vendor_field is not None:
                        assert _value(record, kind.vendor_field) == vendor_id, (
                            f"{what}: sees a row of another vendor: {show({k})}"
                        )
                    assert customer in vendor_customers[v] or (
                        customer is None and kind.vendor_field is not None
                    ), f"{what}: sees a row of another vendor's customer: {show({k})}"
            hidden = ctx.hidden_fields(kind.name)
            if hidden in checked_hidden:
                continue  # redaction depends on the hidden fields alone
            checked_hidden.add(hidden)
            secrets = {s for f in hidden & set(secrets_of) for s in secrets_of[f]}
            for record in stored:
                leaks = _leaks(ctx.redact(record, kind.name), hidden, secrets)
                assert not leaks, f"{kind.name}: redact() for {who}: {leaks[0]}"
    finally:
        session.rollback()
        session.expunge_all()


def check_resource_type(
    portal: Portal,
    resource: str | ResourceType,
    *,
    session: Session,
    make_row: Callable[[RowRequest], Any],
    examples: int = DEFAULT_EXAMPLES,
    shrink: bool = False,
) -> None:
    """Check a registered resource type on ``examples`` hostile worlds (see the module).

    ``session`` is a SQLAlchemy session on the database that holds the model's table; each
    world's rows are flushed in it and rolled back, portalkit's own records (vendors,
    customers, logins) are made through ``portal`` and stay. ``make_row`` turns a
    :class:`RowRequest` into a row (a mapping of column values, or a model instance) with the
    request's fields and the host's own NOT NULL and foreign-key columns. The first failing
    world is reported as found; ``shrink=True`` makes hypothesis look for the smallest one
    first, which takes minutes.

    Raises AssertionError with the failing world; call it from a plain test function (not
    from a hypothesis test).
    """
    hypothesis = _hypothesis()
    kind = portal.access.resource(resource)
    if kind.model is None:
        raise ValueError(f"{kind.name!r} has no model: register it with model= to check it")
    phases = list(hypothesis.Phase)
    if not shrink:
        phases = [p for p in phases if p is not hypothesis.Phase.shrink]

    @hypothesis.settings(  # type: ignore[untyped-decorator]
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        report_multiple_bugs=False,
        phases=phases,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(spec=worlds(kind))  # type: ignore[untyped-decorator]
    def conforms(spec: dict[str, Any]) -> None:
        check_world(build(portal, spec), kind.name, session=session, make_row=make_row)

    conforms()
