"""Provisioning a customer as one run of visible steps, all or nothing (issue 14, item 1).

A failure forced at each step — bad input, a taken admin username, a bad logo, a broken mail
template, a storage error at every statement in turn — leaves storage exactly as it was (a
dump of every table, or of the memory backend's whole state, before and after), and the
progress callback saw the steps in order, the failing one marked failed and none run after it.

Copying settings and branding belong to services that land later; the stand-ins below have
their protocols' methods and write through the public services, so that what they write is
part of the run's one transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from portalkit import STAFF_PERMISSIONS, Portal, PortalSettings, Staff, System
from portalkit.actors import Actor, Member
from portalkit.clock import FixedClock
from portalkit.customers.model import Customer
from portalkit.errors import (
    ConfigurationError,
    Conflict,
    NotFound,
    PermissionDenied,
    PortalError,
    StorageError,
    ValidationError,
)
from portalkit.mail import MemoryMailer
from portalkit.memberships.model import MembershipKind, MembershipStatus
from portalkit.provisioning import (
    STEPS,
    AdminRequest,
    LocationRequest,
    ProvisioningFailed,
    ProvisionRequest,
    Step,
    StepName,
    StepStatus,
)
from portalkit.storage.base import Storage
from portalkit.storage.memory import MemoryStorage

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class Copier:
    """Stands in for ``portal.copying``: copies the source's settings onto the target."""

    def __init__(self, portal: Portal, *, fail: bool = False) -> None:
        self.portal = portal
        self.fail = fail
        self.checked: list[tuple[str, Any]] = []

    def check(self, actor: Actor, *, source: Customer, parts: Any = None) -> None:
        if parts is not None and "nonsense" in parts:
            raise ValidationError.single("copy_parts", "unknown", "is not a part")
        self.checked.append((source.code, parts))

    def copy(self, actor: Actor, *, source: Customer, target: Customer, parts: Any = None) -> None:
        self.portal.customers.update(actor, target, settings=source.settings)
        if self.fail:
            raise Conflict("copy", "the copy clashed")


class Brander:
    """Stands in for ``portal.branding``: refuses what is not a PNG, stores a template name."""

    def __init__(self, portal: Portal, *, fail: bool = False) -> None:
        self.portal = portal
        self.fail = fail

    def check(self, *, logo: Any, email_logo: Any, size_instructions: Any) -> None:
        for name, data in (("logo", logo), ("email_logo", email_logo)):
            if data is not None and not data.startswith(b"\x89PNG"):
                raise ValidationError.single(name, "not_image", "is not a PNG or JPEG image")

    def store(self, actor: Actor, customer: Customer, **files: Any) -> Customer:
        saved = self.portal.customers.update(actor, customer, branding={"template": "branded"})
        if self.fail:
            raise StorageError("the asset store is full")
        return saved


def _portal(storage: Storage, templates: Path | None = None) -> Portal:
    settings = PortalSettings(
        mail_encryption_key=Fernet.generate_key().decode(),
        # Delivery after the commit is a transaction of its own; only the run counts here.
        mail_send_after_commit=False,
        mail_templates=str(templates or ""),
    )
    return Portal(storage, MemoryMailer(), settings=settings, clock=FixedClock())


@pytest.fixture
def portal(storage: Storage) -> Portal:
    return _portal(storage)


@pytest.fixture
def staff(portal: Portal) -> Staff:
    return Staff(
        vendor_id=portal.vendors.create(System(), code="v", name="V").id,
        user_id="op",
        permissions=STAFF_PERMISSIONS,
    )


def _request(**changes: Any) -> ProvisionRequest:
    fields: dict[str, Any] = {
        "code": "ACME",
        "name": "Acme Workwear B.V.",
        "erp_reference": "D-1001",
        "addresses": [
            {"street": "Kade 1", "postal_code": "1011 AA", "city": "Amsterdam", "country": "nl"}
        ],
        "locations": [
            {"name": "Depot", "code": "DEP"},
            LocationRequest(
                name="Office", address={"street": "Weg 2", "postal_code": "1012", "city": "A"}
            ),
        ],
        "admin": AdminRequest(username="acme-admin", email="it@acme.example"),
        **changes,
    }
    return ProvisionRequest(**fields)


