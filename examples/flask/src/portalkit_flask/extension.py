"""The Flask extension: one portal per application, one member and one access context per
request.

Everything here turns a request into portalkit calls; the decisions are portalkit's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import Forbidden
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.local import LocalProxy
from werkzeug.wrappers import Response

from portalkit import (
    AccessContext,
    AuthenticationFailed,
    ConfigurationError,
    Login,
    Member,
    NotFound,
    PermissionDenied,
    Portal,
    PortalSettings,
    ResourceType,
    Staff,
    load_settings,
    safe_redirect,
)
from portalkit_flask.i18n import gettext, request_language

__all__ = [
    "ADAPTER_KEYS",
    "Portalkit",
    "client_key",
    "current_access",
    "current_member",
    "current_portal",
    "current_staff",
    "end_view_as",
    "get_access",
    "get_member",
    "get_staff",
    "load_session",
    "login_required",
    "login_user",
    "logout_user",
    "refresh_session",
    "requires",
    "safe_next",
    "session_value",
    "settings_from_config",
    "start_view_as",
    "user_agent",
    "viewing_as",
    "visible_fields",
    "visible_or_404",
]

SESSION_KEY = "portalkit"
_MUST_CHANGE = "portalkit_must_change"
_VIEW_AS = "portalkit_view_as"

ADAPTER_KEYS: dict[str, Any] = {
    "PORTALKIT_BLUEPRINT": True,
    "PORTALKIT_URL_PREFIX": "",
    "PORTALKIT_HOME_URL": "/",
    "PORTALKIT_ALLOWED_HOSTS": (),
    "PORTALKIT_SESSION_COOKIE_SECURE": None,
    "PORTALKIT_ERROR_HANDLERS": True,
    "PORTALKIT_ACCEPT_TOKENS": False,
}
"""The adapter's own ``PORTALKIT_*`` keys and their defaults (every other ``PORTALKIT_*`` key
is one of portalkit's settings)."""

_EXEMPT = {
    "portalkit.change_password",
    "portalkit.logout",
    "portalkit.language",
    "static",
    "portalkit.static",
}

F = TypeVar("F", bound=Callable[..., Any])


def settings_from_config(config: Any) -> PortalSettings:
    """portalkit's settings from the ``PORTALKIT_*`` keys of ``app.config`` (and, for keys it
    does not set, the environment as portalkit reads it). A ``PORTALKIT_*`` key that is
    neither a setting nor one of :data:`ADAPTER_KEYS` raises ConfigurationError: a typo must
    not leave a default in force."""
    fields = PortalSettings.model_fields
    overrides: dict[str, Any] = {}
    for key, value in config.items():
        if not key.startswith("PORTALKIT_") or key in ADAPTER_KEYS:
            continue
        name = key.removeprefix("PORTALKIT_").lower()
        if name not in fields:
            raise ConfigurationError(f"{key} is not a portalkit setting (see docs/settings.md)")
        overrides[name] = value
    return load_settings(**overrides)


class _State:
    """What one application keeps in ``app.extensions["portalkit"]``."""

    def __init__(
        self,
        portal: Portal,
        vendor_id: UUID,
        options: dict[str, Any],
        staff_loader: Callable[[], Staff | None] | None,
        session_key: str = SESSION_KEY,
    ) -> None:
        self.portal = portal
        self.vendor_id = vendor_id
        self.options = options
        self.staff_loader = staff_loader
        #: Where in Flask's session the session value lives (Flask-Login's ``_user_id`` when
        #: :func:`portalkit_flask.login_bridge.use_flask_login` is on).
        self.session_key = session_key


