"""The work request service (``portal.work_requests``); ``model.py`` holds the records."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._ids import ordered_id
from portalkit._service import ident, page, seen_version
from portalkit.access import ResourceType
from portalkit.actors import Actor, Member
from portalkit.errors import (
    ConcurrentModification,
    NotFound,
    PermissionDenied,
    Problem,
)
from portalkit.inbox.model import InboxItem, InboxStatus
from portalkit.staffrights import INBOX_WORK
from portalkit.workrequests.model import NOTES_MAX, WorkRequest

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.inbox.service import InboxService
    from portalkit.storage.base import UnitOfWork

__all__ = ["WORK_REQUESTS", "WorkRequestService"]

WORK_REQUESTS = ResourceType(
    "work_requests",
    view="work_requests.create",
    location_field="location_id",
    owner_field="account_id",
)
"""How access rules see work requests: by customer, location and filer."""


def _when(problems: list[Problem], field: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        problems.append(Problem(field, "not_datetime", "must be a date and time with a zone"))
        return None
    return value


class WorkRequestService:
    """Members ask for work at one of their sites; the vendor schedules it. Reached as
    ``portal.work_requests``.

    Example::

        request = portal.work_requests.create(member, subject="Boiler leaks",
                                              location=site, notes="Since Monday",
                                              wished_at=datetime(2026, 12, 7, 9, tzinfo=UTC))
        request.tentative                      # True: only the member's wish so far
        portal.work_requests.schedule(staff, request, at=datetime(2026, 12, 8, 13, tzinfo=UTC))
        portal.work_requests.list(member)      # with the vendor's date and status
    """

    def __init__(self, rt: Runtime, *, access: AccessService, inbox: InboxService) -> None:
        self._rt = rt
        self._access = access
        self._inbox = inbox
        # Registered, not only a known name: the "choose a site" list and string checks
        # then go by its view capability and fields as this service does.
        access.register_resource(WORK_REQUESTS)
        inbox.register_kind("work_request", on_status=self._follow)

    def create(
        self,
        actor: Actor,
        *,
        subject: str,
        location: Any,
        notes: str | None = None,
        wished_at: datetime | None = None,
    ) -> WorkRequest:
        """File a work request at ``location``, which must be within the member's write
        reach (a location of another customer: NotFound; one the member may only read:
        PermissionDenied); it lands in the vendor inbox. Notes take up to 4,000
        characters. Needs ``work_requests.create``."""
        ctx = self._access.context(actor)
        ctx.require("work_requests.create")
        member = ctx.actor
        if not isinstance(member, Member):
            raise PermissionDenied("only a member of a customer files work requests")
        problems: list[Problem] = []
        title = v.text(problems, "subject", subject, max_length=200)
        body = v.text(
            problems, "notes", notes, required=False, max_length=NOTES_MAX, multiline=True
        )
        wish = _when(problems, "wished_at", wished_at)
        location_id = ident("location", location)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            site = uow.locations.get(member.vendor_id, location_id)
            # A site's own check answers for the member's widest scope (documents may reach
            # an umbrella's branches, a location scope without sites no site at all): the
            # member files only a request its own scope for work requests shows it.
            if site is not None and not ctx.predicate(WORK_REQUESTS).matches(
                {
                    "customer_id": site.customer_id,
                    "location_id": site.id,
                    "account_id": member.account_id,
                },
                WORK_REQUESTS,
            ):
                raise NotFound("location", location_id)
            if site is None or not ctx.allows("work_requests.create", location=site.id):
                if site is None or site.id not in (ctx.location_read or ()):
                    raise NotFound("location", location_id)
                ctx.require("work_requests.create", location=site.id)
            now = self._rt.clock.now()
            request_id = ordered_id(now)
            item = self._inbox.file(
                uow,
                member.vendor_id,
                kind="work_request",
                title=title,
                reference=request_id,
                filer=member,
                details={
                    "location_id": str(site.id),
                    "wished_at": wish.isoformat() if wish else None,
                },
            )
            request = WorkRequest(
                id=request_id,
                vendor_id=member.vendor_id,
                customer_id=site.customer_id,
                location_id=site.id,
                account_id=member.account_id,
                membership_id=member.membership_id,
                subject=title,
                created_at=now,
                item_id=item.id,
                notes=body,
                wished_at=wish,
            )
            uow.work_requests.add(request)
            return request

    def list(
        self, actor: Actor, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[WorkRequest]:
        """The work requests the actor may see, newest first, with the vendor's answer:
        a member those of its scope (``own``: its own; ``location``: its sites), staff all."""
        ctx = self._access.context(actor)
        limit, offset = page(limit, offset)
        where, among = self._bounds(ctx)
        if status is not None:
            problems: list[Problem] = []
            where["status"] = v.choice(problems, "status", status, InboxStatus).value
            v.raise_if(problems)
        if where.get("vendor_id") is False:
            return []
        with self._rt.transaction(read_only=True) as uow:
            return uow.recent(
                "work_requests",
                ctx.actor.vendor_id or UUID(int=0),
                where=where,
                among=among,
                limit=limit,
                offset=offset,
            )

    def get(self, actor: Actor, request: Any) -> WorkRequest:
        """One work request the actor may see (NotFound otherwise)."""
        ctx = self._access.context(actor)
        with self._rt.transaction(read_only=True) as uow:
            return self._visible(uow, ctx, request)

    def schedule(
        self,
        actor: Actor,
        request: Any,
        *,
        at: datetime,
        expected_version: int | None = None,
    ) -> WorkRequest:
        """The vendor's answer: the work is planned ``at`` (no longer tentative) and its
        inbox item in progress; the member is told by mail (staff only)."""
        vendor_id = require_admin(actor, INBOX_WORK)
        problems: list[Problem] = []
        when = _when(problems, "at", at)
        if when is None and not problems:
            problems.append(Problem("at", "required", "is required"))
        v.raise_if(problems)
        seen = seen_version(request, expected_version)
        with self._rt.transaction() as uow:
            current = self._load(uow, vendor_id, request)
            if seen is not None and seen != current.version:
                raise ConcurrentModification("work request", current.id)
            item = self._inbox.item(uow, vendor_id, current.item_id)
            details = {**item.details, "scheduled_at": when.isoformat() if when else None}
            planned = attrs.evolve(current, scheduled_at=when, version=current.version + 1)
            uow.work_requests.update(planned, current.version)
            if item.status in (InboxStatus.NEW, InboxStatus.DONE):
                self._inbox.update(
                    uow, actor, item, status=InboxStatus.IN_PROGRESS, details=details
                )
            else:
                changed = self._inbox.update(uow, actor, item, details=details)
                self._inbox.tell(uow, changed, [current.account_id])
            found = uow.work_requests.get(vendor_id, current.id)
            assert found is not None
            return found

    # -- inside -----------------------------------------------------------------------------
    def _follow(self, uow: UnitOfWork, item: InboxItem) -> None:
        current = uow.work_requests.get(item.vendor_id, item.reference)
        if current is None or current.status == item.status.value:
            return
        followed = attrs.evolve(current, status=item.status.value, version=current.version + 1)
        uow.work_requests.update(followed, current.version)

    def _bounds(self, ctx: AccessContext) -> tuple[dict[str, object], dict[str, Any]]:
        if ctx.staff:
            require_admin(ctx.actor, INBOX_WORK)
            return {}, {}
        predicate = ctx.predicate(WORK_REQUESTS)
        if predicate.nothing:
            return {"vendor_id": False}, {}
        where: dict[str, object] = {}
        among: dict[str, Any] = {}
        if predicate.customers is not None:
            among["customer_id"] = predicate.customers
        if predicate.locations is not None:
            among["location_id"] = predicate.locations
        if predicate.owner is not None:
            where["account_id"] = predicate.owner
        return where, among

    def _load(self, uow: UnitOfWork, vendor_id: UUID, request: Any) -> WorkRequest:
        request_id = ident("work_request", request)
        found = uow.work_requests.get(vendor_id, request_id)
        if found is None:
            raise NotFound("work request", request_id)
        return found

    def _visible(self, uow: UnitOfWork, ctx: AccessContext, request: Any) -> WorkRequest:
        if ctx.staff:
            require_admin(ctx.actor, INBOX_WORK)
        found = self._load(uow, ctx.actor.vendor_id or UUID(int=0), request)
        if ctx.staff or ctx.predicate(WORK_REQUESTS).matches(found, WORK_REQUESTS):
            return found
        raise NotFound("work request", found.id)
