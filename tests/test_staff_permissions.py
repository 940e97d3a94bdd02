"""Staff permissions (issue 14, item 6): each staff-only call needs the vendor-side right it
names; an employee without it is refused, one with it may, and unknown names fail closed."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import (
    STAFF_PERMISSIONS,
    Member,
    PermissionDenied,
    Portal,
    PortalSettings,
    Staff,
    ValidationError,
    presets,
)
from portalkit.provisioning.model import AdminRequest, ProvisioningFailed, ProvisionRequest
from portalkit.staffrights import (
    ACCESS_REVIEW,
    AUDIT_READ,
    CUSTOMERS_PROVISION,
    DATA_EXPORT,
    DATA_IMPORT,
    IMPERSONATE,
    INBOX_WORK,
    LEGACY,
    LOGINS_MANAGE,
    PROFILES_MANAGE,
    WHAT_EACH_ALLOWS,
)
from portalkit.testing import World

CUSTOMERS_CSV = "code,name\nIMP-1,Imported B.V.\n"

# One representative call per permission: (permission, call(portal, world, actor)).
CALLS: dict[str, Callable[[Portal, World, Staff], Any]] = {
    CUSTOMERS_PROVISION: lambda p, w, a: p.customers.create(a, code="NEW", name="New B.V."),
    PROFILES_MANAGE: lambda p, w, a: p.profiles.create(a, name="Reader"),
    AUDIT_READ: lambda p, w, a: p.audit.list(a),
    ACCESS_REVIEW: lambda p, w, a: p.review.rows(a),
    INBOX_WORK: lambda p, w, a: p.inbox.list(a),
    DATA_EXPORT: lambda p, w, a: list(p.exports.lines(a, "customers")),
    DATA_IMPORT: lambda p, w, a: p.imports.load(
        a, "customers", io.StringIO(CUSTOMERS_CSV), dry_run=True
    ),
}


@pytest.mark.parametrize("permission", sorted(CALLS))
def test_a_staff_only_call_needs_its_permission(world: World, permission: str) -> None:
    call = CALLS[permission]
    others = world.staff_holding(*(STAFF_PERMISSIONS - {permission}))
    with pytest.raises(PermissionDenied, match=permission.replace(".", r"\.")):
        call(world.portal, world, others)
    # The data import also creates the customers it reads, which is provisioning.
    extra = {CUSTOMERS_PROVISION} if permission == DATA_IMPORT else set()
    call(world.portal, world, world.staff_holding(permission, *extra))


def test_an_employee_with_no_permissions_may_do_nothing_staff_only(world: World) -> None:
    nobody = world.staff_holding()
    for permission, call in CALLS.items():
        with pytest.raises(PermissionDenied):
            call(world.portal, world, nobody)
        assert permission in WHAT_EACH_ALLOWS
    # Each refusal is on record, as every refused portalkit call is.
    refusals = [e for e in world.portal.audit.list(world.system) if e.action == "authz_fail"]
    assert len(refusals) >= len(CALLS)


def test_a_vendor_system_actor_holds_every_permission(world: World) -> None:
    for call in CALLS.values():
        call(world.portal, world, world.system)  # type: ignore[arg-type]


def test_viewing_as_a_customer_needs_impersonate(world: World) -> None:
    profile = world.portal.profiles.create_from(world.staff, presets.TRANSPORT_LIMITED)
    membership = world.membership(world.customer(), profile=profile)
    with pytest.raises(PermissionDenied):
        world.portal.access.view_as(world.staff_holding(*LEGACY), membership, reason="t 1")
    seen = world.portal.access.view_as(
        world.staff_holding(IMPERSONATE), membership, reason="ticket 1"
    )
    assert isinstance(seen, Member)


def test_setting_a_members_password_needs_impersonate_too() -> None:
    """Whoever knows a member's password can log in as it, past view-as's limits: an
    employee managing logins without ``impersonate`` sends a link instead."""
    world = World(
        Portal(settings=PortalSettings(mail_encryption_key=Fernet.generate_key().decode()))
    )
    membership = world.membership(world.customer())
    clerk = world.staff_holding(*LEGACY)  # logins.manage among them
    with pytest.raises(PermissionDenied, match="impersonate"):
        world.portal.credentials.set_password(clerk, membership, "a long enough passphrase 1")
    with pytest.raises(PermissionDenied, match="impersonate"):
        world.portal.credentials.set_password(clerk, membership, send=True)
    account = world.portal.accounts.get(world.system, membership.account_id)
    assert account.password_hash is None and world.portal.mail.list(world.system) == []
    world.portal.credentials.invite(clerk, membership)  # the member chooses its own
    assert len(world.portal.mail.list(world.system)) == 1
    with pytest.raises(PermissionDenied, match=r"logins\.manage"):
        world.portal.credentials.set_password(
            world.staff_holding(IMPERSONATE), membership, "a long enough passphrase 1"
        )
    trusted = world.staff_holding(LOGINS_MANAGE, IMPERSONATE)
    world.portal.credentials.set_password(trusted, membership, "a long enough passphrase 1")
    account = world.portal.accounts.get(world.system, membership.account_id)
    assert account.password_hash is not None


@pytest.mark.parametrize(
    "permissions",
    [
        {"customers.provison"},
        {"CUSTOMERS.PROVISION"},
        {"*"},
        "customers.provision",
        {1},
        None,
        {type("Name", (str,), {})("impersonate")},
    ],
)
def test_an_unknown_permission_or_shape_fails_closed(world: World, permissions: Any) -> None:
    with pytest.raises(ValidationError):
        Staff(vendor_id=world.vendor.id, user_id="x", permissions=permissions)


def test_provisioning_with_an_admin_needs_logins_and_profiles_before_any_step() -> None:
    world = World(
        Portal(settings=PortalSettings(mail_encryption_key=Fernet.generate_key().decode()))
    )
    request = ProvisionRequest(
        code="ACME",
        name="Acme B.V.",
        admin=AdminRequest(username="acme-admin", email="it@acme.example"),
    )
    for held, missing in (
        ({CUSTOMERS_PROVISION}, "logins.manage"),
        ({CUSTOMERS_PROVISION, LOGINS_MANAGE}, "profiles.manage"),
    ):
        for dry_run in (True, False):
            with pytest.raises(ProvisioningFailed, match=missing.replace(".", r"\.")) as failed:
                world.portal.provisioning.provision(
                    world.staff_holding(*held), request, dry_run=dry_run
                )
            assert failed.value.step == "validate"
            assert isinstance(failed.value.cause, PermissionDenied)
    assert world.portal.customers.list(world.system) == []
    summary = world.portal.provisioning.provision(
        world.staff_holding(CUSTOMERS_PROVISION, LOGINS_MANAGE, PROFILES_MANAGE),
        request,
        dry_run=True,
    )
    assert summary.customer.code == "ACME"


def test_the_legacy_opt_in_gives_an_employee_without_permissions_all_but_impersonate() -> None:
    portal = Portal(settings=PortalSettings(staff_permissions="legacy"))
    world = World(portal)
    unset = Staff(vendor_id=world.vendor.id, user_id="old-style")
    portal.customers.create(unset, code="OLD", name="Old B.V.")
    profile = portal.profiles.create_from(world.staff, presets.TRANSPORT_LIMITED)
    membership = world.membership(world.customer(), profile=profile)
    with pytest.raises(PermissionDenied):
        portal.access.view_as(unset, membership, reason="ticket 2")
    # An employee given some permissions holds just those, legacy or not.
    desk = world.staff_holding(INBOX_WORK)
    with pytest.raises(PermissionDenied):
        portal.customers.create(desk, code="NOPE", name="Nope B.V.")


def test_without_the_opt_in_an_employee_without_permissions_is_refused() -> None:
    portal = Portal()
    world = World(portal)
    with pytest.raises(PermissionDenied):
        portal.customers.create(
            Staff(vendor_id=world.vendor.id, user_id="old-style"), code="OLD", name="Old B.V."
        )


def test_tickets_and_inbox_items_need_inbox_work_on_every_staff_path() -> None:
    settings = PortalSettings(mail_encryption_key=Fernet.generate_key().decode())
    world = World(Portal(settings=settings))
    portal = world.portal
    user = portal.profiles.create_from(world.staff, presets.SERVICE_DESK_USER)
    anna = world.member(world.membership(world.customer(), profile=user))
    ticket = portal.tickets.create(anna, subject="Printer offline", text="See the log")
    (item,) = portal.inbox.list(world.staff)
    portal.inbox.comment(world.staff, item, "credit hold: do not ship", internal=True)
    others = world.staff_holding(*(STAFF_PERMISSIONS - {INBOX_WORK}))
    refused: dict[str, Callable[[], Any]] = {
        "tickets.list": lambda: portal.tickets.list(others),
        "tickets.get": lambda: portal.tickets.get(others, ticket),
        "tickets.comments": lambda: portal.tickets.comments(others, ticket),
        "tickets.comment": lambda: portal.tickets.comment(others, ticket, "hello"),
        "tickets.close": lambda: portal.tickets.close(others, ticket),
        "tickets.attachments": lambda: portal.tickets.attachments(others, ticket),
        "inbox.get": lambda: portal.inbox.get(others, item),
        "inbox.comments": lambda: portal.inbox.comments(others, item),
        "work_requests.list": lambda: portal.work_requests.list(others),
    }
    for name, call in refused.items():
        with pytest.raises(PermissionDenied, match=r"inbox\.work"):
            call()
        assert name
    desk = world.staff_holding(INBOX_WORK)
    assert portal.tickets.get(desk, ticket).id == ticket.id
    assert len(portal.inbox.comments(desk, item)) == 1
    assert portal.tickets.close(desk, ticket).status == "done"


def test_moving_the_email_of_a_login_with_a_password_needs_impersonate_too(world: World) -> None:
    """Red team: an employee without ``impersonate`` moved a member's login e-mail to its own
    address and asked for a reset — a way in as the member, as setting its password is."""
    membership = world.membership(world.customer())
    world.portal.credentials.set_password(
        world.system, membership, "a long enough passphrase 1", must_change=False
    )
    clerk = world.staff_holding(*LEGACY)  # logins.manage among them
    before = world.portal.accounts.get(world.system, membership.account_id)
    with pytest.raises(PermissionDenied, match="impersonate"):
        world.portal.accounts.update(clerk, before, email="clerk@attacker.example")
    after = world.portal.accounts.get(world.system, membership.account_id)
    assert after.email == before.email and after.version == before.version
    # The language, or the username, is still theirs to change; so is a login with no password.
    world.portal.accounts.update(clerk, after, language="de")
    fresh = world.membership(world.customer())
    moved = world.portal.accounts.update(
        clerk, fresh.account_id, email="typo.fixed@customer.example"
    )
    assert moved.email == "typo.fixed@customer.example"
    trusted = world.staff_holding(LOGINS_MANAGE, IMPERSONATE)
    world.portal.accounts.update(trusted, membership.account_id, email="new@customer.example")
