"""Mail backends: the :class:`~portalkit.mail.base.Mailer` protocol and the ones portalkit ships."""

from portalkit.mail.base import Mailer, MailError, PermanentMailError, TemporaryMailError
from portalkit.mail.console import ConsoleMailer
from portalkit.mail.file import FileMailer
from portalkit.mail.memory import MemoryMailer
from portalkit.mail.smtp import SmtpMailer

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
