"""Delegated administration's limits: what a customer's own administrator may touch.

A delegated administrator (a member with ``members.manage``) may change only logins that see
no more than it sees itself, and may hand out only rights within its own. These functions
decide that; the membership and credential services ask them before every change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from uuid import UUID

import attrs

from portalkit.actors import Member
from portalkit.errors import Message, NotFound, PermissionDenied
from portalkit.memberships.model import (
    LocationGrant,
    Membership,
    MembershipKind,
    MembershipStatus,
)
from portalkit.profiles.model import Scope

if TYPE_CHECKING:
    from portalkit.access import AccessContext, AccessService, ResourceType
    from portalkit.storage.base import UnitOfWork

__all__ = ["may_switch_on", "may_touch", "may_touch_account", "within_rights"]


_SCOPE_ORDER = {Scope.OWN: 0, Scope.LOCATION: 1, Scope.CUSTOMER: 2, Scope.TREE: 3}


@attrs.frozen
class _Reach:
    """What one login reaches, as written and as it works now, for comparing a login a
    delegated admin makes or touches with the admin's own (compared field by field, the
    same way on both sides, so that a default or an empty list cannot widen anything)."""

    customer_id: UUID
    kind: MembershipKind
    has_profile: bool
    written: frozenset[str]  # the profile's capabilities
    effective: frozenset[str]  # after the customer's settings (hidden prices)
    scopes: Mapping[str, Scope]  # as the profile writes them
    location_grants: tuple[LocationGrant, ...]
    customer_grants: frozenset[UUID]

    def scope(self, resource: str, default: Scope) -> Scope:
        """The scope this login sees ``resource`` with: its own, else the type's default."""
        return self.scopes.get(resource, default)

    def customers(self, scope: Scope) -> frozenset[UUID] | None:
        """The customers whose records it sees at ``scope`` (None: its whole tree)."""
        if scope is Scope.TREE:
            return None
        if scope is Scope.OWN:
            return frozenset({self.customer_id})
        return frozenset({self.customer_id}) | self.customer_grants


def _reach(
    uow: UnitOfWork,
    vendor_id: UUID,
    customer_id: UUID,
    kind: MembershipKind,
    profile_id: UUID | None,
    grants: tuple[LocationGrant, ...],
    customers: frozenset[UUID],
) -> _Reach:
    profile = uow.profiles.get(vendor_id, profile_id) if profile_id is not None else None
    owner = uow.customers.get(vendor_id, customer_id)
    written = frozenset(profile.capabilities) if profile is not None else frozenset()
    effective = written
    if owner is None or not owner.settings.show_prices:
        effective = written - {"prices.view"}
    return _Reach(
        customer_id=customer_id,
        kind=kind,
        has_profile=profile is not None,
        written=written,
        effective=effective,
        scopes=dict(profile.scopes) if profile is not None else {},
        location_grants=grants,
        customer_grants=customers,
    )


def _own_reach(uow: UnitOfWork, delegate: AccessContext) -> _Reach:
    """The delegated admin's own reach, read the same way as the logins it compares with."""
    actor = delegate.actor
    assert isinstance(actor, Member)
    own = uow.memberships.get(actor.vendor_id, actor.membership_id)
    assert own is not None  # its context was just built from it
    return _reach(
        uow,
        actor.vendor_id,
        own.customer_id,
        own.kind,
        own.profile_id,
        own.location_grants,
        own.customer_grants,
    )


def _beyond(
    access: AccessService, delegate: AccessContext, admin: _Reach, login: _Reach
) -> list[str]:
    """Everything ``login`` reaches that the admin does not: capabilities, scopes, customers,
    locations and main-account dependence — each compared as it works, not as it is written."""
    beyond: list[str] = []
    if login.kind is not MembershipKind.EXTRA:
        # An extra account works only while the main account does; any other kind would
        # outlive it, and so outlive the admin's own rights when the main account stops.
        beyond.append(
            Message("a main login (customer admins give out extra accounts only)")
            if login.kind is MembershipKind.MAIN
            else Message("a member login (customer admins give out extra accounts only)")
        )
    beyond += sorted(login.written - admin.written)
    beyond += sorted((login.effective - admin.effective) - (login.written - admin.written))
    if login.has_profile:
        beyond += _beyond_scopes(access, delegate, admin, login)
    readable, writable = delegate.location_read, delegate.location_write
    if readable is not None:
        if not login.location_grants:
            # No grants means no location limit: every location, more than the admin holds.
            beyond.append(Message("every location (give the login locations of your own)"))
        for grant in login.location_grants:
            if grant.location_id not in readable:
                beyond.append(Message("location {location}", location=grant.location_id))
            elif grant.can_write and grant.location_id not in (writable or ()):
                beyond.append(Message("write at location {location}", location=grant.location_id))
    # Granted customers lie among those it manages; what each resource type then shows of them
    # was compared above, type by type.
    managed = delegate.reach("memberships")
    beyond += [
        Message("customer {customer}", customer=c)
        for c in sorted(login.customer_grants - managed, key=str)
    ]
    return list(dict.fromkeys(beyond))


