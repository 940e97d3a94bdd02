"""The ticket service (``portal.tickets``); ``model.py`` holds the records."""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._ids import ordered_id
from portalkit._service import ident, page
from portalkit.access import ResourceType
from portalkit.actors import Actor, Member
from portalkit.audit.model import describe
from portalkit.errors import NotFound, PermissionDenied, Problem, StorageError, ValidationError
from portalkit.inbox.model import InboxComment, InboxItem, InboxStatus
from portalkit.staffrights import INBOX_WORK
from portalkit.tickets.model import ATTACHMENTS_MAX, TEXT_MAX, Ticket, TicketAttachment

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.assets.service import AssetService
    from portalkit.inbox.service import InboxService
    from portalkit.storage.base import UnitOfWork

__all__ = ["TICKETS", "TicketService"]

TICKETS = ResourceType("tickets", view="tickets.view", owner_field="account_id")
"""How access rules see tickets: by customer and filer (scope ``customer``: every ticket of
the company, as main users have it; ``own``: the member's own)."""


class TicketService:
    """The service desk: members file, comment on, follow and close tickets; the vendor
    answers through the inbox. Reached as ``portal.tickets``.

    Example::

        ticket = portal.tickets.create(member, subject="Printer offline", text="Since 9:00")
        portal.tickets.list(main_user)          # every ticket of the company
        portal.tickets.follow(colleague, ticket)  # mail on every change
        portal.tickets.comment(staff, ticket, "A technician is on the way.")
        portal.tickets.attach(member, ticket, name="error.png", data=png_bytes)
        portal.tickets.close(member, ticket)
    """

    def __init__(
        self, rt: Runtime, *, access: AccessService, inbox: InboxService, assets: AssetService
    ) -> None:
        self._rt = rt
        self._access = access
        self._inbox = inbox
        self._assets = assets
        # Registered, not only a known name: the "choose a site" list and string checks
        # then go by its view capability and fields as this service does.
        access.register_resource(TICKETS)
        inbox.register_kind("ticket", on_status=self._follow_item)

    def create(self, actor: Actor, *, subject: str, text: str) -> Ticket:
        """File a ticket (``tickets.create``); it lands in the vendor inbox and its filer
        follows it."""
        ctx = self._access.context(actor)
        ctx.require("tickets.create")
        member = ctx.actor
        if not isinstance(member, Member):
            raise PermissionDenied("only a member of a customer files tickets")
        problems: list[Problem] = []
        title = v.text(problems, "subject", subject, max_length=200)
        body = v.text(problems, "text", text, max_length=TEXT_MAX, multiline=True)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            now = self._rt.clock.now()
            ticket_id = ordered_id(now)
            item = self._inbox.file(
                uow, member.vendor_id, kind="ticket", title=title, reference=ticket_id, filer=member
            )
            ticket = Ticket(
                id=ticket_id,
                vendor_id=member.vendor_id,
                customer_id=member.customer_id,
                account_id=member.account_id,
                membership_id=member.membership_id,
                subject=title,
                text=body,
                created_at=now,
                item_id=item.id,
                followers=frozenset({member.account_id}),
            )
            uow.tickets.add(ticket)
            return ticket

    def list(
        self,
        actor: Actor,
        *,
        status: InboxStatus | str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Ticket]:
        """The tickets the actor sees, newest first: staff all of the vendor, a member by
        its scope for ``tickets`` (``customer``: the company's, ``own``: its own)."""
        ctx = self._access.context(actor)
        limit, offset = page(limit, offset)
        where: dict[str, object] = {}
        among: dict[str, Any] = {}
        if status is not None:
            problems: list[Problem] = []
            where["status"] = v.choice(problems, "status", status, InboxStatus).value
            v.raise_if(problems)
        if ctx.staff:
            require_admin(ctx.actor, INBOX_WORK)
        else:
            predicate = ctx.predicate(TICKETS)
            if predicate.nothing:
                return []
            if predicate.customers is not None:
                among["customer_id"] = predicate.customers
            if predicate.owner is not None:
                where["account_id"] = predicate.owner
        with self._rt.transaction(read_only=True) as uow:
            return uow.recent(
                "tickets",
                ctx.actor.vendor_id or UUID(int=0),
                where=where,
                among=among,
                limit=limit,
                offset=offset,
            )

    def get(self, actor: Actor, ticket: Any) -> Ticket:
        """One ticket the actor sees (NotFound otherwise, as for a missing one)."""
        ctx = self._access.context(actor)
        with self._rt.transaction(read_only=True) as uow:
            return self._visible(uow, ctx, ticket)

    def comment(self, actor: Actor, ticket: Any, text: str) -> InboxComment:
        """Comment on a ticket: staff, or a member who sees it and holds
        ``tickets.create``. Its followers (but the author) are told by mail."""
        ctx = self._access.context(actor)
        if not ctx.staff:
            ctx.require("tickets.create")
        with self._rt.transaction() as uow:
            current = self._visible(uow, ctx, ticket)
            item = self._inbox.item(uow, current.vendor_id, current.item_id)
            comment = self._inbox.add_comment(uow, ctx.actor, item, text)
            author = ctx.actor.account_id if isinstance(ctx.actor, Member) else None
            changed = self._inbox.item(uow, current.vendor_id, current.item_id)
            self._inbox.tell(
                uow,
                changed,
                [a for a in sorted(current.followers) if a != author],
                sees=_sees(current),
            )
            return comment

    def comments(self, actor: Actor, ticket: Any) -> builtins.list[InboxComment]:
        """The ticket's comments, oldest first (staff's internal notes are not among them)."""
        ctx = self._access.context(actor)
        with self._rt.transaction(read_only=True) as uow:
            current = self._visible(uow, ctx, ticket)
            found = uow.inbox_comments.list(current.vendor_id, where={"item_id": current.item_id})
        return [c for c in found if not c.internal]

    def follow(self, actor: Actor, ticket: Any, *, on: bool = True) -> Ticket:
        """Follow a ticket the member sees (mail on every change), or stop (``on=False``).
        Refused under a read-only view."""
        ctx = self._access.context(actor)
        ctx.require("tickets.view")
        member = ctx.actor
        if not isinstance(member, Member) or ctx.read_only:
            raise PermissionDenied("only the member itself follows a ticket")
        with self._rt.transaction() as uow:
            current = self._visible(uow, ctx, ticket)
            followers = (
                current.followers | {member.account_id}
                if on
                else current.followers - {member.account_id}
            )
            if followers == current.followers:
                return current
            changed = attrs.evolve(current, followers=followers, version=current.version + 1)
            uow.tickets.update(changed, current.version)
            return changed

    def close(self, actor: Actor, ticket: Any) -> Ticket:
        """Close a ticket (its inbox item is done): staff, or a member who sees it and holds
        ``tickets.create``. A rejected ticket stays rejected."""
        ctx = self._access.context(actor)
        if not ctx.staff:
            ctx.require("tickets.create")
        with self._rt.transaction() as uow:
            current = self._visible(uow, ctx, ticket)
            if current.status == InboxStatus.REJECTED.value:
                # Ended by the vendor's decision already: "done" would rewrite that decision.
                return current
            self._inbox.settle(
                uow,
                ctx.actor,
                current.vendor_id,
                kind="ticket",
                reference=current.id,
                status=InboxStatus.DONE,
            )
            found = uow.tickets.get(current.vendor_id, current.id)
            assert found is not None
            return found

    def attach(
        self,
        actor: Actor,
        ticket: Any,
        *,
        name: str,
        data: bytes,
        content_type: str | None = None,
    ) -> TicketAttachment:
        """Add a file to a ticket: staff, or a member who sees the ticket and holds
        ``tickets.create`` (refused under a read-only view).

        The bytes are checked like a document's (``PORTALKIT_ASSET_MAX_BYTES``, an allowed
        type their content matches; ``content_type`` is taken from them when not given) and
        go to the asset store under a private key, written before the commit and removed
        again on rollback. A ticket takes at most :data:`ATTACHMENTS_MAX` files.
        """
        ctx = self._access.context(actor)
        if not ctx.staff:
            ctx.require("tickets.create")
        problems: list[Problem] = []
        title = v.text(problems, "name", name, max_length=200)
        checked = self._assets.check(problems, "data", data, content_type)
        v.raise_if(problems)
        assert checked is not None
        with self._rt.transaction() as uow:
            current = self._visible(uow, ctx, ticket)
            present = uow.ticket_attachments.list(
                current.vendor_id, where={"ticket_id": current.id}
            )
            if len(present) >= ATTACHMENTS_MAX:
                raise ValidationError.single(
                    "data",
                    "too_many",
                    "a ticket takes at most {limit} files",
                    limit=ATTACHMENTS_MAX,
                )
            stored = self._assets.put(checked)
            now = self._rt.clock.now()
            attachment = TicketAttachment(
                id=ordered_id(now),
                vendor_id=current.vendor_id,
                ticket_id=current.id,
                customer_id=current.customer_id,
                name=title,
                content_type=stored.content_type,
                size=stored.size,
                sha256=stored.sha256,
                asset_key=stored.key,
                added_by=describe(ctx.actor),
                created_at=now,
            )
            uow.ticket_attachments.add(attachment)
            self._rt.record(
                uow,
                vendor_id=current.vendor_id,
                action="ticket_attachment_added",
                real=ctx.actor,
                customer_id=current.customer_id,
                target=f"ticket:{current.id}",
                name=title[:100],
                size=attachment.size,
                content_type=attachment.content_type,
            )
            return attachment

    def attachments(self, actor: Actor, ticket: Any) -> builtins.list[TicketAttachment]:
        """The files of a ticket the actor sees, oldest first (NotFound for a ticket it does
        not see)."""
        ctx = self._access.context(actor)
        with self._rt.transaction(read_only=True) as uow:
            current = self._visible(uow, ctx, ticket)
            found = uow.ticket_attachments.list(current.vendor_id, where={"ticket_id": current.id})
        return sorted(found, key=lambda a: (a.created_at, str(a.id)))

    def attachment(
        self, actor: Actor, ticket: Any, attachment: Any
    ) -> tuple[TicketAttachment, bytes]:
        """One file of a ticket the actor sees, with its bytes (NotFound otherwise, also for
        another ticket's file). The bytes are checked against the stored SHA-256."""
        ctx = self._access.context(actor)
        attachment_id = ident("attachment", attachment)
        with self._rt.transaction(read_only=True) as uow:
            current = self._visible(uow, ctx, ticket)
            found = uow.ticket_attachments.get(current.vendor_id, attachment_id)
            if found is None or found.ticket_id != current.id:
                raise NotFound("ticket_attachment", attachment_id)
        data = self._assets.read_private(found.asset_key)
        if hashlib.sha256(data).hexdigest() != found.sha256:
            # Served bytes are the ones added, or none: a changed file is an incident.
            raise StorageError("the stored file of ticket attachment {id} has changed", id=found.id)
        return found, data

    # -- inside -----------------------------------------------------------------------------
    def _follow_item(self, uow: UnitOfWork, item: InboxItem) -> None:
        current = uow.tickets.get(item.vendor_id, item.reference)
        if current is None:
            return
        done = item.status is InboxStatus.DONE
        changed = attrs.evolve(
            current,
            status=item.status.value,
            closed_at=self._rt.clock.now() if done else None,
            version=current.version + 1,
        )
        uow.tickets.update(changed, current.version)
        # The filer hears from the inbox itself; the other followers from here.
        self._inbox.tell(
            uow,
            item,
            [a for a in sorted(current.followers) if a != current.account_id],
            sees=_sees(current),
        )

    def _visible(self, uow: UnitOfWork, ctx: AccessContext, ticket: Any) -> Ticket:
        ticket_id = ident("ticket", ticket)
        if ctx.staff:
            # Every staff path to a ticket (read, comment, attach, close) passes here.
            require_admin(ctx.actor, INBOX_WORK)
        found = uow.tickets.get(ctx.actor.vendor_id or UUID(int=0), ticket_id)
        if found is None or not (ctx.staff or ctx.predicate(TICKETS).matches(found, TICKETS)):
            raise NotFound("ticket", ticket_id)
        return found


def _sees(ticket: Ticket) -> Callable[[AccessContext], bool]:
    """Whether a follower's access context still shows it the ticket (its scope may have
    narrowed to its own tickets since it followed)."""
    return lambda context: context.predicate(TICKETS).matches(ticket, TICKETS)
