"""portalkit-django's second-factor pages (issue 17 item 1): the code after the password,
the enrolment the vendor requires, and switching the factor on and off on the account's
page — through Django's test client, with CSRF checks on, on real SQLite."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from portalkit import FixedClock
from portalkit.auth import member_of
from test_django_adapter import _STAFF_IN_BROWSER, CSRF, PASSWORD, World, _project
from test_second_factor import _code

SECRET = re.compile(r"<code>([A-Z2-7]+)</code>")
RECOVERY = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    project = _project()
    from django.db import connections

    database = tmp_path / "portal.db"
    shutil.copyfile(project["template"], database)
    connections.close_all()
    connections.settings["default"]["NAME"] = str(database)
    _STAFF_IN_BROWSER["staff"] = None
    made = World()
    made.portal.mailer.outbox.clear()
    real = made.portal.clock
    made.portal.clock = FixedClock()  # codes are computed for the portal's own time
    yield made
    made.portal.clock = real
    connections.close_all()


def _enrolled(world: World, name: str) -> str:
    member = member_of(world.memberships[name])
    enrolment = world.portal.second_factor.begin(member, password=PASSWORD)
    world.portal.second_factor.confirm(member, _code(enrolment.secret, world.portal.clock.now()))
    world.portal.clock.advance(seconds=30)  # type: ignore[attr-defined]
    return enrolment.secret


def test_the_code_after_the_password_logs_in(world: World) -> None:
    secret = _enrolled(world, "jane")
    browser = world.browser()
    answer = browser.login("jane", next_url="/whoami")
    assert answer.status_code == 302 and answer.url.endswith("/portal/login/code/")
    assert browser.get("/whoami").status_code == 302  # no session yet
    code = _code(secret, world.portal.clock.now())
    assert browser.post("/portal/login/code/", {"code": code}, token=False).status_code == 403
    done = browser.post("/portal/login/code/", {"code": code})
    assert done.status_code == 302 and done.url.endswith("/whoami")
    assert browser.get("/whoami").status_code == 200
    assert "portalkit_challenge" not in browser.session_keys()


def test_a_wrong_code_goes_back_to_the_password(world: World) -> None:
    _enrolled(world, "jane")
    browser = world.browser()
    browser.login("jane")
    answer = browser.post("/portal/login/code/", {"code": "000000"})
    assert answer.status_code == 302 and answer.url.endswith("/portal/login/")
    assert browser.get("/whoami").status_code == 302
    assert browser.get("/portal/login/code/").status_code == 302  # the challenge is gone


def test_a_login_under_the_vendors_rule_enrols_before_anything_else(world: World) -> None:
    world.portal.second_factor.require_for(world.staff, profiles=[world.full])
    browser = world.browser()
    answer = browser.login("jane", next_url="/whoami")
    assert answer.url.endswith("/portal/login/second-factor/")
    assert browser.get("/whoami").status_code == 302  # nothing else before enrolling
    wrong = browser.post("/portal/login/second-factor/", {"code": "000000"})
    assert wrong.status_code == 400 and browser.get("/whoami").status_code == 302
    page = wrong.content.decode()  # a new secret, shown again
    assert 'src="data:image/svg+xml;base64,' in page
    secret = SECRET.search(page).group(1)  # type: ignore[union-attr]
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    done = browser.client.post(
        "/portal/login/second-factor/",
        {"code": _code(secret, world.portal.clock.now()), "csrfmiddlewaretoken": token},
    )
    assert done.status_code == 200
    assert len(RECOVERY.findall(done.content.decode())) == 10
    assert browser.get("/whoami").status_code == 200
    assert browser.get("/portal/login/second-factor/").status_code == 302  # used up
    plain = world.browser("192.0.2.11")
    assert not plain.login("piet").url.endswith("second-factor/")  # read-only: not covered


def test_the_account_page_switches_the_factor_on_and_off(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    assert 'value="begin"' in browser.get("/portal/second-factor/").content.decode()
    wrong = browser.post("/portal/second-factor/", {"action": "begin", "password": "not it"})
    assert wrong.status_code == 400
    shown = browser.post("/portal/second-factor/", {"action": "begin", "password": PASSWORD})
    secret = SECRET.search(shown.content.decode()).group(1)  # type: ignore[union-attr]
    token = CSRF.search(shown.content.decode()).group(1)  # type: ignore[union-attr]
    codes = browser.client.post(
        "/portal/second-factor/",
        {
            "action": "confirm",
            "code": _code(secret, world.portal.clock.now()),
            "csrfmiddlewaretoken": token,
        },
    )
    assert len(RECOVERY.findall(codes.content.decode())) == 10
    assert browser.get("/whoami").status_code == 200  # this browser's session renewed
    account = world.portal.accounts.get(world.staff, world.memberships["jane"].account_id)
    assert world.portal.second_factor.enabled(world.staff, account)
    off = browser.post("/portal/second-factor/", {"action": "disable", "proof": PASSWORD})
    assert off.status_code == 302
    assert not world.portal.second_factor.enabled(world.staff, account)
    assert browser.get("/whoami").status_code == 200
    mails = [m for m in world.portal.mailer.outbox if m["To"] == "jane@example.com"]  # type: ignore[attr-defined]
    assert "switched off" in mails[-1]["Subject"]


@pytest.mark.parametrize(
    ("language", "text"), [("nl", "herstelcodes"), ("de", "Wiederherstellungscodes")]
)
def test_the_pages_speak_the_visitors_language(world: World, language: str, text: str) -> None:
    _enrolled(world, "jane")
    browser = world.browser()
    browser.client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    browser.login("jane")
    assert text in browser.get("/portal/login/code/").content.decode()
