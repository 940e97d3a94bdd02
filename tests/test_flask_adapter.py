"""portalkit-flask: a small host application on real SQLite, driven through Flask's test client.

Every request goes through the adapter as a browser's would: the log-in form with its CSRF
token, the signed session cookie, the adapter's checks on each request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.fernet import Fernet
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from portalkit_flask import (
    Portalkit,
    current_portal,
    get_access,
    get_member,
    login_required,
    requires,
    start_view_as,
    visible_fields,
    visible_or_404,
)
from sqlalchemy import Column, MetaData, String, Table, Uuid
from werkzeug.middleware.proxy_fix import ProxyFix

from portalkit import (
    ConfigurationError,
    NotFound,
    PermissionDenied,
    Portal,
    ResourceType,
    Staff,
    ValidationError,
    presets,
)
from portalkit.staffrights import STAFF_PERMISSIONS

PASSWORD = "cargo bicycle tulip harbour"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class World:
    """The host's portal and the people in it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        with app.app_context():
            self.portal: Portal = current_portal._get_current_object()  # type: ignore[attr-defined]
        portal = self.portal
        self.vendor = portal.default_vendor()
        self.staff = Staff(
            vendor_id=self.vendor.id, user_id="planner", permissions=STAFF_PERMISSIONS
        )
        staff = self.staff
        self.full = portal.profiles.create_from(staff, presets.TRANSPORT_FULL)
        self.read_only = portal.profiles.create_from(staff, presets.TRANSPORT_READ_ONLY)
        self.acme = portal.customers.create(staff, code="ACME", name="Acme Transport")
        self.other = portal.customers.create(staff, code="OTHER", name="Other Freight")
        self.memberships: dict[str, Any] = {}
        for name, customer, kind, profile in [
            ("jane", self.acme, "main", self.full),
            ("piet", self.acme, "extra", self.read_only),
            ("olga", self.other, "main", self.full),
        ]:
            self.add(name, customer, kind, profile)
        self.staff_in_browser: Staff | None = None

    def add(
        self, name: str, customer: Any, kind: str, profile: Any, *, must_change: bool = False
    ) -> Any:
        portal, staff = self.portal, self.staff
        contact = portal.contacts.create(
            staff, customer=customer, first_name=name.title(), last_name="Test"
        )
        account = portal.accounts.create(staff, username=name, email=f"{name}@example.com")
        membership = portal.memberships.create(
            staff, account=account, customer=customer, contact=contact, kind=kind, profile=profile
        )
        portal.credentials.set_password(staff, membership, PASSWORD, must_change=must_change)
        self.memberships[name] = membership
        return membership

    def browser(self, address: str = "192.0.2.10") -> Browser:
        return Browser(self.app.test_client(), address)


class Browser:
    """A test client that sends forms with their CSRF token, from one client address."""

    def __init__(self, client: FlaskClient, address: str) -> None:
        self.client = client
        self.environ = {"REMOTE_ADDR": address}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, environ_base=self.environ, **kwargs)

    def post(
        self, path: str, data: dict[str, str], *, form_at: str | None = None, token: bool = True
    ) -> Any:
        if token:
            page = self.get(form_at or path)
            found = CSRF.search(page.get_data(as_text=True))
            assert found, f"no CSRF token on {form_at or path}"
            data = {**data, "csrf_token": found.group(1)}
        return self.client.post(path, data=data, environ_base=self.environ)

    def login(self, login: str, password: str = PASSWORD, next_url: str = "") -> Any:
        return self.post("/login", {"login": login, "password": password, "next": next_url})

    def session_keys(self) -> set[str]:
        with self.client.session_transaction() as session:
            return set(session.keys())


