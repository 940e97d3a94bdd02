"""Retention and erasure (issue 14, item 7): ``portal.retention.prune`` removes what has
outlived its period, ``portal.retention.erase_person`` erases a person (GDPR article 17) and
the append-only audit log keeps its shape without the person's data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

import portalkit
from portalkit import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    NotFound,
    PermissionDenied,
    Portal,
    PortalError,
    PortalSettings,
    Staff,
    ValidationError,
    presets,
)
from portalkit.cli._app import ExitCode
from portalkit.clock import FixedClock
from portalkit.customers.model import Address
from portalkit.mail.memory import MemoryMailer
from portalkit.outbox.model import OutboxStatus
from portalkit.settings import load_settings
from portalkit.staffrights import DATA_ERASE, DATA_PRUNE, LEGACY, WHAT_EACH_ALLOWS
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World
from portals import GOOD, login_with_password, mail_world
from secretscan import stored_everything

MAIL_KEY = Fernet.generate_key().decode()
FIRST, LAST, EMAIL, USERNAME = "Zorabel", "Quistenhof", "zorabel.q@acme.example", "zquist"


def _prune_staff(world: World) -> Staff:
    return world.staff_holding(DATA_PRUNE)


def _erase_staff(world: World) -> Staff:
    return world.staff_holding(DATA_ERASE)


def _person(world: World) -> Any:
    """An invited login of a customer, made as an operator makes one: contact, account,
    membership, invitation link and mail; then registered once more through the form."""
    portal = world.portal
    acme = world.customer(code="ACME")
    membership = portal.logins.add(
        world.staff,
        customer=acme,
        email=EMAIL,
        first_name=FIRST,
        last_name=LAST,
        username=USERNAME,
    )
    portal.mail.wait()
    return membership


def _tokens(portal: Portal, world: World) -> list[Any]:
    with portal.transaction(read_only=True) as uow:
        return uow.tokens.list(world.vendor.id)


# -- prune ----------------------------------------------------------------------------------


def test_prune_takes_dead_links_and_keeps_live_ones(portal: Portal) -> None:
    world = mail_world(portal)
    clock: FixedClock = portal.clock  # type: ignore[assignment]
    acme = world.customer()
    early = portal.logins.add(
        world.staff, customer=acme, email="early@acme.example", first_name="E", last_name="A"
    )
    portal.credentials.invite(world.staff, early)  # the first invitation is revoked
    portal.mail.wait()
    clock.advance(days=40)  # the second invitation has expired by now, too
    late = portal.logins.add(
        world.staff, customer=acme, email="late@acme.example", first_name="L", last_name="A"
    )
    portal.mail.wait()
    before = _tokens(portal, world)
    assert len(before) == 3
    assert portal.retention.prune(_prune_staff(world), dry_run=True).tokens == 2
    assert _tokens(portal, world) == before  # a dry run changes nothing

    report = portal.retention.prune(_prune_staff(world))

    assert report.tokens == 2
    (kept,) = _tokens(portal, world)
    assert kept.membership_id == late.id and kept.used_at is None and kept.revoked_at is None
    # The delivered invitations are over 30 days old: their bodies went, the rest stayed.
    with portal.transaction(read_only=True) as uow:
        mail = {m.to: m for m in uow.outbox.list(world.vendor.id)}
    assert mail["early@acme.example"].status is OutboxStatus.SENT
    assert (mail["early@acme.example"].text, mail["early@acme.example"].html) == ("", "")
    assert mail["late@acme.example"].subject == mail["early@acme.example"].subject
    (event,) = [e for e in portal.audit.list(world.staff) if e.action == "data_pruned"]
    assert event.details["tokens"] == 2 and event.real_actor.startswith("staff:")
    assert portal.retention.prune(_prune_staff(world)).tokens == 0


def test_prune_forgets_old_failed_logins_only(portal: Portal) -> None:
    world = mail_world(portal)
    clock: FixedClock = portal.clock  # type: ignore[assignment]
    for name in ("nobody-1", "nobody-2"):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, name, "wrong password", client_key="10.0.0.1")
    clock.advance(days=2)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, "nobody-3", "wrong password", client_key="10.0.0.2")
    report = portal.retention.prune(world.system)
    # Two typed names and one client key from two days ago; the fresh ones stay.
    assert report.throttles == 3
    assert portal.retention.prune(world.system).throttles == 0


def test_retention_periods_are_positive_whole_days() -> None:
    settings = PortalSettings(_env_file=None)
    assert (
        settings.retention_token_days,
        settings.retention_throttle_days,
        settings.retention_outbox_days,
    ) == (30, 1, 30)
    for name in ("retention_token_days", "retention_throttle_days", "retention_outbox_days"):
        for bad in (0, -1, "soon", 1.5):
            with pytest.raises(ConfigurationError, match=f"PORTALKIT_{name.upper()}"):
                load_settings(_env_file=None, **{name: bad})


def test_prune_and_erase_need_their_staff_permissions(world: World) -> None:
    portal = world.portal
    profile = world.profile(capabilities={"members.manage", "orders.view"})
    admin = world.member(world.membership(profile=profile))
    others = world.staff_holding(*(set(LEGACY) - {DATA_PRUNE}))
    target = world.membership()
    for actor in (admin, others, world.staff_holding()):
        with pytest.raises(PermissionDenied):
            portal.retention.prune(actor)
    for actor in (admin, world.staff, world.staff_holding(*LEGACY)):
        with pytest.raises(PermissionDenied):
            portal.retention.erase_person(actor, account=target.account_id)
    assert portal.accounts.get(world.staff, target.account_id).id == target.account_id
    assert DATA_PRUNE in WHAT_EACH_ALLOWS and DATA_ERASE in WHAT_EACH_ALLOWS
    # Legacy staff keep pruning (housekeeping) but never erase without the grant.
    legacy = Portal(settings=PortalSettings(_env_file=None, staff_permissions="legacy"))
    old = World(legacy)
    unset = Staff(vendor_id=old.vendor.id, user_id="old-style")
    legacy.retention.prune(unset)
    with pytest.raises(PermissionDenied):
        legacy.retention.erase_person(unset, account=old.membership().account_id)
    refusals = [e for e in portal.audit.list(world.system) if e.action == "authz_fail"]
    assert len(refusals) == 6


# -- erasure ----------------------------------------------------------------------------------


def test_erasure_leaves_no_trace_of_the_person_and_keeps_the_logs_shape(portal: Portal) -> None:
    world = mail_world(portal)
    membership = _person(world)
    acme = portal.customers.get_by_code(world.staff, "ACME")
    bystander = world.membership(customer=acme)
    account_id = membership.account_id
    # The host's own events name the person in its words; a bystander's event is left be.
    portal.audit.record(
        world.staff,
        "document.downloaded",
        target=f"account:{account_id}",
        reason=f"{FIRST} {LAST} <{EMAIL.upper()}> downloaded the price list",
        details={"login": USERNAME, "by": f"{FIRST}"},
    )
    portal.audit.record(
        world.staff, "document.downloaded", reason=f"{FIRST}bert Customer downloaded it"
    )
    log = portal.audit.list(world.system)
    assert any(account_id.hex[:8] in e.target for e in log)
    assert EMAIL in stored_everything(portal) and LAST in stored_everything(portal)

    dry = portal.retention.erase_person(_erase_staff(world), account=account_id, dry_run=True)
    assert dry.dry_run and (dry.accounts, dry.contacts, dry.memberships) == (1, 1, 1)
    assert portal.audit.list(world.system) == log  # the dry run changed nothing

    report = portal.retention.erase_person(_erase_staff(world), account=account_id)

    assert (report.accounts, report.contacts, report.memberships, report.tokens) == (1, 1, 1, 1)
    assert report.outbox_messages == 1 and report.audit_events >= 2
    assert re.fullmatch(r"erased-[0-9a-f]{16}", report.pseudonym)
    everything = stored_everything(portal).lower().replace(f"{FIRST}bert".lower(), "")
    for word in (EMAIL, FIRST, LAST, USERNAME, str(account_id), str(membership.id)):
        assert word.lower() not in everything, word
    after = portal.audit.list(world.system)
    # Every event is still there, in order, with its id, time, action and outcome.
    assert [(e.id, e.at, e.action, e.outcome) for e in after[: len(log)]] == [
        (e.id, e.at, e.action, e.outcome) for e in log
    ]
    assert [e.action for e in after[len(log) :]] == ["person_erased"]
    assert after[-1].target == f"person:{report.pseudonym}"
    assert any(report.pseudonym in e.target for e in after[: len(log)])
    hosts = [e for e in after if e.action == "document.downloaded"]
    p = report.pseudonym
    assert hosts[0].reason == f"{p} <{p}> downloaded the price list"
    assert dict(hosts[0].details) == {"login": p, "by": p}
    assert hosts[1].reason == f"{FIRST}bert Customer downloaded it"  # not the person's event
    with pytest.raises(NotFound):
        portal.accounts.get(world.staff, account_id)
    assert portal.memberships.get(world.staff, bystander.id) == bystander
    # Nobody else's events changed, though they name the same customer.
    theirs = [e for e in log if str(bystander.id) in e.target or e.action == "customer_created"]
    assert theirs and all(e in after for e in theirs)
    # Same person, same pseudonym: a second erasure of its (gone) account is NotFound.
    with pytest.raises(NotFound):
        portal.retention.erase_person(_erase_staff(world), account=account_id)


def test_erasure_on_sqlite_leaves_the_address_in_no_table(tmp_path: Path) -> None:
    path = tmp_path / "erase.db"
    storage = SqlStorage(f"sqlite:///{path}")
    storage.upgrade_schema()
    portal = Portal(storage, MemoryMailer(), clock=FixedClock())
    world = mail_world(portal)
    acme = world.customer(code="ACME")
    # The person asked for a login through the form (an inbox item), and staff approved it.
    portal.registrations.request(
        world.vendor, email=EMAIL, first_name=FIRST, last_name=LAST, company="Acme"
    )
    portal.mail.wait()
    mailer: Any = portal.mailer
    body = mailer.outbox[-1].get_body(("plain",)).get_content()
    token = re.search(r"token=([A-Za-z0-9_-]+)", body)
    assert token
    portal.registrations.confirm(world.vendor, token.group(1))
    (pending,) = portal.registrations.list(world.staff)
    membership = portal.registrations.approve(
        world.staff, pending, customer=acme, profile=world.profile(), username=USERNAME
    )
    portal.mail.wait()
    assert _raw_hits(path, EMAIL)

    report = portal.retention.erase_person(_erase_staff(world), contact=membership.contact_id)

    assert (report.registrations, report.inbox_items) == (1, 1)
    portal.close()
    for word in (EMAIL, FIRST, LAST, USERNAME):
        assert _raw_hits(path, word) == [], word


def test_erasure_takes_the_person_out_of_the_vendors_notices_and_other_peoples_tickets(
    tmp_path: Path,
) -> None:
    path = tmp_path / "erase.db"
    storage = SqlStorage(f"sqlite:///{path}")
    storage.upgrade_schema()
    portal = Portal(storage, MemoryMailer(), clock=FixedClock())
    world = mail_world(portal)
    # The vendor's inbox address gets "New in the inbox: <the person's name>".
    portal.staff.set_inbox_address(world.staff, "inbox@vendor.example")
    acme = world.customer(code="ACME")
    main_user = portal.profiles.create_from(world.staff, presets.SERVICE_DESK_MAIN_USER)
    colleague = world.member(
        world.membership(
            customer=acme,
            profile=portal.profiles.create_from(world.staff, presets.SERVICE_DESK_USER),
        )
    )
    portal.registrations.request(
        world.vendor, email=EMAIL, first_name=FIRST, last_name=LAST, company="Acme"
    )
    portal.mail.wait()
    mailer: Any = portal.mailer
    token = re.search(
        r"token=([A-Za-z0-9_-]+)", mailer.outbox[-1].get_body(("plain",)).get_content()
    )
    assert token
    portal.registrations.confirm(world.vendor, token.group(1))
    (pending,) = portal.registrations.list(world.staff)
    membership = portal.registrations.approve(
        world.staff, pending, customer=acme, profile=main_user, username=USERNAME
    )
    portal.credentials.set_password(
        world.system, membership, "a long one of hers", must_change=False
    )
    person = world.member(membership)
    # The person follows a colleague's ticket and writes on it, signing with its names.
    ticket = portal.tickets.create(colleague, subject="Printer offline", text="Since 9:00")
    portal.tickets.follow(person, ticket)
    portal.tickets.comment(person, ticket, f"Same here. {FIRST} {LAST} ({EMAIL})")
    portal.mail.wait()
    account = str(membership.account_id)
    for word in (EMAIL, FIRST, LAST, account):
        assert _raw_hits(path, word), word

    report = portal.retention.erase_person(_erase_staff(world), contact=membership.contact_id)

    assert report.comments == 1
    portal.mail.wait()
    # The ticket and the conversation stay, with the pseudonym where the person was.
    (comment,) = portal.tickets.comments(colleague, ticket)
    p = report.pseudonym
    assert comment.author == f"member:{p}" and comment.text == f"Same here. {p} ({p})"
    assert portal.tickets.get(colleague, ticket).followers == {colleague.account_id}
    portal.close()
    for word in (EMAIL, FIRST, LAST, USERNAME, account):
        assert _raw_hits(path, word) == [], word


def test_a_person_with_a_second_factor_is_erased_with_it(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'erase.db'}")
    storage.upgrade_schema()
    portal = Portal(storage, MemoryMailer(), clock=FixedClock())
    world = mail_world(portal)
    membership = login_with_password(world)
    member = world.member(membership)
    enrolment = portal.second_factor.begin(member, password=GOOD)
    portal.second_factor.confirm(member, _totp(enrolment.secret, portal.clock.now()))
    assert portal.second_factor.enabled(world.staff, membership.account_id)

    portal.retention.erase_person(_erase_staff(world), account=membership.account_id)

    with portal.transaction(read_only=True) as uow:
        assert (
            uow.second_factors.get_by(world.vendor.id, "account_id", membership.account_id) is None
        )
    portal.close()


def _totp(secret: str, when: Any) -> str:
    """RFC 6238 with SHA-1, six digits, 30-second steps, by hand."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(when.timestamp()) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 1_000_000).zfill(6)


