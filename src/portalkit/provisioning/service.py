"""The provisioning service (``portal.provisioning``): a new customer environment as one run
of visible steps, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit.accounts.model import check_language
from portalkit.actors import Actor
from portalkit.customers.model import Address, Customer
from portalkit.errors import PortalError, Problem, ValidationError
from portalkit.presets import CUSTOMER_ADMIN
from portalkit.profiles.model import PermissionProfile
from portalkit.provisioning.model import (
    STEPS,
    AdminRequest,
    Invitation,
    LocationRequest,
    ProvisioningFailed,
    ProvisionRequest,
    ProvisionSummary,
    Step,
    StepName,
    StepStatus,
    unavailable,
)
from portalkit.staffrights import CUSTOMERS_PROVISION, LOGINS_MANAGE, PROFILES_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.accounts.service import AccountService
    from portalkit.credentials import CredentialService
    from portalkit.customers.service import ContactService, CustomerService, LocationService
    from portalkit.memberships.service import MembershipService
    from portalkit.profiles.service import ProfileService
    from portalkit.storage.base import UnitOfWork

__all__ = ["BrandingStore", "Progress", "ProvisioningService", "SettingsCopier"]

Progress = Callable[[Step], None]
"""What a run calls with each step whenever its status changes."""

_MAX_LOCATIONS = 200


class SettingsCopier(Protocol):
    """What provisioning needs of the service that copies settings between customers
    (``portal.copying``)."""

    def check(self, actor: Actor, *, source: Customer, parts: Sequence[str] | None = None) -> Any:
        """Raise PortalError if ``parts`` of ``source`` cannot be copied; write nothing."""

    def copy(
        self,
        actor: Actor,
        *,
        source: Customer,
        target: Customer,
        parts: Sequence[str] | None = None,
    ) -> Any:
        """Copy ``parts`` of ``source``'s settings to ``target``, in the caller's transaction."""


class BrandingStore(Protocol):
    """What provisioning needs of the service that checks and stores branding assets
    (``portal.branding``)."""

    def check(
        self, *, logo: bytes | None, email_logo: bytes | None, size_instructions: bytes | None
    ) -> Any:
        """Raise PortalError if a file is not what it must be; store nothing."""

    def store(
        self,
        actor: Actor,
        customer: Customer,
        *,
        logo: bytes | None = None,
        email_logo: bytes | None = None,
        size_instructions: bytes | None = None,
    ) -> Customer:
        """Store the files and point the customer's branding at them; returns the customer."""


class _DryRunDone(Exception):
    """Ends a dry run's transaction with a rollback, carrying what the run would have made."""

    def __init__(self, summary: ProvisionSummary) -> None:
        super().__init__("dry run")
        self.summary = summary


@attrs.define
class _Run:
    """The state of one run: the steps as reported, and what the steps made so far."""

    progress: Progress | None
    steps: dict[StepName, Step] = attrs.field(factory=lambda: {n: Step(n) for n in STEPS})
    current: StepName = StepName.VALIDATE
    made: dict[str, Any] = attrs.field(factory=dict)

    def set(self, name: StepName, status: StepStatus, detail: str = "", error: str = "") -> None:
        if status is not StepStatus.WAITING:
            self.current = name
        step = Step(name, status, detail, error)
        self.steps[name] = step
        if self.progress is not None:
            self.progress(step)

    def begin(self, name: StepName) -> None:
        self.set(name, StepStatus.RUNNING)

    def done(self, name: StepName, detail: str = "") -> None:
        self.set(name, StepStatus.DONE, detail)

    def skip(self, name: StepName, detail: str) -> None:
        self.set(name, StepStatus.SKIPPED, detail)


