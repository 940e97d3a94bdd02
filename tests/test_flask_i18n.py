"""The Flask adapter's and the demo's pages in English, Dutch and German: the language switch,
Accept-Language, portalkit's errors in the request's language, a failed log-in that reads the
same for known and unknown logins in every language, and catalogs that translate every text
the adapter and the demo mark."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from portalkit_flask import current_portal, request_language
from portalkit_flask.demo import create_app, data
from portalkit_flask.i18n import DOMAIN, LANGUAGES, LOCALE

from portalkit import AuthenticationFailed, PasswordRejected

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PACKAGE = LOCALE.parent

# The log-in page's heading; its Dutch and German are read from the catalogs, not typed here.
LOG_IN = "Log in"


def _catalog(language: str) -> dict[str, str]:
    with (LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        read = read_po(source, locale=language, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in read if m.id}


def _said(language: str, text: str) -> str:
    return text if language == "en" else _catalog(language)[text]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app(tmp_path_factory.mktemp("demo-i18n"))
    yield app
    with app.app_context():
        current_portal.close()


class Browser:
    def __init__(self, client: FlaskClient, **headers: str) -> None:
        self.client = client
        self.headers = headers

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def text(self, path: str) -> str:
        answer = self.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return str(answer.get_data(as_text=True))

    def post(self, path: str, values: dict[str, str], form_at: str | None = None) -> Any:
        found = CSRF.search(self.text(form_at or path))
        assert found
        return self.client.post(
            path, data={**values, "csrf_token": found.group(1)}, headers=self.headers
        )

    def switch(self, language: str, back: str = "/login") -> Any:
        return self.post("/language", {"language": language, "next": back}, form_at=back)


def _title(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page)
    assert found
    return html.unescape(found.group(1))


# -- choosing the language --------------------------------------------------------------------
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_switch_changes_the_page(demo: Flask, language: str) -> None:
    browser = Browser(demo.test_client())
    assert _title(browser.text("/login")) == LOG_IN  # English by default
    answer = browser.switch(language)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login"
    page = browser.text("/login")
    assert _title(page) == _said(language, LOG_IN)
    assert f'<html lang="{language}">' in page
    # The choice is kept for the visitor: it wins over what the browser asks for.
    browser.headers["Accept-Language"] = "de" if language != "de" else "nl"
    assert _title(browser.text("/login")) == _said(language, LOG_IN)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("nl-NL,nl;q=0.9,en;q=0.5", "nl"),
        ("nl-BE,en;q=0.5", "nl"),
        ("en-GB,de;q=0.8", "en"),
        ("de-CH", "de"),
        ("fr, de;q=0.3", "de"),
        ("de;q=0, nl;q=0.2", "nl"),
        ("fr", "en"),
        ("de;q=0", "en"),
        ("*", "en"),
        ("*, de;q=0.5", "en"),
    ],
)
def test_accept_language_picks_the_best_match(demo: Flask, header: str, language: str) -> None:
    browser = Browser(demo.test_client(), **{"Accept-Language": header})
    assert _title(browser.text("/login")) == _said(language, LOG_IN)


def test_without_a_choice_or_a_match_the_default_language_holds(tmp_path: Path) -> None:
    app = create_app(tmp_path, PORTALKIT_DEFAULT_LANGUAGE="de")
    try:
        assert _title(Browser(app.test_client()).text("/login")) == _said("de", LOG_IN)
        with app.test_request_context("/", headers={"Accept-Language": "nl"}):
            assert request_language() == "nl"
    finally:
        with app.app_context():
            current_portal.close()


@pytest.mark.parametrize("code", ["fr", "NL", "nl-NL", "", "x" * 500, "../en"])
def test_the_switch_refuses_unknown_codes(demo: Flask, code: str) -> None:
    browser = Browser(demo.test_client())
    assert browser.switch(code).status_code == 400
    with browser.client.session_transaction() as session:
        assert "portalkit_language" not in session
    assert _title(browser.text("/login")) == LOG_IN


@pytest.mark.parametrize(
    "target", ["https://elsewhere.example/", "//elsewhere.example/", "/\\elsewhere.example"]
)
def test_the_switch_never_leads_off_the_site(demo: Flask, target: str) -> None:
    browser = Browser(demo.test_client())
    found = CSRF.search(browser.text("/login"))
    assert found
    answer = browser.client.post(
        "/language", data={"language": "nl", "next": target, "csrf_token": found.group(1)}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


def test_the_switch_needs_the_csrf_token(demo: Flask) -> None:
    assert demo.test_client().post("/language", data={"language": "nl"}).status_code == 400


# -- what people read -------------------------------------------------------------------------
def _without_token(page: str) -> str:
    return CSRF.sub('name="csrf_token" value=""', page)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_failed_log_in_reads_the_same_for_known_and_unknown_logins(
    demo: Flask, language: str
) -> None:
    pages = []
    for login in ("full", "nobody-at-all"):
        browser = Browser(demo.test_client())
        browser.switch(language)
        answer = browser.post("/login", {"login": login, "password": "not the password"})
        assert answer.status_code == 401
        pages.append(_without_token(answer.get_data(as_text=True)))
    known, unknown = pages
    assert known == unknown
    expected = AuthenticationFailed().text(language)
    assert expected in html.unescape(known)
    assert (language == "en") == (expected == str(AuthenticationFailed()))


def test_a_rejected_password_is_explained_in_dutch(demo: Flask) -> None:
    browser = Browser(demo.test_client())
    assert (
        browser.post("/login", {"login": "full", "password": data.DEMO_PASSWORD}).status_code == 302
    )
    browser.switch("nl", back="/change-password")
    answer = browser.post(
        "/change-password",
        {"current": data.DEMO_PASSWORD, "new": "short", "confirm": "short"},
    )
    assert answer.status_code == 400
    page = html.unescape(answer.get_data(as_text=True))
    with demo.app_context(), pytest.raises(PasswordRejected) as rejected:
        current_portal.credentials.policy.check("short")
    for problem in rejected.value.problems:
        assert problem.text("nl") in page
        assert problem.text("nl") != problem.message
        assert problem.message not in page


def test_a_flash_and_a_demo_error_follow_the_language(demo: Flask) -> None:
    browser = Browser(demo.test_client())
    browser.post("/login", {"login": "limited", "password": data.DEMO_PASSWORD})
    browser.switch("de", back="/orders/new")
    refused = browser.post("/orders/new", {"reference": "", "pickup": "x", "delivery": "y"})
    expected = _said("de", "%(field)s: required") % {"field": _said("de", "Your reference")}
    assert expected in html.unescape(refused.get_data(as_text=True))
    placed = browser.post("/orders/new", {"reference": "DE-1", "pickup": "x", "delivery": "y"})
    assert placed.status_code == 302
    shown = html.unescape(browser.text("/orders"))
    assert _said("de", "Order %(reference)s placed.") % {"reference": "DE-1"} in shown
    missing = browser.get("/orders/999999")
    assert missing.status_code == 404
    assert _said("de", "There is nothing here.") in html.unescape(missing.get_data(as_text=True))


# -- the catalogs -----------------------------------------------------------------------------
def _marked() -> set[str]:
    """Every text the adapter's and the demo's templates and Python mark with _()."""
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    found = {
        str(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(PACKAGE), method_map, keywords={"_": None}
        )
    }
    assert len(found) > 80  # the scan found the pages' texts, not nothing
    return found


PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("language", ["nl", "de"])
def test_every_marked_text_is_translated_with_the_same_placeholders(language: str) -> None:
    catalog = _catalog(language)
    for text in _marked():
        assert catalog.get(text), (language, text)
        assert sorted(PLACEHOLDER.findall(catalog[text])) == sorted(PLACEHOLDER.findall(text))


def test_the_template_catalog_lists_every_marked_text() -> None:
    with (LOCALE / f"{DOMAIN}.pot").open("rb") as source:
        template = {str(m.id) for m in read_po(source) if m.id}
    assert template == _marked()


# -- a host with its own Flask-Babel ------------------------------------------------------------
def _host_with_flask_babel(tmp_path: Path, *, babel_first: bool) -> Flask:
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from cryptography.fernet import Fernet
    from flask import render_template_string
    from flask_babel import Babel
    from portalkit_flask import Portalkit

    # The host's own catalog, compiled as Flask-Babel reads it.
    catalog = Catalog(locale="nl", domain="messages")
    catalog.add("Our own heading", "Onze eigen kop")
    folder = tmp_path / "translations" / "nl" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as compiled:
        write_mo(compiled, catalog)
    # The host gives the adapter's pages its own layout, with a text of its own.
    templates = tmp_path / "templates" / "portalkit"
    templates.mkdir(parents=True)
    (templates / "layout.html").write_text(
        '<p class="host">{{ _("Our own heading") }}</p>{% block content %}{% endblock %}'
    )
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="a test secret that is long enough",
        PORTALKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTALKIT_MAIL_BACKEND="memory",
        PORTALKIT_MAIL_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PORTALKIT_SECRET_KEY="another long test secret for throttles",
    )
    if babel_first:
        Babel(app, locale_selector=request_language)
        Portalkit(app)
    else:
        Portalkit(app)
        Babel(app, locale_selector=request_language)

    @app.get("/own")
    def own() -> str:
        return render_template_string('{{ _("Our own heading") }}|{{ _("Log in") }}')

    return app


@pytest.mark.parametrize("babel_first", [True, False])
def test_a_host_with_flask_babel_keeps_its_texts_and_gets_the_adapters(
    tmp_path: Path, babel_first: bool
) -> None:
    app = _host_with_flask_babel(tmp_path, babel_first=babel_first)
    try:
        dutch = Browser(app.test_client(), **{"Accept-Language": "nl"})
        page = dutch.text("/login")
        # The adapter's texts from its catalogs, the host's layout text from the host's.
        assert _title(page) == _said("nl", LOG_IN)
        assert '<p class="host">Onze eigen kop</p>' in page
        # The host's own pages are Flask-Babel's: its catalog, in the adapter's language.
        assert dutch.text("/own") == "Onze eigen kop|Log in"
        english = Browser(app.test_client())
        assert '<p class="host">Our own heading</p>' in english.text("/login")
    finally:
        with app.app_context():
            current_portal.close()
