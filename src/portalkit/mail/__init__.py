"""Mail backends: the :class:`~portalkit.mail.base.Mailer` protocol and the ones portalkit ships."""

from portalkit.mail.base import Mailer
from portalkit.mail.console import ConsoleMailer
from portalkit.mail.memory import MemoryMailer

__all__ = ["ConsoleMailer", "Mailer", "MemoryMailer"]
