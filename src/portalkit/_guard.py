"""Who may call what, until the access-control layer takes over: deny by default.

The foundation knows only three rules: staff holding the permission a call names and
vendor-bound system actors administer their own vendor; the platform actor only creates
vendors; a member reads its own customer and changes nothing. Each rule lives here once, so
access control replaces them in one place.
"""

from __future__ import annotations

from uuid import UUID

import attrs

from portalkit.actors import Actor, Member, Staff, System
from portalkit.errors import PermissionDenied, ValidationError
from portalkit.staffrights import LEGACY, STAFF_PERMISSIONS, StaffPermission


def who(actor: object) -> Actor:
    """The actor itself, after checking it is one (anything else is a programming error)."""
    if not isinstance(actor, Staff | Member | System):
        raise ValidationError.single(
            "actor", "not_actor", "must be a Staff, Member or System actor"
        )
    return actor


def vendor_of(actor: Actor) -> UUID:
    """The vendor an actor works in; refuses non-actors and the vendor-less platform actor."""
    actor = who(actor)
    if actor.vendor_id is None:
        raise PermissionDenied("the platform actor works on vendors only; act as one vendor")
    return actor.vendor_id


def require_platform(actor: Actor) -> None:
    """Only ``System()`` with no vendor may manage vendors."""
    if not (isinstance(who(actor), System) and actor.vendor_id is None):
        raise PermissionDenied("only the platform actor System() may manage vendors")


def require_admin(
    actor: Actor, permission: StaffPermission, /, *alternatives: StaffPermission
) -> UUID:
    """The actor's vendor, if the actor may do a staff-only thing that needs ``permission``
    (or any one of ``alternatives``): a vendor system actor always may, a Staff actor when it
    holds one of them, a member never.

    Every staff-only call names what it needs, so the permission argument is required; a name
    portalkit does not know is a ValidationError (a typo must not decide access).
    """
    needed = (permission, *alternatives)
    for name in needed:
        if name not in STAFF_PERMISSIONS:
            raise ValidationError.single(
                "permission",
                "unknown_permission",
                "{name!r} is not a staff permission",
                name=str(name)[:100],
            )
    vendor_id = vendor_of(actor)
    if isinstance(actor, Member):
        raise PermissionDenied("only the vendor's staff may do this")
    if isinstance(actor, Staff) and actor.permissions.isdisjoint(needed):
        raise PermissionDenied(
            "this needs the staff permission {permission}", permission=" or ".join(needed)
        )
    return vendor_id


TOKEN_SERVICES = frozenset(
    {
        "access",
        "assortments",
        "cart",
        "catalogue",
        "customers",
        "devices",
        "documents",
        "inbox",
        "locations",
        "orders",
        "pricing",
        "quotes",
        "shop",
        "tickets",
        "work_requests",
    }
)
"""The services (``Portal`` attributes) whose calls an access token's actor may make: the
portal's business, as far as the token's capabilities reach. Every other service — logins,
memberships, profiles, credentials, second factors, sessions, access tokens themselves and
whatever is added later — refuses such an actor in every call, before the call begins (deny
by default: a new service is closed to tokens until it is listed here)."""


NEVER_BY_TOKEN = frozenset({"members.manage"})
"""Capabilities an access token never carries, whatever its membership holds:
administration is for the person's own login."""


def by_token(actor: object) -> bool:
    """Whether ``actor`` (or the actor of an access context) works through an access token."""
    actor = getattr(actor, "actor", actor)  # an AccessContext stands for its actor
    return isinstance(actor, Member) and actor.token_id is not None


def refuse_token(actor: object) -> None:
    """Refuse an access token's actor: credentials, sessions and administration are for the
    person's own login only (PermissionDenied)."""
    if by_token(actor):
        raise PermissionDenied(
            "an access token is not valid for this call; sign in as the person instead"
        )


def legacy_rights(actor: object) -> object:
    """``actor`` as ``PORTALKIT_STAFF_PERMISSIONS=legacy`` sees it: a Staff holding no
    permissions holds :data:`~portalkit.staffrights.LEGACY` (all but ``impersonate`` and
    ``data.erase``); any
    other actor, and a Staff holding some, stays as it is."""
    if isinstance(actor, Staff) and not actor.permissions:
        return attrs.evolve(actor, permissions=LEGACY)
    return actor


def may_read_customer(actor: Actor, customer_id: UUID) -> bool:
    """Whether the actor may see records of this customer (the vendor is already checked)."""
    if isinstance(actor, Member):
        return actor.customer_id == customer_id
    return True