def dump(portal: Portal) -> Any:
    """Every stored row (SQL) or the memory backend's whole state, comparable with ==."""
    storage = portal.storage
    if isinstance(storage, MemoryStorage):
        tables = storage._tables
        return (
            {name: dict(rows) for name, rows in tables.rows.items()},
            {name: dict(keys) for name, keys in tables.keys.items()},
            dict(tables.throttles),
            dict(tables.counters),
        )
    engine = storage.engine  # type: ignore[attr-defined]
    metadata = storage.schema.metadata  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in metadata.sorted_tables
        }


def _seen(steps: list[Step]) -> list[tuple[str, str]]:
    return [(s.name.value, s.status.value) for s in steps if s.status is not StepStatus.WAITING]


def _check_stopped_at(steps: list[Step], failed: StepName) -> None:
    """The steps came in order; the failing one is marked failed and none ran after it."""
    assert [s.name for s in steps[: len(STEPS)]] == list(STEPS)
    assert all(s.status is StepStatus.WAITING for s in steps[: len(STEPS)])
    moved = [s for s in steps[len(STEPS) :]]
    order = [STEPS.index(s.name) for s in moved]
    assert order == sorted(order), "steps reported out of order"
    assert moved[-1].name is failed and moved[-1].status is StepStatus.FAILED
    assert moved[-1].error
    assert all(STEPS.index(s.name) <= STEPS.index(failed) for s in moved)
    for s in moved[:-1]:
        assert s.status is not StepStatus.FAILED


# -- a run that works -------------------------------------------------------------------------


def test_provisioning_creates_the_customer_its_sites_admin_and_invitation(
    portal: Portal, staff: Staff
) -> None:
    parent = portal.customers.create(staff, code="GROUP", name="Group")
    steps: list[Step] = []
    summary = portal.provisioning.provision(staff, _request(parent="GROUP"), progress=steps.append)

    assert not summary.dry_run
    customer = portal.customers.get_by_code(staff, "ACME")
    assert customer == summary.customer
    assert customer.parent_id == parent.id and customer.erp_reference == "D-1001"
    assert [a.city for a in customer.addresses] == ["Amsterdam"]
    sites = portal.locations.list(staff, customer=customer)
    assert sorted(s.name for s in sites) == ["Depot", "Office"]
    assert {s.id for s in summary.locations} == {s.id for s in sites}
    admin = portal.accounts.get_by_username(staff, "acme-admin")
    assert summary.admin == admin
    membership = portal.memberships.get(staff, summary.admin_membership.id)  # type: ignore[union-attr]
    assert membership.kind is MembershipKind.MAIN
    assert membership.status is MembershipStatus.INVITED
    profile = portal.profiles.get(staff, membership.profile_id)  # type: ignore[arg-type]
    assert profile.name == "Customer admin" and "members.manage" in profile.capabilities
    assert summary.profile_created
    mail = portal.mail.list(staff)
    assert [(m.kind, m.to) for m in mail] == [("invitation", "it@acme.example")]
    assert summary.invitation is not None and summary.invitation.email == "it@acme.example"
    assert _seen(steps) == [
        ("validate", "running"),
        ("validate", "done"),
        ("customer", "running"),
        ("customer", "done"),
        ("copy_settings", "skipped"),
        ("branding", "skipped"),
        ("admin", "running"),
        ("admin", "done"),
        ("invitation", "running"),
        ("invitation", "done"),
        ("summary", "running"),
        ("summary", "done"),
    ]
    assert [s.status for s in summary.steps] == [
        StepStatus.DONE,
        StepStatus.DONE,
        StepStatus.SKIPPED,
        StepStatus.SKIPPED,
        StepStatus.DONE,
        StepStatus.DONE,
        StepStatus.DONE,
    ]
    events = [e for e in portal.audit.list(staff) if e.action == "customer_provisioned"]
    assert [e.real_actor for e in events] == ["staff:op"]
    assert events[0].details["admin"] == f"account:{admin.id}"


