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

from portalkit.outbox.delivery import SUBJECT_MAX as SUBJECT_MAX
from portalkit.outbox.delivery import TEXT_MAX as TEXT_MAX
from portalkit.outbox.model import (
    FlushReport,
    OutboxMessage,
    OutboxStatus,
)
from portalkit.outbox.service import (
    MailService,
)

__all__ = [
    "FlushReport",
    "MailService",
    "OutboxMessage",
    "OutboxStatus",
]
