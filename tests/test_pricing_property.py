"""The price resolver against a naive reference: for any price lists, rules, tiers, dates
and quantity, ``book.price`` gives what the documented precedence says (docs/shop.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portalkit.clock import FixedClock
from portalkit.testing import World, memory_portal

NOW = datetime(2027, 6, 1, tzinfo=UTC)
WINDOWS = {
    "always": (None, None),
    "current": (NOW - timedelta(days=1), NOW + timedelta(days=1)),
    "past": (NOW - timedelta(days=10), NOW - timedelta(days=1)),
    "future": (NOW + timedelta(days=1), None),
    "ends_now": (None, NOW),  # valid_until is exclusive
    "starts_now": (NOW, None),  # valid_from is inclusive
}

rules = st.lists(
    st.fixed_dictionaries(
        {
            "list": st.integers(0, 2),  # 0: the customer's, 1: its group's, 2: in USD
            "target": st.sampled_from(["item0", "item1", "cat0", "cat1", "cat2", "cat3"]),
            "kind": st.sampled_from(["fixed", "percent"]),
            "value": st.integers(-50, 100).map(lambda n: Decimal(n) / 2),
            "min_quantity": st.integers(1, 12),
            "window": st.sampled_from(sorted(WINDOWS)),
        }
    ),
    max_size=12,
)


def _reference(
    item: Any, quantity: int, made: list[tuple[dict[str, Any], Any]], paths: dict[str, list[str]]
) -> Decimal:
    """Every rule that applies, each with its full sort key; the smallest key decides."""
    path = paths[item.sku]
    candidates = []
    for spec, rule in made:
        start, end = WINDOWS[spec["window"]]
        if spec["list"] == 2 or spec["min_quantity"] > quantity:
            continue
        if (start is not None and start > NOW) or (end is not None and end <= NOW):
            continue
        if spec["target"].startswith("item"):
            if spec["target"] != item.sku:
                continue
            rank = 0
        elif spec["target"] in path:
            rank = 1 + path.index(spec["target"])
        else:
            continue
        if spec["kind"] == "fixed":
            price = spec["value"]
        else:
            price = item.list_price * (100 - spec["value"]) / 100
        price = price.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        candidates.append(((spec["list"], rank, -spec["min_quantity"], price, str(rule.id)), price))
    if not candidates:
        return item.list_price.quantize(Decimal("0.01"))
    return min(candidates)[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=rules,
    quantity=st.integers(1, 15),
    placement=st.tuples(
        st.sampled_from(["cat2", "cat1", "cat3", None]), st.sampled_from(["cat0", "cat2", None])
    ),
)
def test_book_prices_follow_the_documented_precedence(
    specs: list[dict[str, Any]], quantity: int, placement: tuple[str | None, str | None]
) -> None:
    portal = memory_portal(clock=FixedClock(NOW))
    world = World(portal)
    p, staff = portal, world.staff
    cat0 = p.catalogue.create_category(staff, name="cat0")
    cat1 = p.catalogue.create_category(staff, name="cat1", parent=cat0)
    cat2 = p.catalogue.create_category(staff, name="cat2", parent=cat1)
    cat3 = p.catalogue.create_category(staff, name="cat3")
    categories = {"cat0": cat0, "cat1": cat1, "cat2": cat2, "cat3": cat3}
    parents = {"cat0": None, "cat1": "cat0", "cat2": "cat1", "cat3": None}
    items, paths = {}, {}
    for n, where in enumerate(placement):
        sku = f"item{n}"
        items[sku] = p.catalogue.create_item(
            staff,
            sku=sku,
            name=sku,
            list_price=Decimal("80.35") + n,
            currency="EUR",
            category=categories[where] if where else None,
        )
        path, node = [], where
        while node is not None:
            path.append(node)
            node = parents[node]
        paths[sku] = path
    customer = world.customer()
    group = p.groups.create(staff, name="group", customers=[customer])
    lists = [
        p.pricing.create_list(staff, name="own", currency="EUR", customers=[customer]),
        p.pricing.create_list(staff, name="group", currency="EUR", groups=[group]),
        p.pricing.create_list(staff, name="usd", currency="USD", customers=[customer]),
    ]
    made = []
    for spec in specs:
        if spec["kind"] == "fixed":
            spec["value"] = abs(spec["value"])  # a fixed price is never negative
        start, end = WINDOWS[spec["window"]]
        target = spec["target"]
        rule = p.pricing.add_rule(
            staff,
            lists[spec["list"]],
            kind=spec["kind"],
            value=spec["value"],
            min_quantity=spec["min_quantity"],
            valid_from=start,
            valid_until=end,
            **(
                {"item": items[target]}
                if target.startswith("item")
                else {"category": categories[target]}
            ),
        )
        made.append((spec, rule))
    book = p.pricing.book(staff, customer)
    prices = book.prices(list(items.values()), quantity)
    for item in items.values():
        expected = _reference(item, quantity, made, paths)
        assert prices[item.id].unit_price == expected, book.explain(item, quantity)
        assert book.price(item, quantity) == prices[item.id]
