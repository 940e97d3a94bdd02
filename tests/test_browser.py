"""The demo portal in headless Chromium: what a person's browser gets, not what a test client
gets. A limited member's pages hold no rate in any spelling, a full member's do; a customer
admin's invitation is read from the file mail backend and accepted; a forgotten password is
reset through its mail; a view as customer shows its banner and changes nothing; a form
without its CSRF token is refused; ``next`` never leads off the portal.

The suite saves PNGs of the main pages as it goes: into a temporary folder, or with
``PORTALKIT_SCREENSHOTS=1`` into docs/_static/screenshots, where docs/flask.md shows them.
See tests/browser.py for the browser and the server.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from portalkit_flask.demo import data

from browser import (
    ENV_SCREENSHOTS,
    DemoServer,
    Visitor,
    chromium_browser,
    rate_spellings,
    visitors,
)
from portalkit import presets

pytestmark = pytest.mark.browser

PASSWORD = data.DEMO_PASSWORD
DOCS_SHOTS = Path(__file__).resolve().parent.parent / "docs" / "_static" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def demo(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    # After `chromium`, so a missing browser skips (or fails) before the demo is built.
    with DemoServer(tmp_path_factory.mktemp("demo")) as server:
        yield server


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: the docs' folder when asked for, else a temporary one."""
    if os.environ.get(ENV_SCREENSHOTS, "").strip() == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SHOTS
    return tmp_path_factory.mktemp("screenshots")


class DemoVisitor(Visitor):
    """A visitor of the Flask demo: its log-in form at ``/login``, its demo password."""

    def login(self, login: str, password: str = PASSWORD, path: str = "/login") -> Any:
        return super().login(login, password, path)


@pytest.fixture
def visit(chromium: Any, demo: DemoServer, shots: Path) -> Iterator[Any]:
    """Make visitors (each a fresh browser context) and close them after the test."""
    with visitors(lambda: DemoVisitor(chromium, demo, shots)) as make:
        yield make


def _rates(demo: DemoServer, code: str = data.CUSTOMER_CODE) -> list[Decimal]:
    """Every rate stored for the customer's orders, read from the demo's own table."""
    engine: sa.Engine = demo.app.extensions["demo"]["engine"]
    with engine.connect() as connection:
        rates = connection.scalars(
            sa.select(data.orders.c.rate).where(data.orders.c.reference.like(f"{code}-%"))
        ).all()
    assert rates
    return list(rates)


def _order_count(demo: DemoServer, code: str = data.CUSTOMER_CODE) -> int:
    return len(_rates(demo, code))


def _mail_to(demo: DemoServer, address: str) -> EmailMessage:
    """The newest message to ``address`` in the file backend's folder, waiting up to 15 s for
    it: reset mail is sent by a background job, not in the request."""
    deadline = time.monotonic() + 15
    while True:
        found: list[tuple[float, EmailMessage]] = []
        for path in demo.mail_folder.glob("*.eml"):
            with path.open("rb") as handle:
                message = BytesParser(policy=policy.default).parse(handle)
            assert isinstance(message, EmailMessage)
            if str(message["To"]).lower() == address:
                found.append((path.stat().st_mtime, message))
        if found:
            return max(found, key=lambda pair: pair[0])[1]
        assert time.monotonic() < deadline, f"no mail to {address} in {demo.mail_folder}"
        time.sleep(0.1)


