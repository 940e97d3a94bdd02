"""A mail backend that writes one ``.eml`` file per message into a folder."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING

from portalkit.mail.base import MailError, TemporaryMailError

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["FileMailer"]


class FileMailer:
    """Writes each message to ``<folder>/<message-id>.eml`` (atomically: write, then rename)."""

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
                partial.write_bytes(message.as_bytes())
                partial.replace(self.folder / f"{name}.eml")
                results.append(None)
            except OSError as exc:
                results.append(TemporaryMailError(f"cannot write to {self.folder}: {exc}"))
        return results
