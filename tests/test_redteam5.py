"""Red team 5: attacks on today's documents, inbox, tickets, work requests and the rights
generation cache that found a weakness, each pinned by the test that shows it closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from conftest import BACKENDS, make_storage
from portalkit import NotFound, Portal, presets
from portalkit.actors import Member
from portalkit.clock import FixedClock
from portalkit.mail import MemoryMailer
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World
from portals import mail_world

PDF = b"%PDF-1.4 a service report"


class Undo(Exception):
    """The host's own failure, after portalkit's blocks have run."""


@pytest.fixture(params=[b for b in BACKENDS if b.id != "memory"])
def sql_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A world on SQL storage, where a host may join portalkit's transactions."""
    storage = make_storage(request.param, request, tmp_path)
    yield World(Portal(storage, MemoryMailer(), clock=FixedClock()))
    storage.close()


def test_rights_read_in_a_rolled_back_host_transaction_are_never_reused(
    sql_world: World,
) -> None:
    """A host transaction joined by two portalkit blocks: the first moves another company
    under the member's umbrella, the second checks the member's session (reading the
    uncommitted tree and the generation number the move drew), then the host rolls
    everything back. The number comes round again with the next committed change of
    anything else; the move that never was must not come back with it."""
    world = sql_world
    portal = world.portal
    storage = portal.storage
    assert isinstance(storage, SqlStorage)
    umbrella, rival, third = world.customer(), world.customer(), world.customer()
    profile = world.profile(capabilities={"documents.view"}, scopes={"documents": "tree"})
    membership = world.membership(customer=umbrella, profile=profile)
    session_value = portal.auth.session(world.member(membership))
    ctx = portal.auth.session_context(world.vendor, session_value)
    assert ctx.reach("documents") == {umbrella.id}

    with pytest.raises(Undo), Session(storage.engine) as host:
        with portal.transaction(session=host):
            portal.customers.update(world.staff, rival, parent=umbrella)
        with portal.transaction(session=host):
            inside = portal.auth.session_context(world.vendor, session_value)
            assert rival.id in inside.reach("documents")  # the host's uncommitted view
        raise Undo  # the host's transaction rolls back: the move never happened

    # The next committed change of the vendor's rights (one: a site of a third customer).
    world.location(third)
    ctx = portal.auth.session_context(world.vendor, session_value)
    assert ctx.reach("documents") == {umbrella.id}
    assert portal.customers.get(world.staff, rival).parent_id is None


def _desk(portal: Portal) -> tuple[World, Member, Member]:
    """A service desk: the company's main user (sees every ticket) and a user (its own)."""
    world = mail_world(portal)
    main = world.portal.profiles.create_from(world.staff, presets.SERVICE_DESK_MAIN_USER)
    user = world.portal.profiles.create_from(world.staff, presets.SERVICE_DESK_USER)
    company = world.customer()
    boss = world.membership(customer=company, profile=main, kind="main")
    anna = world.membership(customer=company, profile=user)
    return world, world.member(boss), world.member(anna)


def _mail_to(world: World, account_id: Any) -> list[Any]:
    mailer: Any = world.portal.mailer
    address = world.portal.accounts.get(world.staff, account_id).email
    return [m for m in mailer.outbox if str(m["To"]) == address]


