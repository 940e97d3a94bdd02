"""The demo portal (portalkit_flask.demo) on real SQLite: what each transport level sees, the
customer admin's invitation followed through the demo mailbox, view as customer, and the
README's command serving it over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.cookiejar
import io
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from portalkit_flask import current_portal
from portalkit_flask.demo import create_app, data
from pypdf import PdfReader

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = data.DEMO_PASSWORD


def _rates_of(app: Flask, code: str) -> list[Decimal]:
    """Every rate stored for the customer's orders, read from the demo's table itself."""
    engine: sa.Engine = app.extensions["demo"]["engine"]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(data.orders.c.rate, data.orders.c.reference).where(
                data.orders.c.reference.like(f"{code}-%")
            )
        ).all()
    assert rows
    return [row.rate for row in rows]


def _spellings(rate: Decimal) -> list[str]:
    """How a rate could show up in HTML: 187.40, 187,40, 187.4, and the amount in cents."""
    fixed = f"{rate:.2f}"
    return [fixed, fixed.replace(".", ","), str(rate.normalize()), fixed.replace(".", "")]


def _close(app: Flask) -> None:
    with app.app_context():
        current_portal.close()


class Browser:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def text(self, path: str) -> str:
        answer = self.client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return answer.get_data(as_text=True)

    def post(self, path: str, values: dict[str, Any], form_at: str | None = None) -> Any:
        found = CSRF.search(self.text(form_at or path))
        assert found
        return self.client.post(path, data={**values, "csrf_token": found.group(1)})

    def login(self, login: str, password: str = PASSWORD) -> Any:
        return self.post("/login", {"login": login, "password": password})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app(tmp_path_factory.mktemp("demo"))
    yield app
    _close(app)


def _as(demo: Flask, login: str) -> Browser:
    browser = Browser(demo.test_client())
    assert browser.login(login).status_code == 302
    return browser


PAGES = ["/", "/orders", "/account"]


def _order_pages(demo: Flask, code: str = data.CUSTOMER_CODE) -> list[str]:
    engine: sa.Engine = demo.extensions["demo"]["engine"]
    with engine.connect() as connection:
        ids = connection.scalars(
            sa.select(data.orders.c.id).where(data.orders.c.reference.like(f"{code}-%"))
        ).all()
    return [f"/orders/{i}" for i in ids]


@pytest.mark.parametrize("login", ["limited", "readonly"])
def test_a_member_without_rates_sees_no_rate_anywhere(demo: Flask, login: str) -> None:
    browser = _as(demo, login)
    rates = _rates_of(demo, data.CUSTOMER_CODE)
    for path in PAGES + _order_pages(demo):
        html = browser.text(path)
        assert "VANDIJK-24" in html or path == "/account"
        for rate in rates:
            for spelled in _spellings(rate):
                assert spelled not in html, (path, spelled)
        assert "€" not in html and "Rate" not in html, path


def test_a_full_member_sees_every_rate(demo: Flask) -> None:
    html = _as(demo, "full").text("/orders")
    for rate in _rates_of(demo, data.CUSTOMER_CODE):
        assert f"€ {rate:,.2f}" in html
    assert f"{data.OTHER_CODE}-0001" not in html  # the other customer's order is not listed


def test_only_the_carrier_view_shows_carriers(demo: Flask) -> None:
    assert "Kroes Koeriers" in _as(demo, "carrier").text("/orders")
    assert "Kroes Koeriers" not in _as(demo, "full").text("/orders")


def test_the_levels_gate_the_pages(demo: Flask) -> None:
    limited, readonly, full = _as(demo, "limited"), _as(demo, "readonly"), _as(demo, "full")
    assert limited.get("/invoices").status_code == 403
    assert limited.get("/orders.csv").status_code == 403
    assert limited.get("/orders/new").status_code == 200
    assert readonly.get("/orders/new").status_code == 403
    assert full.get("/invoices").status_code == 200
    csv = full.get("/orders.csv").get_data(as_text=True)
    assert csv.splitlines()[0].endswith("rate") and "carrier" not in csv.splitlines()[0]
    assert limited.get("/admin/logins").status_code == 403


def test_no_access_cannot_log_in(demo: Flask) -> None:
    browser = Browser(demo.test_client())
    assert browser.login("noaccess").status_code == 401


def test_an_order_of_another_customer_is_404(demo: Flask) -> None:
    full = _as(demo, "full")
    (other,) = _order_pages(demo, data.OTHER_CODE)
    assert full.get(other).status_code == 404
    assert full.get(_order_pages(demo)[0]).status_code == 200


def test_a_limited_member_places_an_order(demo: Flask) -> None:
    limited = _as(demo, "limited")
    placed = limited.post(
        "/orders/new",
        {"reference": "LIM-1", "pickup": "Gouda, Goudse Poort", "delivery": "Delft, Schieweg"},
    )
    assert placed.status_code == 302
    html = limited.text("/orders")
    assert "LIM-1" in html
    rate = data.rate_for("Gouda, Goudse Poort", "Delft, Schieweg")
    assert f"{rate:.2f}" not in html
    assert f"€ {rate:,.2f}" in _as(demo, "full").text("/orders")


def test_the_customer_admin_invites_a_login_that_follows_the_mail(demo: Flask) -> None:
    admin = _as(demo, "admin")
    added = admin.post(
        "/admin/logins",
        {
            "first_name": "Tom",
            "last_name": "de Boer",
            "email": "tom@vandijk.example",
            "profile": "Limited access",
        },
    )
    assert added.status_code == 302
    assert "Tom" in admin.text("/admin/logins")
    mailbox = Browser(demo.test_client()).text("/mailbox")
    assert "tom@vandijk.example" in mailbox
    link = re.search(r'href="(http://127\.0\.0\.1:5000/accept-invitation\?token=[\w-]+)"', mailbox)
    assert link, "the invitation's link is in the demo mailbox"
    path = urllib.parse.urlsplit(link.group(1))
    visitor = Browser(demo.test_client())
    page = f"{path.path}?{path.query}"
    token = urllib.parse.parse_qs(path.query)["token"][0]
    accepted = visitor.post(
        "/accept-invitation",
        {"token": token, "password": "tom picks a long one", "confirm": "tom picks a long one"},
        form_at=page,
    )
    assert accepted.headers["Location"] == "/login"
    tom = Browser(demo.test_client())
    assert tom.login("tom", "tom picks a long one").status_code == 302
    assert "€" not in tom.text("/orders")


def test_the_customer_admin_cannot_give_more_than_it_has(demo: Flask) -> None:
    admin = _as(demo, "admin")
    refused = admin.post(
        "/admin/logins",
        {
            "first_name": "Cas",
            "last_name": "Carrier",
            "email": "cas@vandijk.example",
            "profile": "Full access with carrier view",
        },
    )
    assert refused.status_code == 200
    assert 'class="errors"' in refused.get_data(as_text=True)


def test_vendor_staff_view_as_customer_with_a_banner(demo: Flask) -> None:
    staff = Browser(demo.test_client())
    assert (
        staff.post("/vendor/login", {"login": "planner", "password": PASSWORD}).status_code == 302
    )
    page = staff.text(f"/vendor/customers/{data.CUSTOMER_CODE}")
    assert "Van Dijk Logistics" in page
    # The row of the "limited" login, and its view-as button.
    row = re.search(r"<td>limited</td>.*?/vendor/view-as/([0-9a-f-]+)", page, flags=re.S)
    assert row
    started = staff.post(f"/vendor/view-as/{row.group(1)}", {}, form_at="/vendor/customers")
    assert started.headers["Location"] == "/"
    home = staff.text("/")
    assert "You are viewing the portal as a customer" in home
    assert "Van Dijk Logistics B.V." in home
    assert "€" not in staff.text("/orders")
    assert staff.get("/orders/new").status_code == 403  # read only
    ended = staff.post("/view-as/end", {}, form_at="/")
    assert ended.status_code == 302
    assert "viewing the portal" not in staff.text("/vendor/customers")


def test_vendor_staff_review_an_umbrellas_access_and_read_the_audit_log(demo: Flask) -> None:
    staff = Browser(demo.test_client())
    staff.post("/vendor/login", {"login": "planner", "password": PASSWORD})
    review = staff.text(f"/vendor/customers/{data.PEST_CODE}/review")
    # The umbrella's main account and the branches' extra accounts, with their sites.
    for username in ("hoofd", "keuken", "tilburg"):
        assert f"<td>{username}</td>" in review
    assert "Keuken Tilburg" in review
    csv_file = staff.get(f"/vendor/customers/{data.PEST_CODE}/review?format=csv")
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
    lines = csv_file.get_data(as_text=True).splitlines()
    assert lines[0].startswith("customer_code,") and len(lines) >= 4
    assert "Van Dijk" not in csv_file.get_data(as_text=True)  # another customer's logins
    # Viewing as a customer is in the audit log, newest first.
    page = staff.text(f"/vendor/customers/{data.CUSTOMER_CODE}")
    row = re.search(r"<td>limited</td>.*?/vendor/view-as/([0-9a-f-]+)", page, flags=re.S)
    assert row
    staff.post(f"/vendor/view-as/{row.group(1)}", {}, form_at="/vendor/customers")
    staff.post("/view-as/end", {}, form_at="/")
    audit = staff.text("/vendor/audit")
    assert audit.index("impersonation_end") < audit.index("impersonation_start")
    # Members and strangers never reach the vendor pages.
    assert _as(demo, "full").get("/vendor/audit").status_code == 302
    assert demo.test_client().get(f"/vendor/customers/{data.PEST_CODE}/review").status_code == 302
    assert staff.get("/vendor/customers/NOPE/review").status_code == 404


def test_a_second_start_reuses_the_database(demo: Flask, tmp_path: Path) -> None:
    folder = tmp_path / "again"
    first = create_app(folder)
    assert first.extensions["demo"]["created"] is True
    _close(first)
    second = create_app(folder)
    assert second.extensions["demo"]["created"] is False
    assert Browser(second.test_client()).login("full").status_code == 302
    _close(second)


def test_the_demo_command_serves_on_127_0_0_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "portalkit_flask.demo", "--port", "0", "--dir", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed, url = [], None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            printed.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            url = found.group(1) if found else None
        assert url, "".join(printed)
        while "Ctrl-C" not in printed[-1]:  # the rest of the banner: logins, password
            line = process.stdout.readline()
            assert line, "".join(printed)
            printed.append(line)
        banner = "".join(printed)
        assert PASSWORD in banner and "limited" in banner and "planner" in banner
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{url}/login", timeout=30) as answer:
            form = answer.read().decode()
        token = CSRF.search(form)
        assert token
        body = urllib.parse.urlencode(
            {"csrf_token": token.group(1), "login": "full", "password": PASSWORD, "next": "/orders"}
        ).encode()
        with opener.open(f"{url}/login", data=body, timeout=30) as answer:
            assert answer.url == f"{url}/orders"
            assert "VANDIJK-2401" in answer.read().decode()
        assert (tmp_path / "portalkit-demo.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_member_page_reads_the_rights_once(demo: Flask) -> None:
    """The adapter validates the session and builds the context in one go, and every portalkit
    call of the page reuses it: statements to portalkit's tables per page, counted."""
    browser = _as(demo, "full")
    with demo.app_context():
        engine = current_portal.storage.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    assert browser.get("/orders").status_code == 200  # this process reads her rights once
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for page in ("/orders", "/"):
            seen.clear()
            assert browser.get(page).status_code == 200
            # session and context: the rights generation (1); the member's customer (1).
            # Was 9 with a context per call, 3 before facts were reused between requests.
            assert len(seen) <= 2, (page, seen)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


