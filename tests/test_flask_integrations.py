"""portalkit-flask and issue 18: access tokens on requests (``Authorization: Bearer``), the
token pages, and single sign-on routes against the local OpenID provider — through Flask's
test client on real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import request
from portalkit_flask import current_portal, get_member, requires

from oidc_provider import Provider, running
from portalkit import AuthenticationFailed
from test_flask_adapter import CSRF, World, make_app


def _app(tmp_path: Path, **config: Any) -> Any:
    config.setdefault("PORTALKIT_ACCEPT_TOKENS", True)
    app = make_app(tmp_path, PORTALKIT_SSO_ALLOW_HTTP_LOOPBACK=True, **config)

    @app.post("/api/orders")
    @requires("orders.view")
    def api_orders() -> str:
        member = get_member()
        assert member is not None
        return f"posted by {member.membership_id} {request.form.get('n', '')}"

    @app.post("/api/log-out-everywhere")
    @requires("orders.view")
    def api_end_sessions() -> str:
        member = get_member()
        assert member is not None
        current_portal.auth.end_sessions(member, member.account_id)  # refused for a token
        return "ended"

    return app


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(_app(tmp_path))
    yield made
    made.portal.close()


def _token(world: World, who: str = "jane", caps: set[str] | None = None, **fields: Any) -> Any:
    member = world.portal.access.context(_member(world, who)).actor
    return world.portal.access_tokens.create(
        member,
        member.membership_id,
        name=fields.get("name", "ERP"),
        capabilities=caps or {"orders.view"},
        expires_at=fields.get("expires_at", world.portal.clock.now() + timedelta(days=30)),
    )


def _member(world: World, who: str) -> Any:
    from portalkit import Member

    m = world.memberships[who]
    return Member(
        vendor_id=world.vendor.id,
        account_id=m.account_id,
        membership_id=m.id,
        customer_id=m.customer_id,
    )


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# -- tokens on requests ----------------------------------------------------------------------
def test_a_token_request_is_the_tokens_member_without_session_or_csrf(world: World) -> None:
    value = _token(world).value
    client = world.app.test_client()
    answer = client.get("/whoami", headers=_bearer(value))
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == f"membership {world.memberships['jane'].id}"
    assert "Set-Cookie" not in answer.headers
    posted = client.post("/api/orders", data={"n": "7"}, headers=_bearer(value))
    assert posted.status_code == 200 and posted.get_data(as_text=True).endswith(" 7")
    assert "Set-Cookie" not in posted.headers
    # The token's subset, not the login's rights: orders.create is jane's, not the token's.
    assert client.get("/orders/new", headers=_bearer(value)).status_code == 403


def test_a_bad_expired_or_revoked_token_is_401_never_the_log_in_page(world: World) -> None:
    issued = _token(world)
    client = world.app.test_client()
    world.portal.access_tokens.revoke(_member(world, "jane"), issued.token.id)
    for value in (issued.value, "pkat_" + "A" * 92, "nonsense", ""):
        answer = client.get("/whoami", headers=_bearer(value))
        assert answer.status_code == 401, value
        assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "Location" not in answer.headers and "Set-Cookie" not in answer.headers
        assert client.post("/api/orders", headers=_bearer(value)).status_code == 401


def test_a_token_never_reaches_the_adapters_pages_for_people(world: World) -> None:
    value = _token(world).value
    client = world.app.test_client()
    for method, path in [
        ("post", "/login"),
        ("get", "/change-password"),
        ("post", "/change-password"),
        ("get", "/access-tokens"),
        ("post", "/access-tokens"),
        ("get", "/customer-access-tokens"),
        ("post", "/switch-customer"),
        ("get", "/sso"),
    ]:
        answer = getattr(client, method)(
            path, data={"login": "jane", "password": "x"}, headers=_bearer(value)
        )
        assert answer.status_code == 403, path
        assert "Set-Cookie" not in answer.headers, path


def test_a_credential_call_in_a_hosts_view_is_403_for_a_token(world: World) -> None:
    value = _token(world).value
    client = world.app.test_client()
    answer = client.post("/api/log-out-everywhere", headers=_bearer(value))
    assert answer.status_code == 403 and "Location" not in answer.headers
    # The login's sessions were not ended: its token still works.
    assert client.get("/whoami", headers=_bearer(value)).status_code == 200


def test_tokens_are_off_unless_the_host_accepts_them(tmp_path: Path) -> None:
    made = World(_app(tmp_path, PORTALKIT_ACCEPT_TOKENS=False))
    try:
        value = _token(made).value
        browser = made.browser()
        answer = browser.get("/whoami", headers=_bearer(value))
        assert answer.status_code == 302  # an unknown scheme to this host: nobody logged in
        # A session's POST still needs its CSRF token, whatever the Authorization header says.
        assert browser.login("jane").status_code == 302
        posted = browser.client.post("/api/orders", headers=_bearer(value))
        assert posted.status_code == 400
    finally:
        made.portal.close()


def test_a_session_with_a_bearer_header_is_the_tokens_request_only(world: World) -> None:
    browser = world.browser()
    assert browser.login("jane").status_code == 302
    # A cookie does not stand in for a bad token, nor does it lift CSRF without a good one.
    assert browser.client.post("/api/orders", headers=_bearer("nonsense")).status_code == 401
    assert browser.client.post("/api/orders").status_code == 400  # the session needs CSRF
    value = _token(world, "piet").value
    answer = browser.client.get("/whoami", headers=_bearer(value))
    assert answer.get_data(as_text=True) == f"membership {world.memberships['piet'].id}"


# -- the token pages -------------------------------------------------------------------------
def test_a_member_makes_sees_and_revokes_its_tokens(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/access-tokens")
    assert page.status_code == 200 and "orders.view" in page.get_data(as_text=True)
    made = browser.post(
        "/access-tokens",
        {"action": "create", "name": "ERP", "capabilities": "orders.view", "days": "30"},
    )
    text = made.get_data(as_text=True)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    value = text.split('<code id="token-value">')[1].split("</code>")[0]
    assert value.startswith("pkat_")
    assert value not in browser.get("/access-tokens").get_data(as_text=True)  # shown once
    assert "portalkit" in browser.session_keys() and value not in str(browser.session_keys())
    client = world.app.test_client()
    assert client.get("/whoami", headers=_bearer(value)).status_code == 200
    (token,) = world.portal.access_tokens.list(_member(world, "jane"))
    # Without the form's CSRF token nothing is revoked.
    refused = browser.post(
        "/access-tokens", {"action": "revoke", "token": str(token.id)}, token=False
    )
    assert refused.status_code == 400
    assert client.get("/whoami", headers=_bearer(value)).status_code == 200
    browser.post("/access-tokens", {"action": "revoke", "token": str(token.id)})
    assert client.get("/whoami", headers=_bearer(value)).status_code == 401


def test_the_page_refuses_more_than_the_login_holds(world: World) -> None:
    browser = world.browser()
    browser.login("piet")
    answer = browser.post(
        "/access-tokens",
        {"action": "create", "name": "ERP", "capabilities": "prices.view", "days": "30"},
    )
    assert answer.status_code == 400 and "pkat_" not in answer.get_data(as_text=True)
    assert world.portal.access_tokens.list(_member(world, "piet")) == []


def test_a_customer_admin_manages_its_customers_tokens_only(world: World) -> None:
    staff = world.staff
    admin_profile = world.portal.profiles.create(
        staff, name="Admin", capabilities={"orders.view", "members.manage"}
    )
    world.add("anna", world.acme, "extra", admin_profile)
    piets = _token(world, "piet")
    olgas = _token(world, "olga")
    browser = world.browser()
    browser.login("anna")
    page = browser.get("/customer-access-tokens").get_data(as_text=True)
    assert str(piets.token.id) in page and str(olgas.token.id) not in page
    assert ">Piet Test</option>" in page and "Olga" not in page
    made = browser.post(
        "/customer-access-tokens",
        {
            "action": "create",
            "membership": str(world.memberships["piet"].id),
            "name": "Piet's ERP",
            "capabilities": "orders.view",
            "days": "10",
        },
    )
    assert made.status_code == 200 and "pkat_" in made.get_data(as_text=True)
    browser.post("/customer-access-tokens", {"action": "revoke", "token": str(piets.token.id)})
    client = world.app.test_client()
    assert client.get("/whoami", headers=_bearer(piets.value)).status_code == 401
    # Another customer's token is a token that does not exist.
    gone = browser.post(
        "/customer-access-tokens",
        {"action": "revoke", "token": str(olgas.token.id)},
        form_at="/customer-access-tokens",
    )
    assert gone.status_code == 404
    assert client.get("/whoami", headers=_bearer(olgas.value)).status_code == 200
    # A member who is no administrator has no such page.
    other = world.browser("192.0.2.11")
    other.login("piet")
    assert other.get("/customer-access-tokens").status_code == 403


# -- single sign-on --------------------------------------------------------------------------
@pytest.fixture
def idp(world: World) -> Iterator[Provider]:
    with running(lambda: datetime.now(UTC)) as provider:
        world.portal.sso.configure(
            world.staff,
            world.acme,
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            domains=["example.com"],
        )
        yield provider


def _via_provider(answer: Any) -> str:
    """Follow the redirect to the provider; the path of its answer back to the portal."""
    assert answer.status_code == 302, answer.get_data(as_text=True)
    back = requests.get(answer.headers["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    url = urlsplit(back.headers["Location"])
    assert url.path == "/sso/callback"
    return f"{url.path}?{url.query}"


def test_sign_in_with_your_company_ends_in_the_adapters_session(
    world: World, idp: Provider
) -> None:
    idp.identity = {"email": "jane@example.com", "email_verified": True}
    browser = world.browser()
    start = browser.post("/sso", {"email": "Jane@Example.com", "next": "/whoami"})
    back = browser.get(_via_provider(start))
    assert back.status_code == 302 and back.headers["Location"] == "/whoami"
    assert browser.get("/whoami").get_data(as_text=True) == (
        f"membership {world.memberships['jane'].id}"
    )
    # By customer code, and a next off the site goes home. A link only shows the page: the
    # browser leaves for the provider by the page's form (red team: a link that went straight
    # there signed the browser in as whoever a customer's provider said — log-in CSRF).
    other = world.browser("192.0.2.12")
    page = other.get("/sso?customer=acme&next=https://evil.example/")
    assert page.status_code == 200 and 'name="customer" value="acme"' in page.get_data(as_text=True)
    start = other.post("/sso", {"customer": "acme", "next": "https://evil.example/"})
    back = other.get(_via_provider(start))
    assert back.headers["Location"] == "/"


def test_a_callback_from_another_browser_signs_nobody_in(world: World, idp: Provider) -> None:
    idp.identity = {"email": "jane@example.com", "email_verified": True}
    attacker = world.browser("203.0.113.9")
    callback = _via_provider(attacker.post("/sso", {"email": "jane@example.com"}))
    victim = world.browser()
    answer = victim.get(callback)  # log-in CSRF: someone else's state and code
    assert answer.status_code == 401
    assert "the username or password is not correct" in answer.get_data(as_text=True)
    assert victim.get("/whoami").status_code == 302


def test_sso_failures_read_as_the_normal_log_in_failure(world: World, idp: Provider) -> None:
    browser = world.browser()
    for data in ({"email": "jane@elsewhere.example"}, {"email": "not an address"}):
        answer = browser.post("/sso", data)
        assert answer.status_code == 401
        assert "the username or password is not correct" in answer.get_data(as_text=True)
    idp.identity = {"email": "jane@example.com", "email_verified": False}
    answer = browser.get(_via_provider(browser.post("/sso", {"email": "jane@example.com"})))
    assert answer.status_code == 401 and "portalkit" not in browser.session_keys()
    assert browser.get("/sso/callback?state=x&code=y").status_code == 401


def test_sso_required_ends_an_open_password_session(world: World, idp: Provider) -> None:
    browser = world.browser()
    assert browser.login("jane").status_code == 302
    assert browser.get("/whoami").status_code == 200
    world.portal.sso.configure(
        world.staff, world.acme, issuer=idp.issuer, client_id=idp.client_id,
        client_secret=None, domains=["example.com"], required=True,
    )  # fmt: skip
    assert browser.get("/whoami").status_code == 302  # refused on its next request
    assert browser.login("jane").status_code == 401
    with pytest.raises(AuthenticationFailed):
        world.portal.auth.authenticate(world.vendor, "jane", "cargo bicycle tulip harbour")


def test_the_csrf_pattern_is_the_adapters(world: World) -> None:
    assert CSRF.search(world.browser().get("/sso").get_data(as_text=True))