@pytest.mark.parametrize("gone", ["membership", "account", "demoted"])
def test_a_follower_who_no_longer_sees_the_ticket_gets_no_more_mail(
    portal: Portal, gone: str
) -> None:
    """The main user follows a colleague's ticket, then leaves the company (login switched
    off), has the account disabled, or is moved to a profile that sees only its own
    tickets. Comments and status changes of the company's ticket reach it no more."""
    world, boss, anna = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Payroll server down", text="Since 9:00")
    portal.tickets.follow(boss, ticket)
    portal.tickets.comment(world.staff, ticket, "Looking into it.")
    assert len(_mail_to(world, boss.account_id)) == 1  # while it sees the ticket
    if gone == "membership":
        portal.memberships.deactivate(world.staff, boss.membership_id)
    elif gone == "account":
        portal.accounts.deactivate(world.staff, boss.account_id)
    else:
        own = portal.profiles.create_from(
            world.staff, presets.SERVICE_DESK_USER, name="Users of their own"
        )
        portal.memberships.update(world.staff, boss.membership_id, profile=own)
        with pytest.raises(NotFound):
            portal.tickets.get(boss, ticket)
    portal.tickets.comment(world.staff, ticket, "The salaries of March are late.")
    portal.inbox.set_status(world.staff, ticket.item_id, "in_progress")
    portal.tickets.close(world.staff, ticket)
    assert len(_mail_to(world, boss.account_id)) == 1
    assert len(_mail_to(world, anna.account_id)) >= 3  # the filer still hears of each


def test_a_work_request_at_a_branch_needs_work_requests_to_reach_the_branch(
    world: World,
) -> None:
    """A member of an umbrella whose profile reaches the branches for documents only (its
    work requests stay within its own company) files no work request at a branch's site:
    NotFound, as for a stranger's site, and nothing lands in the inbox. With the tree scope
    for work requests it may."""
    portal = world.portal
    umbrella = world.customer()
    branch = world.customer(parent=umbrella.id)
    site = world.location(branch)
    narrow = world.profile(
        capabilities={"work_requests.create", "documents.view"}, scopes={"documents": "tree"}
    )
    member = world.member(world.membership(customer=umbrella, profile=narrow))
    assert branch.id in portal.access.context(member).reach("documents")
    with pytest.raises(NotFound):
        portal.work_requests.create(member, subject="Boiler leaks", location=site)
    assert portal.inbox.list(world.staff) == []
    wide = world.profile(capabilities={"work_requests.create"}, scopes={"work_requests": "tree"})
    manager = world.member(world.membership(customer=umbrella, profile=wide))
    filed = portal.work_requests.create(manager, subject="Boiler leaks", location=site)
    assert filed.customer_id == branch.id
    assert [r.id for r in portal.work_requests.list(manager)] == [filed.id]


@pytest.mark.parametrize(
    "data",
    [
        "\ufeff<html><script>alert(1)</script></html>".encode(),  # a byte order mark first
        "\ufeff <svg onload=alert(1)>".encode(),
        b"<body onload=alert(document.cookie)>",  # HTML needs no <html> to run
        b"<img src=x onerror=alert(1)>",
        b"  <iframe src=javascript:alert(1)>",
        b"<!-- a comment --><script>alert(1)</script>",
        b"<SCRIPT>alert(1)</SCRIPT>",
    ],
)
def test_markup_is_no_text_file_however_it_starts(data: bytes) -> None:
    """A browser that sniffs a text file opened from the portal's origin runs markup in it:
    neither taken from the bytes nor declared as text or CSV does markup pass."""
    portal = Portal()
    for declared in (None, "text/plain", "text/csv"):
        problems: list[Any] = []
        assert portal.assets.check(problems, "data", data, declared) is None, declared
        assert [p.code for p in problems] == [
            "unknown_type" if declared is None else "content_mismatch"
        ]


def test_text_that_only_mentions_markup_stays_text() -> None:
    portal = Portal()
    for data in (b"a < b, and 3 <4", "\ufeffnaam;prijs\n<geen>;1".encode(), b"<3 thanks"):
        problems: list[Any] = []
        checked = portal.assets.check(problems, "data", data, "text/csv")
        assert checked is not None and problems == [], data