# -- the pest-control umbrella (PestScan's seed) ---------------------------------------------
SITES = re.compile(r"<td>((?:Keuken|Magazijn|Kelder) (?:Eindhoven|Tilburg))</td>")


def _site_ids(demo: Flask) -> dict[str, str]:
    with demo.app_context():
        staff = _platform_staff(demo)
        found = {}
        for code in data.PEST_BRANCHES:
            customer = current_portal.customers.get_by_code(staff, code)
            for site in current_portal.locations.list(staff, customer=customer):
                found[site.name] = str(site.id)
    return found


def _platform_staff(demo: Flask) -> Any:
    from portalkit import STAFF_PERMISSIONS, Staff

    return Staff(
        vendor_id=demo.extensions["demo"]["vendor_id"],
        user_id="test",
        permissions=STAFF_PERMISSIONS,
    )


def _logbook_rows(demo: Flask) -> int:
    engine: sa.Engine = demo.extensions["demo"]["engine"]
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(data.logbook)) or 0)


def test_each_pest_control_login_sees_the_logbook_of_its_own_sites(demo: Flask) -> None:
    seen = {
        login: set(SITES.findall(_as(demo, login).text("/logbook"))) for login in data.PEST_LOGINS
    }
    assert seen["hoofd"] == {
        "Keuken Eindhoven", "Magazijn Eindhoven", "Keuken Tilburg", "Kelder Tilburg",
    }  # fmt: skip
    assert seen["keuken"] == {"Keuken Eindhoven", "Magazijn Eindhoven"}
    assert seen["tilburg"] == {"Keuken Tilburg", "Kelder Tilburg"}
    # The transport logins have no logbook at all.
    assert _as(demo, "full").get("/logbook").status_code == 403


