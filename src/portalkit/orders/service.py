"""The order service (``portal.orders``): a member's orders and the customer's approval list,
and the vendor's side (list, get, move on); :mod:`portalkit.orders` describes the records.

Orders are placed by checkout (``portal.cart.checkout``) or made from an accepted quote
(``portal.quotes.accept``); both go through :meth:`OrderService.file`, in the caller's
transaction, so numbering, the approval rule, the audit and ``on_filed`` happen in one place.
"""

from __future__ import annotations

import builtins
import string
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin, who
from portalkit._service import ident, page, seen_version
from portalkit.actors import Member
from portalkit.customers.model import Address
from portalkit.errors import (
    ConcurrentModification,
    NotFound,
    PermissionDenied,
    Problem,
    ValidationError,
)
from portalkit.orders.model import (
    STAFF_MOVES,
    DeliveryAddress,
    MemberOrder,
    Order,
    OrderLine,
    OrderStatus,
    PriceFreeOrder,
    member_view,
)
from portalkit.profiles.model import Scope
from portalkit.staffrights import INBOX_WORK

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.actors import Actor
    from portalkit.customers.model import Customer
    from portalkit.outbox.delivery import Outbox
    from portalkit.storage.base import UnitOfWork

__all__ = [
    "NOTE_MAX",
    "FiledHook",
    "OrderService",
    "acting",
    "delivery_address",
    "is_member",
    "member_context",
    "next_number",
]

NOTE_MAX = 2000
"""The longest note or message a member or staff may write on an order or quote."""

REFERENCE_MAX = 100
"""The longest reference (the customer's own purchase-order number)."""

FiledHook = Callable[["UnitOfWork", object], None]
"""``on_filed(uow, record)``: called in the same transaction for each new order, quote request
and sent quote (the vendor inbox takes them in there); an exception rolls the whole back."""

OrderView = MemberOrder | PriceFreeOrder


def acting(actor: Actor | AccessContext) -> Actor:
    """The actor itself, or the actor an access context was built for."""
    return cast("Actor", getattr(actor, "actor", actor))


def is_member(actor: object) -> bool:
    """Whether ``actor`` (an actor or an access context) is a member of a customer."""
    return isinstance(getattr(actor, "actor", actor), Member)


def member_context(
    access: AccessService, uow: UnitOfWork, actor: Actor | AccessContext
) -> tuple[AccessContext, Member, Customer]:
    """The member's access context, the member and its customer, for the shop's calls:
    staff and system actors are refused, as is a customer whose shop is switched off."""
    ctx = access.context(actor)
    member = who(ctx.actor)
    if not isinstance(member, Member):
        raise PermissionDenied("only a member of a customer can do this in the shop")
    customer = uow.customers.get(member.vendor_id, member.customer_id)
    if customer is None:
        raise NotFound("customer", member.customer_id)
    if not customer.settings.shop_enabled:
        raise PermissionDenied(
            "the shop is not switched on for customer {code}", code=customer.code
        )
    return ctx, member, customer


def next_number(uow: UnitOfWork, pattern: str, kind: str, customer: Customer, year: int) -> str:
    """The next order or quote number (``kind``) of ``customer`` after ``pattern``: the
    counter runs per customer when the pattern holds ``{customer_code}``, per year when it
    holds ``{year}`` (the pattern was checked when the settings were loaded)."""
    names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
    scope = [kind]
    if "customer_code" in names:
        scope.append(f"customer:{customer.id}")
    if "year" in names:
        scope.append(f"year:{year}")
    seq = uow.next_number(customer.vendor_id, "/".join(scope))
    return pattern.format(customer_code=customer.code, seq=seq, year=year)


