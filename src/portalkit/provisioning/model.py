"""What a provisioning run is made of: the request, its steps with their status, the summary,
and the error that says which step failed."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from portalkit.accounts.model import Account
from portalkit.customers.model import Address, Customer, CustomerSettings, Location
from portalkit.errors import ConfigurationError, Message, PortalError
from portalkit.memberships.model import Membership
from portalkit.profiles.model import PermissionProfile

__all__ = [
    "STEPS",
    "AdminRequest",
    "Invitation",
    "LocationRequest",
    "ProvisionRequest",
    "ProvisionSummary",
    "ProvisioningFailed",
    "Step",
    "StepName",
    "StepStatus",
]


def _(message: str) -> str:
    # Marks a msgid for the catalogs; translated when a message that names it is shown.
    return message


class StepName(enum.StrEnum):
    """The steps of a provisioning run, in the order they run (:data:`STEPS`)."""

    VALIDATE = "validate"
    CUSTOMER = "customer"
    COPY_SETTINGS = "copy_settings"
    BRANDING = "branding"
    ADMIN = "admin"
    INVITATION = "invitation"
    SUMMARY = "summary"


STEPS: tuple[StepName, ...] = tuple(StepName)
"""Every step, in the order a run reports them."""

# What each step is called in a sentence (msgids: translated with the message they are in).
LABELS: Mapping[StepName, str] = {
    StepName.VALIDATE: _("check the input"),
    StepName.CUSTOMER: _("create the customer, its addresses and locations"),
    StepName.COPY_SETTINGS: _("copy settings from another customer"),
    StepName.BRANDING: _("store the branding assets"),
    StepName.ADMIN: _("create the customer admin"),
    StepName.INVITATION: _("invite the customer admin"),
    StepName.SUMMARY: _("summary"),
}


class StepStatus(enum.StrEnum):
    """Where a step is: not yet begun, under way, finished, stopped by an error, or not
    needed by this request."""

    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@attrs.frozen
class Step:
    """One step as the progress callback sees it: its name, its status, a line on what it did
    (or why it was skipped) and, when failed, the error's sentence."""

    name: StepName
    status: StepStatus = StepStatus.WAITING
    detail: str = ""
    error: str = ""

    @property
    def label(self) -> str:
        """The step's name for people, in English (``Message`` translates it)."""
        return LABELS[self.name]


@attrs.frozen
class LocationRequest:
    """A site to create with the customer: its name, an optional code and address."""

    name: str
    code: str | None = None
    address: Address | Mapping[str, Any] | None = None


@attrs.frozen
class AdminRequest:
    """The customer admin ("klantadmin") to create and invite.

    ``username`` must be free in the vendor: a taken one fails the run (never a silent
    variant), since the operator tells the admin this name. The contact is named
    ``first_name``/``last_name`` (default: the username and the customer's name). ``profile``
    is the admin's permission profile; by default the vendor's profile named after
    :data:`portalkit.presets.CUSTOMER_ADMIN` ("Customer admin"), created from that preset when
    the vendor has none yet.
    """

    username: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    profile: PermissionProfile | UUID | str | None = None


@attrs.frozen
class ProvisionRequest:
    """Everything the create-customer screen asks for, in one record.

    ``parent`` and ``copy_from`` name a customer by record, id or code. ``copy_parts`` picks
    what to copy from ``copy_from`` (None: what the copying service copies by default).
    ``logo``, ``email_logo`` and ``size_instructions`` are file contents (PNG/JPEG, PDF).
    """

    code: str
    name: str
    erp_reference: str | None = None
    settings: CustomerSettings | Mapping[str, Any] | None = None
    addresses: Sequence[Address | Mapping[str, Any]] = ()
    locations: Sequence[LocationRequest | Mapping[str, Any]] = ()
    parent: Customer | UUID | str | None = None
    copy_from: Customer | UUID | str | None = None
    copy_parts: Sequence[str] | None = None
    logo: bytes | None = attrs.field(default=None, repr=False)
    email_logo: bytes | None = attrs.field(default=None, repr=False)
    size_instructions: bytes | None = attrs.field(default=None, repr=False)
    admin: AdminRequest | Mapping[str, Any] | None = None

    @property
    def wants_branding(self) -> bool:
        """Whether any branding file was given."""
        return any(f is not None for f in (self.logo, self.email_logo, self.size_instructions))


@attrs.frozen
class Invitation:
    """The invitation that went out: to whom, when its link stops working, and the queued
    mail's token record (never the link itself)."""

    token_id: UUID
    email: str
    expires_at: datetime


@attrs.frozen
class ProvisionSummary:
    """What a run created (or, for a dry run, would create: nothing of it was kept).

    ``profile_created`` says whether the admin's profile was made from the preset by this run.
    """

    dry_run: bool
    customer: Customer
    locations: tuple[Location, ...] = ()
    copied_from: Customer | None = None
    copied_parts: tuple[str, ...] | None = None
    branding: tuple[str, ...] = ()
    admin: Account | None = None
    admin_membership: Membership | None = None
    admin_profile: PermissionProfile | None = None
    profile_created: bool = False
    invitation: Invitation | None = None
    steps: tuple[Step, ...] = ()


class ProvisioningFailed(PortalError):
    """A provisioning run stopped at :attr:`step` because of :attr:`cause`; nothing of the run
    was kept (no customer, location, contact, account, asset or queued mail).

    ``str(error)`` names the step and the cause in English; :meth:`text` in another language.
    """

    def __init__(self, step: StepName, cause: PortalError) -> None:
        #: The step that failed.
        self.step = step
        #: The error that stopped it (a ValidationError, Conflict, StorageError, …).
        self.cause = cause
        super().__init__(f"{_head(step, 'en')}: {cause}")

    def text(self, language: str) -> str:
        """The step and the cause in ``language`` (``"nl"``, ``"de"``, …)."""
        return f"{_head(self.step, language)}: {self.cause.text(language)}"


def _head(step: StepName, language: str) -> str:
    return Message("provisioning stopped at the step {what}", what=LABELS[step]).text(language)


def unavailable(what: str) -> PortalError:
    """The cause for a step whose collaborator this portal lacks (copying, branding): a
    deployment to complete, not bad input."""
    return ConfigurationError(
        Message("this portal cannot {what}: the service for it is not set up", what=what)
    )