def make_app(tmp_path: Path, **config: Any) -> Flask:
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="a test secret that is long enough",
        PORTALKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTALKIT_MAIL_BACKEND="memory",
        PORTALKIT_MAIL_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PORTALKIT_SECRET_KEY="another long test secret for throttles",
        PORTALKIT_BASE_URL="https://portal.example",
        PORTALKIT_LOGIN_MAX_FAILURES=3,
        PORTALKIT_PORTAL_NAME="Host portal",
    )
    app.config.update(config)
    box: dict[str, Staff | None] = {"staff": None}
    Portalkit(app, staff_loader=lambda: box["staff"])
    app.extensions["test_staff"] = box
    with app.app_context():
        current_portal.access.register_resource(ResourceType("records", view="orders.view"))

    @app.get("/whoami")
    @login_required
    def whoami() -> str:
        member = get_member()
        assert member is not None
        # Built once per request: every ask is the same context.
        assert get_access() is get_access()
        return f"membership {member.membership_id}"

    @app.get("/orders/new")
    @requires("orders.create")
    def new_order() -> str:
        return "order form"

    @app.get("/typo")
    @requires("orders.creat")
    def typo() -> str:
        return "let in"

    @app.get("/denied")
    @login_required
    def denied() -> str:
        raise PermissionDenied("the core said no")

    @app.get("/missing")
    @login_required
    def missing() -> str:
        raise NotFound("order", 42)

    @app.get("/records/<uuid:customer_id>")
    @requires("orders.view")
    def record(customer_id: UUID) -> str:
        shown = visible_or_404({"customer_id": customer_id, "id": 1}, "records")
        return f"record of {shown['customer_id']}"

    @app.get("/helpers")
    def helpers() -> str:
        return render_template_string(
            "{{ 'member' if current_member else 'anonymous' }}|"
            "{{ can('orders.view') }}|{{ can('orders.create') }}|"
            "{{ visible_fields('records', ['id', 'customer_id']) | join(',') }}"
        )

    return app


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    app = make_app(tmp_path)
    made = World(app)
    yield made
    made.portal.close()


def _set_staff(world: World, staff: Staff | None) -> None:
    world.app.extensions["test_staff"]["staff"] = staff


# -- set-up ---------------------------------------------------------------------------------
def test_settings_come_from_app_config(world: World) -> None:
    assert world.portal.settings.portal_name == "Host portal"
    assert world.portal.settings.login_max_failures == 3
    assert str(world.portal.settings.database_url).endswith("portal.db")


def test_an_unknown_portalkit_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="PORTALKIT_LOGIN_MAX_FAILURE "):
        make_app(tmp_path, PORTALKIT_LOGIN_MAX_FAILURE=5)


def test_a_missing_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        make_app(tmp_path, SECRET_KEY=None)


def test_state_lives_in_app_extensions(world: World) -> None:
    assert "portalkit" in world.app.extensions
    assert "csrf" in world.app.extensions  # Flask-WTF's CSRFProtect is on


# -- sessions -------------------------------------------------------------------------------
def test_login_keeps_the_session_and_logout_ends_it(world: World) -> None:
    browser = world.browser()
    assert browser.login("jane").status_code == 302
    assert browser.get("/whoami").get_data(as_text=True) == (
        f"membership {world.memberships['jane'].id}"
    )
    assert browser.post("/logout", {}, form_at="/change-password").status_code == 302
    assert browser.get("/whoami").status_code == 302


def test_a_copy_of_the_cookie_from_before_the_log_out_is_refused(world: World) -> None:
    """Flask's session lives in the cookie: a log-out that only cleared this browser's copy
    left one taken before (by a thief, from a backup) working until its time-out."""
    browser = world.browser()
    browser.login("jane")
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    browser.post("/logout", {}, form_at="/change-password")
    browser.client.set_cookie("session", cookie.value)
    assert browser.get("/whoami").status_code == 302


def test_a_wrong_password_logs_nobody_in(world: World) -> None:
    browser = world.browser()
    answer = browser.login("jane", "not her password at all")
    assert answer.status_code == 401
    assert "the username or password is not correct" in answer.get_data(as_text=True)
    assert "portalkit" not in browser.session_keys()


def _deactivate_account(world: World, who: str) -> None:
    world.portal.accounts.deactivate(world.staff, world.memberships[who].account_id)


def _deactivate_membership(world: World, who: str) -> None:
    world.portal.memberships.deactivate(world.staff, world.memberships[who].id)


def _deactivate_customer(world: World, who: str) -> None:
    world.portal.customers.deactivate(world.staff, world.memberships[who].customer_id)


