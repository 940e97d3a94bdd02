"""The gettext catalogs themselves: which languages there are, and reading one.

The lowest layer of portalkit's texts: it imports nothing of portalkit, so
:mod:`portalkit.errors` renders its messages with it and :mod:`portalkit.i18n` wraps it with
the errors a caller sees, each importing it at the top. The catalogs live in
``portalkit/i18n/locale``.
"""

from __future__ import annotations

import functools
import gettext
import io
import re
from pathlib import Path

__all__ = ["LOCALE", "SUPPORTED_LANGUAGES", "catalog", "language_of"]

SUPPORTED_LANGUAGES = ("en", "nl", "de")
"""Languages portalkit's own texts come in."""

LOCALE = Path(__file__).parent / "i18n" / "locale"
"""The catalogs: ``portalkit.pot`` and ``<language>/LC_MESSAGES/portalkit.po``."""

# A language tag as hosts pass it: "nl", "nl_NL", "de-DE", "de-CH.UTF-8" (POSIX or BCP 47).
_TAG_RE = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*(?:\.[A-Za-z0-9-]{1,20})?")


def language_of(locale: object) -> str | None:
    """The supported language of a locale tag (``"nl_NL"`` → ``"nl"``), or None.

    Only the language part counts: portalkit's texts have no regional variants, so
    ``"de-CH"`` reads the German catalog. Anything else, a language portalkit has no texts in
    included, gives None — never a guess.
    """
    if not isinstance(locale, str) or len(locale) > 40:
        return None
    match = _TAG_RE.fullmatch(locale)
    if match is None:
        return None
    language = match.group(1).lower()
    return language if language in SUPPORTED_LANGUAGES else None


@functools.cache
def catalog(language: str) -> gettext.NullTranslations:
    """The catalog of a language of :data:`SUPPORTED_LANGUAGES` (English: the source texts).

    Raises LookupError for any other value; callers check the language first.
    """
    if language not in SUPPORTED_LANGUAGES:
        raise LookupError(f"no catalog for {language!r}")
    if language == "en":
        return gettext.NullTranslations()
    # Babel only when a catalog is first read: hashing a password never needs it.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with (LOCALE / language / "LC_MESSAGES" / "portalkit.po").open("rb") as source:
        read = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, read)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
