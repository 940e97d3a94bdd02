"""The demo's pages: the logins to try, and the orders of the member's customer."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from portalkit_django.apps import get_portal
from portalkit_django.decorators import capability_required, visible_or_404
from portalkit_django.queries import visible_rows

from demo_site.models import Order
from demo_site.seed import DEMO_PASSWORD, LOGINS, grantable_profiles
from portalkit import Conflict, PermissionDenied, RateLimited, ValidationError
from portalkit.i18n import language_of


def home(request: Any) -> HttpResponse:
    """The logins of the demo, with what each shows."""
    return render(request, "demo/home.html", {"logins": LOGINS, "password": DEMO_PASSWORD})


@capability_required("orders.view")
def orders(request: Any) -> HttpResponse:
    """The customer's orders, filtered in SQL; the rate only for a login that may see it."""
    rows = visible_rows(request, Order.objects.order_by("-placed_at"), "orders")[:50]
    return render(request, "demo/orders.html", {"orders": rows})


@capability_required("orders.view")
def order(request: Any, reference: str) -> HttpResponse:
    """One order: 404 when it is not the member's customer's (an unseen record is one that
    does not exist), the rate only for a login that may see it."""
    found = Order.objects.filter(reference=reference).values().first()
    shown = request.portal_access.redact(visible_or_404(request, found, "orders"), "orders")
    return render(request, "demo/order.html", {"order": shown})


@capability_required("members.manage")
def admin_logins(request: Any) -> HttpResponse:
    """The customer admin's page: the customer's logins, and a new one invited by mail."""
    portal, member = get_portal(), request.portal_member
    choices = grantable_profiles(portal)
    fields = ("first_name", "last_name", "email", "profile")
    form = {k: str(request.POST.get(k, "")).strip() for k in fields}
    errors: list[str] = []
    if request.method == "POST":
        language = language_of(get_language()) or "en"
        profile = choices.get(form["profile"])
        if profile is None:
            errors = [_("Choose the rights of the new login.")]
        else:
            try:
                portal.logins.add(
                    member,
                    customer=member.customer_id,
                    email=form["email"],
                    first_name=form["first_name"],
                    last_name=form["last_name"],
                    profile=profile,
                )
            except ValidationError as exc:
                errors = [f"{p.field}: {p.text(language)}" for p in exc.problems]
            except (PermissionDenied, Conflict, RateLimited) as exc:
                errors = [exc.text(language)]
            else:
                messages.success(request, _("The new login is invited by e-mail."))
                return redirect("admin_logins")
    people = [
        (portal.contacts.get(member, m.contact_id), m)
        for m in portal.memberships.list(member, customer=member.customer_id)
    ]
    return render(
        request,
        "demo/admin_logins.html",
        {"people": people, "choices": sorted(choices), "form": form, "errors": errors},
        status=400 if errors else 200,
    )
