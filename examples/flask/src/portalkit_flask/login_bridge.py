"""portalkit behind Flask-Login, for a host application that already logs people in with it.

Flask-Login keeps the user's id in the session (and, with "remember me", in a long-lived
cookie) and asks a user loader for the user on each request. Here the id is portalkit's session
value, and the loader is portalkit's session check, so Flask-Login's ``current_user``,
``login_required`` and ``logout_user`` work as they always do, while every decision stays
portalkit's: a login switched off, a password changed or rights changed log the user out on the
next request — the remember-me cookie too, because it holds the same session value::

    from flask_login import LoginManager, current_user, login_required
    from portalkit_flask import Portalkit
    from portalkit_flask.login_bridge import login_member, use_flask_login

    Portalkit(app)
    login_manager = LoginManager(app)
    use_flask_login(app, login_manager)

    @app.post("/login")
    def log_in():
        login = current_portal.auth.authenticate(vendor, form["login"], form["password"],
                                                 client_key=client_key())
        login_member(login, remember=form.get("remember") == "on")
        return redirect(safe_next(request.args.get("next")))

    @app.get("/orders")
    @login_required
    def orders():
        current_user.member      # the portalkit Member; current_user.access its context

Needs ``pip install "portalkit-flask[flask-login]"``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from portalkit import AccessContext, ConfigurationError, ImproperlyInstalled, Login, Member
from portalkit_flask.extension import get_access, load_session, login_user

try:
    import flask_login
except ModuleNotFoundError:  # pragma: no cover - depends on the installation
    raise ImproperlyInstalled("the Flask-Login bridge", "flask-login") from None

__all__ = ["FLASK_LOGIN_KEY", "PortalkitUser", "login_member", "use_flask_login"]

FLASK_LOGIN_KEY = "_user_id"
"""Where Flask-Login keeps the user's id in the session: here, portalkit's session value."""


class PortalkitUser(flask_login.UserMixin):  # type: ignore[misc]
    """Flask-Login's user for a portalkit member: ``member`` is the actor, ``access`` its
    access context for this request, and the id is the session value."""

    def __init__(self, member: Member, session_value: str, access: AccessContext | None) -> None:
        #: The portalkit actor of this login.
        self.member = member
        #: This request's access context (None right after logging in, until the next request).
        self.access = access
        self._session_value = session_value

    def get_id(self) -> str:
        """Flask-Login's id of the user: portalkit's session value."""
        return self._session_value


def use_flask_login(app: Flask, login_manager: Any) -> None:
    """Let Flask-Login's ``login_manager`` keep and load portalkit logins on ``app`` (after
    ``Portalkit(app)``): the session value becomes Flask-Login's user id, and its user loader
    checks it with portalkit on every request."""
    state = app.extensions.get("portalkit")
    if state is None:
        raise ConfigurationError("set up Portalkit(app) before use_flask_login(app, ...)")
    state.session_key = FLASK_LOGIN_KEY

    def _load(user_id: str) -> PortalkitUser | None:
        # Normally the adapter checked this very value before the request; a remember-me
        # cookie restores it only now, so it is checked here then.
        access = get_access()
        if access is None or g.get("_portalkit_session_value") != user_id:
            if load_session(user_id) is None:
                return None
            access = get_access()
        assert access is not None
        return PortalkitUser(access.actor, user_id, access)  # type: ignore[arg-type]

    login_manager.user_loader(_load)


def login_member(login: Login, *, remember: bool = False) -> None:
    """Keep a successful ``portal.auth.authenticate`` in Flask-Login's session (and, with
    ``remember``, in its remember-me cookie), with portalkit's own bookkeeping: a fresh CSRF
    token, the must-change-password redirect."""
    login_user(login)
    flask_login.login_user(PortalkitUser(login.actor, login.session, None), remember=remember)
