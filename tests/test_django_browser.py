"""The Django demo project (examples/django/demo) in headless Chromium: what a person's browser
gets, not what Django's test client gets. A limited member logs in through the adapter's form
and sees only its customer's orders, with no rate in any spelling anywhere in the HTML; a full
member sees the rates; an action it may not take answers 403 and another customer's order 404,
the same page as an order that does not exist; logging out ends the session; the pages switch
to Dutch and German through Django's language form; a field-service member files a work
request through its form, and a member without the right gets a 403.

The browser is the one tests/browser.py finds (Debian's ``chromium``, never one Playwright
downloads), under the ``browser`` marker: skipped on a developer machine without it, a
failure in CI. The demo runs in a process of its own (Django's settings are per process and
the adapter's tests configure another project in this one): ``manage.py demo_seed`` on a
fresh SQLite file, then ``manage.py runserver --noreload`` on a free port of 127.0.0.1 with
``DEBUG`` off, stopped (and waited for) when the module's tests are done.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from browser import Visitor, chromium_browser, rate_spellings, visitors

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "django" / "demo"
PASSWORD = "demo harbour tulip"  # demo_site.seed.DEMO_PASSWORD (not importable here)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DjangoDemo:
    """The demo project served by ``manage.py runserver`` on 127.0.0.1, in a process of its
    own, until :meth:`stop` or the end of its ``with`` block."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.database = folder / "demo.db"
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log = folder / "server.log"

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, the only host the browser should ever ask for."""
        return urllib.parse.urlsplit(self.url).netloc

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
        paths = [str(DEMO), str(ROOT / "src"), str(ROOT / "examples" / "django" / "src")]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
        env.update(DEMO_DB=str(self.database), DEMO_MAIL="memory", DEMO_DEBUG="0")
        return env

    def start(self) -> Self:
        """Make and fill the database, then serve it and wait until the port answers."""
        manage = [sys.executable, str(DEMO / "manage.py")]
        seeded = subprocess.run(
            [*manage, "demo_seed", "--verbosity", "0"],
            cwd=self.folder,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert seeded.returncode == 0, seeded.stderr[-4000:]
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=self.folder,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self._process.poll() is not None:
                raise AssertionError(f"the demo server ended:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"the demo server did not start:\n{self.log()}") from None
                time.sleep(0.1)

    def log(self) -> str:
        """What the server printed (the end of it)."""
        return self._log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        """Stop the server and wait for it."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=15)
            self._process = None

    def rates(self, prefix: str = "VANDIJK-") -> list[Decimal]:
        """Every rate stored for the customer's orders, read from the demo's own table."""
        with sqlite3.connect(self.database) as connection:
            found = connection.execute(
                "SELECT rate FROM demo_site_order WHERE reference LIKE ?", (f"{prefix}%",)
            ).fetchall()
        assert found
        return [Decimal(str(rate)).quantize(Decimal("0.01")) for (rate,) in found]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def demo(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DjangoDemo]:
    # After `chromium`, so a missing browser skips (or fails) before the demo is built.
    with DjangoDemo(tmp_path_factory.mktemp("django-demo")) as server:
        yield server


class DemoVisitor(Visitor):
    """A visitor of the Django demo: the adapter's log-in form, then ``next_path``."""

    def login(self, login: str, next_path: str = "/orders/") -> Any:  # type: ignore[override]
        path = f"/portal/login/?next={urllib.parse.quote(next_path)}"
        return super().login(login, PASSWORD, path)


@pytest.fixture
def visit(chromium: Any, demo: DjangoDemo) -> Iterator[Callable[[], Visitor]]:
    """Make visitors (each a fresh browser context) and close them after the test."""
    with visitors(lambda: DemoVisitor(chromium, demo)) as make:
        yield make


def _references(visitor: Visitor) -> list[str]:
    return [str(t).strip() for t in visitor.page.locator("table td a").all_inner_texts()]


def test_a_limited_member_sees_its_customers_orders_and_no_rate_anywhere(
    visit: Callable[[], Visitor], demo: DjangoDemo
) -> None:
    limited = visit()
    answer = limited.login("limited")
    assert answer.status == 302 and limited.path() == "/orders/", limited.page.url
    assert _references(limited) == ["VANDIJK-0003", "VANDIJK-0002", "VANDIJK-0001"]
    pages = ["/", "/orders/", *(f"/orders/{r}/" for r in _references(limited))]
    rates = demo.rates()
    for path in pages:
        html = limited.html(path)
        assert "Rate" not in html and "€" not in html, path
        for rate in rates:
            for spelling in rate_spellings(rate):
                assert spelling not in html, (path, spelling)
    # The order's own page shows it (so the check above read a real page, not an error).
    assert "Rotterdam" in limited.html("/orders/VANDIJK-0001/")
    # The nav offers no action the member may not take.
    assert limited.page.locator("nav a[href='/admin/logins/']").count() == 0