def _raw_hits(path: Path, word: str) -> list[str]:
    """The tables of the SQLite file where ``word`` appears in any column, ignoring case."""
    hits = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                if word.lower() in repr(row).lower():
                    hits.append(table)
                    break
    return hits


def test_a_person_named_in_business_records_is_refused(world: World) -> None:
    portal = world.portal
    filer = world.membership(profile=world.profile(capabilities={"tickets.create"}))
    portal.tickets.create(world.member(filer), subject="Printer", text="It jams.")
    before = portal.audit.list(world.system)
    with pytest.raises(Conflict, match="business records"):
        portal.retention.erase_person(_erase_staff(world), account=filer.account_id)
    assert portal.memberships.get(world.staff, filer.id) == filer
    assert portal.audit.list(world.system) == before


def test_a_main_account_with_extras_is_refused(world: World) -> None:
    portal = world.portal
    acme = world.customer()
    main = world.membership(customer=acme, kind="main")
    world.membership(customer=acme, kind="extra")
    with pytest.raises(Conflict, match="main account"):
        portal.retention.erase_person(_erase_staff(world), account=main.account_id)


def test_another_vendors_person_is_not_found(world: World) -> None:
    other = World(world.portal, vendor_code="other-vendor")
    theirs = other.membership()
    with pytest.raises(NotFound):
        world.portal.retention.erase_person(_erase_staff(world), account=theirs.account_id)
    with pytest.raises(NotFound):
        world.portal.retention.erase_person(_erase_staff(world), contact=theirs.contact_id)
    assert other.portal.accounts.get(other.staff, theirs.account_id).id == theirs.account_id


