"""The demo app: its orders, registered with portalkit when Django is ready."""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo's own data: a transport firm's orders (a Django model, not portalkit's)."""

    name = "demo_site"
    default = True

    def ready(self) -> None:
        """Tell portalkit where an order's customer is, and that its rate needs a right."""
        from portalkit_django.apps import get_portal

        from portalkit import ResourceType

        get_portal().access.register_resource(
            ResourceType("orders", view="orders.view", sensitive={"rate": "prices.view"})
        )
