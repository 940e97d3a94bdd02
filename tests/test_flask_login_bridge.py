"""The Flask-Login bridge: Flask-Login keeps and loads the login, portalkit decides.

A host that already uses Flask-Login keeps ``current_user``, ``login_required`` and
``logout_user``; the user id is portalkit's session value, so a login switched off, a password
changed or rights changed end it on the next request — the remember-me cookie's copy too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_login
import pytest
from flask import Flask, render_template_string, request
from portalkit_flask import client_key, current_portal, get_access
from portalkit_flask.login_bridge import (
    FLASK_LOGIN_KEY,
    PortalkitUser,
    login_member,
    use_flask_login,
)

from portalkit import AuthenticationFailed
from test_flask_adapter import PASSWORD, Browser, World, make_app


def bridged_app(tmp_path: Path) -> Flask:
    app = make_app(tmp_path, PORTALKIT_BLUEPRINT=False)
    manager = flask_login.LoginManager(app)
    use_flask_login(app, manager)

    @app.post("/login")
    def log_in() -> Any:
        vendor = current_portal.default_vendor()
        try:
            login = current_portal.auth.authenticate(
                vendor, request.form["login"], request.form["password"], client_key=client_key()
            )
        except AuthenticationFailed:
            return "no", 401
        login_member(login, remember=request.form.get("remember") == "on")
        return "welcome"

    @app.get("/login")
    def login_form() -> str:
        return render_template_string('<input name="csrf_token" value="{{ csrf_token() }}">')

    @app.get("/me")
    @flask_login.login_required
    def me() -> str:
        user = flask_login.current_user
        assert isinstance(user, PortalkitUser)
        # The context portalkit built for this request, reused by every call.
        assert user.access is get_access() and user.access is not None
        customer = current_portal.customers.get(user.member, user.member.customer_id)
        return f"{customer.code} {user.access.can('prices.view')}"

    @app.post("/logout")
    def log_out() -> str:
        flask_login.logout_user()
        return "bye"

    return app


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(bridged_app(tmp_path))


def _logged_in(world: World, login: str = "jane", remember: bool = False) -> Browser:
    browser = world.browser()
    data = {"login": login, "password": PASSWORD}
    if remember:
        data["remember"] = "on"
    answer = browser.post("/login", data, form_at="/login")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return browser


def test_flask_login_keeps_the_login_and_portalkit_decides(world: World) -> None:
    browser = _logged_in(world)
    assert FLASK_LOGIN_KEY in browser.session_keys()
    assert browser.get("/me").get_data(as_text=True) == "ACME True"
    assert browser.get("/orders/new").status_code == 200  # portalkit's @requires, same login
    assert browser.post("/logout", {}, form_at="/login").status_code == 200
    assert browser.get("/me").status_code == 401


def test_a_switched_off_login_is_logged_out_on_its_next_request(world: World) -> None:
    browser = _logged_in(world)
    assert browser.get("/me").status_code == 200
    world.portal.memberships.deactivate(world.staff, world.memberships["jane"].id)
    assert browser.get("/me").status_code == 401
    assert FLASK_LOGIN_KEY not in browser.session_keys()


def test_the_remember_me_cookie_dies_with_the_session_stamp(world: World) -> None:
    browser = _logged_in(world, remember=True)
    with browser.client.session_transaction() as session:
        session.clear()  # the browser closed: only the remember-me cookie is left
    assert browser.get("/me").get_data(as_text=True) == "ACME True"
    with browser.client.session_transaction() as session:
        session.clear()
    world.portal.auth.end_sessions(world.staff, world.memberships["jane"].account_id)
    assert browser.get("/me").status_code == 401


def test_a_limited_member_through_flask_login_is_still_limited(world: World) -> None:
    browser = _logged_in(world, "piet")
    assert browser.get("/me").get_data(as_text=True) == "ACME False"
    assert browser.get("/orders/new").status_code == 403
