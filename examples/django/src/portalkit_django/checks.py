"""System checks (``manage.py check``): settings that make a portal unsafe."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from portalkit import ConfigurationError
from portalkit_django.conf import portal_settings as read_settings

__all__ = ["unsafe_settings"]


def unsafe_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """portalkit_django.E001 no secret key, W002 console mail outside DEBUG, W003 an
    ``http://`` base URL outside DEBUG, E004 a ``settings.PORTALKIT`` portalkit refuses.

    The settings are read again for every run, not taken from the portal built at start:
    ``manage.py check`` judges the settings as they are now."""
    try:
        portal_settings = read_settings()
    except ConfigurationError as exc:
        return [Error(str(exc), id="portalkit_django.E004")]
    found: list[CheckMessage] = []
    if not portal_settings.secret_key.get_secret_value():
        found.append(
            Error(
                "PORTALKIT['SECRET_KEY'] is empty: throttle counters would be keyed by a "
                "known value",
                hint="set a long random secret, the same on every server",
                id="portalkit_django.E001",
            )
        )
    if not settings.DEBUG and portal_settings.mail_backend == "console":
        found.append(
            Warning(
                "PORTALKIT['MAIL_BACKEND'] is 'console' outside DEBUG: invitations and reset "
                "links would be printed to the log, not sent",
                hint="use 'smtp' (or another backend) in production",
                id="portalkit_django.W002",
            )
        )
    if not settings.DEBUG and portal_settings.base_url.startswith("http://"):
        found.append(
            Warning(
                "PORTALKIT['BASE_URL'] starts with http:// outside DEBUG: the links in mail "
                "would carry tokens unencrypted",
                hint="use the portal's https:// address",
                id="portalkit_django.W003",
            )
        )
    return found
