"""The mail contract: a backend delivers finished messages and raises when it cannot."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Protocol

__all__ = ["Mailer"]


class Mailer(Protocol):
    """Delivers messages. A backend raises on failure; it never swallows an error."""

    def send(self, messages: Sequence[EmailMessage]) -> None:
        """Deliver every message, in order."""
        ...
