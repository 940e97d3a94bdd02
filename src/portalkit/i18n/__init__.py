"""portalkit's own texts in other languages: the gettext catalogs (``locale/``) that the
mail templates, the password rules' messages and every error message a person may see are
translated with.

They live here, low in the layers, so that anything with a text to translate (passwords,
mail, validation messages) reads them without reaching into another concept's package.

Refreshing the catalogs after a message changed (from ``src/portalkit``)::

    pybabel extract -F i18n/babel.cfg --no-location --sort-output --omit-header \\
        -k Problem:3 -k single:3 -k PermissionDenied:1 -k Conflict:2 -k RateLimited:1 \\
        -k Message:1 -k UniqueKey:4 -k NotFound:1 -k ConcurrentModification:1 -k load:3 \\
        -k _:1 -o i18n/locale/portalkit.pot .
    pybabel update -i i18n/locale/portalkit.pot -d i18n/locale -D portalkit --no-fuzzy-matching

then translate the new entries of ``nl`` and ``de``; ``tests/test_translations.py`` fails until
every message has its translation.
"""

from __future__ import annotations

import gettext

from portalkit._catalogs import LOCALE, SUPPORTED_LANGUAGES, catalog, language_of
from portalkit.errors import ValidationError

__all__ = ["LOCALE", "SUPPORTED_LANGUAGES", "language_of", "translations"]


def translations(language: str) -> gettext.NullTranslations:
    """The catalog of ``language`` (English is the source text: no catalog).

    Raises ValidationError for a language portalkit has no texts in.
    """
    if language not in SUPPORTED_LANGUAGES:
        raise ValidationError.single(
            "language",
            "unsupported",
            "must be one of {choices}",
            choices=", ".join(SUPPORTED_LANGUAGES),
        )
    return catalog(language)
