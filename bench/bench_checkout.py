"""Checkout of a 20-line cart beside inserting the same rows by hand (issue 12).

Measured in one run on one SQLite file, variants interleaved, medians over the repeats:

- ``portal.cart.checkout`` of 20 lines given in the call: access context, customer, assortment,
  items and price rules read, every line checked and priced, the delivery address chosen, the
  order number counted on, the order and its audit event written, one commit;
- ``hand-written``: the same three writes with SQLAlchemy Core on the same engine, in one
  transaction — the counter upsert, the order row (lines as JSON, as portalkit stores them)
  and an audit row — with nothing read or checked.

The issue aims at ``checkout ≤ 2 × hand-written``. The self-check: every checkout made an
order with its own number, and each order's total is the sum of its 20 lines' prices; a
wrong result exits 1.

Run from the repository root::

    python bench/bench_checkout.py            # 200 checkouts per variant, 5 repeats
    python bench/bench_checkout.py --quick    # 40 checkouts, 3 repeats
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite

from portalkit import Portal
from portalkit.customers.model import Address
from portalkit.mail import MemoryMailer
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World

LINES = 20


def main() -> int:
    """Run the benchmark; 0 when the self-check holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    per_round, repeats = (40, 3) if args.quick else (200, 5)
    folder = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    storage = SqlStorage(f"sqlite:///{folder / 'portal.db'}")
    storage.upgrade_schema()
    portal = Portal(storage, MemoryMailer())
    world = World(portal)
    staff = world.staff
    customer = portal.customers.create(
        staff,
        code="BENCH",
        name="Bench",
        settings={"show_prices": True, "shop_enabled": True},
        addresses=[Address("Street 1", "1000 AA", "Town", default_delivery=True)],
    )
    items = [
        portal.catalogue.create_item(
            staff,
            sku=f"SKU-{n:03d}",
            name=f"Item {n}",
            list_price=Decimal(f"{n + 1}.25"),
            currency="EUR",
        )
        for n in range(LINES)
    ]
    price_list = portal.pricing.create_list(
        staff, name="Contract", currency="EUR", customers=[customer]
    )
    for item in items[::2]:
        portal.pricing.add_rule(staff, price_list, kind="percent", value=10, item=item)
    portal.assortments.set(staff, customer, mode="all")
    member = world.member(
        world.membership(
            customer=customer,
            profile=world.profile(capabilities=["shop.order", "prices.view"]),
        )
    )
    lines = [(item.id, 2) for item in items]
    cent = Decimal("0.01")
    expected = sum(
        (
            (item.list_price * Decimal("0.9") if n % 2 == 0 else item.list_price).quantize(
                cent, rounding=ROUND_HALF_UP
            )
            * 2
            for n, item in enumerate(items)
        ),
        Decimal(0),
    )

    engine = storage.engine
    tables = storage.schema.tables
    orders, audit, counters = tables["orders"], tables["audit_events"], tables["number_counters"]
    membership_id = member.membership_id
    json_lines = [
        {
            "item_id": str(item.id),
            "sku": item.sku,
            "name": item.name,
            "unit": item.unit,
            "quantity": 2,
            "unit_price": str(item.list_price),
            "total": str(item.list_price * 2),
        }
        for item in items
    ]
    made: list[object] = []

    def checkout() -> None:
        made.append(portal.cart.checkout(member, lines=lines))

    hand_seq = [0]

    def by_hand() -> None:
        now = datetime.now(UTC)
        hand_seq[0] += 1
        with engine.begin() as conn:
            seq = conn.execute(
                sqlite.insert(counters)
                .values(vendor_id=world.vendor.id, scope="hand", value=1)
                .on_conflict_do_update(
                    index_elements=[counters.c.vendor_id, counters.c.scope],
                    set_={"value": counters.c.value + 1},
                )
                .returning(counters.c.value)
            ).scalar_one()
            order_id = uuid.uuid4()
            number = f"HAND-{seq:06d}"
            conn.execute(
                orders.insert().values(
                    id=order_id,
                    vendor_id=world.vendor.id,
                    created_at=now,
                    version=1,
                    customer_id=customer.id,
                    membership_id=membership_id,
                    number=number,
                    number_key=number.casefold(),
                    currency="EUR",
                    lines=json_lines,
                    total=expected,
                    delivery={
                        "street": "Street 1",
                        "postal_code": "1000 AA",
                        "city": "Town",
                        "country": "",
                        "label": "",
                        "location_id": None,
                    },
                    status="placed",
                    note="",
                    reference="",
                    quote_id=None,
                    decided_by=None,
                    decided_at=None,
                    decision_reason="",
                )
            )
            conn.execute(
                audit.insert().values(
                    id=uuid.uuid4(),
                    vendor_id=world.vendor.id,
                    created_at=now,
                    at=now,
                    action="order_placed",
                    real_actor=f"member:{membership_id}",
                    effective_actor="",
                    customer_id=customer.id,
                    target=f"order:{order_id}",
                    reason="",
                    outcome="success",
                    details=json.loads(json.dumps({"number": number, "lines": LINES})),
                )
            )

    variants = {"portal.cart.checkout": checkout, "hand-written (Core)": by_hand}
    for run in variants.values():  # warm up
        run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            for _ in range(per_round):
                run()
            times[name].append((time.perf_counter() - start) / per_round)

    ok = True
    numbers = [getattr(o, "number", None) for o in made]
    if len(set(numbers)) != len(made) or any(getattr(o, "total", None) != expected for o in made):
        print("SELF-CHECK FAILED: duplicate numbers or wrong totals", file=sys.stderr)
        ok = False
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(orders).where(orders.c.number.like("BENCH-%"))
        ).scalar_one()
    if stored != len(made):
        print("SELF-CHECK FAILED: stored orders do not match", file=sys.stderr)
        ok = False
    base = statistics.median(times["hand-written (Core)"])
    print(f"checkout of a {LINES}-line cart, SQLite file, {per_round} x {repeats} repeats")
    print(f"{'variant':<24}{'median ms':>12}{'ratio':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24}{median * 1000:>12.2f}{median / base:>8.2f}")
    print("self-check:", "ok" if ok else "FAILED")
    storage.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
