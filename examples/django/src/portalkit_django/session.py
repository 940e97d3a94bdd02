"""The member of a request: kept in Django's session, checked by portalkit on every request.

The middleware (:mod:`portalkit_django.middleware`) calls :func:`load_member`; views call
:func:`login_user`, :func:`logout_user`, :func:`refresh_session` and the view-as helpers.
Everything here turns a request into portalkit calls; the decisions are portalkit's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from uuid import UUID

from django.middleware.csrf import rotate_token

from portalkit import AuthenticationFailed, Login, Member, Staff, safe_redirect
from portalkit.staffrights import IMPERSONATE
from portalkit_django.apps import _config

__all__ = [
    "MUST_CHANGE_KEY",
    "SESSION_KEY",
    "VIEW_AS_KEY",
    "client_key",
    "end_view_as",
    "load_member",
    "login_user",
    "logout_user",
    "refresh_session",
    "safe_next",
    "session_value",
    "start_view_as",
    "user_agent",
    "viewing_as",
]

SESSION_KEY = "portalkit"
"""Where in Django's session the session value (``Login.session``) lives."""
MUST_CHANGE_KEY = "portalkit_must_change"
VIEW_AS_KEY = "portalkit_view_as"


def _set(request: Any, member: Member | None, access: Any = None) -> None:
    request.portal_member = member
    request.portal_access = access


def load_member(request: Any) -> None:
    """Check the session value in ``request.session`` and set ``request.portal_member`` and
    ``request.portal_access`` (None both when nobody is logged in, or the login no longer
    holds: switched off, password changed elsewhere, rights gone — then the session forgets
    it, now)."""
    _set(request, None)
    session = request.session
    view = session.get(VIEW_AS_KEY)
    if view is not None:
        if _rebuild_view_as(request, view):
            return
        session.pop(VIEW_AS_KEY, None)
    value = session.get(SESSION_KEY)
    if value is None:
        return
    config = _config()
    try:
        # The session checked and the member's context built in the same two queries.
        context = config.portal.auth.session_context(config.vendor_id, value)
    except AuthenticationFailed:
        session.pop(SESSION_KEY, None)
        session.pop(MUST_CHANGE_KEY, None)
        return
    _set(request, cast(Member, context.actor), context)


def client_key(request: Any) -> str | None:
    """Who is knocking, for portalkit's throttles: ``REMOTE_ADDR``. Behind a proxy, have the
    server (gunicorn's PROXY protocol) or a middleware of your own that trusts only your
    proxy put the client's address there; never read X-Forwarded-For yourself."""
    found = request.META.get("REMOTE_ADDR")
    return found if isinstance(found, str) and found else None


def user_agent(request: Any) -> str:
    """The browser's ``User-Agent``, kept on the session's record for the member's list of
    its sessions (shown, never trusted)."""
    found = request.META.get("HTTP_USER_AGENT", "")
    return found if isinstance(found, str) else ""


def session_value(request: Any) -> str | None:
    """This browser's session value (for ``portal.sessions``: which session is this one)."""
    value = request.session.get(SESSION_KEY)
    return value if isinstance(value, str) else None


def safe_next(target: object) -> str:
    """Where to go after logging in: ``target`` if it is a path on this site (or an https
    URL on ``PORTALKIT["ALLOWED_HOSTS"]``), else ``PORTALKIT["HOME_URL"]``.

    Both portalkit's :func:`~portalkit.safe_redirect` and Django's
    ``url_has_allowed_host_and_scheme`` must accept it."""
    from django.utils.http import url_has_allowed_host_and_scheme

    options = _config().options
    hosts = tuple(options["ALLOWED_HOSTS"])
    found = safe_redirect(target, allowed_hosts=hosts, default=options["HOME_URL"])
    if not url_has_allowed_host_and_scheme(found, allowed_hosts=set(hosts), require_https=True):
        return str(options["HOME_URL"])
    return found


