"""The settings bridge: ``settings.PORTALKIT = {...}`` in a Django project's settings.

Every key is one of portalkit's settings, spelt as in Django (``"TABLE_PREFIX"`` for
``PORTALKIT_TABLE_PREFIX``), or one of :data:`ADAPTER_KEYS`. A key that is neither raises
ConfigurationError: a typo must not leave a default in force. Settings the dict does not
name come from the environment (``PORTALKIT_*``), as portalkit reads them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

from portalkit import ConfigurationError, PortalSettings, load_settings

__all__ = ["ADAPTER_KEYS", "adapter_options", "portal_settings"]

ADAPTER_KEYS: dict[str, Any] = {
    "DATABASE": "default",
    "HOME_URL": "/",
    "ALLOWED_HOSTS": (),
    "STAFF_LOADER": None,
    "LOGIN_URL": "portalkit:login",
    "ACCEPT_TOKENS": False,
}
"""The adapter's own keys of ``settings.PORTALKIT`` and their defaults.

``DATABASE``: the alias in ``DATABASES`` whose connection portalkit shares (its tables go
there, under ``TABLE_PREFIX``, ``portalkit_`` unless set); ``None`` keeps portalkit on its
own ``DATABASE_URL``. ``HOME_URL``: where a log-in goes without a safe ``next``.
``ALLOWED_HOSTS``: other hosts a ``next`` may lead to (https only). ``STAFF_LOADER``: a
callable (or its dotted path) taking the request and returning the vendor
:class:`~portalkit.Staff` the project authenticated, or None. ``LOGIN_URL``: the log-in page
(a URL name or a path). ``ACCEPT_TOKENS``: take ``Authorization: Bearer`` access tokens on
requests (:mod:`portalkit_django.bearer`)."""

_DJANGO_DEFAULTS: dict[str, Any] = {
    "storage": "portalkit_django.db.DjangoStorage",
    "table_prefix": "portalkit_",
    # Django's way: portalkit's tables are made by `manage.py portalkit_migrate`, not at start.
    "auto_migrate": False,
}


def _configured() -> dict[str, Any]:
    found = getattr(django_settings, "PORTALKIT", {})
    if not isinstance(found, dict):
        raise ConfigurationError("settings.PORTALKIT must be a dict")
    return found


def adapter_options() -> dict[str, Any]:
    """The adapter's keys of ``settings.PORTALKIT``, with their defaults."""
    configured = _configured()
    return {key: configured.get(key, default) for key, default in ADAPTER_KEYS.items()}


def portal_settings() -> PortalSettings:
    """portalkit's settings from ``settings.PORTALKIT`` (see the module's text)."""
    fields = PortalSettings.model_fields
    overrides: dict[str, Any] = {}
    for key, value in _configured().items():
        if not isinstance(key, str):
            raise ConfigurationError(f"settings.PORTALKIT: {key!r} is not a setting's name")
        if key in ADAPTER_KEYS:
            continue
        name = key.lower()
        if key != key.upper() or name not in fields:
            raise ConfigurationError(
                f"settings.PORTALKIT[{key!r}] is not a portalkit setting (see docs/settings.md)"
            )
        overrides[name] = value
    if adapter_options()["DATABASE"] is not None:
        for name, value in _DJANGO_DEFAULTS.items():
            overrides.setdefault(name, value)
    return load_settings(**overrides)