@pytest.mark.parametrize(
    "arguments",
    [{}, {"account": "x", "contact": "y"}, {"account": "not an id"}, {"account": 1}],
)
def test_erasure_needs_one_person(world: World, arguments: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        world.portal.retention.erase_person(_erase_staff(world), **arguments)


def test_a_dry_run_flag_must_be_a_flag(world: World) -> None:
    with pytest.raises(ValidationError):
        world.portal.retention.prune(world.system, dry_run="yes")  # type: ignore[arg-type]


# -- the command line -------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``portalkit`` command in a subprocess, on the SQLite file of ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    # This portalkit, wherever the test runs from (a relative PYTHONPATH would not reach).
    env["PYTHONPATH"] = str(Path(portalkit.__file__).parent.parent)
    env |= {
        "PORTALKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PORTALKIT_MAIL_FROM": "portal@vendor.example",
        "PORTALKIT_MAIL_BACKEND": "memory",
        "PORTALKIT_MAIL_ENCRYPTION_KEY": MAIL_KEY,
    }
    return subprocess.run(
        [sys.executable, "-m", "portalkit", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cli_portal(tmp_path: Path) -> tuple[Portal, World]:
    settings = PortalSettings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'cli.db'}",
        mail_from="portal@vendor.example",
        mail_backend="memory",
        mail_encryption_key=MAIL_KEY,
    )
    portal = Portal.from_settings(settings)
    world = World.__new__(World)
    world.portal, world.vendor = portal, portal.default_vendor()
    world.staff = world.staff_holding(*LEGACY)
    world.system = portalkit.System(vendor_id=world.vendor.id)
    return portal, world


def test_the_cli_prunes_and_erases_as_a_named_operator(tmp_path: Path) -> None:
    portal, world = _cli_portal(tmp_path)
    _person(world)
    filer = world.membership(profile=world.profile(capabilities={"tickets.create"}))
    portal.tickets.create(world.member(filer), subject="Printer", text="It jams.")
    filer_name = portal.accounts.get(world.staff, filer.account_id).username
    portal.close()

    pruned = _cli(tmp_path, "db", "prune", "--dry-run", "--json", "--operator", "jdoe")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout) == {
        "tokens": 0,
        "throttles": 0,
        "outbox": 0,
        "sso_attempts": 0,
        "sessions": 0,
        "dry_run": True,
    }
    assert _cli(tmp_path, "db", "prune", "--operator", "jdoe").returncode == 0
    assert _cli(tmp_path, "db", "prune").returncode == ExitCode.USAGE  # who runs it?

    unconfirmed = _cli(tmp_path, "member", "erase", USERNAME, "--operator", "jdoe")
    assert unconfirmed.returncode == ExitCode.USAGE and unconfirmed.stdout == ""
    dry = _cli(tmp_path, "member", "erase", USERNAME, "--dry-run", "--json", "--operator", "jdoe")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True
    assert _raw_hits(tmp_path / "cli.db", EMAIL)
    done = _cli(tmp_path, "member", "erase", USERNAME, "--yes", "--json", "--operator", "jdoe")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["accounts"], report["contacts"], report["memberships"]) == (1, 1, 1)
    for word in (EMAIL, FIRST, LAST, USERNAME):
        assert _raw_hits(tmp_path / "cli.db", word) == [], word

    refused = _cli(tmp_path, "member", "erase", filer_name, "--yes", "--operator", "jdoe")
    assert refused.returncode == ExitCode.REFUSED and refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1 and "business records" in refused.stderr
    missing = _cli(tmp_path, "member", "erase", USERNAME, "--yes", "--operator", "jdoe")
    assert missing.returncode == ExitCode.REFUSED

    portal, world = _cli_portal(tmp_path)
    events = [e for e in portal.audit.list(world.system) if e.action == "person_erased"]
    assert [e.real_actor for e in events] == ["system:operator jdoe (portalkit command line)"]
    portal.close()


