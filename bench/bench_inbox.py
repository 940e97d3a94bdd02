"""The vendor's inbox page against the same hand-written SQLAlchemy query.

``portal.inbox.list(staff, kind=…, status=…, limit=50)`` — the 50 newest items of one kind
and status among 100,000 items of the vendor (five kinds, four statuses, a second vendor's
items beside them) — beside the same ``SELECT … WHERE vendor_id, kind, status ORDER BY
created_at DESC, id DESC LIMIT 50`` written by hand with SQLAlchemy Core on the same engine,
rows fetched. Ours includes what a call costs: the staff check, the argument checks, the
transaction and turning rows into records. Both run in this one run, interleaved, medians over
repeats; before timing, both must return the same ids in the same order and our records
the hand-written rows' values (else exit 1).

Run from the repository root::

    python bench/bench_inbox.py            # 100,000 items, 7 repeats
    python bench/bench_inbox.py --quick    # 10,000 items, 3 repeats
    python bench/bench_inbox.py --items 100000 --repeats 9 --calls 200
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import attrs
from sqlalchemy import select

from portalkit import Portal
from portalkit.inbox import BUILTIN_KINDS, InboxItem, InboxStatus
from portalkit.mail.memory import MemoryMailer
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World


def _fill(portal: Portal, vendor_id: object, count: int, rng: random.Random) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = list(InboxStatus)
    for first in range(0, count, 5000):
        with portal.transaction() as uow:
            batch = []
            for n in range(first, min(first + 5000, count)):
                when = start + timedelta(seconds=n)
                batch.append(
                    InboxItem(
                        id=uuid4(),
                        vendor_id=vendor_id,  # type: ignore[arg-type]
                        kind=rng.choice(BUILTIN_KINDS),
                        reference=uuid4(),
                        title=f"Item {n}",
                        created_at=when,
                        updated_at=when,
                        status=rng.choice(statuses),
                        details={"n": n},
                    )
                )
            uow.inbox_items.add_many(batch)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 1 when the two sides disagree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 items, 3 repeats")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200, help="page loads per timing")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.repeats, args.calls = 10_000, 3, 50
    rng = random.Random(13)
    with tempfile.TemporaryDirectory() as folder:
        storage = SqlStorage(f"sqlite:///{Path(folder) / 'inbox.db'}")
        storage.upgrade_schema()
        portal = Portal(storage, MemoryMailer())
        world, other = World(portal, vendor_code="bench"), World(portal, vendor_code="other")
        _fill(portal, world.vendor.id, args.items, rng)
        _fill(portal, other.vendor.id, args.items // 10, rng)
        table = storage.schema.tables["inbox_items"]
        vendor_id, kind, status = world.vendor.id, "work_request", "new"
        query = (
            select(table)
            .where(
                table.c.vendor_id == vendor_id,
                table.c.kind == kind,
                table.c.status == status,
            )
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(50)
        )

        def ours() -> list[object]:
            page = portal.inbox.list(world.staff, kind=kind, status=status, limit=50)
            return [item.id for item in page]

        def hand_written() -> list[object]:
            with storage.engine.connect() as conn:
                return [row.id for row in conn.execute(query)]

        expected, got = hand_written(), ours()
        if got != expected or len(got) != 50:
            print(f"FAIL: the pages differ ({len(got)} vs {len(expected)} ids)", file=sys.stderr)
            return 1
        # Not the ids only: every column of the hand-written rows is in our records.
        with storage.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        page = portal.inbox.list(world.staff, kind=kind, status=status, limit=50)
        records = [
            {**attrs.asdict(item, recurse=False), "status": item.status.value} for item in page
        ]
        if records != rows:
            print("FAIL: the records differ from the hand-written rows", file=sys.stderr)
            return 1
        variants = {"ours": ours, "hand-written": hand_written}
        timings: dict[str, list[float]] = {name: [] for name in variants}
        for _repeat in range(args.repeats):
            for name, call in variants.items():
                began = time.perf_counter()
                for _ in range(args.calls):
                    call()
                timings[name].append((time.perf_counter() - began) / args.calls)
        portal.close()
    median = {name: statistics.median(times) for name, times in timings.items()}
    base = median["hand-written"]
    print(f"inbox page: 50 newest of {kind}/{status}, {args.items:,} items, SQLite")
    print(f"{'variant':<14} {'median ms':>10} {'ratio':>7}")
    for name in variants:
        print(f"{name:<14} {median[name] * 1000:>10.3f} {median[name] / base:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
