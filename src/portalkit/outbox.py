"""The mail outbox: mail is stored with the change that causes it, then delivered with retries.

A message queued inside a transaction is a row of that transaction: if the change rolls back,
the message was never there; once it commits, the message is delivered even if the mail
server is down at that moment. Delivery happens right after the commit (by default) and by
``portalkit mail flush`` / ``portalkit mail worker``, which retry with exponential back-off
and give up after a number of attempts (a *dead* message, which staff can list and retry).
Several workers may run at once: each message is claimed by one of them
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL).

Example::

    with portal.transaction():
        customer = portal.customers.create(staff, code="ACME", name="Acme")
        portal.mail.enqueue(staff, to="jane@acme.example", subject="Welcome",
                            text="Your portal is ready.")
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin, who
from portalkit._service import ident, load, page
from portalkit.actors import Actor, System
from portalkit.audit import _ordered_id
from portalkit.errors import ConcurrentModification, PermissionDenied, Problem
from portalkit.mail.base import MailError, PermanentMailError

if TYPE_CHECKING:
    from portalkit.portal import Portal

__all__ = ["FlushReport", "MailService", "OutboxMessage", "OutboxStatus"]

log = logging.getLogger("portalkit.mail")

TEXT_MAX = 100_000
SUBJECT_MAX = 250


class OutboxStatus(enum.Enum):
    """Where a message is: waiting, being sent by a worker, delivered, or given up."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


@attrs.frozen
class OutboxMessage:
    """One queued mail. ``message_id`` stays the same over every attempt, so a receiver can
    recognise a message that arrives twice after an unclear failure."""

    id: UUID
    vendor_id: UUID
    created_at: datetime
    message_id: str
    to: str
    subject: str
    next_attempt_at: datetime
    text: str = attrs.field(default="", repr=False)
    html: str = attrs.field(default="", repr=False)
    kind: str = "custom"
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    claimed_until: datetime | None = None
    last_error: str = ""
    sent_at: datetime | None = None
    version: int = 1


