"""Adding a person as a login of a customer, in one call that tells nothing about the vendor.

A customer's own administrator (a member holding ``members.manage``) adds its people with
:meth:`LoginService.add`: the contact, the account (when the address has none yet), an extra
account's membership and its invitation, in one transaction. Its answer is the same whether
or not the address already has a login somewhere else at the vendor — the same type, the same
fields, the same work — so the form is no way to find out who else the vendor serves:

- an address without a login gets a new account and the usual invitation to choose a
  password;
- an address that has a login gets an invitation to *join* this customer, which its owner
  accepts with the password it already has (django-organizations' "invite existing users");
- a username that is taken is replaced by a free one without saying by whom; the invitation
  tells the person which username to use.

Example::

    login = portal.logins.add(admin, customer=acme, email="tom@acme.example",
                              first_name="Tom", last_name="de Boer", profile=reader)
    login.status                    # MembershipStatus.INVITED, whoever Tom is

Staff may use it too, for the same one-transaction set-up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from portalkit import _validation as v
from portalkit._guard import vendor_of
from portalkit._service import ident
from portalkit.accounts.model import Account, check_language
from portalkit.accounts.service import AccountService
from portalkit.actors import Actor
from portalkit.errors import Problem
from portalkit.staffrights import LOGINS_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.credentials import CredentialService
    from portalkit.customers.model import Customer, Location
    from portalkit.customers.service import ContactService
    from portalkit.memberships.model import Access, LocationGrant, Membership, MembershipKind
    from portalkit.memberships.service import MembershipService
    from portalkit.profiles.model import PermissionProfile
    from portalkit.storage.base import UnitOfWork

__all__ = ["LoginService"]

_SUFFIXES = 20


class LoginService:
    """Add people as logins of a customer. Reached as ``portal.logins``."""

    def __init__(
        self,
        rt: Runtime,
        *,
        access: AccessService,
        accounts: AccountService,
        contacts: ContactService,
        memberships: MembershipService,
        credentials: CredentialService,
    ) -> None:
        self._rt = rt
        self._access = access
        self._accounts = accounts
        self._contacts = contacts
        self._memberships = memberships
        self._credentials = credentials

    def add(
        self,
        actor: Actor,
        *,
        customer: Customer | UUID,
        email: str,
        first_name: str,
        last_name: str,
        profile: PermissionProfile | UUID | None = None,
        username: str | None = None,
        language: str | None = None,
        kind: MembershipKind | str | None = None,
        location_grants: Mapping[Location | UUID, Access | str] | Iterable[LocationGrant] = (),
        customer_grants: Iterable[Customer | UUID] = (),
        subscriptions: Iterable[str] | None = None,
        job_title: str | None = None,
        department: str | None = None,
        phone: str | None = None,
    ) -> Membership:
        """Add a person as an invited login of ``customer`` and mail the invitation.

        Creates the contact, the account if the address has none (``username`` if free,
        else a free variant; the local part of the address when not given), the membership
        — an extra account when a customer admin adds it, within the admin's own rights as
        for :meth:`MembershipService.create` — and the invitation, all in one transaction.
        Returns the new membership, invited, whether the address was known or not.
        ``subscriptions=None`` gives the login its customer's notification defaults.

        Raises ValidationError for bad input, PermissionDenied for rights beyond the admin's
        own, NotFound for a customer out of reach, RateLimited when the invitation was sent
        too often, and Conflict only when the person already has a login at this same
        customer (which the admin can see anyway).
        """
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        self._access.delegated_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        address = v.email(problems, "email", email)
        wanted = v.username(problems, "username", username) if username is not None else ""
        lang = check_language(problems, language or self._rt.settings.default_language)
        customer_id = ident("customer", customer)
        v.raise_if(problems)
        wanted = wanted or address.partition("@")[0]
        with self._rt.transaction() as uow:
            known = uow.accounts.get_by(vendor_id, "email", address)
            # The same look-ups whether or not the address is known, so the work is the same.
            free = _free_username(uow, vendor_id, wanted)
            person = self._contacts.create(
                actor,
                customer=customer_id,
                first_name=first_name,
                last_name=last_name,
                email=address,
                job_title=job_title,
                department=department,
                phone=phone,
            )
            account = known or self._new_account(uow, actor, vendor_id, free, address, lang)
            membership = self._memberships.create(
                actor,
                account=account.id,
                customer=person.customer_id,
                contact=person.id,
                kind=kind,
                status="invited",
                profile=profile,
                location_grants=location_grants,
                customer_grants=customer_grants,
                subscriptions=subscriptions,
            )
            self._credentials.invite(actor, membership)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="login_added",
                real=actor,
                customer_id=membership.customer_id,
                target=f"membership:{membership.id}",
                # For the audit log's readers only: the admin's answer never says this.
                existing_account=known is not None,
            )
        return membership

    def _new_account(
        self,
        uow: UnitOfWork,
        actor: Actor,
        vendor_id: UUID,
        username: str,
        address: str,
        language: str,
    ) -> Account:
        account = Account(
            id=uuid4(),
            vendor_id=vendor_id,
            username=username,
            email=address,
            created_at=self._rt.clock.now(),
            language=language,
        )
        uow.accounts.add(account)
        self._rt.record(
            uow,
            vendor_id=vendor_id,
            action="account_created",
            real=actor,
            target=f"account:{account.id}",
        )
        return account


def _free_username(uow: UnitOfWork, vendor_id: UUID, wanted: str) -> str:
    """``wanted`` if nobody has it, else the first free ``wanted2``, ``wanted3``, … (then a
    random suffix): whose name it was is nobody's business."""
    base = wanted[:140]
    for n in range(1, _SUFFIXES + 1):
        name = base if n == 1 else f"{base}{n}"
        if uow.accounts.get_by(vendor_id, "username", name) is None:
            return name
    return f"{base}-{secrets.token_hex(4)}"
