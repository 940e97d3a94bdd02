"""portalkit-django: the pages that change a member's login e-mail (issue 17, item 4), on the
project of tests/test_django_adapter.py (real SQLite, Django's test client with CSRF checks)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from test_django_adapter import _STAFF_IN_BROWSER, CSRF, PASSWORD, World
from test_django_adapter import world as world

NEW = "jane.new@example.net"


@pytest.fixture(autouse=True)
def short_lease(world: World) -> Iterator[None]:
    """A job lease short enough for :func:`_link_to` to take over a request's job (restored
    after the test: Django's portal is the process's)."""
    before = world.portal.settings
    world.portal.settings = before.model_copy(update={"mail_lease_seconds": 0.05})
    yield
    world.portal.settings = before


def _link_to(world: World, address: str) -> str:
    world.portal.mail.wait()
    # The background thread keeps the Django connection it opened first, to an earlier
    # test's database file (each test gets a copy of its own): the request's job, still
    # stored here, is taken over once its lease is out and run in this thread.
    time.sleep(0.1)
    world.portal.mail.flush()
    mailer: Any = world.portal.mailer
    for message in reversed(mailer.outbox):
        body = message.get_body(("plain",)).get_content()
        found = re.search(r"/confirm-email\?token=([\w-]+)", body)
        if message["To"] == address and found:
            return found.group(1)
    raise AssertionError(f"no link to {address}")


def _email(world: World, who: str) -> str:
    return world.portal.accounts.get(world.staff, world.memberships[who].account_id).email


def test_the_change_happens_on_the_link_page_after_a_click(world: World) -> None:
    """The request page mails a link; opening the link changes nothing (a mail scanner may
    open it); its button moves the address and ends the session."""
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/portal/change-email/")
    assert page.status_code == 200 and 'name="new_email"' in page.content.decode()
    sent = browser.post("/portal/change-email/", {"new_email": NEW, "password": PASSWORD})
    assert sent.status_code == 200
    assert "We sent a link to the new address" in sent.content.decode()
    token = _link_to(world, NEW)
    shown = browser.get(f"/portal/confirm-email/?token={token}")
    assert shown.status_code == 200
    assert _email(world, "jane") == "jane@example.com"  # a GET changes nothing
    done = browser.post(
        "/portal/confirm-email/", {"token": token}, form_at=f"/portal/confirm-email/?token={token}"
    )
    assert done.status_code == 302 and done["Location"] == "/portal/login/"
    assert _email(world, "jane") == NEW
    assert browser.get("/whoami").status_code == 302  # logged out
    assert browser.get(f"/portal/confirm-email/?token={token}").status_code == 404
    assert browser.login(NEW).status_code == 302


def test_a_taken_address_gets_the_same_page(world: World) -> None:
    pages = []
    for who, address in (("jane", NEW), ("olga", "piet@example.com")):
        browser = world.browser()
        browser.login(who)
        answer = browser.post("/portal/change-email/", {"new_email": address, "password": PASSWORD})
        pages.append((answer.status_code, CSRF.sub("", answer.content.decode())))
    assert pages[0] == pages[1]
    assert _email(world, "olga") == "olga@example.com"


def test_a_wrong_password_is_refused_on_the_page(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    answer = browser.post("/portal/change-email/", {"new_email": NEW, "password": "not it"})
    assert answer.status_code == 400
    assert "the password is not correct" in answer.content.decode()


def test_the_pages_need_the_csrf_token_and_a_login(world: World) -> None:
    browser = world.browser()
    assert browser.get("/portal/change-email/").status_code == 302  # to the log-in page
    browser.login("jane")
    data = {"new_email": NEW, "password": PASSWORD}
    assert browser.post("/portal/change-email/", data, token=False).status_code == 403
    browser.post("/portal/change-email/", data)
    token = _link_to(world, NEW)
    refused = browser.post("/portal/confirm-email/", {"token": token}, token=False)
    assert refused.status_code == 403
    assert _email(world, "jane") == "jane@example.com"


def test_staff_viewing_as_the_member_cannot_move_its_login(world: World) -> None:
    from django.conf import settings

    _STAFF_IN_BROWSER["staff"] = world.staff
    actor = world.portal.access.view_as(
        world.staff, world.memberships["jane"], reason="call", allow_writes=True
    )
    browser = world.browser()
    session = browser.client.session
    session["portalkit_view_as"] = {
        "m": str(actor.membership_id),
        "a": str(actor.account_id),
        "c": str(actor.customer_id),
        "by": actor.impersonator,
        "ro": actor.read_only,
        "until": actor.expires_at.isoformat() if actor.expires_at else "",
    }
    session.save()
    browser.client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    assert browser.get("/portal/change-email/").status_code == 403


def test_the_pages_speak_dutch_and_german(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    browser.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "nl"
    assert "E-mailadres wijzigen" in browser.get("/portal/change-email/").content.decode()
    browser.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    dead = browser.get("/portal/confirm-email/?token=nothing")
    assert dead.status_code == 404
    assert "Bestätigen Sie Ihre neue E-Mail-Adresse" in dead.content.decode()
