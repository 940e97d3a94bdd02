"""Access tokens on requests: ``Authorization: Bearer pkat_…`` for a host's API routes.

Off unless ``PORTALKIT_ACCEPT_TOKENS`` is true. A token request is not a browser's: it has
no session (the cookie is neither read nor written) and needs no CSRF token (a browser never
adds the header to a request another site makes); its member and access context are the
token's (``portal.auth.authenticate_token``), so ``current_member``, ``current_access`` and
``requires()`` work as for a session. A bad, expired or revoked token is 401 with
``WWW-Authenticate: Bearer``, never the log-in page; the adapter's own pages (log-in,
passwords, tokens, single sign-on) are for people, and answer a token with 403, as portalkit
answers a token's actor on every credential and administration call.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, current_app, g, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from portalkit import AuthenticationFailed

__all__ = ["bearer_value", "by_token", "install"]

# The adapter's routes a token may still reach: a public logo asks nobody who it is.
_OPEN = {"portalkit.branding_asset", "static", "portalkit.static"}


def bearer_value() -> str | None:
    """The value of this request's ``Authorization: Bearer …`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.casefold() != "bearer":
        return None
    return value.strip()


def by_token() -> bool:
    """Whether this request's member came from an access token (not a session)."""
    return bool(g.get("_portalkit_token"))


def _refused(error: str = "invalid_token", status: int = 401) -> Response:
    # RFC 6750: 401 names the scheme; nothing says why (revoked, expired or unknown alike).
    response = Response("", status=status)
    response.headers["WWW-Authenticate"] = f'Bearer realm="portal", error="{error}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _load_token() -> ResponseReturnValue | None:
    """Before every request (and before the CSRF check): a bearer token's member, or 401."""
    from portalkit_flask.extension import _state, client_key

    g._portalkit_token = False
    state = _state()
    if not state.options["PORTALKIT_ACCEPT_TOKENS"]:
        return None
    value = bearer_value()
    if value is None:
        return None
    if request.endpoint not in _OPEN and (request.blueprint or "") == "portalkit":
        return _refused("insufficient_scope", 403)
    try:
        context = state.portal.auth.authenticate_token(
            state.vendor_id, value, client_key=client_key()
        )
    except AuthenticationFailed:
        return _refused()
    g._portalkit_token = True
    g._portalkit_member = context.actor
    g._portalkit_access = context
    scope = state.portal.access.using(context)
    scope.__enter__()
    g._portalkit_scope = scope
    return None


def install(app: Flask) -> None:
    """Check bearer tokens first on every request, and let a request whose token was
    accepted past Flask-WTF's CSRF check (only such a request: a bad token is 401 before
    the check would run)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _load_token)
    csrf = app.extensions.get("csrf")
    if csrf is None or getattr(csrf.protect, "_portalkit", False):
        return
    protect = csrf.protect

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if by_token() and current_app.extensions.get("portalkit") is not None:
            return None
        return protect(*args, **kwargs)

    guarded._portalkit = True  # type: ignore[attr-defined]
    csrf.protect = cast(Any, guarded)