def delivery_address(
    uow: UnitOfWork, ctx: AccessContext, customer: Customer, delivery: object
) -> DeliveryAddress:
    """Where the goods go, chosen among the customer's own: None for its default delivery
    address, a number for its n-th address (from 0), one of its :class:`Address` values, or
    one of its active locations (record or id) that the member reaches. Another customer's
    location answers NotFound, like a missing one."""
    if delivery is None:
        chosen = customer.default_delivery_address
        if chosen is None:
            raise ValidationError.single(
                "delivery", "required", "choose a delivery address: the customer has no default"
            )
        return _copy(chosen)
    if isinstance(delivery, int) and not isinstance(delivery, bool):
        if not 0 <= delivery < len(customer.addresses):
            raise ValidationError.single(
                "delivery", "out_of_range", "is not one of the customer's addresses"
            )
        return _copy(customer.addresses[delivery])
    if isinstance(delivery, Address):
        if delivery not in customer.addresses:
            raise ValidationError.single(
                "delivery", "out_of_range", "is not one of the customer's addresses"
            )
        return _copy(delivery)
    location_id = ident("delivery", delivery)
    place = uow.locations.get(customer.vendor_id, location_id)
    reachable = ctx.location_read is None or location_id in ctx.location_read
    if place is None or place.customer_id != customer.id or not place.active or not reachable:
        raise NotFound("location", location_id)
    if place.address is None:
        raise ValidationError.single("delivery", "no_address", "this location has no address")
    return attrs.evolve(_copy(place.address), label=place.name, location_id=place.id)


def _copy(address: Address) -> DeliveryAddress:
    return DeliveryAddress(
        street=address.street,
        postal_code=address.postal_code,
        city=address.city,
        country=address.country,
        label=address.label,
    )


def check_note(problems: list[Problem], field: str, value: object) -> str:
    """A member's or staff's free text on an order or quote: at most :data:`NOTE_MAX`."""
    return v.text(problems, field, value, required=False, max_length=NOTE_MAX, multiline=True)


def check_reference(problems: list[Problem], value: object) -> str:
    """The customer's own reference for an order (its purchase-order number)."""
    return v.text(problems, "reference", value, required=False, max_length=REFERENCE_MAX)


