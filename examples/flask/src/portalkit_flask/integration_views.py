"""The blueprint's pages for integrations: a member's access tokens, a customer
administrator's page of its customer's tokens, and "sign in with your company" (single
sign-on through the customer's own OpenID provider).

Each view reads the form, calls portalkit (``portal.access_tokens``, ``portal.sso``) and
draws ``portalkit/<page>.html``, as the other pages of the blueprint; every POST carries
Flask-WTF's CSRF token. A token's value is drawn on the answer to the POST that made it and
nowhere else (not in a flash message: that would keep it in the session cookie).
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

from flask import redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from portalkit import AuthenticationFailed, NotFound, PermissionDenied, ValidationError
from portalkit_flask.extension import (
    _state,
    client_key,
    get_access,
    get_member,
    login_required,
    login_user,
    safe_next,
)
from portalkit_flask.i18n import request_language
from portalkit_flask.views import _field, _messages, _page, blueprint

__all__ = ["access_tokens", "customer_access_tokens", "sso_callback", "sso_start"]

_SSO_STATE = "portalkit_sso_state"
_SSO_NEXT = "portalkit_sso_next"
_NEVER = frozenset({"members.manage"})  # portalkit refuses it in a token: never offered


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound("access_token", text[:50]) from None


def _make(actor: Any, membership: Any) -> tuple[str, list[str]]:
    """Make a token from the form; its value, or the errors to show."""
    portal = _state().portal
    try:
        days = int(_field("days") or "0")
    except ValueError:
        days = 0
    if not 0 < days <= 36_500:
        days = 0  # the core's answer for an expiry that is not in the future; no overflow

    try:
        issued = portal.access_tokens.create(
            actor,
            membership,
            name=_field("name"),
            capabilities=set(request.form.getlist("capabilities")),
            expires_at=portal.clock.now() + timedelta(days=days),
        )
    except ValidationError as exc:
        return "", _messages(exc)
    except PermissionDenied as exc:
        return "", [exc.text(request_language())]
    return issued.value, []


def _offered(member: Any) -> list[str]:
    context = get_access()
    return sorted((context.capabilities if context is not None else set()) - _NEVER)


@blueprint.route("/access-tokens", methods=["GET", "POST"])
@login_required
def access_tokens() -> ResponseReturnValue:
    """The member's own access tokens: make one (its value shown once), see them, revoke."""
    portal = _state().portal
    member = get_member()
    assert member is not None
    value, errors = "", list[str]()
    if request.method == "POST":
        if _field("action") == "revoke":
            portal.access_tokens.revoke(member, _uuid(_field("token")))  # NotFound: 404
            return redirect(url_for(".access_tokens"))
        value, errors = _make(member, member.membership_id)
    return _page(
        "access_tokens",
        400 if errors else 200,
        tokens=portal.access_tokens.list(member),
        capabilities=_offered(member),
        value=value,
        errors=errors,
        longest=portal.settings.access_token_max_days,
        now=portal.clock.now(),
    )


@blueprint.route("/customer-access-tokens", methods=["GET", "POST"])
@login_required
def customer_access_tokens() -> ResponseReturnValue:
    """A customer administrator's page: the tokens of its customer's logins it may manage
    (portalkit decides which: 403 for a member who is no administrator)."""
    portal = _state().portal
    member = get_member()
    assert member is not None
    value, errors = "", list[str]()
    if request.method == "POST":
        if _field("action") == "revoke":
            portal.access_tokens.revoke(member, _uuid(_field("token")))
            return redirect(url_for(".customer_access_tokens"))
        value, errors = _make(member, _uuid(_field("membership")))
    tokens = portal.access_tokens.list(member, customer=member.customer_id)
    return _page(
        "customer_access_tokens",
        400 if errors else 200,
        tokens=tokens,
        logins=_logins(member),
        capabilities=_offered(member),
        value=value,
        errors=errors,
        longest=portal.settings.access_token_max_days,
        now=portal.clock.now(),
    )


def _logins(member: Any) -> list[tuple[UUID, str]]:
    """The customer's other logins, named by their contacts, for the administrator's form
    (portalkit refuses those it may not manage when the form is sent)."""
    portal = _state().portal
    names = {
        c.id: f"{c.first_name} {c.last_name}".strip()
        for c in portal.contacts.list(member, customer=member.customer_id, limit=1000)
    }
    logins = portal.memberships.list(member, customer=member.customer_id, limit=1000)
    return [
        (m.id, names.get(m.contact_id) or str(m.id)) for m in logins if m.id != member.membership_id
    ]


# -- single sign-on ---------------------------------------------------------------------------
def _callback() -> str:
    """The callback's address the provider knows: on the origin of ``PORTALKIT_BASE_URL``
    when set (a Host header the client chose must not pick where the provider sends the
    code); the path is the application's own, mount point included."""
    base = "/".join(str(_state().portal.settings.base_url or "").split("/", 3)[:3])
    path = url_for(".sso_callback")
    return f"{base}{path}" if base else url_for(".sso_callback", _external=True)


@blueprint.route("/sso", methods=["GET", "POST"])
def sso_start() -> ResponseReturnValue:
    """ "Sign in with your company": an e-mail address (or ``?customer=<code>``) names the
    customer whose provider the browser goes to; anything else is the log-in failure.

    Only a POST (with its CSRF token) leaves for the provider: a GET, even with a customer,
    shows the page. A link that went straight to a provider in a customer's hands would sign
    the browser in as whoever that provider says (log-in CSRF)."""
    state = _state()
    target = request.values.get("next", "")
    if request.method == "GET":
        code = request.args.get("customer", "")
        return _page("sso", next=target, error="", customer=code if isinstance(code, str) else "")
    code = _field("customer")
    if code:
        customer = state.portal.sso.customer_for(state.vendor_id, code=code)
    else:
        customer = state.portal.sso.customer_for(state.vendor_id, email=_field("email"))
    try:
        if customer is None:
            raise AuthenticationFailed()
        url = state.portal.sso.begin(
            state.vendor_id,
            customer,
            _callback(),
            client_key=client_key(),
        )
    except (AuthenticationFailed, NotFound):
        error = AuthenticationFailed().text(request_language())
        return _page("sso", 401, next=target, error=error)
    # The state binds the provider's answer to this browser: a link to the callback with
    # someone else's state and code (log-in CSRF) finds no match here.
    session[_SSO_STATE] = parse_qs(urlsplit(url).query).get("state", [""])[0]
    session[_SSO_NEXT] = safe_next(target)
    return redirect(url)


@blueprint.get("/sso/callback")
def sso_callback() -> ResponseReturnValue:
    """Where the provider sends the browser back: the sign-in ends in this adapter's
    session (as a password log-in does), then the safe ``next`` address."""
    state = _state()
    expected = session.pop(_SSO_STATE, "")
    target = session.pop(_SSO_NEXT, "")
    given = request.args.get("state", "")
    code = request.args.get("code", "")
    error = AuthenticationFailed().text(request_language())
    if not (expected and isinstance(given, str) and hmac.compare_digest(expected, given)):
        return _page("sso", 401, next=target, error=error)
    try:
        login = state.portal.sso.complete(state.vendor_id, given, code, _callback())
    except AuthenticationFailed:
        return _page("sso", 401, next=target, error=error)
    login_user(login)
    return redirect(safe_next(target))