def test_a_second_customer_admin_reuses_the_vendors_admin_profile(
    portal: Portal, staff: Staff
) -> None:
    first = portal.provisioning.provision(staff, _request())
    second = portal.provisioning.provision(
        staff, _request(code="BETA", admin={"username": "beta-admin", "email": "it@beta.example"})
    )
    assert second.admin_profile == first.admin_profile
    assert not second.profile_created


def test_a_customer_without_admin_skips_the_admin_and_its_invitation(
    portal: Portal, staff: Staff
) -> None:
    summary = portal.provisioning.provision(staff, _request(admin=None, locations=()))
    assert summary.admin is None and summary.invitation is None
    assert [s.status for s in summary.steps][4:6] == [StepStatus.SKIPPED, StepStatus.SKIPPED]
    assert portal.mail.list(staff) == [] and portal.accounts.list(staff) == []


def test_copying_and_branding_run_in_the_same_transaction(portal: Portal, staff: Staff) -> None:
    portal.customers.create(staff, code="MODEL", name="Model", settings={"show_prices": False})
    copier = Copier(portal)
    portal.provisioning.copying = copier
    portal.provisioning.branding = Brander(portal)
    summary = portal.provisioning.provision(
        staff, _request(copy_from="MODEL", copy_parts=["settings"], logo=PNG)
    )
    assert copier.checked == [("MODEL", ["settings"])]
    assert summary.customer.branding.template == "branded"
    assert summary.branding == ("logo",)
    stored = portal.customers.get_by_code(staff, "ACME")
    assert stored.settings.show_prices is False and stored.branding.template == "branded"


def test_dry_run_checks_every_step_and_writes_nothing(portal: Portal, staff: Staff) -> None:
    portal.provisioning.copying = Copier(portal)
    portal.provisioning.branding = Brander(portal)
    portal.customers.create(staff, code="MODEL", name="Model")
    before = dump(portal)
    steps: list[Step] = []
    summary = portal.provisioning.provision(
        staff, _request(copy_from="MODEL", logo=PNG), progress=steps.append, dry_run=True
    )
    assert dump(portal) == before
    assert summary.dry_run and summary.customer.code == "ACME"
    assert summary.admin is not None and summary.invitation is not None
    assert all(s.status is StepStatus.DONE for s in summary.steps)
    assert portal.mail.list(staff) == []
    # The dry run finds what the real run would fail on, such as a taken code.
    with pytest.raises(ProvisioningFailed) as failed:
        portal.provisioning.provision(staff, _request(code="MODEL"), dry_run=True)
    assert failed.value.step is StepName.VALIDATE
    assert dump(portal) == before


# -- a run that fails leaves nothing ------------------------------------------------------------


def _existing_login(portal: Portal, staff: Staff) -> None:
    portal.accounts.create(staff, username="acme-admin", email="someone@else.example")


FAILURES: dict[str, tuple[dict[str, Any], StepName, type[PortalError]]] = {
    "bad code": ({"code": "not a code!"}, StepName.VALIDATE, ValidationError),
    "unknown admin field": (
        {"admin": {"username": "a", "x": 1}},
        StepName.VALIDATE,
        ValidationError,
    ),
    "unknown parent": ({"parent": "NOPE"}, StepName.VALIDATE, NotFound),
    "bad logo": ({"logo": b"just text, named .png"}, StepName.VALIDATE, ValidationError),
    "bad address": (
        {"addresses": [{"street": "Kade 1", "postal_code": "1011"}]},
        StepName.CUSTOMER,
        ValidationError,
    ),
    "bad location address": (
        {"locations": [{"name": "Depot", "address": {"street": "x"}}]},
        StepName.CUSTOMER,
        ValidationError,
    ),
    "copy clashes": ({"copy_from": "MODEL", "fail": "copy"}, StepName.COPY_SETTINGS, Conflict),
    "no copying service": (
        {"copy_from": "MODEL", "missing": "copying"},
        StepName.COPY_SETTINGS,
        ConfigurationError,
    ),
    "branding store fails": ({"logo": PNG, "fail": "branding"}, StepName.BRANDING, StorageError),
    "no branding service": (
        {"logo": PNG, "missing": "branding"},
        StepName.BRANDING,
        ConfigurationError,
    ),
    "unknown admin profile": (
        {"admin": AdminRequest(username="acme-admin", email="it@acme.example", profile="Nope")},
        StepName.ADMIN,
        NotFound,
    ),
}


