"""Prices never leak (issue 12, item 4): a property test with distinctive price values.

Each example builds a shop whose every list price and price rule is a value of its own
(``9xx.xx`` style, unique per item and rule), then lets two members who may not see prices
— a limited member of a customer that shows prices (no ``prices.view``, the transport seed's
"limited" login) and a buyer of a customer that hides prices (the service-desk seed) — use
every part of the shop: catalogue pages, the printer shop, carts, checkout, orders, quote
requests, failing calls. Every output is scanned for any price of the world, in every form it
leaves the library: ``repr``, ``attrs.asdict`` as JSON, error texts in en/nl/de, the mail in
the memory mailer and the audit details.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portalkit.customers.model import Address
from portalkit.errors import PortalError
from portalkit.testing import World

LIMITED = ["shop.order", "quotes.request", "orders.view", "orders.approve"]
NO_QUOTES_VIEW = ["shop.order", "quotes.request", "prices.view", "orders.view"]

# 900.01 … 999.99 with a last digit that is not 0: no price reads like another number.
cents = st.integers(min_value=90_001, max_value=99_999).filter(lambda c: c % 10 != 0)


def _forms(value: Decimal) -> set[str]:
    plain = f"{value:.2f}"
    return {plain, plain.replace(".", ",")}


def _dump(value: Any) -> str:
    if attrs.has(type(value)):
        return repr(value) + json.dumps(attrs.asdict(value), default=str)
    if isinstance(value, list | tuple):
        return "".join(_dump(v) for v in value)
    return repr(value)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    prices=st.lists(cents, min_size=6, max_size=6, unique=True),
    quantity=st.integers(min_value=1, max_value=7),
)
def test_no_price_leaves_the_shop_for_members_who_may_not_see_it(
    prices: list[int], quantity: int
) -> None:
    world = World()
    portal, staff = world.portal, world.staff
    values = [Decimal(p).scaleb(-2) for p in prices]
    shows = portal.customers.create(
        staff,
        code="SHOWS",
        name="Shows",
        settings={"show_prices": True, "shop_enabled": True, "approval_above": Decimal("1")},
        addresses=[Address("Street 1", "1000 AA", "Town", default_delivery=True)],
    )
    hides = portal.customers.create(
        staff,
        code="HIDES",
        name="Hides",
        settings={"show_prices": False, "shop_enabled": True},
        addresses=[Address("Street 2", "2000 BB", "City", default_delivery=True)],
    )
    items = [
        portal.catalogue.create_item(
            staff, sku=f"SKU-{n}", name=f"Item {n}", list_price=values[n], currency="EUR"
        )
        for n in range(3)
    ]
    price_list = portal.pricing.create_list(
        staff, name="Contract", currency="EUR", customers=[shows, hides]
    )
    portal.pricing.add_rule(staff, price_list, kind="fixed", value=values[3], item=items[0])
    portal.pricing.add_rule(
        staff, price_list, kind="fixed", value=values[4], item=items[1], min_quantity=3
    )
    for customer in (shows, hides):
        portal.assortments.set(staff, customer, mode="all")
    secret = set()
    for value in values:
        for q in range(1, 8):
            secret |= _forms(value * q)
    limited = world.member(
        world.membership(customer=shows, profile=world.profile(capabilities=LIMITED))
    )
    hidden = world.member(
        world.membership(customer=hides, profile=world.profile(capabilities=NO_QUOTES_VIEW))
    )
    buyer_shows = world.member(
        world.membership(
            customer=shows,
            profile=world.profile(capabilities=[*NO_QUOTES_VIEW, "quotes.view"]),
        )
    )

    outputs: list[Any] = []
    errors: list[PortalError] = []
    # The staff's own price-list events name their prices (staff may see them); what the
    # shop's use records from here on is scanned.
    before = {e.id for e in portal.audit.list(staff, limit=1000)}

    def run(call: Any, *args: Any, **kwargs: Any) -> None:
        try:
            outputs.append(call(*args, **kwargs))
        except PortalError as exc:
            errors.append(exc)

    # A buyer who may see prices orders too: the limited member then sees that order, and
    # approves it from the approval list, without seeing its prices.
    portal.cart.checkout(buyer_shows, lines=[(items[0], quantity), (items[1], 3)])
    for member in (limited, hidden):
        run(portal.shop.catalogue, member)
        run(portal.shop.printer_shop, member)
        run(portal.shop.lines, member, [(i, quantity) for i in items])
        run(portal.shop.visible_price, member, items[1], 3)
        run(portal.cart.set, member, items[0], quantity)
        run(portal.cart.add, member, items[1], 3)
        run(portal.cart.view, member)
        run(portal.cart.checkout, member, delivery=99)  # refused: no such address
        run(portal.cart.checkout, member, lines=[(items[2], 10**9)])  # refused: quantity
        run(portal.cart.checkout, member, note="please")
        run(portal.orders.list, member)
        run(portal.orders.approvals, member)
        run(portal.quotes.list, member)
    for view in portal.orders.approvals(limited):
        run(portal.orders.approve, limited, view.id)
        run(portal.orders.get, limited, view.id)
    [request] = portal.quotes.list(staff, customer=hides)
    portal.quotes.send(
        staff,
        request,
        prices={line.item_id: values[5] for line in request.lines},
        currency="EUR",
        valid_until=portal.clock.now().date(),
    )
    # A quote's prices are for quotes.view holders: this member lacks it.
    run(portal.quotes.get, hidden, request.id)
    run(portal.quotes.list, hidden)
    run(portal.quotes.accept, hidden, request.id)  # refused: no quotes.view
    secret |= _forms(values[5])

    assert errors, "the failing calls failed"
    texts = [_dump(o) for o in outputs]
    texts += [str(e) + e.text("nl") + e.text("de") + repr(e) for e in errors]
    mail = portal.mailer.outbox  # type: ignore[attr-defined]
    texts += [m.as_string() for m in mail if m["To"] != _email(world, buyer_shows)]
    texts += [
        json.dumps(e.details, default=str) + e.reason + e.target
        for e in portal.audit.list(staff, limit=1000)
        if e.id not in before
    ]
    blob = "\n".join(texts)
    leaked = sorted(p for p in secret if p in blob)
    assert leaked == [], [blob[max(0, blob.index(p) - 300) : blob.index(p) + 50] for p in leaked]


def _email(world: World, member: Any) -> str:
    account = world.portal.accounts.get(world.staff, member.account_id)
    return str(account.email)
