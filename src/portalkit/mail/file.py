"""A mail backend that writes each message into a folder: ``.eml`` for mail programs, ``.txt``
beside it for people."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING

from portalkit.mail.base import MailError, TemporaryMailError
from portalkit.mail.console import readable_text

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["FileMailer"]


class FileMailer:
    """Writes each message to ``<folder>/<message-id>.eml``, and the same message as a person
    reads it (main headers, plain text decoded) to ``<message-id>.txt`` beside it. Each file
    is written under a temporary name, then renamed; the ``.txt`` first, so that once the
    ``.eml`` is there both are."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> FileMailer:
        """Write into ``PORTALKIT_MAIL_FILE_DIR`` (``PORTALKIT_MAIL_BACKEND=file``)."""
        return cls(settings.mail_file_dir)

    def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """Write every message; a full disk or a missing folder is a temporary failure."""
        results: list[MailError | None] = []
        for message in messages:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", str(message["Message-ID"] or "message"))
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                partial = self.folder / f".{name}.tmp"
                partial.write_text(readable_text(message), encoding="utf-8")
                partial.replace(self.folder / f"{name}.txt")
                partial.write_bytes(message.as_bytes())
                partial.replace(self.folder / f"{name}.eml")
                results.append(None)
            except OSError as exc:
                results.append(TemporaryMailError(f"cannot write to {self.folder}: {exc}"))
        return results
