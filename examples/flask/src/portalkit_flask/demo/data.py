"""The demo's own data (a transport firm's orders) and the demo world, filled on first start.

The orders table is the host application's, not portalkit's: portalkit only learns where its
customer and owner are and which fields are sensitive (``rate`` needs ``prices.view``,
``carrier`` needs ``carrier.view``).
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfWriter
from pypdf.annotations import FreeText

from portalkit import NotFound, Portal, ResourceType, Staff, presets
from portalkit.provisioning import AdminRequest, ProvisionRequest
from portalkit.testing import seed_login

__all__ = [
    "CUSTOMER_CODE",
    "DEMO_PASSWORD",
    "DESK_CODE",
    "DESK_LOGINS",
    "FIELD_CODE",
    "FIELD_LOGINS",
    "LOGINS",
    "PEST_CODE",
    "PEST_LOGINS",
    "STAFF_LOGIN",
    "WORKWEAR_ADMIN",
    "WORKWEAR_CODE",
    "demo_addresses",
    "logbook",
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

# The pest-control customer (PestScan's seed): an umbrella over two branches, each with its own
# sites; the main account sees all of them and sets the extra accounts' rights per site.
PEST_CODE = "HGZ"
PEST_BRANCHES = {
    "HGZ-EHV": ("De Gouden Leeuw Eindhoven", ("Keuken Eindhoven", "Magazijn Eindhoven")),
    "HGZ-TLB": ("De Gouden Leeuw Tilburg", ("Keuken Tilburg", "Kelder Tilburg")),
}
# username -> (first name, last name, preset, what the login shows, {site: "read"/"write"})
PEST_LOGINS: dict[str, tuple[str, str, presets.ProfileSpec, str, dict[str, str]]] = {
    "hoofd": (
        "Hanna",
        "Hoekstra",
        presets.PEST_CONTROL_MAIN_ACCOUNT,
        "main account of the umbrella: every site, sets the extra accounts' site rights",
        {},
    ),
    "keuken": (
        "Kees",
        "Kok",
        presets.PEST_CONTROL_EXTRA_ACCOUNT,
        "extra account: writes at Keuken Eindhoven, reads Magazijn Eindhoven",
        {"Keuken Eindhoven": "write", "Magazijn Eindhoven": "read"},
    ),
    "tilburg": (
        "Tessa",
        "de Wit",
        presets.PEST_CONTROL_EXTRA_ACCOUNT,
        "extra account: reads the two Tilburg sites",
        {"Keuken Tilburg": "read", "Kelder Tilburg": "read"},
    ),
}

# The field-service client (Klipboard's seed): members who file work requests at the hotel's
# sites and read the documents shared with them, one of them restricted to one member.
FIELD_CODE = "ZEEZICHT"
FIELD_SITES = ("Zeezicht Noord", "Zeezicht Zuid")
# username -> (first name, last name, preset, what the login shows)
FIELD_LOGINS: dict[str, tuple[str, str, presets.ProfileSpec, str]] = {
    "piet": (
        "Piet",
        "Pieters",
        presets.field_service(
            work_requests=True, documents=True, job_status=True, name="Work requests and documents"
        ),
        "files work requests; sees every document, the restricted one too",
    ),
    "eva": (
        "Eva",
        "Evers",
        presets.field_service(documents=True, name="Documents only"),
        "reads the documents shared with everyone, not Piet's",
    ),
}

# The IT service desk's customer (DoIT's seed): main users see every ticket of the company,
# users only their own.
DESK_CODE = "NORDLICHT"
DESK_LOGINS: dict[str, tuple[str, str, presets.ProfileSpec, str]] = {
    "haupt": (
        "Hanna",
        "Hauptmann",
        presets.SERVICE_DESK_MAIN_USER,
        "main user: every ticket of the company",
    ),
    "benutzer": (
        "Ben",
        "Becker",
        presets.SERVICE_DESK_USER,
        "user: only the tickets it filed",
    ),
}

# The workwear customer (Ecmanage's seed): made by a provisioning run, as the vendor's
# "create customer" screen makes one, with its own logos, size instructions and admin.
WORKWEAR_CODE = "KLEEDWERK"
# username -> (first name, last name, what the login shows)
WORKWEAR_ADMIN: dict[str, tuple[str, str, str]] = {
    "kleed-admin": (
        "Wim",
        "Wolters",
        "customer admin made by the provisioning run, with the customer's own logo",
    ),
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

# The pest-control logbook: the host's own table of visits, findings and recommendations per
# site. portalkit learns where its customer and site are (``location_field``).
logbook = sa.Table(
    "demo_logbook",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.Uuid, nullable=False, index=True),
    sa.Column("location_id", sa.Uuid, nullable=False, index=True),
    sa.Column("created_by", sa.Uuid, nullable=True),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("text", sa.String(500), nullable=False),
)

_ENTRIES = [
    ("visit", "Routine inspection: 12 bait stations checked, no activity."),
    ("finding", "Droppings found behind the dry store shelving."),
    ("recommendation", "Seal the gap under the back door (about 1 cm)."),
]

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
    """Tell portalkit about the demo's own tables (every start, before the first request)."""
    portal.access.register_resource(
        ResourceType(
            "orders",
            view="orders.view",
            owner_field="created_by",
            sensitive={"rate": "prices.view", "carrier": "carrier.view"},
            model=orders,
        )
    )
    portal.access.register_resource(
        ResourceType(
            "logbook",
            view="logbook.view",
            location_field="location_id",
            owner_field="created_by",
            model=logbook,
        )
    )


