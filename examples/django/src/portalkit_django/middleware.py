"""The middleware: the member of every request, checked; portalkit's refusals as 403/404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from portalkit import NotFound, PermissionDenied
from portalkit_django.apps import _config
from portalkit_django.bearer import by_token, load_token
from portalkit_django.db import DjangoStorage, finish
from portalkit_django.session import MUST_CHANGE_KEY, load_member

__all__ = ["PortalkitMiddleware"]

# The pages a member who must change its password may still reach (``set_language`` is
# Django's own, from ``django.conf.urls.i18n``).
_EXEMPT = {"portalkit:change_password", "portalkit:logout", "set_language"}


class PortalkitMiddleware:
    """After Django's ``SessionMiddleware`` (and ``CsrfViewMiddleware``): checks the session
    value kept in ``request.session`` on every request and sets ``request.portal_member``
    and ``request.portal_access`` (the access context, built once per request and reused by
    every portalkit call of the request made with the member); sends a member whose password
    must change to the change-password page; answers portalkit's PermissionDenied with 403
    and its NotFound with 404 (Django's own pages for them)."""

    def __init__(self, get_response: Callable[[Any], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> HttpResponse:
        config = _config()
        scope = None
        try:
            refused = load_token(request)
            if refused is not None:
                return refused
            if not by_token(request):
                load_member(request)
            if request.portal_access is not None:
                # For the rest of the request, every portalkit call with this member reuses it.
                scope = config.portal.access.using(request.portal_access)
                scope.__enter__()
            return self.get_response(request)
        finally:
            if scope is not None:
                scope.__exit__(None, None, None)
            storage = config.portal.storage
            if isinstance(storage, DjangoStorage):
                finish(storage.alias)

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        """Send a member whose password was set for it to the change-password page first."""
        if request.portal_member is None or by_token(request):
            return None  # a token request has no session: the cookie beside it is not read
        if not request.session.get(MUST_CHANGE_KEY):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in _EXEMPT:
            return None
        try:
            target = reverse("portalkit:change_password")
        except Exception:  # the project does not use the log-in views
            return None
        from urllib.parse import urlencode

        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")

    def process_exception(self, request: Any, exception: Exception) -> HttpResponse | None:
        """portalkit's refusals as Django's: 403 for an action, 404 for a record."""
        if isinstance(exception, PermissionDenied):
            return response_for_exception(request, DjangoPermissionDenied())
        if isinstance(exception, NotFound):
            return response_for_exception(request, Http404())
        return None
