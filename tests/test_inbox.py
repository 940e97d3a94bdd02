"""The vendor inbox (issue 13): items of every kind in one queue, status, assignment,
comments, mail, and events for the host's ERP; work requests (field-service seed) and tickets
(service-desk seed) that land in it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from portalkit import (
    ConcurrentModification,
    NotFound,
    PermissionDenied,
    Portal,
    ValidationError,
    presets,
)
from portalkit.actors import Member, Staff
from portalkit.inbox import InboxEvent, InboxStatus
from portalkit.testing import World
from portals import mail_world

WISH = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _sent_to(portal: Portal, address: str) -> list[Any]:
    mailer: Any = portal.mailer
    return [m for m in mailer.outbox if str(m["To"]) == address]


def _member(world: World, profile: Any, customer: Any = None, **fields: Any) -> Member:
    membership = world.membership(customer=customer, profile=profile, **fields)
    return world.member(membership)


def _field_world(portal: Portal) -> tuple[World, Member, Any]:
    world = mail_world(portal)
    profile = world.portal.profiles.create_from(
        world.staff, presets.field_service(work_requests=True)
    )
    customer = world.customer()
    site = world.location(customer)
    return world, _member(world, profile, customer), site


# -- work requests (field-service seed) ------------------------------------------------------


def test_a_work_request_lands_in_the_inbox_tentative_until_scheduled(portal: Portal) -> None:
    world, member, site = _field_world(portal)
    portal.staff.set_inbox_address(world.staff, "inbox@vendor.example")
    request = portal.work_requests.create(
        member, subject="Boiler leaks", location=site, notes="Since Monday", wished_at=WISH
    )
    assert request.tentative and request.wished_at == WISH and request.status == "new"
    (item,) = portal.inbox.list(world.staff, kind="work_request", status="new")
    assert item.reference == request.id and item.customer_id == site.customer_id
    assert _sent_to(portal, "inbox@vendor.example")  # staff told at the inbox address
    planned = portal.work_requests.schedule(
        world.staff, request, at=datetime(2026, 12, 8, 13, tzinfo=UTC)
    )
    assert not planned.tentative and planned.status == "in_progress"
    (mine,) = portal.work_requests.list(member)
    assert mine.scheduled_at == datetime(2026, 12, 8, 13, tzinfo=UTC)
    assert mine.status == "in_progress"


def test_a_work_request_at_another_customers_location_is_refused_and_stores_nothing(
    portal: Portal,
) -> None:
    world, member, _site = _field_world(portal)
    elsewhere = world.location(world.customer())
    with pytest.raises(NotFound):
        portal.work_requests.create(member, subject="Not ours", location=elsewhere)
    other_vendor = World(portal, vendor_code="other")
    foreign = other_vendor.location(other_vendor.customer())
    with pytest.raises(NotFound):
        portal.work_requests.create(member, subject="Not ours", location=foreign)
    assert portal.work_requests.list(world.staff) == []
    assert portal.inbox.list(world.staff) == []


def test_work_request_notes_take_4000_characters_not_4001(portal: Portal) -> None:
    world, member, site = _field_world(portal)
    with pytest.raises(ValidationError) as refused:
        portal.work_requests.create(member, subject="Long", location=site, notes="x" * 4001)
    assert [p.field for p in refused.value.problems] == ["notes"]
    assert portal.inbox.list(world.staff) == []
    accepted = portal.work_requests.create(member, subject="Long", location=site, notes="x" * 4000)
    assert len(accepted.notes) == 4000


def test_work_requests_need_the_capability_and_a_writable_view(portal: Portal) -> None:
    world, _, site = _field_world(portal)
    viewer = _member(world, world.profile(capabilities={"tickets.view"}), site.customer_id)
    with pytest.raises(PermissionDenied):
        portal.work_requests.create(viewer, subject="No right", location=site)
    assert portal.inbox.list(world.staff) == []


def test_a_read_only_view_as_files_no_work_request(portal: Portal) -> None:
    world, member, site = _field_world(portal)
    watcher = Staff(
        vendor_id=world.vendor.id, user_id="support", permissions=frozenset({"impersonate"})
    )
    viewing = portal.access.view_as(watcher, member.membership_id, reason="support call")
    assert viewing.read_only
    with pytest.raises(PermissionDenied):
        portal.work_requests.create(viewing, subject="Sneaky", location=site)
    assert portal.inbox.list(world.staff) == []


# -- tickets (service-desk seed) -------------------------------------------------------------


def _desk_world(portal: Portal) -> tuple[World, Member, Member, Member]:
    world = mail_world(portal)
    main = world.portal.profiles.create_from(world.staff, presets.SERVICE_DESK_MAIN_USER)
    user = world.portal.profiles.create_from(world.staff, presets.SERVICE_DESK_USER)
    company = world.customer()
    return (
        world,
        _member(world, main, company, kind="main"),
        _member(world, user, company),
        _member(world, user, company),
    )


def test_a_user_sees_its_own_tickets_and_the_main_user_all_of_the_company(
    portal: Portal,
) -> None:
    world, main, anna, ben = _desk_world(portal)
    outsider = _member(
        world,
        world.portal.profiles.create_from(
            world.staff, presets.SERVICE_DESK_MAIN_USER, name="Other main"
        ),
        world.customer(),
        kind="main",
    )
    first = portal.tickets.create(anna, subject="Printer offline", text="Since 9:00")
    second = portal.tickets.create(ben, subject="VPN down", text="All morning")
    assert [t.id for t in portal.tickets.list(anna)] == [first.id]
    assert [t.id for t in portal.tickets.list(ben)] == [second.id]
    assert [t.id for t in portal.tickets.list(main)] == [second.id, first.id]
    assert portal.tickets.list(outsider) == []
    with pytest.raises(NotFound):
        portal.tickets.get(anna, second)
    with pytest.raises(NotFound):
        portal.tickets.get(outsider, first)
    assert portal.tickets.get(main, first).id == first.id
    assert {i.kind for i in portal.inbox.list(world.staff)} == {"ticket"}


def test_ticket_comments_follow_and_close(portal: Portal) -> None:
    world, main, anna, _ben = _desk_world(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="Since 9:00")
    portal.tickets.follow(main, ticket)
    mailer: Any = portal.mailer
    before = len(mailer.outbox)
    portal.tickets.comment(world.staff, ticket, "A technician is on the way.")
    portal.inbox.comment(world.staff, ticket.item_id, "Staff only note", internal=True)
    assert [c.text for c in portal.tickets.comments(anna, ticket)] == [
        "A technician is on the way."
    ]
    assert len(mailer.outbox) == before + 2  # the filer and the follower
    closed = portal.tickets.close(anna, ticket)
    assert closed.status == "done" and closed.closed_at is not None
    assert portal.inbox.get(world.staff, ticket.item_id).status is InboxStatus.DONE


# -- the inbox itself ------------------------------------------------------------------------


def test_a_status_change_mails_the_filer_and_the_filer_sees_it(portal: Portal) -> None:
    world, anna_main, anna, _ben = _desk_world(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="Since 9:00")
    item = portal.inbox.get(world.staff, ticket.item_id)
    account = portal.accounts.get(world.staff, anna.account_id)
    assert _sent_to(portal, account.email) == []
    portal.inbox.set_status(world.staff, item, "in_progress")
    (told,) = _sent_to(portal, account.email)
    assert "in progress" in told.get_body(("plain",)).get_content()
    (mine,) = portal.inbox.mine(anna)
    assert mine.status is InboxStatus.IN_PROGRESS
    with pytest.raises(NotFound):
        portal.inbox.get(anna_main, item)  # filed by another member
    with pytest.raises(ValidationError):
        portal.inbox.set_status(world.staff, item, "bogus")


def test_transitions_are_checked(world: World) -> None:
    portal = world.portal
    item = _host_item(world).id  # an id: no version seen, each call reads the item afresh
    portal.inbox.set_status(world.staff, item, "rejected")
    with pytest.raises(ValidationError):
        portal.inbox.set_status(world.staff, item, "done")  # rejected goes back to new first
    portal.inbox.set_status(world.staff, item, "new")
    assert portal.inbox.get(world.staff, item).status is InboxStatus.NEW


def _host_item(world: World, kind: str = "service_call", **fields: Any) -> Any:
    portal = world.portal
    if kind not in portal.inbox.kinds:
        portal.inbox.register_kind(kind)
    with portal.transaction() as uow:
        return portal.inbox.file(uow, world.vendor.id, kind=kind, title="Call back", **fields)


def test_host_kinds_are_registered_and_unknown_ones_refused(world: World) -> None:
    portal = world.portal
    with pytest.raises(ValidationError):
        portal.inbox.register_kind("Bad Name!")
    with pytest.raises(ValidationError), portal.transaction() as uow:
        portal.inbox.file(uow, world.vendor.id, kind="unknown_kind", title="x")
    assert portal.inbox.list(world.staff) == []
    item = _host_item(world)
    assert portal.inbox.list(world.staff, kind="service_call")[0].id == item.id
    with pytest.raises(ValidationError):
        portal.inbox.list(world.staff, kind="unknown_kind")


def test_filters_and_paging_newest_first(world: World) -> None:
    portal = world.portal
    portal.staff.add(world.staff, user_id="pia", name="Pia", email="pia@vendor.example")
    acme = world.customer()
    items = [_host_item(world, customer_id=acme.id if n % 2 else None) for n in range(5)]
    ids = [i.id for i in reversed(items)]
    assert [i.id for i in portal.inbox.list(world.staff)] == ids
    assert [i.id for i in portal.inbox.list(world.staff, limit=2, offset=1)] == ids[1:3]
    assert [i.id for i in portal.inbox.list(world.staff, customer=acme)] == [
        i.id for i in reversed(items) if i.customer_id == acme.id
    ]
    portal.inbox.assign(world.staff, items[0], "pia")
    portal.inbox.set_status(world.staff, items[1], "done")
    assert [i.id for i in portal.inbox.list(world.staff, assignee="pia")] == [items[0].id]
    assert [i.id for i in portal.inbox.list(world.staff, status=["done", "rejected"])] == [
        items[1].id
    ]
    other = World(portal, vendor_code="elsewhere")
    assert portal.inbox.list(other.staff) == []
    with pytest.raises(NotFound):
        portal.inbox.get(other.staff, items[0])
    with pytest.raises(NotFound):
        portal.inbox.set_status(other.staff, items[0], "done")


def test_assignment_needs_a_staff_member_of_the_directory_and_mails_them(world: World) -> None:
    portal = world.portal
    portal.staff.add(world.staff, user_id="pia", name="Pia", email="pia@vendor.example")
    item = _host_item(world)
    with pytest.raises(ValidationError):
        portal.inbox.assign(world.staff, item, "nobody")
    assigned = portal.inbox.assign(world.staff, item, "pia")
    assert assigned.assignee == "pia"
    assert _sent_to(portal, "pia@vendor.example")
    with pytest.raises(ConcurrentModification):
        portal.inbox.assign(world.staff, item, None, expected_version=item.version)


def test_members_cannot_work_the_inbox(portal: Portal) -> None:
    world, _main, anna, _ben = _desk_world(portal)
    item = _host_item(world)
    with pytest.raises(PermissionDenied):
        portal.inbox.list(anna)
    with pytest.raises(PermissionDenied):
        portal.inbox.set_status(anna, item, "done")


def test_a_self_registration_lands_in_the_inbox_and_approval_invites_and_settles_it(
    portal: Portal,
) -> None:
    world = mail_world(portal, base_url="https://desk.vendor.example")
    portal.registrations.request(
        world.vendor,
        email="eva@newco.example",
        first_name="Eva",
        last_name="Brandt",
        company="NewCo GmbH",
    )
    portal.mail.wait()
    assert portal.inbox.list(world.staff, kind="registration") == []  # not confirmed yet
    mailer: Any = portal.mailer
    body = mailer.outbox[-1].get_body(("plain",)).get_content()
    token = re.search(r"token=([A-Za-z0-9_-]+)", body)
    assert token
    portal.registrations.confirm(world.vendor, token.group(1))
    (item,) = portal.inbox.list(world.staff, kind="registration", status="new")
    assert "Eva Brandt" in item.title
    (pending,) = portal.registrations.list(world.staff)
    assert item.reference == pending.id
    newco = world.customer(name="NewCo GmbH")
    portal.registrations.approve(
        world.staff, pending, customer=newco, profile=world.profile(capabilities={"tickets.view"})
    )
    assert "/accept-invitation?token=" in mailer.outbox[-1].get_body(("plain",)).get_content()
    assert portal.inbox.get(world.staff, item).status is InboxStatus.DONE


# -- events ----------------------------------------------------------------------------------


def test_events_reach_the_consumer_in_order_and_a_failure_is_retried(world: World) -> None:
    portal = world.portal
    first = _host_item(world)
    portal.inbox.set_status(world.staff, first, "in_progress")
    portal.inbox.comment(world.staff, first, "Called, no answer")
    second = _host_item(world)
    seen: list[str] = []
    fail = {f"{second.id}:1"}

    def consumer(event: InboxEvent) -> None:
        if event.key in fail:
            fail.discard(event.key)
            raise RuntimeError("ERP is down")
        seen.append(event.key)

    report = portal.inbox.deliver_events(consumer)
    assert (report.delivered, report.retrying) == (3, 1)
    assert seen == [f"{first.id}:1", f"{first.id}:2", f"{first.id}:3"]
    assert portal.inbox.deliver_events(consumer).delivered == 0  # the retry is not due yet
    portal.clock.advance(hours=1)  # type: ignore[attr-defined]
    assert portal.inbox.deliver_events(consumer).delivered == 1
    assert seen[-1] == f"{second.id}:1"
    events = portal.inbox.events(world.staff, first)
    assert [e.type.value for e in events] == ["created", "changed", "changed"]
    assert events[1].payload["status"] == "in_progress"
    assert events[2].payload["comment"]["text"] == "Called, no answer"


def test_an_event_is_stored_with_its_change_or_not_at_all(world: World) -> None:
    portal = world.portal
    item = _host_item(world)
    with pytest.raises(RuntimeError), portal.transaction():
        portal.inbox.set_status(world.staff, item, "done")
        raise RuntimeError("the host's own step failed")
    assert len(portal.inbox.events(world.staff, item)) == 1
    assert portal.inbox.get(world.staff, item).status is InboxStatus.NEW


def test_a_read_only_view_as_files_follows_and_closes_no_ticket(portal: Portal) -> None:
    world, _main, anna, _ben = _desk_world(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="Since 9:00")
    watcher = Staff(
        vendor_id=world.vendor.id, user_id="support", permissions=frozenset({"impersonate"})
    )
    viewing = portal.access.view_as(watcher, anna.membership_id, reason="support call")
    assert [t.id for t in portal.tickets.list(viewing)] == [ticket.id]  # reading is fine
    for write in (
        lambda: portal.tickets.create(viewing, subject="Sneaky", text="x"),
        lambda: portal.tickets.follow(viewing, ticket),
        lambda: portal.tickets.comment(viewing, ticket, "Sneaky"),
        lambda: portal.tickets.close(viewing, ticket),
    ):
        with pytest.raises(PermissionDenied):
            write()
    assert portal.tickets.get(anna, ticket).status == "new"
    assert portal.tickets.comments(anna, ticket) == []


def test_another_customers_or_vendors_ticket_answers_not_found(portal: Portal) -> None:
    world, _main, anna, _ben = _desk_world(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="Since 9:00")
    stranger = _member(
        world,
        world.portal.profiles.create_from(
            world.staff, presets.SERVICE_DESK_MAIN_USER, name="Stranger"
        ),
        world.customer(),
        kind="main",
    )
    for call in (
        lambda: portal.tickets.comment(stranger, ticket, "Hello"),
        lambda: portal.tickets.follow(stranger, ticket),
        lambda: portal.tickets.close(stranger, ticket),
        lambda: portal.tickets.comments(stranger, ticket),
        lambda: portal.inbox.get(stranger, ticket.item_id),
    ):
        with pytest.raises(NotFound):
            call()
    other = World(portal, vendor_code="other-desk")
    with pytest.raises(NotFound):
        portal.tickets.get(other.staff, ticket)
    with pytest.raises(NotFound):
        portal.tickets.comment(other.staff, ticket, "Hello")
    assert portal.tickets.comments(anna, ticket) == []
