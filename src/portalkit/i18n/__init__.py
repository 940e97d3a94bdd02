"""portalkit's own texts in other languages: the gettext catalogs (``locale/``) that the
mail templates and the password rules' messages are translated with.

They live here, low in the layers, so that anything with a text to translate (passwords,
mail, validation messages) reads them without reaching into another concept's package.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from portalkit.errors import ValidationError

__all__ = ["LOCALE", "SUPPORTED_LANGUAGES", "translations"]

SUPPORTED_LANGUAGES = ("en", "nl", "de")
"""Languages portalkit's own texts come in."""

LOCALE = Path(__file__).parent / "locale"
"""The catalogs: ``portalkit.pot`` and ``<language>/LC_MESSAGES/portalkit.po``."""


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of ``language`` (English is the source text: no catalog).

    Raises ValidationError for a language portalkit has no texts in.
    """
    if language not in SUPPORTED_LANGUAGES:
        raise ValidationError.single(
            "language", "unsupported", f"must be one of {', '.join(SUPPORTED_LANGUAGES)}"
        )
    if language == "en":
        return gettext.NullTranslations()
    # Babel only when a catalog is first read: hashing a password never needs it.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with (LOCALE / language / "LC_MESSAGES" / "portalkit.po").open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
