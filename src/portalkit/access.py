"""Access control: who may see and do what, decided once per request.

A host app registers its own data as *resource types* (where a record's customer, location and
owner are, which capability views it, which fields are sensitive), then builds an
:class:`AccessContext` per request and asks it::

    portal.access.register_resource(ResourceType(
        "invoices", view="invoices.view", location_field="site_id",
        sensitive={"amount": "prices.view"}, model=InvoiceRow,
    ))
    ctx = portal.access.context(actor)          # at most two queries
    ctx.require("invoices.view")                # PermissionDenied if not
    rows = session.execute(ctx.filter(select(InvoiceRow), "invoices")).scalars()
    shown = [ctx.redact(row, "invoices") for row in rows]

Everything is denied unless a rule grants it: a disabled or invited membership, a disabled
account, an inactive customer, an extra account whose main account is inactive, a membership
without a profile — each yields a context that can do nothing, and :meth:`AccessContext.explain`
says why.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import functools
import importlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import NEVER_BY_TOKEN, refuse_token, require_admin, who
from portalkit._service import ident
from portalkit._spreadsheet import safe_cell
from portalkit.actors import Actor, Member, Staff, System
from portalkit.errors import Message, NotFound, PermissionDenied, Problem, ValidationError
from portalkit.mail.inline import logo_src
from portalkit.memberships.model import MembershipKind, MembershipStatus
from portalkit.profiles.model import Scope
from portalkit.staffrights import IMPERSONATE, StaffPermission

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.outbox.delivery import Outbox
    from portalkit.sessions.model import SessionRecord
    from portalkit.storage.base import MemberFacts, UnitOfWork

__all__ = [
    "BUILTIN_CAPABILITIES",
    "BUILTIN_RESOURCE_TYPES",
    "CONTEXT_REUSE",
    "FACTS_KEPT",
    "MAX_DEPTH",
    "AccessContext",
    "AccessService",
    "Capability",
    "Condition",
    "Predicate",
    "ResourceType",
]

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")


@attrs.frozen
class Capability:
    """One thing a member may do. ``writes`` marks actions that change data (refused under a
    read-only context and needing write rights at a location)."""

    name: str
    description: str = ""
    writes: bool = False


BUILTIN_CAPABILITIES: tuple[Capability, ...] = (
    Capability("orders.view", "see orders"),
    Capability("orders.create", "place orders", writes=True),
    Capability("invoices.view", "see invoices and download them"),
    Capability("quotes.view", "see quotes (and be told about new ones)"),
    Capability("prices.view", "see prices and rates anywhere"),
    Capability("export", "export lists to CSV"),
    Capability("carrier.view", "see the carrier that executes an order"),
    Capability("documents.view", "see documents shared with the customer"),
    Capability("assets.view", "see assets and upcoming asset services"),
    Capability("jobs.view_completed", "see completed jobs"),
    Capability("jobs.view_status", "see the status of open jobs"),
    Capability("jobs.download", "download a job's forms, quotes and invoices"),
    Capability("work_requests.create", "file work requests", writes=True),
    Capability("tickets.view", "see tickets"),
    Capability("tickets.create", "file tickets", writes=True),
    Capability("shop.order", "order from the shop", writes=True),
    Capability("quotes.request", "ask for a quote", writes=True),
    Capability(
        "orders.approve", "approve or reject the customer's orders that need approval", writes=True
    ),
    Capability("logbook.view", "read the pest-control logbook"),
    Capability("logbook.write", "change recommendations and send messages", writes=True),
    Capability("members.manage", "create logins and set their rights", writes=True),
)
"""The capabilities every portal knows; host apps add their own."""

BUILTIN_RESOURCE_TYPES: tuple[str, ...] = (
    "assets",
    "documents",
    "invoices",
    "jobs",
    "logbook",
    "memberships",
    "orders",
    "quotes",
    "tickets",
    "work_requests",
)
"""Resource type names every portal knows, registered or not: those the built-in capabilities
and the :mod:`~portalkit.presets` speak of, and ``memberships`` (portalkit's own logins, whose
scope bounds delegated administration). A profile may scope them in any process."""


@attrs.frozen
class Condition:
    """A rule on a record's own field: a capability applies only where it holds.

    Example: a job's documents download only once the job is completed::

        Condition("status", {"completed"})
    """

    field: str
    values: frozenset[object] = attrs.field(converter=frozenset)

    def holds(self, record: object) -> bool:
        """Whether the record's field has one of the values."""
        return _field(record, self.field) in self.values


@attrs.frozen
class ResourceType:
    """Host data registered with portalkit: where its customer, location and owner are.

    ``view`` is the capability that shows a record at all; ``sensitive`` maps a field to the
    capability needed to see it (``{"amount": "prices.view"}``); ``conditions`` maps a
    capability to a :class:`Condition` on the record; ``owner_field`` holds the account id of
    the member who created the record (for the ``own`` scope); ``vendor_field``, if the table
    has one, lets staff filters stay inside the vendor without a customer list; ``model`` is
    the SQLAlchemy model class or ``Table`` that :meth:`AccessContext.filter` puts its
    ``WHERE`` on. Records may be mappings or objects.

    With a ``model``, every field named here must be one of its columns (or mapped
    attributes), so a typo fails at registration instead of showing a field to everyone. A
    sensitive field that lives only inside nested values — the unit price of order lines kept
    in a JSON column — goes in ``nested_sensitive`` instead: checked against nothing, and
    removed at any depth like the others::

        ResourceType("orders", view="orders.view", model=OrderRow,
                     sensitive={"total": "prices.view"},
                     nested_sensitive={"unit_price": "prices.view"})
    """

    name: str
    view: str
    customer_field: str = "customer_id"
    location_field: str | None = None
    owner_field: str | None = None
    vendor_field: str | None = None
    sensitive: Mapping[str, str] = attrs.field(factory=dict)
    conditions: Mapping[str, Condition] = attrs.field(factory=dict)
    default_scope: Scope = Scope.CUSTOMER
    model: Any = attrs.field(default=None, eq=False, repr=False)
    nested_sensitive: Mapping[str, str] = attrs.field(factory=dict)

    def hidden_without(self, capabilities: frozenset[str]) -> frozenset[str]:
        """The field names (top-level and nested) hidden from someone holding ``capabilities``."""
        return frozenset(
            field
            for fields in (self.sensitive, self.nested_sensitive)
            for field, needed in fields.items()
            if needed not in capabilities
        )


@attrs.frozen
class Predicate:
    """Which records one context may see of one resource type, in a form both Python and SQL
    filtering use, so the two can never disagree.

    ``None`` in a set means "no limit on this"; ``nothing`` means no record at all.
    """

    nothing: bool = False
    vendor: UUID | None = None
    customers: frozenset[UUID] | None = None
    locations: frozenset[UUID] | None = None
    owner: UUID | None = None
    conditions: tuple[Condition, ...] = ()

    def matches(self, record: object, resource: ResourceType) -> bool:
        """Whether the record passes; any error reading it denies (fail closed)."""
        if self.nothing:
            return False
        try:
            if (
                self.vendor is not None
                and _field(record, resource.vendor_field or "") != self.vendor
            ):
                return False
            if (
                self.customers is not None
                and _field(record, resource.customer_field) not in self.customers
            ):
                return False
            if self.locations is not None and (
                resource.location_field is None
                or _field(record, resource.location_field) not in self.locations
            ):
                return False
            if self.owner is not None and (
                resource.owner_field is None or _field(record, resource.owner_field) != self.owner
            ):
                return False
            # A loop, not all(...): a generator per record cost more than the checks.
            for condition in self.conditions:  # noqa: SIM110
                if not condition.holds(record):
                    return False
            return True
        except Exception:
            return False


