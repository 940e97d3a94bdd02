"""The demo's pages: the logins to try, and the orders of the member's customer."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from portalkit_django.decorators import capability_required
from portalkit_django.queries import visible_rows

from demo_site.models import Order
from demo_site.seed import DEMO_PASSWORD, LOGINS


def home(request: Any) -> HttpResponse:
    """The logins of the demo, with what each shows."""
    return render(request, "demo/home.html", {"logins": LOGINS, "password": DEMO_PASSWORD})


@capability_required("orders.view")
def orders(request: Any) -> HttpResponse:
    """The customer's orders, filtered in SQL; the rate only for a login that may see it."""
    rows = visible_rows(request, Order.objects.order_by("-placed_at"), "orders")[:50]
    return render(request, "demo/orders.html", {"orders": rows})
