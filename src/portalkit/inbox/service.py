"""The vendor inbox service (``portal.inbox``); :mod:`portalkit.inbox` describes the inbox,
``model.py`` the records, ``events.py`` the delivery of events to the host."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin, who
from portalkit._ids import ordered_id
from portalkit._service import ident, page, seen_version
from portalkit.actors import Actor, Member, Staff
from portalkit.errors import (
    ConcurrentModification,
    Message,
    NotFound,
    PermissionDenied,
    Problem,
    ValidationError,
)
from portalkit.inbox.events import LEASE_SECONDS, Consumer, EventReport, deliver
from portalkit.inbox.model import (
    TRANSITIONS,
    EventType,
    InboxComment,
    InboxEvent,
    InboxItem,
    InboxStatus,
)
from portalkit.staffrights import INBOX_WORK

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.outbox.delivery import Outbox
    from portalkit.staff.service import StaffService
    from portalkit.storage.base import UnitOfWork

__all__ = ["BUILTIN_KINDS", "COMMENT_MAX", "InboxService", "StatusHook"]

BUILTIN_KINDS = ("order", "quote_request", "registration", "work_request", "ticket")
"""The kinds every inbox knows; the host adds its own with :meth:`InboxService.register_kind`."""

COMMENT_MAX = 10_000
"""The longest comment."""

_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,59}")

StatusHook = Callable[["UnitOfWork", InboxItem], None]
"""Called inside the transaction that changed an item's status, with the changed item: a
kind's own records follow their item (a ticket's status, a work request's)."""


def _text_of(value: object) -> object:
    # The JSON form of an event's payload value: ids and enums as text.
    if isinstance(value, UUID):
        return str(value)
    return getattr(value, "value", value)