_NOTHING = Predicate(nothing=True)
_SCOPE_ORDER = list(Scope)  # narrowest first
_MISSING = object()


def _never(_record: object) -> bool:
    return False


def _visibility_check(predicate: Predicate, kind: ResourceType) -> Callable[[object], bool]:
    """``predicate.matches`` for one resource type as a one-argument function; the common
    predicate (customers only) as a closure of a single membership test."""
    if predicate.nothing:
        return _never
    if predicate.customers is not None and predicate == Predicate(customers=predicate.customers):
        field, allowed = kind.customer_field, predicate.customers

        def by_customer(record: object) -> bool:
            try:
                if type(record) is dict:
                    return record[field] in allowed
                return _field(record, field) in allowed
            except Exception:  # unreadable or unhashable: denied, as in Predicate.matches
                return False

        return by_customer
    return functools.partial(predicate.matches, resource=kind)


def _field(record: object, name: str) -> Any:
    if type(record) is dict or isinstance(record, Mapping):
        value = record.get(name, _MISSING)
    else:
        value = getattr(record, name, _MISSING)
    if value is _MISSING:
        raise LookupError(name)
    return value


class _Decisions(dict[str, bool]):
    """Capability name to "held?", for every registered capability; any other name is an
    error (fail closed), raised only on a miss so that a hit stays one C-level look-up."""

    __slots__ = ()

    def __missing__(self, capability: object) -> bool:
        raise ValidationError.single(
            "capability",
            "unknown",
            "{name} is not a registered capability",
            name=v.shown(capability),
        )


