"""portalkit-flask: the pages that change a member's login e-mail (issue 17, item 4), on real
SQLite through Flask's test client, as a browser would use them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portalkit_flask import start_view_as

from test_flask_adapter import CSRF, PASSWORD, World, make_app

NEW = "jane.new@example.net"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(make_app(tmp_path))
    yield made
    made.portal.close()


def _link_to(world: World, address: str) -> str:
    world.portal.mail.wait()
    mailer: Any = world.portal.mailer
    for message in reversed(mailer.outbox):
        found = re.search(
            r"/confirm-email\?token=([\w-]+)", message.get_body(("plain",)).get_content()
        )
        if message["To"] == address and found:
            return found.group(1)
    raise AssertionError(f"no link to {address}")


def _email(world: World, who: str) -> str:
    return world.portal.accounts.get(world.staff, world.memberships[who].account_id).email


def _without_csrf(page: str) -> str:
    return CSRF.sub("", page)


def test_the_change_happens_on_the_link_page_after_a_click(world: World) -> None:
    """The request page mails a link; opening the link changes nothing (a mail scanner may
    open it); its button (with the CSRF token) moves the address and ends the session."""
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/change-email")
    assert page.status_code == 200 and 'name="new_email"' in page.get_data(as_text=True)
    sent = browser.post("/change-email", {"new_email": NEW, "password": PASSWORD})
    assert sent.status_code == 200
    assert "We sent a link to the new address" in sent.get_data(as_text=True)
    token = _link_to(world, NEW)
    assert _email(world, "jane") == "jane@example.com"
    shown = browser.get(f"/confirm-email?token={token}")
    assert shown.status_code == 200 and shown.headers["Referrer-Policy"] == "no-referrer"
    assert _email(world, "jane") == "jane@example.com"  # a GET changes nothing
    done = browser.post("/confirm-email", {"token": token}, form_at=f"/confirm-email?token={token}")
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert _email(world, "jane") == NEW
    assert browser.get("/whoami").status_code == 302  # logged out
    assert browser.get(f"/confirm-email?token={token}").status_code == 404  # used up
    assert browser.login(NEW).status_code == 302


def test_a_taken_address_gets_the_same_page(world: World) -> None:
    """No enumeration through the page: a free and a taken address read the same."""
    pages = []
    for who, address in (("jane", NEW), ("olga", "piet@example.com")):
        browser = world.browser()
        browser.login(who)
        answer = browser.post("/change-email", {"new_email": address, "password": PASSWORD})
        pages.append((answer.status_code, _without_csrf(answer.get_data(as_text=True))))
    assert pages[0] == pages[1]
    assert _email(world, "olga") == "olga@example.com"


def test_a_wrong_password_is_refused_on_the_page(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    answer = browser.post("/change-email", {"new_email": NEW, "password": "not it at all"})
    assert answer.status_code == 400
    assert "the password is not correct" in answer.get_data(as_text=True)
    world.portal.mail.wait()
    mailer: Any = world.portal.mailer
    assert NEW not in [m["To"] for m in mailer.outbox]


def test_the_pages_need_the_csrf_token_and_a_login(world: World) -> None:
    browser = world.browser()
    assert browser.get("/change-email").status_code == 302  # to the log-in page
    browser.login("jane")
    refused = browser.post("/change-email", {"new_email": NEW, "password": PASSWORD}, token=False)
    assert refused.status_code == 400
    browser.post("/change-email", {"new_email": NEW, "password": PASSWORD})
    token = _link_to(world, NEW)
    assert browser.post("/confirm-email", {"token": token}, token=False).status_code == 400
    assert _email(world, "jane") == "jane@example.com"


def test_staff_viewing_as_the_member_cannot_move_its_login(world: World) -> None:
    app = world.app

    @app.get("/start-view")
    def start_view() -> str:
        start_view_as(world.staff, world.memberships["jane"], reason="call", allow_writes=True)
        return "started"

    world.app.extensions["test_staff"]["staff"] = world.staff
    browser = world.browser()
    assert browser.get("/start-view").status_code == 200
    assert browser.get("/change-email").status_code == 403


def test_the_pages_speak_dutch(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/change-email", headers={"Accept-Language": "nl"})
    assert "E-mailadres wijzigen" in page.get_data(as_text=True)
    dead = browser.get("/confirm-email?token=nothing", headers={"Accept-Language": "de"})
    assert dead.status_code == 404
    assert "Bestätigen Sie Ihre neue E-Mail-Adresse" in dead.get_data(as_text=True)