@pytest.mark.parametrize("case", list(FAILURES), ids=list(FAILURES))
def test_a_failing_step_leaves_storage_as_it_was(portal: Portal, staff: Staff, case: str) -> None:
    changes, step, cause = FAILURES[case]
    changes = dict(changes)
    fail = changes.pop("fail", None)
    missing = changes.pop("missing", None)
    if missing != "copying":
        portal.provisioning.copying = Copier(portal, fail=fail == "copy")
    if missing != "branding":
        portal.provisioning.branding = Brander(portal, fail=fail == "branding")
    portal.customers.create(staff, code="MODEL", name="Model")
    before = dump(portal)
    steps: list[Step] = []
    with pytest.raises(ProvisioningFailed) as failed:
        portal.provisioning.provision(staff, _request(**changes), progress=steps.append)
    assert dump(portal) == before
    assert failed.value.step is step
    assert isinstance(failed.value.cause, cause)
    _check_stopped_at(steps, step)


def test_a_taken_admin_username_fails_and_leaves_nothing(portal: Portal, staff: Staff) -> None:
    _existing_login(portal, staff)
    before = dump(portal)
    steps: list[Step] = []
    with pytest.raises(ProvisioningFailed) as failed:
        portal.provisioning.provision(staff, _request(), progress=steps.append)
    assert dump(portal) == before
    assert failed.value.step is StepName.VALIDATE
    assert isinstance(failed.value.cause, ValidationError)
    assert failed.value.cause.field == "admin.username"
    assert "admin.username: is taken by another login" in str(failed.value)
    _check_stopped_at(steps, StepName.VALIDATE)


def test_a_broken_mail_template_fails_the_invitation_and_leaves_nothing(
    storage: Storage, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "invitation.subject.txt").write_text("Welcome {{ no_such_value }}")
    portal = _portal(storage, templates)
    staff = Staff(
        vendor_id=portal.vendors.create(System(), code="v", name="V").id,
        user_id="op",
        permissions=STAFF_PERMISSIONS,
    )
    before = dump(portal)
    steps: list[Step] = []
    with pytest.raises(ProvisioningFailed) as failed:
        portal.provisioning.provision(staff, _request(), progress=steps.append)
    assert dump(portal) == before
    assert failed.value.step is StepName.INVITATION
    _check_stopped_at(steps, StepName.INVITATION)


def test_the_failure_says_the_step_and_cause_in_the_operators_language(
    portal: Portal, staff: Staff
) -> None:
    with pytest.raises(ProvisioningFailed) as failed:
        portal.provisioning.provision(staff, _request(code="bad code!"))
    error = failed.value
    assert str(error).startswith("provisioning stopped at the step check the input: code:")
    assert error.text("nl").startswith("het aanmaken is gestopt bij de stap de invoer controleren")
    assert error.text("de").startswith("die Einrichtung wurde beim Schritt die Eingaben prüfen")


def test_a_member_cannot_provision(portal: Portal, staff: Staff) -> None:
    summary = portal.provisioning.provision(staff, _request())
    member = Member(
        vendor_id=staff.vendor_id,
        account_id=summary.admin.id,  # type: ignore[union-attr]
        membership_id=summary.admin_membership.id,  # type: ignore[union-attr]
        customer_id=summary.customer.id,
    )
    before = dump(portal)
    with pytest.raises(PermissionDenied):
        portal.provisioning.provision(member, _request(code="OTHER", admin=None))
    # Only the refusal is on record (the audit log keeps it: H1).
    after = dump(portal)
    assert portal.customers.list(staff, limit=10)[-1].code == "ACME"
    assert after != before
    assert [e.action for e in portal.audit.list(staff)][-1] == "authz_fail"


