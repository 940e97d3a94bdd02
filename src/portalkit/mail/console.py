"""A mail backend that prints messages, for development."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from email.message import Message
from typing import TYPE_CHECKING, TextIO

from portalkit.mail.base import MailError

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["ConsoleMailer"]


class ConsoleMailer:
    """Writes each message, headers and body, to a stream (standard output by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> ConsoleMailer:
        """Print to standard output (``PORTALKIT_MAIL_BACKEND=console``)."""
        return cls()

    def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """Print every message followed by a separator line."""
        stream = self._stream or sys.stdout
        for message in messages:
            stream.write(message.as_string())
            stream.write("\n" + "-" * 72 + "\n")
        stream.flush()
        return [None for _ in messages]
