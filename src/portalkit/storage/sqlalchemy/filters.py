"""SQL for access decisions: an access :class:`~portalkit.access.Predicate` as a ``WHERE``.

:meth:`portalkit.access.AccessContext.filter` calls :func:`apply` for SQLAlchemy selects, so the
database does the filtering and no row is loaded only to be thrown away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    inspect,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Mapper, aliased, defer
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import FromClause

from portalkit.errors import Problem, ValidationError

if TYPE_CHECKING:
    from portalkit.access import Predicate, ResourceType

__all__ = [
    "aliases",
    "apply",
    "clause",
    "column_names",
    "field_names",
    "latest",
    "visible_columns",
    "visible_select",
]

S = TypeVar("S", bound=Select[Any])
_MAX_BRANCHES = 40


def _column(resource: ResourceType, name: str) -> Any:
    model = resource.model
    columns = getattr(model, "c", None)  # a Table (or other FromClause)
    if columns is not None:
        return columns[name]
    return getattr(model, name)  # a mapped class: its instrumented attribute


def field_names(model: Any) -> frozenset[str] | None:
    """The field names a resource type may use on ``model`` — a ``Table``'s columns, a mapped
    class's mapped attributes (columns, relationships, hybrids) — or None when ``model`` is
    neither. :meth:`portalkit.access.AccessService.register_resource` checks names with it."""
    if isinstance(model, FromClause):
        return frozenset(model.c.keys())
    mapper = inspect(model, raiseerr=False) if isinstance(model, type) else None
    if isinstance(mapper, Mapper):
        return frozenset(k for k in mapper.all_orm_descriptors.keys() if not k.startswith("__"))  # noqa: SIM118
    return None


def column_names(model: Any) -> list[str] | None:
    """The column keys of ``model`` in table order — a ``Table``'s columns, a mapped class's
    column attributes (no relationships, no hybrids) — or None when ``model`` is neither."""
    if isinstance(model, FromClause):
        return list(model.c.keys())
    mapper = inspect(model, raiseerr=False) if isinstance(model, type) else None
    if isinstance(mapper, Mapper):
        return [attr.key for attr in mapper.column_attrs]
    return None


def _checked_columns(resource: ResourceType) -> list[str]:
    """The model's column keys, once the resource type's names are checked against them.

    Fail closed: a sensitive field that is no column would be selected under another name (or
    loaded by a relationship) and shown; a field the filter needs that the model lacks would
    make the ``WHERE`` fail later, or filter on something else.
    """
    if resource.model is None:
        raise ValidationError.single(
            "resource",
            "no_model",
            "register {resource} with model= to select its columns",
            resource=repr(resource.name),
        )
    columns = column_names(resource.model)
    fields = field_names(resource.model)
    if columns is None or fields is None:
        raise ValidationError.single(
            "model", "not_model", "must be a SQLAlchemy mapped class or Table"
        )
    named = [
        ("customer_field", resource.customer_field),
        ("location_field", resource.location_field),
        ("owner_field", resource.owner_field),
        ("vendor_field", resource.vendor_field),
        *(("conditions", c.field) for c in resource.conditions.values()),
    ]
    problems = [
        Problem(field, "unknown", "{name} is not a field of the model", {"name": repr(name)})
        for field, name in named
        if name is not None and name not in fields
    ]
    problems += [
        Problem(
            "sensitive", "not_column", "{name} is not a column of the model", {"name": repr(name)}
        )
        for name in resource.sensitive
        if name not in columns
    ]
    problems += [
        Problem(
            "sensitive",
            "derived",
            "{name} is computed from a sensitive column; name it in sensitive too",
            {"name": repr(name)},
        )
        for name in _derived_from_sensitive(resource)
    ]
    if problems:
        raise ValidationError(problems)
    return columns


def aliases(resource: ResourceType, hidden: frozenset[str]) -> frozenset[str]:
    """The other names of the ``hidden`` fields on a mapped class: synonyms of them, and
    column attributes whose SQL reads one (``column_property("EUR " + amount)``). A heading
    offering one would show the hidden value under another name."""
    mapper = inspect(resource.model, raiseerr=False) if isinstance(resource.model, type) else None
    if not isinstance(mapper, Mapper) or not hidden:
        return frozenset()
    attributes = mapper.column_attrs
    secret = {
        id(column) for name in hidden if name in attributes for column in attributes[name].columns
    }
    found = {
        attribute.key
        for attribute in attributes
        if attribute.key not in hidden
        and any(
            id(element) in secret
            for expression in attribute.columns
            for element in visitors.iterate(expression)
        )
    }
    named = set(hidden) | found
    synonyms = {s.key: s.name for s in mapper.synonyms}
    while more := {key for key, target in synonyms.items() if target in named} - named:
        named |= more  # a synonym of a synonym of a hidden field is hidden too
    return frozenset(named) - hidden


def _derived_from_sensitive(resource: ResourceType) -> list[str]:
    """The mapped column attributes, not sensitive themselves, whose SQL reads a sensitive
    column: selected, they would carry the hidden value out of the database under another
    name (a synonym only reads the deferred column, so raises instead)."""
    derived = aliases(resource, frozenset(resource.sensitive))
    return [name for name in column_names(resource.model) or [] if name in derived]


def visible_columns(resource: ResourceType, hidden: frozenset[str]) -> list[Any]:
    """The columns of the resource's model, in table order, without the ``hidden`` ones.

    Column objects of a ``Table`` (``invoices.c.number``), instrumented attributes of a mapped
    class (``InvoiceRow.number``): what ``select(*columns)`` takes.
    """
    return [_column(resource, name) for name in _checked_columns(resource) if name not in hidden]


def visible_select(resource: ResourceType, predicate: Predicate, hidden: frozenset[str]) -> Any:
    """A select of the rows the predicate lets through, with no ``hidden`` column in it.

    For a mapped class, a select of its objects whose hidden columns are deferred with
    ``raiseload``: they are not fetched, and reading one raises instead of loading it. For a
    ``Table``, a select of its visible columns.
    """
    columns = _checked_columns(resource)
    model = resource.model
    if isinstance(model, FromClause):
        query = select(*(model.c[name] for name in columns if name not in hidden))
    else:
        query = select(model).options(
            *(defer(getattr(model, name), raiseload=True) for name in columns if name in hidden)
        )
    return apply(query, resource, predicate)


def clause(resource: ResourceType, predicate: Predicate) -> ColumnElement[bool]:
    """The predicate as one SQL boolean expression on the resource's model."""
    if predicate.nothing:
        return false()
    parts: list[ColumnElement[bool]] = []
    if predicate.vendor is not None and resource.vendor_field:
        parts.append(_column(resource, resource.vendor_field) == predicate.vendor)
    if predicate.customers is not None:
        parts.append(_one_of(_column(resource, resource.customer_field), predicate.customers))
    if predicate.locations is not None:
        if resource.location_field is None:
            return false()
        parts.append(_one_of(_column(resource, resource.location_field), predicate.locations))
    if predicate.owner is not None:
        if resource.owner_field is None:
            return false()
        parts.append(_column(resource, resource.owner_field) == predicate.owner)
    for condition in predicate.conditions:
        parts.append(_holds(_column(resource, condition.field), condition.values))
    if len(parts) == 1:
        return parts[0]
    return and_(*parts) if parts else true()


