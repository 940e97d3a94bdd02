"""Accounts: login identities within a vendor.

An account has a username (unique per vendor, case-insensitively) and a login e-mail (normalised,
unique per vendor). It reaches customers through memberships: one account may hold memberships in
several customers of its vendor and switch between them.

Example::

    alice = portal.accounts.create(staff, username="alice", email="Alice@Example.COM")
    alice.email  # 'Alice@example.com' (domain lower-cased)

    # A member moves its own login: a link to the new address, applied once it is used.
    portal.accounts.request_email_change(member, "alice@new.example", password="...")
    portal.accounts.confirm_email_change(vendor, token)  # on the link's page
"""

from portalkit._stamps import new_session_stamp as new_session_stamp  # its old home
from portalkit.accounts.model import (
    Account,
    AccountStatus,
)
from portalkit.accounts.service import (
    AccountService,
)
from portalkit.i18n import SUPPORTED_LANGUAGES

__all__ = [
    "SUPPORTED_LANGUAGES",
    "Account",
    "AccountService",
    "AccountStatus",
]
