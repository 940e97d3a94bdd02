"""Permission-profile presets that reproduce the access levels of the product pages.

Presets are plain data: a vendor creates its own profile from one and may change it afterwards::

    from portalkit import presets

    full = portal.profiles.create_from(staff, presets.TRANSPORT_FULL)
    planner = portal.profiles.create_from(
        staff, presets.field_service(completed_jobs=True, work_requests=True), name="Planner"
    )
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from portalkit.profiles.model import Scope

__all__ = [
    "CUSTOMER_ADMIN",
    "PEST_CONTROL_EXTRA_ACCOUNT",
    "PEST_CONTROL_MAIN_ACCOUNT",
    "PRESETS",
    "SERVICE_DESK_MAIN_USER",
    "SERVICE_DESK_USER",
    "TRANSPORT_FULL",
    "TRANSPORT_FULL_WITH_CARRIER",
    "TRANSPORT_LIMITED",
    "TRANSPORT_NO_ACCESS",
    "TRANSPORT_READ_ONLY",
    "ProfileSpec",
    "field_service",
]


@attrs.frozen
class ProfileSpec:
    """What a permission profile holds, before it is stored for a vendor."""

    name: str
    capabilities: frozenset[str] = frozenset()
    scopes: Mapping[str, Scope] = attrs.field(factory=dict)
    description: str = ""


# EasyTrans (transport): five levels of "rechten".
TRANSPORT_NO_ACCESS = ProfileSpec(
    "No access",
    frozenset(),
    description="Geen toegang: no access to the portal, even when credentials exist.",
)
TRANSPORT_FULL = ProfileSpec(
    "Full access",
    frozenset({"orders.view", "orders.create", "prices.view", "invoices.view", "export"}),
    description="Toegang Klanten Portal: rates visible, invoice overview and export.",
)
TRANSPORT_LIMITED = ProfileSpec(
    "Limited access",
    frozenset({"orders.view", "orders.create"}),
    description="Beperkte toegang: no rates anywhere, no invoices, no export.",
)
TRANSPORT_FULL_WITH_CARRIER = ProfileSpec(
    "Full access with carrier view",
    frozenset(
        {"orders.view", "orders.create", "prices.view", "invoices.view", "export", "carrier.view"}
    ),
    description="Full access, and the carrier executing a planned order is shown.",
)
TRANSPORT_READ_ONLY = ProfileSpec(
    "Read only",
    frozenset({"orders.view"}),
    description="Alleen lezen: sees placed orders without rates; cannot place orders.",
)


def field_service(
    *,
    asset_services: bool = False,
    completed_jobs: bool = False,
    invoices: bool = False,
    work_requests: bool = False,
    documents: bool = False,
    job_status: bool = False,
    name: str = "Portal member",
) -> ProfileSpec:
    """Klipboard's permission checkboxes (field service) as one profile.

    Completed jobs come with their forms, quotes and invoices to download; the job status list
    comes with export. Downloads of an open job's documents are refused by the ``jobs``
    resource type's condition (register it with ``conditions={"jobs.download": …}``).
    """
    capabilities: set[str] = set()
    if asset_services:
        capabilities.add("assets.view")
    if completed_jobs:
        capabilities |= {"jobs.view_completed", "jobs.download"}
    if invoices:
        capabilities |= {"invoices.view", "prices.view"}
    if work_requests:
        capabilities.add("work_requests.create")
    if documents:
        capabilities.add("documents.view")
    if job_status:
        capabilities |= {"jobs.view_status", "jobs.download", "export"}
    return ProfileSpec(name, frozenset(capabilities), description="Klipboard-style checkboxes.")


# DoIT! (IT service desk): main users see all of the company's tickets, users only their own.
SERVICE_DESK_MAIN_USER = ProfileSpec(
    "Main user",
    frozenset({"tickets.view", "tickets.create", "shop.order", "quotes.request", "prices.view"}),
    {"tickets": Scope.CUSTOMER},
    description="Hauptbenutzer: all tickets of the company; orders from the shop.",
)
SERVICE_DESK_USER = ProfileSpec(
    "User",
    frozenset({"tickets.view", "tickets.create"}),
    {"tickets": Scope.OWN},
    description="Benutzer: only the tickets they filed themselves.",
)

# PestScan (pest control): the main account sees everything below an umbrella and manages the
# extra accounts; extra accounts read or write per location.
PEST_CONTROL_MAIN_ACCOUNT = ProfileSpec(
    "Main account",
    frozenset({"logbook.view", "logbook.write", "members.manage"}),
    {"logbook": Scope.TREE, "memberships": Scope.TREE},
    description="Hoofdaccount: every location, and the customers of an umbrella; manages the "
    "extra accounts of all of them.",
)
PEST_CONTROL_EXTRA_ACCOUNT = ProfileSpec(
    "Extra account",
    frozenset({"logbook.view", "logbook.write"}),
    {"logbook": Scope.LOCATION},
    description="Extra account: read or write rights per location (write implies read).",
)

CUSTOMER_ADMIN = ProfileSpec(
    "Customer admin",
    frozenset(
        {
            "members.manage",
            "orders.view",
            "orders.create",
            "invoices.view",
            "prices.view",
            "export",
            "documents.view",
            "tickets.view",
            "tickets.create",
        }
    ),
    description="Manages the customer's own logins and sees everything of the customer.",
)

PRESETS: Mapping[str, ProfileSpec] = {
    "transport.no_access": TRANSPORT_NO_ACCESS,
    "transport.full": TRANSPORT_FULL,
    "transport.limited": TRANSPORT_LIMITED,
    "transport.full_with_carrier": TRANSPORT_FULL_WITH_CARRIER,
    "transport.read_only": TRANSPORT_READ_ONLY,
    "service_desk.main_user": SERVICE_DESK_MAIN_USER,
    "service_desk.user": SERVICE_DESK_USER,
    "pest_control.main_account": PEST_CONTROL_MAIN_ACCOUNT,
    "pest_control.extra_account": PEST_CONTROL_EXTRA_ACCOUNT,
    "customer_admin": CUSTOMER_ADMIN,
}
"""The fixed presets by key (the field-service one is built by :func:`field_service`)."""
