"""The mail contract: a backend delivers finished messages and says, per message, what happened.

A backend raises nothing for a message it could not deliver: it returns the error, a
:class:`TemporaryMailError` (try again later: server down, 4xx) or a :class:`PermanentMailError`
(give up: recipient refused with 5xx). The outbox decides about retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import Message
from typing import Protocol

from portalkit.errors import PortalError

__all__ = ["MailError", "Mailer", "PermanentMailError", "TemporaryMailError"]


class MailError(PortalError):
    """A message could not be delivered."""


class TemporaryMailError(MailError):
    """Delivery failed for now (connection refused, timeout, 4xx); retrying may work."""


class PermanentMailError(MailError):
    """Delivery can never work as it is (recipient refused with 5xx, message rejected)."""


class Mailer(Protocol):
    """Delivers messages; one call may reuse one connection for all of them.

    The messages are :class:`email.message.Message` objects, ready to send as they are
    (``smtplib``'s ``send_message`` or ``as_bytes()``); the outbox builds them with the
    standard library's classic MIME classes, which are much faster to make than
    :class:`~email.message.EmailMessage`.
    """

    def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """Deliver each message in order; return None for each delivered one, else its error."""
        ...