def _beyond_scopes(
    access: AccessService, delegate: AccessContext, admin: _Reach, login: _Reach
) -> list[str]:
    beyond: list[str] = []
    kinds = access.resources
    for name in sorted({*kinds, *admin.scopes, *login.scopes}):
        kind = kinds.get(name)
        if kind is not None and kind.view not in login.effective:
            continue  # the login sees nothing of this type, whatever its scope
        # A missing scope is the type's default, for both logins alike (customer for a type
        # this process has not registered, as access control reads it).
        default = kind.default_scope if kind is not None else Scope.CUSTOMER
        mine, theirs = admin.scope(name, default), login.scope(name, default)
        if _SCOPE_ORDER[theirs] > _SCOPE_ORDER[mine]:
            beyond.append(
                Message("{resource} per {scope}", resource=name, scope=Message(theirs.value))
            )
            continue
        if kind is None:
            continue  # nothing filters an unregistered type here: its scope is all it has
        if delegate.predicate(kind).nothing and _sees_some(kind, login):
            beyond.append(Message("{resource} (you see none)", resource=name))
            continue
        allowed, wanted = admin.customers(mine), login.customers(theirs)
        if allowed is not None and (wanted is None or not wanted <= allowed):
            beyond.append(Message("{resource} of customers outside your reach", resource=name))
    return beyond


def _sees_some(kind: ResourceType, login: _Reach) -> bool:
    """Whether a login may see any record of ``kind`` (the cases that show none, as access
    control builds its filter; anything else counts as some)."""
    scope = login.scope(kind.name, kind.default_scope)
    if scope is Scope.LOCATION:
        return bool(login.location_grants) and kind.location_field is not None
    if scope is Scope.OWN:
        return kind.owner_field is not None
    return True


def may_touch(
    uow: UnitOfWork,
    access: AccessService,
    delegate: AccessContext,
    target: Membership,
    admin: _Reach | None = None,
) -> None:
    """A delegated admin acts only on logins of its reach whose rights are all within its
    own, and never on a main account, another administrator or its own login."""
    if target.customer_id not in delegate.reach("memberships"):
        raise NotFound("membership", target.id)
    actor = delegate.actor
    assert isinstance(actor, Member)
    if target.id == actor.membership_id:
        raise PermissionDenied("you cannot change your own login")
    if target.kind is MembershipKind.MAIN:
        raise PermissionDenied("only the vendor's staff may change a main account")
    profile = uow.profiles.get(target.vendor_id, target.profile_id) if target.profile_id else None
    if profile is not None and "members.manage" in profile.capabilities:
        raise PermissionDenied("only the vendor's staff may change another administrator")
    login = _reach(
        uow,
        target.vendor_id,
        target.customer_id,
        target.kind,
        target.profile_id,
        target.location_grants,
        target.customer_grants,
    )
    beyond = _beyond(access, delegate, admin or _own_reach(uow, delegate), login)
    if beyond:
        raise PermissionDenied(
            "this login holds more than you do; only the vendor's staff may change it: {rights}",
            rights=Message.joined(beyond, ", "),
        )


def may_touch_account(
    uow: UnitOfWork, access: AccessService, delegate: AccessContext, account_id: UUID
) -> None:
    """A delegated admin may act on an account (its password, its links) only if every
    membership of that account is one it may touch: an account shared with another customer,
    or holding a main or admin membership anywhere, is the vendor staff's."""
    actor = delegate.actor
    assert isinstance(actor, Member)
    if account_id == actor.account_id:
        raise PermissionDenied("you cannot change your own login")
    reach = delegate.reach("memberships")
    admin = _own_reach(uow, delegate)
    for membership in uow.memberships.list(actor.vendor_id, where={"account_id": account_id}):
        if membership.customer_id not in reach:
            raise PermissionDenied(
                "this login also works for a customer outside your reach; only the vendor's "
                "staff may change it"
            )
        may_touch(uow, access, delegate, membership, admin)


def _not_accepted() -> PermissionDenied:
    return PermissionDenied(
        "this login starts working when its person accepts the invitation; resend the invitation "
        "instead (only a login that was accepted, and whose account is wholly in your hands, can "
        "be switched on again by you)"
    )


def may_switch_on(
    uow: UnitOfWork, access: AccessService, delegate: AccessContext, target: Membership
) -> None:
    """A delegated admin never switches a login on in place of its person: an invited one
    waits for its owner's yes (it may be a person with a login elsewhere, asked to join), and
    a disabled one only comes back if its account is wholly the admin's and has a password.
    Every refusal reads the same, so it tells nobody which case it was."""
    account = uow.accounts.get(target.vendor_id, target.account_id)
    if target.status is MembershipStatus.INVITED or account is None or not account.password_hash:
        raise _not_accepted()
    try:
        may_touch_account(uow, access, delegate, target.account_id)
    except PermissionDenied:
        raise _not_accepted() from None


def within_rights(
    uow: UnitOfWork,
    access: AccessService,
    delegate: AccessContext,
    customer_id: UUID,
    kind: MembershipKind,
    profile_id: UUID | None,
    grants: tuple[LocationGrant, ...],
    customers: frozenset[UUID],
) -> None:
    """Refuse anything a delegated admin would grant beyond what it holds itself."""
    if customer_id not in delegate.reach("memberships"):
        raise NotFound("customer", customer_id)
    if kind is MembershipKind.MAIN:
        raise PermissionDenied("only the vendor's staff may create or promote a main account")
    vendor_id = delegate.actor.vendor_id
    assert vendor_id is not None
    login = _reach(uow, vendor_id, customer_id, kind, profile_id, grants, customers)
    if "members.manage" in login.written:
        # A login it made an administrator would be out of its hands (and its main
        # account's) at once: no delegated admin changes another administrator.
        raise PermissionDenied("only the vendor's staff may make a login an administrator")
    beyond = _beyond(access, delegate, _own_reach(uow, delegate), login)
    if beyond:
        raise PermissionDenied(
            "you cannot grant what you do not hold: {rights}", rights=Message.joined(beyond, ", ")
        )