class AccessContext:
    """What one actor may see and do, computed once per request.

    Build it with ``portal.access.context(actor)``; it holds no connection and is cheap to
    query: :meth:`can` is a set look-up.
    """

    def __init__(
        self,
        access: AccessService,
        actor: Actor,
        *,
        capabilities: frozenset[str],
        denied: str | None,
        staff: bool = False,
        customers: Mapping[Scope, frozenset[UUID]] | None = None,
        location_read: frozenset[UUID] | None = None,
        location_write: frozenset[UUID] | None = None,
        location_reach: frozenset[UUID] = frozenset(),
        scopes: Mapping[str, Scope] | None = None,
        profile_name: str | None = None,
        notes: tuple[str, ...] = (),
        read_only: bool = False,
    ) -> None:
        self._access = access
        #: The actor this context was built for.
        self.actor = actor
        #: When it was built (the portal's clock): passed as the actor of a portalkit call,
        #: it stands for its actor for :data:`CONTEXT_REUSE`, then that call builds afresh.
        self.built_at = access.now()
        #: Why the actor can do nothing at all, or None.
        self.denied = denied
        #: Capabilities held (empty when denied).
        self.capabilities = frozenset() if denied else capabilities
        #: Whether this is vendor staff (or a vendor system actor), who see the whole vendor.
        self.staff = staff and not denied
        #: True when changes are refused (view as customer without write permission).
        self.read_only = read_only
        self._customers = customers or {}
        #: Locations the member may read, or None when locations do not limit it.
        self.location_read = location_read
        #: Locations the member may write at (a subset of ``location_read``), or None.
        self.location_write = location_write
        # The active locations of the customers in the member's widest scope: outside them no
        # location answers yes, granted or not (deny by default). Staff look theirs up lazily.
        self._location_reach = location_reach
        self._staff_places: dict[object, bool] = {}
        self._scopes = scopes or {}
        self._profile_name = profile_name
        self._notes = notes
        self._predicates: dict[tuple[str, str | None], Predicate] = {}
        writes = {c.name for c in access.capabilities.values() if c.writes}
        self._can = self.capabilities - writes if read_only else self.capabilities
        # One dict answers both "held?" and "known at all?" in a single look-up; its own
        # bound __getitem__ is can(): a C-level call, no Python frame (see can below).
        self._decisions = _Decisions({name: name in self._can for name in access.capabilities})
        self.can = self._decisions.__getitem__
        # allows(capability, record, resource) by resource name, then capability: the
        # record check prepared once, so each further record costs one call.
        self._checks: dict[str, dict[str, Callable[[object], bool]]] = {}

    def built_by(self, access: AccessService) -> bool:
        """Whether this context was built by ``access`` (one portal's ``portal.access``)."""
        return self._access is access

    # -- decisions --------------------------------------------------------------------------
    can: Callable[[str], bool]
    """``ctx.can(capability)``: whether the actor holds ``capability`` at all (False under a
    read-only view for a capability that writes). An unregistered capability raises
    ValidationError (code ``unknown``), never answers False.

    It is the hot path of every page, so it is prepared when the context is built as a
    C-level callable (a dict's own look-up): as fast as a hand-written ``cap in caps``. It
    takes the capability only; for one record or at one location use :meth:`allows`. A
    capability is a name in your code, never input: a value that cannot be a dictionary key
    (a list) raises TypeError, as any dictionary look-up does.
    """

    def allows(
        self,
        capability: str,
        record: object = None,
        resource: str | ResourceType | None = None,
        *,
        location: UUID | None = None,
    ) -> bool:
        """Whether the actor may use ``capability`` on ``record`` of ``resource`` (visible to
        it, the capability's condition holding) and at ``location`` if given (write
        capabilities need write rights there when locations limit the member).

        Without a record or location it answers like :attr:`can`. The check for a
        ``(capability, resource name)`` pair is prepared on first use, so looping over
        records costs one call per record.
        """
        if record is not None and location is None:
            try:
                check = self._checks[resource][capability]  # type: ignore[index]
            except (KeyError, TypeError):  # not prepared yet, or a ResourceType given
                pass
            else:
                return check(record)
        if not self._decisions[capability]:  # an unknown capability raises here
            prepared = record is not None and location is None and type(resource) is str
            if prepared and resource in self._access.resources:
                self._checks.setdefault(resource, {})[capability] = _never
            return False
        if location is not None and not self._at_location(capability, location):
            return False
        if record is None:
            return True
        kind = self._access.resource(resource) if resource is not None else None
        if kind is None:
            raise ValidationError.single("resource", "required", "name the record's resource type")
        if location is not None:
            # The location given stands for the record's own: only visibility is left.
            return self.predicate(kind, capability).matches(record, kind)
        check = self._record_check(capability, kind)
        if type(resource) is str:
            self._checks.setdefault(resource, {})[capability] = check
        return check(record)

    def _record_check(self, capability: str, kind: ResourceType) -> Callable[[object], bool]:
        """The record half of :meth:`allows` for one capability and resource type, for a
        capability the context holds."""
        visible = _visibility_check(self.predicate(kind, capability), kind)
        field = kind.location_field
        if field is None or not self._is_write(capability):
            return visible

        def check(record: object) -> bool:
            if not visible(record):
                return False
            try:
                place = _field(record, field)
            except LookupError:
                return False
            if place is None:  # a record at no location: only location grants forbid that
                return self.location_read is None
            return self._at_location(capability, place)

        return check

    def require(
        self,
        capability: str,
        record: object = None,
        resource: str | ResourceType | None = None,
        *,
        location: UUID | None = None,
    ) -> None:
        """Like :meth:`allows`, but raise PermissionDenied (with the reason) instead of False.

        The refusal is also an ``authz_fail`` event in the audit log (target
        ``require:<capability>``), written after the caller's transaction ends, whichever way.
        """
        if not self.allows(capability, record, resource, location=location):
            denied = PermissionDenied(self.explain(capability, record, resource, location=location))
            self._access.vendor.refused(self.actor, f"require:{capability}", denied)
            raise denied

    def _is_write(self, capability: str) -> bool:
        found = self._access.capabilities.get(capability)
        return bool(found and found.writes)

    def _at_location(self, capability: str, location: object) -> bool:
        if not isinstance(location, UUID):
            return False  # no location id at all (a list, a text, ...): no right there
        if self.staff:
            return self._vendor_place(location)
        if self.location_read is None:
            return location in self._location_reach
        allowed = self.location_write if self._is_write(capability) else self.location_read
        return location in (allowed or ())

    def _vendor_place(self, location: object) -> bool:
        # Staff reach every location of their vendor; loading them all at context build would
        # cost a large vendor a big read per request, so each location asked about is looked
        # up once, when first asked, and remembered for the context's life (one request).
        known = self._staff_places.get(location)
        if known is None:
            known = self._staff_places[location] = isinstance(
                location, UUID
            ) and self._access.vendor.has_location(self.actor, location)
        return known

    def scope(self, resource: str) -> Scope:
        """How far this member sees ``resource`` (registered or not; customer by default)."""
        kind = self._access.resources.get(resource)
        default = kind.default_scope if kind else Scope.CUSTOMER
        return Scope.TREE if self.staff else self._scopes.get(resource, default)

    def reach(self, resource: str) -> frozenset[UUID]:
        """The customers whose ``resource`` records this member reaches (its scope's set).

        For staff, every customer of the vendor.
        """
        if self.denied:
            return frozenset()
        if self.staff:
            return self._access.vendor.customers(self.actor)
        return self._customers.get(self.scope(resource), frozenset())

    def predicate(self, resource: str | ResourceType, capability: str | None = None) -> Predicate:
        """The filter for records of ``resource`` this context may see (and may use
        ``capability`` on, when given: its condition is added)."""
        kind = self._access.resource(resource)
        key = (kind.name, capability)
        found = self._predicates.get(key)
        if found is None:
            found = self._predicates[key] = self._build_predicate(kind, capability)
        return found

    def _build_predicate(self, kind: ResourceType, capability: str | None) -> Predicate:
        if self.denied or kind.view not in self.capabilities:
            return _NOTHING
        conditions: tuple[Condition, ...] = ()
        if capability is not None:
            if capability not in self._can:
                return _NOTHING
            condition = kind.conditions.get(capability)
            conditions = (condition,) if condition else ()
        if self.staff:
            if kind.vendor_field:
                return Predicate(vendor=self.actor.vendor_id, conditions=conditions)
            return Predicate(
                customers=self._access.vendor.customers(self.actor), conditions=conditions
            )
        scope = self._scopes.get(kind.name, kind.default_scope)
        customers = self._customers.get(scope, frozenset())
        locations = self.location_read
        if scope is Scope.LOCATION and locations is None:
            return _NOTHING  # location scope with no location granted: nothing to see
        if kind.location_field is None:
            if scope is Scope.LOCATION:
                return _NOTHING
            locations = None  # the records have no location, so grants cannot narrow them
        owner = None
        if scope is Scope.OWN:
            if kind.owner_field is None:
                return _NOTHING
            assert isinstance(self.actor, Member)
            owner = self.actor.account_id
        return Predicate(
            customers=customers, locations=locations, owner=owner, conditions=conditions
        )

    # -- filtering, redaction, export -------------------------------------------------------
    def filter(
        self, query: Any, resource: str | ResourceType, *, capability: str | None = None
    ) -> Any:
        """Narrow ``query`` to what this context may see of ``resource``.

        A SQLAlchemy ``Select`` gets a ``WHERE`` (the database filters; nothing is loaded to
        be filtered here); any other iterable is filtered in Python and a list returned.
        """
        kind = self._access.resource(resource)
        predicate = self.predicate(kind, capability)
        # Looked up on the type: on an instance, selected_columns builds the column collection.
        if hasattr(type(query), "where") and hasattr(type(query), "selected_columns"):
            if kind.model is None:
                raise ValidationError.single(
                    "resource",
                    "no_model",
                    "register {name!r} with model= to filter SQL queries",
                    name=kind.name,
                )
            # Imported by name: the core never imports a concrete backend.
            sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
            return sql.apply(query, kind, predicate)
        return [record for record in query if predicate.matches(record, kind)]

    def latest(
        self,
        query: Any,
        resource: str | ResourceType,
        *,
        order_by: Any,
        limit: int = 50,
        capability: str | None = None,
    ) -> Any:
        """The newest ``limit`` records by ``order_by`` this context may see, as a select.

        Same rows as ``filter(query, …).order_by(order_by.desc()).limit(limit)``, but for a
        member who reaches several customers each customer is read through its own index
        range, so the cost stays with the rows returned however large the table grows.
        """
        kind = self._access.resource(resource)
        if not (hasattr(type(query), "where") and hasattr(type(query), "selected_columns")):
            raise ValidationError.single("query", "not_select", "must be a SQLAlchemy select")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError.single("limit", "out_of_range", "must be 1 to 1000")
        sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
        return sql.latest(query, kind, self.predicate(kind, capability), order_by, limit)

    def hidden_fields(self, resource: str | ResourceType | None = None) -> frozenset[str]:
        """Field names this context may not see, for one resource type or for all of them."""
        kinds = (
            [self._access.resource(resource)]
            if resource is not None
            else list(self._access.resources.values())
        )
        return frozenset().union(*(kind.hidden_without(self.capabilities) for kind in kinds))

    def redact(self, record: Any, resource: str | ResourceType | None = None) -> Any:
        """The record without the fields this context may not see, at any depth.

        Mappings, attrs and dataclass instances, named tuples, database rows (SQLAlchemy's
        and ``sqlite3.Row``), slotted and plain objects come back as dicts (lists, tuples and
        sets as lists); a hidden field is absent, not blank. Anything else that is not a plain
        value (text, bytes, numbers, booleans, None, UUIDs, dates and times, enum members),
        and a record nested deeper than :data:`MAX_DEPTH` levels or holding itself, raises
        ValidationError: nothing passes through unlooked-at.
        """
        hidden = self.hidden_fields(resource)
        return _strip(record, hidden)

    def visible_fields(
        self, resource: str | ResourceType, fields: Iterable[str] | None = None
    ) -> list[str]:
        """The field names a heading may show for ``resource``, in order: ``fields`` (the
        heading's candidates) or, without them, the columns of the resource's model — less
        those this context may not see. Unknown names are an error, not a silent column."""
        kind = self._access.resource(resource)
        hidden = self.hidden_fields(kind)
        if fields is None:
            if kind.model is None:
                raise ValidationError.single(
                    "fields",
                    "required",
                    "name the fields of {resource}: it has no model",
                    resource=repr(kind.name),
                )
            sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
            names: list[str] = sql.column_names(kind.model) or []
        else:
            names = list(fields) if not isinstance(fields, str) else [fields]
            bad = [n for n in names if not isinstance(n, str)]
            if kind.model is not None:
                sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
                known = sql.field_names(kind.model) or frozenset()
                bad += [n for n in names if isinstance(n, str) and n not in known]
            if bad:
                raise ValidationError(
                    Problem(
                        "fields",
                        "unknown",
                        "{name} is not a field of {resource}",
                        {"name": v.shown(n), "resource": repr(kind.name)},
                    )
                    for n in bad
                )
        if kind.model is not None:
            # A synonym of a hidden field, or a column computed from one, is that field again.
            sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
            hidden = hidden | sql.aliases(kind, hidden)
        return [name for name in dict.fromkeys(names) if name not in hidden]

    def columns(self, resource: str | ResourceType) -> list[Any]:
        """The columns of the resource's model this context may see, in table order, for a
        select of your own (``select(*ctx.columns("invoices"))``): a rate the member may not
        see is then never fetched. A sensitive field that is no column is an error."""
        kind = self._access.resource(resource)
        sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
        return sql.visible_columns(kind, self.hidden_fields(kind))  # type: ignore[no-any-return]

    def select(self, resource: str | ResourceType, *, capability: str | None = None) -> Any:
        """A SQLAlchemy select of the ``resource`` records this context may see, with only the
        columns it may see: :meth:`filter` and :meth:`columns` in one.

        For a mapped class the select returns its objects, the hidden columns deferred so that
        they are not fetched and reading one raises; for a ``Table``, rows of the visible
        columns. Add ``order_by``, ``limit`` and further ``where`` as usual.
        """
        kind = self._access.resource(resource)
        return _visible_select(kind, self.predicate(kind, capability), self.hidden_fields(kind))

    def export(self, records: Iterable[Any], resource: str | ResourceType, stream: IO[str]) -> int:
        """Write the visible records as CSV with only the fields this context may see.

        Needs the ``export`` capability. Cells that a spreadsheet would run as a formula are
        defused with a leading apostrophe. Returns the number of rows written.
        """
        self.require("export")
        rows = [self.redact(r, resource) for r in self.filter(records, resource)]
        if not all(isinstance(row, dict) for row in rows):
            raise ValidationError.single(
                "records", "not_records", "each record to export must have named fields"
            )
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns and not isinstance(row[k], dict | list)]
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: safe_cell(row.get(k)) for k in columns})
        return len(rows)

    # -- explanation ------------------------------------------------------------------------
    def explain(
        self,
        capability: str,
        record: object = None,
        resource: str | ResourceType | None = None,
        *,
        location: UUID | None = None,
    ) -> str:
        """Say in words which profile, grant or rule decides ``allows(...)``."""
        allowed = self.allows(capability, record, resource, location=location)
        if self.denied:
            return Message("denied: {reason}", reason=self.denied)
        if self.staff:
            if location is not None and not self._at_location(capability, location):
                return Message(
                    "denied: location {location} is not a location of this vendor",
                    location=_place(location),
                )
            if not allowed:
                return Message("denied: the record does not belong to a customer of this vendor")
            return Message("allowed: vendor staff act in every customer of their vendor")
        if capability not in self.capabilities:
            if capability == "prices.view" and self._notes:
                return Message("denied: {reasons}", reasons=Message.joined(self._notes))
            return Message(
                "denied: profile {profile!r} does not grant {capability}",
                profile=self._profile_name,
                capability=capability,
            )
        if capability not in self._can:
            return Message(
                "denied: {capability} changes data and this view is read-only",
                capability=capability,
            )
        reasons: list[str] = [
            Message(
                "profile {profile!r} grants {capability}",
                profile=self._profile_name,
                capability=capability,
            )
        ]
        if location is not None and not self._at_location(capability, location):
            if location not in self._location_reach:
                return Message(
                    "denied: location {location} is not an active location of a "
                    "customer in the member's reach",
                    location=_place(location),
                )
            if self._is_write(capability):
                return Message(
                    "denied: no write right at location {location}", location=_place(location)
                )
            return Message(
                "denied: no read right at location {location}", location=_place(location)
            )
        if record is not None and resource is not None:
            kind = self._access.resource(resource)
            scope = self._scopes.get(kind.name, kind.default_scope)
            reasons.append(
                Message(
                    "{resource} are seen per {scope}",
                    resource=kind.name,
                    scope=Message(scope.value),
                )
            )
            if not allowed:
                why = self._why_not(kind, capability, record)
                return Message("denied: {reasons}", reasons=Message.joined([*reasons, why]))
        if allowed:
            return Message("allowed: {reasons}", reasons=Message.joined(reasons))
        return Message("denied: {reasons}", reasons=Message.joined(reasons))

    def _why_not(self, kind: ResourceType, capability: str, record: object) -> str:
        predicate = self.predicate(kind, capability)
        if predicate.nothing:
            return Message(
                "nothing of {resource} is visible (needs {capability})",
                resource=kind.name,
                capability=kind.view,
            )
        checks = [
            (
                predicate.customers,
                kind.customer_field,
                Message("the record is hidden: its customer is outside the member's reach"),
            ),
            (
                predicate.locations,
                kind.location_field,
                Message("the record is hidden: its location is not granted"),
            ),
        ]
        for allowed, field, text in checks:
            try:
                if allowed is not None and field and _field(record, field) not in allowed:
                    return text
            except LookupError:
                return Message("the record has no field {field!r}", field=field)
        if predicate.owner is not None:
            return Message("the record is hidden: the member sees only its own")
        for condition in predicate.conditions:
            return Message(
                "the record is hidden: {field} must be one of {choices}",
                field=condition.field,
                choices=", ".join(sorted(map(str, condition.values))),
            )
        return Message("no write right at the record's location")

    def __repr__(self) -> str:
        state = (
            f"denied={self.denied!r}"
            if self.denied
            else f"capabilities={sorted(self.capabilities)}"
        )
        return f"AccessContext(actor={self.actor!r}, {state})"