def _password_changed_elsewhere(world: World, who: str) -> None:
    other = world.browser("198.51.100.7")
    assert other.login(who).status_code == 302
    answer = other.post(
        "/change-password",
        {
            "current": PASSWORD,
            "new": "windmill lantern pepper canal",
            "confirm": "windmill lantern pepper canal",
        },
    )
    assert answer.status_code == 302
    assert other.get("/whoami").status_code == 200  # the browser that changed it stays in


def _password_set_by_staff(world: World, who: str) -> None:
    world.portal.credentials.set_password(
        world.staff, world.memberships[who], "seven quiet orange ferries"
    )


def _main_account_off(world: World, who: str) -> None:
    assert who == "piet"  # an extra account: it works only while jane's main account does
    world.portal.memberships.deactivate(world.staff, world.memberships["jane"].id)


def _profile_changed(world: World, who: str) -> None:
    world.portal.memberships.update(world.staff, world.memberships[who].id, profile=world.read_only)


def _sessions_ended(world: World, who: str) -> None:
    world.portal.auth.end_sessions(world.staff, world.memberships[who].account_id)


TRIGGERS: list[tuple[str, str, Callable[[World, str], None]]] = [
    ("account deactivated", "jane", _deactivate_account),
    ("membership deactivated", "jane", _deactivate_membership),
    ("customer deactivated", "jane", _deactivate_customer),
    ("password changed elsewhere", "jane", _password_changed_elsewhere),
    ("password set by staff", "jane", _password_set_by_staff),
    ("main account off for an extra", "piet", _main_account_off),
    ("rights changed", "jane", _profile_changed),
    ("log out everywhere", "jane", _sessions_ended),
]


@pytest.mark.parametrize(
    ("who", "trigger"), [(w, t) for _, w, t in TRIGGERS], ids=[n for n, _, _ in TRIGGERS]
)
def test_a_login_switched_off_between_requests_is_logged_out(
    world: World, who: str, trigger: Callable[[World, str], None]
) -> None:
    browser = world.browser()
    assert browser.login(who).status_code == 302
    assert browser.get("/whoami").status_code == 200
    trigger(world, who)
    answer = browser.get("/whoami")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=")
    assert "portalkit" not in browser.session_keys()  # logged out, not only refused once


def test_a_tampered_session_cookie_logs_nobody_in(world: World) -> None:
    browser = world.browser()
    assert browser.login("jane").status_code == 302
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    browser.client.set_cookie("session", cookie.value[:-2] + "xx")
    assert browser.get("/whoami").status_code == 302


def test_a_replaced_secret_key_ends_the_sessions_it_signed(world: World) -> None:
    # The adapter builds Flask's cookie serializer once per set of keys: a new key must
    # still refuse the old cookies on the very next request, and a fallback still take them.
    browser = world.browser()
    assert browser.login("jane").status_code == 302
    assert browser.get("/whoami").status_code == 200
    old = world.app.config["SECRET_KEY"]
    world.app.config["SECRET_KEY"] = world.app.secret_key = "a new secret, long enough too"
    assert browser.get("/whoami").status_code == 302
    assert browser.login("jane").status_code == 302
    world.app.config["SECRET_KEY"] = world.app.secret_key = "and another, after the first"
    world.app.config["SECRET_KEY_FALLBACKS"] = ["a new secret, long enough too"]
    assert browser.get("/whoami").status_code == 200
    world.app.config["SECRET_KEY_FALLBACKS"] = [old]
    assert browser.get("/whoami").status_code == 302


def test_must_change_password_sends_the_member_to_change_it_first(world: World) -> None:
    world.add("kees", world.acme, "member", world.full, must_change=True)
    browser = world.browser()
    answer = browser.login("kees", next_url="/whoami")
    assert answer.headers["Location"] == "/change-password?next=/whoami"
    refused = browser.get("/whoami")
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/change-password")
    changed = browser.post(
        "/change-password?next=/whoami",
        {
            "current": PASSWORD,
            "new": "windmill lantern pepper canal",
            "confirm": "windmill lantern pepper canal",
            "next": "/whoami",
        },
        form_at="/change-password",
    )
    assert changed.headers["Location"] == "/whoami"
    assert browser.get("/whoami").status_code == 200


