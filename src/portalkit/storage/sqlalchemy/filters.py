"""SQL for access decisions: an access :class:`~portalkit.access.Predicate` as a ``WHERE``.

:meth:`portalkit.access.AccessContext.filter` calls :func:`apply` for SQLAlchemy selects, so the
database does the filtering and no row is loaded only to be thrown away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from sqlalchemy import ColumnElement, Select, and_, false, inspect, select, true, union_all
from sqlalchemy.orm import Mapper, aliased
from sqlalchemy.sql.expression import FromClause

if TYPE_CHECKING:
    from portalkit.access import Predicate, ResourceType

__all__ = ["apply", "clause", "field_names", "latest"]

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
        values = sorted(condition.values, key=repr)
        parts.append(_column(resource, condition.field).in_(values))
    if len(parts) == 1:
        return parts[0]
    return and_(*parts) if parts else true()


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
