"""Accounts as records: login identities, and the languages portalkit's texts come in."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from uuid import UUID

import attrs

from portalkit._stamps import new_session_stamp
from portalkit.errors import Problem
from portalkit.i18n import SUPPORTED_LANGUAGES

_LANGUAGE_RE = re.compile(r"[a-z]{2}")


class AccountStatus(enum.Enum):
    """Whether an account may log in at all (memberships add their own status)."""

    ACTIVE = "active"
    DISABLED = "disabled"


@attrs.frozen
class Account:
    """A login identity. The password hash and session stamp never show in ``repr()``.

    ``must_change_password`` is set for passwords an admin set or portalkit generated: the
    next login says so, and such a password stops working at ``password_expires_at`` if it
    was never changed. ``last_login_at`` and ``login_count`` count successful logins.
    """

    id: UUID
    vendor_id: UUID
    username: str
    email: str
    created_at: datetime
    status: AccountStatus = AccountStatus.ACTIVE
    language: str = "en"
    password_hash: str | None = attrs.field(default=None, repr=False)
    session_stamp: str = attrs.field(factory=new_session_stamp, repr=False)
    must_change_password: bool = False
    password_expires_at: datetime | None = None
    password_changed_at: datetime | None = None
    last_login_at: datetime | None = None
    login_count: int = 0
    version: int = 1

    @property
    def active(self) -> bool:
        """True while the account is not disabled."""
        return self.status is AccountStatus.ACTIVE


def check_language(problems: list[Problem], value: object) -> str:
    """``value`` if it is a supported language; else note a problem and return ''."""
    if not isinstance(value, str) or value not in SUPPORTED_LANGUAGES:
        problems.append(
            Problem(
                "language",
                "unsupported",
                "must be one of {choices}",
                {"choices": ", ".join(SUPPORTED_LANGUAGES)},
            )
        )
        return ""
    return value
