"""Who is acting: every mutating call names its actor, and authorization and audit follow from it.

There is no hidden "current user" in portalkit. A host app builds the actor for each request:

- :class:`Staff` — an employee of the vendor, authenticated by the host app. Staff act as
  customer administrators in every customer of their own vendor, as far as the permissions
  the host gives them reach (:mod:`portalkit.staffrights`).
- :class:`Member` — a login of a customer (an account working through one membership).
- :class:`System` — background jobs and set-up scripts of one vendor. ``System()`` without a
  vendor is the platform itself and may only create and list vendors.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from portalkit.errors import ValidationError
from portalkit.staffrights import STAFF_PERMISSIONS

__all__ = ["Actor", "Member", "Staff", "System"]


def _permissions(value: object) -> frozenset[str]:
    # Any collection of names will do; a bare string would be taken letter by letter.
    if isinstance(value, str | bytes) or not isinstance(value, set | frozenset | list | tuple):
        raise ValidationError.single(
            "permissions", "not_set", "must be a set of staff permission names"
        )
    # Exact strings only: a str subclass could hash and compare as a name it does not spell.
    if any(type(name) is not str for name in value):
        raise ValidationError.single(
            "permissions", "not_set", "must be a set of staff permission names"
        )
    return frozenset(value)


def _known(instance: object, attribute: object, value: frozenset[str]) -> None:
    # Fail closed: a misspelt permission must not pass for "not granted" (or for granted).
    for name in sorted(value, key=str):
        if name not in STAFF_PERMISSIONS:
            raise ValidationError.single(
                "permissions",
                "unknown_permission",
                "{name!r} is not a staff permission",
                name=str(name)[:100],
            )


@attrs.frozen
class Staff:
    """A vendor employee. ``user_id`` is the host app's own identifier, kept in the audit trail.

    ``permissions`` holds the vendor-side rights the host grants this employee, names from
    :mod:`portalkit.staffrights` (``"customers.provision"``, ``"impersonate"``, …); a name
    portalkit does not know is a ValidationError here. With none, the employee may do nothing
    staff-only, unless the host opts in to ``PORTALKIT_STAFF_PERMISSIONS=legacy``.
    """

    vendor_id: UUID
    user_id: str
    name: str = ""
    permissions: frozenset[str] = attrs.field(
        default=frozenset(), converter=_permissions, validator=_known
    )


@attrs.frozen
class Member:
    """A customer's login acting through one membership (one customer at a time).

    When vendor staff view the portal as this member (:meth:`portalkit.access.AccessService.view_as`), the actor
    also names the ``impersonator`` and the end of that session, and is read-only unless the
    staff member was allowed to change things.

    An actor made by :meth:`~portalkit.auth.AuthService.authenticate_token` names its access
    token (``token_id``) and what the token may use (``token_capabilities``): its context
    holds those and the membership's current rights, whichever are fewer, and every
    credential or administration call refuses it (:func:`portalkit._guard.refuse_token`).
    """

    vendor_id: UUID
    account_id: UUID
    membership_id: UUID
    customer_id: UUID
    impersonator: str | None = None
    read_only: bool = False
    expires_at: datetime | None = None
    token_id: UUID | None = None
    token_capabilities: frozenset[str] = frozenset()


@attrs.frozen
class System:
    """Portalkit's own jobs or the host's scripts; ``vendor_id=None`` means the platform."""

    vendor_id: UUID | None = None
    reason: str = "system"


Actor = Staff | Member | System
"""Any of the three kinds of actor."""
