"""A mail backend that keeps messages in a list, for tests of host apps and of portalkit."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from email.message import EmailMessage

__all__ = ["MemoryMailer"]


class MemoryMailer:
    """Collects sent messages in :attr:`outbox` (thread-safe); nothing leaves the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outbox: list[EmailMessage] = []

    def send(self, messages: Sequence[EmailMessage]) -> None:
        """Append the messages to :attr:`outbox`."""
        with self._lock:
            self.outbox.extend(messages)

    def clear(self) -> None:
        """Empty :attr:`outbox`."""
        with self._lock:
            self.outbox.clear()
