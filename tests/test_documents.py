"""Documents (the field-service seed's "Documenten bekijken" with per-member visibility):
shared by staff, seen only by whom the access context and the document allow, downloaded
through links signed for one member that expire — on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from portalkit import Portal
from portalkit.actors import Member, Staff
from portalkit.assets.memory import MemoryAssetStore
from portalkit.clock import FixedClock
from portalkit.documents import Document
from portalkit.errors import (
    ConfigurationError,
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    StorageError,
    ValidationError,
)
from portalkit.presets import field_service
from portalkit.settings import load_settings
from portalkit.storage.base import Storage
from portalkit.testing import World

PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
SECRET = "a-long-random-secret-for-the-tests-only"


@pytest.fixture
def store() -> MemoryAssetStore:
    return MemoryAssetStore()


@pytest.fixture
def portal(storage: Storage, store: MemoryAssetStore) -> Portal:
    return Portal(
        storage, settings=load_settings(secret_key=SECRET), clock=FixedClock(), assets=store
    )


@attrs.define
class Firm:
    """A field-service customer with two members who may see documents, and one who may
    not."""

    world: World
    customer: Any
    kim: Member
    jan: Member
    blind: Member
    profile: Any


def firm(world: World, **customer: Any) -> Firm:
    p = world.portal
    viewer = p.profiles.create_from(
        world.staff, field_service(documents=True), name=f"Docs {world._next()}"
    )
    nothing = p.profiles.create_from(
        world.staff, field_service(completed_jobs=True), name=f"Jobs {world._next()}"
    )
    acme = world.customer(**customer)
    kim = world.member(world.membership(acme, kind="main", profile=viewer))
    jan = world.member(world.membership(acme, profile=viewer))
    blind = world.member(world.membership(acme, profile=nothing))
    return Firm(world, acme, kim, jan, blind, viewer)


@pytest.fixture
def acme(world: World) -> Firm:
    return firm(world)


def share(world: World, customer: Any, **fields: Any) -> Document:
    fields.setdefault("name", "Service report.pdf")
    fields.setdefault("data", PDF)
    return world.portal.documents.share(world.staff, customer=customer, **fields)


# -- the seed scenario ------------------------------------------------------------------------
def test_a_document_restricted_to_one_member_is_invisible_to_another_member_of_the_customer(
    world: World, acme: Firm
) -> None:
    p = world.portal
    everyone = share(world, acme.customer, name="Price list.pdf")
    only_kim = share(world, acme.customer, members=[acme.kim.membership_id])
    assert p.documents.list(acme.kim) == [everyone, only_kim]
    assert p.documents.list(acme.jan) == [everyone]
    assert p.documents.get(acme.kim, only_kim.id) == only_kim
    for call in (p.documents.get, p.documents.download, p.documents.link):
        with pytest.raises(NotFound):
            call(acme.jan, only_kim.id)
    assert p.documents.download(acme.kim, only_kim) == (only_kim, PDF)
    # Staff see every document of the customer.
    assert p.documents.list(world.staff, customer=acme.customer) == [everyone, only_kim]


def test_its_link_fails_for_anyone_else_and_after_it_expires(world: World, acme: Firm) -> None:
    p = world.portal
    doc = share(world, acme.customer, members=[acme.kim.membership_id, acme.jan.membership_id])
    token = p.documents.link(acme.kim, doc)
    assert p.documents.open(acme.kim, token) == (doc, PDF)
    other = firm(world)
    answers = set()
    for stranger in (acme.jan, acme.blind, other.kim, world.staff, world.system):
        with pytest.raises(InvalidToken) as refused:
            p.documents.open(stranger, token)
        answers.add(str(refused.value))
    assert p.clock.advance(minutes=59)  # type: ignore[attr-defined]
    assert p.documents.open(acme.kim, token)[1] == PDF
    p.clock.advance(minutes=1)  # type: ignore[attr-defined]
    with pytest.raises(InvalidToken) as expired:
        p.documents.open(acme.kim, token)
    answers.add(str(expired.value))
    assert len(answers) == 1  # one answer, whatever the reason
    # A link of its own lifetime, within bounds.
    short = p.documents.link(acme.kim, doc, minutes=1)
    p.clock.advance(seconds=61)  # type: ignore[attr-defined]
    with pytest.raises(InvalidToken):
        p.documents.open(acme.kim, short)
    for minutes in (0, -5, 7 * 24 * 60 + 1, True, "10"):
        with pytest.raises(ValidationError):
            p.documents.link(acme.kim, doc, minutes=minutes)  # type: ignore[arg-type]


def test_a_link_stops_when_the_member_loses_the_right_or_the_restriction_changes(
    world: World, acme: Firm
) -> None:
    p = world.portal
    doc = share(world, acme.customer, members=[acme.kim.membership_id])
    token = p.documents.link(acme.kim, doc)
    p.documents.restrict(world.staff, doc, [acme.jan.membership_id])
    with pytest.raises(InvalidToken):
        p.documents.open(acme.kim, token)
    p.documents.restrict(world.staff, doc.id, None)  # every member again
    assert p.documents.open(acme.kim, token)[1] == PDF
    p.profiles.update(world.staff, acme.profile.id, capabilities=["jobs.view_completed"])
    with pytest.raises(InvalidToken):
        p.documents.open(acme.kim, token)
    p.profiles.update(world.staff, acme.profile.id, capabilities=["documents.view"])
    assert p.documents.open(acme.kim, token)[1] == PDF
    p.documents.update(world.staff, doc.id, visible=False)
    with pytest.raises(InvalidToken):
        p.documents.open(acme.kim, token)
    p.documents.update(world.staff, doc.id, visible=True)
    p.memberships.deactivate(world.staff, acme.kim.membership_id)
    with pytest.raises(InvalidToken):
        p.documents.open(acme.kim, token)


def test_a_tampered_or_made_up_token_fails_the_same_way(world: World, acme: Firm) -> None:
    p = world.portal
    doc = share(world, acme.customer)
    other_doc = share(world, acme.customer, name="Other.pdf")
    token = p.documents.link(acme.kim, doc)
    version, membership, document, expires, signature = token.split(".")
    flipped = "E" if signature[-1] == "A" else "A"
    forged = [
        f"{version}.{acme.jan.membership_id.hex}.{document}.{expires}.{signature}",
        f"{version}.{membership}.{other_doc.id.hex}.{expires}.{signature}",
        f"{version}.{membership}.{document}.{int(expires) + 86400}.{signature}",
        f"{version}.{membership}.{document}.{expires}.{signature[:-1]}{flipped}",
        f"{version}.{membership}.{document}.{expires}.{signature}=",
        f"d2.{membership}.{document}.{expires}.{signature}",
        f"{version}.{membership.upper()}.{document}.{expires}.{signature}",
        token + ".",
        token[:-1],
        "",
        "x" * 1_000_000,
        token + "\ud800",
        f"{version}.{membership}.{document}.99999999999999999999.{signature}",
        None,
        42,
        token.encode(),
    ]
    for bad in forged:
        with pytest.raises(InvalidToken):
            p.documents.open(acme.kim, bad)  # type: ignore[arg-type]
    # A token signed under another secret is forged too.
    other = Portal(
        p.storage,
        settings=load_settings(secret_key="another-secret-another-secret"),
        clock=p.clock,
        assets=p.assets.store,
    )
    with pytest.raises(InvalidToken):
        other.documents.open(acme.kim, token)
    assert p.documents.open(acme.kim, token)[0] == doc


def test_links_need_the_portals_secret(world: World, acme: Firm) -> None:
    doc = share(world, acme.customer)
    world.portal.settings = load_settings(secret_key="")
    with pytest.raises(ConfigurationError, match="PORTALKIT_SECRET_KEY"):
        world.portal.documents.link(acme.kim, doc)


def test_staff_get_no_links_and_download_directly(world: World, acme: Firm) -> None:
    doc = share(world, acme.customer, visible=False)
    assert world.portal.documents.download(world.staff, doc) == (doc, PDF)
    with pytest.raises(ValidationError):
        world.portal.documents.link(world.staff, doc)


# -- the access context -----------------------------------------------------------------------
def test_a_member_without_documents_view_sees_none(world: World, acme: Firm) -> None:
    doc = share(world, acme.customer)
    with pytest.raises(PermissionDenied):
        world.portal.documents.list(acme.blind)
    with pytest.raises(NotFound):
        world.portal.documents.get(acme.blind, doc)


def test_an_invisible_document_is_the_vendors_own(world: World, acme: Firm) -> None:
    doc = share(world, acme.customer, visible=False)
    assert world.portal.documents.list(acme.kim) == []
    with pytest.raises(NotFound):
        world.portal.documents.get(acme.kim, doc)
    shown = world.portal.documents.update(world.staff, doc, visible=True)
    assert world.portal.documents.list(acme.kim) == [shown]


def test_another_customers_and_vendors_ids_are_not_found(
    world: World, acme: Firm, store: MemoryAssetStore
) -> None:
    p = world.portal
    other = firm(world)
    theirs = share(world, other.customer)
    for call in (p.documents.get, p.documents.download, p.documents.link):
        with pytest.raises(NotFound):
            call(acme.kim, theirs)
    with pytest.raises(NotFound):
        p.documents.list(acme.kim, customer=other.customer)
    stranger = World(p)
    outsider = stranger.staff
    for change in (
        lambda: p.documents.get(outsider, theirs.id),
        lambda: p.documents.download(outsider, theirs.id),
        lambda: p.documents.update(outsider, theirs.id, name="Mine now"),
        lambda: p.documents.restrict(outsider, theirs.id, None),
        lambda: p.documents.delete(outsider, theirs.id),
        lambda: p.documents.list(outsider, customer=other.customer),
        lambda: p.documents.share(outsider, customer=other.customer, name="x.pdf", data=PDF),
    ):
        with pytest.raises(NotFound):
            change()
    files = store.keys
    site = world.location(other.customer)
    with pytest.raises(NotFound):
        share(world, acme.customer, location=site)  # another customer's location
    with pytest.raises(NotFound):
        share(world, acme.customer, members=[other.kim.membership_id])
    with pytest.raises(NotFound):
        p.documents.restrict(world.staff, theirs, [acme.kim.membership_id])
    assert store.keys == files
    assert p.documents.list(world.staff, customer=acme.customer) == []
    assert p.documents.get(world.staff, theirs) == theirs


def test_members_only_read_and_a_view_as_reads_like_the_member(world: World, acme: Firm) -> None:
    p = world.portal
    doc = share(world, acme.customer, members=[acme.kim.membership_id])
    with pytest.raises(PermissionDenied):
        p.documents.share(acme.kim, customer=acme.customer, name="mine.pdf", data=PDF)
    with pytest.raises(PermissionDenied):
        p.documents.restrict(acme.kim, doc, None)
    with pytest.raises(PermissionDenied):
        p.documents.delete(acme.kim, doc)
    helpdesk = Staff(vendor_id=world.vendor.id, user_id="h", permissions=frozenset({"impersonate"}))
    as_kim = p.access.view_as(helpdesk, acme.kim.membership_id, reason="customer call")
    as_jan = p.access.view_as(helpdesk, acme.jan.membership_id, reason="customer call")
    assert p.documents.list(as_kim) == [doc]
    assert p.documents.list(as_jan) == []
    assert p.documents.open(as_kim, p.documents.link(as_kim, doc)) == (doc, PDF)
    with pytest.raises(PermissionDenied):
        p.documents.update(as_kim, doc, name="renamed under view-as")
    ctx = p.access.context(acme.kim)
    assert p.documents.list(ctx) == [doc]
    assert p.documents.open(ctx, p.documents.link(ctx, doc))[1] == PDF


def test_an_umbrella_member_sees_its_childrens_documents_and_not_the_other_way(
    world: World,
) -> None:
    p = world.portal
    viewer = p.profiles.create_from(world.staff, field_service(documents=True), name="Tree")
    viewer = p.profiles.update(world.staff, viewer, scopes={"documents": "tree"})
    parent = world.customer()
    child = world.customer(parent=parent)
    top = world.member(world.membership(parent, kind="main", profile=viewer))
    below = world.member(world.membership(child, kind="main", profile=viewer))
    at_parent = share(world, parent)
    at_child = share(world, child)
    assert p.documents.list(top) == [at_parent, at_child]
    assert p.documents.list(top, customer=child) == [at_child]
    assert p.documents.list(below) == [at_child]
    with pytest.raises(NotFound):
        p.documents.get(below, at_parent)


def test_a_document_at_a_location_follows_the_members_location_rights(world: World) -> None:
    p = world.portal
    viewer = p.profiles.create_from(world.staff, field_service(documents=True), name="Sites")
    customer = world.customer()
    north, south = world.location(customer), world.location(customer)
    everywhere = world.member(world.membership(customer, kind="main", profile=viewer))
    north_only = world.member(
        world.membership(customer, profile=viewer, location_grants={north: "read"})
    )
    at_north = share(world, customer, location=north)
    at_south = share(world, customer, location=south)
    assert p.documents.list(everywhere) == [at_north, at_south]
    assert p.documents.list(north_only) == [at_north]
    with pytest.raises(NotFound):
        p.documents.link(north_only, at_south)


# -- transactions: files follow the database --------------------------------------------------
def test_a_failed_later_step_takes_the_written_file_back(
    world: World, acme: Firm, store: MemoryAssetStore
) -> None:
    p = world.portal
    with pytest.raises(Conflict), p.transaction():
        doc = share(world, acme.customer)
        assert store.exists(doc.asset_key)  # written before the commit
        world.customer(code=acme.customer.code)  # the code is taken: the whole block fails
    assert store.keys == frozenset()
    assert p.documents.list(world.staff, customer=acme.customer) == []


def test_deleting_removes_the_bytes_only_after_the_commit(
    world: World, acme: Firm, store: MemoryAssetStore
) -> None:
    p = world.portal
    doc = share(world, acme.customer)
    with pytest.raises(RuntimeError), p.transaction():
        p.documents.delete(world.staff, doc)
        assert store.exists(doc.asset_key)
        raise RuntimeError("the delete rolls back")
    assert p.documents.download(acme.kim, doc) == (doc, PDF)
    token = p.documents.link(acme.kim, doc)
    p.documents.delete(world.staff, doc)
    assert not store.exists(doc.asset_key)
    with pytest.raises(NotFound):
        p.documents.get(world.staff, doc)
    with pytest.raises(InvalidToken):
        p.documents.open(acme.kim, token)
    with pytest.raises(NotFound):
        p.documents.delete(world.staff, doc)


def test_a_stale_change_is_refused(world: World, acme: Firm) -> None:
    p = world.portal
    doc = share(world, acme.customer)
    p.documents.update(world.staff, doc, name="New name.pdf")
    for stale in (
        lambda: p.documents.update(world.staff, doc, name="Lost update.pdf"),
        lambda: p.documents.restrict(world.staff, doc, [acme.kim.membership_id]),
        lambda: p.documents.delete(world.staff, doc),
    ):
        with pytest.raises(Conflict):
            stale()
    assert p.documents.get(world.staff, doc.id).name == "New name.pdf"


def test_changed_bytes_are_never_served(world: World, acme: Firm, store: MemoryAssetStore) -> None:
    doc = share(world, acme.customer)
    store.delete(doc.asset_key)
    store.put(doc.asset_key, PDF + b"% appended by someone")
    with pytest.raises(StorageError):
        world.portal.documents.download(acme.kim, doc)


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "codes"),
    [
        ({"name": "x" * 1_000_000}, ["too_long"]),
        ({"name": "report\ud800.pdf"}, ["invalid_unicode"]),
        ({"name": "line\nbreak.pdf"}, ["control_characters"]),
        ({"name": "   "}, ["required"]),
        ({"data": b"MZ\x90\x00 an executable"}, ["unknown_type"]),
        ({"data": b"<html><script>alert(1)</script></html>"}, ["unknown_type"]),
        ({"content_type": "application/x-msdownload"}, ["unsupported"]),
        ({"content_type": "text/html"}, ["unsupported"]),
        ({"content_type": "image/png"}, ["content_mismatch"]),
        ({"content_type": "a" * 1_000_000}, ["unsupported"]),
        ({"data": "%PDF- as text"}, ["not_bytes"]),
        ({"data": b""}, ["empty"]),
        ({"members": "kim"}, ["not_list"]),
        ({"members": ["not an id"]}, ["not_an_id"]),
        ({"visible": "yes"}, ["not_boolean"]),
        ({"name": "x" * 300, "data": b"", "visible": 1}, ["too_long", "empty", "not_boolean"]),
    ],
)
def test_bad_input_is_refused_with_every_problem_and_stores_nothing(
    world: World, acme: Firm, store: MemoryAssetStore, fields: dict[str, Any], codes: list[str]
) -> None:
    with pytest.raises(ValidationError) as refused:
        share(world, acme.customer, **fields)
    assert [p.code for p in refused.value.problems] == codes
    assert store.keys == frozenset()
    assert world.portal.documents.list(world.staff) == []


def test_files_over_the_limit_are_refused(world: World, acme: Firm) -> None:
    world.portal.settings = load_settings(secret_key=SECRET, asset_max_bytes=len(PDF))
    share(world, acme.customer)
    with pytest.raises(ValidationError, match="at most"):
        share(world, acme.customer, data=PDF + b" ")


def test_a_megabyte_of_members_is_refused(world: World, acme: Firm) -> None:
    with pytest.raises(ValidationError, match="at most 1000"):
        share(world, acme.customer, members=[acme.kim.membership_id] * 1_000_000)


# -- audit ------------------------------------------------------------------------------------
def test_shares_restrictions_changes_and_deletions_are_audited(world: World, acme: Firm) -> None:
    p = world.portal
    doc = share(world, acme.customer)
    doc = p.documents.restrict(world.staff, doc, [acme.kim.membership_id])
    doc = p.documents.update(world.staff, doc, visible=False)
    p.documents.delete(world.staff, doc)
    events = [
        e
        for e in p.audit.list(world.staff, customer=acme.customer)
        if e.action.startswith("document_")
    ]
    assert [e.action for e in events] == [
        "document_shared",
        "document_restricted",
        "document_changed",
        "document_deleted",
    ]
    assert {e.target for e in events} == {f"document:{doc.id}"}
    assert events[1].details["members"] == [str(acme.kim.membership_id)]
    assert events[0].real_actor == f"staff:{world.staff.user_id}"


# -- property: no change of a good token opens anything ---------------------------------------
def test_no_single_change_of_a_token_opens_the_document() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    world = World(Portal(settings=load_settings(secret_key=SECRET), clock=FixedClock()))
    team = firm(world)
    doc = share(world, team.customer)
    token = world.portal.documents.link(team.kim, doc)
    alphabet = "0123456789abcdefABCDEF._-=d" + "".join(sorted(set(token)))

    @settings(max_examples=300, deadline=None)
    @given(st.integers(0, len(token) - 1), st.sampled_from(alphabet), st.booleans())
    def changed(position: int, character: str, insert: bool) -> None:
        if insert:
            bad = token[:position] + character + token[position:]
        else:
            bad = token[:position] + character + token[position + 1 :]
        if bad == token:
            return
        with pytest.raises(InvalidToken):
            world.portal.documents.open(team.kim, bad)

    changed()
    assert world.portal.documents.open(team.kim, token)[0] == doc


# -- PostgreSQL: two servers, one document ----------------------------------------------------
@pytest.mark.postgres
def test_two_servers_deleting_one_document_on_postgres(pg_url: str) -> None:
    import threading

    from sqlalchemy import event, text

    from portalkit.storage.base import TABLES
    from portalkit.storage.sqlalchemy import SqlStorage

    first, second = SqlStorage(pg_url), SqlStorage(pg_url)
    with first.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    barrier = threading.Barrier(2, timeout=10)

    def wait_before_delete(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM DOCUMENTS"):
            barrier.wait()

    for storage in (first, second):
        event.listen(storage.engine, "before_cursor_execute", wait_before_delete)
    files = MemoryAssetStore()  # one folder both servers see
    settings = load_settings(secret_key=SECRET)
    one = Portal(first, settings=settings, assets=files)
    two = Portal(second, settings=settings, assets=files)
    try:
        world = World(one)
        customer = world.customer()
        for _ in range(5):
            barrier.reset()
            doc = share(world, customer)
            outcomes: list[BaseException | None] = [None, None]

            def run(
                i: int,
                portal: Portal,
                doc: Document = doc,
                outcomes: list[BaseException | None] = outcomes,
            ) -> None:
                try:
                    portal.documents.delete(world.staff, doc.id)
                except BaseException as exc:  # the test inspects every outcome
                    outcomes[i] = exc

            threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate((one, two))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert sum(o is None for o in outcomes) == 1, outcomes
            assert isinstance(next(o for o in outcomes if o is not None), Conflict)
            assert not files.exists(doc.asset_key)
        assert one.documents.list(world.staff) == []
    finally:
        first.close()
        second.close()


def test_a_storage_failure_at_any_step_of_a_share_leaves_no_file() -> None:
    from portalkit.errors import PortalError
    from portalkit.storage.memory import MemoryStorage

    storage, files = MemoryStorage(), MemoryAssetStore()
    portal = Portal(storage, settings=load_settings(secret_key=SECRET), assets=files)
    world = World(portal)
    team = firm(world)
    site = world.location(team.customer)
    failed = 0
    for step in range(1, 40):
        storage.fail_after(step)
        try:
            doc = share(world, team.customer, location=site, members=[team.kim.membership_id])
        except PortalError:
            failed += 1
            assert files.keys == frozenset(), step
            assert portal.documents.list(world.staff) == []
            continue
        storage.fail_after(None)
        assert files.keys == {doc.asset_key}
        break
    assert failed >= 3  # the customer, the location, the members and the write were each hit
