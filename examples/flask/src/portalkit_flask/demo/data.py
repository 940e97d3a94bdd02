"""The demo's own data (a transport firm's orders) and the demo world, filled on first start.

The orders table is the host application's, not portalkit's: portalkit only learns where its
customer and owner are and which fields are sensitive (``rate`` needs ``prices.view``,
``carrier`` needs ``carrier.view``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from portalkit import NotFound, Portal, ResourceType, Staff, presets
from portalkit.testing import seed_login

__all__ = [
    "CUSTOMER_CODE",
    "DEMO_PASSWORD",
    "LOGINS",
    "STAFF_LOGIN",
    "metadata",
    "orders",
    "register",
    "seed",
]

# Demo only: every demo login has this password, printed at start. A real portal invites its
# people (portal.credentials.invite) and never knows their passwords.
DEMO_PASSWORD = "demo harbour tulip"
STAFF_LOGIN = "planner"
CUSTOMER_CODE = "VANDIJK"
OTHER_CODE = "MOLEN"

# username -> (first name, last name, preset, what the login shows)
LOGINS: dict[str, tuple[str, str, presets.ProfileSpec, str]] = {
    "admin": (
        "Anna",
        "de Vries",
        presets.CUSTOMER_ADMIN,
        "customer admin (main account): adds logins",
    ),
    "full": ("Femke", "Jansen", presets.TRANSPORT_FULL, "full access: rates, invoices, export"),
    "limited": ("Lars", "Bakker", presets.TRANSPORT_LIMITED, "limited: no rates, no invoices"),
    "carrier": (
        "Chris",
        "Visser",
        presets.TRANSPORT_FULL_WITH_CARRIER,
        "full access with carrier view",
    ),
    "readonly": (
        "Ruud",
        "Smit",
        presets.TRANSPORT_READ_ONLY,
        "read only: sees orders, places none",
    ),
    "noaccess": ("Noor", "Mulder", presets.TRANSPORT_NO_ACCESS, "no access: the log-in is refused"),
}

metadata = sa.MetaData()
orders = sa.Table(
    "demo_orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.Uuid, nullable=False, index=True),
    sa.Column("created_by", sa.Uuid, nullable=True),
    sa.Column("reference", sa.String(50), nullable=False),
    sa.Column("pickup", sa.String(100), nullable=False),
    sa.Column("delivery", sa.String(100), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("carrier", sa.String(100), nullable=True),
    sa.Column("rate", sa.Numeric(10, 2), nullable=False),
)

_TRIPS = [
    ("Rotterdam, Waalhaven", "Utrecht, Lage Weide", "delivered", "Kroes Koeriers", "187.40"),
    ("Rotterdam, Waalhaven", "Eindhoven, Flight Forum", "delivered", "De Boer Vracht", "312.85"),
    ("Moerdijk, Middenweg", "Venlo, Trade Port", "planned", "Kroes Koeriers", "426.10"),
    ("Rotterdam, Maasvlakte", "Amsterdam, Westpoort", "planned", None, "298.55"),
    ("Dordrecht, Kilweg", "Zwolle, Hessenpoort", "new", None, "351.95"),
    ("Rotterdam, Waalhaven", "Antwerpen, Haven 1500", "delivered", "Van Aalst Logistics", "505.70"),
    ("Breda, Hazeldonk", "Nijmegen, Bijsterhuizen", "new", None, "264.35"),
]


def register(portal: Portal) -> None:
    """Tell portalkit about the demo's orders table (every start, before the first request)."""
    portal.access.register_resource(
        ResourceType(
            "orders",
            view="orders.view",
            owner_field="created_by",
            sensitive={"rate": "prices.view", "carrier": "carrier.view"},
            model=orders,
        )
    )


def rate_for(pickup: str, delivery: str) -> Decimal:
    """The demo's tariff: a made-up price from the length of the addresses."""
    return Decimal(150 + 7 * (len(pickup) + len(delivery))).quantize(Decimal("0.01"))


def seed(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    """Fill the demo world once; False when it is there already (a second start)."""
    metadata.create_all(engine)
    try:
        portal.customers.get_by_code(staff, CUSTOMER_CODE)
        return False
    except NotFound:
        pass
    profiles = {
        spec.name: portal.profiles.create_from(staff, spec) for *_, spec, _ in LOGINS.values()
    }
    with portal.transaction():
        customer = portal.customers.create(
            staff,
            code=CUSTOMER_CODE,
            name="Van Dijk Logistics B.V.",
            erp_reference="DEB-10442",
            addresses=[
                {
                    "street": "Waalhaven Zuidzijde 21",
                    "postal_code": "3089 JH",
                    "city": "Rotterdam",
                    "country": "NL",
                    "default_delivery": True,
                }
            ],
        )
        other = portal.customers.create(staff, code=OTHER_CODE, name="Bakkerij De Molen")
    # Demo only: known passwords, no must-change (seed_login, behind the demo's switch); a
    # real portal sends invitations.
    made: dict[str, Any] = {}
    for username, (first, last, spec, _) in LOGINS.items():
        made[username] = seed_login(
            portal,
            staff,
            customer=customer,
            username=username,
            email=f"{username}@vandijk.example",
            password=DEMO_PASSWORD,
            profile=profiles[spec.name],
            kind="main" if username == "admin" else "member",
            first_name=first,
            last_name=last,
        )
    # "full" works for a second customer too, to show the switch between customers.
    made["full@molen"] = seed_login(
        portal,
        staff,
        customer=other,
        username="full",
        email="full@vandijk.example",
        password=DEMO_PASSWORD,
        profile=profiles[presets.TRANSPORT_FULL.name],
        account=made["full"].account_id,
        first_name="Femke",
        last_name="Jansen",
    )
    today = dt.date.today()
    with engine.begin() as connection:
        for n, (pickup, delivery, status, carrier, rate) in enumerate(_TRIPS):
            connection.execute(
                orders.insert().values(
                    customer_id=customer.id,
                    created_by=made["full"].account_id,
                    reference=f"{CUSTOMER_CODE}-{2401 + n}",
                    pickup=pickup,
                    delivery=delivery,
                    date=today - dt.timedelta(days=3 * (len(_TRIPS) - n)),
                    status=status,
                    carrier=carrier if status != "new" else None,
                    rate=Decimal(rate),
                )
            )
        connection.execute(
            orders.insert().values(
                customer_id=other.id,
                created_by=made["full"].account_id,
                reference=f"{OTHER_CODE}-0001",
                pickup="Zaandam, Hemkade",
                delivery="Haarlem, Waarderpolder",
                date=today,
                status="new",
                carrier=None,
                rate=Decimal("143.20"),
            )
        )
    return True