class _SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's own signed-cookie session — the same cookie, signature and checks — with its
    serializer built once per set of keys instead of on every request (building one
    serializes a probe value, a good part of reading the cookie). A changed ``SECRET_KEY``
    or ``SECRET_KEY_FALLBACKS`` builds a new one on the next request."""

    def __init__(self) -> None:
        self._kept: tuple[object, URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer for ``app``'s current keys (None without ``SECRET_KEY``)."""
        if not app.secret_key:
            return None
        keys = (app, app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        kept = self._kept
        if kept is not None and kept[0] == keys:
            return kept[1]
        made = super().get_signing_serializer(app)
        if made is not None:
            self._kept = (keys, made)
        return made


class Portalkit:
    """portalkit for a Flask application: ``Portalkit(app)`` or ``init_app(app)`` later.

    ``portal`` is a ready :class:`~portalkit.Portal` (otherwise one is built from the
    ``PORTALKIT_*`` keys of ``app.config``); ``staff_loader`` returns the vendor staff member
    the host application has authenticated for this request, or None (only staff may view the
    portal as a customer).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        portal: Portal | None = None,
        staff_loader: Callable[[], Staff | None] | None = None,
    ) -> None:
        self._portal = portal
        self._staff_loader = staff_loader
        if app is not None:
            self.init_app(app)

    @property
    def portal(self) -> Portal:
        """The portal of the current application."""
        return _state().portal

    def init_app(self, app: Flask) -> None:
        """Build the portal, secure the session cookie, switch on CSRF protection, load the
        member on every request and (unless ``PORTALKIT_BLUEPRINT`` is false) add the log-in
        pages."""
        if not app.config.get("SECRET_KEY"):
            raise ConfigurationError(
                "set SECRET_KEY: the session value is kept in Flask's signed session"
            )
        options = {key: app.config.get(key, default) for key, default in ADAPTER_KEYS.items()}
        portal = self._portal or Portal.from_settings(settings_from_config(app.config))
        vendor = portal.default_vendor()
        app.extensions["portalkit"] = _State(portal, vendor.id, options, self._staff_loader)

        # The session holds the login: script must not read it, other sites must not send it.
        app.config["SESSION_COOKIE_HTTPONLY"] = True
        if app.config.get("SESSION_COOKIE_SAMESITE") is None:
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
        secure = options["PORTALKIT_SESSION_COOKIE_SECURE"]
        if secure is None:
            secure = not app.debug
        if secure:
            app.config["SESSION_COOKIE_SECURE"] = True
        if "csrf" not in app.extensions:
            CSRFProtect(app)
        if type(app.session_interface) is SecureCookieSessionInterface:
            # Only Flask's default is replaced; a host's own session interface stays.
            app.session_interface = _SignedCookieSessions()

        app.before_request(_load_member)
        from portalkit_flask.bearer import install

        install(app)  # after CSRFProtect: its check must see a token accepted first
        app.teardown_request(_end_member_scope)
        app.context_processor(_template_helpers)
        # A host's own Flask-Babel keeps its _() (set before or after this one).
        app.jinja_env.globals.setdefault("_", gettext)
        if options["PORTALKIT_ERROR_HANDLERS"]:
            app.register_error_handler(PermissionDenied, _forbidden)
            app.register_error_handler(NotFound, _not_found)
        if options["PORTALKIT_BLUEPRINT"]:
            from portalkit_flask.views import blueprint

            app.register_blueprint(blueprint, url_prefix=options["PORTALKIT_URL_PREFIX"] or None)


def _state() -> _State:
    state = current_app.extensions.get("portalkit")
    if state is None:
        raise RuntimeError("portalkit is not set up on this application: call Portalkit(app)")
    return cast(_State, state)


# -- the member of this request ---------------------------------------------------------------
def _load_member() -> ResponseReturnValue | None:
    """Before every request: the member of the session, checked by portalkit now."""
    if g.get("_portalkit_token"):
        return None  # an access token's request: no session, its member is the token's
    state = _state()
    g._portalkit_member = None
    g._portalkit_access = None
    if request.endpoint in ("static", "portalkit.branding_asset"):
        return None  # a stylesheet or a logo needs no member: no queries for it
    view = session.get(_VIEW_AS)
    if view is not None:
        actor = _rebuild_view_as(state, view)
        if actor is None:
            session.pop(_VIEW_AS, None)
        else:
            g._portalkit_member = actor
            return None
    value = session.get(state.session_key)
    if value is None:
        return None
    if load_session(value) is None:
        # Switched off, password changed elsewhere, rights changed: logged out, now.
        session.pop(state.session_key, None)
        session.pop(_MUST_CHANGE, None)
        return None
    if (
        session.get(_MUST_CHANGE)
        and request.endpoint not in _EXEMPT
        and "portalkit.change_password" in current_app.view_functions
    ):
        return redirect(url_for("portalkit.change_password", next=_here()))
    return None


def load_session(value: object) -> Member | None:
    """Check a session value (``Login.session``) and make its member this request's member;
    None (and nobody logged in) when it no longer holds. The adapter calls it before every
    request; a bridge to another log-in library calls it from that library's loader."""
    state = _state()
    try:
        # The session checked and the member's context built in the same two queries; the
        # views pass the context to portalkit, so no call reads the member's rights again.
        context = state.portal.auth.session_context(state.vendor_id, value)  # type: ignore[arg-type]
    except AuthenticationFailed:
        g._portalkit_member = None
        g._portalkit_access = None
        return None
    _end_member_scope(None)
    g._portalkit_member = context.actor
    g._portalkit_access = context
    g._portalkit_session_value = value
    # For the rest of the request, every portalkit call with this member reuses the context.
    scope = state.portal.access.using(context)
    scope.__enter__()
    g._portalkit_scope = scope
    return cast(Member, context.actor)


def _end_member_scope(_error: BaseException | None) -> None:
    """After every request: the member's context stops standing for it."""
    scope = g.pop("_portalkit_scope", None)
    if scope is not None:
        scope.__exit__(None, None, None)


def _here() -> str:
    return request.full_path.rstrip("?")


def _member() -> Member | None:
    if "_portalkit_member" not in g:
        _load_member()
    return cast(Member | None, g._portalkit_member)


def _access() -> AccessContext | None:
    member = _member()
    if member is None:
        return None
    if g.get("_portalkit_access") is None:
        g._portalkit_access = _state().portal.access.context(member)
    return cast(AccessContext, g._portalkit_access)


def _staff() -> Staff | None:
    if "_portalkit_staff" not in g:
        loader = _state().staff_loader
        staff = loader() if loader is not None else None
        if staff is not None and staff.vendor_id != _state().vendor_id:
            staff = None
        g._portalkit_staff = staff
    return cast(Staff | None, g._portalkit_staff)


def get_member() -> Member | None:
    """The member logged in for this request (a :class:`~portalkit.Member`), or None."""
    return _member()


def get_access() -> AccessContext | None:
    """The access context of this request's member, built once per request, or None."""
    return _access()


def get_staff() -> Staff | None:
    """The vendor staff member the host's ``staff_loader`` returned for this request, or None."""
    return _staff()


# Proxies, as Flask-Login's current_user: test them with ``if current_member:``, never with
# ``is None`` (a proxy is never None itself); get_member() returns the object or None.
current_member: Member | None = cast(Member | None, LocalProxy(_member))
"""This request's member, as a proxy (falsy when nobody is logged in); see :func:`get_member`."""
current_access: AccessContext | None = cast(AccessContext | None, LocalProxy(_access))
"""This request's access context, as a proxy (falsy when nobody is logged in)."""
current_staff: Staff | None = cast(Staff | None, LocalProxy(_staff))
"""This request's vendor staff member, as a proxy (falsy when there is none)."""
current_portal: Portal = cast(Portal, LocalProxy(lambda: _state().portal))
"""The portal of the current application."""


def client_key() -> str | None:
    """Who is knocking, for portalkit's throttles: ``request.remote_addr``. Behind a proxy,
    wrap the application in Werkzeug's ``ProxyFix`` with the number of proxies you trust, so
    that this is the client's address and not the proxy's (never read X-Forwarded-For
    yourself: anyone can send it)."""
    return request.remote_addr


def user_agent() -> str:
    """The browser's ``User-Agent``, kept on the session's record for the member's list of
    its sessions (shown, never trusted)."""
    return request.user_agent.string


def session_value() -> str | None:
    """This browser's session value (for ``portal.sessions``: which session is this one)."""
    value = session.get(_state().session_key)
    return value if isinstance(value, str) else None


def safe_next(target: object) -> str:
    """Where to go after logging in: ``target`` if it is a path on this site (or an https
    URL on ``PORTALKIT_ALLOWED_HOSTS``), else ``PORTALKIT_HOME_URL``."""
    options = _state().options
    return safe_redirect(
        target,
        allowed_hosts=options["PORTALKIT_ALLOWED_HOSTS"],
        default=options["PORTALKIT_HOME_URL"],
    )


def login_user(login: Login) -> None:
    """Keep a successful log-in (from ``portal.auth.authenticate``) in the session."""
    for key in (
        _state().session_key,
        _MUST_CHANGE,
        _VIEW_AS,
        current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"),
    ):
        session.pop(key, None)  # a new login gets a new CSRF token too
    session[_state().session_key] = login.session
    if login.must_change_password:
        session[_MUST_CHANGE] = True
    g._portalkit_member = login.actor
    g._portalkit_access = None


def refresh_session(actor: Member) -> None:
    """Keep the session value for ``actor`` after a change that renewed the stamps (a
    password change, a switch of customer): this browser's session carries over, with its
    log-in time (see ``portal.auth.session``)."""
    key = _state().session_key
    current = session.get(key)
    session[key] = _state().portal.auth.session(
        actor, current if isinstance(current, str) else None
    )
    session.pop(_MUST_CHANGE, None)
    g._portalkit_member = actor
    g._portalkit_access = None


def logout_user() -> None:
    """Log this browser out: its session ends in storage too (a copy of the cookie is refused
    from now on); other browsers stay logged in (for "log out everywhere" call
    ``portal.auth.end_sessions``)."""
    if session.get(_VIEW_AS) is not None:
        end_view_as()
    state = _state()
    value = session.pop(state.session_key, None)
    if value is not None:
        state.portal.sessions.log_out(state.vendor_id, value)
    session.pop(_MUST_CHANGE, None)
    g._portalkit_member = None
    g._portalkit_access = None


# -- view as customer -------------------------------------------------------------------------
def start_view_as(
    staff: Staff,
    membership: Any,
    *,
    reason: str,
    minutes: int = 30,
    allow_writes: bool = False,
    notify_member: bool = False,
) -> Member:
    """Let ``staff`` see the portal as a member (``portal.access.view_as``) in this browser
    until it ends: read-only unless ``allow_writes``, for ``minutes``. Needs the host's
    ``staff_loader`` to return the same staff member on each request."""
    actor = _state().portal.access.view_as(
        staff,
        membership,
        reason=reason,
        minutes=minutes,
        allow_writes=allow_writes,
        notify_member=notify_member,
    )
    _keep_view_as(actor)
    return actor


def _keep_view_as(actor: Member) -> None:
    assert actor.impersonator is not None and actor.expires_at is not None
    # portalkit gives a view-as actor no session value (auth.session refuses it), so its
    # fields live in the signed session and the context is checked again on every request.
    session[_VIEW_AS] = {
        "m": str(actor.membership_id),
        "a": str(actor.account_id),
        "c": str(actor.customer_id),
        "by": actor.impersonator,
        "ro": actor.read_only,
        "until": actor.expires_at.isoformat(),
    }
    g._portalkit_member = actor
    g._portalkit_access = None


def _rebuild_view_as(state: _State, data: object) -> Member | None:
    staff = _staff()
    if staff is None or not isinstance(data, dict) or data.get("by") != staff.user_id:
        return None
    if "impersonate" not in staff.permissions:
        return None  # the permission was withdrawn: the view ends on the next request
    try:
        actor = Member(
            vendor_id=state.vendor_id,
            account_id=UUID(data["a"]),
            membership_id=UUID(data["m"]),
            customer_id=UUID(data["c"]),
            impersonator=staff.user_id,
            read_only=bool(data["ro"]),
            expires_at=datetime.fromisoformat(data["until"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    context = state.portal.access.context(actor)
    if context.denied:  # ended, or the member's login stopped working
        return None
    g._portalkit_access = context
    return actor


def viewing_as() -> Member | None:
    """The member staff are viewing the portal as in this request, or None."""
    member = _member()
    return member if member is not None and member.impersonator is not None else None


def end_view_as() -> None:
    """End this browser's view-as-customer session (recorded in the audit log)."""
    actor = viewing_as()
    session.pop(_VIEW_AS, None)
    if actor is not None:
        _state().portal.access.end_view_as(actor)
    g._portalkit_member = None
    g._portalkit_access = None


# -- views ------------------------------------------------------------------------------------
def _to_login() -> Response:
    if "portalkit.login" in current_app.view_functions:
        return redirect(url_for("portalkit.login", next=_here()))
    abort(401)


def login_required(view: F) -> F:
    """Let only a logged-in member (or staff viewing as one) in; others go to the log-in page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _member() is None:
            return _to_login()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def requires(*capabilities: str) -> Callable[[F], F]:
    """Let in only a member holding every one of ``capabilities`` (403 otherwise; the log-in
    page for nobody). A read-only view as customer holds no writing capability."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            context = _access()
            if context is None:
                return _to_login()
            for capability in capabilities:
                context.require(capability)  # PermissionDenied: 403, and an audit event
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def visible_or_404(record: Any, resource: str | ResourceType, capability: str | None = None) -> Any:
    """``record`` if the member may see it (and use ``capability`` on it), else 404: a record
    out of reach is one that does not exist, so its id tells nothing."""
    context = _access()
    if record is None or context is None:
        abort(404)
    view = _state().portal.access.resource(resource).view  # an unknown type raises
    if not context.allows(capability or view, record, resource):
        abort(404)
    return record


def visible_fields(resource: str | ResourceType, fields: Iterable[str]) -> list[str]:
    """``fields`` without those the member may not see (for table headings and columns):
    :meth:`AccessContext.visible_fields <portalkit.AccessContext.visible_fields>`, which also
    leaves out another name of a hidden field and refuses a name the resource's model lacks."""
    context = _access()
    if context is None:
        return []
    return context.visible_fields(resource, list(fields))


def _forbidden(exc: PermissionDenied) -> ResponseReturnValue:
    return current_app.handle_http_exception(Forbidden())


def _not_found(exc: NotFound) -> ResponseReturnValue:
    return current_app.handle_http_exception(HttpNotFound())


def _can(capability: str, record: object = None, resource: str | None = None) -> bool:
    context = _access()
    return context is not None and context.allows(capability, record, resource)


def _template_helpers() -> dict[str, Any]:
    return {
        "current_member": _member(),
        "current_access": _access(),
        "current_staff": _staff(),
        "can": _can,
        "visible_fields": visible_fields,
        "hidden_fields": lambda resource: (
            ctx.hidden_fields(resource) if (ctx := _access()) is not None else frozenset()
        ),
        "viewing_as": viewing_as(),
        "request_language": request_language,
    }
