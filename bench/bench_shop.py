"""The shop's catalogue page: 50 items with each one's effective price for a customer with a
price list, beside the same page without prices, in one run.

A SQLite catalogue of 50,000 items in 220 categories and 200,000 price rules (the customer's
own list holds a fixed price or tier per item and a percentage per category; the rest belong
to other customers' lists). Measured, variants interleaved, medians over repeats:

- ``page, prices``     ``portal.shop.catalogue(member)`` for a member who sees prices: the
                       assortment, the price book (price lists, groups) and one query for the
                       page's rules;
- ``page, no prices``  the same call for a member of a customer with prices hidden;
- ``search query``     the bare storage query of the page (``uow.search_items``), the floor.

Both members' access contexts are built once before timing (as a request builds its own
once). The SQL statements of one page are counted with a ``before_cursor_execute`` listener
at two catalogue sizes (a tenth, and the full one): they must be equal. The prices of every
measured page are checked against a slow reference that reads all of the customer's rules
and applies the documented precedence by sorting every candidate; a wrong price, a page
without 50 items or a statement count that grows with the catalogue exits 1.

Run from the repository root::

    python bench/bench_shop.py            # 50,000 items, 200,000 rules, 7 repeats
    python bench/bench_shop.py --quick    # 5,000 items, 20,000 rules, 3 repeats
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event

from portalkit import Portal
from portalkit.catalogue.model import CatalogueItem, Category, ItemQuery, ancestry
from portalkit.clock import FixedClock
from portalkit.mail.memory import MemoryMailer
from portalkit.pricing.model import PriceRule, RuleKind
from portalkit.shop import PricedShopItem, ShopItem
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World

NOW = datetime(2027, 3, 1, tzinfo=UTC)
PAGE = 50


class Shop:
    """One SQLite world: a catalogue, price lists, and two members."""

    def __init__(self, directory: Path, items: int, rules: int, seed: int = 7) -> None:
        self.storage = SqlStorage(f"sqlite:///{directory / f'shop-{items}.db'}")
        self.storage.upgrade_schema()
        self.portal = Portal(self.storage, MemoryMailer(), clock=FixedClock(NOW))
        world = World(self.portal)
        p, staff, vid = self.portal, world.staff, world.vendor.id
        rnd = random.Random(seed)
        roots = [
            Category(id=uuid.uuid4(), vendor_id=vid, name=f"Group {n}", created_at=NOW)
            for n in range(20)
        ]
        leaves = [
            Category(
                id=uuid.uuid4(),
                vendor_id=vid,
                name=f"Sub {n}",
                parent_id=roots[n % 20].id,
                created_at=NOW,
            )
            for n in range(200)
        ]
        catalogue = [
            CatalogueItem(
                id=uuid.uuid4(),
                vendor_id=vid,
                sku=f"SKU-{n:07d}",
                name=f"Article {n}",
                description=f"Description of article {n}",
                list_price=Decimal(rnd.randint(100, 99_999)) / 100,
                currency="EUR",
                category_id=leaves[n % 200].id,
                created_at=NOW,
            )
            for n in range(items)
        ]
        with p.transaction() as uow:
            uow.categories.add_many(roots)
            uow.categories.add_many(leaves)
            uow.catalogue_items.add_many(catalogue)
        shop = {"shop_enabled": True, "show_prices": True}
        self.priced = world.customer(settings=shop)
        self.hidden = world.customer(settings={"shop_enabled": True, "show_prices": False})
        fillers = [world.customer() for _ in range(3)]
        for customer in (self.priced, self.hidden):
            p.assortments.set(staff, customer, mode="all")
        own = p.pricing.create_list(staff, name="Own", currency="EUR", customers=[self.priced])
        others = [
            p.pricing.create_list(staff, name=f"Other {n}", currency="EUR", customers=[c])
            for n, c in enumerate(fillers)
        ]
        made: list[PriceRule] = []

        def rule(list_id: uuid.UUID, **fields: Any) -> PriceRule:
            return PriceRule(
                id=uuid.uuid4(), vendor_id=vid, price_list_id=list_id, created_at=NOW, **fields
            )

        for category in roots + leaves:
            made.append(
                rule(
                    own.id,
                    kind=RuleKind.PERCENT,
                    value=Decimal(rnd.randint(1, 30)),
                    category_id=category.id,
                )
            )
        for n, item in enumerate(catalogue):
            if len(made) >= rules // 4:
                break
            made.append(
                rule(
                    own.id,
                    kind=RuleKind.FIXED,
                    value=item.list_price * 9 / 10,
                    item_id=item.id,
                    min_quantity=1 + (n % 3) * 5,
                )
            )
            if n % 4 == 0:
                made.append(
                    rule(
                        own.id,
                        kind=RuleKind.FIXED,
                        value=item.list_price / 2,
                        item_id=item.id,
                        valid_from=NOW + timedelta(days=30),
                    )
                )
        while len(made) < rules:
            item = catalogue[rnd.randrange(items)]
            made.append(
                rule(
                    others[rnd.randrange(3)].id,
                    kind=RuleKind.FIXED,
                    value=Decimal(1),
                    item_id=item.id,
                )
            )
        with p.transaction() as uow:
            uow.price_rules.add_many(made)
        self.own_list = own
        self.parents = {c.id: c.parent_id for c in roots + leaves}
        self.vendor_id = vid
        profile = world.profile(capabilities={"shop.order", "prices.view"})
        self.ctx_priced = p.access.context(
            world.member(world.membership(customer=self.priced, profile=profile))
        )
        self.ctx_hidden = p.access.context(
            world.member(world.membership(customer=self.hidden, profile=profile))
        )
        self.statements = 0
        event.listen(self.storage.engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.statements += 1

    def counted(self, call: Callable[[], Any]) -> tuple[Any, int]:
        before = self.statements
        result = call()
        return result, self.statements - before

    def priced_page(self, offset: int) -> Any:
        return self.portal.shop.catalogue(self.ctx_priced, limit=PAGE, offset=offset)

    def hidden_page(self, offset: int) -> Any:
        return self.portal.shop.catalogue(self.ctx_hidden, limit=PAGE, offset=offset)

    def bare_page(self, offset: int) -> Any:
        with self.portal.transaction(read_only=True) as uow:
            return uow.search_items(
                self.vendor_id, ItemQuery(active_only=True), limit=PAGE + 1, offset=offset
            )

    def reference_prices(self, skus: list[str]) -> dict[str, Decimal]:
        """The slow way: every rule of the customer's list, every candidate sorted."""
        with self.portal.transaction(read_only=True) as uow:
            every = uow.price_rules.list(self.vendor_id, where={"price_list_id": self.own_list.id})
            items = [uow.catalogue_items.get_by(self.vendor_id, "sku", s) for s in skus]
        found = {}
        for item in items:
            assert item is not None
            path = ancestry(self.parents, item.category_id)
            candidates = []
            for r in every:
                if r.min_quantity > 1 or not r.valid_at(NOW):
                    continue
                if r.item_id == item.id:
                    rank = 0
                elif r.item_id is None and r.category_id in path:
                    rank = 1 + path.index(r.category_id)
                else:
                    continue
                price = (
                    r.value if r.kind is RuleKind.FIXED else item.list_price * (100 - r.value) / 100
                ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                candidates.append(((rank, -r.min_quantity, price, str(r.id)), price))
            found[item.sku] = (
                min(candidates)[1] if candidates else item.list_price.quantize(Decimal("0.01"))
            )
        return found


def check(shop: Shop, offset: int) -> list[str]:
    """What is wrong with the two pages at ``offset`` (nothing: an empty list)."""
    wrong = []
    priced, hidden = shop.priced_page(offset), shop.hidden_page(offset)
    if len(priced.items) != PAGE or len(hidden.items) != PAGE:
        wrong.append(f"offset {offset}: a page without {PAGE} items")
    if not all(type(i) is PricedShopItem for i in priced.items):
        wrong.append(f"offset {offset}: a priced page with an item without price")
    if not all(type(i) is ShopItem for i in hidden.items):
        wrong.append(f"offset {offset}: a price on the page of a hidden-prices customer")
    expected = shop.reference_prices([i.sku for i in priced.items])
    for item in priced.items:
        if item.unit_price != expected[item.sku]:
            wrong.append(
                f"{item.sku}: {item.unit_price} but the reference says {expected[item.sku]}"
            )
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 items, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    items, rules = (5_000, 20_000) if args.quick else (50_000, 200_000)
    repeats = args.repeats or (3 if args.quick else 7)
    rounds = 20
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        small = Shop(Path(tmp), items // 10, rules // 10)
        large = Shop(Path(tmp), items, rules)
        print(
            f"built {items // 10:,} and {items:,} items with {rules // 10:,} and {rules:,} rules "
            f"in {time.perf_counter() - started:.0f} s (SQLite, Python {sys.version.split()[0]})"
        )
        counts = {}
        for name, shop in (("small", small), ("large", large)):
            for variant, call in (
                ("prices", shop.priced_page),
                ("no prices", shop.hidden_page),
                ("search", shop.bare_page),
            ):
                _, counts[name, variant] = shop.counted(lambda c=call: c(PAGE * 3))
        for variant in ("prices", "no prices", "search"):
            if counts["small", variant] != counts["large", variant]:
                failures.append(
                    f"{variant}: {counts['small', variant]} statements at {items // 10:,} items "
                    f"but {counts['large', variant]} at {items:,}"
                )
        rnd = random.Random(3)
        offsets = [PAGE * rnd.randrange(0, 40) for _ in range(rounds)]
        for offset in offsets[:5]:
            failures += check(large, offset)
        variants = {
            "page, prices": large.priced_page,
            "page, no prices": large.hidden_page,
            "search query": large.bare_page,
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for offset in offsets[:3]:  # warm up
            for call in variants.values():
                call(offset)
        order = list(variants.items())
        for repeat in range(repeats):
            for n, offset in enumerate(offsets):
                # Side by side, page by page, each variant first in turn: a load spike on the
                # shared machine falls on all of them alike.
                shift = (repeat + n) % len(order)
                for name, call in order[shift:] + order[:shift]:
                    begun = time.perf_counter()
                    call(offset)
                    samples[name].append(time.perf_counter() - begun)
        medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
        base = medians["page, no prices"]
        statements = {
            "page, prices": "prices",
            "page, no prices": "no prices",
            "search query": "search",
        }
        print(
            f"\n{items:,} items, {rules:,} price rules, pages of {PAGE}, {repeats} repeats of {rounds} pages"
        )
        print(f"{'variant':<18}{'median ms':>10}{'vs no prices':>14}{'statements':>12}")
        for name, value in medians.items():
            key = statements[name]
            print(
                f"{name:<18}{value:>10.2f}{value / base:>13.2f}x"
                f"{counts['large', key]:>6} ({counts['small', key]} at {items // 10:,})"
            )
        ratio = medians["page, prices"] / base
        print(f"\nprices cost {ratio:.2f}x the page without them (aim: at most 1.5x)")
        small.storage.close()
        large.storage.close()
    for failure in failures:
        print("WRONG:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