def _link(demo: DemoServer, message: EmailMessage, page: str) -> str:
    """The portal link to ``page`` in the message's plain text."""
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(rf"{re.escape(demo.url)}/{page}\?token=[\w-]+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def test_a_limited_member_gets_no_rate_in_any_page(visit: Any, demo: DemoServer) -> None:
    limited = visit()
    assert limited.login("limited").status == 302
    rates = _rates(demo)
    pages = ["/", "/orders", "/account"]
    limited.html("/orders")
    limited.shot("orders-limited")
    orders = limited.page.locator("table a[href^='/orders/']")
    # Every order of the customer is listed (so its page is looked at too), none of another's.
    assert orders.count() == _order_count(demo)
    pages += [str(href) for href in orders.evaluate_all("links => links.map(a => a.pathname)")]
    for path in pages:
        html = limited.html(path)
        for rate in rates:
            for spelled in rate_spellings(rate):
                assert spelled not in html, (path, spelled)
        assert "€" not in html, path
    assert limited.open("/invoices").status == 403


def test_a_full_member_sees_every_rate(visit: Any, demo: DemoServer) -> None:
    full = visit()
    full.open("/login")
    full.shot("login")
    assert full.login("full").status == 302
    assert full.path() == "/"
    full.page.wait_for_selector("text=Latest orders")
    full.shot("dashboard")
    html = full.html("/orders")
    for rate in _rates(demo):
        assert f"€ {rate:,.2f}" in html
    assert f"{data.OTHER_CODE}-0001" not in html
    full.shot("orders-full")
    full.html("/account")
    full.shot("account")


def test_an_invited_login_follows_its_mail_and_logs_in(visit: Any, demo: DemoServer) -> None:
    admin = visit()
    assert admin.login("admin").status == 302
    admin.open("/admin/logins")
    admin.page.fill("input[name=first_name]", "Tom")
    admin.page.fill("input[name=last_name]", "de Boer")
    admin.page.fill("input[name=email]", "tom@vandijk.example")
    admin.page.select_option("select[name=profile]", presets.TRANSPORT_LIMITED.name)
    assert admin.submit().status == 302
    admin.page.wait_for_selector("p.flash:has-text('is invited')")
    assert admin.page.locator("td", has_text="tom@vandijk.example").count() == 1
    admin.shot("admin-logins")

    invitation = _link(demo, _mail_to(demo, "tom@vandijk.example"), "accept-invitation")
    tom = visit()
    assert tom.open(invitation).status == 200
    tom.page.fill("input[name=password]", "tom picks a long one")
    tom.page.fill("input[name=confirm]", "tom picks a long one")
    assert tom.submit().status == 302
    assert tom.path() == "/login"
    tom.page.wait_for_selector("p.flash:has-text('Your login works now')")
    assert tom.login("tom", "tom picks a long one").status == 302
    assert tom.path() == "/"
    assert "€" not in tom.html("/orders")  # invited with the limited rights

    # The demo mailbox shows the invitation too (mail to an address that is no demo login).
    mailbox = visit()
    mailbox.html("/mailbox")
    mailbox.page.wait_for_selector("summary:has-text('tom@vandijk.example')")
    mailbox.shot("mailbox")


def test_a_forgotten_password_is_reset_through_its_mail(visit: Any, demo: DemoServer) -> None:
    # "readonly" is used by no other test here: its password changes.
    person = visit()
    person.open("/login")
    person.page.click("text=Forgot your password?")
    assert person.path() == "/forgot-password"
    person.page.fill("input[name=login]", "readonly")
    assert person.submit().status == 200
    person.page.wait_for_selector("text=a link to choose a new password is on its way")

    reset = _link(demo, _mail_to(demo, "readonly@vandijk.example"), "reset-password")
    assert person.open(reset).status == 200
    person.page.fill("input[name=password]", "a new one for ruud")
    person.page.fill("input[name=confirm]", "a new one for ruud")
    assert person.submit().status == 302
    assert person.path() == "/login"
    assert person.login("readonly", PASSWORD).status == 401  # the old one works no more
    assert person.login("readonly", "a new one for ruud").status == 302
    assert person.path() == "/"
    assert person.open(reset).status == 404  # a link works once


def test_a_member_moves_its_login_e_mail_through_the_new_mailbox(
    visit: Any, demo: DemoServer
) -> None:
    # "carrier" is used by no other test here: its address changes.
    person = visit()
    assert person.login("carrier").status == 302
    person.open("/account")
    person.page.click("text=Change e-mail address")
    assert person.path() == "/change-email"
    person.page.fill("input[name=new_email]", "carrier.new@elders.example")
    person.page.fill("input[name=password]", PASSWORD)
    assert person.submit().status == 200
    person.page.wait_for_selector("text=We sent a link to the new address")

    link = _link(demo, _mail_to(demo, "carrier.new@elders.example"), "confirm-email")
    assert person.open(link).status == 200  # opening the link changes nothing yet
    assert person.submit().status == 302
    assert person.path() == "/login"
    person.page.wait_for_selector("p.flash:has-text('Your e-mail address was changed')")
    assert person.login("carrier.new@elders.example").status == 302
    assert person.open(link).status == 404  # a link works once


def test_view_as_customer_shows_a_banner_and_changes_nothing(visit: Any, demo: DemoServer) -> None:
    staff = visit()
    assert staff.login(data.STAFF_LOGIN, path="/vendor/login").status == 302
    staff.open(f"/vendor/customers/{data.CUSTOMER_CODE}")
    # "limited" may place orders itself (orders.create): a refusal below is the view's.
    username = staff.page.get_by_role("cell", name="limited", exact=True)
    staff.page.locator("tr", has=username).get_by_role("button", name="View as customer").click()
    banner = staff.page.locator(".view-as-banner")
    banner.wait_for()
    assert "Read only: nothing can be changed." in banner.inner_text()
    assert staff.path() == "/"
    staff.shot("view-as")

    before = _order_count(demo)
    assert staff.open("/orders/new").status == 403
    token = staff.page.locator(".view-as-banner input[name=csrf_token]").get_attribute("value")
    assert token
    placed = staff.page.request.post(
        "/orders/new",
        form={"csrf_token": token, "reference": "VIEW-1", "pickup": "A", "delivery": "B"},
        max_redirects=0,
    )
    assert placed.status == 403
    assert staff.open("/change-password").status == 403
    assert _order_count(demo) == before
    staff.open("/")
    staff.page.click(".view-as-banner button")
    staff.page.wait_for_load_state()
    assert staff.page.locator(".view-as-banner").count() == 0


def test_a_form_without_its_csrf_token_is_refused(visit: Any, demo: DemoServer) -> None:
    full = visit()
    assert full.login("full").status == 302
    before = _order_count(demo)
    full.open("/orders/new")
    full.page.locator("main form input[name=csrf_token]").evaluate("field => field.remove()")
    full.page.fill("input[name=reference]", "NO-TOKEN-1")
    full.page.fill("input[name=pickup]", "Gouda, Goudse Poort")
    full.page.fill("input[name=delivery]", "Delft, Schieweg")
    assert full.submit().status == 400
    # The same POST built in the page's own script, with the page's cookies and no token.
    status = full.page.evaluate(
        """async () => (await fetch("/orders/new", {method: "POST", body: new URLSearchParams(
            {reference: "NO-TOKEN-2", pickup: "Gouda", delivery: "Delft"}),
            redirect: "manual"})).status"""
    )
    assert status == 400
    assert _order_count(demo) == before
    assert "NO-TOKEN" not in full.html("/orders")


def test_next_never_leads_off_the_portal(visit: Any) -> None:
    away = visit()
    posted = away.login("full", path="/login?next=https://elsewhere.example/steal")
    assert posted.status == 302
    assert away.path() == "/"
    assert away.elsewhere == []
    # A path on the portal is followed, so the refusal above is not all ``next`` can do.
    here = visit()
    here.login("full", path="/login?next=/orders")
    assert here.path() == "/orders"


def test_the_other_products_pages_in_a_browser(visit: Any, demo: DemoServer) -> None:
    """PestScan's logbook per site, Klipboard's documents and work requests, DoIT's tickets
    and the vendor's inbox, each as its login sees it (and photographed for the docs)."""
    keuken = visit()
    assert keuken.login("keuken").status == 302
    page = keuken.html("/logbook")
    assert "Keuken Eindhoven" in page and "Tilburg" not in page
    keuken.shot("logbook-extra-account")
    hoofd = visit()
    assert hoofd.login("hoofd").status == 302
    assert "Kees Kok" in hoofd.html("/admin/sites")
    hoofd.shot("site-rights")
    piet = visit()
    assert piet.login("piet").status == 302
    assert "Legionella risk report.pdf" in piet.html("/documents")
    piet.shot("documents")
    assert "Zeezicht Noord" in piet.html("/work-requests")
    piet.shot("work-requests")
    eva = visit()
    assert eva.login("eva").status == 302
    assert "Legionella" not in eva.html("/documents")
    benutzer = visit()
    assert benutzer.login("benutzer").status == 302
    mine = benutzer.html("/tickets")
    assert "VPN drops every hour" in mine and "Printer on floor 2 jams" not in mine
    benutzer.shot("tickets-user")
    haupt = visit()
    assert haupt.login("haupt").status == 302
    printers = haupt.html("/shop/printers")
    assert "TN-2420" in printers and "TN-421BK" not in printers and "89.90" not in printers
    haupt.shot("printer-shop")
    staff = visit()
    assert staff.login(data.STAFF_LOGIN, path="/vendor/login").status == 302
    inbox = staff.html("/vendor/inbox")
    assert "Heat pump makes noise at night" in inbox and "Printer on floor 2 jams" in inbox
    staff.shot("vendor-inbox")
    review = staff.html(f"/vendor/customers/{data.PEST_CODE}/review")
    assert "<td>keuken</td>" in review and "Keuken Tilburg" in review
    staff.shot("access-review")


def test_vendor_staff_provision_a_customer_step_by_step(visit: Any, demo: DemoServer) -> None:
    """The create-customer screen: the form with a logo upload, then the run's steps drawn as
    they happen and the summary; the new customer's admin is invited by mail."""
    staff = visit()
    assert staff.login(data.STAFF_LOGIN, path="/vendor/login").status == 302
    staff.open("/vendor/customers")
    staff.page.get_by_role("link", name="New customer").click()
    assert staff.path() == "/vendor/customers/new"
    for field, value in {
        "code": "STOFFEN",
        "name": "Stoffen & Co Werkkleding",
        "street": "Marktplein 5",
        "postal_code": "5611 EA",
        "city": "Eindhoven",
        "admin_username": "stoffen-admin",
        "admin_email": "it@stoffen.example",
    }.items():
        staff.page.fill(f"input[name={field}]", value)
    staff.page.select_option("select[name=copy_from]", data.WORKWEAR_CODE)
    staff.page.set_input_files(
        "input[name=logo]",
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": data.wordmark("STOFFEN")}],
    )
    assert staff.submit().status == 200
    outcome = staff.page.locator("#outcome")
    outcome.wait_for()
    assert "Customer STOFFEN is created." in outcome.inner_text()
    statuses = staff.page.locator("#outcome tr[data-status]")
    assert [statuses.nth(i).get_attribute("data-status") for i in range(7)] == ["done"] * 7
    outcome.scroll_into_view_if_needed()  # the steps' final table and the summary
    staff.shot("provisioning")
    staff.page.get_by_role("link", name="Stoffen & Co Werkkleding").click()
    assert "stoffen-admin" in staff.page.content()
    assert not staff.elsewhere
