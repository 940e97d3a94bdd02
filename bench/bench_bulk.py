"""Bulk provisioning: portalkit's public API against a hand-written SQLAlchemy Core import.

Creates N customers (default 10,000), each with 5 contacts, 5 accounts and 5 memberships
(16 rows per customer), in transactions of ``--per-transaction`` customers (default 1,000):

- ``ours-memory``      Portal(MemoryStorage()), through the public services;
- ``ours-sqlite``      Portal(SqlStorage(<fresh file>)), through the public services;
- ``raw-core-sqlite``  the same rows as plain dicts, ``conn.execute(insert(table), rows)`` per
                       table and transaction, on the engine SqlStorage builds (same pragmas: WAL,
                       foreign keys, BEGIN IMMEDIATE) and the same Table objects (same bind types).

The variants run round-robin in each repeat to cancel drift; the table shows the median.
After every run the row counts are checked, and one row per table of ours-sqlite is compared
with raw-core's (ids and timestamps aside), so neither side can measure less work.

Run from the repository root::

    python bench/bench_bulk.py                 # 10,000 customers, 3 repeats
    python bench/bench_bulk.py --quick         # 1,000 customers, 1 repeat
    python bench/bench_bulk.py --customers 2000 --repeats 5 --per-transaction 500
    python bench/bench_bulk.py --customers 2000 --repeats 7 --against ../main/src

``--against SRC`` adds two variants, each run in a fresh process per repeat: ``ours-sqlite``
with portalkit imported from this tree's ``src`` (``@here``) and from ``SRC`` (``@against``,
another checkout, say main before a change), so a change is measured beside its baseline in
one run. Both must write the same rows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy
from sqlalchemy import Engine, func, insert, select

import portalkit
from portalkit import STAFF_PERMISSIONS, Portal, Staff, System
from portalkit.storage.memory import MemoryStorage
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.storage.sqlalchemy.rows import Base

PER_CUSTOMER = 5  # contacts, accounts and memberships each
TABLES = ("customers", "contacts", "accounts", "memberships")  # foreign-key order
AIM = 3.0


def expected_counts(customers: int) -> dict[str, int]:
    return {"customers": customers} | {t: customers * PER_CUSTOMER for t in TABLES[1:]}


# -- ours: the public API ------------------------------------------------------------------


def run_ours(portal: Portal, staff: Staff, customers: int, per_tx: int) -> None:
    for start in range(0, customers, per_tx):
        with portal.transaction():
            for i in range(start, min(start + per_tx, customers)):
                c = portal.customers.create(staff, code=f"C{i:05d}", name=f"Customer {i}")
                for j in range(PER_CUSTOMER):
                    ct = portal.contacts.create(
                        staff,
                        customer=c,
                        first_name=f"First{j}",
                        last_name=f"Last{i}",
                        email=f"c{i}.{j}@example.com",
                    )
                    a = portal.accounts.create(
                        staff, username=f"u{i}.{j}", email=f"u{i}.{j}@example.com"
                    )
                    portal.memberships.create(staff, account=a, customer=c, contact=ct)


# -- the baseline: raw SQLAlchemy Core -------------------------------------------------------


def _key(value: str) -> str:
    # The normalised unique-key columns (code_key, username_key, email_key) must hold what
    # portalkit's converter writes, or the baseline would skip work ours has to do.
    return unicodedata.normalize("NFKC", value).casefold()


# A customer's default branding as the converter stores it: every field, not the column's
# server default "{}" (which only rows from before the column existed hold).
BRANDING = {
    "logo_url": "",
    "email_logo_url": "",
    "template": "",
    "logo_asset_id": "",
    "email_logo_asset_id": "",
    "size_instructions_asset_id": "",
}


def build_rows(vendor_id: UUID, first: int, last: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of customers first..last-1, with the column values _convert.py produces.

    Every column is given, as portalkit gives them: a column left to its server default would
    be work the baseline skips (and a value it might not match).
    """
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for i in range(first, last):
        now = datetime.now(UTC)
        code = f"C{i:05d}"
        customer_id = uuid4()
        rows["customers"].append(
            {"id": customer_id, "vendor_id": vendor_id, "code": code, "code_key": _key(code),
             "name": f"Customer {i}", "erp_reference": "", "active": True, "show_prices": True,
             "shop_enabled": False, "addresses": [], "branding": dict(BRANDING),
             "approval_above": None, "notification_defaults": [],
             "parent_id": None, "created_at": now, "version": 1}
        )  # fmt: skip
        for j in range(PER_CUSTOMER):
            contact_id, account_id = uuid4(), uuid4()
            username, email = f"u{i}.{j}", f"u{i}.{j}@example.com"
            rows["contacts"].append(
                {"id": contact_id, "vendor_id": vendor_id, "customer_id": customer_id,
                 "first_name": f"First{j}", "last_name": f"Last{i}",
                 "email": f"c{i}.{j}@example.com", "job_title": "", "department": "",
                 "phone": "", "active": True, "created_at": now, "version": 1}
            )  # fmt: skip
            rows["accounts"].append(
                {"id": account_id, "vendor_id": vendor_id, "username": username,
                 "username_key": _key(username), "email": email, "email_key": _key(email),
                 "status": "active", "language": "en", "password_hash": None,
                 "session_stamp": secrets.token_urlsafe(16), "must_change_password": False,
                 "password_expires_at": None, "password_changed_at": None,
                 "last_login_at": None, "login_count": 0, "created_at": now, "version": 1}
            )  # fmt: skip
            rows["memberships"].append(
                {"id": uuid4(), "vendor_id": vendor_id, "account_id": account_id,
                 "customer_id": customer_id, "contact_id": contact_id, "profile_id": None,
                 "status": "invited", "kind": "member", "location_grants": [],
                 "customer_grants": [], "subscriptions": [],
                 "session_stamp": secrets.token_urlsafe(16), "created_at": now, "version": 1}
            )  # fmt: skip
    return rows


