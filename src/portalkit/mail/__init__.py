"""Mail backends: the :class:`~portalkit.mail.base.Mailer` protocol and the ones portalkit ships.

The backends are loaded by name when first asked for (``from portalkit.mail import
SmtpMailer``), so importing the protocol loads none of them: the core names no backend.
"""

from __future__ import annotations

import importlib
from typing import Any

from portalkit.mail.base import Mailer, MailError, PermanentMailError, TemporaryMailError

__all__ = [
    "ConsoleMailer",
    "FileMailer",
    "MailError",
    "Mailer",
    "MemoryMailer",
    "PermanentMailError",
    "SmtpMailer",
    "TemporaryMailError",
]

_BACKENDS = {
    "ConsoleMailer": "portalkit.mail.console",
    "FileMailer": "portalkit.mail.file",
    "MemoryMailer": "portalkit.mail.memory",
    "SmtpMailer": "portalkit.mail.smtp",
}


def __getattr__(name: str) -> Any:
    module = _BACKENDS.get(name)
    if module is None:
        raise AttributeError(f"module 'portalkit.mail' has no attribute {name!r}")
    backend = getattr(importlib.import_module(module), name)
    globals()[name] = backend  # found once, then an ordinary attribute
    return backend


def __dir__() -> list[str]:
    return sorted(__all__)
