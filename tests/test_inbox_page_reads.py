"""The inbox page reads every stored value back as it was filed: on SQLite the page decodes
ids, timestamps and JSON from their stored text itself, and must agree with the one-item
read (through the column types) and with what was filed, NULLs and nested JSON included."""

from __future__ import annotations

from uuid import uuid4

from portalkit import Portal, presets
from portalkit.inbox import InboxItem
from portalkit.testing import World
from portals import mail_world

DETAILS = {
    "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
    "text": 'Grüße — 東京 "quoted" \\ back',
    "n": 10**20,
}


def test_the_inbox_page_holds_what_was_filed_and_what_one_item_reads(portal: Portal) -> None:
    world = mail_world(portal)
    profile = portal.profiles.create_from(world.staff, presets.field_service(work_requests=True))
    customer = world.customer()
    member = world.member(world.membership(customer=customer, profile=profile))
    portal.inbox.register_kind("service_call")
    filed: list[InboxItem] = []
    with portal.transaction() as uow:
        # A filer and a customer, a customer only, neither: every nullable id both ways.
        filed.append(
            portal.inbox.file(
                uow,
                world.vendor.id,
                kind="service_call",
                title="Call back",
                filer=member,
                customer_id=customer.id,
                details=DETAILS,
            )
        )
        filed.append(
            portal.inbox.file(
                uow,
                world.vendor.id,
                kind="service_call",
                title="Ring",
                reference=uuid4(),
                customer_id=customer.id,
            )
        )
        filed.append(portal.inbox.file(uow, world.vendor.id, kind="service_call", title="Mail"))
    page = portal.inbox.list(world.staff, kind="service_call", status="new")
    assert sorted(page, key=lambda i: i.title) == sorted(filed, key=lambda i: i.title)
    assert page == [portal.inbox.get(world.staff, item.id) for item in page]
    (rich,) = (item for item in page if item.title == "Call back")
    assert rich.details == DETAILS and rich.account_id == member.account_id
    assert rich.created_at.utcoffset() is not None and rich.created_at == filed[0].created_at
    (bare,) = (item for item in page if item.title == "Mail")
    assert bare.customer_id is None and bare.account_id is None and bare.membership_id is None


def test_another_vendors_items_stay_off_the_page(portal: Portal) -> None:
    world, other = mail_world(portal), World(portal, vendor_code="other")
    portal.inbox.register_kind("service_call")
    with portal.transaction() as uow:
        portal.inbox.file(uow, other.vendor.id, kind="service_call", title="Theirs")
        mine = portal.inbox.file(uow, world.vendor.id, kind="service_call", title="Mine")
    assert portal.inbox.list(world.staff, kind="service_call") == [mine]
