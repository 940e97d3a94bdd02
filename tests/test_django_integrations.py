"""portalkit-django and issue 18: access tokens on requests (``Authorization: Bearer``), the
token pages, and single sign-on views against the local OpenID provider — through Django's
test client on real SQLite (the project of tests/test_django_adapter.py)."""

# ruff: noqa: F811  (``world`` is the fixture imported from the project's tests)

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from oidc_provider import Provider, running
from portalkit import Member
from test_django_adapter import World, world  # noqa: F401  (the project and its fixture)

AUTH = "HTTP_AUTHORIZATION"


@pytest.fixture
def tokens_on(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    from portalkit_django.apps import _config

    monkeypatch.setitem(_config().options, "ACCEPT_TOKENS", True)
    monkeypatch.setattr(
        world.portal,
        "settings",
        world.portal.settings.model_copy(update={"sso_allow_http_loopback": True}),
    )
    return world


def _member(world: World, who: str) -> Member:
    m = world.memberships[who]
    return Member(
        vendor_id=world.staff.vendor_id,
        account_id=m.account_id,
        membership_id=m.id,
        customer_id=m.customer_id,
    )


def _token(world: World, who: str = "jane", caps: set[str] | None = None) -> Any:
    member = _member(world, who)
    return world.portal.access_tokens.create(
        member,
        member.membership_id,
        name="ERP",
        capabilities=caps or {"orders.view"},
        expires_at=world.portal.clock.now() + timedelta(days=30),
    )


def _client(csrf: bool = True) -> Any:
    from django.test import Client

    return Client(enforce_csrf_checks=csrf, REMOTE_ADDR="192.0.2.50")


# -- tokens on requests ----------------------------------------------------------------------
def test_a_token_request_is_the_tokens_member_without_session_or_csrf(tokens_on: World) -> None:
    world = tokens_on
    value = _token(world).value
    client = _client()
    answer = client.get("/whoami", **{AUTH: f"Bearer {value}"})
    assert answer.status_code == 200
    assert answer.content.decode() == f"membership {world.memberships['jane'].id}"
    assert not answer.cookies
    posted = client.post("/whoami", {"n": "7"}, **{AUTH: f"Bearer {value}"})
    assert posted.status_code == 200 and not posted.cookies  # no CSRF token, no session
    assert client.get("/orders", **{AUTH: f"Bearer {value}"}).status_code == 200
    # The token's subset: orders.create is jane's, not the token's.
    assert client.get("/orders/new", **{AUTH: f"Bearer {value}"}).status_code == 403


def test_a_bad_expired_or_revoked_token_is_401_never_the_log_in_page(tokens_on: World) -> None:
    world = tokens_on
    issued = _token(world)
    world.portal.access_tokens.revoke(_member(world, "jane"), issued.token.id)
    client = _client()
    for value in (issued.value, "pkat_" + "A" * 92, "nonsense", ""):
        for answer in (
            client.get("/whoami", **{AUTH: f"Bearer {value}"}),
            client.post("/whoami", **{AUTH: f"Bearer {value}"}),
        ):
            assert answer.status_code == 401, value
            assert answer["WWW-Authenticate"].startswith("Bearer ")
            assert not answer.has_header("Location") and not answer.cookies


def test_a_token_never_reaches_the_adapters_pages_for_people(tokens_on: World) -> None:
    value = _token(tokens_on).value
    client = _client()
    for path in [
        "/portal/login/",
        "/portal/change-password/",
        "/portal/access-tokens/",
        "/portal/customer-access-tokens/",
        "/portal/switch-customer/",
        "/portal/sso/",
    ]:
        for method in (client.get, client.post):
            answer = method(path, **{AUTH: f"Bearer {value}"})
            assert answer.status_code == 403, path
            assert not answer.cookies, path


def test_tokens_are_off_unless_the_project_accepts_them(world: World) -> None:
    value = _token(world).value
    browser = world.browser()
    assert browser.client.get("/whoami", **{AUTH: f"Bearer {value}"}).status_code == 302
    browser.login("jane")
    # A session's POST still needs its CSRF token, whatever the Authorization header says.
    assert browser.client.post("/whoami", **{AUTH: f"Bearer {value}"}).status_code == 403


def test_a_session_with_a_bad_bearer_header_is_401(tokens_on: World) -> None:
    browser = tokens_on.browser()
    browser.login("jane")
    assert browser.client.post("/whoami", **{AUTH: "Bearer nonsense"}).status_code == 401
    assert browser.client.post("/whoami").status_code == 403  # the session needs CSRF


# -- the token pages -------------------------------------------------------------------------
def test_a_member_makes_sees_and_revokes_its_tokens(tokens_on: World) -> None:
    world = tokens_on
    browser = world.browser()
    browser.login("jane")
    made = browser.post(
        "/portal/access-tokens/",
        {"action": "create", "name": "ERP", "capabilities": "orders.view", "days": "30"},
    )
    text = made.content.decode()
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    value = text.split('<code id="token-value">')[1].split("</code>")[0]
    assert value.startswith("pkat_")
    assert value not in browser.get("/portal/access-tokens/").content.decode()
    client = _client()
    assert client.get("/whoami", **{AUTH: f"Bearer {value}"}).status_code == 200
    (token,) = world.portal.access_tokens.list(_member(world, "jane"))
    refused = browser.post(
        "/portal/access-tokens/", {"action": "revoke", "token": str(token.id)}, token=False
    )
    assert refused.status_code == 403  # Django's CSRF refusal
    assert client.get("/whoami", **{AUTH: f"Bearer {value}"}).status_code == 200
    browser.post("/portal/access-tokens/", {"action": "revoke", "token": str(token.id)})
    assert client.get("/whoami", **{AUTH: f"Bearer {value}"}).status_code == 401
    page = browser.get("/portal/access-tokens/").content.decode()
    assert "revoked" in page


def test_a_customer_admin_manages_its_customers_tokens_only(tokens_on: World) -> None:
    world = tokens_on
    admin_profile = world.portal.profiles.create(
        world.staff, name="Admin", capabilities={"orders.view", "members.manage"}
    )
    world.add("anna", world.acme, "extra", admin_profile)
    piets, olgas = _token(world, "piet"), _token(world, "olga")
    browser = world.browser()
    browser.login("anna")
    page = browser.get("/portal/customer-access-tokens/").content.decode()
    assert str(piets.token.id) in page and str(olgas.token.id) not in page
    assert ">Piet Test</option>" in page and "Olga" not in page
    made = browser.post(
        "/portal/customer-access-tokens/",
        {
            "action": "create",
            "membership": str(world.memberships["piet"].id),
            "name": "Piet's ERP",
            "capabilities": "orders.view",
            "days": "10",
        },
    )
    assert made.status_code == 200 and "pkat_" in made.content.decode()
    gone = browser.post(
        "/portal/customer-access-tokens/", {"action": "revoke", "token": str(olgas.token.id)}
    )
    assert gone.status_code == 404
    other = world.browser("192.0.2.11")
    other.login("piet")
    assert other.get("/portal/customer-access-tokens/").status_code == 403


# -- single sign-on --------------------------------------------------------------------------
@pytest.fixture
def idp(tokens_on: World) -> Iterator[Provider]:
    with running(lambda: datetime.now(UTC)) as provider:
        tokens_on.portal.sso.configure(
            tokens_on.staff,
            tokens_on.acme,
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            domains=["example.com"],
        )
        yield provider


def _via_provider(answer: Any) -> str:
    assert answer.status_code == 302, answer.content.decode()
    back = requests.get(answer["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    url = urlsplit(back.headers["Location"])
    assert url.path == "/portal/sso/callback/"
    return f"{url.path}?{url.query}"


def test_sign_in_with_your_company_ends_in_the_projects_session(
    tokens_on: World, idp: Provider
) -> None:
    world = tokens_on
    idp.identity = {"email": "jane@example.com", "email_verified": True}
    browser = world.browser()
    start = browser.post("/portal/sso/", {"email": "jane@example.com", "next": "/whoami"})
    back = browser.get(_via_provider(start))
    assert back.status_code == 302 and back["Location"] == "/whoami"
    assert browser.get("/whoami").content.decode() == (f"membership {world.memberships['jane'].id}")
    other = world.browser("192.0.2.12")
    # A link only shows the page; its form leaves for the provider (no log-in CSRF by link).
    page = other.get("/portal/sso/?customer=ACME&next=https://evil.example/")
    assert page.status_code == 200 and 'name="customer" value="ACME"' in page.content.decode()
    start = other.post("/portal/sso/", {"customer": "ACME", "next": "https://evil.example/"})
    assert other.get(_via_provider(start))["Location"] == "/"


def test_a_callback_from_another_browser_signs_nobody_in(tokens_on: World, idp: Provider) -> None:
    idp.identity = {"email": "jane@example.com", "email_verified": True}
    attacker = tokens_on.browser("203.0.113.9")
    callback = _via_provider(attacker.post("/portal/sso/", {"email": "jane@example.com"}))
    victim = tokens_on.browser()
    answer = victim.get(callback)
    assert answer.status_code == 401
    assert "the username or password is not correct" in answer.content.decode()
    assert victim.get("/whoami").status_code == 302


def test_sso_failures_read_as_the_normal_log_in_failure(tokens_on: World, idp: Provider) -> None:
    browser = tokens_on.browser()
    answer = browser.post("/portal/sso/", {"email": "jane@elsewhere.example"})
    assert answer.status_code == 401
    assert "the username or password is not correct" in answer.content.decode()
    idp.identity = {"email": "jane@example.com", "email_verified": False}
    start = browser.post("/portal/sso/", {"email": "jane@example.com"})
    assert browser.get(_via_provider(start)).status_code == 401
    assert browser.get("/whoami").status_code == 302


def test_sso_required_ends_an_open_password_session(tokens_on: World, idp: Provider) -> None:
    world = tokens_on
    browser = world.browser()
    browser.login("jane")
    assert browser.get("/whoami").status_code == 200
    world.portal.sso.configure(
        world.staff, world.acme, issuer=idp.issuer, client_id=idp.client_id,
        client_secret=None, domains=["example.com"], required=True,
    )  # fmt: skip
    assert browser.get("/whoami").status_code == 302
    assert browser.login("jane").status_code == 401
