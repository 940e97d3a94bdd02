"""The quote service (``portal.quotes``): quote requests from members, the vendor's quotes
answering them, acceptance (an order at the quoted prices) or refusal, and the thread of
messages on each; :mod:`portalkit.quotes` describes the records and views."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit import money
from portalkit._guard import require_admin
from portalkit._service import ident, page, seen_version
from portalkit.actors import Member
from portalkit.audit.model import describe
from portalkit.errors import (
    ConcurrentModification,
    NotFound,
    Problem,
    ValidationError,
)
from portalkit.orders.model import DeliveryAddress, OrderLine
from portalkit.orders.service import (
    FiledHook,
    OrderService,
    acting,
    check_note,
    is_member,
    member_context,
    next_number,
)
from portalkit.quotes.model import (
    Quote,
    QuoteLine,
    QuoteMessage,
    QuoteRequestView,
    QuoteStatus,
    QuoteView,
    member_view,
)
from portalkit.staffrights import INBOX_WORK

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.actors import Actor
    from portalkit.customers.model import Customer
    from portalkit.storage.base import UnitOfWork

__all__ = ["MAX_VALIDITY_DAYS", "QuoteService"]

MAX_VALIDITY_DAYS = 366
"""A quote is valid for at most this many days after it is sent."""

MAX_MESSAGES = 200
"""At most this many messages in one quote's thread."""

QuoteMemberView = QuoteView | QuoteRequestView