MAX_DEPTH = 100
"""How deep :meth:`AccessContext.redact` follows nested records before refusing them."""

# Values that hold no fields: returned as they are. Everything else is taken apart into a
# dict or a list, or refused — never passed through unlooked-at (fail closed).
_SCALARS = (str, bytes, int, float, Decimal, type(None), UUID, date, time, timedelta, enum.Enum)


def _place(location: object) -> str:
    return str(location) if isinstance(location, UUID) else v.shown(location)


def _strip(value: Any, hidden: frozenset[str]) -> Any:
    """``value`` as plain dicts, lists and scalars without the ``hidden`` keys, or
    ValidationError for a shape that cannot be taken apart, a cycle, or too deep a nesting."""
    try:
        return _walk(value, hidden, 0, set())
    except ValidationError:
        raise
    except Exception as exc:  # a property or lazy load of the host's record failed
        raise ValidationError.single(
            "record",
            "unreadable",
            "could not be read for redaction ({type})",
            type=type(exc).__name__,
        ) from exc


def _walk(value: Any, hidden: frozenset[str], depth: int, path: set[int]) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if depth >= MAX_DEPTH:
        raise ValidationError.single(
            "record", "too_deep", "is nested more than {limit} levels deep", limit=MAX_DEPTH
        )
    if id(value) in path:
        raise ValidationError.single("record", "cyclic", "refers to itself")
    path.add(id(value))
    try:
        fields = _fields_of(value)
        if isinstance(fields, list):
            return [_walk(v, hidden, depth + 1, path) for v in fields]
        return {k: _walk(v, hidden, depth + 1, path) for k, v in fields.items() if k not in hidden}
    finally:
        path.discard(id(value))


