"""CSV import: ``portal.imports`` against a raw SQLAlchemy Core insert of the same rows parsed
from the same files, on SQLite, with peak memory; and one large file on its own.

Writes two CSV files: ``customers.csv`` (N customers, default 10,000, each with a delivery
address) and ``logins.csv`` (5 logins per customer, 50,000 by default: each row a contact, an
account and a membership). Then, each variant in a fresh process on a fresh SQLite file:

- ``ours-sqlite``        ``portal.imports.load()`` of both files, valid-rows mode (batches of
                         ``--batch`` rows), every row through the services as an API call;
- ``ours-sqlite-rerun``  the same two files again on that database: everything unchanged;
- ``raw-core-sqlite``    ``csv.DictReader`` over the same files, the row dicts portalkit's
                         converter would write, ``conn.execute(insert(table), rows)`` per
                         table and batch on the engine ``SqlStorage`` builds (no validation,
                         no upsert, no audit trail).

After each run the row counts are checked, and one row per table of ours is compared with
raw-core's (ids and timestamps aside), so both sides write the same rows. The large file
(``--big`` rows of customers, default 200,000) is imported by ours alone, its peak memory
reported beside that of a file a tenth its size.

Run from the repository root::

    python bench/bench_import.py             # 10,000 customers + 50,000 logins; 200,000 rows
    python bench/bench_import.py --quick     # 1,000 + 5,000; 20,000 rows
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
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
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.storage.sqlalchemy.rows import Base

LOGINS = 5  # per customer
TABLES = ("customers", "contacts", "accounts", "memberships")  # foreign-key order
AIM = 2.0


def write_files(folder: Path, customers: int, logins: int = LOGINS) -> tuple[Path, Path]:
    """customers.csv and logins.csv as an operator's spreadsheet would hold them."""
    people, sites = folder / f"logins-{customers}.csv", folder / f"customers-{customers}.csv"
    with sites.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["code", "name", "erp_reference", "street", "postal_code", "city", "country"])
        for i in range(customers):
            out.writerow(
                [f"C{i:06d}", f"Klant {i} B.V.", f"D{i}", f"Dorpsstraat {i}", "9601 AB",
                 "Hoogezand", "NL"]
            )  # fmt: skip
    with people.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer", "email", "first_name", "last_name", "username"])
        for i in range(customers):
            for j in range(logins):
                out.writerow([f"C{i:06d}", f"p{i}.{j}@klant.example", f"Voornaam{j}",
                              f"Achternaam{i}", f"p{i}.{j}"])  # fmt: skip
    return sites, people


# -- ours ---------------------------------------------------------------------------------------


def run_ours(portal: Portal, staff: Staff, files: tuple[Path, ...], batch: int) -> list[Any]:
    reports = []
    for kind, path in zip(("customers", "logins"), files, strict=False):
        with path.open("rb") as source:
            reports.append(portal.imports.load(staff, kind, source, batch_size=batch))
    return reports


# -- the baseline: raw SQLAlchemy Core ------------------------------------------------------------


