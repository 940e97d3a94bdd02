"""SQL for access decisions: an access :class:`~portalkit.access.Predicate` as a ``WHERE``.

:meth:`portalkit.access.AccessContext.filter` calls :func:`apply` for SQLAlchemy selects, so the
database does the filtering and no row is loaded only to be thrown away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, true

if TYPE_CHECKING:
    from portalkit.access import Predicate, ResourceType

__all__ = ["apply", "clause"]

S = TypeVar("S", bound=Select[Any])


def _column(resource: ResourceType, name: str) -> Any:
    model = resource.model
    columns = getattr(model, "c", None)  # a Table (or other FromClause)
    if columns is not None:
        return columns[name]
    return getattr(model, name)  # a mapped class: its instrumented attribute


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
