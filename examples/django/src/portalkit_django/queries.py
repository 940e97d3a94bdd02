"""Django querysets narrowed in SQL to what the request's member may see.

``request.portal_access.filter(...)`` puts portalkit's ``WHERE`` on SQLAlchemy selects; a
Django ``QuerySet`` it would load whole and filter in Python. :func:`visible` turns the same
:class:`~portalkit.access.Predicate` into a ``Q`` instead, clause for clause as portalkit's
SQL filter builds it, so the database does the filtering::

    orders = visible_rows(request, Order.objects.order_by("-placed_at"), "orders")

The resource type's field names (``customer_field``, ``location_field``, ``owner_field``,
``vendor_field``, the conditions' fields) are the model's field names, as in
``Order.objects.filter(customer_id=...)``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from portalkit import ResourceType
from portalkit.access import Predicate
from portalkit_django.apps import _config

__all__ = ["visible", "visible_rows", "where"]


def where(resource: ResourceType, predicate: Predicate) -> Q | None:
    """The predicate as one ``Q`` on the resource's model; None when it lets nothing through."""
    if predicate.nothing:
        return None
    found = Q()
    if predicate.vendor is not None and resource.vendor_field:
        found &= Q(**{resource.vendor_field: predicate.vendor})
    if predicate.customers is not None:
        found &= Q(**{f"{resource.customer_field}__in": sorted(predicate.customers, key=str)})
    if predicate.locations is not None:
        if resource.location_field is None:
            return None
        found &= Q(**{f"{resource.location_field}__in": sorted(predicate.locations, key=str)})
    if predicate.owner is not None:
        if resource.owner_field is None:
            return None
        found &= Q(**{resource.owner_field: predicate.owner})
    for condition in predicate.conditions:
        present = sorted((v for v in condition.values if v is not None), key=repr)
        holds = Q(**{f"{condition.field}__in": present})
        if None in condition.values:
            # SQL's IN never matches NULL; Python's `in` does, and portalkit's SQL says so too.
            holds |= Q(**{f"{condition.field}__isnull": True})
        found &= holds
    return found


def visible(
    request: Any,
    queryset: QuerySet[Any],
    resource: str | ResourceType,
    *,
    capability: str | None = None,
) -> QuerySet[Any]:
    """``queryset`` with only the records of ``resource`` the request's member may see (and
    use ``capability`` on, if given); none for nobody logged in."""
    context = getattr(request, "portal_access", None)
    if context is None:
        return queryset.none()
    kind = _config().portal.access.resource(resource)  # an unknown type raises
    found = where(kind, context.predicate(kind, capability))
    return queryset.none() if found is None else queryset.filter(found)


def visible_rows(
    request: Any,
    queryset: QuerySet[Any],
    resource: str | ResourceType,
    *,
    capability: str | None = None,
) -> QuerySet[Any]:
    """:func:`visible` as ``.values()`` dicts of the model's columns without those the member
    may not see (``sensitive``): a hidden column is never selected, so it never leaves the
    database, and a template cannot lazily load it."""
    context = getattr(request, "portal_access", None)
    rows = visible(request, queryset, resource, capability=capability)
    hidden = context.hidden_fields(resource) if context is not None else frozenset()
    fields = [
        field.attname
        for field in queryset.model._meta.concrete_fields
        if field.name not in hidden and field.attname not in hidden
    ]
    return rows.values(*fields)
