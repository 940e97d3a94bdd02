"""Ticket attachments (issue 13, item 4): files added to a service-desk ticket live in the
asset store, and whoever sees the ticket — and only they — sees and downloads them."""

from __future__ import annotations

from typing import Any

import pytest

from portalkit import NotFound, PermissionDenied, Portal, ValidationError, presets
from portalkit.actors import Member, Staff
from portalkit.assets.memory import MemoryAssetStore
from portalkit.errors import StorageError
from portalkit.testing import World
from portalkit.tickets import ATTACHMENTS_MAX
from portals import mail_world

PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _member(world: World, profile: Any, customer: Any, **fields: Any) -> Member:
    return world.member(world.membership(customer=customer, profile=profile, **fields))


def _desk(portal: Portal) -> tuple[World, Member, Member, Member]:
    world = mail_world(portal)
    main = portal.profiles.create_from(world.staff, presets.SERVICE_DESK_MAIN_USER)
    user = portal.profiles.create_from(world.staff, presets.SERVICE_DESK_USER)
    company = world.customer()
    return (
        world,
        _member(world, main, company, kind="main"),
        _member(world, user, company),
        _member(world, user, company),
    )


def _store(portal: Portal) -> MemoryAssetStore:
    store = portal.assets.store
    assert isinstance(store, MemoryAssetStore)
    return store


def test_the_filer_the_main_user_and_staff_see_an_attachment_and_a_colleague_does_not(
    portal: Portal,
) -> None:
    world, main, anna, ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="See the log")
    added = portal.tickets.attach(anna, ticket, name="printer-log.pdf", data=PDF)
    assert (added.content_type, added.size, added.ticket_id) == (
        "application/pdf",
        len(PDF),
        ticket.id,
    )
    screenshot = portal.tickets.attach(world.staff, ticket, name="fix.png", data=PNG)
    for reader in (anna, main, world.staff):
        assert [a.id for a in portal.tickets.attachments(reader, ticket)] == [
            added.id,
            screenshot.id,
        ]
        found, data = portal.tickets.attachment(reader, ticket, added.id)
        assert (found, data) == (added, PDF)
    # Ben is a user of the same company: "own tickets only" hides Anna's ticket and its files.
    for call in (
        lambda: portal.tickets.attachments(ben, ticket),
        lambda: portal.tickets.attachment(ben, ticket, added.id),
        lambda: portal.tickets.attach(ben, ticket, name="x.pdf", data=PDF),
    ):
        with pytest.raises(NotFound):
            call()


def test_a_file_of_another_ticket_is_not_found_through_a_ticket_one_sees(portal: Portal) -> None:
    _world, _main, anna, ben = _desk(portal)
    own = portal.tickets.create(anna, subject="Printer offline", text="x")
    theirs = portal.tickets.create(ben, subject="VPN down", text="y")
    secret = portal.tickets.attach(ben, theirs, name="vpn-config.pdf", data=PDF)
    with pytest.raises(NotFound):
        portal.tickets.attachment(anna, own, secret.id)


def test_another_customer_or_vendor_never_reaches_the_files(portal: Portal) -> None:
    world, _main, anna, _ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="x")
    added = portal.tickets.attach(anna, ticket, name="log.pdf", data=PDF)
    stranger = _member(
        world,
        portal.profiles.create_from(world.staff, presets.SERVICE_DESK_MAIN_USER, name="Other"),
        world.customer(),
        kind="main",
    )
    other = World(portal, vendor_code="other-desk")
    for reader in (stranger, other.staff):
        with pytest.raises(NotFound):
            portal.tickets.attachments(reader, ticket)
        with pytest.raises(NotFound):
            portal.tickets.attachment(reader, ticket, added.id)
        with pytest.raises(NotFound):
            portal.tickets.attach(reader, ticket, name="x.pdf", data=PDF)
    assert len(portal.tickets.attachments(anna, ticket)) == 1


def test_a_read_only_view_or_a_member_without_the_right_adds_no_file(portal: Portal) -> None:
    world, _main, anna, _ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="x")
    watcher = Staff(
        vendor_id=world.vendor.id, user_id="support", permissions=frozenset({"impersonate"})
    )
    viewing = portal.access.view_as(watcher, anna.membership_id, reason="support call")
    with pytest.raises(PermissionDenied):
        portal.tickets.attach(viewing, ticket, name="x.pdf", data=PDF)
    assert portal.tickets.attachments(viewing, ticket) == []  # reading is fine
    assert _store(portal).keys == frozenset()


def test_bad_files_are_refused_with_every_problem_and_nothing_is_stored(portal: Portal) -> None:
    _world, _main, anna, _ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="x")
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"name": "", "data": b""}, {"required", "empty"}),
        ({"name": "log.pdf", "data": "not bytes"}, {"not_bytes"}),
        ({"name": "log.pdf", "data": PNG, "content_type": "application/pdf"}, {"content_mismatch"}),
        ({"name": "x" * 201, "data": PDF}, {"too_long"}),
        ({"name": "evil\ud800.pdf", "data": PDF}, {"invalid_unicode"}),
        ({"name": "run.exe", "data": b"MZ\x90\x00" + b"\x00" * 60}, {"unknown_type"}),
    ]
    for fields, rules in cases:
        with pytest.raises(ValidationError) as caught:
            portal.tickets.attach(anna, ticket, **fields)
        assert {p.code for p in caught.value.problems} >= rules, fields
    assert portal.tickets.attachments(anna, ticket) == []
    assert _store(portal).keys == frozenset()


def test_a_ticket_takes_a_limited_number_of_files(portal: Portal) -> None:
    _world, _main, anna, _ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="x")
    for n in range(ATTACHMENTS_MAX):
        portal.tickets.attach(anna, ticket, name=f"log-{n}.pdf", data=PDF)
    with pytest.raises(ValidationError) as caught:
        portal.tickets.attach(anna, ticket, name="one-too-many.pdf", data=PDF)
    assert caught.value.problems[0].code == "too_many"
    assert len(_store(portal).keys) == ATTACHMENTS_MAX


def test_a_rolled_back_attachment_leaves_no_file_and_no_record(portal: Portal) -> None:
    _world, _main, anna, _ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="x")
    with pytest.raises(RuntimeError), portal.transaction():
        added = portal.tickets.attach(anna, ticket, name="log.pdf", data=PDF)
        assert _store(portal).exists(added.asset_key)  # written before the commit
        raise RuntimeError("the host's own step failed")
    assert _store(portal).keys == frozenset()
    assert portal.tickets.attachments(anna, ticket) == []


def test_a_changed_stored_file_is_never_served(portal: Portal) -> None:
    _world, _main, anna, _ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="x")
    added = portal.tickets.attach(anna, ticket, name="log.pdf", data=PDF)
    store = _store(portal)
    store.delete(added.asset_key)
    store.put(added.asset_key, PDF + b"% appended by someone")
    with pytest.raises(StorageError):
        portal.tickets.attachment(anna, ticket, added.id)


def test_adding_a_file_is_audited(portal: Portal) -> None:
    world, _main, anna, _ben = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Printer offline", text="x")
    portal.tickets.attach(anna, ticket, name="log.pdf", data=PDF)
    entries = [e for e in portal.audit.list(world.staff) if e.action == "ticket_attachment_added"]
    assert len(entries) == 1
    assert entries[0].target == f"ticket:{ticket.id}"