def login_user(request: Any, login: Login) -> None:
    """Keep a successful log-in (from ``portal.auth.authenticate``) in the session: a new
    session key and a new CSRF token, so nothing from before the log-in carries over."""
    session = request.session
    for key in (SESSION_KEY, MUST_CHANGE_KEY, VIEW_AS_KEY):
        session.pop(key, None)
    session.cycle_key()
    rotate_token(request)
    session[SESSION_KEY] = login.session
    if login.must_change_password:
        session[MUST_CHANGE_KEY] = True
    _set(request, login.actor)


def refresh_session(request: Any, actor: Member) -> None:
    """Keep the session value for ``actor`` after a change that renewed the stamps (a
    password change, a switch of customer): this browser's session carries over, with its
    log-in time (see ``portal.auth.session``)."""
    request.session[SESSION_KEY] = _config().portal.auth.session(actor, session_value(request))
    request.session.pop(MUST_CHANGE_KEY, None)
    _set(request, actor)


def logout_user(request: Any) -> None:
    """Log this browser out: its session ends in storage too (a copy of the cookie is refused
    from now on); other browsers stay logged in (for "log out everywhere" call
    ``portal.auth.end_sessions``)."""
    if request.session.get(VIEW_AS_KEY) is not None:
        end_view_as(request)
    value = request.session.get(SESSION_KEY)
    if value is not None:
        config = _config()
        config.portal.sessions.log_out(config.vendor_id, value)
    for key in (SESSION_KEY, MUST_CHANGE_KEY):
        request.session.pop(key, None)
    request.session.cycle_key()
    _set(request, None)


# -- view as customer -------------------------------------------------------------------------
def staff_of(request: Any) -> Staff | None:
    """The vendor staff member the project's ``STAFF_LOADER`` returns for ``request``."""
    if not hasattr(request, "_portalkit_staff"):
        request._portalkit_staff = _config().load_staff(request)
    staff: Staff | None = request._portalkit_staff
    return staff


def start_view_as(
    request: Any,
    staff: Staff,
    membership: Any,
    *,
    reason: str,
    minutes: int = 30,
    allow_writes: bool = False,
) -> Member:
    """Let ``staff`` see the portal as a member (``portal.access.view_as``) in this browser
    until it ends: read-only unless ``allow_writes``, for ``minutes``."""
    actor = _config().portal.access.view_as(
        staff, membership, reason=reason, minutes=minutes, allow_writes=allow_writes
    )
    keep_view_as(request, actor)
    return actor


def keep_view_as(request: Any, actor: Member) -> None:
    """Keep a view-as actor in the session (portalkit gives it no session value, so its
    fields are kept and its context is checked again on every request)."""
    assert actor.impersonator is not None and actor.expires_at is not None
    request.session[VIEW_AS_KEY] = {
        "m": str(actor.membership_id),
        "a": str(actor.account_id),
        "c": str(actor.customer_id),
        "by": actor.impersonator,
        "ro": actor.read_only,
        "until": actor.expires_at.isoformat(),
    }
    _set(request, actor)


def _rebuild_view_as(request: Any, data: object) -> bool:
    staff = staff_of(request)
    if staff is None or not isinstance(data, dict) or data.get("by") != staff.user_id:
        return False
    if IMPERSONATE not in staff.permissions:
        return False  # the permission was withdrawn: the view ends on the next request
    config = _config()
    try:
        actor = Member(
            vendor_id=config.vendor_id,
            account_id=UUID(data["a"]),
            membership_id=UUID(data["m"]),
            customer_id=UUID(data["c"]),
            impersonator=staff.user_id,
            read_only=bool(data["ro"]),
            expires_at=datetime.fromisoformat(data["until"]),
        )
    except (KeyError, TypeError, ValueError):
        return False
    context = config.portal.access.context(actor)
    if context.denied:  # ended, or the member's login stopped working
        return False
    _set(request, actor, context)
    return True


def viewing_as(request: Any) -> Member | None:
    """The member staff are viewing the portal as in this request, or None."""
    member: Member | None = getattr(request, "portal_member", None)
    return member if member is not None and member.impersonator is not None else None


def end_view_as(request: Any) -> None:
    """End this browser's view as customer (recorded in the audit log)."""
    actor = viewing_as(request)
    request.session.pop(VIEW_AS_KEY, None)
    if actor is not None:
        _config().portal.access.end_view_as(actor)
    _set(request, None)