def test_a_rejected_new_password_says_why(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    answer = browser.post(
        "/change-password", {"current": PASSWORD, "new": "short", "confirm": "short"}
    )
    assert answer.status_code == 400
    assert "<li>" in answer.get_data(as_text=True)


# -- 403 / 404 ------------------------------------------------------------------------------
def test_nobody_logged_in_goes_to_the_login_page(world: World) -> None:
    answer = world.browser().get("/orders/new")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/orders/new"


def test_a_missing_capability_is_403(world: World) -> None:
    browser = world.browser()
    browser.login("piet")  # read only
    assert browser.get("/orders/new").status_code == 403
    full = world.browser()
    full.login("jane")
    assert full.get("/orders/new").status_code == 200


def test_an_unknown_capability_fails_closed(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    answer = browser.get("/typo")
    assert answer.status_code == 500
    assert "let in" not in answer.get_data(as_text=True)


def test_without_the_blueprint_nobody_gets_401(tmp_path: Path) -> None:
    app = make_app(tmp_path, PORTALKIT_BLUEPRINT=False)
    assert app.test_client().get("/login").status_code == 404
    assert app.test_client().get("/orders/new").status_code == 401
    with app.app_context():
        current_portal.close()


def test_the_cores_refusals_map_to_403_and_404(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    assert browser.get("/denied").status_code == 403
    assert browser.get("/missing").status_code == 404


def test_a_record_of_another_customer_is_404(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    assert browser.get(f"/records/{world.acme.id}").status_code == 200
    assert browser.get(f"/records/{world.other.id}").status_code == 404


def test_template_helpers_follow_the_context(world: World) -> None:
    assert world.browser().get("/helpers").get_data(as_text=True) == "anonymous|False|False|"
    reader = world.browser()
    reader.login("piet")
    assert reader.get("/helpers").get_data(as_text=True) == "member|True|False|id,customer_id"


def test_the_heading_helper_is_the_cores_and_fails_closed(world: World) -> None:
    priced = Table(
        "priced_orders",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("customer_id", Uuid),
        Column("amount", String(20)),
    )
    with world.app.app_context():
        current_portal.access.register_resource(
            ResourceType(
                "priced", view="orders.view", sensitive={"amount": "prices.view"}, model=priced
            )
        )
    world.app.add_url_rule(
        "/heading/<names>",
        "heading",
        lambda names: ",".join(visible_fields("priced", names.split(","))),
    )
    reader = world.browser()
    reader.login("piet")  # read-only transport profile: no prices
    assert reader.get("/heading/id,amount,customer_id").get_data(as_text=True) == "id,customer_id"
    jane = world.browser()
    jane.login("jane")
    assert jane.get("/heading/id,amount").get_data(as_text=True) == "id,amount"
    world.app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ValidationError):  # a name the model lacks is an error, not a column
        jane.get("/heading/id,amout")


# -- CSRF, redirects, cookies, client key ---------------------------------------------------
def test_a_post_without_csrf_token_is_refused(world: World) -> None:
    browser = world.browser()
    answer = browser.post("/login", {"login": "jane", "password": PASSWORD}, token=False)
    assert answer.status_code == 400
    assert "portalkit" not in browser.session_keys()
    browser.login("jane")
    assert browser.post("/logout", {}, token=False).status_code == 400
    assert browser.get("/whoami").status_code == 200  # still logged in


@pytest.mark.parametrize(
    "target",
    [
        "https://elsewhere.example/",
        "//elsewhere.example/",
        "/\\elsewhere.example",
        "/%2F%2Felsewhere.example",
        "javascript:alert(1)",
    ],
)
def test_next_never_leads_off_the_site(world: World, target: str) -> None:
    answer = world.browser().login("jane", next_url=target)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


def test_next_on_the_site_is_followed(world: World) -> None:
    answer = world.browser().login("jane", next_url="/whoami?page=2")
    assert answer.headers["Location"] == "/whoami?page=2"


def test_the_session_cookie_is_httponly_lax_and_secure(world: World) -> None:
    answer = world.browser().login("jane")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


def test_secure_cookies_can_be_switched_off_for_plain_http(tmp_path: Path) -> None:
    app = make_app(tmp_path, PORTALKIT_SESSION_COOKIE_SECURE=False)
    world = World(app)
    cookie = world.browser().login("jane").headers["Set-Cookie"]
    assert "Secure" not in cookie
    assert "HttpOnly" in cookie
    world.portal.close()


def test_secure_cookies_are_off_by_default_only_in_debug(tmp_path: Path) -> None:
    app = Flask("debug-host", root_path=str(tmp_path))
    app.debug = True
    app.config.update(
        SECRET_KEY="a test secret that is long enough",
        PORTALKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'debug.db'}",
        PORTALKIT_MAIL_BACKEND="memory",
    )
    kit = Portalkit(app)
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    with app.app_context():
        kit.portal.close()


def test_the_throttle_counts_per_client_address(world: World) -> None:
    guesser = world.browser("203.0.113.66")
    for n in range(3):
        guesser.login(f"nobody{n}", "wrong guess number one")
    # The address is locked: even the right password is refused from it...
    assert guesser.login("jane").status_code == 401
    # ...while the member at another address logs in.
    assert world.browser("192.0.2.44").login("jane").status_code == 302


def test_behind_proxyfix_the_client_address_is_the_forwarded_one(world: World) -> None:
    world.app.wsgi_app = ProxyFix(world.app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    proxy = "10.0.0.1"
    for n in range(3):
        client = world.browser(proxy)
        client.environ["HTTP_X_FORWARDED_FOR"] = "203.0.113.66"
        client.login(f"nobody{n}", "wrong guess number one")
    guesser = world.browser(proxy)
    guesser.environ["HTTP_X_FORWARDED_FOR"] = "203.0.113.66"
    assert guesser.login("jane").status_code == 401  # the guessing client is locked
    other = world.browser(proxy)
    other.environ["HTTP_X_FORWARDED_FOR"] = "192.0.2.44"
    assert other.login("jane").status_code == 302  # another client behind the same proxy


# -- the blueprint's other pages ------------------------------------------------------------
def _token_in_last_mail(world: World) -> str:
    world.portal.mail.wait()
    body = world.portal.mailer.outbox[-1].get_body(("plain",)).get_content()
    found = re.search(r"\?token=([\w-]+)", body)
    assert found
    return found.group(1)


def test_forgot_and_reset_password(world: World) -> None:
    browser = world.browser()
    answer = browser.post("/forgot-password", {"login": "jane"})
    assert "If this login exists" in answer.get_data(as_text=True)
    token = _token_in_last_mail(world)
    assert browser.get(f"/reset-password?token={token}").status_code == 200
    new = "seven quiet orange ferries"
    done = browser.post(
        "/reset-password",
        {"token": token, "password": new, "confirm": new},
        form_at=f"/reset-password?token={token}",
    )
    assert done.headers["Location"] == "/login"
    assert browser.login("jane", new).status_code == 302
    assert browser.get(f"/reset-password?token={token}").status_code == 404  # used up


def test_accept_an_invitation(world: World) -> None:
    admin = world.browser()
    membership = world.portal.logins.add(
        world.staff,
        customer=world.acme,
        email="tom@example.com",
        first_name="Tom",
        last_name="Boer",
        profile=world.read_only,
    )
    token = _token_in_last_mail(world)
    page = admin.get(f"/accept-invitation?token={token}")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    done = admin.post(
        "/accept-invitation",
        {"token": token, "password": PASSWORD, "confirm": PASSWORD},
        form_at=f"/accept-invitation?token={token}",
    )
    assert done.headers["Location"] == "/login"
    assert world.portal.memberships.get(world.staff, membership.id).status.value == "active"
    assert admin.login("tom").status_code == 302


def test_switch_customer(world: World) -> None:
    world.portal.memberships.create(
        world.staff,
        account=world.memberships["jane"].account_id,
        customer=world.other,
        contact=world.portal.contacts.create(
            world.staff, customer=world.other, first_name="Jane", last_name="Two"
        ),
        profile=world.full,
        status="active",
    )
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/switch-customer").get_data(as_text=True)
    assert "Other Freight" in page and "Acme Transport" in page
    assert browser.post("/switch-customer", {"customer": str(world.other.id)}).status_code == 302
    assert browser.get(f"/records/{world.other.id}").status_code == 200
    assert browser.get(f"/records/{world.acme.id}").status_code == 404
    stranger = world.browser()
    stranger.login("piet")
    refused = stranger.post(
        "/switch-customer", {"customer": str(world.other.id)}, form_at="/change-password"
    )
    assert refused.status_code == 404


def test_the_sessions_page_lists_this_browser_and_ends_another(world: World) -> None:
    here, there = world.browser("192.0.2.10"), world.browser("198.51.100.20")
    here.login("jane")
    there.client.environ_base["HTTP_USER_AGENT"] = "Safari/18 on a phone"
    there.login("jane")
    page = here.get("/sessions").get_data(as_text=True)
    assert "198.51.100.20" in page and "Safari/18 on a phone" in page
    assert "This browser" in page
    (other,) = [
        s
        for s in world.portal.sessions.list(
            world.staff, account=world.memberships["jane"].account_id
        )
        if s.client_key == "198.51.100.20"
    ]
    assert here.post("/sessions", {"end": str(other.id)}).status_code == 302
    assert there.get("/whoami").status_code == 302  # logged out at once
    assert here.get("/whoami").status_code == 200
    # Another login's session is, to this member, none that exists.
    stranger = world.browser()
    stranger.login("piet")
    (mine,) = world.portal.sessions.list(world.staff, account=world.memberships["jane"].account_id)
    assert stranger.post("/sessions", {"end": str(mine.id)}).status_code == 404
    assert here.get("/whoami").status_code == 200


def test_a_password_change_keeps_this_browsers_session_and_its_login_time(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    account = world.memberships["jane"].account_id
    (before,) = world.portal.sessions.list(world.staff, account=account)
    new = "windmill lantern pepper canal"
    changed = browser.post("/change-password", {"current": PASSWORD, "new": new, "confirm": new})
    assert changed.status_code == 302
    assert browser.get("/whoami").status_code == 200
    (after,) = world.portal.sessions.list(world.staff, account=account)
    assert (after.id, after.created_at) == (before.id, before.created_at)


# -- view as customer -----------------------------------------------------------------------
def test_view_as_customer_shows_the_banner_and_refuses_changes(world: World) -> None:
    app = world.app

    @app.get("/start-view/<who>")
    def start_view(who: str) -> str:
        start_view_as(world.staff, world.memberships[who], reason="customer called")
        return "started"

    @app.get("/page")
    @login_required
    def page() -> str:
        return render_template_string('{% include "portalkit/_view_as_banner.html" %}member page')

    browser = world.browser()
    _set_staff(world, world.staff)
    assert browser.get("/start-view/jane").status_code == 200
    shown = browser.get("/page").get_data(as_text=True)
    assert "viewing the portal as a customer" in shown
    assert (
        browser.get("/whoami").get_data(as_text=True)
        == f"membership {world.memberships['jane'].id}"
    )
    assert browser.get("/orders/new").status_code == 403  # read-only: no writing capability
    assert browser.get("/change-password").status_code == 403
    # The staff member logs out of the host: the view ends with it.
    _set_staff(world, None)
    assert browser.get("/whoami").status_code == 302
    _set_staff(world, world.staff)
    assert browser.get("/whoami").status_code == 302  # and does not come back
    assert browser.get("/start-view/jane").status_code == 200
    assert browser.post("/view-as/end", {}, form_at="/page").status_code == 302
    assert browser.get("/whoami").status_code == 302
    actions = [e.action for e in world.portal.audit.list(world.staff, limit=100)]
    assert "impersonation_end" in actions


def test_a_view_as_ends_when_the_members_login_is_switched_off(world: World) -> None:
    app = world.app

    @app.get("/start-view/<who>")
    def start_view(who: str) -> str:
        start_view_as(world.staff, world.memberships[who], reason="customer called")
        return "started"

    browser = world.browser()
    _set_staff(world, world.staff)
    assert browser.get("/start-view/jane").status_code == 200
    assert browser.get("/whoami").status_code == 200
    world.portal.memberships.deactivate(world.staff, world.memberships["jane"].id)
    assert browser.get("/whoami").status_code == 302