def _key(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


# What a customer's default Branding stores, every field of it (the comparison checks it).
BRANDING = {
    "logo_url": "",
    "email_logo_url": "",
    "template": "",
    "logo_asset_id": "",
    "email_logo_asset_id": "",
    "size_instructions_asset_id": "",
}


def run_raw(engine: Engine, vendor_id: UUID, files: tuple[Path, Path], batch: int) -> None:
    """Parse both files and insert what they say, a batch of rows to a transaction."""
    sites, people = files
    customer_ids: dict[str, UUID] = {}  # what a hand-written import keeps to link the logins
    table = Base.metadata.tables
    with sites.open(newline="", encoding="utf-8") as f:
        rows: list[dict[str, Any]] = []
        for r in csv.DictReader(f):
            customer_ids[r["code"]] = cid = uuid4()
            address = {"street": r["street"], "postal_code": r["postal_code"], "city": r["city"],
                       "country": r["country"], "label": "", "default_delivery": True}  # fmt: skip
            rows.append(
                {"id": cid, "vendor_id": vendor_id, "code": r["code"], "code_key": _key(r["code"]),
                 "name": r["name"], "erp_reference": r["erp_reference"], "active": True,
                 "show_prices": True, "shop_enabled": False, "addresses": [address],
                 "branding": dict(BRANDING), "parent_id": None,
                 "created_at": datetime.now(UTC), "version": 1}
            )  # fmt: skip
            if len(rows) == batch:
                with engine.begin() as conn:
                    conn.execute(insert(table["customers"]), rows)
                rows = []
        if rows:
            with engine.begin() as conn:
                conn.execute(insert(table["customers"]), rows)
    with people.open(newline="", encoding="utf-8") as f:
        chunk: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES[1:]}
        for count, r in enumerate(csv.DictReader(f), 1):
            now = datetime.now(UTC)
            contact_id, account_id, customer_id = uuid4(), uuid4(), customer_ids[r["customer"]]
            chunk["contacts"].append(
                {"id": contact_id, "vendor_id": vendor_id, "customer_id": customer_id,
                 "first_name": r["first_name"], "last_name": r["last_name"], "email": r["email"],
                 "job_title": "", "department": "", "phone": "", "active": True,
                 "created_at": now, "version": 1}
            )  # fmt: skip
            chunk["accounts"].append(
                {"id": account_id, "vendor_id": vendor_id, "username": r["username"],
                 "username_key": _key(r["username"]), "email": r["email"],
                 "email_key": _key(r["email"]), "status": "active", "language": "en",
                 "password_hash": None, "session_stamp": secrets.token_urlsafe(16),
                 "must_change_password": False, "password_expires_at": None,
                 "password_changed_at": None, "last_login_at": None, "login_count": 0,
                 "created_at": now, "version": 1}
            )  # fmt: skip
            chunk["memberships"].append(
                {"id": uuid4(), "vendor_id": vendor_id, "account_id": account_id,
                 "customer_id": customer_id, "contact_id": contact_id, "profile_id": None,
                 "status": "invited", "kind": "member", "location_grants": [],
                 "customer_grants": [], "subscriptions": [],
                 "session_stamp": secrets.token_urlsafe(16), "created_at": now, "version": 1}
            )  # fmt: skip
            if count % batch == 0:
                with engine.begin() as conn:
                    for t in TABLES[1:]:
                        conn.execute(insert(table[t]), chunk[t])
                chunk = {t: [] for t in TABLES[1:]}
        if chunk["contacts"]:
            with engine.begin() as conn:
                for t in TABLES[1:]:
                    conn.execute(insert(table[t]), chunk[t])


# -- one run in this process (the worker) ---------------------------------------------------------


def sql_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar_one()
            for t in TABLES
        }


def sample(engine: Engine) -> dict[str, dict[str, Any]]:
    """One row per table without its random or time-dependent columns."""
    order = {"customers": "code", "contacts": "email", "accounts": "username",
             "memberships": "status"}  # fmt: skip
    volatile = ("id", "_id", "created_at", "session_stamp")
    found = {}
    with engine.connect() as conn:
        for t in TABLES:
            table = Base.metadata.tables[t]
            row = conn.execute(select(table).order_by(table.c[order[t]]).limit(1)).mappings()
            first = row.first()
            found[t] = {k: v for k, v in (first or {}).items() if not k.endswith(volatile)}
    return found


def worker(variant: str, db: Path, files: tuple[Path, ...], batch: int) -> dict[str, Any]:
    storage = SqlStorage(f"sqlite:///{db}")
    storage.upgrade_schema()
    portal = Portal(storage)
    if variant.endswith("rerun"):
        vendor = portal.vendors.list(System())[0]
    else:
        vendor = portal.vendors.create(System(), code="bench", name="Bench")
    staff = Staff(vendor_id=vendor.id, user_id="bench", permissions=STAFF_PERMISSIONS)
    started, cpu = time.perf_counter(), time.process_time()
    reports = []
    if variant == "raw-core-sqlite":
        run_raw(storage.engine, vendor.id, files, batch)  # type: ignore[arg-type]
    else:
        reports = run_ours(portal, staff, files, batch)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {
        "seconds": seconds,
        "cpu": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": sql_counts(storage.engine),
        "rows": json.loads(json.dumps(sample(storage.engine), default=str)),
        "reports": [
            {k: getattr(r, k) for k in ("read", "written", "unchanged", "skipped")}
            | {"problems": len(r.problems)}
            for r in reports
        ],
    }
    storage.close()
    return result