def check_raw_columns() -> None:
    """The baseline's rows name every column of their table, no more and no fewer."""
    rows = build_rows(uuid4(), 0, 1)
    for table in TABLES:
        columns = set(Base.metadata.tables[table].c.keys())
        if set(rows[table][0]) != columns:
            sys.exit(f"raw-core {table} rows: columns {sorted(set(rows[table][0]) ^ columns)} "
                     "differ from the table's")  # fmt: skip


def run_raw(engine: Engine, vendor_id: UUID, customers: int, per_tx: int) -> None:
    chunks = [
        build_rows(vendor_id, start, min(start + per_tx, customers))
        for start in range(0, customers, per_tx)
    ]
    for chunk in chunks:
        with engine.begin() as conn:
            for table in TABLES:
                conn.execute(insert(Base.metadata.tables[table]), chunk[table])


# -- runs, checks, report --------------------------------------------------------------------


def sql_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar_one()
            for t in TABLES
        }


def sample(engine: Engine) -> dict[str, dict[str, Any]]:
    """One row per table without its random or time-dependent columns, to compare variants."""
    order = {"customers": "code", "contacts": "email", "accounts": "username", "memberships": "id"}
    volatile = ("id", "_id", "created_at", "session_stamp")
    found = {}
    with engine.connect() as conn:
        for t in TABLES:
            table = Base.metadata.tables[t]
            row = conn.execute(select(table).order_by(table.c[order[t]]).limit(1)).mappings().one()
            found[t] = {k: v for k, v in row.items() if not k.endswith(volatile)}
    return found


def one_run(variant: str, customers: int, per_tx: int, tmp: Path) -> tuple[float, float, Any]:
    """Time one variant on a fresh store; return seconds, CPU seconds of this process and the
    row sample (SQL only)."""
    url = f"sqlite:///{tmp / f'{variant}-{time.monotonic_ns()}.db'}"
    storage: Any = MemoryStorage() if variant == "ours-memory" else SqlStorage(url)
    if variant != "ours-memory":
        storage.upgrade_schema()
    portal = Portal(storage)
    vendor = portal.vendors.create(System(), code="bench", name="Bench")
    staff = Staff(vendor_id=vendor.id, user_id="bench", permissions=STAFF_PERMISSIONS)
    gc.collect()  # garbage of the previous run must not be collected on this one's clock
    started, cpu_started = time.perf_counter(), time.process_time()
    if variant == "raw-core-sqlite":
        run_raw(storage.engine, vendor.id, customers, per_tx)
    else:
        run_ours(portal, staff, customers, per_tx)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started

    if variant == "ours-memory":
        uow = storage.begin()
        try:
            counts = {t: len(getattr(uow, t).list(vendor.id)) for t in TABLES}
        finally:
            uow.rollback()
        rows = None
    else:
        counts, rows = sql_counts(storage.engine), sample(storage.engine)
        storage.close()
    if counts != expected_counts(customers):
        sys.exit(f"{variant}: stored {counts}, expected {expected_counts(customers)}")
    return seconds, cpu, rows