def _holds(column: Any, values: frozenset[object]) -> ColumnElement[bool]:
    # None among the values means "not set": SQL's IN never matches NULL, Python's `in` does.
    present = sorted((value for value in values if value is not None), key=repr)
    matched: ColumnElement[bool] = column.in_(present)
    if None in values:
        return or_(column.is_(None), matched) if present else column.is_(None)
    return matched


def _one_of(column: Any, values: frozenset[Any]) -> ColumnElement[bool]:
    # "= ?" for the common single value: what a person writing the query would write.
    if len(values) == 1:
        (value,) = values
        return column == value  # type: ignore[no-any-return]
    return column.in_(sorted(values, key=str))  # type: ignore[no-any-return]


def apply(query: S, resource: ResourceType, predicate: Predicate) -> S:
    """``query`` with the predicate added to its ``WHERE``."""
    return query.where(clause(resource, predicate))


def latest(
    query: Select[Any], resource: ResourceType, predicate: Predicate, order_by: Any, limit: int
) -> Select[Any]:
    """The ``limit`` newest rows by ``order_by`` that the predicate lets through.

    With several customers in reach, ``customer_id IN (…) ORDER BY … LIMIT`` makes a database
    read and sort every row of those customers (PostgreSQL does). Here each customer gets its
    own ``ORDER BY … LIMIT`` — an index range each — and only those few rows are merged, so the
    cost follows what is returned, not the size of the table.
    """
    customers = predicate.customers
    # Past a few dozen customers (staff, big umbrellas) the branches cost more than they save.
    if predicate.nothing or customers is None or not 1 < len(customers) <= _MAX_BRANCHES:
        return apply(query, resource, predicate).order_by(order_by.desc()).limit(limit)
    branches = [
        select(
            apply(query, resource, attrs.evolve(predicate, customers=frozenset({customer})))
            .order_by(order_by.desc())
            .limit(limit)
            .subquery()
        )
        for customer in sorted(customers, key=str)
    ]
    merged = union_all(*branches).subquery("visible")
    entities = [d.get("entity") for d in query.column_descriptions]
    if len(entities) == 1 and entities[0] is not None and hasattr(entities[0], "__mapper__"):
        # An ORM query keeps returning its objects, read from the merged rows.
        row = aliased(entities[0], merged)
        return select(row).order_by(getattr(row, order_by.key).desc()).limit(limit)
    return select(merged).order_by(merged.c[order_by.key].desc()).limit(limit)
