"""The self-registration service (``portal.registrations``); :mod:`portalkit.registrations`
describes the flow, ``model.py`` the records."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import ident, load, page
from portalkit.accounts.model import check_language
from portalkit.actors import Actor, System
from portalkit.audit.model import describe
from portalkit.auth import login_key
from portalkit.errors import InvalidToken, Message, Problem, ValidationError
from portalkit.inbox.model import InboxStatus
from portalkit.jobs.model import Job
from portalkit.jobs.queue import Decision, RetryJob
from portalkit.registrations.model import Registration, RegistrationStatus
from portalkit.staffrights import LOGINS_MANAGE
from portalkit.tokens import TokenPurpose

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.accounts.service import AccountService
    from portalkit.credentials import CredentialService
    from portalkit.customers.service import ContactService
    from portalkit.inbox.service import InboxService
    from portalkit.linkmail import LinkMail
    from portalkit.memberships.model import Membership
    from portalkit.memberships.service import MembershipService
    from portalkit.outbox.delivery import Outbox
    from portalkit.profiles.service import ProfileService
    from portalkit.storage.base import UnitOfWork


REGISTRATION_JOB = "registration_request"


NAME_IN_MAIL = 60
"""At most this many characters of the requester's name reach the confirmation mail."""


class RegistrationService:
    """Take, confirm and decide self-registrations. Reached as ``portal.registrations``.

    Example::

        portal.registrations.request(vendor, email="eva@newco.example", first_name="Eva",
                                     last_name="Brandt", company="NewCo GmbH")
        # Eva clicks the link in her mail; the host calls:
        portal.registrations.confirm(vendor, token)
        # Staff see it among the pending ones and decide:
        pending = portal.registrations.list(staff, status="pending")
        portal.registrations.approve(staff, pending[0], customer=newco, profile=normal_users)
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        outbox: Outbox,
        links: LinkMail,
        profiles: ProfileService,
        contacts: ContactService,
        accounts: AccountService,
        memberships: MembershipService,
        credentials: CredentialService,
        inbox: InboxService,
    ) -> None:
        self._rt = rt
        self._outbox = outbox
        self._links = links
        self._profiles = profiles
        self._contacts = contacts
        self._accounts = accounts
        self._memberships = memberships
        self._credentials = credentials
        self._inbox = inbox
        outbox.on_job(REGISTRATION_JOB, self._job)

    def request(
        self,
        vendor: Any,
        *,
        email: str,
        first_name: str,
        last_name: str,
        company: str,
        phone: str | None = None,
        message: str | None = None,
        language: str | None = None,
        client_key: str | None = None,
    ) -> None:
        """Record a request and mail a confirmation link to ``email``
        (``PORTALKIT_CONFIRM_HOURS``, 48 by default).

        Bad input raises ValidationError (all problems at once). Otherwise the answer is None
        whatever happens — an address that already has an account, too many requests from
        this address or ``client_key`` — so the form tells nobody who has an account.
        """
        self._rt.standalone("registrations.request()")
        vendor_id = ident("vendor", vendor)
        problems: list[Problem] = []
        address = v.email(problems, "email", email)
        first = v.text(problems, "first_name", first_name, max_length=100)
        last = v.text(problems, "last_name", last_name, max_length=100)
        firm = v.text(problems, "company", company, max_length=200)
        phone_number = v.text(problems, "phone", phone, required=False, max_length=40)
        note = v.text(problems, "message", message, required=False, max_length=2000, multiline=True)
        lang = check_language(problems, language or self._rt.settings.default_language)
        v.raise_if(problems)
        key = client_key[:200] if isinstance(client_key, str) and client_key else None
        form = {
            "email": address,
            "first_name": first,
            "last_name": last,
            "company": firm,
            "phone": phone_number,
            "message": note,
            "language": lang,
            "client_key": key,
        }
        # Only the request is stored here (one row, the same for every address; sealing it
        # needs the mail key, so a missing one fails now, for every address alike). The
        # rest runs in the background, so the answer takes the same time whether or not
        # the address has a login (and whichever mail follows).
        self._outbox.submit(vendor_id, REGISTRATION_JOB, form)

    def _job(self, job: Job, form: dict[str, Any]) -> Decision:
        """Decide a stored request: read and render outside the write lock, then write.

        Both mails — the owner's notice and the requester's confirmation link — are rendered
        (and the link sealed) whatever the answer, and one of them is thrown away, so the
        work before the write transaction does not depend on the address (issue 9).
        """
        settings = self._rt.settings
        vendor_id, address = job.vendor_id, str(form["email"])
        now = job.created_at  # the request's time counts, not the worker's
        registration = Registration(
            id=uuid4(),
            vendor_id=vendor_id,
            email=address,
            first_name=str(form["first_name"]),
            last_name=str(form["last_name"]),
            company=str(form["company"]),
            created_at=now,
            phone=str(form["phone"]),
            message=str(form["message"]),
            language=str(form["language"]),
        )
        client_key = form.get("client_key")
        with self._rt.transaction(read_only=True) as uow:
            owner = uow.accounts.get_by(vendor_id, "email", address)
            greeting = self._links.greeting_or(
                uow,
                vendor_id,
                owner,
                {"name": registration.first_name, "customer_name": "", "logo_url": ""},
            )
        notice = self._outbox.compose_template(
            vendor_id,
            to=owner.email if owner is not None else address,
            template="registration_exists",
            language=owner.language if owner is not None else registration.language,
            link=self._links.url(settings.login_path, ""),
            # The owner's own name: nothing the requester typed reaches this mail.
            **greeting,
        )
        link = self._links.prepare(
            vendor_id,
            TokenPurpose.CONFIRM,
            address,
            settings.confirm_hours,
            template="email_verification",
            path=settings.confirm_path,
            language=registration.language,
            registration_id=registration.id,
            # Mail to an address anyone may type: nothing the requester wrote goes in but its
            # name, cut short (no company, no message), so the form cannot send spam.
            name=f"{registration.first_name} {registration.last_name}"[:NAME_IN_MAIL],
            customer_name="",
            logo_url="",
        )

        def decide(uow: UnitOfWork) -> None:
            keys = [self._rt.throttle_key("register", vendor_id, login_key(address))]
            if isinstance(client_key, str) and client_key:
                keys.append(self._rt.throttle_key("register-client", vendor_id, client_key))
            counts = [uow.throttle_hit(key, now, now - timedelta(hours=1)) for key in keys]
            if uow.accounts.get_by(vendor_id, "email", address) != owner:
                raise RetryJob("an account with this address came or went since it was read")
            system = System(vendor_id=vendor_id, reason="registration")
            if max(counts) > settings.request_max_per_hour:
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="registration_throttled",
                    real=system,
                    target="registration:throttled",
                    outcome="failure",
                )
                return
            if owner is not None:
                # The address has a login already: its owner hears of it (and how to get in)
                # instead of the requester; the answer stays the same.
                self._outbox.queue(uow, notice)
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="registration_refused",
                    real=system,
                    target=f"account:{owner.id}",
                    reason="account_exists",
                    outcome="failure",
                )
                return
            uow.registrations.add(registration)
            token = self._links.store(uow, link)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="registration_requested",
                real=system,
                target=f"registration:{registration.id}",
                token=token.reference,
            )

        return decide

    def confirm(self, vendor: Any, token: str) -> Registration:
        """Redeem a confirmation link: the request now waits for staff (``pending``).
        InvalidToken for a link that does not work."""
        vendor_id = ident("vendor", vendor)
        with self._rt.transaction() as uow:
            found = self._links.peek(uow, vendor_id, TokenPurpose.CONFIRM, token)
            registration = (
                uow.registrations.get(vendor_id, found.registration_id)
                if found.registration_id
                else None
            )
            if registration is None or registration.status is not RegistrationStatus.UNCONFIRMED:
                raise InvalidToken()
            used = self._links.use(uow, vendor_id, TokenPurpose.CONFIRM, token)
            confirmed = attrs.evolve(
                registration,
                status=RegistrationStatus.PENDING,
                confirmed_at=self._rt.clock.now(),
                version=registration.version + 1,
            )
            uow.registrations.update(confirmed, registration.version)
            # A confirmed request waits for staff: in the vendor inbox, beside orders.
            self._inbox.file(
                uow,
                vendor_id,
                kind="registration",
                title=f"{registration.first_name} {registration.last_name}, {registration.company}"[
                    :300
                ],
                reference=registration.id,
                details={"email": registration.email, "company": registration.company},
            )
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="registration_confirmed",
                real=System(vendor_id=vendor_id, reason="confirm_link"),
                target=f"registration:{registration.id}",
                token=used.reference,
            )
            return confirmed

    def list(
        self,
        actor: Actor,
        *,
        status: RegistrationStatus | str | None = RegistrationStatus.PENDING,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Registration]:
        """The vendor's registrations, oldest first (pending ones by default); staff only.
        The vendor inbox lists these beside orders and quote requests."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        limit, offset = page(limit, offset)
        where: dict[str, object] = {}
        if status is not None:
            problems: list[Problem] = []
            where["status"] = v.choice(problems, "status", status, RegistrationStatus)
            v.raise_if(problems)
        with self._rt.transaction() as uow:
            return uow.registrations.list(vendor_id, where=where, limit=limit, offset=offset)

    def approve(
        self,
        actor: Actor,
        registration: Registration | UUID,
        *,
        customer: Any,
        profile: Any = None,
        username: str | None = None,
    ) -> Membership:
        """Turn a pending request into a login of ``customer``: a contact, an account (the
        username defaults to the e-mail address) and an invited membership with ``profile``
        — by default the profile named by ``PORTALKIT_REGISTRATION_PROFILE``, a small one —
        and mail the invitation. All in one transaction: a clash (say, the address has an
        account by now) raises Conflict and creates nothing."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        if profile is None:
            default = self._rt.settings.registration_profile
            if not default:
                raise ValidationError.single(
                    "profile",
                    "required",
                    "choose a permission profile, or name a default one in "
                    "PORTALKIT_REGISTRATION_PROFILE",
                )
            profile = self._profiles.get_by_name(actor, default)
        with self._rt.transaction() as uow:
            current = self._pending(uow, vendor_id, registration)
            contact = self._contacts.create(
                actor,
                customer=customer,
                first_name=current.first_name,
                last_name=current.last_name,
                email=current.email,
                phone=current.phone or None,
            )
            account = self._accounts.create(
                actor,
                username=username or current.email,
                email=current.email,
                language=current.language,
            )
            membership = self._memberships.create(
                actor,
                customer=contact.customer_id,
                account=account,
                contact=contact,
                profile=profile,
            )
            self._decide(
                uow,
                actor,
                current,
                RegistrationStatus.APPROVED,
                "",
                account.id,
                contact.customer_id,
            )
            self._credentials.invite(actor, membership)
            return membership

    def reject(
        self, actor: Actor, registration: Registration | UUID, *, reason: str = ""
    ) -> Registration:
        """Refuse a pending request: nothing is created; the audit log keeps the decision and
        ``reason``."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        why = v.text(problems, "reason", reason, required=False, max_length=500)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = self._pending(uow, vendor_id, registration)
            return self._decide(uow, actor, current, RegistrationStatus.REJECTED, why, None, None)

    def _pending(self, uow: UnitOfWork, vendor_id: UUID, registration: Any) -> Registration:
        current = load(uow.registrations, vendor_id, "registration", registration, "registration")
        if current.status is not RegistrationStatus.PENDING:
            raise ValidationError.single(
                "registration",
                "not_pending",
                "this registration is {status}, not pending",
                status=Message(current.status.value),
            )
        return current

    def _decide(
        self,
        uow: UnitOfWork,
        actor: Actor,
        current: Registration,
        status: RegistrationStatus,
        reason: str,
        account_id: UUID | None,
        customer_id: UUID | None,
    ) -> Registration:
        decided = attrs.evolve(
            current,
            status=status,
            decided_at=self._rt.clock.now(),
            decided_by=describe(actor),
            account_id=account_id,
            customer_id=customer_id,
            version=current.version + 1,
        )
        uow.registrations.update(decided, current.version)
        self._inbox.settle(
            uow,
            actor,
            current.vendor_id,
            kind="registration",
            reference=current.id,
            status=InboxStatus.DONE
            if status is RegistrationStatus.APPROVED
            else InboxStatus.REJECTED,
        )
        self._rt.record(
            uow,
            vendor_id=current.vendor_id,
            action=f"registration_{status.value}",
            real=actor,
            customer_id=customer_id,
            target=f"registration:{current.id}",
            reason=reason,
        )
        return decided