class InboxService:
    """One queue of everything that waits for the vendor's staff. Reached as
    ``portal.inbox``.

    Other services file items inside their own transaction with :meth:`file` (an order's
    ``on_filed(uow, record)`` hook calls it); staff page, assign, comment and move items
    along (:data:`~portalkit.inbox.model.TRANSITIONS`). Every new or changed item stores an
    :class:`~portalkit.inbox.model.InboxEvent` in the same transaction, which
    :meth:`deliver_events` hands to the host's consumer after the commit.
    """

    def __init__(
        self, rt: Runtime, *, access: AccessService, outbox: Outbox, staff: StaffService
    ) -> None:
        self._rt = rt
        self._access = access
        self._outbox = outbox
        self._staff = staff
        self._kinds: dict[str, StatusHook | None] = dict.fromkeys(BUILTIN_KINDS)

    # -- kinds ------------------------------------------------------------------------------
    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of item this inbox takes."""
        return frozenset(self._kinds)

    def register_kind(self, name: str, *, on_status: StatusHook | None = None) -> None:
        """Let the host file items of kind ``name`` (a-z, 0-9 and _, up to 60 characters);
        ``on_status`` runs in the transaction of every status change of such an item.
        Registering a built-in kind again only sets its hook."""
        if not isinstance(name, str) or not _KIND_RE.fullmatch(name):
            raise ValidationError.single(
                "kind", "invalid_name", "must be a name like 'service_call' (a-z, 0-9 and _)"
            )
        if on_status is not None and not callable(on_status):
            raise ValidationError.single("on_status", "not_callable", "must be callable")
        self._kinds = {**self._kinds, name: on_status}

    def _kind(self, problems: list[Problem], value: object) -> str:
        if not isinstance(value, str) or value not in self._kinds:
            problems.append(
                Problem("kind", "unknown", "{kind} is not an inbox kind", {"kind": v.shown(value)})
            )
            return ""
        return value

    # -- the entry point for other services -------------------------------------------------
    def file(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        *,
        kind: str,
        title: str,
        reference: UUID | None = None,
        customer_id: UUID | None = None,
        filer: Member | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> InboxItem:
        """File an item inside the caller's transaction ``uow`` (it commits or rolls back
        with the caller's change) and return it.

        ``reference`` is the id of the record the item stands for (unique per kind: filing
        the same record twice is a Conflict); ``filer`` the member who filed it (its
        customer becomes the item's and it is told of status changes); ``details`` a small
        JSON-able mapping shown to staff and sent with the events. The inbox address
        (``portal.staff.set_inbox_address``) is told by mail; the event ``created`` is
        stored. The caller has authorised its actor already.
        """
        problems: list[Problem] = []
        kind = self._kind(problems, kind)
        heading = v.text(problems, "title", title, max_length=300)
        extra = dict(details or {})
        if len(repr(extra)) > 10_000:
            problems.append(Problem("details", "too_long", "must be small (10,000 characters)"))
        v.raise_if(problems)
        now = self._rt.clock.now()
        item_id = ordered_id(now)
        if filer is not None:
            customer_id = filer.customer_id
        item = InboxItem(
            id=item_id,
            vendor_id=vendor_id,
            kind=kind,
            reference=reference or item_id,
            title=heading,
            created_at=now,
            updated_at=now,
            customer_id=customer_id,
            account_id=filer.account_id if filer is not None else None,
            membership_id=filer.membership_id if filer is not None else None,
            details=extra,
        )
        uow.inbox_items.add(item)
        self._event(uow, item, EventType.CREATED)
        address = self._staff.address(uow, vendor_id)
        if address:
            vendor = uow.vendors.get(vendor_id)
            self._outbox.queue(
                uow,
                self._outbox.compose_template(
                    vendor_id,
                    to=address,
                    template="notify_inbox",
                    language=self._rt.settings.default_language,
                    name=vendor.name if vendor is not None else "",
                    customer_name="",
                    logo_url="",
                    title=heading,
                    link=self._link(item),
                ),
            )
        return item

    def settle(
        self,
        uow: UnitOfWork,
        actor: Actor,
        vendor_id: UUID,
        *,
        kind: str,
        reference: UUID,
        status: InboxStatus,
    ) -> InboxItem | None:
        """Move the item of ``kind`` standing for ``reference`` to ``status`` inside the
        caller's transaction (a registration decided, an order confirmed); None when there
        is no such item. A status the item has already changes nothing; a change the
        transitions do not allow from where it is goes through all the same, since the
        record it stands for was decided."""
        current = uow.inbox_items.get_by(vendor_id, "reference", (reference, kind))
        if current is None or current.status is status:
            return current
        return self._change(uow, actor, current, status=status)

    # -- staff ------------------------------------------------------------------------------
    def list(
        self,
        actor: Actor,
        *,
        kind: str | list[str] | None = None,
        status: InboxStatus | str | list[InboxStatus | str] | None = None,
        assignee: str | None = None,
        customer: Any = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[InboxItem]:
        """A page of the vendor's inbox, newest first (staff only): of one or several
        kinds and statuses, assigned to ``assignee`` ("" for nobody), of ``customer``."""
        vendor_id = require_admin(actor, INBOX_WORK)
        limit, offset = page(limit, offset)
        problems: list[Problem] = []
        where: dict[str, object] = {}
        among: dict[str, list[object]] = {}
        if kind is not None:
            kinds = kind if isinstance(kind, list) else [kind]
            among["kind"] = [self._kind(problems, k) for k in kinds]
        if status is not None:
            statuses = status if isinstance(status, list) else [status]
            among["status"] = [v.choice(problems, "status", s, InboxStatus) for s in statuses]
        if assignee is not None:
            where["assignee"] = v.text(
                problems, "assignee", assignee, required=False, max_length=200
            )
        if customer is not None:
            where["customer_id"] = ident("customer", customer)
        v.raise_if(problems)
        # One value is an equality: the page index then serves it from its first columns.
        for field in list(among):
            if len(among[field]) == 1:
                where[field] = among.pop(field)[0]
        with self._rt.transaction(read_only=True) as uow:
            return uow.recent(
                "inbox_items", vendor_id, where=where, among=among, limit=limit, offset=offset
            )

    def get(self, actor: Actor, item: Any) -> InboxItem:
        """One item: staff see every item of the vendor, a member only those it filed
        (NotFound otherwise, as for a missing one)."""
        with self._rt.transaction(read_only=True) as uow:
            return self._visible(uow, actor, item)

    def mine(self, actor: Member, *, limit: int = 50, offset: int = 0) -> builtins.list[InboxItem]:
        """The items the member filed in its customer, newest first, with their status."""
        ctx = self._access.context(actor)
        member = ctx.actor
        if not isinstance(member, Member) or ctx.denied:
            raise PermissionDenied("only a member of a customer files inbox items")
        limit, offset = page(limit, offset)
        with self._rt.transaction(read_only=True) as uow:
            return uow.recent(
                "inbox_items",
                member.vendor_id,
                where={"account_id": member.account_id, "customer_id": member.customer_id},
                limit=limit,
                offset=offset,
            )

    def assign(
        self,
        actor: Actor,
        item: Any,
        to: str | None,
        *,
        expected_version: int | None = None,
    ) -> InboxItem:
        """Give the item to the staff member ``to`` (a user id of the directory), or to
        nobody (None). With ``expected_version`` (or an item record passed) a change made
        meanwhile raises ConcurrentModification, so two staff taking one item cannot both
        win. The assignee is told by mail."""
        vendor_id = require_admin(actor, INBOX_WORK)
        seen = seen_version(item, expected_version)
        with self._rt.transaction() as uow:
            current = self._load(uow, vendor_id, item)
            if seen is not None and seen != current.version:
                raise ConcurrentModification("inbox item", current.id)
            target = ""
            person = None
            if to is not None:
                person = self._staff.find(uow, vendor_id, to)
                if person is None:
                    raise ValidationError.single(
                        "to", "unknown", "{user} is not in the staff directory", user=v.shown(to)
                    )
                target = person.user_id
            if current.assignee == target:
                return current
            changed = self._change(uow, actor, current, assignee=target)
            if person is not None and person.user_id != getattr(actor, "user_id", None):
                self._outbox.queue(
                    uow,
                    self._outbox.compose_template(
                        vendor_id,
                        to=person.email,
                        template="inbox_assigned",
                        language=person.language,
                        name=person.name,
                        title=changed.title,
                        link=self._link(changed),
                    ),
                )
            return changed

    def claim(self, actor: Staff, item: Any, *, expected_version: int | None = None) -> InboxItem:
        """Take the item: assign it to the acting staff member, only if nobody else has it
        (Conflict: ConcurrentModification when someone took it meanwhile)."""
        vendor_id = require_admin(actor, INBOX_WORK)
        if not isinstance(actor, Staff):
            raise PermissionDenied("only a member of staff takes an inbox item")
        seen = seen_version(item, expected_version)
        with self._rt.transaction() as uow:
            current = self._load(uow, vendor_id, item)
            if (seen is not None and seen != current.version) or current.assignee not in (
                "",
                actor.user_id,
            ):
                raise ConcurrentModification("inbox item", current.id)
            return self.assign(actor, current, actor.user_id)

    def set_status(
        self,
        actor: Actor,
        item: Any,
        status: InboxStatus | str,
        *,
        expected_version: int | None = None,
    ) -> InboxItem:
        """Move the item along (:data:`~portalkit.inbox.model.TRANSITIONS`; another move is
        a ValidationError). The member who filed it is told by mail."""
        vendor_id = require_admin(actor, INBOX_WORK)
        problems: list[Problem] = []
        wanted: InboxStatus = v.choice(problems, "status", status, InboxStatus)
        v.raise_if(problems)
        seen = seen_version(item, expected_version)
        with self._rt.transaction() as uow:
            current = self._load(uow, vendor_id, item)
            if seen is not None and seen != current.version:
                raise ConcurrentModification("inbox item", current.id)
            if wanted is current.status:
                return current
            if wanted not in TRANSITIONS[current.status]:
                raise ValidationError.single(
                    "status",
                    "not_allowed",
                    "an item that is {current} cannot become {wanted}",
                    current=Message(current.status.value),
                    wanted=Message(wanted.value),
                )
            return self._change(uow, actor, current, status=wanted)

    def comment(
        self, actor: Actor, item: Any, text: str, *, internal: bool = False
    ) -> InboxComment:
        """Add a comment (staff; ``internal`` ones only staff see). The item's version
        moves on and an event ``changed`` is stored."""
        vendor_id = require_admin(actor, INBOX_WORK)
        with self._rt.transaction() as uow:
            current = self._load(uow, vendor_id, item)
            return self.add_comment(uow, actor, current, text, internal=internal)

    def comments(self, actor: Actor, item: Any) -> builtins.list[InboxComment]:
        """The item's comments, oldest first: staff see all, the member who filed it those
        that are not internal."""
        with self._rt.transaction(read_only=True) as uow:
            current = self._visible(uow, actor, item)
            found = uow.inbox_comments.list(current.vendor_id, where={"item_id": current.id})
        if isinstance(who(actor), Member):
            return [c for c in found if not c.internal]
        return found

    # -- events -----------------------------------------------------------------------------
    def deliver_events(
        self,
        consumer: Consumer,
        *,
        limit: int | None = None,
        batch: int = 50,
        lease_seconds: float = LEASE_SECONDS,
    ) -> EventReport:
        """Hand the events that are due to ``consumer`` (the host's function taking an
        :class:`~portalkit.inbox.model.InboxEvent`), until none is due or ``limit`` were
        handled; see :mod:`portalkit.inbox.events`. Several workers may run at once (also
        in several processes): each event goes to one of them, and one item's events go
        out in order. A consumer that raises gets the event again after a back-off."""
        return deliver(self._rt, consumer, limit=limit, batch=batch, lease_seconds=lease_seconds)

    def events(self, actor: Actor, item: Any) -> builtins.list[InboxEvent]:
        """The item's events, in order, delivered or not (staff only)."""
        vendor_id = require_admin(actor, INBOX_WORK)
        with self._rt.transaction(read_only=True) as uow:
            current = self._load(uow, vendor_id, item)
            found = uow.inbox_events.list(vendor_id, where={"item_id": current.id})
        return sorted(found, key=lambda e: e.sequence)

    # -- for the other services, inside their transaction ----------------------------------
    def add_comment(
        self,
        uow: UnitOfWork,
        actor: Actor,
        current: InboxItem,
        text: str,
        *,
        internal: bool = False,
    ) -> InboxComment:
        """Comment on ``current`` in the caller's transaction (the caller authorised)."""
        problems: list[Problem] = []
        body = v.text(problems, "text", text, max_length=COMMENT_MAX, multiline=True)
        secret = v.boolean(problems, "internal", internal)
        v.raise_if(problems)
        now = self._rt.clock.now()
        comment = InboxComment(
            id=ordered_id(now),
            vendor_id=current.vendor_id,
            item_id=current.id,
            author=_author(actor),
            text=body,
            created_at=now,
            internal=secret,
        )
        uow.inbox_comments.add(comment)
        self._change(uow, actor, current, comment=comment)
        return comment

    def update(self, uow: UnitOfWork, actor: Actor, current: InboxItem, **fields: Any) -> InboxItem:
        """Change fields of ``current`` (status, details …) in the caller's transaction,
        with its event, audit and mail, as staff's own changes have them."""
        return self._change(uow, actor, current, **fields)

    def item(self, uow: UnitOfWork, vendor_id: UUID, item_id: UUID) -> InboxItem:
        """The item in the caller's transaction (NotFound if missing)."""
        return self._load(uow, vendor_id, item_id)

    # -- inside -----------------------------------------------------------------------------
    def _load(self, uow: UnitOfWork, vendor_id: UUID, item: Any) -> InboxItem:
        item_id = ident("item", item)
        found = uow.inbox_items.get(vendor_id, item_id)
        if found is None:
            raise NotFound("inbox item", item_id)
        return found

    def _visible(self, uow: UnitOfWork, actor: Actor, item: Any) -> InboxItem:
        ctx = self._access.context(actor)
        if ctx.staff:
            # Reads of one item and its comments (internal ones too) need what the list needs.
            require_admin(ctx.actor, INBOX_WORK)
        current = self._load(uow, ctx.actor.vendor_id or UUID(int=0), item)
        if ctx.staff:
            return current
        member = ctx.actor
        if (
            ctx.denied
            or not isinstance(member, Member)
            or current.account_id != member.account_id
            or current.customer_id != member.customer_id
        ):
            raise NotFound("inbox item", current.id)
        return current

    def _change(
        self,
        uow: UnitOfWork,
        actor: Actor,
        current: InboxItem,
        *,
        comment: InboxComment | None = None,
        **fields: Any,
    ) -> InboxItem:
        now = self._rt.clock.now()
        changed = attrs.evolve(current, updated_at=now, version=current.version + 1, **fields)
        uow.inbox_items.update(changed, current.version)
        self._event(uow, changed, EventType.CHANGED, comment=comment)
        details: dict[str, Any] = {k: _text_of(val) for k, val in fields.items()}
        self._rt.record(
            uow,
            vendor_id=current.vendor_id,
            action="inbox_comment" if comment is not None else "inbox_changed",
            real=actor,
            customer_id=current.customer_id,
            target=f"inbox:{current.id}",
            **details,
        )
        if changed.status is not current.status:
            hook = self._kinds.get(changed.kind)
            if hook is not None:
                hook(uow, changed)
            self._tell_filer(uow, changed)
        return changed

    def _tell_filer(self, uow: UnitOfWork, item: InboxItem) -> None:
        if item.account_id is None:
            return
        account = uow.accounts.get(item.vendor_id, item.account_id)
        if account is None:
            return
        self.tell(uow, item, [account.id])

    def tell(
        self,
        uow: UnitOfWork,
        item: InboxItem,
        accounts: builtins.list[UUID],
        *,
        sees: Callable[[AccessContext], bool] | None = None,
    ) -> None:
        """Mail these accounts (of the item's vendor) the item's status, each in its
        language, in the caller's transaction — only those whose login at the item's
        customer still works and, with ``sees``, whose access context ``sees`` accepts (a
        colleague who left, or may no longer see the record, hears nothing of it)."""
        for account_id in dict.fromkeys(accounts):
            account = uow.accounts.get(item.vendor_id, account_id)
            if account is None:
                continue
            reader = self._reader(uow, item, account_id)
            if reader is None or (sees is not None and not sees(reader)):
                continue
            self._outbox.queue(
                uow,
                self._outbox.compose_template(
                    item.vendor_id,
                    to=account.email,
                    template="inbox_status",
                    language=account.language,
                    name=account.username,
                    title=item.title,
                    status=item.status.value,
                    link=self._link(item),
                ),
            )

    def _reader(self, uow: UnitOfWork, item: InboxItem, account_id: UUID) -> AccessContext | None:
        """The access context of the account's login at the item's customer; None when it
        has none there, or one that is refused."""
        if item.customer_id is None:
            return None
        membership = uow.memberships.get_by(
            item.vendor_id, "account", (account_id, item.customer_id)
        )
        if membership is None:
            return None
        context = self._access.context(
            Member(
                vendor_id=membership.vendor_id,
                account_id=membership.account_id,
                membership_id=membership.id,
                customer_id=membership.customer_id,
            )
        )
        return None if context.denied else context

    def _event(
        self,
        uow: UnitOfWork,
        item: InboxItem,
        kind: EventType,
        *,
        comment: InboxComment | None = None,
    ) -> InboxEvent:
        payload: dict[str, Any] = {
            "item_id": str(item.id),
            "vendor_id": str(item.vendor_id),
            "kind": item.kind,
            "reference": str(item.reference),
            "title": item.title,
            "status": item.status.value,
            "customer_id": _text_of(item.customer_id),
            "assignee": item.assignee,
            "version": item.version,
            "details": item.details,
        }
        if comment is not None:
            payload["comment"] = {
                "id": str(comment.id),
                "author": comment.author,
                "text": comment.text,
                "internal": comment.internal,
            }
        now = self._rt.clock.now()
        event = InboxEvent(
            id=ordered_id(now),
            vendor_id=item.vendor_id,
            item_id=item.id,
            sequence=item.version,
            type=kind,
            payload=payload,
            created_at=now,
            next_attempt_at=now,
        )
        uow.inbox_events.add(event)
        return event

    def _link(self, item: InboxItem) -> str:
        return self._rt.settings.base_url.rstrip("/") + self._rt.settings.login_path


def _author(actor: Actor) -> str:
    if isinstance(actor, Staff):
        return f"staff:{actor.user_id}"
    if isinstance(actor, Member):
        return f"member:{actor.account_id}"
    return f"system:{actor.reason}"