@attrs.frozen
class FlushReport:
    """What one flush did."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0

    def __add__(self, other: FlushReport) -> FlushReport:
        return FlushReport(
            self.sent + other.sent, self.retrying + other.retrying, self.dead + other.dead
        )


class MailService:
    """Queue mail in the current transaction and deliver it. Reached as ``portal.mail``."""

    def __init__(self, portal: Portal) -> None:
        self._portal = portal

    def enqueue(
        self,
        actor: Actor,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        kind: str = "custom",
    ) -> OutboxMessage:
        """Queue one message to one address, in the current transaction (or its own).

        Refuses anything that could smuggle headers or extra recipients: a list or a
        display-name string as ``to``, line breaks or control characters in the subject.
        """
        vendor_id = require_admin(actor)
        problems: list[Problem] = []
        address = v.email(problems, "to", to)
        title = v.text(problems, "subject", subject, max_length=SUBJECT_MAX)
        body = v.text(problems, "text", text, max_length=TEXT_MAX, multiline=True)
        markup = v.text(
            problems, "html", html, required=False, max_length=2 * TEXT_MAX, multiline=True
        )
        kind = v.text(problems, "kind", kind, max_length=60)
        v.raise_if(problems)
        now = self._portal.clock.now()
        message_id = _ordered_id(now)
        message = OutboxMessage(
            id=message_id,
            vendor_id=vendor_id,
            created_at=now,
            message_id=f"<{message_id.hex}@{self._portal.settings.mail_from.rpartition('@')[2]}>",
            to=address,
            subject=title,
            text=body,
            html=markup,
            kind=kind,
            next_attempt_at=now,
        )
        with self._portal.transaction() as uow:
            uow.outbox.add(message)
            if self._portal.settings.mail_send_after_commit:
                self._portal._after_commit(lambda: self._deliver_quietly([message.id]))
        return message

    def flush(self, *, limit: int | None = None, batch: int = 50) -> FlushReport:
        """Deliver what is due (up to ``limit`` messages), batch by batch; returns counts."""
        report = FlushReport()
        while limit is None or report.sent + report.retrying + report.dead < limit:
            size = (
                batch
                if limit is None
                else min(batch, limit - report.sent - report.retrying - report.dead)
            )
            done = self._deliver(size, None)
            if done is None:
                break
            report += done
        return report

    def _deliver_quietly(self, ids: Sequence[UUID]) -> None:
        # Right after a commit: the caller's change is done, so a mail problem must not
        # surface there; the message stays queued for the worker.
        try:
            self._deliver(len(ids), ids)
        except Exception:
            log.exception("delivery right after commit failed; the worker will retry")

    def _deliver(self, size: int, ids: Sequence[UUID] | None) -> FlushReport | None:
        settings = self._portal.settings
        now = self._portal.clock.now()
        with self._portal.transaction() as uow:
            claimed = uow.claim_outbox(
                now, size, now + timedelta(seconds=settings.mail_lease_seconds), ids
            )
        if not claimed:
            return None
        results = self._portal.mailer.send_many([self._build(m) for m in claimed])
        report = FlushReport()
        now = self._portal.clock.now()
        with self._portal.transaction() as uow:
            for message, error in zip(claimed, results, strict=True):
                outcome = self._outcome(message, error, now)
                try:
                    uow.outbox.update(outcome, message.version)
                except ConcurrentModification:
                    continue  # another worker took it over after our lease ran out
                if outcome.status is OutboxStatus.SENT:
                    report += FlushReport(sent=1)
                elif outcome.status is OutboxStatus.DEAD:
                    report += FlushReport(dead=1)
                    log.error(
                        "mail %s to %s is dead: %s",
                        message.message_id,
                        message.to,
                        outcome.last_error,
                    )
                else:
                    report += FlushReport(retrying=1)
        return report

    def _outcome(
        self, message: OutboxMessage, error: MailError | None, now: datetime
    ) -> OutboxMessage:
        settings = self._portal.settings
        attempts = message.attempts + 1
        common: dict[str, Any] = {
            "attempts": attempts,
            "claimed_until": None,
            "version": message.version + 1,
        }
        if error is None:
            return attrs.evolve(
                message, status=OutboxStatus.SENT, sent_at=now, last_error="", **common
            )
        reason = str(error)[:500]
        if isinstance(error, PermanentMailError) or attempts >= settings.mail_max_attempts:
            return attrs.evolve(message, status=OutboxStatus.DEAD, last_error=reason, **common)
        delay = min(
            settings.mail_retry_seconds * 2 ** (attempts - 1), settings.mail_retry_max_seconds
        )
        # Jitter spreads the retries of many messages that failed together.
        delay *= 1 + random.random() * 0.2  # noqa: S311 - not security relevant
        return attrs.evolve(
            message,
            status=OutboxStatus.PENDING,
            last_error=reason,
            next_attempt_at=now + timedelta(seconds=delay),
            **common,
        )

    def _build(self, message: OutboxMessage) -> EmailMessage:
        email = EmailMessage(policy=policy.SMTP)
        email["From"] = self._portal.settings.mail_from
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = message.message_id
        email["Date"] = format_datetime(message.created_at)
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return email

    def list(
        self,
        actor: Actor,
        *,
        status: OutboxStatus | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OutboxMessage]:
        """Queued messages of the actor's vendor (staff only), e.g. ``status="dead"``."""
        vendor_id = require_admin(actor)
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
        with self._portal.transaction() as uow:
            return uow.outbox.list(vendor_id, where=where, limit=limit, offset=offset)

    def retry(self, actor: Actor, message: OutboxMessage | UUID) -> OutboxMessage:
        """Put a dead message back in the queue with a fresh count of attempts."""
        vendor_id = require_admin(actor)
        if isinstance(who(actor), System) and actor.vendor_id is None:
            raise PermissionDenied("act as one vendor")
        with self._portal.transaction() as uow:
            current = load(uow.outbox, vendor_id, "message", ident("message", message), "message")
            if current.status is not OutboxStatus.DEAD:
                return current
            revived = attrs.evolve(
                current,
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=self._portal.clock.now(),
                version=current.version + 1,
            )
            uow.outbox.update(revived, current.version)
            return revived