def _fields_of(value: Any) -> Mapping[Any, Any] | list[Any]:
    """The named fields of a record (a mapping) or the items of a collection (a list)."""
    if isinstance(value, Mapping):
        return value
    row_mapping = getattr(value, "_mapping", None)
    if isinstance(row_mapping, Mapping):  # a SQLAlchemy Row
        return row_mapping
    if isinstance(value, sqlite3.Row):
        return {k: value[k] for k in value.keys()}  # noqa: SIM118 (a Row is no mapping)
    as_dict = getattr(value, "_asdict", None) if isinstance(value, tuple) else None
    if callable(as_dict):  # collections.namedtuple, typing.NamedTuple
        named: Mapping[Any, Any] = as_dict()
        return named
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, type):
        raise _unsupported(value)
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    found: dict[str, Any] = {}
    state = getattr(value, "__dict__", None)
    slots = [
        name
        for cls in type(value).__mro__
        for name in _slot_names(cls)
        if name not in ("__dict__", "__weakref__")
    ]
    if not isinstance(state, dict) and not slots:
        raise _unsupported(value)
    for name in slots:
        if hasattr(value, name):
            found[name] = getattr(value, name)
    if isinstance(state, dict):
        found.update(state)
    # Private attributes are the object's machinery (an ORM's state), not its data.
    return {k: v for k, v in found.items() if not (isinstance(k, str) and k.startswith("_"))}


def _slot_names(cls: type) -> tuple[str, ...]:
    slots = cls.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _unsupported(value: object) -> ValidationError:
    return ValidationError.single(
        "record",
        "unsupported_shape",
        "{type!r} values cannot be redacted: give mappings, attrs or dataclass "
        "instances, named tuples, database rows, plain objects, lists or plain values",
        type=type(value).__name__,
    )


def _missing_columns(resource: ResourceType) -> list[Problem]:
    """Problems for each field a resource type names that its model lacks."""
    if resource.model is None:
        return []  # records as mappings or objects: nothing to check the names against
    # Read by the SQLAlchemy filters module, loaded by name: the core imports no backend.
    sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
    columns: frozenset[str] | None = sql.field_names(resource.model)
    if columns is None:
        return [
            Problem("model", "not_model", "must be a SQLAlchemy mapped class or Table, or None")
        ]
    named = [
        ("customer_field", resource.customer_field),
        ("location_field", resource.location_field),
        ("owner_field", resource.owner_field),
        ("vendor_field", resource.vendor_field),
        *(("sensitive", name) for name in resource.sensitive),
        *(("conditions", c.field) for c in resource.conditions.values()),
    ]
    return [
        Problem(
            field,
            "unknown",
            "{name} is not a column of the model (a field inside nested values goes in "
            "nested_sensitive)",
            {"name": v.shown(name)},
        )
        if field == "sensitive"
        else Problem(
            field, "unknown", "{name} is not a column of the model", {"name": v.shown(name)}
        )
        for field, name in named
        if name is not None and name not in columns
    ]


CONTEXT_REUSE = timedelta(seconds=10)
"""How long an access context passed as the actor of a portalkit call stands for its actor.

A context is meant for one request: build it once (``portal.auth.session_context`` or
``portal.access.context``) and pass it to every call of the request instead of the actor, so
none of them reads the member's rights again. One kept longer — by mistake, in a global — is
not trusted for more than this: the call then reads the rights afresh.
"""

FACTS_KEPT = 10_000
"""How many memberships' access facts one portal keeps for :meth:`AccessService.member_facts`
with ``reuse=True`` (a few kilobytes each); beyond it, the older half is read again."""


_SELECTS_KEPT = 1_000
"""How many filtered selects (``AccessContext.select``) are kept for reuse."""
# Selects built before, by (resource type, predicate, hidden fields): the key is the whole
# decision, so a change of rights makes another key, never a stale answer.
_selects: dict[tuple[int, Predicate, frozenset[str]], tuple[ResourceType, Any]] = {}
_selects_lock = threading.Lock()


def _visible_select(kind: ResourceType, predicate: Predicate, hidden: frozenset[str]) -> Any:
    # A select is immutable (order_by and where make new ones), so one built for the same
    # decision serves every request that makes it; building it cost more than running it.
    key = (id(kind), predicate, hidden)
    kept = _selects.get(key)
    if kept is not None and kept[0] is kind:
        return kept[1]
    sql = importlib.import_module("portalkit.storage.sqlalchemy.filters")
    query = sql.visible_select(kind, predicate, hidden)
    with _selects_lock:
        if len(_selects) >= _SELECTS_KEPT:
            _selects.clear()
        _selects[key] = (kind, query)  # the type kept too, so its id is not reused
    return query