class QuoteService:
    """Quotes both ways. Reached as ``portal.quotes``.

    Example::

        request = portal.cart.checkout(member)            # prices hidden: a quote request
        portal.quotes.send(staff, request.id, prices={toner.id: Decimal("41.50")},
                           currency="EUR", valid_until=date(2027, 1, 31))
        quote = portal.quotes.get(buyer, request.id)      # QuoteView (buyer has quotes.view)
        order = portal.quotes.accept(buyer, quote)        # an order at the quoted prices
        portal.quotes.post(buyer, quote, "Can you deliver on Friday?")

    ``on_filed(uow, quote)`` (optional) is called in the same transaction for each new quote
    request and each quote sent.
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        access: AccessService,
        orders: OrderService,
        on_filed: FiledHook | None = None,
    ) -> None:
        self._rt = rt
        self._access = access
        self._orders = orders
        #: Called with ``(uow, quote)`` for each new quote request and sent quote.
        self.on_filed = on_filed

    def _today(self) -> date:
        return self._rt.clock.now().date()

    # -- requests (from checkout) ------------------------------------------------------------
    def file_request(
        self,
        uow: UnitOfWork,
        member: Member,
        customer: Customer,
        *,
        lines: Sequence[QuoteLine],
        delivery: DeliveryAddress,
        note: str = "",
        reference: str = "",
    ) -> Quote:
        """Store a new quote request in ``uow`` (lines without prices), audited and handed to
        ``on_filed``; the caller has authorised the member and checked the input."""
        now = self._rt.clock.now()
        quote = Quote(
            id=uuid4(),
            vendor_id=customer.vendor_id,
            customer_id=customer.id,
            membership_id=member.membership_id,
            number=next_number(
                uow, self._rt.settings.quote_number_pattern, "quote", customer, now.year
            ),
            created_at=now,
            lines=tuple(lines),
            delivery=delivery,
            note=note,
            reference=reference,
        )
        uow.quotes.add(quote)
        self._rt.record(
            uow,
            vendor_id=quote.vendor_id,
            action="quote_requested",
            real=member,
            customer_id=customer.id,
            target=f"quote:{quote.id}",
            number=quote.number,
            lines=len(quote.lines),
        )
        if self.on_filed is not None:
            self.on_filed(uow, quote)
        return quote

    def view(self, ctx: AccessContext, quote: Quote) -> QuoteMemberView:
        """The member's view: the quoted prices only for a member holding ``quotes.view``."""
        member = ctx.actor
        assert isinstance(member, Member)
        return member_view(
            quote, priced=ctx.can("quotes.view"), me=member.membership_id, today=self._today()
        )

    # -- reading -----------------------------------------------------------------------------
    def list(
        self,
        actor: Actor | AccessContext,
        *,
        status: QuoteStatus | str | None = None,
        customer: object = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Any]:
        """Quotes, oldest first. Staff: the vendor's :class:`Quote` records (filter by
        ``status`` and ``customer``). A member: with ``quotes.view`` its customer's quotes
        (priced views once sent), else the requests it made itself (price-free views)."""
        limit, offset = page(limit, offset)
        problems: list[Problem] = []
        wanted = None if status is None else v.choice(problems, "status", status, QuoteStatus)
        v.raise_if(problems)
        where: dict[str, object] = {} if wanted is None else {"status": wanted}
        if not is_member(actor):
            vendor_id = require_admin(acting(actor), INBOX_WORK)
            if customer is not None:
                where["customer_id"] = ident("customer", customer)
            with self._rt.transaction(read_only=True) as uow:
                return uow.quotes.list(vendor_id, where=where, limit=limit, offset=offset)
        with self._rt.transaction(read_only=True) as uow:
            ctx, member, own = member_context(self._access, uow, actor)
            where["customer_id"] = own.id
            found = [q for q in uow.quotes.list(member.vendor_id, where=where) if _sees(ctx, q)]
            return [self.view(ctx, q) for q in found[offset : offset + limit]]

    def get(self, actor: Actor | AccessContext, quote: object) -> Any:
        """One quote: the record for staff, the member's view for a member who may see it."""
        quote_id = ident("quote", quote)
        if not is_member(actor):
            vendor_id = require_admin(acting(actor), INBOX_WORK)
            with self._rt.transaction(read_only=True) as uow:
                found = uow.quotes.get(vendor_id, quote_id)
                if found is None:
                    raise NotFound("quote", quote_id)
                return found
        with self._rt.transaction(read_only=True) as uow:
            ctx, _member, own = member_context(self._access, uow, actor)
            return self.view(ctx, _member_quote(uow, ctx, own, quote_id))

    # -- the vendor answers ------------------------------------------------------------------
    def send(
        self,
        actor: Actor,
        quote: object,
        *,
        prices: Mapping[object, object],
        currency: str,
        valid_until: date,
        expected_version: int | None = None,
    ) -> Quote:
        """Answer a quote request with prices: ``prices`` maps each line's item (or id) to
        its unit price (Decimal, never float); the quote holds until ``valid_until`` (its
        last day, at most :data:`MAX_VALIDITY_DAYS` ahead). A sent quote may be sent again
        with new prices (a revision) until the member decides."""
        vendor_id = require_admin(actor, INBOX_WORK)
        problems: list[Problem] = []
        code = money.currency(problems, "currency", currency)
        today = self._today()
        if not isinstance(valid_until, date) or not (
            today <= valid_until and (valid_until - today).days <= MAX_VALIDITY_DAYS
        ):
            problems.append(
                Problem(
                    "valid_until",
                    "out_of_range",
                    "must be a date from today to {days} days ahead",
                    {"days": MAX_VALIDITY_DAYS},
                )
            )
        if not isinstance(prices, Mapping):
            raise ValidationError.single("prices", "not_mapping", "must map items to prices")
        unit: dict[UUID, Decimal] = {}
        for key, value in prices.items():
            item_id = ident("prices", key)
            unit[item_id] = money.amount(problems, f"prices.{item_id}", value)
        v.raise_if(problems)
        quote_id = ident("quote", quote)
        seen = seen_version(quote, expected_version)
        with self._rt.transaction() as uow:
            current = uow.quotes.get(vendor_id, quote_id)
            if current is None:
                raise NotFound("quote", quote_id)
            if current.status not in (QuoteStatus.REQUESTED, QuoteStatus.SENT):
                raise ValidationError.single(
                    "quote", "decided", "this quote was decided already and cannot be sent"
                )
            if seen is not None and seen != current.version:
                raise ConcurrentModification("quote", current.id)
            wanted = {line.item_id for line in current.lines}
            missing = [
                Problem(f"prices.{i}", "required", "is required")
                for i in sorted(wanted - unit.keys(), key=str)
            ]
            extra = [
                Problem(f"prices.{i}", "unknown_field", "is not a line of this quote")
                for i in sorted(unit.keys() - wanted, key=str)
            ]
            v.raise_if(missing + extra)
            lines = tuple(
                attrs.evolve(
                    line,
                    unit_price=unit[line.item_id],
                    total=money.rounded(unit[line.item_id] * line.quantity, code),
                )
                for line in current.lines
            )
            sent = attrs.evolve(
                current,
                lines=lines,
                currency=code,
                total=sum((line.total or Decimal(0) for line in lines), Decimal(0)),
                valid_until=valid_until,
                status=QuoteStatus.SENT,
                sent_at=self._rt.clock.now(),
                sent_by=describe(actor),
                version=current.version + 1,
            )
            uow.quotes.update(sent, current.version)
            # The audit says that it was sent and until when, never for how much.
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="quote_sent",
                real=actor,
                customer_id=current.customer_id,
                target=f"quote:{current.id}",
                number=current.number,
                valid_until=valid_until.isoformat(),
            )
            if self.on_filed is not None:
                self.on_filed(uow, sent)
            return sent

    def withdraw(self, actor: Actor, quote: object) -> Quote:
        """Withdraw a quote (request) the member has not decided on."""
        vendor_id = require_admin(actor, INBOX_WORK)
        quote_id = ident("quote", quote)
        with self._rt.transaction() as uow:
            current = uow.quotes.get(vendor_id, quote_id)
            if current is None:
                raise NotFound("quote", quote_id)
            if current.status not in (QuoteStatus.REQUESTED, QuoteStatus.SENT):
                raise ValidationError.single("quote", "decided", "this quote was decided already")
            done = attrs.evolve(current, status=QuoteStatus.WITHDRAWN, version=current.version + 1)
            uow.quotes.update(done, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="quote_withdrawn",
                real=actor,
                customer_id=current.customer_id,
                target=f"quote:{current.id}",
            )
            return done

    # -- the member decides ------------------------------------------------------------------
    def accept(
        self,
        actor: Actor | AccessContext,
        quote: object,
        *,
        expected_version: int | None = None,
    ) -> Any:
        """Accept a sent quote that still holds: it becomes an order at the quoted prices
        (not today's), delivered where the request said; returns the member's view of the
        order. Needs ``shop.order`` and ``quotes.view`` (one accepts what one can see)."""
        quote_id = ident("quote", quote)
        seen = seen_version(quote, expected_version)
        with self._rt.transaction() as uow:
            ctx, member, own = member_context(self._access, uow, actor)
            ctx.require("quotes.view")
            ctx.require("shop.order")
            current = self._open(uow, ctx, own, quote_id, seen)
            order = self._orders.file(
                uow,
                member,
                own,
                lines=[
                    OrderLine(
                        item_id=line.item_id,
                        sku=line.sku,
                        name=line.name,
                        unit=line.unit,
                        quantity=line.quantity,
                        unit_price=line.unit_price or Decimal(0),
                        total=line.total or Decimal(0),
                    )
                    for line in current.lines
                ],
                currency=current.currency,
                delivery=current.delivery,
                note=current.note,
                reference=current.reference,
                quote_id=current.id,
            )
            self._decide(uow, member, current, QuoteStatus.ACCEPTED, order.id, "")
            return self._orders.view(ctx, own, order)

    def decline(
        self,
        actor: Actor | AccessContext,
        quote: object,
        *,
        reason: str = "",
        expected_version: int | None = None,
    ) -> QuoteMemberView:
        """Decline a sent quote (``reason`` goes into its thread). Same rights as accept."""
        problems: list[Problem] = []
        why = check_note(problems, "reason", reason)
        v.raise_if(problems)
        quote_id = ident("quote", quote)
        seen = seen_version(quote, expected_version)
        with self._rt.transaction() as uow:
            ctx, member, own = member_context(self._access, uow, actor)
            ctx.require("quotes.view")
            ctx.require("shop.order")
            current = self._open(uow, ctx, own, quote_id, seen, expired_ok=True)
            declined = self._decide(uow, member, current, QuoteStatus.DECLINED, None, why)
            if why:
                self._add_message(uow, declined, member, why)
            return self.view(ctx, declined)

    def _open(
        self,
        uow: UnitOfWork,
        ctx: AccessContext,
        own: Customer,
        quote_id: UUID,
        seen: int | None,
        *,
        expired_ok: bool = False,
    ) -> Quote:
        current = _member_quote(uow, ctx, own, quote_id)
        if current.status is not QuoteStatus.SENT:
            raise ValidationError.single(
                "quote", "not_sent", "this quote has no prices to decide on (not sent, or decided)"
            )
        if current.expired(self._today()) and not expired_ok:
            raise ValidationError.single(
                "quote", "expired", "this quote has expired; ask for a new one"
            )
        if seen is not None and seen != current.version:
            raise ConcurrentModification("quote", current.id)
        return current

    def _decide(
        self,
        uow: UnitOfWork,
        member: Member,
        current: Quote,
        status: QuoteStatus,
        order_id: UUID | None,
        reason: str,
    ) -> Quote:
        decided = attrs.evolve(
            current,
            status=status,
            decided_at=self._rt.clock.now(),
            decided_by=member.membership_id,
            order_id=order_id,
            version=current.version + 1,
        )
        uow.quotes.update(decided, current.version)
        self._rt.record(
            uow,
            vendor_id=current.vendor_id,
            action=f"quote_{status.value}",
            real=member,
            customer_id=current.customer_id,
            target=f"quote:{current.id}",
            reason=reason,
            number=current.number,
        )
        return decided

    # -- the thread --------------------------------------------------------------------------
    def post(self, actor: Actor | AccessContext, quote: object, text: str) -> QuoteMessage:
        """Add a message to a quote's thread, as staff or as a member who sees the quote
        (and may ask for quotes or order: ``quotes.request`` or ``shop.order``). At most
        :data:`~portalkit.orders.service.NOTE_MAX` characters; at most
        :data:`MAX_MESSAGES` per quote."""
        problems: list[Problem] = []
        body = check_note(problems, "text", text)
        if not body:
            problems.append(Problem("text", "required", "is required"))
        v.raise_if(problems)
        quote_id = ident("quote", quote)
        with self._rt.transaction() as uow:
            if not is_member(actor):
                staff = acting(actor)
                vendor_id = require_admin(staff, INBOX_WORK)
                current = uow.quotes.get(vendor_id, quote_id)
                if current is None:
                    raise NotFound("quote", quote_id)
                return self._add_message(uow, current, staff, body)
            ctx, member, own = member_context(self._access, uow, actor)
            if not ({"quotes.request", "shop.order"} & ctx.capabilities) or ctx.read_only:
                ctx.require("quotes.request")
            current = _member_quote(uow, ctx, own, quote_id)
            return self._add_message(uow, current, member, body)

    def _add_message(self, uow: UnitOfWork, quote: Quote, author: Actor, text: str) -> QuoteMessage:
        if len(uow.quote_messages.list(quote.vendor_id, where={"quote_id": quote.id})) >= (
            MAX_MESSAGES
        ):
            raise ValidationError.single(
                "text", "too_many", "this quote has {limit} messages already", limit=MAX_MESSAGES
            )
        message = QuoteMessage(
            id=uuid4(),
            vendor_id=quote.vendor_id,
            quote_id=quote.id,
            created_at=self._rt.clock.now(),
            author=describe(author),
            text=text,
            membership_id=author.membership_id if isinstance(author, Member) else None,
        )
        uow.quote_messages.add(message)
        return message

    def messages(self, actor: Actor | AccessContext, quote: object) -> builtins.list[QuoteMessage]:
        """The quote's thread, oldest first (for staff, or a member who sees the quote)."""
        quote_id = ident("quote", quote)
        with self._rt.transaction(read_only=True) as uow:
            if not is_member(actor):
                vendor_id = require_admin(acting(actor), INBOX_WORK)
                if uow.quotes.get(vendor_id, quote_id) is None:
                    raise NotFound("quote", quote_id)
            else:
                ctx, member, own = member_context(self._access, uow, actor)
                vendor_id = member.vendor_id
                _member_quote(uow, ctx, own, quote_id)
            return uow.quote_messages.list(
                vendor_id, where={"quote_id": quote_id}, limit=MAX_MESSAGES
            )


def _sees(ctx: AccessContext, quote: Quote) -> bool:
    member = ctx.actor
    assert isinstance(member, Member)
    return ctx.can("quotes.view") or quote.membership_id == member.membership_id


def _member_quote(uow: UnitOfWork, ctx: AccessContext, own: Customer, quote_id: UUID) -> Quote:
    found = uow.quotes.get(own.vendor_id, quote_id)
    if found is None or found.customer_id != own.id or not _sees(ctx, found):
        raise NotFound("quote", quote_id)
    return found
