"""The demo's pages: the logins to try, the orders of the member's customer, and the work
requests of a field-service client."""

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

from demo_site.forms import WorkRequestForm
from demo_site.models import Order
from demo_site.seed import DEMO_PASSWORD, FIELD_LOGINS, LOGINS, grantable_profiles
from portalkit import Conflict, PermissionDenied, RateLimited, ValidationError
from portalkit.i18n import language_of


def home(request: Any) -> HttpResponse:
    """The logins of the demo, with what each shows."""
    return render(
        request,
        "demo/home.html",
        {"logins": LOGINS, "field_logins": FIELD_LOGINS, "password": DEMO_PASSWORD},
    )


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


# portalkit names the site a location.
_FORM_FIELD = {"location": "site"}


@capability_required("work_requests.create")
def work_requests(request: Any) -> HttpResponse:
    """The member's work requests, and a new one for a site within its reach. portalkit
    decides the reach: a site of another customer is a 404 (the middleware), one the member
    may only read a 403, whatever the form posted."""
    portal, member = get_portal(), request.portal_member
    context = request.portal_access
    reachable = portal.locations.reachable(member, "work_requests")
    # The list offers the sites the member may write at; the names cover every site it sees.
    sites = [s for s in reachable if context.allows("work_requests.create", location=s.id)]
    form = WorkRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        language = language_of(get_language()) or "en"
        data = form.cleaned_data
        try:
            portal.work_requests.create(
                member,
                subject=data["subject"],
                location=data["site"],
                notes=data["notes"],
                wished_at=data["wished_at"],
            )
        except ValidationError as exc:
            for problem in exc.problems:
                field = _FORM_FIELD.get(problem.field, problem.field)
                form.add_error(field if field in form.fields else None, problem.text(language))
        else:
            messages.success(request, _("Work request sent: the planner will schedule it."))
            return redirect("work_requests")
    names = {s.id: s.name for s in reachable}
    listed = portal.work_requests.list(member)
    return render(
        request,
        "demo/work_requests.html",
        {
            "requests": [(wr, names.get(wr.location_id, "—")) for wr in listed],
            "sites": sites,
            "form": form,
        },
        status=400 if form.errors else 200,
    )