def test_an_extra_account_writes_only_where_it_has_write_rights(demo: Flask) -> None:
    sites = _site_ids(demo)
    keuken = _as(demo, "keuken")
    before = _logbook_rows(demo)
    note = {"kind": "finding", "text": "Mouse seen near the fridge."}
    answer = keuken.post("/logbook", {**note, "site": sites["Keuken Eindhoven"]})
    assert answer.status_code == 302 and _logbook_rows(demo) == before + 1
    for where in ("Magazijn Eindhoven", "Kelder Tilburg"):  # read only; not granted at all
        refused = keuken.post("/logbook", {**note, "site": sites[where]})
        assert refused.status_code == 403
    assert _logbook_rows(demo) == before + 1
    # Tilburg reads only: no form is offered, and a forged post is refused.
    tilburg = _as(demo, "tilburg")
    assert "Add a note" not in tilburg.text("/logbook")
    forged = tilburg.client.post(
        "/logbook", data={**note, "site": sites["Keuken Tilburg"], "csrf_token": "x"}
    )
    assert forged.status_code in (400, 403) and _logbook_rows(demo) == before + 1


def test_the_main_account_sets_an_extra_accounts_site_rights(demo: Flask) -> None:
    sites = _site_ids(demo)
    hoofd = _as(demo, "hoofd")
    page = hoofd.text("/admin/sites")
    assert "Kees Kok" in page and "Tessa de Wit" in page
    with demo.app_context():
        staff = _platform_staff(demo)
        umbrella = current_portal.customers.get_by_code(staff, data.PEST_CODE)
        tessa = next(
            m
            for m in current_portal.memberships.list(staff, customer=umbrella)
            if current_portal.accounts.get(staff, m.account_id).username == "tilburg"
        )
    values = {
        "membership": str(tessa.id),
        f"site-{sites['Keuken Tilburg']}": "write",
        f"site-{sites['Kelder Tilburg']}": "none",
        # A site of a branch Tessa does not work for is not hers to get.
        f"site-{sites['Keuken Eindhoven']}": "write",
    }
    assert hoofd.post("/admin/sites", values).status_code == 302
    tilburg = _as(demo, "tilburg")
    page = tilburg.text("/logbook")
    assert set(SITES.findall(page)) == {"Keuken Tilburg"} and "Add a note" in page
    # An extra account cannot open the page at all.
    assert _as(demo, "keuken").get("/admin/sites").status_code == 403


