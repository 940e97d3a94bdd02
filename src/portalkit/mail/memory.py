"""A mail backend that keeps messages in a list, for tests of host apps and of portalkit."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING

from portalkit.mail.base import MailError

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["MemoryMailer"]


class MemoryMailer:
    """Collects delivered messages in :attr:`outbox` (thread-safe); nothing leaves the process.

    Each message is kept as the receiver would see it: its bytes parsed again into an
    :class:`~email.message.EmailMessage`, so tests can use ``get_body()`` and ``get_content()``.

    ``fail_with`` makes every delivery fail with that error until it is set back to None, so
    tests can see the outbox retry.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Every message delivered so far, oldest first.
        self.outbox: list[EmailMessage] = []
        #: An error every delivery returns while set (for tests).
        self.fail_with: MailError | None = None

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> MemoryMailer:
        """An empty outbox (``PORTALKIT_MAIL_BACKEND=memory``)."""
        return cls()

    def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """Append the messages to :attr:`outbox` (or fail each with :attr:`fail_with`)."""
        with self._lock:
            if self.fail_with is not None:
                return [self.fail_with for _ in messages]
            self.outbox.extend(
                message_from_bytes(m.as_bytes(), policy=policy.default) for m in messages
            )
            return [None for _ in messages]

    def clear(self) -> None:
        """Empty :attr:`outbox`."""
        with self._lock:
            self.outbox.clear()
