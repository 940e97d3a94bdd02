"""Who may call what, until the access-control layer takes over: deny by default.

The foundation knows only three rules: staff and vendor-bound system actors administer their own
vendor; the platform actor only creates vendors; a member reads its own customer and changes
nothing. Each rule lives here once, so access control replaces them in one place.
"""

from __future__ import annotations

from uuid import UUID

from portalkit.actors import Actor, Member, Staff, System
from portalkit.errors import PermissionDenied, ValidationError


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


def require_admin(actor: Actor) -> UUID:
    """Staff and vendor system actors administer their vendor; members may not (yet)."""
    vendor_id = vendor_of(actor)
    if isinstance(actor, Member):
        raise PermissionDenied("only the vendor's staff may do this")
    return vendor_id


def may_read_customer(actor: Actor, customer_id: UUID) -> bool:
    """Whether the actor may see records of this customer (the vendor is already checked)."""
    if isinstance(actor, Member):
        return actor.customer_id == customer_id
    return True