class AccessService:
    """Capabilities, resource types and access contexts. Reached as ``portal.access``."""

    def __init__(self, rt: Runtime, *, outbox: Outbox) -> None:
        self._rt = rt
        self._outbox = outbox
        # The context passed as the actor of the running portal call, if one was.
        self._adopted: ContextVar[AccessContext | None] = ContextVar(
            f"portalkit-context-{id(self)}", default=None
        )
        #: Vendor-wide look-ups for access contexts.
        self.vendor = VendorLookups(rt)
        self._lock = threading.Lock()
        #: Every known capability by name (built-ins and the host's own).
        self.capabilities: dict[str, Capability] = {c.name: c for c in BUILTIN_CAPABILITIES}
        #: Every registered resource type by name.
        self.resources: dict[str, ResourceType] = {}
        self._declared: frozenset[str] = frozenset(BUILTIN_RESOURCE_TYPES)
        # Facts read before, by (vendor, membership): (storage, rights generation, facts).
        self._facts: dict[tuple[UUID, UUID], tuple[object, int, MemberFacts | None]] = {}

    def register_capability(
        self, name: str, description: str = "", *, writes: bool = False
    ) -> Capability:
        """Add a capability of the host app (``"contracts.view"``); names are a-z, 0-9, _ and dots."""
        problems: list[Problem] = []
        if not isinstance(name, str) or len(name) > 100 or not _NAME_RE.fullmatch(name):
            problems.append(
                Problem(
                    "name",
                    "invalid_name",
                    "{name} is not a capability name",
                    {"name": v.shown(name)},
                )
            )
        description = v.text(problems, "description", description, required=False, max_length=500)
        writes = v.boolean(problems, "writes", writes)
        v.raise_if(problems)
        capability = Capability(name, description, writes)
        with self._lock:
            known = self.capabilities.get(name)
            if known is not None and known != capability:
                raise ValidationError.single(
                    "name",
                    "taken",
                    "capability {name!r} is already registered differently",
                    name=name,
                )
            self.capabilities = {**self.capabilities, name: capability}
        return capability

    def register_resource(self, resource: ResourceType) -> ResourceType:
        """Register host data; every capability it names must be registered first, and with a
        ``model`` every field it names must be a column of it. Registering makes the name a
        known resource type (see :meth:`declare_resource_types`)."""
        if not isinstance(resource, ResourceType):
            raise ValidationError.single("resource", "not_resource", "must be a ResourceType")
        problems: list[Problem] = []
        if not isinstance(resource.name, str) or not _NAME_RE.fullmatch(resource.name):
            problems.append(
                Problem(
                    "name",
                    "invalid_name",
                    "{name} is not a resource type name",
                    {"name": v.shown(resource.name)},
                )
            )
        named = [
            resource.view,
            *resource.sensitive.values(),
            *resource.nested_sensitive.values(),
            *resource.conditions,
        ]
        problems += [
            Problem(
                "capability",
                "unknown",
                "{name} is not a registered capability",
                {"name": v.shown(n)},
            )
            for n in named
            if n not in self.capabilities
        ]
        problems += _missing_columns(resource)
        v.raise_if(problems)
        with self._lock:
            self.resources = {**self.resources, resource.name: resource}
            self._declared = self._declared | {resource.name}
        return resource

    def declare_resource_types(self, *names: str) -> None:
        """Make resource type names known without registering their data.

        Profiles may only scope known resource types, so that a typo (``"order"`` for
        ``"orders"``) is an error when the profile is made rather than a scope that never
        applies. Known are :data:`BUILTIN_RESOURCE_TYPES`, every registered resource type,
        and the names declared here. A process that creates or changes profiles without
        registering the host's data — a CLI, a worker — declares the host's names first::

            portal.access.declare_resource_types("contracts", "visits")
        """
        problems = [
            Problem(
                "names", "invalid_name", "{name} is not a resource type name", {"name": v.shown(n)}
            )
            for n in names
            if not isinstance(n, str) or len(n) > 100 or not _NAME_RE.fullmatch(n)
        ]
        v.raise_if(problems)
        with self._lock:
            self._declared = self._declared | frozenset(names)

    @property
    def resource_types(self) -> frozenset[str]:
        """Every known resource type name: built-in, registered or declared."""
        return self._declared

    def check_resource_types(self, names: Iterable[str]) -> list[str]:
        """The names among ``names`` that are not known resource types."""
        return sorted(n for n in names if n not in self._declared)

    def resource(self, resource: str | ResourceType) -> ResourceType:
        """The registered resource type of this name (or the type itself)."""
        if isinstance(resource, ResourceType):
            return resource
        found = self.resources.get(resource) if isinstance(resource, str) else None
        if found is None:
            raise ValidationError.single(
                "resource",
                "unknown",
                "{name} is not a registered resource type",
                name=v.shown(resource),
            )
        return found

    def check_capabilities(self, names: Iterable[str]) -> list[str]:
        """The names among ``names`` that are not registered capabilities."""
        return sorted(n for n in names if n not in self.capabilities)

    def now(self) -> datetime:
        """The portal clock's time (what access contexts are stamped with)."""
        return self._rt.clock.now()

    @property
    def adopter(self) -> Callable[[object], tuple[Actor, Callable[[], None]] | None]:
        """What lets an access context stand for its actor in one portalkit call; the portal
        gives it to every service's calls (see :meth:`Runtime.watch
        <portalkit._runtime.Runtime.watch>`)."""
        return self._adopt

    def _adopt(self, value: object) -> tuple[Actor, Callable[[], None]] | None:
        # The actor to call with and what to call after; None for anything but a context.
        # A context built by another portal is refused, never taken for its actor.
        if not isinstance(value, AccessContext):
            return None
        if not value.built_by(self):
            raise ValidationError.single(
                "actor", "foreign_context", "is an access context of another portal"
            )
        token = self._adopted.set(value)
        return value.actor, lambda: self._adopted.reset(token)

    @contextmanager
    def using(self, context: AccessContext) -> Iterator[AccessContext]:
        """Inside the block, every portalkit call whose actor is ``context.actor`` reuses
        ``context`` instead of reading the member's rights again — what passing the context
        itself as the actor does for one call, for code that passes actors (and is typed so).

        An adapter enters it for the whole request, right after
        :meth:`AuthService.session_context <portalkit.auth.AuthService.session_context>`::

            ctx = portal.auth.session_context(vendor, session_value)
            with portal.access.using(ctx):
                portal.customers.get(ctx.actor, ctx.actor.customer_id)   # no rights read

        The same limits hold: :data:`CONTEXT_REUSE`, the end of a view as customer, and a
        context of another portal is refused.
        """
        adopted = self._adopt(context)
        if adopted is None:
            raise ValidationError.single("context", "not_context", "must be an AccessContext")
        try:
            yield context
        finally:
            adopted[1]()

    def context(self, actor: Actor | AccessContext) -> AccessContext:
        """Everything ``actor`` may see and do, read from storage in at most two queries.

        Given the context itself (or called inside a portalkit call that was given it), the
        same context comes back, without a query, while it is younger than
        :data:`CONTEXT_REUSE` and, for a view as customer, the view has not ended.
        """
        actor = who(actor)
        adopted = self._adopted.get()
        if adopted is not None and adopted.actor is actor and self._still_good(adopted):
            return adopted
        if not isinstance(actor, Member):
            if actor.vendor_id is None:
                return AccessContext(
                    self,
                    actor,
                    capabilities=frozenset(),
                    denied=Message("the platform actor works on vendors only"),
                )
            return AccessContext(
                self, actor, capabilities=frozenset(self.capabilities), denied=None, staff=True
            )
        if self._ended(actor):
            return self._member_context(actor, None)
        return self._member_context(actor, self.member_facts(actor.vendor_id, actor.membership_id))

    def _ended(self, actor: Member) -> bool:
        return actor.expires_at is not None and self._rt.clock.now() >= actor.expires_at

    def _still_good(self, context: AccessContext) -> bool:
        now = self._rt.clock.now()
        if not context.built_at <= now < context.built_at + CONTEXT_REUSE:
            return False
        expires = getattr(context.actor, "expires_at", None)
        return expires is None or now < expires

    def member_facts(
        self, vendor_id: UUID, membership_id: UUID, *, reuse: bool = False
    ) -> MemberFacts | None:
        """What a decision about one membership needs, in one read-only transaction (two
        queries on SQL storage); None for a membership the vendor does not have.

        ``reuse=True`` (what every request's session check does) first reads the vendor's
        rights generation, one small query (on SQL storage outside a transaction: that one
        statement and nothing else), and hands back the facts this process read before
        while it has not moved: a committed change of any customer, location, account,
        membership or profile of the vendor moves it, in any process. Facts are kept for at
        most :data:`FACTS_KEPT` memberships.
        """
        quick = None
        if reuse:
            # Outside any transaction, the number alone in one statement: while it stands,
            # the kept facts are all there is to read (no BEGIN, no COMMIT).
            quick = self._rt.quick_rights_generation(vendor_id)
            kept = self._facts.get((vendor_id, membership_id))
            if quick is not None and kept is not None and kept[:2] == (self._rt.storage, quick):
                return kept[2]
        with self._rt.transaction(read_only=True) as uow:
            if not reuse:
                return uow.member_facts(vendor_id, membership_id)
            return self._kept_or_read(uow, vendor_id, membership_id, quick)

    def session_facts(
        self, vendor_id: UUID, session_id: UUID
    ) -> tuple[SessionRecord | None, MemberFacts | None]:
        """A session's record and the facts of its membership, as :meth:`member_facts` with
        ``reuse=True`` reads them: on SQL storage the record comes in the one statement that
        reads the rights generation, so while the vendor's rights stand still a request's
        session check costs that one statement. (None, None) for a session the vendor does
        not have."""
        quick = self._rt.quick_session(vendor_id, session_id)
        generation: int | None = None
        record: SessionRecord | None = None
        if quick is not None:
            generation, record = quick
            if record is None:
                return None, None
            kept = self._facts.get((vendor_id, record.membership_id))
            if kept is not None and kept[:2] == (self._rt.storage, generation):
                return record, kept[2]
        with self._rt.transaction(read_only=True) as uow:
            if quick is None:
                record = uow.sessions.get(vendor_id, session_id)
            if record is None:
                return None, None
            return record, self._kept_or_read(uow, vendor_id, record.membership_id, generation)

    def _kept_or_read(
        self, uow: UnitOfWork, vendor_id: UUID, membership_id: UUID, quick: int | None
    ) -> MemberFacts | None:
        storage = self._rt.storage
        # Read before the facts: facts newer than their number are only read again (the
        # quick number was read before this transaction began, so before them too).
        generation = quick if quick is not None else uow.rights_generation(vendor_id)
        key = (vendor_id, membership_id)
        kept = self._facts.get(key)
        if kept is not None and generation is not None and kept[:2] == (storage, generation):
            return kept[2]
        facts = uow.member_facts(vendor_id, membership_id)
        if generation is not None:
            with self._lock:
                if len(self._facts) >= FACTS_KEPT:
                    # The oldest half goes: a dict keeps insertion order.
                    for old in list(self._facts)[: FACTS_KEPT // 2]:
                        del self._facts[old]
                self._facts[key] = (storage, generation, facts)
        return facts

    def context_from_facts(self, actor: Member, facts: MemberFacts | None) -> AccessContext:
        """The context of a member from facts read by :meth:`member_facts` (for a caller that
        needs the facts too, such as session validation), without reading them again."""
        if not isinstance(who(actor), Member):
            raise ValidationError.single("actor", "not_member", "must be a Member actor")
        return self._member_context(actor, facts)

    def _member_context(self, actor: Member, facts: MemberFacts | None) -> AccessContext:
        def deny(reason: str) -> AccessContext:
            return AccessContext(self, actor, capabilities=frozenset(), denied=reason)

        if self._ended(actor):
            return deny(Message("the view-as-customer session has ended"))
        if (
            facts is None
            or facts.membership.account_id != actor.account_id
            or facts.membership.customer_id != actor.customer_id
        ):
            return deny(Message("the membership does not exist"))
        membership, customer, profile = facts.membership, facts.customer, facts.profile
        if membership.status is not MembershipStatus.ACTIVE:
            return deny(
                Message("the membership is {status}", status=Message(membership.status.value))
            )
        if not facts.account_active:
            return deny(Message("the account is disabled"))
        if not customer.active:
            return deny(Message("customer {code} is inactive", code=customer.code))
        if membership.kind is MembershipKind.EXTRA and not facts.main_active:
            return deny(Message("the main account of {code} is not active", code=customer.code))
        if profile is None:
            return deny(Message("the membership has no permission profile"))
        capabilities = frozenset(profile.capabilities)
        notes: list[str] = []
        if not customer.settings.show_prices and "prices.view" in capabilities:
            capabilities -= {"prices.view"}
            notes.append(Message("customer {code} has prices switched off", code=customer.code))
        if actor.token_id is not None:
            # The membership's rights as they are now, narrowed to the token's: a membership
            # narrowed later narrows its tokens at their next use.
            capabilities &= actor.token_capabilities - NEVER_BY_TOKEN
            notes.append(Message("an access token: only its own capabilities"))
        # The active part of the tree: a child under an inactive customer is out of reach too.
        children: dict[UUID, list[UUID]] = {}
        for child, parent, active in facts.subtree:
            if active and parent is not None:
                children.setdefault(parent, []).append(child)
        reachable, todo = {customer.id}, [customer.id]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in reachable:  # a cycle in stored data ends here too
                    reachable.add(child)
                    todo.append(child)
        granted = frozenset(membership.customer_grants) & reachable
        near = frozenset({customer.id}) | granted
        customers = {
            Scope.OWN: frozenset({customer.id}),
            Scope.LOCATION: near,
            Scope.CUSTOMER: near,
            Scope.TREE: frozenset(reachable),
        }
        # Without a resource type to go by, a location is within reach when it belongs to a
        # customer of the widest scope this member sees anything with.
        widest = max(
            [*profile.scopes.values(), *(r.default_scope for r in self.resources.values())],
            key=_SCOPE_ORDER.index,
            default=Scope.CUSTOMER,
        )
        location_reach = frozenset(
            lid
            for lid, (owner, active) in facts.locations.items()
            if active and owner in customers[widest]
        )
        location_read = location_write = None
        if membership.location_grants:
            usable = {
                lid for lid, (owner, active) in facts.locations.items() if active and owner in near
            }
            location_read = frozenset(
                g.location_id for g in membership.location_grants if g.location_id in usable
            )
            location_write = frozenset(
                g.location_id
                for g in membership.location_grants
                if g.location_id in usable and g.can_write
            )
        return AccessContext(
            self,
            actor,
            capabilities=capabilities,
            denied=None,
            customers=customers,
            location_read=location_read,
            location_write=location_write,
            location_reach=location_reach,
            scopes=profile.scopes,
            profile_name=profile.name,
            notes=tuple(notes),
            read_only=actor.read_only,
        )

    def delegated_admin(
        self, actor: Actor, permission: StaffPermission, /, *alternatives: StaffPermission
    ) -> AccessContext | None:
        """Check that ``actor`` may administer logins: None for vendor system actors and for
        staff holding the staff ``permission`` (or one of ``alternatives``), the member's
        context for a member holding ``members.manage``; PermissionDenied for anyone else (and
        for read-only views)."""
        actor = who(actor)
        refuse_token(actor)
        if not isinstance(actor, Member):
            require_admin(actor, permission, *alternatives)
            return None
        if actor.impersonator is not None:
            raise PermissionDenied(
                "logins and rights are never changed while viewing the portal as a customer"
            )
        context = self.context(actor)
        if not context.can("members.manage"):
            raise PermissionDenied(context.explain("members.manage"))
        return context

    def view_as(
        self,
        staff: Staff,
        membership: Any,
        *,
        reason: str,
        minutes: int = 30,
        allow_writes: bool = False,
        notify_member: bool = False,
    ) -> Member:
        """Let vendor staff see the portal exactly as a member does ("view as customer").

        Needs ``"impersonate"`` in the staff actor's permissions and an active membership.
        The returned actor sees what the member sees, redaction included; it is read-only
        unless ``allow_writes`` (and even then never changes logins or rights), and it stops
        working after ``minutes``. Start and reason are written to the audit log with both
        identities; call :meth:`end_view_as` when done. With ``notify_member`` the member is
        told by mail (in its language, with the reason).
        """

        if not isinstance(who(staff), Staff) or IMPERSONATE not in staff.permissions:
            raise PermissionDenied("viewing as a customer needs the staff permission 'impersonate'")
        problems: list[Problem] = []
        why = v.text(problems, "reason", reason, max_length=500)
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 480:
            problems.append(Problem("minutes", "out_of_range", "must be 1 to 480 minutes"))
        if not isinstance(notify_member, bool):
            problems.append(Problem("notify_member", "not_boolean", "must be true or false"))
        if not isinstance(allow_writes, bool):
            problems.append(Problem("allow_writes", "not_boolean", "must be true or false"))
        membership_id = ident("membership", membership)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            facts = uow.member_facts(staff.vendor_id, membership_id)
            if facts is None:
                raise NotFound("membership", membership_id)
            target = facts.membership
            plain = Member(
                vendor_id=target.vendor_id,
                account_id=target.account_id,
                membership_id=target.id,
                customer_id=target.customer_id,
            )
            denied = self._member_context(plain, facts).denied
            if denied:
                raise PermissionDenied("cannot view as this member: {reason}", reason=denied)
            actor = attrs.evolve(
                plain,
                impersonator=staff.user_id,
                read_only=not allow_writes,
                expires_at=self._rt.clock.now() + timedelta(minutes=minutes),
            )
            self._rt.record(
                uow,
                vendor_id=staff.vendor_id,
                action="impersonation_start",
                real=staff,
                effective=actor,
                customer_id=target.customer_id,
                target=f"membership:{target.id}",
                reason=why,
                minutes=minutes,
                allow_writes=allow_writes,
            )
            if notify_member:
                account = uow.accounts.get(target.vendor_id, target.account_id)
                person = uow.contacts.get(target.vendor_id, target.contact_id)
                assert account is not None and person is not None  # foreign keys hold
                self._outbox.send_template(
                    System(vendor_id=staff.vendor_id, reason="view as customer"),
                    to=account.email,
                    template="view_as_notice",
                    language=account.language,
                    name=person.full_name,
                    reason=why,
                    minutes=minutes,
                    customer_name=facts.customer.name,
                    logo_url=logo_src(facts.customer.branding),
                )
        return actor

    def end_view_as(self, actor: Member) -> None:
        """Record the end of a view-as-customer session in the audit log."""

        if not isinstance(who(actor), Member) or actor.impersonator is None:
            raise ValidationError.single(
                "actor", "not_impersonation", "this actor is not a view-as-customer session"
            )
        staff = Staff(vendor_id=actor.vendor_id, user_id=actor.impersonator)
        with self._rt.transaction() as uow:
            self._rt.record(
                uow,
                vendor_id=actor.vendor_id,
                action="impersonation_end",
                real=staff,
                effective=actor,
                customer_id=actor.customer_id,
                target=f"membership:{actor.membership_id}",
            )

    def live(self, actor: Actor) -> None:
        """Refuse a member whose login no longer works (disabled, customer off, expired view,
        main account off for an extra): PermissionDenied with the reason. Staff pass."""
        if isinstance(who(actor), Member):
            context = self.context(actor)
            if context.denied:
                raise PermissionDenied(context.denied)

    def memberships(self, actor: Member) -> list[Any]:
        """The active memberships of the actor's account, one per customer it may switch to.

        A customer that requires single sign-on is none (but for the actor's own): its logins
        start only from its own provider, never from a password log-in somewhere else."""
        refuse_token(actor)
        if not isinstance(who(actor), Member):
            raise ValidationError.single(
                "actor", "not_member", "only a member can switch customers"
            )
        with self._rt.transaction() as uow:
            found = uow.memberships.list(
                actor.vendor_id,
                where={"account_id": actor.account_id, "status": MembershipStatus.ACTIVE},
            )
            others = {m.customer_id for m in found} - {actor.customer_id}
            sso = uow.sso_configs.list_in(actor.vendor_id, "customer_id", others)
            barred = {c.customer_id for c in sso if c.required and c.active}
            # A customer that is switched off is no place to switch to.
            return [
                m
                for m in found
                if m.customer_id not in barred
                and (owner := uow.customers.get(actor.vendor_id, m.customer_id))
                and owner.active
            ]

    def switch(self, actor: Member, customer: Any) -> Member:
        """The actor for working in another customer the same account is an active member of.

        A view-as-customer actor stays with the customer it was started for (PermissionDenied).
        """

        customer_id = ident("customer", customer)
        refuse_token(actor)  # a token is bound to one membership
        if actor.impersonator is not None and customer_id != actor.customer_id:
            # A view as customer was started, with its reason, for one membership; another
            # customer's member is viewed only through a view-as of its own (audited, told).
            raise PermissionDenied(
                "a view as customer shows one membership: start one for the other customer"
            )
        for membership in self.memberships(actor):
            if membership.customer_id == customer_id:
                return attrs.evolve(actor, membership_id=membership.id, customer_id=customer_id)
        raise NotFound("customer", customer_id)


class VendorLookups:
    """What an access context looks up about its vendor when a check needs it, and where it
    records a refusal. Reached as ``portal.access.vendor``."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def refused(self, actor: Actor, where: str, denied: PermissionDenied) -> None:
        """Record a refusal in the audit log, unless a portalkit call is running: that call
        records it, once."""
        if not self._rt.watching():
            self._rt.note_denial(actor, where, denied)

    def has_location(self, actor: Actor, location: UUID) -> bool:
        """Whether ``location`` is one of the actor's vendor's locations."""
        vendor_id = actor.vendor_id
        assert vendor_id is not None
        with self._rt.transaction(read_only=True) as uow:
            return uow.locations.get(vendor_id, location) is not None

    def customers(self, actor: Actor) -> frozenset[UUID]:
        """The ids of every customer of the actor's vendor."""
        vendor_id = actor.vendor_id
        assert vendor_id is not None
        found: set[UUID] = set()
        with self._rt.transaction() as uow:
            offset = 0
            while True:
                page = uow.customers.list(vendor_id, limit=1000, offset=offset)
                found.update(c.id for c in page)
                if len(page) < 1000:
                    return frozenset(found)
                offset += 1000