def run_worker(variant: str, db: Path, files: tuple[Path, ...], batch: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", variant, "--db", str(db), "--batch", str(batch),
         *(str(f) for f in files)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"{variant} failed:\n{done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000, help="rows of the large file")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1_000, help="rows a transaction")
    parser.add_argument("--quick", action="store_true", help="1,000 customers; 20,000 rows")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.db, tuple(args.files), args.batch)))
        return
    if args.quick:
        args.customers, args.big = 1_000, 20_000
    n = args.customers
    expected = {"customers": n} | {t: n * LOGINS for t in TABLES[1:]}
    variants = ("ours-sqlite", "ours-sqlite-rerun", "raw-core-sqlite")
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    big: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="portalkit-bench-") as tmp:
        folder = Path(tmp)
        files = write_files(folder, n)
        for repeat in range(args.repeats):
            ours_db = folder / f"ours-{repeat}.db"
            for variant in ("raw-core-sqlite", "ours-sqlite", "ours-sqlite-rerun"):
                db = folder / f"raw-{repeat}.db" if variant.startswith("raw") else ours_db
                found = run_worker(variant, db, files, args.batch)
                if found["counts"] != expected:
                    sys.exit(f"{variant}: stored {found['counts']}, expected {expected}")
                for report in found["reports"]:
                    want = 0 if variant.endswith("rerun") else report["read"]
                    if report["problems"] or report["written"] != want:
                        sys.exit(f"{variant}: {found['reports']}")
                results[variant].append(found)
                print(f"  repeat {repeat + 1}/{args.repeats}  {variant:<20} "
                      f"{found['seconds']:8.2f} s", file=sys.stderr)  # fmt: skip
            if results["ours-sqlite"][-1]["rows"] != results["raw-core-sqlite"][-1]["rows"]:
                sys.exit(f"rows differ:\nours: {results['ours-sqlite'][-1]['rows']}\n"
                         f"raw:  {results['raw-core-sqlite'][-1]['rows']}")  # fmt: skip
        for rows in (args.big // 10, args.big):
            (sites, _people) = write_files(folder, rows, logins=0)
            found = run_worker("ours-sqlite", folder / f"big-{rows}.db", (sites,), args.batch)
            if found["counts"]["customers"] != rows:
                sys.exit(f"large file: stored {found['counts']}, expected {rows} customers")
            big[rows] = found
            print(f"  large file {rows:,} rows {found['seconds']:8.2f} s", file=sys.stderr)

    stored = n * (1 + 3 * LOGINS)
    median = {v: statistics.median(r["seconds"] for r in results[v]) for v in variants}
    cpu = {v: statistics.median(r["cpu"] for r in results[v]) for v in variants}
    raw = median["raw-core-sqlite"]
    print()
    print("portalkit CSV import benchmark")
    print(f"  command:    {shlex.join(['python', *sys.argv])}")
    print(f"  versions:   Python {sys.version.split()[0]}, SQLAlchemy {sqlalchemy.__version__}, "
          f"SQLite {sqlite3.sqlite_version}, portalkit {portalkit.__version__}")  # fmt: skip
    print(f"  workload:   customers.csv ({n:,} rows) + logins.csv ({n * LOGINS:,} rows: contact, "
          f"account, membership each) = {stored:,} records, {args.batch:,} rows a transaction")  # fmt: skip
    print("  timed:      opening the files to the last commit, each variant in a fresh process")
    print("  ours:       portal.imports.load(), valid-rows mode: every row through the services")
    print("              (validation, upsert look-ups, audit events), one transaction a batch")
    print("  raw-core:   csv.DictReader, row dicts, insert() executemany per table and batch")
    print(f"  repeats:    {args.repeats}; median shown; peak memory is the process's max RSS;")
    print("              CPU is the process's own time (on a shared machine the steadier figure)")
    print()
    header = (f"{'variant':<20}{'seconds':>9}{'rows/s':>10}{'x raw':>8}{'CPU s':>8}"
              f"{'x raw':>8}{'peak MB':>9}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for v in variants:
        rss = max(r["peak_rss_mb"] for r in results[v])
        print(f"{v:<20}{median[v]:>9.2f}{n * (1 + LOGINS) / median[v]:>10,.0f}"
              f"{median[v] / raw:>8.2f}{cpu[v]:>8.2f}{cpu[v] / cpu['raw-core-sqlite']:>8.2f}"
              f"{rss:>9.0f}")  # fmt: skip
    ratio = median["ours-sqlite"] / raw
    verdict = "within" if ratio <= AIM else "NOT within"
    print(f"\nours-sqlite / raw-core-sqlite = {ratio:.2f}x  ({verdict} the {AIM:.0f}x aim); "
          f"CPU {cpu['ours-sqlite'] / cpu['raw-core-sqlite']:.2f}x")  # fmt: skip
    print()
    header = f"{'large file (customers)':<24}{'seconds':>9}{'rows/s':>10}{'peak MB':>9}"
    print(header)
    print("-" * len(header))
    for rows, found in big.items():
        print(f"{rows:<24,}{found['seconds']:>9.2f}{rows / found['seconds']:>10,.0f}"
              f"{found['peak_rss_mb']:>9.0f}")  # fmt: skip


if __name__ == "__main__":
    # The worker imports portalkit from the tree the benchmark is in.
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1] / "src"))
    main()
