"""The language of a request, and the adapter's own texts in it.

The language is what the request says: the visitor's explicit choice (the language switch,
kept in Flask's session), else the best match of its ``Accept-Language`` header, else
``PORTALKIT_DEFAULT_LANGUAGE``. It is never an account's stored language: the log-in, reset
and invitation pages answer anonymous callers, and an answer that followed the language of
the address typed in would tell known addresses from unknown ones.

The adapter's texts (its pages, the demo's, their ``flash()`` messages) are gettext catalogs
shipped beside this module (``locale/``, domain ``portalkit_flask``), read the way portalkit
reads its own. A host that uses Flask-Babel keeps it: texts the adapter's catalogs lack go to
Flask-Babel's ``gettext`` (see docs/flask.md, "Languages").

Refreshing the catalogs after a text changed (from ``examples/flask/src/portalkit_flask``)::

    pybabel extract -F locale/babel.cfg --no-location --sort-output --omit-header -k _ \\
        -o locale/portalkit_flask.pot .
    pybabel update -i locale/portalkit_flask.pot -d locale -D portalkit_flask \\
        --no-fuzzy-matching --width 100

then translate the new entries of ``nl`` (informal "je") and ``de`` (formal "Sie");
``tests/test_flask_i18n.py`` fails until every text has its translation.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from pathlib import Path
from typing import Any

from flask import current_app, g, has_request_context, request, session

from portalkit.i18n import SUPPORTED_LANGUAGES, language_of

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE",
    "SESSION_LANGUAGE",
    "choose_language",
    "gettext",
    "request_language",
]

LANGUAGES: tuple[str, ...] = tuple(SUPPORTED_LANGUAGES)
"""The languages the adapter's pages come in (portalkit's own: ``en``, ``nl``, ``de``)."""

LOCALE = Path(__file__).parent / "locale"
"""The adapter's catalogs: ``portalkit_flask.pot`` and ``<language>/LC_MESSAGES/*.po``."""

DOMAIN = "portalkit_flask"
"""The gettext domain of the adapter's catalogs."""

SESSION_LANGUAGE = "portalkit_language"
"""Where in Flask's session the visitor's explicit choice of language is kept."""


def request_language() -> str:
    """The language of this request: ``"en"``, ``"nl"`` or ``"de"``.

    The visitor's choice in the session, else the best match of ``Accept-Language``, else
    ``PORTALKIT_DEFAULT_LANGUAGE``. Pass it to portalkit (``exc.text(request_language())``)
    and, in a host using Flask-Babel, as its ``locale_selector``. Outside a request: the
    default language.
    """
    if not has_request_context():
        return _default_language()
    found = g.get("_portalkit_language")
    if found is None:
        found = language_of(session.get(SESSION_LANGUAGE))
        if found is None:
            found = _accepted() or _default_language()
        g._portalkit_language = found
    return str(found)


def _accepted() -> str | None:
    # By the visitor's order of preference, a regional tag counting for its language:
    # "nl-BE, en;q=0.5" is Dutch (Werkzeug's best_match would take the exact "en" first).
    # Werkzeug puts "*" last whatever its quality; the visitor's qualities decide here.
    preferred = sorted(request.accept_languages, key=lambda item: item[1], reverse=True)
    for value, quality in preferred:
        if quality <= 0:
            continue
        if value == "*":
            return None
        found = language_of(value)
        if found is not None:
            return found
    return None


def choose_language(code: object) -> str | None:
    """Keep ``code`` as this visitor's language if it is one of :data:`LANGUAGES` exactly
    (``"nl"``, not ``"nl-NL"``); None, and nothing kept, for anything else."""
    if not isinstance(code, str) or code not in LANGUAGES:
        return None
    session[SESSION_LANGUAGE] = code
    g._portalkit_language = code
    return code


def _default_language() -> str:
    state = current_app.extensions.get("portalkit") if current_app else None
    if state is not None:
        return str(state.portal.settings.default_language)
    return "en"


@functools.cache
def _catalog(language: str) -> _gettext.NullTranslations:
    if language == "en":
        return _gettext.NullTranslations()
    # The .po files are read and compiled on first use, as portalkit's own are: the wheel
    # ships only sources, and no build step can leave a stale .mo behind.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with (LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        read = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, read)
    compiled.seek(0)
    read_back = _gettext.GNUTranslations(compiled)
    # A text the catalog lacks must be told from one translated as itself ("Status").
    read_back.add_fallback(_Unknown())
    return read_back


class _Unknown(_gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        raise LookupError(message)


def _known(language: str, text: str) -> str | None:
    try:
        return _catalog(language).gettext(text)
    except LookupError:
        return None


def gettext(text: str, **values: Any) -> str:
    """``text`` in the request's language, with ``%(name)s`` values filled in.

    A text the adapter's catalogs lack goes to Flask-Babel's ``gettext`` when the host uses
    Flask-Babel (its own template overriding one of the adapter's, say); otherwise it stays
    English.
    """
    language = request_language() if has_request_context() else "en"
    translated = _known(language, text) if language != "en" else text
    if translated is None:
        if "babel" in current_app.extensions:
            from flask_babel import gettext as host_gettext

            return str(host_gettext(text, **values))
        translated = text
    return translated % values if values else translated