def test_a_full_member_sees_the_rates(visit: Callable[[], Visitor], demo: DjangoDemo) -> None:
    # The other side of the limited member's check: the same pages do show rates to a member
    # holding prices.view, so their absence above is the filter at work.
    full = visit()
    assert full.login("full").status == 302
    html = full.html("/orders/")
    assert all(f"€ {rate:.2f}" in html for rate in demo.rates())
    assert f"€ {demo.rates()[0]:.2f}" in full.html("/orders/VANDIJK-0001/")
    assert "99.00" not in html and "MOLEN" not in html  # another customer's order


def test_a_forbidden_action_is_403_and_an_unseen_record_404(
    visit: Callable[[], Visitor],
) -> None:
    limited = visit()
    assert limited.login("limited").status == 302
    # Managing logins needs members.manage, which the limited profile does not hold.
    refused = limited.open("/admin/logins/")
    assert refused.status == 403
    assert "Piet" not in limited.page.content() and "Logins" not in limited.page.content()
    # Another customer's order: not "forbidden" but absent, the same page as a made-up one.
    theirs = limited.open("/orders/MOLEN-0004/")
    assert theirs.status == 404
    unseen = limited.page.content()
    assert limited.open("/orders/VANDIJK-9999/").status == 404
    assert limited.page.content() == unseen
    assert "MOLEN" not in unseen and "Zwolle" not in unseen and "99" not in unseen
    # The customer admin holds the right: the same page answers 200 for her.
    admin = visit()
    assert admin.login("admin", "/admin/logins/").status == 302
    assert admin.path() == "/admin/logins/"
    assert admin.open("/admin/logins/").status == 200


def test_logging_out_ends_the_session(visit: Callable[[], Visitor]) -> None:
    limited = visit()
    assert limited.login("limited").status == 302
    cookies = {c["name"]: c["value"] for c in limited.context.cookies()}
    assert limited.submit("nav button:has-text('Log out')").status == 302
    assert limited.path() == "/portal/login/"
    answer = limited.open("/orders/")
    assert limited.path() == "/portal/login/?next=%2Forders%2F", answer.url
    # The session key of before the log-out opens nothing either (it was cycled, not kept).
    stale = visit()
    stale.context.add_cookies(
        [{"name": "sessionid", "value": cookies["sessionid"], "url": stale.site.url}]
    )
    stale.open("/orders/")
    assert stale.path() == "/portal/login/?next=%2Forders%2F"


def test_the_pages_switch_to_dutch_and_german(visit: Callable[[], Visitor]) -> None:
    limited = visit()
    assert limited.login("limited").status == 302
    assert "Reference" in limited.page.content()
    expected = {
        "NL": ("nl", ("Referentie", "Uitloggen"), "Inloggen"),
        "DE": ("de", ("Referenz", "Abmelden"), "Anmelden"),
    }
    for button, (code, words, log_in) in expected.items():
        limited.open("/orders/")
        assert limited.submit(f"nav button[value={code}]").status == 302
        assert limited.path() == "/orders/"
        html = limited.page.content()
        assert f'lang="{code}"' in html and all(word in html for word in words), button
        assert _references(limited)[0] == "VANDIJK-0003"  # the same filtered page
        assert "Rate" not in html and "Tarief" not in html and "€" not in html
        # Logged out, the log-in page keeps the language chosen; logged in again, too.
        limited.submit(f"nav button:has-text('{words[1]}')")
        assert limited.path() == "/portal/login/"
        assert log_in in limited.page.content()
        assert limited.login("limited").status == 302
        assert words[0] in limited.page.content()


def test_a_field_service_member_files_a_work_request(visit: Callable[[], Visitor]) -> None:
    piet = visit()
    assert piet.login("piet", "/work-requests/").status == 302
    assert piet.path() == "/work-requests/"
    assert "Heat pump makes noise at night" in piet.page.content()
    piet.page.fill("input[name=subject]", "Shower drain blocked in room 108")
    piet.page.select_option("select[name=site]", label="Zeezicht Zuid")
    piet.page.fill("textarea[name=notes]", "Water stands after a minute.")
    piet.page.fill("input[name=wished_at]", "2026-12-15T08:30")
    assert piet.submit("main button[type=submit]").status == 302
    assert piet.path() == "/work-requests/"
    row = piet.page.locator("tr", has_text="Shower drain blocked in room 108")
    assert "Zeezicht Zuid" in row.inner_text() and "2026-12-15 08:30" in row.inner_text()
    # Eva's profile has no work requests: no link to the page, and the page itself is 403.
    eva = visit()
    assert eva.login("eva", "/").status == 302
    assert eva.page.locator("nav a[href='/work-requests/']").count() == 0
    assert eva.open("/work-requests/").status == 403
