"""The demo world: a transport customer's five access levels, a second customer, and a
field-service client whose members file work requests at its sites.

Demo only: known passwords and no must-change; a real portal sends invitations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from portalkit import STAFF_PERMISSIONS, Member, Portal, Staff, presets

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

# The field-service client (Klipboard's seed, as in the Flask demo): one member files work
# requests at the hotel's sites, the other only reads documents.
FIELD_CODE = "ZEEZICHT"
FIELD_SITES = ("Zeezicht Noord", "Zeezicht Zuid")
FIELD_LOGINS: dict[str, tuple[str, str, presets.ProfileSpec, str]] = {
    "piet": (
        "Piet",
        "Pieters",
        presets.field_service(work_requests=True, documents=True, name="Work requests"),
        "files work requests at the hotel's sites",
    ),
    "eva": (
        "Eva",
        "Evers",
        presets.field_service(documents=True, name="Documents only"),
        "documents only: the work-request page is a 403",
    ),
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
    staff = demo_staff(portal)
    codes = {c.code for c in portal.customers.list(staff)}
    filled = False
    if CUSTOMER_CODE not in codes:
        _seed_transport(portal, staff)
        filled = True
    # Its own check: a database filled before the field-service client came gets it too.
    if FIELD_CODE not in codes:
        _seed_field_service(portal, staff)
        filled = True
    return filled


def _login(
    portal: Portal,
    staff: Staff,
    customer: Any,
    username: str,
    *,
    first: str,
    last: str,
    profile: Any,
    kind: str,
    domain: str,
) -> Any:
    membership = portal.memberships.create(
        staff,
        account=portal.accounts.create(staff, username=username, email=f"{username}@{domain}"),
        customer=customer,
        contact=portal.contacts.create(staff, customer=customer, first_name=first, last_name=last),
        kind=kind,
        profile=profile,
        status="active",
    )
    portal.credentials.set_password(staff, membership, DEMO_PASSWORD, must_change=False)
    return membership


def _seed_transport(portal: Portal, staff: Staff) -> None:
    from demo_site.models import Order

    profiles = {
        spec.name: portal.profiles.create_from(staff, spec) for _, _, spec, _ in LOGINS.values()
    }
    customer = portal.customers.create(staff, code=CUSTOMER_CODE, name="Van Dijk Logistics B.V.")
    other = portal.customers.create(staff, code=OTHER_CODE, name="Bakkerij De Molen")
    for username, (first, last, spec, _) in LOGINS.items():
        _login(
            portal,
            staff,
            customer,
            username,
            first=first,
            last=last,
            profile=profiles[spec.name],
            kind="main" if username == "admin" else "member",
            domain="vandijk.example",
        )
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


def _seed_field_service(portal: Portal, staff: Staff) -> None:
    hotel = portal.customers.create(staff, code=FIELD_CODE, name="Hotel Zeezicht")
    sites = [portal.locations.create(staff, customer=hotel, name=name) for name in FIELD_SITES]
    made = {
        username: _login(
            portal,
            staff,
            hotel,
            username,
            first=first,
            last=last,
            profile=portal.profiles.create_from(staff, spec),
            kind="main" if username == "piet" else "member",
            domain="zeezicht.example",
        )
        for username, (first, last, spec, _) in FIELD_LOGINS.items()
    }
    piet = made["piet"]
    # The request is Piet's own, filed as he would file it: a member files work requests.
    portal.work_requests.create(
        Member(
            vendor_id=piet.vendor_id,
            account_id=piet.account_id,
            membership_id=piet.id,
            customer_id=piet.customer_id,
        ),
        subject="Heat pump makes noise at night",
        location=sites[0],
        notes="Rooms 214 and 216 complain; loudest after 23:00.",
        wished_at=datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
    )
