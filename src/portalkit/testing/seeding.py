"""Logins with known passwords for demo and test data, behind a switch that is off by default.

A real portal never knows its people's passwords: it invites them
(``portal.credentials.invite``). A demo portal and a host's test fixtures do want logins they
can type in at once — a known password, no "change it first" screen. :func:`seed_login` makes
such a login in one call, and only on a portal whose settings say so::

    from portalkit import Portal, PortalSettings
    from portalkit.testing import seed_login

    portal = Portal(settings=PortalSettings(seed_known_passwords=True))   # demo / tests only
    seed_login(portal, staff, customer=acme, username="anna", email="anna@acme.example",
               password="demo harbour tulip", profile=buyer)

Without ``PORTALKIT_SEED_KNOWN_PASSWORDS=true`` (or ``seed_known_passwords=True``) it raises
ConfigurationError and creates nothing, so seeding code that found its way into a production
start-up fails loudly instead of planting known passwords.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portalkit.errors import ConfigurationError

if TYPE_CHECKING:
    from portalkit.actors import Actor
    from portalkit.memberships.model import Membership
    from portalkit.portal import Portal

__all__ = ["seed_login"]


def seed_login(
    portal: Portal,
    actor: Actor,
    *,
    customer: Any,
    username: str,
    email: str,
    password: str,
    profile: Any = None,
    kind: str = "main",
    first_name: str | None = None,
    last_name: str = "Demo",
    account: Any = None,
    language: str | None = None,
    **membership_fields: Any,
) -> Membership:
    """An active login of ``customer`` whose password is ``password``, usable at once (no
    must-change), with its contact, account and membership; one transaction.

    ``actor`` is the vendor's system actor or an employee holding ``logins.manage`` and
    ``impersonate``. ``account`` reuses an existing account (one
    person with logins at two customers); ``membership_fields`` go to
    ``portal.memberships.create`` (``customer_grants``, ``location_grants``, …). The password
    must pass the portal's password policy like any other. Refused with ConfigurationError
    unless the portal's ``seed_known_passwords`` setting is on.
    """
    if portal.settings.seed_known_passwords is not True:
        raise ConfigurationError(
            "seed_login gives logins known passwords, for demo and test data only; set "
            "PORTALKIT_SEED_KNOWN_PASSWORDS=true (seed_known_passwords=True) to allow it"
        )
    with portal.transaction():
        contact = portal.contacts.create(
            actor,
            customer=customer,
            first_name=first_name or username.capitalize(),
            last_name=last_name,
            email=email,
        )
        if account is None:
            account = portal.accounts.create(
                actor, username=username, email=email, language=language
            )
        membership = portal.memberships.create(
            actor,
            customer=customer,
            account=account,
            contact=contact,
            kind=kind,
            profile=profile,
            **membership_fields,
        )
    # The hash is made outside any transaction (SQLite's write lock), as set_password does.
    portal.credentials.set_password(actor, membership, password, must_change=False)
    return portal.memberships.get(actor, membership)
