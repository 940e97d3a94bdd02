"""CSV import (issue 14, item 4): files that mix good and bad rows, hostile input, re-runs.

Every bad row is named by line, column and reason, in the operator's language; nothing of a
bad row is written; a re-run of the same file changes nothing; in the valid-rows mode memory
stays flat as the file grows. On memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

import gc
import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import Portal, PortalSettings
from portalkit.clock import FixedClock
from portalkit.errors import PermissionDenied, ValidationError
from portalkit.mail import MemoryMailer
from portalkit.storage.base import Storage
from portalkit.testing import World
from portalkit.transfer import ImportMode, ImportReport

CUSTOMERS = """\
code,name,erp_reference,parent,street,postal_code,city,country
HGZ,Hoogezand Zorg,D-100,,Stationsweg 1,9601 AB,Hoogezand,nl
BAD CODE,Spaces are not allowed,,,,,,
HGZ-N,Hoogezand Noord,D-101,HGZ,,,,
,No code at all,,,,,,
HGZ,The same code again,,,,,,
ORPHAN,Parent missing,,NOWHERE,,,,
FORM,=HYPERLINK("https://evil.example"),,,,,,
"""


def _load(world: World, kind: str, text: str, **options: Any) -> ImportReport:
    return world.portal.imports.load(world.staff, kind, io.BytesIO(text.encode()), **options)


def _state(world: World) -> dict[str, Any]:
    """What the vendor has stored: every record an import may write, and the audit log."""
    portal, staff = world.portal, world.staff
    customers = portal.customers.list(staff, limit=1000)
    return {
        "customers": customers,
        "locations": [p for c in customers for p in portal.locations.list(staff, customer=c)],
        "contacts": [p for c in customers for p in portal.contacts.list(staff, customer=c)],
        "accounts": portal.accounts.list(staff, limit=1000),
        "memberships": [m for c in customers for m in portal.memberships.list(staff, customer=c)],
        "outbox": portal.mail.list(staff, limit=1000),
        "audit": len(portal.audit.list(staff, limit=1000)),
    }


def _problems(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(p.line, p.column, p.code) for p in report.problems]


def test_a_mixed_file_names_every_bad_row_and_writes_the_good_ones(world: World) -> None:
    report = _load(world, "customers", CUSTOMERS)

    assert _problems(report) == [
        (3, "code", "invalid_characters"),
        (5, "code", "required"),
        (6, "code", "duplicate"),
        (7, "parent", "not_found"),
    ]
    assert (report.read, report.written, report.unchanged, report.skipped) == (7, 3, 0, 4)
    stored = {c.code: c for c in world.portal.customers.list(world.staff)}
    assert sorted(stored) == ["FORM", "HGZ", "HGZ-N"]
    assert stored["HGZ-N"].parent_id == stored["HGZ"].id
    assert stored["HGZ"].default_delivery_address is not None
    assert stored["HGZ"].default_delivery_address.country == "NL"
    # A formula-looking cell is data: stored as written, defused only on export.
    assert stored["FORM"].name == '=HYPERLINK("https://evil.example")'


def test_the_reasons_come_in_the_operators_language(world: World) -> None:
    dutch = _load(world, "customers", CUSTOMERS, language="nl", dry_run=True)
    german = _load(world, "customers", CUSTOMERS, language="de", dry_run=True)

    assert dutch.problems[0].reason == "mag alleen letters A–Z, cijfers, '-' en '_' bevatten"
    assert "NOWHERE" in dutch.problems[-1].reason and "niet gevonden" in dutch.problems[-1].reason
    assert german.problems[-1].reason != dutch.problems[-1].reason
    assert all(p.reason for p in dutch.problems + german.problems)


def test_a_rerun_of_the_same_file_changes_nothing(world: World) -> None:
    profile = world.profile(name="Reader", capabilities={"orders.view"})
    files = {
        "customers": CUSTOMERS,
        "locations": "customer,code,name,street,postal_code,city\n"
        "HGZ,NORTH,Noord,Dorpsstraat 2,9602 AA,Hoogezand\nHGZ,SOUTH,Zuid,,,\n",
        "contacts": "customer,email,first_name,last_name,job_title\n"
        "HGZ,piet@hgz.example,Piet,Pieters,Inkoper\n",
        "logins": "customer,email,first_name,last_name,username,profile,locations\n"
        f"HGZ,anna@hgz.example,Anna,Smit,anna,{profile.name},NORTH:write SOUTH\n"
        "HGZ-N,piet@hgz.example,Piet,Pieters,,,\n",
    }
    for kind, text in files.items():
        first = _load(world, kind, text)
        assert first.written >= 1, (kind, first.problems)
    before = _state(world)

    for kind, text in files.items():
        again = _load(world, kind, text)
        assert again.written == 0, kind
        assert again.unchanged == again.read - len({p.line for p in again.problems}), kind

    assert _state(world) == before
    (anna,) = [
        m
        for c in world.portal.customers.list(world.staff)
        for m in world.portal.memberships.list(world.staff, customer=c)
        if world.portal.accounts.get(world.staff, m.account_id).username == "anna"
    ]
    assert anna.profile_id == profile.id
    assert sorted(g.access.value for g in anna.location_grants) == ["read", "write"]


def test_a_changed_row_updates_its_record(world: World) -> None:
    _load(world, "customers", "code,name,erp_reference\nHGZ,Hoogezand,D-1\n")

    report = _load(world, "customers", "code,name,erp_reference\nhgz,Hoogezand Zorg,D-1\n")

    assert (report.updated, report.created, report.unchanged) == (1, 0, 0)
    (stored,) = world.portal.customers.list(world.staff)
    assert (stored.code, stored.name) == ("HGZ", "Hoogezand Zorg")


def test_all_or_nothing_writes_nothing_when_one_row_is_bad(world: World) -> None:
    before = _state(world)

    report = _load(world, "customers", CUSTOMERS, mode="all-or-nothing")

    assert report.mode is ImportMode.ALL_OR_NOTHING
    assert len(report.problems) == 4 and not report.committed
    assert (report.written, report.skipped) == (0, 7)
    assert _state(world) == before


def test_all_or_nothing_writes_everything_when_every_row_is_good(world: World) -> None:
    good = "code,name\nA1,Alpha\nB2,Beta\n"

    report = _load(world, "customers", good, mode="all-or-nothing")

    assert report.ok and report.committed and report.written == 2
    assert len(world.portal.customers.list(world.staff)) == 2


def test_a_dry_run_checks_every_row_and_writes_nothing(world: World) -> None:
    _load(world, "customers", "code,name\nHGZ,Hoogezand\n")
    before = _state(world)
    rows = "customer,code,name\nHGZ,NORTH,Noord\nHGZ,SOUTH,Zuid\nHGZ,NORTH,Again\nXYZ,A,B\n"

    report = _load(world, "locations", rows, dry_run=True)

    assert _problems(report) == [(4, "code", "duplicate"), (5, "customer", "not_found")]
    assert (report.created, report.written, report.committed) == (2, 0, False)
    assert _state(world) == before


def test_nothing_of_a_bad_login_row_is_written(world: World) -> None:
    # The contact is made before the membership is refused: the batch runs again without it.
    _load(world, "customers", "code,name\nHGZ,Hoogezand\n")
    logins = (
        "customer,email,first_name,last_name,profile,locations\n"
        "HGZ,good@hgz.example,Goed,Mens,,\n"
        "HGZ,nosite@hgz.example,Geen,Site,,ATLANTIS\n"
        "HGZ,noprofile@hgz.example,Geen,Profiel,Nobody,\n"
        "HGZ,nolast@hgz.example,Geen,,,\n"
        "HGZ,also@hgz.example,Ook,Goed,,\n"
    )

    report = _load(world, "logins", logins)

    assert _problems(report) == [
        (3, "locations", "not_found"),
        (4, "profile", "not_found"),
        (5, "last_name", "required"),
    ]
    state = _state(world)
    assert sorted(c.email for c in state["contacts"]) == ["also@hgz.example", "good@hgz.example"]
    assert sorted(a.email for a in state["accounts"]) == ["also@hgz.example", "good@hgz.example"]


def test_invitations_are_queued_only_for_the_logins_written(storage: Storage) -> None:
    portal = Portal(
        storage,
        MemoryMailer(),
        clock=FixedClock(),
        settings=PortalSettings(
            mail_from="portal@vendor.example",
            mail_encryption_key=Fernet.generate_key().decode(),
            base_url="https://portal.vendor.example",
        ),
    )
    world = World(portal)
    _load(world, "customers", "code,name\nHGZ,Hoogezand\n")
    logins = (
        "customer,email,first_name,last_name,locations\n"
        "HGZ,one@hgz.example,Een,Mens,\n"
        "HGZ,bad@hgz.example,Slecht,Mens,ATLANTIS\n"
        "HGZ,two@hgz.example,Twee,Mens,\n"
    )

    report = _load(world, "logins", logins, invite=True)
    again = _load(world, "logins", logins, invite=True)
    quiet = _load(world, "logins", "customer,email,first_name,last_name\nHGZ,x@hgz.example,X,Y\n")

    assert (report.invited, again.invited, quiet.invited) == (2, 0, 0)
    queued = portal.mail.list(world.staff)
    assert sorted(m.to for m in queued) == ["one@hgz.example", "two@hgz.example"]


def test_a_taken_username_refuses_only_its_row(world: World) -> None:
    world.portal.accounts.create(world.staff, username="anna", email="other@elsewhere.example")
    _load(world, "customers", "code,name\nHGZ,Hoogezand\n")
    rows = (
        "customer,email,first_name,last_name,username\n"
        "HGZ,anna@hgz.example,Anna,Smit,anna\nHGZ,bob@hgz.example,Bob,Smit,bob\n"
    )

    report = _load(world, "logins", rows, mode="all-or-nothing", dry_run=True)
    loaded = _load(world, "logins", rows)

    assert _problems(report) == _problems(loaded) == [(2, "username", "conflict")]
    assert loaded.written == 1


def test_another_vendors_customer_is_never_touched(portal: Portal) -> None:
    ours, theirs = World(portal), World(portal)
    other = theirs.customer(code="ACME", name="Their Acme")
    before = _state(theirs)

    made = _load(ours, "customers", "code,name\nACME,Our Acme\n")
    sites = _load(ours, "locations", "customer,code,name\nHGZ,N,North\n")
    people = _load(ours, "contacts", "customer,email,first_name,last_name\nHGZ,a@b.example,A,B\n")

    assert made.created == 1  # a customer of its own with the same code
    assert _problems(sites) == [(2, "customer", "not_found")]
    assert _problems(people) == [(2, "customer", "not_found")]
    assert _state(theirs) == before
    assert portal.customers.get(theirs.staff, other.id) == other


def test_a_member_cannot_import(world: World) -> None:
    member = world.member(world.membership())

    with pytest.raises(PermissionDenied):
        world.portal.imports.load(member, "customers", io.StringIO("code,name\nX,Y\n"))


# -- hostile input -------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8_is_refused_with_a_clear_error(world: World) -> None:
    latin1 = "code,name\nMUL,Müller Berufskleidung\n".encode("latin-1")

    with pytest.raises(ValidationError) as refused:
        world.portal.imports.load(world.staff, "customers", io.BytesIO(latin1), language="nl")

    assert refused.value.code == "not_utf8"
    assert "UTF-8" in refused.value.text("nl")
    assert world.portal.customers.list(world.staff) == []


def test_bad_bytes_far_into_the_file_end_the_reading_there(world: World) -> None:
    good = "".join(f"C{n},Customer {n}\n" for n in range(2000))
    data = ("code,name\n" + good).encode() + "MUL,Müller\n".encode("latin-1")

    report = world.portal.imports.load(world.staff, "customers", io.BytesIO(data))

    # Decoded a block at a time: the rows of the block that holds the bad bytes are not read.
    assert report.problems[-1].code == "not_utf8"
    assert 1_500 < report.written < 2_000
    assert report.problems[-1].line == report.written + 2


def test_a_bom_is_accepted(world: World) -> None:
    data = "\ufeffcode;name\nHGZ;Hoogezand\n".encode()

    report = world.portal.imports.load(world.staff, "customers", io.BytesIO(data))
    text = world.portal.imports.load(
        world.staff, "customers", io.StringIO("\ufeffcode,name\nHGZ,Hoogezand\n")
    )

    assert report.ok and report.written == 1
    assert text.ok and text.unchanged == 1


@pytest.mark.parametrize(
    ("header", "field", "code"),
    [
        ("code", "name", "missing_column"),
        ("code,name,colour", "colour", "unknown_column"),
        ("code,name,name", "name", "duplicate_column"),
        ("", "file", "empty"),
    ],
)
def test_a_missing_or_unknown_column_is_refused_by_name(
    world: World, header: str, field: str, code: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _load(world, "customers", header + "\nX,Y,Z\n")

    assert (refused.value.field, refused.value.code) == (field, code)
    assert world.portal.customers.list(world.staff) == []


def test_bad_arguments_are_refused_before_reading(world: World) -> None:
    with pytest.raises(ValidationError) as refused:
        world.portal.imports.load(
            world.staff, "orders", io.StringIO(""), mode="some", language="fr", batch_size=0
        )

    assert [p.field for p in refused.value.problems] == ["kind", "mode", "language", "batch_size"]
    with pytest.raises(ValidationError):
        world.portal.imports.load(world.staff, "customers", "code,name\n")  # type: ignore[arg-type]


def test_hostile_cells_are_refused_row_by_row(world: World) -> None:
    big = "x" * 1_000_000
    rows = (
        "code,name,erp_reference\n"
        f"BIG,{'y' * 5000},\n"
        "SUR,Lone \ud800 surrogate,\n"
        "CTL,Line\x07bell,\n"
        "FEW,only two\n"
        "OK,Fine,\n"
        f"MEGA,{big},\n"
    )

    report = world.portal.imports.load(world.staff, "customers", io.StringIO(rows))

    assert _problems(report) == [
        (2, "name", "too_long"),
        (3, "name", "invalid_unicode"),
        (4, "name", "control_characters"),
        (5, "", "cell_count"),
        (7, "", "bad_csv"),
    ]
    assert [c.code for c in world.portal.customers.list(world.staff)] == ["OK"]


# -- memory --------------------------------------------------------------------------------------


def _peak(portal: Portal, staff: Any, rows: int, start: int) -> int:
    text = "code,name,street,postal_code,city\n" + "".join(
        f"K{n},Klant {n},Straat {n},1234 AB,Utrecht\n" for n in range(start, start + rows)
    )
    data = io.BytesIO(text.encode())
    del text
    tracemalloc.start()
    try:
        # Collected once a batch: what is left is what the import holds, not garbage that
        # the collector has not reached yet (a batch's records sit in reference cycles).
        report = portal.imports.load(
            staff, "customers", data, batch_size=100, progress=lambda _n: gc.collect()
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.written == rows
    return peak


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    portal = Portal.from_settings(database_url=f"sqlite:///{tmp_path / 'flat.db'}")
    world = World(portal)
    _peak(portal, world.staff, 300, 100_000)  # warm-up: compiled statements, caches

    small = _peak(portal, world.staff, 400, 1_000)
    large = _peak(portal, world.staff, 4_000, 10_000)
    portal.close()

    # Ten times the rows: the batch is the same, only the duplicate check grows (~60 B a row).
    assert large < small * 1.2 + 4_000 * 100, (small, large)