class ProvisioningService:
    """Create a customer environment — the customer with its addresses and locations, settings
    copied from another customer, branding, the customer admin and its invitation — in one
    transaction. Reached as ``portal.provisioning``.

    ``copying`` and ``branding`` are optional collaborators: without one, a request that
    asks for its step fails at that step; a request that does not ask skips it.
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        customers: CustomerService,
        locations: LocationService,
        contacts: ContactService,
        accounts: AccountService,
        memberships: MembershipService,
        profiles: ProfileService,
        credentials: CredentialService,
        copying: SettingsCopier | None = None,
        branding: BrandingStore | None = None,
    ) -> None:
        self._rt = rt
        self._customers = customers
        self._locations = locations
        self._contacts = contacts
        self._accounts = accounts
        self._memberships = memberships
        self._profiles = profiles
        self._credentials = credentials
        self.copying = copying
        self.branding = branding

    def provision(
        self,
        actor: Actor,
        request: ProvisionRequest,
        *,
        progress: Progress | None = None,
        dry_run: bool = False,
    ) -> ProvisionSummary:
        """Run every step of ``request`` in order and return the summary.

        ``progress`` is called with each :class:`Step` whenever its status changes (waiting
        → running → done, failed or skipped), in order; a web page or the command line draws
        them. All or nothing: the steps share one transaction, and a failure at any step
        leaves nothing behind and raises :class:`ProvisioningFailed` naming the step and its
        cause. ``dry_run=True`` runs every step's checks (the same calls, rolled back at the
        end; branding and copying only checked) and returns what would be created: nothing
        is written and no mail is queued.

        Example::

            summary = portal.provisioning.provision(staff, ProvisionRequest(
                code="ACME", name="Acme B.V.",
                admin=AdminRequest(username="acme-admin", email="it@acme.example")))
            summary.invitation.email    # 'it@acme.example'
        """
        require_admin(actor, CUSTOMERS_PROVISION)
        run = _Run(progress)
        for step in run.steps.values():
            run.set(step.name, StepStatus.WAITING)
        try:
            try:
                with self._rt.transaction() as uow:
                    summary = self._steps(uow, actor, request, run, dry_run)
                    run.begin(StepName.SUMMARY)
                    if dry_run:
                        raise _DryRunDone(summary)
            except _DryRunDone as done:
                run.done(StepName.SUMMARY, "dry run: nothing was written")
                return attrs.evolve(done.summary, steps=tuple(run.steps.values()))
        except PortalError as exc:
            failed = exc.cause if isinstance(exc, ProvisioningFailed) else exc
            run.set(run.current, StepStatus.FAILED, error=str(failed))
            raise ProvisioningFailed(run.current, failed) from exc
        except BaseException as exc:
            run.set(run.current, StepStatus.FAILED, error=type(exc).__name__)
            raise
        run.done(StepName.SUMMARY, f"customer {summary.customer.code} created")
        return attrs.evolve(summary, steps=tuple(run.steps.values()))

    # -- the steps ----------------------------------------------------------------------------
    def _steps(
        self, uow: UnitOfWork, actor: Actor, request: ProvisionRequest, run: _Run, dry_run: bool
    ) -> ProvisionSummary:
        run.begin(StepName.VALIDATE)
        admin, locations = self._validate(uow, actor, request)
        parent = self._customer_ref(actor, "parent", request.parent)
        source = self._customer_ref(actor, "copy_from", request.copy_from)
        # A missing collaborator fails its own step, below, so the operator sees which.
        if source is not None and self.copying is not None:
            self.copying.check(actor, source=source, parts=request.copy_parts)
        if request.wants_branding and self.branding is not None:
            self.branding.check(
                logo=request.logo,
                email_logo=request.email_logo,
                size_instructions=request.size_instructions,
            )
        run.done(StepName.VALIDATE)

        run.begin(StepName.CUSTOMER)
        customer = self._customers.create(
            actor,
            code=request.code,
            name=request.name,
            erp_reference=request.erp_reference,
            settings=request.settings,
            addresses=request.addresses,
            parent=parent,
        )
        sites = tuple(
            self._locations.create(
                actor, customer=customer, name=site.name, code=site.code, address=site.address
            )
            for site in locations
        )
        run.done(
            StepName.CUSTOMER,
            f"{customer.code}: {len(customer.addresses)} address(es), {len(sites)} location(s)",
        )

        if source is None:
            run.skip(StepName.COPY_SETTINGS, "no customer to copy from")
        else:
            run.begin(StepName.COPY_SETTINGS)
            if self.copying is None:
                raise unavailable("copy settings from another customer")
            if not dry_run:
                self.copying.copy(actor, source=source, target=customer, parts=request.copy_parts)
                # What the copy changed is in storage; the steps after it start from that.
                customer = self._customers.get(actor, customer.id)
            run.done(StepName.COPY_SETTINGS, f"from {source.code}")

        stored: tuple[str, ...] = tuple(
            name
            for name in ("logo", "email_logo", "size_instructions")
            if getattr(request, name) is not None
        )
        if not stored:
            run.skip(StepName.BRANDING, "no branding files")
        else:
            run.begin(StepName.BRANDING)
            if self.branding is None:
                raise unavailable("store branding assets")
            if not dry_run:
                customer = self.branding.store(
                    actor,
                    customer,
                    logo=request.logo,
                    email_logo=request.email_logo,
                    size_instructions=request.size_instructions,
                )
            run.done(StepName.BRANDING, ", ".join(stored))

        summary = ProvisionSummary(
            dry_run=dry_run,
            customer=customer,
            locations=sites,
            copied_from=source,
            copied_parts=tuple(request.copy_parts) if request.copy_parts is not None else None,
            branding=stored,
        )
        if admin is None:
            run.skip(StepName.ADMIN, "no customer admin asked for")
            run.skip(StepName.INVITATION, "no customer admin asked for")
            self._audit(uow, actor, summary)
            return summary
        run.begin(StepName.ADMIN)
        summary = self._admin(actor, customer, admin, summary)
        assert summary.admin is not None and summary.admin_membership is not None
        account = summary.admin
        run.done(StepName.ADMIN, account.username)

        run.begin(StepName.INVITATION)
        token = self._credentials.invite(actor, summary.admin_membership)
        summary = attrs.evolve(
            summary,
            invitation=Invitation(
                token_id=token.id, email=account.email, expires_at=token.expires_at
            ),
        )
        run.done(StepName.INVITATION, account.email)
        self._audit(uow, actor, summary)
        return summary

    def _validate(
        self, uow: UnitOfWork, actor: Actor, request: object
    ) -> tuple[AdminRequest | None, tuple[LocationRequest, ...]]:
        """The request's shape and the keys that must be free (code, admin username), all
        problems at once; each service checks its own fields again when its step runs."""
        if not isinstance(request, ProvisionRequest):
            raise ValidationError.single("request", "not_request", "must be a ProvisionRequest")
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        if request.admin is not None:
            # The admin step adds a login, and the customer-admin profile when the vendor has
            # none yet: refused before anything runs, dry run included, rather than half-way.
            require_admin(actor, LOGINS_MANAGE)
            require_admin(actor, PROFILES_MANAGE)
        problems: list[Problem] = []
        code = v.code(problems, "code", request.code)
        v.text(problems, "name", request.name)
        if code and uow.customers.get_by(vendor_id, "code", code) is not None:
            problems.append(Problem("code", "taken", "is taken by another customer"))
        locations = _locations(problems, request.locations)
        admin = _admin(problems, request.admin)
        if admin is not None:
            name = v.username(problems, "admin.username", admin.username)
            v.email(problems, "admin.email", admin.email)
            if admin.language is not None:
                said: list[Problem] = []
                check_language(said, admin.language)
                problems += [attrs.evolve(p, field="admin.language") for p in said]
            if name and uow.accounts.get_by(vendor_id, "username", name) is not None:
                problems.append(Problem("admin.username", "taken", "is taken by another login"))
        if request.copy_parts is not None and (
            isinstance(request.copy_parts, str)
            or not isinstance(request.copy_parts, Sequence)
            or not all(isinstance(p, str) for p in request.copy_parts)
        ):
            problems.append(Problem("copy_parts", "not_list", "must be a list of names"))
        for name in ("logo", "email_logo", "size_instructions"):
            if getattr(request, name) is not None and not isinstance(getattr(request, name), bytes):
                problems.append(Problem(name, "not_bytes", "must be the file's contents"))
        v.raise_if(problems)
        return admin, locations

    def _customer_ref(self, actor: Actor, field: str, ref: object) -> Customer | None:
        """The customer a request names by record, id or code (NotFound if there is none)."""
        if ref is None:
            return None
        if isinstance(ref, str):
            try:
                ref = UUID(ref)
            except ValueError:
                return self._customers.get_by_code(actor, str(ref))
        if not isinstance(ref, Customer | UUID):
            raise ValidationError.single(
                field, "not_customer", "must be a customer, its id or code"
            )
        return self._customers.get(actor, ref)

    def _admin(
        self, actor: Actor, customer: Customer, admin: AdminRequest, summary: ProvisionSummary
    ) -> ProvisionSummary:
        """The customer admin: account (its username must be free), contact, the admin
        profile and the customer's main membership, invited."""
        profile, created = self._admin_profile(actor, admin.profile)
        account = self._accounts.create(
            actor, username=admin.username, email=admin.email, language=admin.language
        )
        contact = self._contacts.create(
            actor,
            customer=customer,
            first_name=admin.first_name or admin.username,
            last_name=admin.last_name or customer.name,
            email=account.email,
        )
        membership = self._memberships.create(
            actor,
            account=account,
            customer=customer,
            contact=contact,
            kind="main",
            status="invited",
            profile=profile,
        )
        return attrs.evolve(
            summary,
            admin=account,
            admin_membership=membership,
            admin_profile=profile,
            profile_created=created,
        )

    def _admin_profile(
        self, actor: Actor, wanted: PermissionProfile | UUID | str | None
    ) -> tuple[PermissionProfile, bool]:
        if isinstance(wanted, PermissionProfile | UUID):
            return self._profiles.get(actor, wanted), False
        if wanted is not None:
            try:
                return self._profiles.get(actor, UUID(wanted)), False
            except ValueError:
                return self._profiles.get_by_name(actor, wanted), False
        found = [
            p
            for p in self._profiles.list(actor, limit=1000)
            if p.name.casefold() == CUSTOMER_ADMIN.name.casefold()
        ]
        if found:
            return found[0], False
        return self._profiles.create_from(actor, CUSTOMER_ADMIN), True

    def _audit(self, uow: UnitOfWork, actor: Actor, summary: ProvisionSummary) -> None:
        customer = summary.customer
        self._rt.record(
            uow,
            vendor_id=customer.vendor_id,
            action="customer_provisioned",
            real=actor,
            customer_id=customer.id,
            target=f"customer:{customer.id}",
            locations=len(summary.locations),
            copied_from=str(summary.copied_from.id) if summary.copied_from else None,
            branding=list(summary.branding),
            admin=f"account:{summary.admin.id}" if summary.admin else None,
        )