class OrderService:
    """Orders, for members and for the vendor's staff. Reached as ``portal.orders``.

    Example::

        mine = portal.orders.list(member)                 # views: priced or price-free
        waiting = portal.orders.approvals(approver)       # the customer's approval list
        portal.orders.approve(approver, waiting[0])       # the placer is mailed
        portal.orders.list(staff, status="placed", customer=acme)
        portal.orders.set_status(staff, order, "confirmed")

    ``on_filed(uow, order)`` (optional) is called in the placing transaction for each new
    order: the vendor inbox takes it in there.
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        access: AccessService,
        outbox: Outbox,
        on_filed: FiledHook | None = None,
    ) -> None:
        self._rt = rt
        self._access = access
        self._outbox = outbox
        #: Called with ``(uow, order)`` for each new order, inside its transaction.
        self.on_filed = on_filed

    # -- placing (for checkout and accepted quotes) -----------------------------------------
    def file(
        self,
        uow: UnitOfWork,
        member: Member,
        customer: Customer,
        *,
        lines: Sequence[OrderLine],
        currency: str,
        delivery: DeliveryAddress,
        note: str = "",
        reference: str = "",
        quote_id: UUID | None = None,
    ) -> Order:
        """Store a new order in ``uow`` (checked lines and prices, from checkout or a quote):
        numbered, waiting for approval when the customer's rule says so, audited, and handed
        to ``on_filed``. The caller has authorised the member and validated the input."""
        now = self._rt.clock.now()
        total = sum((line.total for line in lines), Decimal(0))
        limit = customer.settings.approval_above
        status = (
            OrderStatus.AWAITING_APPROVAL
            if limit is not None and total > limit
            else OrderStatus.PLACED
        )
        order = Order(
            id=uuid4(),
            vendor_id=customer.vendor_id,
            customer_id=customer.id,
            membership_id=member.membership_id,
            number=next_number(
                uow, self._rt.settings.order_number_pattern, "order", customer, now.year
            ),
            created_at=now,
            currency=currency,
            lines=tuple(lines),
            total=total,
            delivery=delivery,
            status=status,
            note=note,
            reference=reference,
            quote_id=quote_id,
        )
        uow.orders.add(order)
        # No amount in the audit: customer admins read it, and some may not see prices.
        self._rt.record(
            uow,
            vendor_id=order.vendor_id,
            action="order_placed",
            real=member,
            customer_id=customer.id,
            target=f"order:{order.id}",
            number=order.number,
            status=status.value,
            lines=len(order.lines),
        )
        if self.on_filed is not None:
            self.on_filed(uow, order)
        return order

    def view(self, ctx: AccessContext, customer: Customer, order: Order) -> OrderView:
        """The member's view of ``order``: its prices only where the member may see them —
        a shop order's when the customer shows prices and it holds ``prices.view``, an order
        made from a quote's when it holds ``quotes.view``."""
        member = ctx.actor
        assert isinstance(member, Member)
        if order.quote_id is not None:
            priced = ctx.can("quotes.view")
        else:
            priced = customer.settings.show_prices and ctx.can("prices.view")
        return member_view(order, priced=priced, me=member.membership_id)

    # -- the member's side -------------------------------------------------------------------
    def list(
        self,
        actor: Actor | AccessContext,
        *,
        status: OrderStatus | str | None = None,
        customer: object = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Any]:
        """Orders, oldest first. Staff: the vendor's :class:`Order` records (``customer`` and
        ``status`` filter). A member: views of its customer's orders — those it placed, or all
        of them with ``orders.view`` at customer scope (at location scope: those delivered to
        its locations, and its own)."""
        limit, offset = page(limit, offset)
        problems: list[Problem] = []
        wanted = None if status is None else v.choice(problems, "status", status, OrderStatus)
        v.raise_if(problems)
        where: dict[str, object] = {} if wanted is None else {"status": wanted}
        if not is_member(actor):
            vendor_id = require_admin(acting(actor), INBOX_WORK)
            if customer is not None:
                where["customer_id"] = ident("customer", customer)
            with self._rt.transaction(read_only=True) as uow:
                return uow.orders.list(vendor_id, where=where, limit=limit, offset=offset)
        with self._rt.transaction(read_only=True) as uow:
            ctx, member, own = member_context(self._access, uow, actor)
            where["customer_id"] = own.id
            records = uow.orders.list(member.vendor_id, where=where)
            visible = [o for o in records if self._sees(ctx, member, o)]
            return [self.view(ctx, own, o) for o in visible[offset : offset + limit]]

    def get(self, actor: Actor | AccessContext, order: object) -> Any:
        """One order: the record for staff, the member's view for a member who may see it
        (NotFound otherwise, as for another customer's)."""
        order_id = ident("order", order)
        if not is_member(actor):
            vendor_id = require_admin(acting(actor), INBOX_WORK)
            with self._rt.transaction(read_only=True) as uow:
                found = uow.orders.get(vendor_id, order_id)
                if found is None:
                    raise NotFound("order", order_id)
                return found
        with self._rt.transaction(read_only=True) as uow:
            ctx, member, own = member_context(self._access, uow, actor)
            found = uow.orders.get(member.vendor_id, order_id)
            if found is None or found.customer_id != own.id or not self._sees(ctx, member, found):
                raise NotFound("order", order_id)
            return self.view(ctx, own, found)

    def _sees(self, ctx: AccessContext, member: Member, order: Order) -> bool:
        if order.membership_id == member.membership_id:
            return True
        if ctx.can("orders.approve") and order.status is OrderStatus.AWAITING_APPROVAL:
            return True
        if not ctx.can("orders.view"):
            return False
        scope = ctx.scope("orders")
        if scope is Scope.OWN:
            return False
        if scope is Scope.LOCATION:
            place = order.delivery.location_id
            return place is not None and place in (ctx.location_read or ())
        return True

    # -- approval ----------------------------------------------------------------------------
    def approvals(self, actor: Actor | AccessContext) -> builtins.list[OrderView]:
        """The customer's approval list: its orders waiting for approval, oldest first, for a
        member holding ``orders.approve``."""
        with self._rt.transaction(read_only=True) as uow:
            ctx, member, own = member_context(self._access, uow, actor)
            # Reading the list is no write: a read-only view as the approver shows it too.
            if "orders.approve" not in ctx.capabilities:
                ctx.require("orders.approve")
            waiting = uow.orders.list(
                member.vendor_id,
                where={"customer_id": own.id, "status": OrderStatus.AWAITING_APPROVAL},
            )
            return [self.view(ctx, own, o) for o in waiting]

    def approve(
        self, actor: Actor | AccessContext, order: object, *, expected_version: int | None = None
    ) -> OrderView:
        """Approve an order of the approval list: it is placed, and its placer is mailed.

        Needs ``orders.approve`` in the order's own customer. The member who placed the order
        cannot approve it (four eyes: PermissionDenied), even holding ``orders.approve``."""
        return self._decide(actor, order, expected_version, OrderStatus.PLACED, "")

    def reject(
        self,
        actor: Actor | AccessContext,
        order: object,
        *,
        reason: str = "",
        expected_version: int | None = None,
    ) -> OrderView:
        """Reject an order of the approval list (``reason`` goes into the placer's mail and
        the order); like :meth:`approve`, never by its own placer."""
        problems: list[Problem] = []
        why = v.text(problems, "reason", reason, required=False, max_length=500)
        v.raise_if(problems)
        return self._decide(actor, order, expected_version, OrderStatus.REJECTED, why)

    def _decide(
        self,
        actor: Actor | AccessContext,
        order: object,
        expected_version: int | None,
        status: OrderStatus,
        reason: str,
    ) -> OrderView:
        order_id = ident("order", order)
        seen = seen_version(order, expected_version)
        with self._rt.transaction() as uow:
            ctx, member, own = member_context(self._access, uow, actor)
            ctx.require("orders.approve")
            current = uow.orders.get(member.vendor_id, order_id)
            if current is None or current.customer_id != own.id:
                raise NotFound("order", order_id)
            if current.status is not OrderStatus.AWAITING_APPROVAL:
                raise ValidationError.single(
                    "order", "not_waiting", "this order is not waiting for approval"
                )
            if current.membership_id == member.membership_id:
                raise PermissionDenied("you cannot approve or reject an order you placed yourself")
            if seen is not None and seen != current.version:
                raise ConcurrentModification("order", current.id)
            decided = attrs.evolve(
                current,
                status=status,
                decided_by=member.membership_id,
                decided_at=self._rt.clock.now(),
                decision_reason=reason,
                version=current.version + 1,
            )
            uow.orders.update(decided, current.version)
            if status is OrderStatus.PLACED and self.on_filed is not None:
                self.on_filed(uow, decided)  # approved: now it is the vendor's to handle
            action = "order_approved" if status is OrderStatus.PLACED else "order_rejected"
            self._rt.record(
                uow,
                vendor_id=current.vendor_id,
                action=action,
                real=member,
                customer_id=own.id,
                target=f"order:{current.id}",
                reason=reason,
                number=current.number,
            )
            self._tell_placer(uow, decided, own, approved=status is OrderStatus.PLACED)
            return self.view(ctx, own, decided)

    def _tell_placer(
        self, uow: UnitOfWork, order: Order, customer: Customer, *, approved: bool
    ) -> None:
        # The mail names the order and the decision only: no amount, whatever the placer
        # may see, so a forwarded mail shows no price either.
        placer = uow.memberships.get(order.vendor_id, order.membership_id)
        account = uow.accounts.get(order.vendor_id, placer.account_id) if placer else None
        if placer is None or account is None or not account.email:
            return
        contact = uow.contacts.get(order.vendor_id, placer.contact_id)
        settings = self._rt.settings
        message = self._outbox.compose_template(
            order.vendor_id,
            to=account.email,
            template="order_approved" if approved else "order_rejected",
            language=account.language,
            name=contact.first_name if contact else "",
            number=order.number,
            reason=order.decision_reason,
            customer_name=customer.name,
            logo_url=customer.branding.email_logo_url,
            link=f"{settings.base_url.rstrip('/')}/",
        )
        self._outbox.queue(uow, message)

    # -- the vendor's side -------------------------------------------------------------------
    def set_status(
        self,
        actor: Actor,
        order: object,
        status: OrderStatus | str,
        *,
        expected_version: int | None = None,
    ) -> Order:
        """Move an order on as the vendor: placed → confirmed → shipped → delivered, or
        cancelled before it ships (:data:`~portalkit.orders.model.STAFF_MOVES`). Approval is
        the customer's: staff cannot approve an order waiting for it (only cancel it)."""
        vendor_id = require_admin(actor, INBOX_WORK)
        problems: list[Problem] = []
        wanted: OrderStatus = v.choice(problems, "status", status, OrderStatus)
        v.raise_if(problems)
        order_id = ident("order", order)
        seen = seen_version(order, expected_version)
        with self._rt.transaction() as uow:
            current = uow.orders.get(vendor_id, order_id)
            if current is None:
                raise NotFound("order", order_id)
            if wanted not in STAFF_MOVES[current.status]:
                raise ValidationError.single(
                    "status",
                    "not_allowed",
                    "an order that is {current} cannot become {wanted}",
                    current=current.status.value,
                    wanted=wanted.value,
                )
            if seen is not None and seen != current.version:
                raise ConcurrentModification("order", current.id)
            moved = attrs.evolve(current, status=wanted, version=current.version + 1)
            uow.orders.update(moved, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="order_status_changed",
                real=actor,
                customer_id=current.customer_id,
                target=f"order:{current.id}",
                status=[current.status.value, wanted.value],
            )
            return moved
