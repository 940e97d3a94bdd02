"""portalkit-flask's second-factor pages (issue 17 item 1): the code after the password,
the enrolment the vendor requires, and switching the factor on and off on the account's
page — through Flask's test client, with CSRF tokens, on real SQLite."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from portalkit import FixedClock
from portalkit.auth import member_of
from test_flask_adapter import PASSWORD, World, make_app
from test_second_factor import _code

SECRET = re.compile(r"<code>([A-Z2-7]+)</code>")
RECOVERY = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    app = make_app(tmp_path)
    made = World(app)
    made.portal.clock = FixedClock()
    yield made
    made.portal.close()


def _now(world: World) -> object:
    return world.portal.clock.now()


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
    assert answer.status_code == 302 and answer.location.endswith("/login/code")
    assert browser.get("/whoami").status_code == 302  # no session yet
    page = browser.get("/login/code").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page and "csrf_token" in page
    code = _code(secret, world.portal.clock.now())
    assert browser.post("/login/code", {"code": code}, token=False).status_code == 400  # CSRF
    done = browser.post("/login/code", {"code": code})
    assert done.status_code == 302 and done.location.endswith("/whoami")
    assert browser.get("/whoami").status_code == 200
    assert "portalkit_challenge" not in browser.session_keys()


def test_a_wrong_code_goes_back_to_the_password(world: World) -> None:
    secret = _enrolled(world, "jane")
    browser = world.browser()
    browser.login("jane")
    answer = browser.post("/login/code", {"code": "000000"})
    assert answer.status_code == 302 and answer.location.endswith("/login")
    assert browser.get("/whoami").status_code == 302
    # The challenge is gone: the right code now leads to the log-in form, not in.
    late = browser.post(
        "/login/code", {"code": _code(secret, world.portal.clock.now())}, form_at="/login"
    )
    assert late.status_code == 302 and browser.get("/whoami").status_code == 302


def test_a_login_under_the_vendors_rule_enrols_before_anything_else(world: World) -> None:
    world.portal.second_factor.require_for(world.staff, profiles=[world.full])
    browser = world.browser()
    answer = browser.login("jane", next_url="/whoami")
    assert answer.location.endswith("/login/second-factor")
    assert browser.get("/whoami").status_code == 302  # nothing else before enrolling
    page = browser.get("/login/second-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in page
    secret = SECRET.search(page).group(1)  # type: ignore[union-attr]
    wrong = browser.post("/login/second-factor", {"code": "000000"})
    assert wrong.status_code == 400 and browser.get("/whoami").status_code == 302
    page = wrong.get_data(as_text=True)  # a new secret, shown again
    secret = SECRET.search(page).group(1)  # type: ignore[union-attr]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    done = browser.client.post(
        "/login/second-factor",
        data={"code": _code(secret, world.portal.clock.now()), "csrf_token": token},
        environ_base=browser.environ,
    )
    assert done.status_code == 200
    codes = RECOVERY.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    assert browser.get("/whoami").status_code == 200
    assert browser.get("/login/second-factor").location.endswith("/login")  # used up
    plain = world.browser("192.0.2.11")
    assert plain.login("piet").location.endswith("/")  # a read-only profile: not covered


def test_the_account_page_switches_the_factor_on_and_off(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/second-factor").get_data(as_text=True)
    assert 'value="begin"' in page
    wrong = browser.post("/second-factor", {"action": "begin", "password": "not it"})
    assert wrong.status_code == 400
    shown = browser.post("/second-factor", {"action": "begin", "password": PASSWORD})
    secret = SECRET.search(shown.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    codes = browser.post(
        "/second-factor", {"action": "confirm", "code": _code(secret, world.portal.clock.now())}
    )
    assert len(RECOVERY.findall(codes.get_data(as_text=True))) == 10
    assert browser.get("/whoami").status_code == 200  # this browser's session renewed
    account = world.portal.accounts.get(world.staff, world.memberships["jane"].account_id)
    assert world.portal.second_factor.enabled(world.staff, account)
    off = browser.post("/second-factor", {"action": "disable", "proof": PASSWORD})
    assert off.status_code == 302
    assert not world.portal.second_factor.enabled(world.staff, account)
    assert browser.get("/whoami").status_code == 200
    mails = [m for m in world.portal.mailer.outbox if m["To"] == "jane@example.com"]  # type: ignore[attr-defined]
    assert "switched off" in mails[-1]["Subject"]


def test_the_pages_speak_the_visitors_language(world: World) -> None:
    _enrolled(world, "jane")
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/login/code", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "herstelcode" in html.unescape(page)
    page = browser.get("/login/code", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Wiederherstellungscode" in html.unescape(page)
