"""Headless Chromium for the browser tests, and the demo portal served for it to visit.

The browser is Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it),
driven by Playwright for Python through ``executable_path``. Playwright's own downloaded
browsers are never used: ``playwright install`` fetches a build from outside the package
registries, which CI cannot reach. The lookup order: ``PORTALKIT_TEST_CHROMIUM`` (a path),
``chromium`` on ``PATH``, ``/usr/bin/chromium``.

Without Chromium or Playwright the browser tests are skipped on a developer machine and FAIL in
CI (``CI=true``), as the PostgreSQL tests do (``pgserver.unavailable``): CI installs both, so a
missing one is a broken set-up that a skip would hide.

The demo runs in this process, in a thread, on a free port of 127.0.0.1 (Werkzeug's
``make_server``, as ``python -m portalkit_flask.demo`` does), so the tests can read its
database beside what the browser shows, and coverage sees the server's code.
"""

from __future__ import annotations

import os
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Protocol, Self

from pgserver import in_ci

__all__ = [
    "ENV_CHROMIUM",
    "ENV_SCREENSHOTS",
    "DemoServer",
    "Visitor",
    "chromium_browser",
    "find_chromium",
    "rate_spellings",
    "unavailable",
    "visitors",
]

#: A path to the Chromium to use instead of the one on PATH.
ENV_CHROMIUM = "PORTALKIT_TEST_CHROMIUM"

#: Set to 1 to write the screenshots into docs/_static/screenshots (the docs' pictures).
ENV_SCREENSHOTS = "PORTALKIT_SCREENSHOTS"

_DEBIAN_CHROMIUM = Path("/usr/bin/chromium")

# Small enough for the docs, wide enough that the orders table fits without scrolling.
VIEWPORT = {"width": 1100, "height": 720}
# A step that works takes well under a second here; a broken one fails in seconds, not 30.
TIMEOUT_MS = 10_000