def test_erasure_takes_the_persons_cart_and_refuses_once_it_ordered(world: World) -> None:
    portal = world.portal
    acme = world.customer(
        settings={"show_prices": True, "shop_enabled": True},
        addresses=[Address("Kade 1", "3011 AA", "Rotterdam", "NL", default_delivery=True)],
    )
    toner = portal.catalogue.create_item(
        world.staff, sku="TN-1", name="Toner", list_price=Decimal("9.50"), currency="EUR"
    )
    portal.assortments.set(world.staff, acme, mode="all")
    buyer = world.profile(capabilities={"shop.order", "prices.view", "orders.view"})
    shopper, orderer = (world.membership(customer=acme, profile=buyer) for _ in range(2))
    portal.cart.set(world.member(shopper), toner, 2)
    portal.cart.set(world.member(orderer), toner, 1)
    portal.cart.checkout(world.member(orderer))

    report = portal.retention.erase_person(_erase_staff(world), account=shopper.account_id)
    assert report.carts == 1
    with portal.transaction(read_only=True) as uow:
        assert uow.carts.list(world.vendor.id, where={"membership_id": shopper.id}) == []
    with pytest.raises(Conflict, match="business records"):
        portal.retention.erase_person(_erase_staff(world), contact=orderer.contact_id)


