"""Test portals shared by the credential, protection, no-access, mutant and registration tests:
a portal set up to send mail, logins with a known password, and a hasher that counts its work.

Not a test module: pytest does not collect it (``pythonpath = ["tests"]`` makes it importable).
"""

from __future__ import annotations

import re
from typing import Any

from cryptography.fernet import Fernet

from portalkit import Membership, Portal, PortalSettings
from portalkit.passwords import PasswordHasher
from portalkit.testing import World

GOOD = "correct horse battery staple"


class CountingHasher:
    """The real hasher, counting the verifications it does (A6: equal work on every path)."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.verifications = 0

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, password: str, encoded: str | None) -> bool:
        self.verifications += 1
        return self.real.verify(password, encoded)

    def dummy_verify(self, password: str) -> None:
        self.verifications += 1
        self.real.dummy_verify(password)

    def needs_rehash(self, encoded: str | None) -> bool:
        return self.real.needs_rehash(encoded)

    def is_usable(self, encoded: str | None) -> bool:
        return self.real.is_usable(encoded)


def mail_world(
    portal: Portal, base_url: str = "https://portal.vendor.example", **settings: Any
) -> World:
    """A :class:`World` on ``portal``, with the settings mail with links needs."""
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url=base_url,
        **settings,
    )
    return World(portal)


def login_with_password(world: World, password: str | None = GOOD, **fields: Any) -> Membership:
    """An active login that sees orders, with ``password`` set (no change needed)."""
    profile = fields.pop("profile", None) or world.profile(capabilities={"orders.view"})
    account = world.account(
        username=fields.pop("username", None) or f"user{world._next()}",
        email=fields.pop("email", None) or f"user{world._next()}@customer.example",
    )
    membership = world.membership(account=account, profile=profile, **fields)
    if password is not None:
        world.portal.credentials.set_password(world.system, membership, password, must_change=False)
    return membership


def account_of(world: World, membership: Membership) -> Any:
    """The account of ``membership``, as staff read it."""
    return world.portal.accounts.get(world.staff, membership.account_id)


def without_ids(text: str) -> str:
    """``text`` (a repr) without its ids: random hex may hold a price's digits by chance."""
    return re.sub(r"UUID\('[0-9a-f-]+'\)", "UUID", text)
