"""The demo world: a transport customer's five access levels and a second customer.

Demo only: known passwords and no must-change; a real portal sends invitations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from portalkit import STAFF_PERMISSIONS, Portal, Staff, presets

DEMO_PASSWORD = "demo harbour tulip"
CUSTOMER_CODE = "VANDIJK"
OTHER_CODE = "MOLEN"

# username -> (first name, last name, preset, what the login shows)
LOGINS: dict[str, tuple[str, str, presets.ProfileSpec, str]] = {
    "admin": ("Anna", "de Vries", presets.CUSTOMER_ADMIN, "customer admin: adds logins"),
    "full": ("Femke", "Jansen", presets.TRANSPORT_FULL, "full access: rates, invoices, export"),
    "limited": ("Lars", "Bakker", presets.TRANSPORT_LIMITED, "limited: no rates, no invoices"),
    "carrier": (
        "Chris",
        "Visser",
        presets.TRANSPORT_FULL_WITH_CARRIER,
        "full access with carrier view",
    ),
    "readonly": ("Ruud", "Smit", presets.TRANSPORT_READ_ONLY, "read only: sees orders"),
    "noaccess": ("Noor", "Mulder", presets.TRANSPORT_NO_ACCESS, "no access: log-in refused"),
}


# The rights a customer admin may give a new login.
GRANTABLE = (
    presets.TRANSPORT_FULL,
    presets.TRANSPORT_LIMITED,
    presets.TRANSPORT_FULL_WITH_CARRIER,
    presets.TRANSPORT_READ_ONLY,
)


def demo_staff(portal: Portal) -> Staff:
    """The vendor's side of the demo: it set the demo up and reads its profiles."""
    return Staff(
        vendor_id=portal.default_vendor().id, user_id="demo-seed", permissions=STAFF_PERMISSIONS
    )


def grantable_profiles(portal: Portal) -> dict[str, Any]:
    """The profiles of :data:`GRANTABLE` by name (profiles are the vendor's to read)."""
    names = {spec.name for spec in GRANTABLE}
    return {p.name: p for p in portal.profiles.list(demo_staff(portal)) if p.name in names}


def seed(portal: Portal) -> bool:
    """Fill an empty demo database; False (and nothing done) if it is filled already."""
    from demo_site.models import Order

    staff = demo_staff(portal)
    if any(c.code == CUSTOMER_CODE for c in portal.customers.list(staff)):
        return False
    profiles = {
        spec.name: portal.profiles.create_from(staff, spec) for _, _, spec, _ in LOGINS.values()
    }
    customer = portal.customers.create(staff, code=CUSTOMER_CODE, name="Van Dijk Logistics B.V.")
    other = portal.customers.create(staff, code=OTHER_CODE, name="Bakkerij De Molen")
    for username, (first, last, spec, _) in LOGINS.items():
        membership = portal.memberships.create(
            staff,
            account=portal.accounts.create(
                staff, username=username, email=f"{username}@vandijk.example"
            ),
            customer=customer,
            contact=portal.contacts.create(
                staff, customer=customer, first_name=first, last_name=last
            ),
            kind="main" if username == "admin" else "member",
            profile=profiles[spec.name],
            status="active",
        )
        portal.credentials.set_password(staff, membership, DEMO_PASSWORD, must_change=False)
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for n, (owner, pickup, delivery, rate) in enumerate(
        [
            (customer, "Rotterdam", "Venlo", "187.40"),
            (customer, "Rotterdam", "Duisburg", "312.15"),
            (customer, "Moerdijk", "Antwerpen", "143.90"),
            (other, "Zwolle", "Deventer", "99.00"),
        ],
        start=1,
    ):
        Order.objects.create(
            customer_id=owner.id,
            reference=f"{owner.code}-{n:04d}",
            pickup=pickup,
            delivery=delivery,
            rate=Decimal(rate),
            placed_at=start + timedelta(days=n),
        )
    return True
