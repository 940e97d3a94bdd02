"""Access tokens on requests: ``Authorization: Bearer pkat_…`` for a project's API views.

Off unless ``PORTALKIT["ACCEPT_TOKENS"]`` is true. A token request is not a browser's: the
middleware reads no session for it (and writes none) and lets it past Django's CSRF check
(a browser never adds the header to a request another site makes); ``request.portal_member``
and ``request.portal_access`` are the token's (``portal.auth.authenticate_token``), so the
decorators and mixins work as for a session. A bad, expired or revoked token is 401 with
``WWW-Authenticate: Bearer``, never the log-in page; the adapter's own pages (log-in,
passwords, tokens, single sign-on) are for people and answer a token with 403, as portalkit
answers a token's actor on every credential and administration call.
"""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpResponse
from django.urls import Resolver404, resolve

from portalkit import AuthenticationFailed, Member
from portalkit_django.apps import _config

__all__ = ["bearer_value", "by_token", "load_token"]


def bearer_value(request: Any) -> str | None:
    """The value of the request's ``Authorization: Bearer …`` header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not isinstance(header, str):
        return None
    scheme, _, value = header.partition(" ")
    if scheme.casefold() != "bearer":
        return None
    return value.strip()


def by_token(request: Any) -> bool:
    """Whether the request's member came from an access token (not a session)."""
    return bool(getattr(request, "portal_token", False))


def _refused(error: str = "invalid_token", status: int = 401) -> HttpResponse:
    # RFC 6750: 401 names the scheme; nothing says why (revoked, expired or unknown alike).
    response = HttpResponse("", status=status)
    response["WWW-Authenticate"] = f'Bearer realm="portal", error="{error}"'
    response["Cache-Control"] = "no-store"
    return response


def _adapters_page(request: Any) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    # The application namespace, whatever instance namespace the project mounted it under.
    return "portalkit" in match.app_names


def load_token(request: Any) -> HttpResponse | None:
    """Before the view (the middleware calls it first): a bearer token's member, a 401 for a
    bad token, a 403 for a token on the adapter's pages; None for every other request."""
    request.portal_token = False
    config = _config()
    if not config.options["ACCEPT_TOKENS"]:
        return None
    value = bearer_value(request)
    if value is None:
        return None
    if _adapters_page(request):
        return _refused("insufficient_scope", 403)
    try:
        context = config.portal.auth.authenticate_token(
            config.vendor_id, value, client_key=_client_key(request)
        )
    except AuthenticationFailed:
        return _refused()
    request.portal_token = True
    request.portal_member = cast(Member, context.actor)
    request.portal_access = context
    # The header is no cookie a browser adds by itself: no CSRF to fear, and only a request
    # whose token was accepted gets here.
    request._dont_enforce_csrf_checks = True
    return None


def _client_key(request: Any) -> str | None:
    from portalkit_django.session import client_key

    return client_key(request)