# -- field service, service desk, the vendor's inbox -------------------------------------------
DOC_LINK = re.compile(r'href="(/documents/open/[^"]+)"')


def test_a_restricted_document_shows_and_opens_only_for_its_member(demo: Flask) -> None:
    piet, eva = _as(demo, "piet"), _as(demo, "eva")
    assert "Legionella risk report.pdf" in piet.text("/documents")
    assert "Legionella risk report.pdf" not in eva.text("/documents")
    links = DOC_LINK.findall(piet.text("/documents"))
    assert len(links) == 2
    for link in links:
        answer = piet.get(link)
        assert answer.status_code == 200 and answer.data.startswith(b"%PDF")
        assert answer.headers["Cache-Control"] == "private, no-store"
        assert answer.headers["Content-Disposition"].startswith("attachment")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        # Piet's link is his alone: Eva, or anyone logged out, gets nothing.
        assert eva.get(link).status_code == 404
        assert demo.test_client().get(link).status_code in (302, 401, 404)
    assert piet.get("/documents/open/made-up").status_code == 404


def test_a_work_request_goes_to_the_vendors_inbox_at_an_own_site_only(demo: Flask) -> None:
    piet = _as(demo, "piet")
    page = piet.text("/work-requests")
    sites = re.findall(r'<option value="([^"]+)"[^>]*>(Zeezicht [^<]+)</option>', page)
    assert [name for _, name in sites] == ["Zeezicht Noord", "Zeezicht Zuid"]
    sent = piet.post(
        "/work-requests",
        {"subject": "Leaking tap", "site": sites[1][0], "notes": "Kitchen", "wish": ""},
    )
    assert sent.status_code == 302 and "Leaking tap" in piet.text("/work-requests")
    # A site of another customer is refused, and nothing is filed.
    other = _site_ids(demo)["Keuken Eindhoven"]
    refused = piet.post("/work-requests", {"subject": "Not mine", "site": other, "wish": ""})
    assert refused.status_code in (403, 404) and "Not mine" not in piet.text("/work-requests")
    staff = Browser(demo.test_client())
    staff.post("/vendor/login", {"login": data.STAFF_LOGIN, "password": PASSWORD})
    inbox = staff.text("/vendor/inbox?kind=work_request")
    assert "Leaking tap" in inbox and "Not mine" not in inbox
    # Eva may not file work requests at all.
    assert _as(demo, "eva").get("/work-requests").status_code == 403


