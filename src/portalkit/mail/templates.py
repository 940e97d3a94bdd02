"""Mail templates in English, Dutch and German: a subject, a plain-text and an HTML part.

Templates are Jinja files shipped in ``portalkit/mail/templates``; translations are gettext
catalogs in ``portalkit/i18n/locale`` (:mod:`portalkit.i18n`). A host app overrides any
template by putting a file of the same name in its own folder (``MailTemplates(folder=...)``
or ``PORTALKIT_MAIL_TEMPLATES``).
HTML parts escape every value; the subject is one line.

Example::

    rendered = MailTemplates().render("password_reset", "nl", name="Jan", link=url,
                                      expires="24-11-2026 10:00", portal_name="Acme portal")
    rendered.subject  # 'Stel je wachtwoord opnieuw in voor Acme portal'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import attrs
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateNotFound,
    UndefinedError,
    select_autoescape,
)

from portalkit.errors import ValidationError
from portalkit.i18n import SUPPORTED_LANGUAGES, translations

__all__ = ["TEMPLATES", "MailTemplates", "Rendered"]

TEMPLATES = (
    "invitation",
    "join_invitation",
    "credentials",
    "password_reset",
    "password_changed",
    "email_change",
    "email_change_requested",
    "email_change_taken",
    "email_changed",
    "registration_exists",
    "email_verification",
    "notify_quote",
    "notify_invoice",
    "notify_job",
    "notify_inbox",
    "inbox_assigned",
    "inbox_status",
    "order_approved",
    "order_rejected",
    "view_as_notice",
    "second_factor_disabled",
    "second_factor_reset",
)
"""The templates portalkit ships and its own flows use."""


@attrs.frozen
class Rendered:
    """A rendered message: a one-line subject, a plain-text part and an HTML part."""

    subject: str
    text: str
    html: str


class MailTemplates:
    """Renders the mail templates, with a host app's own folder taking precedence."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        loaders: list[Any] = [FileSystemLoader(str(folder))] if folder else []
        loaders.append(PackageLoader("portalkit.mail", "templates"))
        self._loader = ChoiceLoader(loaders)
        self._environments: dict[str, Environment] = {}
        self._lock = threading.Lock()

    def _environment(self, language: str) -> Environment:
        # One environment per language: installing translations changes an environment, so
        # sharing one between threads rendering different languages would mix them.
        with self._lock:
            found = self._environments.get(language)
            if found is None:
                found = Environment(
                    loader=self._loader,
                    autoescape=select_autoescape(
                        enabled_extensions=("html",), default_for_string=False, default=False
                    ),
                    undefined=StrictUndefined,
                    extensions=["jinja2.ext.i18n"],
                    keep_trailing_newline=False,
                )
                # Added by the i18n extension, which the type stubs do not know about.
                found.install_gettext_translations(  # type: ignore[attr-defined]
                    translations(language), newstyle=True
                )
                self._environments[language] = found
            return found

    def exists(self, template: str) -> bool:
        """Whether a template of this name is there (the host's folder or portalkit's)."""
        try:
            self._loader.get_source(self._environment("en"), f"{template}.subject.txt")
        except TemplateNotFound:
            return False
        return True

    def render(self, template: str, language: str, /, **context: Any) -> Rendered:
        """Render ``template`` in ``language`` (en, nl or de) with ``context``.

        Raises ValidationError for an unknown template or language, or a missing value.
        """
        if language not in SUPPORTED_LANGUAGES:
            raise ValidationError.single(
                "language",
                "unsupported",
                "must be one of {choices}",
                choices=", ".join(SUPPORTED_LANGUAGES),
            )
        environment = self._environment(language)
        values: Mapping[str, Any] = {
            "language": language,
            "logo_url": "",
            "customer_name": "",
            **context,
        }
        try:
            subject = environment.get_template(f"{template}.subject.txt").render(values)
            subject = " ".join(subject.split())  # one line, whatever the template did
            text = environment.get_template(f"{template}.txt").render(values)
            html = environment.get_template(f"{template}.html").render(
                {**values, "subject": subject}
            )
        except TemplateNotFound as exc:
            raise ValidationError.single(
                "template", "unknown", "no mail template {name!r}", name=exc.name
            ) from None
        except UndefinedError as exc:
            raise ValidationError.single("context", "missing", str(exc)) from None
        return Rendered(subject=subject, text=text.strip() + "\n", html=html)
