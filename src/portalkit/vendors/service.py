"""The vendor service (``portal.vendors``); the package docstring of :mod:`portalkit.vendors` says what a vendor is."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from portalkit import _validation as v
from portalkit._guard import require_admin, require_platform, vendor_of, who
from portalkit._service import ident
from portalkit.actors import Actor
from portalkit.errors import NotFound, Problem
from portalkit.staffrights import VENDOR_MANAGE
from portalkit.vendors.model import Vendor

if TYPE_CHECKING:
    from portalkit._runtime import Runtime


class VendorService:
    """Create, look up and rename vendors. Reached as ``portal.vendors``."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def create(self, actor: Actor, *, code: str, name: str) -> Vendor:
        """Create a vendor; only the platform actor (``System()``) may.

        Raises ValidationError for a bad code or name and Conflict when the code is taken.
        """
        require_platform(actor)
        problems: list[Problem] = []
        code = v.code(problems, "code", code)
        name = v.text(problems, "name", name)
        v.raise_if(problems)
        vendor = Vendor(id=uuid4(), code=code, name=name, created_at=self._rt.clock.now())
        with self._rt.transaction() as uow:
            uow.vendors.add(vendor)
        return vendor

    def get(self, actor: Actor, vendor: Vendor | UUID) -> Vendor:
        """Return a vendor: the platform sees all, everyone else only their own."""
        own = who(actor).vendor_id
        vendor_id = ident("vendor", vendor)
        with self._rt.transaction() as uow:
            found = uow.vendors.get(vendor_id)
        if found is None or (own is not None and own != found.id):
            raise NotFound("vendor", vendor_id)
        return found

    def get_by_code(self, actor: Actor, code: str) -> Vendor:
        """Return the vendor with this login code (case-insensitive), e.g. from a login URL."""
        own = who(actor).vendor_id
        problems: list[Problem] = []
        code = v.code(problems, "code", code)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            found = uow.vendors.get_by_code(code)
        if found is None or (own is not None and own != found.id):
            raise NotFound("vendor", code)
        return found

    def rename(self, actor: Actor, vendor: Vendor | UUID, name: str) -> Vendor:
        """Give a vendor another display name (the name in mail and on pages); its ``code``,
        the login code in URLs, never changes. The platform actor renames any vendor, a
        vendor's staff (and its system actor) their own; members none.

        Nothing is written when the name is the same. Recorded in the audit log
        (``vendor_renamed``, with the old and the new name).
        """
        own = who(actor).vendor_id
        vendor_id = ident("vendor", vendor)
        if own is None:
            require_platform(actor)
        else:
            require_admin(actor, VENDOR_MANAGE)
        problems: list[Problem] = []
        name = v.text(problems, "name", name)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            found = uow.vendors.get(vendor_id)
            if found is None or (own is not None and own != found.id):
                raise NotFound("vendor", vendor_id)
            if found.name == name:
                return found
            renamed = uow.vendors.rename(found.id, name)
            assert renamed is not None
            self._rt.record(
                uow,
                vendor_id=found.id,
                action="vendor_renamed",
                real=actor,
                target=f"vendor:{found.id}",
                before=found.name,
                after=name,
            )
            return renamed

    def list(self, actor: Actor) -> list[Vendor]:
        """List vendors: all for the platform, otherwise just the actor's own."""
        with self._rt.transaction() as uow:
            if who(actor).vendor_id is None:
                return uow.vendors.list()
            own = uow.vendors.get(vendor_of(actor))
            return [own] if own else []