def test_a_dry_run_runs_outside_a_callers_transaction(world: World) -> None:
    with pytest.raises(PortalError, match="dry run"), world.portal.transaction():
        world.portal.retention.prune(world.system, dry_run=True)


# -- red team pass 7: an erasure touches the person's own entries and records only ---------
def test_an_erasure_leaves_other_actors_and_ids_in_the_log(world: World) -> None:
    """A username is text anyone making a login picks: named like the employee who made it,
    like another login's id, or "member", it must not rewrite other people's entries."""
    portal = world.portal
    clerk = world.staff_holding("customers.provision", "logins.manage", user_id="clerk-7")
    customer = portal.customers.create(clerk, code="EV1", name="Evidence")
    bystander = world.membership(customer)
    auditor = world.staff_holding("audit.read")
    for name in ("clerk-7", str(bystander.id), "member"):
        throwaway = portal.accounts.create(clerk, username=name, email=f"t{len(name)}@x.example")
        before = portal.audit.list(auditor, limit=1000)
        portal.retention.erase_person(_erase_staff(world), account=throwaway)
        after = {e.id: e for e in portal.audit.list(auditor, limit=1000)}
        for event in before:
            kept = after[event.id]
            assert (kept.real_actor, kept.effective_actor) == (
                event.real_actor,
                event.effective_actor,
            ), name
            if str(throwaway.id) not in repr(event):
                assert kept == event, (name, event.action)
        assert any(str(bystander.id) in repr(e) for e in after.values())


