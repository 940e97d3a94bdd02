"""The pages for integrations (``include("portalkit_django.urls")`` has them): a member's
access tokens, a customer administrator's page of its customer's tokens, and "sign in with
your company" (single sign-on through the customer's own OpenID provider).

Each view reads the form, calls portalkit (``portal.access_tokens``, ``portal.sso``) and
draws ``portalkit/<page>.html`` as the other log-in views do; every POST is checked by
Django's CSRF protection. A token's value is drawn on the answer to the POST that made it
and nowhere else (not in a message: that would keep it in a cookie or the session).
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from portalkit import AuthenticationFailed, NotFound, PermissionDenied, ValidationError
from portalkit_django.apps import _config
from portalkit_django.decorators import portal_login_required
from portalkit_django.session import client_key, login_user, safe_next
from portalkit_django.views import _field, _language, _messages, _page, _view

__all__ = ["access_tokens", "customer_access_tokens", "sso_callback", "sso_start"]

_SSO_STATE = "portalkit_sso_state"
_SSO_NEXT = "portalkit_sso_next"
_NEVER = frozenset({"members.manage"})  # portalkit refuses it in a token: never offered


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound("access_token", text[:50]) from None


def _make(request: Any, membership: Any) -> tuple[str, list[str]]:
    """Make a token from the form; its value, or the errors to show."""
    portal = _config().portal
    try:
        days = int(_field(request, "days") or "0")
    except ValueError:
        days = 0
    if not 0 < days <= 36_500:
        days = 0  # the core's answer for an expiry that is not in the future; no overflow

    try:
        issued = portal.access_tokens.create(
            request.portal_member,
            membership,
            name=_field(request, "name"),
            capabilities=set(request.POST.getlist("capabilities")),
            expires_at=portal.clock.now() + timedelta(days=days),
        )
    except ValidationError as exc:
        return "", _messages(exc)
    except PermissionDenied as exc:
        return "", [exc.text(_language())]
    return issued.value, []


def _values(
    request: Any, value: str, errors: list[str], tokens: list[Any], **more: Any
) -> dict[str, Any]:
    portal = _config().portal
    context = request.portal_access
    now = portal.clock.now()
    rows = [
        {
            "token": t,
            "capabilities": sorted(t.capabilities),
            "status": "revoked" if t.revoked_at else "active" if t.usable(now) else "expired",
        }
        for t in tokens
    ]
    return {
        "rows": rows,
        "capabilities": sorted(set(context.capabilities) - _NEVER),
        "value": value,
        "errors": errors,
        "longest": portal.settings.access_token_max_days,
        **more,
    }


@_view
@portal_login_required
def access_tokens(request: Any) -> HttpResponse:
    """The member's own access tokens: make one (its value shown once), see them, revoke."""
    portal = _config().portal
    member = request.portal_member
    value, errors = "", list[str]()
    if request.method == "POST":
        if _field(request, "action") == "revoke":
            portal.access_tokens.revoke(member, _uuid(_field(request, "token")))  # NotFound: 404
            return redirect("portalkit:access_tokens")
        value, errors = _make(request, member.membership_id)
    tokens = portal.access_tokens.list(member)
    return _page(
        request,
        "access_tokens",
        400 if errors else 200,
        **_values(request, value, errors, tokens=tokens),
    )


@_view
@portal_login_required
def customer_access_tokens(request: Any) -> HttpResponse:
    """A customer administrator's page: the tokens of its customer's logins it may manage
    (portalkit decides which: 403 for a member who is no administrator)."""
    portal = _config().portal
    member = request.portal_member
    value, errors = "", list[str]()
    if request.method == "POST":
        if _field(request, "action") == "revoke":
            portal.access_tokens.revoke(member, _uuid(_field(request, "token")))
            return redirect("portalkit:customer_access_tokens")
        value, errors = _make(request, _uuid(_field(request, "membership")))
    tokens = portal.access_tokens.list(member, customer=member.customer_id)
    names = {
        c.id: f"{c.first_name} {c.last_name}".strip()
        for c in portal.contacts.list(member, customer=member.customer_id, limit=1000)
    }
    logins = portal.memberships.list(member, customer=member.customer_id, limit=1000)
    return _page(
        request,
        "customer_access_tokens",
        400 if errors else 200,
        **_values(
            request,
            value,
            errors,
            tokens=tokens,
            # The customer's other logins, named by their contacts (portalkit refuses those
            # the administrator may not manage when the form is sent).
            logins=[
                (m.id, names.get(m.contact_id) or str(m.id))
                for m in logins
                if m.id != member.membership_id
            ],
        ),
    )


# -- single sign-on ---------------------------------------------------------------------------
def _callback(request: Any) -> str:
    """The callback's address the provider knows: on the origin of ``BASE_URL`` when set (a
    Host header the client chose must not pick where the provider sends the code)."""
    base = "/".join(str(_config().portal.settings.base_url or "").split("/", 3)[:3])
    path = reverse("portalkit:sso_callback")
    return f"{base}{path}" if base else request.build_absolute_uri(path)


def _failed(request: Any, target: str) -> HttpResponse:
    error = AuthenticationFailed().text(_language())
    return _page(request, "sso", 401, next=target, error=error)


@_view
def sso_start(request: Any) -> HttpResponse:
    """ "Sign in with your company": an e-mail address (or ``?customer=<code>``) names the
    customer whose provider the browser goes to; anything else is the log-in failure.

    Only a POST (with its CSRF token) leaves for the provider: a GET, even with a customer,
    shows the page. A link that went straight to a provider in a customer's hands would sign
    the browser in as whoever that provider says (log-in CSRF)."""
    config = _config()
    target = request.POST.get("next") or request.GET.get("next", "")
    if request.method == "GET":
        code = request.GET.get("customer", "")
        return _page(request, "sso", next=target, error="", customer=code)
    code = _field(request, "customer")
    if code:
        customer = config.portal.sso.customer_for(config.vendor_id, code=code)
    else:
        customer = config.portal.sso.customer_for(config.vendor_id, email=_field(request, "email"))
    try:
        if customer is None:
            raise AuthenticationFailed()
        url = config.portal.sso.begin(
            config.vendor_id, customer, _callback(request), client_key=client_key(request)
        )
    except (AuthenticationFailed, NotFound):
        return _failed(request, target)
    # The state binds the provider's answer to this browser: a link to the callback with
    # someone else's state and code (log-in CSRF) finds no match here.
    request.session[_SSO_STATE] = parse_qs(urlsplit(url).query).get("state", [""])[0]
    request.session[_SSO_NEXT] = safe_next(target)
    return redirect(url)


@_view
def sso_callback(request: Any) -> HttpResponse:
    """Where the provider sends the browser back: the sign-in ends in the project's session
    (as a password log-in does), then the safe ``next`` address."""
    config = _config()
    expected = request.session.pop(_SSO_STATE, "")
    target = request.session.pop(_SSO_NEXT, "")
    given = request.GET.get("state", "")
    code = request.GET.get("code", "")
    if not (expected and isinstance(given, str) and hmac.compare_digest(expected, given)):
        return _failed(request, target)
    try:
        login = config.portal.sso.complete(config.vendor_id, given, code, _callback(request))
    except AuthenticationFailed:
        return _failed(request, target)
    login_user(request, login)
    return redirect(safe_next(target))