def run_worker(src: Path, customers: int, per_tx: int) -> tuple[float, float, Any, str]:
    """One ours-sqlite run in a fresh process with portalkit imported from ``src``."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", f"--customers={customers}",
         f"--per-transaction={per_tx}"],
        env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"ours-sqlite with portalkit from {src} failed:\n{done.stderr}")
    found = json.loads(done.stdout)
    return found["seconds"], found["cpu"], found["rows"], found["portalkit"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-transaction", type=int, default=1_000, metavar="N",
                        help="customers per transaction (default 1000)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="1,000 customers, 1 repeat")
    parser.add_argument("--against", type=Path, metavar="SRC",
                        help="also time ours-sqlite from this tree and from SRC (another "
                        "checkout's src directory), each in a fresh process per repeat")  # fmt: skip
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.customers, args.repeats = 1_000, 1
    customers, per_tx = args.customers, min(args.per_transaction, args.customers)
    if args.worker:
        with tempfile.TemporaryDirectory(prefix="portalkit-bench-") as tmp:
            seconds, cpu, rows = one_run("ours-sqlite", customers, per_tx, Path(tmp))
        print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows,
                          "portalkit": portalkit.__file__}))  # fmt: skip
        return
    rows_total = customers * (1 + 3 * PER_CUSTOMER)
    variants: tuple[str, ...] = ("ours-memory", "ours-sqlite", "raw-core-sqlite")
    sources: dict[str, Path] = {}
    if args.against is not None:
        here = Path(__file__).resolve().parents[1] / "src"
        sources = {"ours-sqlite@here": here, "ours-sqlite@against": args.against.resolve()}
        variants += tuple(sources)
    check_raw_columns()
    times: dict[str, list[float]] = {v: [] for v in variants}
    cpu_times: dict[str, list[float]] = {v: [] for v in variants}
    imported: dict[str, str] = {}

    with tempfile.TemporaryDirectory(prefix="portalkit-bench-") as tmp:
        for repeat in range(args.repeats):
            # Rotate the starting variant too, so none always runs first on a cold process.
            turn = repeat % len(variants)
            order = variants[turn:] + variants[:turn]
            if sources and repeat % 2:
                # The compared pair takes turns at going first as well.
                first, second = sources
                order = tuple({first: second, second: first}.get(v, v) for v in order)
            samples = {}
            for variant in order:
                if variant in sources:
                    seconds, cpu, rows, imported[variant] = run_worker(
                        sources[variant], customers, per_tx
                    )
                else:
                    seconds, cpu, rows = one_run(variant, customers, per_tx, Path(tmp))
                # As JSON, so rows read back in a worker compare with rows read here.
                samples[variant] = json.loads(json.dumps(rows))
                times[variant].append(seconds)
                cpu_times[variant].append(cpu)
                print(f"  repeat {repeat + 1}/{args.repeats}  {variant:<20} {seconds:8.2f} s",
                      file=sys.stderr)  # fmt: skip
            for variant in ("ours-sqlite", *sources):
                if samples[variant] != samples["raw-core-sqlite"]:
                    sys.exit(f"rows differ:\n{variant}: {samples[variant]}\n"
                             f"raw-core-sqlite: {samples['raw-core-sqlite']}")  # fmt: skip

    raw = statistics.median(times["raw-core-sqlite"])
    print()
    print("portalkit bulk provisioning benchmark")
    print(f"  command:    {shlex.join(['python', *sys.argv])}")
    print(f"  versions:   Python {sys.version.split()[0]}, SQLAlchemy {sqlalchemy.__version__}, "
          f"SQLite {sqlite3.sqlite_version}, portalkit {portalkit.__version__}")  # fmt: skip
    print(f"  workload:   {customers:,} customers x ({PER_CUSTOMER} contacts + {PER_CUSTOMER} "
          f"accounts + {PER_CUSTOMER} memberships) = {rows_total:,} rows, "
          f"{per_tx:,} customers ({per_tx * 16:,} rows) per transaction")  # fmt: skip
    print(f"  repeats:    {args.repeats}, variants interleaved round-robin; median shown")
    print("  ours:       timed from the first API call to the last commit (validation, domain")
    print("              records, unique-key checks, conversion to rows, inserts, commits)")
    print("  raw-core:   timed from building the row dicts to the last commit (dicts, uuid4,")
    print("              key normalisation, insert() executemany per table, commits)")
    print("  untimed:    schema creation, the vendor row, row-count checks")
    for variant, path in imported.items():
        print(f"  {variant}: fresh process per repeat, portalkit from {Path(path).parent}")
    print()
    header = f"{'variant':<21}{'median s':>10}{'min s':>9}{'max s':>9}{'rows/s':>11}{'x raw':>8}"
    print(header)
    print("-" * len(header))
    for v in variants:
        med = statistics.median(times[v])
        print(f"{v:<21}{med:>10.2f}{min(times[v]):>9.2f}{max(times[v]):>9.2f}"
              f"{rows_total / med:>11,.0f}{med / raw:>8.2f}")  # fmt: skip
    ratio = statistics.median(times["ours-sqlite"]) / raw
    verdict = "within" if ratio <= AIM else "NOT within"
    print(f"\nours-sqlite / raw-core-sqlite = {ratio:.2f}x  ({verdict} the {AIM:.0f}x aim)")
    if sources:
        # Per repeat the two run back to back, so their ratio cancels most of the load other
        # processes put on the machine; CPU seconds cancel waiting for the CPU as well.
        print("ours-sqlite@here / ours-sqlite@against, per repeat: median (min .. max)")
        for name, measured in (("wall", times), ("cpu", cpu_times)):
            ratios = sorted(
                h / a
                for h, a in zip(
                    measured["ours-sqlite@here"], measured["ours-sqlite@against"], strict=True
                )
            )
            print(f"  {name:<5} {statistics.median(ratios):.3f}x "
                  f"({ratios[0]:.3f} .. {ratios[-1]:.3f})")  # fmt: skip
    print("row counts checked after every run; ours-sqlite rows match raw-core's column values")


if __name__ == "__main__":
    main()
