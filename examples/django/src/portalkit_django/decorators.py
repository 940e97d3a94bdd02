"""Who may see a view: ``capability_required``, ``portal_login_required``,
``PortalMemberRequiredMixin``, and ``visible_or_404`` for one record."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

from portalkit import ResourceType
from portalkit_django.apps import _config

__all__ = [
    "PortalMemberRequiredMixin",
    "capability_required",
    "portal_login_required",
    "visible_fields",
    "visible_or_404",
]

F = TypeVar("F", bound=Callable[..., Any])


def _to_login(request: Any) -> HttpResponse:
    login_url = resolve_url(_config().options["LOGIN_URL"])
    return HttpResponseRedirect(f"{login_url}?{urlencode({'next': request.get_full_path()})}")


def _check(request: Any, capabilities: Iterable[str]) -> HttpResponse | None:
    context = getattr(request, "portal_access", None)
    if context is None:
        return _to_login(request)
    for capability in capabilities:
        context.require(capability)  # PermissionDenied: 403 (the middleware), and audited
    return None


def portal_login_required(view: F) -> F:
    """Let only a logged-in member (or staff viewing as one) in; others go to the log-in
    page with ``next``."""
    return capability_required()(view)


def capability_required(*capabilities: str) -> Callable[[F], F]:
    """Let in only a member holding every one of ``capabilities`` (403 otherwise, with an
    ``authz_fail`` audit event; the log-in page for nobody). A read-only view as customer
    holds no writing capability."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            refused = _check(request, capabilities)
            if refused is not None:
                return refused
            return view(request, *args, **kwargs)

        return cast(F, wrapper)

    return decorate


class PortalMemberRequiredMixin:
    """For class-based views: a logged-in member holding ``required_capabilities``."""

    required_capabilities: tuple[str, ...] = ()

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Check the member before the view runs."""
        refused = _check(request, self.required_capabilities)
        if refused is not None:
            return refused
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


def visible_or_404(
    request: Any, record: Any, resource: str | ResourceType, capability: str | None = None
) -> Any:
    """``record`` if the member may see it (and use ``capability`` on it), else Http404: a
    record out of reach is one that does not exist, so its id tells nothing."""
    context = getattr(request, "portal_access", None)
    if record is None or context is None:
        raise Http404
    view = _config().portal.access.resource(resource).view  # an unknown type raises
    if not context.allows(capability or view, record, resource):
        raise Http404
    return record


def visible_fields(request: Any, resource: str | ResourceType, fields: Iterable[str]) -> list[str]:
    """``fields`` without those the member may not see (table headings and columns)."""
    context = getattr(request, "portal_access", None)
    if context is None:
        return []
    return list(context.visible_fields(resource, list(fields)))