def _locations(problems: list[Problem], value: object) -> tuple[LocationRequest, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        problems.append(Problem("locations", "not_list", "must be a list of locations"))
        return ()
    if len(value) > _MAX_LOCATIONS:
        problems.append(
            Problem("locations", "too_many", "may hold at most {limit}", {"limit": _MAX_LOCATIONS})
        )
        return ()
    found: list[LocationRequest] = []
    for i, item in enumerate(value):
        field = f"locations[{i}]"
        if isinstance(item, Mapping):
            unknown = sorted(str(k) for k in item if k not in ("name", "code", "address"))
            for key in unknown:
                problems.append(
                    Problem(f"{field}.{key}", "unknown_field", "is not a location field")
                )
            if unknown:
                continue
            item = LocationRequest(**item)
        if not isinstance(item, LocationRequest):
            problems.append(Problem(field, "not_mapping", "must be a location or a mapping"))
            continue
        name = v.text(problems, f"{field}.name", item.name)
        if item.code not in (None, ""):
            v.code(problems, f"{field}.code", item.code)
        if item.address is not None and not isinstance(item.address, Address | Mapping):
            problems.append(
                Problem(f"{field}.address", "not_mapping", "must be an Address or a mapping")
            )
        if name:
            found.append(item)
    return tuple(found)


def _admin(problems: list[Problem], value: object) -> AdminRequest | None:
    if value is None or isinstance(value, AdminRequest):
        return value
    if not isinstance(value, Mapping):
        problems.append(Problem("admin", "not_mapping", "must be an AdminRequest or a mapping"))
        return None
    known = {f.name for f in attrs.fields(AdminRequest)}
    unknown = sorted(str(k) for k in value if k not in known)
    for key in unknown:
        problems.append(Problem(f"admin.{key}", "unknown_field", "is not a customer admin field"))
    missing = [k for k in ("username", "email") if value.get(k) is None]
    for key in missing:
        problems.append(Problem(f"admin.{key}", "required", "is required"))
    if unknown or missing:
        return None
    return AdminRequest(**value)
