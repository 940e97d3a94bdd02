"""The outbox's machinery: composing, queueing, sealing and delivering mail with retries
(the public face is :mod:`portalkit.outbox.service`)."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._ids import ordered_id
from portalkit.actors import Actor
from portalkit.errors import (
    Problem,
)
from portalkit.jobs.queue import JobQueue
from portalkit.mail.base import MailError, PermanentMailError, TemporaryMailError
from portalkit.mail.templates import MailTemplates
from portalkit.outbox.model import FlushReport, OutboxMessage, OutboxStatus
from portalkit.staffrights import MAIL_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.storage.base import UnitOfWork


log = logging.getLogger("portalkit.mail")

TEXT_MAX = 100_000
SUBJECT_MAX = 250


# Quoted-printable keeps mostly-ASCII text readable in the raw message (base64 would not).
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_SMTP_LINE_MAX = 998


def _text_part(body: str, subtype: str) -> MIMEText:
    lines = body.splitlines()
    if body.isascii() and max(map(len, lines), default=0) <= _SMTP_LINE_MAX:
        return MIMEText(body, subtype, "us-ascii")
    # Non-ASCII text, or lines SMTP would refuse: quoted-printable wraps and encodes both.
    return MIMEText(body, subtype, _UTF8)  # type: ignore[arg-type]


class Outbox:
    """The outbox's machinery, which services share: compose and queue mail in the caller's
    transaction, deliver it, and run the background jobs that queue mail. The public face
    is :class:`~portalkit.outbox.MailService` (``portal.mail``)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._templates: MailTemplates | None = None
        self._jobs = JobQueue(rt, send=self.attempt)

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
        """:meth:`MailService.enqueue <portalkit.outbox.service.MailService.enqueue>`, which
        documents it."""
        vendor_id = require_admin(actor, MAIL_MANAGE)
        message = self.compose(
            vendor_id, to=to, subject=subject, text=text, html=html, kind=kind, secret=secret
        )
        with self._rt.transaction() as uow:
            self.queue(uow, message)
        return message

    def compose(
        self,
        vendor_id: UUID,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        kind: str = "custom",
        secret: bool = False,
    ) -> OutboxMessage:
        """Check and seal a message, without storing it (so the work can happen outside a
        transaction)."""
        problems: list[Problem] = []
        address = v.email(problems, "to", to)
        title = v.text(problems, "subject", subject, max_length=SUBJECT_MAX)
        body = v.text(problems, "text", text, max_length=TEXT_MAX, multiline=True)
        markup = v.text(
            problems, "html", html, required=False, max_length=2 * TEXT_MAX, multiline=True
        )
        kind = v.text(problems, "kind", kind, max_length=60)
        secret = v.boolean(problems, "secret", secret)
        v.raise_if(problems)
        if secret:
            body, markup = self._rt.seal(body), self._rt.seal(markup) if markup else ""
        now = self._rt.clock.now()
        message_id = ordered_id(now)
        return OutboxMessage(
            id=message_id,
            vendor_id=vendor_id,
            created_at=now,
            message_id=f"<{message_id.hex}@{self._rt.settings.mail_from.rpartition('@')[2]}>",
            to=address,
            subject=title,
            text=body,
            html=markup,
            kind=kind,
            secret=secret,
            next_attempt_at=now,
        )

    def queue(self, uow: UnitOfWork, message: OutboxMessage) -> OutboxMessage:
        """Store a composed message in the current transaction and arrange its delivery."""
        settings = self._rt.settings
        bag = self._rt.transaction_bag()
        job_mail = bag.get("job_mail")
        if job_mail is not None and settings.mail_send_after_commit:
            # A background job's mail: stored claimed by the job's worker, which sends it and
            # records the outcome together with the job's end, so a known address costs no
            # extra write transaction (security.md B6).
            now = self._rt.clock.now()
            message = attrs.evolve(
                message,
                status=OutboxStatus.SENDING,
                claimed_until=now + timedelta(seconds=settings.mail_lease_seconds),
                version=message.version + 1,
            )
            uow.outbox.add(message)
            job_mail.append(message)
            return message
        uow.outbox.add(message)
        if settings.mail_send_after_commit:
            # One delivery, over one connection, for all mail of this transaction.
            batch = bag.setdefault("mail", [])
            if not batch:
                self._rt.after_commit(lambda: self._deliver_quietly(batch))
            batch.append(message.id)
        return message

    def submit(self, vendor_id: UUID, kind: str, payload: dict[str, Any]) -> None:
        """Store a background job (see :mod:`portalkit.jobs`) and wake the background thread."""
        self._jobs.submit(vendor_id, kind, payload)

    def on_job(self, kind: str, handler: Any) -> None:
        """Let ``handler`` run the background jobs of ``kind``."""
        self._jobs.handle(kind, handler)

    def wait(self) -> None:
        """:meth:`MailService.wait <portalkit.outbox.service.MailService.wait>`, which
        documents it."""
        self._jobs.wait()

    def flush(self, *, limit: int | None = None, batch: int = 50) -> FlushReport:
        """:meth:`MailService.flush <portalkit.outbox.service.MailService.flush>`, which
        documents it."""
        # Inside a caller's transaction it would claim and send mail that transaction
        # queued, before it commits: a rollback then cannot take the mail back.
        self._rt.standalone("mail.flush()")
        report = FlushReport(jobs=self._jobs.run())
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
        settings = self._rt.settings
        now = self._rt.clock.now()
        with self._rt.transaction() as uow:
            claimed = uow.claim_outbox(
                now, size, now + timedelta(seconds=settings.mail_lease_seconds), ids
            )
        if not claimed:
            return None
        outcomes = self.attempt(claimed)
        with self._rt.transaction() as uow:
            recorded = uow.settle_outbox(outcomes)
        report = FlushReport()
        for outcome in outcomes:
            if outcome.id not in recorded:
                continue  # another worker took it over after our lease ran out
            if outcome.status is OutboxStatus.SENT:
                report += FlushReport(sent=1)
            elif outcome.status is OutboxStatus.DEAD:
                report += FlushReport(dead=1)
                log.error(
                    "mail %s to %s is dead: %s",
                    outcome.message_id,
                    outcome.to,
                    outcome.last_error,
                )
            else:
                report += FlushReport(retrying=1)
        return report

    def attempt(self, claimed: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """Send claimed messages; returns their outcomes, for the caller to record."""
        # One message that cannot be built (say, a secret under a key since removed) must not
        # hold up the others: it fails alone, for good.
        results: list[MailError | None] = []
        ready: list[tuple[int, Message]] = []
        for position, message in enumerate(claimed):
            try:
                ready.append((position, self.build(message)))
                results.append(None)
            except Exception as exc:
                results.append(PermanentMailError(f"cannot build the message: {exc!r}"[:300]))
        try:
            sent = self._rt.mailer.send_many([email for _, email in ready])
        except Exception as exc:
            sent = [TemporaryMailError(f"the mail backend failed: {exc!r}"[:300])] * len(ready)
        for (position, _), error in zip(ready, sent, strict=True):
            results[position] = error
        now = self._rt.clock.now()
        return [
            self._outcome(message, error, now)
            for message, error in zip(claimed, results, strict=True)
        ]

    def _outcome(
        self, message: OutboxMessage, error: MailError | None, now: datetime
    ) -> OutboxMessage:
        settings = self._rt.settings
        attempts = message.attempts + 1
        common: dict[str, Any] = {
            "attempts": attempts,
            "claimed_until": None,
            "version": message.version + 1,
        }
        # A secret's body goes once it is delivered or given up; only a retry keeps it.
        final = {**common, "text": "", "html": ""} if message.secret else common
        if error is None:
            return attrs.evolve(
                message, status=OutboxStatus.SENT, sent_at=now, last_error="", **final
            )
        reason = str(error)[:500]
        if isinstance(error, PermanentMailError) or attempts >= settings.mail_max_attempts:
            return attrs.evolve(message, status=OutboxStatus.DEAD, last_error=reason, **final)
        # Jitter spreads the retries of many messages that failed together; the cap holds.
        jitter = 1 + random.random() * 0.2  # noqa: S311 - not security relevant
        delay = min(
            settings.mail_retry_seconds * 2 ** (attempts - 1) * jitter,
            settings.mail_retry_max_seconds,
        )
        return attrs.evolve(
            message,
            status=OutboxStatus.PENDING,
            last_error=reason,
            next_attempt_at=now + timedelta(seconds=delay),
            **common,
        )

    def build(self, message: OutboxMessage) -> Message:
        text, html = message.text, message.html
        if message.secret:
            text, html = self._rt.open(text), self._rt.open(html) if html else ""
        sender = self._rt.settings.mail_from
        if not (message.to.isascii() and sender.isascii()):
            return self._build_international(message, sender, text, html)
        # The classic (compat32) classes build a message in a fraction of the time of
        # EmailMessage, whose policy parses every header it is given. Nothing here needs that
        # parsing: every header value was checked when the message was queued.
        email: Message
        if html:
            email = MIMEMultipart("alternative")
            email.attach(_text_part(text, "plain"))
            email.attach(_text_part(html, "html"))
        else:
            email = _text_part(text, "plain")
        email["From"] = sender
        email["To"] = message.to
        # A Header encodes non-ASCII text as RFC 2047 words (the stubs only know str here).
        subject: Any = message.subject
        if not message.subject.isascii():
            subject = Header(message.subject, "utf-8")
        email["Subject"] = subject
        email["Message-ID"] = message.message_id
        email["Date"] = format_datetime(message.created_at)
        return email

    def _build_international(
        self, message: OutboxMessage, sender: str, text: str, html: str
    ) -> Message:
        # Non-ASCII addresses need SMTPUTF8, which only the modern policy can write.
        email = EmailMessage(policy=policy.SMTP)
        email["From"] = sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = message.message_id
        email["Date"] = format_datetime(message.created_at)
        email.set_content(text)
        if html:
            email.add_alternative(html, subtype="html")
        return email

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
        """:meth:`MailService.send_template
        <portalkit.outbox.service.MailService.send_template>`, which documents it."""
        rendered = self.render(template, language, **context)
        return self.enqueue(
            actor,
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            kind=template,
            secret=secret,
        )

    def render(self, template: str, language: str | None, **context: Any) -> Any:
        language = language or self._rt.settings.default_language
        context.setdefault("portal_name", self._rt.settings.portal_name)
        return self.templates.render(template, language, **context)

    def compose_template(
        self,
        vendor_id: UUID,
        *,
        to: str,
        template: str,
        language: str | None = None,
        secret: bool = False,
        **context: Any,
    ) -> OutboxMessage:
        """Render and compose like :meth:`send_template`, without storing (see
        :meth:`queue`)."""
        rendered = self.render(template, language, **context)
        return self.compose(
            vendor_id,
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            kind=template,
            secret=secret,
        )

    @property
    def templates(self) -> MailTemplates:
        """The template renderer (the host's folder from ``PORTALKIT_MAIL_TEMPLATES`` first)."""
        if self._templates is None:
            self._templates = MailTemplates(self._rt.settings.mail_templates or None)
        return self._templates