def test_erasing_a_contact_takes_no_one_else_along(world: World) -> None:
    """A customer admin types a contact's address and may attach an existing account to a
    new contact: erasing that contact must spare the other person's links, mail and
    account."""
    world = mail_world(world.portal)
    portal = world.portal
    acme, other = world.customer(), world.customer()
    bob = world.membership(other)
    planted = portal.contacts.create(
        world.staff, customer=acme, first_name="Carol", last_name="X", email="carol@other.example"
    )
    carol = world.membership(
        other, account=world.account(email="carol@other.example"), status="invited"
    )
    portal.credentials.invite(world.staff, carol)

    def carols() -> tuple[int, int]:
        with portal.transaction(read_only=True) as uow:
            links = uow.tokens.list(world.vendor.id, where={"account_id": carol.account_id})
            mail = uow.outbox.list(world.vendor.id, where={"to": "carol@other.example"})
        return len(links), len(mail)

    assert carols() == (1, 1)
    portal.retention.erase_person(_erase_staff(world), contact=planted)
    assert carols() == (1, 1)
    assert portal.accounts.get(world.system, carol.account_id)
    # Bob's account given a login as a contact of acme: erasing that contact is refused.
    shared = portal.contacts.create(world.staff, customer=acme, first_name="B", last_name="Y")
    portal.memberships.create(world.staff, customer=acme, account=bob.account_id, contact=shared)
    with pytest.raises(Conflict, match="erase the account"):
        portal.retention.erase_person(_erase_staff(world), contact=shared)
    assert portal.memberships.list(world.system, account=bob.account_id)
