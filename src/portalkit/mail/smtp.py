"""The SMTP backend (standard library ``smtplib``): plain, STARTTLS or implicit TLS, with login.

One connection serves a whole batch. Errors are sorted per message: a refused connection, a
timeout, a dropped connection or a 4xx reply is temporary; a 5xx reply is permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import Message
from typing import TYPE_CHECKING, Literal

from portalkit.mail.base import MailError, PermanentMailError, TemporaryMailError

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["SmtpMailer"]

Security = Literal["none", "starttls", "tls"]


class SmtpMailer:
    """Delivers through an SMTP server.

    ``security`` is ``"starttls"`` (upgrade a plain connection, port 587), ``"tls"``
    (implicit TLS, port 465) or ``"none"`` (only for a relay on the same machine).
    ``ssl_context`` defaults to the system's trusted certificates with host-name checks.
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self._username, self._password = username, password
        self.timeout = timeout
        self._context = ssl_context or ssl.create_default_context()

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> SmtpMailer:
        """The server of the ``PORTALKIT_SMTP_*`` settings (``PORTALKIT_MAIL_BACKEND=smtp``)."""
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username or None,
            password=settings.smtp_password.get_secret_value() or None,
            timeout=settings.smtp_timeout,
        )

    def __repr__(self) -> str:
        # Never the password.
        return f"SmtpMailer({self.host!r}, {self.port}, security={self.security!r})"

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                client.starttls(context=self._context)
        if self._username:
            client.login(self._username, self._password or "")
        return client

    def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """Deliver every message over one connection."""
        if not messages:
            return []
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            error: MailError = TemporaryMailError(
                f"the SMTP server refused the login ({exc.smtp_code}); check the credentials"
            )
            return [error for _ in messages]
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            error = TemporaryMailError(f"cannot reach {self.host}:{self.port}: {exc}")
            return [error for _ in messages]
        results: list[MailError | None] = []
        try:
            for message in messages:
                results.append(_send_one(client, message))
                if isinstance(results[-1], TemporaryMailError) and _is_connection(results[-1]):
                    broken = results[-1]
                    results += [broken for _ in messages[len(results) :]]
                    break
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return results


def _is_connection(error: MailError) -> bool:
    return str(error).startswith("connection lost")


def _send_one(client: smtplib.SMTP, message: Message) -> MailError | None:
    try:
        refused = client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(500 <= code < 600 for code in codes):
            return PermanentMailError(f"recipient refused: {codes}")
        return TemporaryMailError(f"recipient deferred: {codes}")
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            return PermanentMailError(f"message refused ({exc.smtp_code})")
        return TemporaryMailError(f"server said try later ({exc.smtp_code})")
    except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
        return TemporaryMailError(f"connection lost: {exc}")
    except smtplib.SMTPException as exc:
        return TemporaryMailError(f"SMTP error: {exc}")
    if refused:  # some recipients of several were refused; ours carry one each
        return PermanentMailError(f"recipient refused: {sorted(refused)}")
    return None