def demo_addresses() -> set[str]:
    """The e-mail addresses of the demo's own logins (their password is printed at start)."""
    return (
        {f"{name}@vandijk.example" for name in LOGINS}
        | {f"{name}@goudenleeuw.example" for name in PEST_LOGINS}
        | {f"{name}@zeezicht.example" for name in FIELD_LOGINS}
        | {f"{name}@nordlicht.example" for name in DESK_LOGINS}
        | {f"{name}@kleedwerk.example" for name in WORKWEAR_ADMIN}
    )


def rate_for(pickup: str, delivery: str) -> Decimal:
    """The demo's tariff: a made-up price from the length of the addresses."""
    return Decimal(150 + 7 * (len(pickup) + len(delivery))).quantize(Decimal("0.01"))


def seed(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    """Fill the demo world once; False when it is there already (a second start).

    Each product's part is made once, so a database of an older demo gains the new parts."""
    metadata.create_all(engine)
    parts = (
        _seed_transport,
        _seed_pest_control,
        _seed_field_service,
        _seed_service_desk,
        _seed_it_shop,
        _seed_workwear,
    )
    made = [part(portal, engine, staff) for part in parts]
    return any(made)


def _exists(portal: Portal, staff: Staff, code: str) -> bool:
    try:
        portal.customers.get_by_code(staff, code)
    except NotFound:
        return False
    return True


def _seed_transport(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    if _exists(portal, staff, CUSTOMER_CODE):
        return False
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


def _seed_pest_control(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    if _exists(portal, staff, PEST_CODE):
        return False
    main = portal.profiles.create_from(staff, presets.PEST_CONTROL_MAIN_ACCOUNT)
    extra = portal.profiles.create_from(staff, presets.PEST_CONTROL_EXTRA_ACCOUNT)
    sites: dict[str, Any] = {}
    with portal.transaction():
        umbrella = portal.customers.create(staff, code=PEST_CODE, name="Horeca Groep Zuid")
        for code, (name, places) in PEST_BRANCHES.items():
            branch = portal.customers.create(staff, code=code, name=name, parent=umbrella)
            for place in places:
                sites[place] = portal.locations.create(staff, customer=branch, name=place)
    for username, (first, last, spec, _, rights) in PEST_LOGINS.items():
        seed_login(
            portal,
            staff,
            customer=umbrella,
            username=username,
            email=f"{username}@goudenleeuw.example",
            password=DEMO_PASSWORD,
            profile=main if spec is presets.PEST_CONTROL_MAIN_ACCOUNT else extra,
            kind="main" if username == "hoofd" else "extra",
            first_name=first,
            last_name=last,
            # An extra account of the umbrella works for the branches it is given, and
            # there at the sites it is given.
            customer_grants=sorted({sites[place].customer_id for place in rights}, key=str),
            location_grants={sites[place]: access for place, access in rights.items()},
        )
    today = dt.date.today()
    with engine.begin() as connection:
        for n, (name, site) in enumerate(sites.items()):
            for m, (kind, text) in enumerate(_ENTRIES):
                connection.execute(
                    logbook.insert().values(
                        customer_id=site.customer_id,
                        location_id=site.id,
                        created_by=None,
                        date=today - dt.timedelta(days=7 * (len(_ENTRIES) - m) + n),
                        kind=kind,
                        text=f"{name}: {text}",
                    )
                )
    return True


# A tiny but real PDF, so the demo's documents open in a browser's viewer.
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _seed_field_service(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    if _exists(portal, staff, FIELD_CODE):
        return False
    hotel = portal.customers.create(staff, code=FIELD_CODE, name="Hotel Zeezicht")
    sites = [portal.locations.create(staff, customer=hotel, name=name) for name in FIELD_SITES]
    made = {}
    for username, (first, last, spec, _) in FIELD_LOGINS.items():
        made[username] = seed_login(
            portal,
            staff,
            customer=hotel,
            username=username,
            email=f"{username}@zeezicht.example",
            password=DEMO_PASSWORD,
            kind="main" if username == "piet" else "member",
            profile=portal.profiles.create_from(staff, spec),
            first_name=first,
            last_name=last,
        )
    portal.documents.share(staff, customer=hotel, name="Maintenance contract 2027.pdf", data=_PDF)
    portal.documents.share(
        staff,
        customer=hotel,
        name="Legionella risk report.pdf",
        data=_PDF,
        members=[made["piet"].id],
    )
    piet = portal.auth.session_context(
        portal.default_vendor().id, portal.auth.session(_member(made["piet"]))
    )
    portal.work_requests.create(
        piet.actor,
        subject="Heat pump makes noise at night",
        location=sites[0],
        notes="Room 214 and 216 complain; loudest after 23:00.",
        wished_at=dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3),
    )
    return True


def _desk_profile(portal: Portal, staff: Staff, spec: presets.ProfileSpec) -> Any:
    """DoIT's profiles; the main user also sees the quotes the vendor sends, so it can
    accept one (prices are hidden everywhere else for this customer)."""
    if spec is not presets.SERVICE_DESK_MAIN_USER:
        return portal.profiles.create_from(staff, spec)
    return portal.profiles.create(
        staff,
        name=f"{spec.name} (quotes)",
        capabilities=set(spec.capabilities) | {"quotes.view"},
        scopes=dict(spec.scopes),
        description=spec.description,
    )


def _seed_service_desk(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    if _exists(portal, staff, DESK_CODE):
        return False
    firm = portal.customers.create(
        staff,
        code=DESK_CODE,
        name="Nordlicht IT GmbH",
        # DoIT's shop with prices hidden: checking out asks for a quote instead of ordering.
        settings={"show_prices": False, "shop_enabled": True},
        addresses=[
            {
                "street": "Speicherstraße 12",
                "postal_code": "20457",
                "city": "Hamburg",
                "country": "DE",
                "default_delivery": True,
            }
        ],
    )
    made = {}
    for username, (first, last, spec, _) in DESK_LOGINS.items():
        made[username] = seed_login(
            portal,
            staff,
            customer=firm,
            username=username,
            email=f"{username}@nordlicht.example",
            password=DEMO_PASSWORD,
            kind="main" if username == "haupt" else "member",
            profile=_desk_profile(portal, staff, spec),
            first_name=first,
            last_name=last,
        )
    tickets = {
        "haupt": ("Printer on floor 2 jams", "The HP in room 2.14 jams on every duplex job."),
        "benutzer": ("VPN drops every hour", "Since Monday the VPN disconnects every hour."),
    }
    vendor_id = portal.default_vendor().id
    for username, (subject, text) in tickets.items():
        ctx = portal.auth.session_context(vendor_id, portal.auth.session(_member(made[username])))
        portal.tickets.create(ctx.actor, subject=subject, text=text)
    return True


def _member(login: Any) -> Any:
    from portalkit import Member

    return Member(
        vendor_id=login.vendor_id,
        account_id=login.account_id,
        membership_id=login.id,
        customer_id=login.customer_id,
    )


# DoIT's online shop and printer shop: catalogue items, and the customer's own printers with
# the toner and drums that fit them.
SHOP_ITEMS = (
    ("TN-2420", "Toner black TN-2420", "piece", "89.90", "Printer supplies"),
    ("DR-2400", "Drum unit DR-2400", "piece", "129.00", "Printer supplies"),
    ("TN-421BK", "Toner black TN-421", "piece", "74.50", "Printer supplies"),
    ("PAPER-A4", "Copy paper A4, 500 sheets", "ream", "5.49", "Paper"),
    ("DOCK-USBC", "USB-C docking station", "piece", "189.00", "Accessories"),
)


def _seed_it_shop(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    try:
        portal.catalogue.get_by_sku(staff, SHOP_ITEMS[0][0])
        return False
    except NotFound:
        pass
    firm = portal.customers.get_by_code(staff, DESK_CODE)
    categories: dict[str, Any] = {}
    items: dict[str, Any] = {}
    for sku, name, unit, price, category in SHOP_ITEMS:
        if category not in categories:
            categories[category] = portal.catalogue.create_category(staff, name=category)
        items[sku] = portal.catalogue.create_item(
            staff,
            sku=sku,
            name=name,
            unit=unit,
            list_price=Decimal(price),
            currency="EUR",
            category=categories[category],
        )
    portal.assortments.set(staff, firm, mode="all")
    mfc = portal.devices.create_model(
        staff, name="Brother MFC-L2750DW", accessories=[items["TN-2420"], items["DR-2400"]]
    )
    portal.devices.create_model(staff, name="Brother HL-L8360", accessories=[items["TN-421BK"]])
    portal.devices.add(staff, customer=firm, model=mfc, serial="E78123K9N")
    return True


def wordmark(text: str, colour: str = "#1f6f5c", size: tuple[int, int] = (600, 200)) -> bytes:
    """A PNG logo made at seed time: the name in white on a coloured band (no binary files in
    the repository)."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size[1] // 3)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    where = ((size[0] - (right - left)) // 2 - left, (size[1] - (bottom - top)) // 2 - top)
    draw.text(where, text, fill="white", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def size_instructions_pdf() -> bytes:
    """The workwear customer's size instructions: a one-page PDF written with pypdf."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)  # A4 in points
    lines = (
        "Kleedwerk size instructions",
        "Chest: measure around the fullest part, under the arms.",
        "Waist: measure around the natural waistline.",
        "Inside leg: from the crotch to the floor, without shoes.",
    )
    for n, line in enumerate(lines):
        writer.add_annotation(
            page_number=0,
            annotation=FreeText(
                text=line,
                rect=(50, 770 - 40 * n, 545, 800 - 40 * n),
                font_size="14pt" if n == 0 else "11pt",
                border_color=None,
                background_color=None,
            ),
        )
    writer.add_metadata({"/Title": "Size instructions"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _seed_workwear(portal: Portal, engine: sa.Engine, staff: Staff) -> bool:
    if _exists(portal, staff, WORKWEAR_CODE):
        return False
    ((username, (first, last, _)),) = WORKWEAR_ADMIN.items()
    summary = portal.provisioning.provision(
        staff,
        ProvisionRequest(
            code=WORKWEAR_CODE,
            name="Kleedwerk Bedrijfskleding B.V.",
            erp_reference="DEB-20731",
            addresses=[
                {
                    "street": "Textielweg 8",
                    "postal_code": "7511 KT",
                    "city": "Enschede",
                    "country": "NL",
                    "default_delivery": True,
                },
                {
                    "label": "Invoices",
                    "street": "Postbus 1204",
                    "postal_code": "7500 BE",
                    "city": "Enschede",
                    "country": "NL",
                },
            ],
            locations=[
                {"name": "Depot Enschede", "code": "ENS"},
                {"name": "Werkplaats Hengelo", "code": "HGL"},
            ],
            logo=wordmark("KLEEDWERK"),
            email_logo=wordmark("KLEEDWERK", size=(600, 100)),
            size_instructions=size_instructions_pdf(),
            admin=AdminRequest(
                username=username,
                email=f"{username}@kleedwerk.example",
                first_name=first,
                last_name=last,
            ),
        ),
    )
    assert summary.admin_membership is not None
    # Demo only: the run invited its admin; the demo gives it the known password printed at
    # start instead (which also ends the invitation's link), as seed_login does for the others.
    portal.credentials.set_password(
        staff, summary.admin_membership, DEMO_PASSWORD, must_change=False
    )
    return True