def test_the_main_user_sees_every_ticket_a_user_only_its_own(demo: Flask) -> None:
    haupt, benutzer = _as(demo, "haupt"), _as(demo, "benutzer")
    assert "Printer on floor 2 jams" in haupt.text("/tickets")
    assert "VPN drops every hour" in haupt.text("/tickets")
    mine = benutzer.text("/tickets")
    assert "VPN drops every hour" in mine and "Printer on floor 2 jams" not in mine
    theirs = re.search(r'href="(/tickets/[0-9a-f-]{36})">Printer', haupt.text("/tickets"))
    assert theirs and benutzer.get(theirs.group(1)).status_code == 404


def test_a_file_on_a_ticket_reaches_the_main_user_and_never_a_colleague(demo: Flask) -> None:
    haupt, benutzer = _as(demo, "haupt"), _as(demo, "benutzer")
    own = re.search(r'href="(/tickets/[0-9a-f-]{36})">VPN', benutzer.text("/tickets"))
    assert own
    page = benutzer.text(own.group(1))
    token = CSRF.search(page)
    assert token
    log = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
    sent = benutzer.client.post(
        own.group(1),
        data={
            "csrf_token": token.group(1),
            "action": "attach",
            "file": (io.BytesIO(log), "vpn-log.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    link = re.search(r'href="(/tickets/[^"]+/files/[^"]+)">vpn-log.pdf', haupt.text(own.group(1)))
    assert link
    got = haupt.get(link.group(1))
    assert got.status_code == 200 and got.data == log
    assert got.headers["Content-Disposition"].startswith("attachment")
    # Benutzer's colleague's ticket, and a made-up file of its own ticket: 404 both.
    theirs = re.search(r'href="(/tickets/[0-9a-f-]{36})">Printer', haupt.text("/tickets"))
    assert theirs
    assert benutzer.get(link.group(1).replace(own.group(1), theirs.group(1))).status_code == 404
    made_up = link.group(1).rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert benutzer.get(made_up).status_code == 404


# -- DoIT's shop: prices hidden, so checkout asks for a quote ----------------------------------
def _list_prices() -> list[str]:
    return [s for *_, price, _ in data.SHOP_ITEMS for s in _spellings(Decimal(price))]


def test_the_hidden_price_shop_shows_no_price_and_checks_out_a_quote(demo: Flask) -> None:
    haupt = _as(demo, "haupt")
    pages = {path: haupt.text(path) for path in ("/shop", "/shop/printers", "/cart", "/quotes")}
    for path, page in pages.items():
        for price in _list_prices():
            assert f">{price}" not in page and f"€ {price}" not in page, (path, price)
    # The printer shop offers what fits the customer's own printer, nothing else.
    printers = pages["/shop/printers"]
    assert "TN-2420" in printers and "DR-2400" in printers and "TN-421BK" not in printers
    item = re.search(r'name="item" value="([^"]+)"', printers)
    assert item
    token = CSRF.search(pages["/cart"])
    assert token
    added = haupt.client.post(
        "/cart",
        data={
            "csrf_token": token.group(1),
            "item": item.group(1),
            "quantity": "3",
            "action": "add",
        },
    )
    assert added.status_code == 302
    cart = haupt.text("/cart")
    assert "Ask for a quote" in cart and "Place the order" not in cart
    sent = haupt.post("/cart", {"action": "checkout", "reference": "PO-77"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/quotes")
    # The vendor answers from its inbox; the quote's prices reach the member who may see
    # quotes, and accepting places the order at them.
    staff = Browser(demo.test_client())
    staff.post("/vendor/login", {"login": data.STAFF_LOGIN, "password": PASSWORD})
    link = re.search(
        r'href="(/vendor/inbox/[^"]+)"', staff.text("/vendor/inbox?kind=quote_request")
    )
    assert link
    form = staff.text(link.group(1))
    fields = re.findall(r'name="(price-[^"]+)"', form)
    assert len(fields) == 1
    assert (
        staff.post(link.group(1), {"action": "send_quote", fields[0]: "61.37"}).status_code == 302
    )
    quotes = haupt.text("/quotes")
    assert "61.37" in quotes
    quote = re.search(r'name="quote" value="([^"]+)"', quotes)
    assert quote
    accepted = haupt.post("/quotes", {"quote": quote.group(1), "action": "accept"})
    assert accepted.status_code == 302
    assert "is placed" in haupt.text("/quotes")
    assert "order" in staff.text("/vendor/inbox?kind=order").lower()
    # A user of the same company has no shop at all.
    assert _as(demo, "benutzer").get("/shop").status_code == 403


def test_the_workwear_customer_is_made_by_provisioning_with_its_files_and_admin(
    demo: Flask,
) -> None:
    staff = Browser(demo.test_client())
    staff.post("/vendor/login", {"login": "planner", "password": PASSWORD})
    page = staff.text(f"/vendor/customers/{data.WORKWEAR_CODE}")
    assert "Kleedwerk Bedrijfskleding" in page and "kleed-admin" in page
    with demo.app_context():
        vendor_id = demo.extensions["demo"]["vendor_id"]
        events = current_portal.audit.list(_platform(demo), limit=1000)
        customer = current_portal.customers.get_by_code(_platform(demo), data.WORKWEAR_CODE)
        branding = customer.branding
        logo, logo_type = current_portal.branding.public_asset(vendor_id, branding.logo_asset_id)
        pdf, pdf_type = current_portal.branding.public_asset(
            vendor_id, branding.size_instructions_asset_id
        )
        sites = current_portal.locations.list(_platform(demo), customer=customer)
    assert any(e.action == "customer_provisioned" and e.customer_id == customer.id for e in events)
    assert logo_type == "image/png" and Image.open(io.BytesIO(logo)).size[1] == 90
    assert branding.email_logo_asset_id and pdf_type == "application/pdf"
    assert "size instructions" in PdfReader(io.BytesIO(pdf)).metadata.title.lower()
    assert {site.name for site in sites} == {"Depot Enschede", "Werkplaats Hengelo"}
    # Its admin logs in with the demo password and manages the customer's logins.
    admin = _as(demo, "kleed-admin")
    assert admin.get("/admin/logins").status_code == 200
    # The layout shows the customer's own logo, served by the adapter's public route.
    shown = re.search(r'<img src="([^"]+)" alt="Kleedwerk[^"]*" class="logo">', admin.text("/"))
    assert shown and shown.group(1) == f"/branding/{branding.logo_asset_id}"
    served = demo.test_client().get(shown.group(1))
    assert served.status_code == 200 and served.data == logo
    # A customer without any logo gets the vendor's mark instead.
    assert '<span class="mark">ST</span>' in _as(demo, "piet").text("/")


def _platform(demo: Flask) -> Any:
    from portalkit import Staff
    from portalkit.staffrights import STAFF_PERMISSIONS

    return Staff(
        vendor_id=demo.extensions["demo"]["vendor_id"],
        user_id="test",
        permissions=STAFF_PERMISSIONS,
    )


def _vendor(demo: Flask) -> Browser:
    staff = Browser(demo.test_client())
    assert staff.post("/vendor/login", {"login": "planner", "password": PASSWORD}).status_code == (
        302
    )
    return staff


def _codes(demo: Flask) -> set[str]:
    with demo.app_context():
        return {c.code for c in current_portal.customers.list(_platform(demo), limit=1000)}


NEW = "/vendor/customers/new"


def test_the_new_customer_page_provisions_and_shows_every_step(demo: Flask) -> None:
    staff = _vendor(demo)
    assert 'href="/vendor/customers/new"' in staff.text("/vendor/customers")
    mail: Path = demo.extensions["demo"]["mail"]
    sent = len(list(mail.glob("*.eml")))
    answer = staff.post(
        NEW,
        {
            "code": "BOUWPAK",
            "name": "Bouwpak Werkkleding",
            "street": "Havenstraat 3",
            "postal_code": "3011 AB",
            "city": "Rotterdam",
            "country": "NL",
            "admin_username": "bouwpak-admin",
            "admin_email": "it@bouwpak.example",
            "copy_from": data.WORKWEAR_CODE,
            "logo": (io.BytesIO(data.wordmark("BOUWPAK")), "logo.png"),
        },
    )
    assert answer.status_code == 200 and answer.is_streamed
    page = answer.get_data(as_text=True)
    final = dict(re.findall(r'data-step="(\w+)" data-status="(\w+)"', page))
    assert final == dict.fromkeys(
        ("validate", "customer", "copy_settings", "branding", "admin", "invitation", "summary"),
        "done",
    )
    # The live list has each step's changes in order: waiting, running, done.
    changes = re.findall(r'<li class="step step-(\w+)" data-step="branding"', page)
    assert changes == ["waiting", "running", "done"]
    assert "Customer BOUWPAK is created." in page and "bouwpak-admin" in page
    assert "BOUWPAK" in _codes(demo)
    with demo.app_context():
        made = current_portal.customers.get_by_code(_platform(demo), "BOUWPAK")
    assert made.branding.logo_asset_id and made.addresses[0].city == "Rotterdam"
    assert len(list(mail.glob("*.eml"))) == sent + 1  # the admin's invitation


def test_a_bad_logo_stops_the_run_at_its_step_and_creates_nothing(demo: Flask) -> None:
    staff = _vendor(demo)
    before = _codes(demo)
    mail: Path = demo.extensions["demo"]["mail"]
    sent = len(list(mail.glob("*.eml")))
    page = staff.post(
        NEW,
        {
            "code": "KAPOT",
            "name": "Kapot B.V.",
            "admin_username": "kapot-admin",
            "admin_email": "it@kapot.example",
            "logo": (io.BytesIO(b"just some text"), "logo.png"),
        },
    ).get_data(as_text=True)
    # The branding files are checked with the rest of the input, before anything is written.
    failed = re.search(r'class="errors" role="alert" data-failed="(\w+)">([^<]*)<', page)
    assert failed and failed.group(1) == "validate"
    assert "logo: is not a PNG or JPEG image" in failed.group(2)
    assert 'data-step="validate" data-status="failed"' in page
    assert 'data-step="customer" data-status="waiting"' in page
    assert "Nothing was created." in page
    assert _codes(demo) == before
    assert len(list(mail.glob("*.eml"))) == sent


def test_the_new_customer_page_is_for_vendor_staff_with_a_csrf_token_only(demo: Flask) -> None:
    before = _codes(demo)
    staff = _vendor(demo)
    forged = staff.client.post(NEW, data={"code": "FORGED", "name": "Forged"})
    assert forged.status_code == 400
    wrong = staff.client.post(NEW, data={"code": "FORGED", "name": "Forged", "csrf_token": "x"})
    assert wrong.status_code == 400
    assert _as(demo, "admin").get(NEW).status_code == 302  # a customer admin is no staff
    assert demo.test_client().get(NEW).status_code == 302
    assert _codes(demo) == before
