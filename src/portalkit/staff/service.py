"""The staff directory service (``portal.staff``); ``model.py`` holds the records."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._ids import ordered_id
from portalkit.accounts.model import check_language
from portalkit.actors import Actor
from portalkit.errors import NotFound, Problem
from portalkit.staff.model import InboxAddress, StaffMember
from portalkit.staffrights import INBOX_WORK, STAFF_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.storage.base import UnitOfWork

__all__ = ["StaffService"]


class StaffService:
    """The vendor's staff as the inbox knows them: who can be assigned work, and where the
    inbox mails go. Reached as ``portal.staff``.

    Staff are identified by the host's user id, as the :class:`~portalkit.actors.Staff`
    actor is; portalkit keeps only a name, an address and a language for each::

        portal.staff.add(staff, user_id="planner-1", name="Pia Planner",
                         email="pia@vendor.example", language="nl")
        portal.staff.set_inbox_address(staff, "inbox@vendor.example")
    """

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def add(
        self,
        actor: Actor,
        *,
        user_id: str,
        name: str,
        email: str,
        language: str | None = None,
    ) -> StaffMember:
        """Put a member of staff in the directory (Conflict if the user id is in it)."""
        vendor_id = require_admin(actor, STAFF_MANAGE)
        problems: list[Problem] = []
        uid = v.text(problems, "user_id", user_id, max_length=200)
        full = v.text(problems, "name", name, max_length=200)
        address = v.email(problems, "email", email)
        lang = check_language(problems, language or self._rt.settings.default_language)
        v.raise_if(problems)
        member = StaffMember(
            id=ordered_id(self._rt.clock.now()),
            vendor_id=vendor_id,
            user_id=uid,
            name=full,
            email=address,
            language=lang,
            created_at=self._rt.clock.now(),
        )
        with self._rt.transaction() as uow:
            uow.staff_members.add(member)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="staff_added",
                real=actor,
                target=f"staff:{uid}",
            )
        return member

    def deactivate(self, actor: Actor, user_id: str) -> StaffMember:
        """Take a member of staff out of assignment and mail (the entry stays)."""
        vendor_id = require_admin(actor, STAFF_MANAGE)
        with self._rt.transaction() as uow:
            current = self._find(uow, vendor_id, user_id)
            if not current.active:
                return current
            updated = attrs.evolve(current, active=False, version=current.version + 1)
            uow.staff_members.update(updated, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="staff_deactivated",
                real=actor,
                target=f"staff:{current.user_id}",
            )
            return updated

    def get(self, actor: Actor, user_id: str) -> StaffMember:
        """The directory entry of ``user_id``; NotFound if there is none."""
        vendor_id = require_admin(actor, STAFF_MANAGE, INBOX_WORK)
        with self._rt.transaction() as uow:
            return self._find(uow, vendor_id, user_id)

    def list(self, actor: Actor) -> list[StaffMember]:
        """The vendor's directory, oldest entry first."""
        vendor_id = require_admin(actor, STAFF_MANAGE, INBOX_WORK)
        with self._rt.transaction() as uow:
            return uow.staff_members.list(vendor_id)

    def set_inbox_address(self, actor: Actor, email: str) -> InboxAddress:
        """Set the address told about every new inbox item."""
        vendor_id = require_admin(actor, STAFF_MANAGE)
        problems: list[Problem] = []
        address = v.email(problems, "email", email)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = uow.inbox_settings.get_by(vendor_id, "vendor", None)
            if current is None:
                now = self._rt.clock.now()
                current = InboxAddress(
                    id=ordered_id(now), vendor_id=vendor_id, email=address, created_at=now
                )
                uow.inbox_settings.add(current)
            else:
                updated = attrs.evolve(current, email=address, version=current.version + 1)
                uow.inbox_settings.update(updated, current.version)
                current = updated
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="inbox_address_set",
                real=actor,
                target=f"vendor:{vendor_id}",
            )
            return current

    def inbox_address(self, actor: Actor) -> str | None:
        """The vendor's inbox address, or None while none is set."""
        vendor_id = require_admin(actor, STAFF_MANAGE, INBOX_WORK)
        with self._rt.transaction() as uow:
            return self.address(uow, vendor_id)

    # -- for the other services, inside their transaction ----------------------------------
    def address(self, uow: UnitOfWork, vendor_id: UUID) -> str | None:
        """The inbox address in the caller's transaction."""
        found = uow.inbox_settings.get_by(vendor_id, "vendor", None)
        return found.email if found is not None else None

    def find(self, uow: UnitOfWork, vendor_id: UUID, user_id: str) -> StaffMember | None:
        """The active directory entry of ``user_id``, or None."""
        if not isinstance(user_id, str) or not user_id or len(user_id) > 200:
            return None
        found = uow.staff_members.get_by(vendor_id, "user_id", user_id)
        return found if found is not None and found.active else None

    def _find(self, uow: UnitOfWork, vendor_id: UUID, user_id: str) -> StaffMember:
        found = (
            uow.staff_members.get_by(vendor_id, "user_id", user_id)
            if isinstance(user_id, str) and 0 < len(user_id) <= 200
            else None
        )
        if found is None:
            raise NotFound("staff member", user_id)
        return found