LAUNCH_ARGS = [
    # Chromium's sandbox needs unprivileged user namespaces or a setuid helper, and refuses
    # to start as root at all; CI and containers run as root. What it would guard against is
    # a hostile page, and the only pages here are the demo's own, on 127.0.0.1.
    "--no-sandbox",
    # Containers often give /dev/shm 64 MB, too little for a renderer: use /tmp instead.
    "--disable-dev-shm-usage",
    # Nothing but the portal on 127.0.0.1 can be reached: a redirect that escapes (the
    # open-redirect test broken on purpose) ends in a failed lookup, not in traffic off
    # this machine. The tests' route filter refuses such requests too.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def unavailable(reason: str) -> NoReturn:
    """Give up on a browser test: fail in CI, skip everywhere else."""
    import pytest

    if in_ci():
        pytest.fail(
            f"headless Chromium is required in CI (CI=true) but unavailable: {reason}",
            pytrace=False,
        )
    pytest.skip(f"headless Chromium unavailable: {reason}")


def find_chromium() -> Path | None:
    """Debian's Chromium (or the one ``PORTALKIT_TEST_CHROMIUM`` names), or None."""
    given = os.environ.get(ENV_CHROMIUM, "").strip()
    if given:
        path = Path(given)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which("chromium")
    if found is not None:
        return Path(found)
    if _DEBIAN_CHROMIUM.is_file() and os.access(_DEBIAN_CHROMIUM, os.X_OK):
        return _DEBIAN_CHROMIUM
    return None


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium (Playwright's ``Browser``), closed afterwards; skips (locally) or
    fails (CI) when Chromium or Playwright is missing or the browser does not start."""
    executable = find_chromium()
    if executable is None:
        where = os.environ.get(ENV_CHROMIUM) or "chromium on PATH or /usr/bin/chromium"
        unavailable(f"no Chromium found ({where}); apt-get install chromium")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        unavailable(f"Playwright for Python is not installed ({exc}); pip install playwright")
    reason = ""
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(executable), headless=True, args=LAUNCH_ARGS
            )
        except Error as exc:
            reason = f"{executable} does not start: {exc.message.splitlines()[0]}"
        else:
            try:
                yield browser
            finally:
                browser.close()
            return
    # Outside the except block and Playwright's own context, so the report stays short.
    unavailable(reason)


class DemoServer:
    """The demo portal (``portalkit_flask.demo.create_app``) served on a free port of
    127.0.0.1 in a thread, until :meth:`stop` or the end of its ``with`` block."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.app: Any = None
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, the only host the browser should ever ask for."""
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def mail_folder(self) -> Path:
        """Where the demo's file mail backend writes each message (``.eml`` and ``.txt``)."""
        return Path(self.app.extensions["demo"]["mail"])

    def start(self) -> Self:
        """Bind the port, build the demo with that address as its base URL, serve."""
        from portalkit_flask.demo import create_app
        from werkzeug.serving import make_server

        wsgi: dict[str, Any] = {}

        def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
            return wsgi["app"](environ, start_response)

        # The port first, so the links in the portal's mail name the port it really got.
        self._server = make_server("127.0.0.1", 0, dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.app = create_app(self.folder, base_url=self.url)
        wsgi["app"] = self.app.wsgi_app
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-portal", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the port and the portal."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.app is not None:
            from portalkit_flask import current_portal

            with self.app.app_context():
                current_portal.close()
            self.app.extensions["demo"]["engine"].dispose()
            self.app = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Site(Protocol):
    """A portal served on 127.0.0.1 for the browser: its address and its ``host:port``."""

    url: str

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, the only host the browser should ever ask for."""
        ...


class Visitor:
    """One browser context (its own cookies) on ``site``, and every host it asked for;
    screenshots go to ``shots``."""

    def __init__(self, chromium: Any, site: Site, shots: Path | None = None) -> None:
        self.site = site
        self.shots = shots
        self.context = chromium.new_context(base_url=site.url, viewport=VIEWPORT)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.elsewhere: list[str] = []
        # Every request off the portal is noted and refused: none may leave this machine.
        self.context.route("**/*", self._only_the_portal)
        self.page = self.context.new_page()

    def _only_the_portal(self, route: Any) -> None:
        url = route.request.url
        if urllib.parse.urlsplit(url).netloc == self.site.host:
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort("blockedbyclient")

    def open(self, path: str) -> Any:
        """Go to ``path`` and answer the response of the page (asserting it came)."""
        response = self.page.goto(path)
        assert response is not None, path
        return response

    def html(self, path: str) -> str:
        """The page's HTML as the browser holds it, after a 200."""
        response = self.open(path)
        assert response.status == 200, (path, response.status)
        return str(self.page.content())

    def submit(self, button: str = "main button[type=submit]") -> Any:
        """Click a form's button and answer the response to its POST."""
        with self.page.expect_response(lambda r: r.request.method == "POST") as posted:
            self.page.click(button)
        self.page.wait_for_load_state()
        return posted.value

    def login(self, login: str, password: str, path: str) -> Any:
        """Fill the log-in form at ``path`` and answer the response to its POST."""
        self.open(path)
        self.page.fill("input[name=login]", login)
        self.page.fill("input[name=password]", password)
        return self.submit()

    def path(self) -> str:
        """Where the browser is now, on the portal (fails if it is anywhere else)."""
        where = urllib.parse.urlsplit(self.page.url)
        assert f"{where.scheme}://{where.netloc}" == self.site.url, self.page.url
        return where.path + (f"?{where.query}" if where.query else "")

    def shot(self, name: str) -> None:
        """Save a PNG of the page as ``<name>.png`` in ``shots``."""
        assert self.shots is not None, "this visitor was given no folder for screenshots"
        self.page.screenshot(path=str(self.shots / f"{name}.png"))


@contextmanager
def visitors(
    make: Callable[[], Visitor],
) -> Iterator[Callable[[], Visitor]]:
    """Hand out visitors made by ``make`` (each a fresh browser context), close them
    afterwards, and fail if any of them was sent off the portal — even when the test's own
    checks passed."""
    made: list[Visitor] = []

    def another() -> Visitor:
        made.append(make())
        return made[-1]

    yield another
    for visitor in made:
        visitor.context.close()
    assert [url for v in made for url in v.elsewhere] == []


def rate_spellings(rate: Decimal) -> list[str]:
    """How a rate could show up in HTML: 187.40, 187,40, 187.4, 18740 (cents), 1.187,40."""
    fixed = f"{rate:.2f}"
    grouped = f"{rate:,.2f}"
    return [
        fixed,
        fixed.replace(".", ","),
        str(rate.normalize()),
        fixed.replace(".", ""),
        grouped,
        grouped.replace(",", "_").replace(".", ",").replace("_", "."),
    ]