@pytest.mark.parametrize("ending", ["savepoint", "block"])
def test_a_delete_the_host_takes_back_in_its_savepoint_keeps_the_file(
    sql_world: World, ending: str
) -> None:
    """The host deletes a document inside a savepoint of its own, takes the savepoint back
    (the document row is there again) and commits the rest. The file must stay: removing it
    at the host's commit would leave a document whose bytes are gone for good; a file shared
    in the savepoint goes with it."""
    world = sql_world
    portal = world.portal
    storage = portal.storage
    assert isinstance(storage, SqlStorage)
    customer = world.customer()
    doc = portal.documents.share(world.staff, customer=customer, name="a.pdf", data=PDF)
    fresh = portal.documents.share(world.staff, customer=customer, name="b.pdf", data=PDF)
    with Session(storage.engine) as host:
        host.connection()
        if ending == "savepoint":
            saved = host.begin_nested()
            with portal.transaction(session=host):
                portal.documents.delete(world.staff, doc)
                gone = portal.documents.share(
                    world.staff, customer=customer, name="c.pdf", data=PDF
                )
            saved.rollback()  # the host takes its part back
        else:
            with pytest.raises(Undo), host.begin_nested():
                with portal.transaction(session=host):
                    portal.documents.delete(world.staff, doc)
                    gone = portal.documents.share(
                        world.staff, customer=customer, name="c.pdf", data=PDF
                    )
                raise Undo
        with portal.transaction(session=host):
            portal.documents.delete(world.staff, fresh)  # after the savepoint: goes
        host.commit()
    found, data = portal.documents.download(world.staff, doc.id)
    assert found.id == doc.id and data == PDF
    with pytest.raises(NotFound):
        portal.documents.get(world.staff, fresh.id)
    assert not portal.assets.store.exists(fresh.asset_key)
    # A file shared inside the savepoint taken back is taken back too (no litter).
    assert not portal.assets.store.exists(gone.asset_key)


def test_a_member_closing_a_rejected_ticket_leaves_the_vendors_decision(portal: Portal) -> None:
    """Staff rejected the ticket; the filer's "close" must not turn the rejection into a
    ticket the vendor did (rejected → done is no move staff may make either)."""
    world, _boss, anna = _desk(portal)
    ticket = portal.tickets.create(anna, subject="Free printer please", text="A new one")
    portal.inbox.set_status(world.staff, ticket.item_id, "rejected")
    closed = portal.tickets.close(anna, ticket)
    assert closed.status == "rejected"
    assert portal.inbox.get(world.staff, ticket.item_id).status.value == "rejected"
    assert [e.payload["status"] for e in portal.inbox.events(world.staff, ticket.item_id)] == [
        "new",
        "rejected",
    ]


def test_a_location_scope_without_sites_files_and_offers_no_site(world: World) -> None:
    """Scope ``location`` for work requests with no site granted sees no work request at
    all; it files none either (anywhere in its company), and the "choose a site" list
    offers none. With a site granted for writing, that site only."""
    portal = world.portal
    company = world.customer()
    site, other = world.location(company), world.location(company)
    by_site = world.profile(
        capabilities={"work_requests.create"}, scopes={"work_requests": "location"}
    )
    member = world.member(world.membership(customer=company, profile=by_site))
    assert portal.work_requests.list(member) == []
    with pytest.raises(NotFound):
        portal.work_requests.create(member, subject="Boiler leaks", location=site)
    assert portal.inbox.list(world.staff) == []
    assert portal.locations.reachable(member, "work_requests") == []
    granted = world.member(
        world.membership(
            customer=company,
            profile=by_site,
            location_grants={site.id: "write"},
        )
    )
    assert [p.id for p in portal.locations.reachable(granted, "work_requests")] == [site.id]
    # Nor does a member who may not file work requests at all get sites to pick for them.
    viewer = world.member(
        world.membership(customer=company, profile=world.profile(capabilities={"tickets.view"}))
    )
    assert portal.locations.reachable(viewer, "work_requests") == []
    assert portal.work_requests.list(viewer) == []
    filed = portal.work_requests.create(granted, subject="Boiler leaks", location=site)
    assert [r.id for r in portal.work_requests.list(granted)] == [filed.id]
    with pytest.raises(NotFound):
        portal.work_requests.create(granted, subject="Boiler leaks", location=other)
