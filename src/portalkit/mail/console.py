"""A mail backend that prints messages, for development."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING, TextIO

from portalkit.mail.base import MailError

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["ConsoleMailer"]


class ConsoleMailer:
    """Writes each message — its main headers and its plain-text part, decoded — to a stream
    (standard output by default)."""

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
            stream.write(readable_text(message))
            stream.write("-" * 72 + "\n")
        stream.flush()
        return [None for _ in messages]


def readable_text(message: Message) -> str:
    """A message as a person reads it: its main headers, then its plain-text part decoded
    (not the quoted-printable or base64 it travels in)."""
    readable = message_from_bytes(message.as_bytes(), policy=policy.default)
    lines = [
        f"{name}: {readable[name]}\n" for name in ("From", "To", "Subject", "Message-ID", "Date")
    ]
    plain = readable.get_body(("plain",)) if isinstance(readable, EmailMessage) else None
    return "".join(lines) + "\n" + (plain.get_content() if plain is not None else "") + "\n"
