"""The Django app: ``"portalkit_django"`` in ``INSTALLED_APPS`` builds the portal once, when
Django is ready, from ``settings.PORTALKIT`` (see :mod:`portalkit_django.conf`)."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from django.apps import AppConfig, apps
from django.core import checks

from portalkit import Portal, Staff
from portalkit_django.conf import adapter_options, portal_settings

__all__ = ["PortalkitConfig", "get_portal", "get_vendor_id"]


class PortalkitConfig(AppConfig):
    """The app ``portalkit_django``: holds the project's one :class:`~portalkit.Portal`."""

    name = "portalkit_django"
    label = "portalkit"
    verbose_name = "portalkit"
    default = True

    portal: Portal
    options: dict[str, Any]
    _vendor_id: UUID | None = None

    def ready(self) -> None:
        """Build the portal (no database query: the vendor is read on first use) and
        register the system checks for unsafe settings."""
        from portalkit_django import checks as portal_checks

        self.options = adapter_options()
        self.portal = Portal.from_settings(portal_settings())
        self._vendor_id = None
        checks.register(portal_checks.unsafe_settings, checks.Tags.security, deploy=False)

    @property
    def vendor_id(self) -> UUID:
        """The single-vendor host's vendor (``Portal.default_vendor()``), read once."""
        if self._vendor_id is None:
            self._vendor_id = self.portal.default_vendor().id
        return self._vendor_id

    def load_staff(self, request: Any) -> Staff | None:
        """The vendor staff member ``STAFF_LOADER`` returns for ``request``, or None."""
        loader = self.options["STAFF_LOADER"]
        if loader is None:
            return None
        if isinstance(loader, str):
            from django.utils.module_loading import import_string

            loader = import_string(loader)
        staff = loader(request)
        if not isinstance(staff, Staff) or staff.vendor_id != self.vendor_id:
            return None
        return staff


def _config() -> PortalkitConfig:
    return cast(PortalkitConfig, apps.get_app_config("portalkit"))


def get_portal() -> Portal:
    """The project's portal (built by the app when Django started)."""
    return _config().portal


def get_vendor_id() -> UUID:
    """The id of the project's vendor."""
    return _config().vendor_id