def test_a_request_that_is_no_request_is_refused(portal: Portal, staff: Staff) -> None:
    with pytest.raises(ProvisioningFailed) as failed:
        portal.provisioning.provision(staff, {"code": "ACME"})  # type: ignore[arg-type]
    assert failed.value.step is StepName.VALIDATE


# -- a storage error at every statement ---------------------------------------------------------


def _full_run(portal: Portal, staff: Staff, steps: list[Step] | None = None) -> None:
    portal.provisioning.provision(
        staff,
        _request(parent="GROUP", copy_from="MODEL", logo=PNG),
        progress=None if steps is None else steps.append,
    )


def _fault_portal(storage: Storage) -> tuple[Portal, Staff]:
    portal = _portal(storage)
    portal.provisioning.copying = Copier(portal)
    portal.provisioning.branding = Brander(portal)
    staff = Staff(
        vendor_id=portal.vendors.create(System(), code="v", name="V").id,
        user_id="op",
        permissions=STAFF_PERMISSIONS,
    )
    portal.customers.create(staff, code="GROUP", name="Group")
    portal.customers.create(staff, code="MODEL", name="Model")
    return portal, staff


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_failure_at_any_sql_statement_leaves_nothing(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from conftest import make_storage

    (tmp_path / "dry").mkdir()
    dry, dry_staff = _fault_portal(make_storage(backend, request, tmp_path / "dry"))
    engine = dry.storage.engine  # type: ignore[attr-defined]
    seen: list[int] = []

    def count(*_args: Any) -> None:
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count)
    _full_run(dry, dry_staff)
    event.remove(engine, "before_cursor_execute", count)
    dry.close()
    statements = len(seen)
    assert statements >= 15

    (tmp_path / "run").mkdir()
    portal, staff = _fault_portal(make_storage(backend, request, tmp_path / "run"))
    engine = portal.storage.engine  # type: ignore[attr-defined]
    before = dump(portal)
    stopped_at: set[StepName] = set()
    for k in range(1, statements + 1):
        calls = {"n": 0}

        def fail_at_k(*_args: Any, k: int = k, calls: dict[str, int] = calls) -> None:
            calls["n"] += 1
            if calls["n"] == k:
                raise OperationalError("injected", {}, Exception(f"statement {k}"))

        steps: list[Step] = []
        event.listen(engine, "before_cursor_execute", fail_at_k)
        try:
            with pytest.raises((ProvisioningFailed, OperationalError)) as failed:
                _full_run(portal, staff, steps)
        finally:
            event.remove(engine, "before_cursor_execute", fail_at_k)
        assert dump(portal) == before, f"rows left after a failure at statement {k}"
        if isinstance(failed.value, ProvisioningFailed):
            _check_stopped_at(steps, failed.value.step)
            stopped_at.add(failed.value.step)
    # The statements spread over the steps. The customer's rows are written when the next
    # step first reads (the SQL session flushes then), so a failure there stops that step.
    assert stopped_at >= {
        StepName.VALIDATE,
        StepName.COPY_SETTINGS,
        StepName.BRANDING,
        StepName.ADMIN,
        StepName.INVITATION,
    }
    _full_run(portal, staff)
    assert [m.kind for m in portal.mail.list(staff)] == ["invitation"]
    portal.close()


def test_a_failure_at_any_memory_operation_leaves_nothing() -> None:
    storage = MemoryStorage()
    portal, staff = _fault_portal(storage)
    before = dump(portal)
    stopped_at: set[StepName] = set()
    k = 1
    while True:
        steps: list[Step] = []
        storage.fail_after(k)
        try:
            _full_run(portal, staff, steps)
        except ProvisioningFailed as exc:
            assert dump(portal) == before, f"state left after a failure at operation {k}"
            _check_stopped_at(steps, exc.step)
            stopped_at.add(exc.step)
            k += 1
            continue
        storage.fail_after(None)
        break
    assert k > 15
    assert stopped_at >= {
        StepName.VALIDATE,
        StepName.CUSTOMER,
        StepName.COPY_SETTINGS,
        StepName.BRANDING,
        StepName.ADMIN,
        StepName.INVITATION,
    }
    assert [m.kind for m in portal.mail.list(staff)] == ["invitation"]
