"""The mail service (``portal.mail``): the public face of the outbox, with notifications;
:mod:`portalkit.outbox` describes the outbox, ``delivery.py`` its machinery, ``model.py`` its
records."""

from __future__ import annotations

from email.message import Message
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import ident, load, page
from portalkit.actors import Actor, Member
from portalkit.errors import Problem, ValidationError
from portalkit.mail.templates import MailTemplates
from portalkit.memberships.model import SUBSCRIPTION_RE, MembershipStatus
from portalkit.outbox.model import FlushReport, OutboxMessage, OutboxStatus
from portalkit.staffrights import MAIL_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.outbox.delivery import Outbox

__all__ = ["MailService"]


class MailService:
    """Queue mail in the current transaction and deliver it. Reached as ``portal.mail``."""

    def __init__(self, rt: Runtime, *, outbox: Outbox, access: AccessService) -> None:
        self._rt = rt
        self._outbox = outbox
        self._access = access
        #: Each notification kind members may subscribe to, with its template and capability.
        self.notifications: dict[str, tuple[str, str]] = {
            "quotes": ("notify_quote", "quotes.view"),
            "invoices": ("notify_invoice", "invoices.view"),
            "jobs": ("notify_job", "jobs.view_completed"),
        }

    def enqueue(
        self,
        actor: Actor,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        kind: str = "custom",
        secret: bool = False,
    ) -> OutboxMessage:
        """Queue one message to one address, in the current transaction (or its own).

        Refuses anything that could smuggle headers or extra recipients: a list or a
        display-name string as ``to``, line breaks or control characters in the subject.
        ``secret=True`` (the message carries a link or password) stores the body encrypted
        with ``PORTALKIT_MAIL_ENCRYPTION_KEY`` and purges it after delivery.
        """
        return self._outbox.enqueue(
            actor, to=to, subject=subject, text=text, html=html, kind=kind, secret=secret
        )

    def wait(self) -> None:
        """Wait until the background work this process queued so far is done (tests; a clean
        shutdown): reset and registration requests, and the delivery of the mail they queue.
        A job that failed waits for its retry; work left when the process ends is stored
        and done by ``flush()``, the worker or the next process."""
        self._outbox.wait()

    def flush(self, *, limit: int | None = None, batch: int = 50) -> FlushReport:
        """Handle the background jobs that are due (reset and registration requests, also
        those a stopped process left), then deliver the mail that is due (up to ``limit``
        messages), batch by batch; returns counts."""
        return self._outbox.flush(limit=limit, batch=batch)

    def send_template(
        self,
        actor: Actor,
        *,
        to: str,
        template: str,
        language: str | None = None,
        secret: bool = False,
        **context: Any,
    ) -> OutboxMessage:
        """Render a template (:data:`~portalkit.mail.templates.TEMPLATES` or the host's own)
        in ``language`` (``PORTALKIT_DEFAULT_LANGUAGE`` if None) and queue it like
        :meth:`enqueue`."""
        return self._outbox.send_template(
            actor, to=to, template=template, language=language, secret=secret, **context
        )

    @property
    def templates(self) -> MailTemplates:
        """The template renderer (the host's folder from ``PORTALKIT_MAIL_TEMPLATES`` first)."""
        return self._outbox.templates

    def _build(self, message: OutboxMessage) -> Message:
        # The message as it goes to the mailer (tests and the mail benchmark send it).
        return self._outbox.build(message)

    def register_notification(self, kind: str, template: str, capability: str) -> None:
        """Let members subscribe to ``kind``; its mail uses ``template`` and goes only to
        members holding ``capability`` (for the record, when one is given)."""
        problems: list[Problem] = []
        if not isinstance(kind, str) or len(kind) > 100 or not SUBSCRIPTION_RE.fullmatch(kind):
            problems.append(
                Problem(
                    "kind", "invalid_name", "must be a name like 'contracts' (a-z, 0-9, _ and dots)"
                )
            )
        if not isinstance(template, str) or not self.templates.exists(template):
            problems.append(
                Problem(
                    "template", "unknown", "no mail template {template!r}", {"template": template}
                )
            )
        if capability not in self._access.capabilities:
            problems.append(
                Problem(
                    "capability",
                    "unknown",
                    "{capability!r} is not a registered capability",
                    {"capability": capability},
                )
            )
        v.raise_if(problems)
        self.notifications = {**self.notifications, kind: (template, capability)}

    def notify(
        self,
        actor: Actor,
        customer: Any,
        kind: str,
        *,
        title: str,
        link: str,
        record: object = None,
        resource: str | None = None,
    ) -> list[OutboxMessage]:
        """Tell the customer's subscribed members about something new, if they may see it.

        Goes to every active membership of ``customer`` subscribed to ``kind`` whose access
        context holds the notification's capability (for ``record`` of ``resource``, when
        given): a member without ``invoices.view`` never gets an invoice mail, whatever it
        subscribed to. Each mail is in the member's language with the customer's mail logo.
        """
        vendor_id = require_admin(actor, MAIL_MANAGE)
        if kind not in self.notifications:
            raise ValidationError.single(
                "kind", "unknown", "{kind!r} is not a notification", kind=kind
            )
        template, capability = self.notifications[kind]
        customer_id = ident("customer", customer)
        queued: list[OutboxMessage] = []
        with self._rt.transaction() as uow:
            owner = load(uow.customers, vendor_id, "customer", customer_id, "customer")
            members = uow.memberships.list(
                vendor_id, where={"customer_id": owner.id, "status": MembershipStatus.ACTIVE}
            )
            for membership in members:
                if kind not in membership.subscriptions:
                    continue
                context = self._access.context(
                    Member(
                        vendor_id=vendor_id,
                        account_id=membership.account_id,
                        membership_id=membership.id,
                        customer_id=membership.customer_id,
                    )
                )
                allowed = (
                    context.allows(capability, record, resource)
                    if record is not None
                    else context.can(capability)
                )
                if not allowed:
                    continue
                account = uow.accounts.get(vendor_id, membership.account_id)
                person = uow.contacts.get(vendor_id, membership.contact_id)
                assert account is not None and person is not None  # foreign keys hold
                queued.append(
                    self.send_template(
                        actor,
                        to=account.email,
                        template=template,
                        language=account.language,
                        name=person.full_name,
                        customer_name=owner.name,
                        logo_url=owner.branding.email_logo_url,
                        title=title,
                        link=link,
                    )
                )
        return queued

    def list(
        self,
        actor: Actor,
        *,
        status: OutboxStatus | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OutboxMessage]:
        """Queued messages of the actor's vendor (staff only), e.g. ``status="dead"``."""
        vendor_id = require_admin(actor, MAIL_MANAGE)
        limit, offset = page(limit, offset)
        where: dict[str, object] = {}
        if status is not None:
            problems: list[Problem] = []
            try:
                where["status"] = OutboxStatus(getattr(status, "value", status))
            except ValueError:
                problems.append(
                    Problem("status", "invalid_choice", "must be pending, sending, sent or dead")
                )
            v.raise_if(problems)
        with self._rt.transaction() as uow:
            return uow.outbox.list(vendor_id, where=where, limit=limit, offset=offset)

    def retry(self, actor: Actor, message: OutboxMessage | UUID) -> OutboxMessage:
        """Put a dead message back in the queue with a fresh count of attempts."""
        vendor_id = require_admin(actor, MAIL_MANAGE)
        with self._rt.transaction() as uow:
            current = load(uow.outbox, vendor_id, "message", ident("message", message), "message")
            if current.status is not OutboxStatus.DEAD:
                return current
            if current.secret and not current.text:
                raise ValidationError.single(
                    "message",
                    "purged",
                    "this message carried a secret that was purged; send a new one instead",
                )
            revived = attrs.evolve(
                current,
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=self._rt.clock.now(),
                version=current.version + 1,
            )
            uow.outbox.update(revived, current.version)
            return revived
