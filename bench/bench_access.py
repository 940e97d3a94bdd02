"""Access checks: ``can()`` against pycasbin and a hand-written check, the filtered query against
a hand-written ``WHERE``, and the cost of building an access context.

Three sections, each measured in this one run, variants interleaved, medians over repeats:

1. ``can()`` per call, on 2,000 customers x 10 members (memory backend), beside
   - ``pycasbin``     ``casbin.FastEnforcer`` (cache_key_order on domain and object) on the
                      equivalent RBAC-with-domains policy: each member has its role in its
                      customer's domain, each role grants per-domain ``p`` lines;
   - ``hand-written`` ``cap in caps_by_member[member_id]`` (a dict look-up and a set test);
   and the record form ``ctx.allows(cap, invoice, "invoices")`` beside
   ``cap in caps_by_member[member_id] and invoice["customer_id"] in seen_by_member[member_id]``.
   All three answer the same pre-chosen request list (allowed and denied mixed); every
   decision is compared before timing.
2. The "latest 50 visible invoices" query on a host table of 10,000 and 1,000,000 rows, SQLite
   and PostgreSQL: ``ctx.filter(select(invoices).order_by(created_at desc).limit(50))`` beside
   the same select with a hand-written ``WHERE``, on the same connection, rows fetched, for a
   member who sees one customer and an umbrella member who sees five.
3. Building an access context (``portal.access.context(actor)``): statements counted with a
   ``before_cursor_execute`` listener on the storage's engine, and time, on memory, SQLite and
   PostgreSQL, beside a floor of one primary-key SELECT of the membership in a transaction;
   and the statements of one member request (``auth.session_context`` and two member calls
   that reuse its context; after a first request, as a process serves them) beside the same
   request with the bare actor.

PostgreSQL runs on a throw-away server (tests/pgserver.py) that is stopped at the end; without
PostgreSQL binaries its rows are skipped and the reason printed.

Run from the repository root::

    python bench/bench_access.py            # 10k and 1M rows, 7 repeats (about 3 minutes)
    python bench/bench_access.py --quick    # 10k and 100k rows, 3 repeats
    python bench/bench_access.py --sizes 10000,1000000 --no-postgres
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.schema import CreateTable

import portalkit
from portalkit import Portal, ResourceType
from portalkit.clock import FixedClock
from portalkit.mail import MemoryMailer
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

AIM_CASBIN = 100.0  # can() at least this many times faster than pycasbin
AIM_HAND = 1.5  # ctx.can(cap) within this factor of the hand-written check
AIM_RECORD = 2.5  # ctx.allows(cap, record, resource) within this factor of its hand-written check
AIM_SQL = 1.2  # filtered query within this factor of the hand-written WHERE
AIM_GROWTH = 2.0  # large / small table time at most this
AIM_QUERIES = 2  # SELECTs to build a context
# SELECTs of a request once the process has read the member's rights: the rights generation
# (session and context) + customers.get + locations.list.
AIM_REQUEST = 3

# -- 1. can() per call -----------------------------------------------------------------------

ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"invoices.view", "prices.view", "orders.view", "orders.create"}),
    "buyer": frozenset({"invoices.view", "orders.view", "orders.create"}),
    "viewer": frozenset({"orders.view"}),
}
ASKED = ("invoices.view", "prices.view", "orders.create", "members.manage")


def role_of(j: int) -> str:
    """Member j of a customer: 0 is the admin, 1-3 buy, the rest only look at orders."""
    return "admin" if j == 0 else "buyer" if j <= 3 else "viewer"


CASBIN_MODEL = """\
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
"""


def build_can_world(customers: int, members: int) -> tuple[World, list[tuple[Any, str]]]:
    """A memory portal with ``customers`` x ``members`` active memberships; (membership, role)."""
    world = World()
    world.portal.access.register_resource(ResourceType("invoices", view="invoices.view"))
    profiles = {
        role: world.profile(name=role, capabilities=set(caps)) for role, caps in ROLES.items()
    }
    found: list[tuple[Any, str]] = []
    for start in range(0, customers, 100):
        with world.portal.transaction():
            for _ in range(start, min(start + 100, customers)):
                customer = world.customer()
                for j in range(members):
                    m = world.membership(customer=customer, profile=profiles[role_of(j)])
                    found.append((m, role_of(j)))
    return world, found


def build_casbin(found: list[tuple[Any, str]], tmp: Path) -> Any:
    """The same rules as an RBAC-with-domains policy in pycasbin's fastest enforcer."""
    try:
        import casbin
    except ImportError:
        sys.exit("the can() section needs pycasbin: pip install pycasbin (or --only query/context)")

    model, policy = tmp / "model.conf", tmp / "policy.csv"
    model.write_text(CASBIN_MODEL)
    lines = []
    for customer in sorted({str(m.customer_id) for m, _ in found}):
        for role, caps in ROLES.items():
            for cap in sorted(caps):
                obj, act = cap.split(".")
                lines.append(f"p, {role}, {customer}, {obj}, {act}")
    for m, role in found:
        lines.append(f"g, {m.id}, {role}, {m.customer_id}")
    policy.write_text("\n".join(lines) + "\n")
    # cache_key_order=[1, 2]: the policy is pre-grouped by (domain, object), so one enforce
    # evaluates the matcher only on that customer's lines for that object.
    return casbin.FastEnforcer(str(model), str(policy), cache_key_order=[1, 2])


def loop_ours(requests: Sequence[tuple[Any, str]]) -> tuple[float, int]:
    allowed = 0
    started = time.perf_counter()
    for ctx, cap in requests:
        if ctx.can(cap):
            allowed += 1
    return time.perf_counter() - started, allowed


def loop_hand(requests: Sequence[tuple[Any, str]], caps_by_member: dict[Any, Any]) -> Any:
    allowed = 0
    started = time.perf_counter()
    for member_id, cap in requests:
        if cap in caps_by_member[member_id]:
            allowed += 1
    return time.perf_counter() - started, allowed


def loop_ours_record(requests: Sequence[tuple[Any, str, Any]]) -> tuple[float, int]:
    allowed = 0
    started = time.perf_counter()
    for ctx, cap, record in requests:
        if ctx.allows(cap, record, "invoices"):
            allowed += 1
    return time.perf_counter() - started, allowed


def loop_hand_record(
    requests: Sequence[tuple[Any, str, Any]], caps_by_member: dict[Any, Any], seen: dict[Any, Any]
) -> tuple[float, int]:
    allowed = 0
    started = time.perf_counter()
    for member_id, cap, record in requests:
        if cap in caps_by_member[member_id] and record["customer_id"] in seen[member_id]:
            allowed += 1
    return time.perf_counter() - started, allowed


def loop_casbin(requests: Sequence[tuple[str, ...]], enforcer: Any) -> Any:
    allowed = 0
    enforce = enforcer.enforce
    started = time.perf_counter()
    for sub, dom, obj, act in requests:
        if enforce(sub, dom, obj, act):
            allowed += 1
    return time.perf_counter() - started, allowed


def loop_empty(requests: Sequence[tuple[Any, str]]) -> tuple[float, int]:
    """The loop alone (unpacking and the counter), to show what every row above pays too."""
    allowed = 0
    started = time.perf_counter()
    for member_id, _cap in requests:
        if member_id:
            allowed += 1
    return time.perf_counter() - started, allowed


@contextmanager
def no_gc() -> Iterator[None]:
    # As timeit does: a collection triggered by one variant must not land on another's clock.
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def section_can(args: argparse.Namespace, tmp: Path, out: dict[str, Any]) -> None:
    rng = random.Random(20240501)
    t0 = time.perf_counter()
    world, found = build_can_world(args.customers, args.members)
    out["can_build_world"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    enforcer = build_casbin(found, tmp)
    out["can_build_casbin"] = time.perf_counter() - t0

    tested = rng.sample(found, min(args.contexts, len(found)))
    t0 = time.perf_counter()
    contexts = {m.id: world.portal.access.context(world.member(m)) for m, _ in tested}
    out["can_build_contexts"] = (time.perf_counter() - t0) / len(contexts)
    # Keyed by str: a UUID key would pay UUID.__hash__ (a Python-level call) on every look-up,
    # and the floor should be the cheapest honest check, not a slow one.
    caps_by_member = {str(m.id): ROLES[role] for m, role in tested}
    picks = [(rng.choice(tested)[0], rng.choice(ASKED)) for _ in range(args.requests)]
    ours = [(contexts[m.id], cap) for m, cap in picks]
    hand = [(str(m.id), cap) for m, cap in picks]
    cas = [(str(m.id), str(m.customer_id), *cap.split(".")) for m, cap in picks]

    # Sanity: the three agree on every request, and the mix is really mixed.
    decisions = [
        (ctx.can(cap), cap in caps_by_member[mid], bool(enforcer.enforce(*c)))
        for (ctx, cap), (mid, _), c in zip(ours, hand, cas, strict=True)
    ]
    differ = [i for i, d in enumerate(decisions) if len(set(d)) != 1]
    if differ:
        i = differ[0]
        sys.exit(f"can(): decisions differ on {len(differ)} requests, first {cas[i]}: "
                 f"ours/hand/casbin = {decisions[i]}")  # fmt: skip
    allowed = sum(d[0] for d in decisions)
    if not 0.1 * len(picks) < allowed < 0.9 * len(picks):
        sys.exit(f"can(): {allowed} of {len(picks)} allowed; the mix should be mixed")
    out["can_allowed"] = allowed

    # The record form: an invoice of the member's own customer or of another one, half each.
    customer_ids = [m.customer_id for m, _ in tested]
    seen = {str(m.id): frozenset({m.customer_id}) for m, _ in tested}
    invoices_asked = [
        {"customer_id": m.customer_id if rng.random() < 0.5 else rng.choice(customer_ids)}
        for m, _ in picks
    ]
    ours_record = [(ctx, cap, inv) for (ctx, cap), inv in zip(ours, invoices_asked, strict=True)]
    hand_record = [(mid, cap, inv) for (mid, cap), inv in zip(hand, invoices_asked, strict=True)]
    record_decisions = [
        (
            ctx.allows(cap, inv, "invoices"),
            cap in caps_by_member[mid] and inv["customer_id"] in seen[mid],
        )
        for (ctx, cap, inv), (mid, _, _) in zip(ours_record, hand_record, strict=True)
    ]
    if any(a != b for a, b in record_decisions):
        sys.exit("allows(): ours and the hand-written record check disagree")
    allowed_record = sum(a for a, _ in record_decisions)
    if not 0.1 * len(picks) < allowed_record < 0.9 * len(picks):
        sys.exit(f"allows(): {allowed_record} of {len(picks)} allowed; should be mixed")
    out["record_allowed"] = allowed_record

    variants: dict[str, Callable[[], tuple[float, int]]] = {
        "ours": lambda: loop_ours(ours),
        "hand-written": lambda: loop_hand(hand, caps_by_member),
        "pycasbin": lambda: loop_casbin(cas, enforcer),
        "(loop alone)": lambda: loop_empty(hand),
        "ours (record)": lambda: loop_ours_record(ours_record),
        "hand (record)": lambda: loop_hand_record(hand_record, caps_by_member, seen),
    }
    expected = {"ours (record)": allowed_record, "hand (record)": allowed_record}
    # One sample is enough passes over the request list to last about --batch-seconds.
    passes = {}
    for name, run in variants.items():
        seconds, _ = run()
        passes[name] = max(1, round(args.batch_seconds / max(seconds, 1e-9)))
    times: dict[str, list[float]] = {v: [] for v in variants}
    ratios: dict[str, list[float]] = {"ours/hand": [], "pycasbin/ours": [], "record": []}
    names = list(variants)
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        sample: dict[str, list[float]] = {v: [] for v in variants}
        for name in order + order[::-1]:  # ABCD DCBA: drift lands on every variant alike
            with no_gc():
                total = 0.0
                for _ in range(passes[name]):
                    seconds, n = variants[name]()
                    total += seconds
                    if name != "(loop alone)" and n != expected.get(name, allowed):
                        sys.exit(f"can(): {name} allowed {n}, expected {allowed}")
            sample[name].append(total / passes[name] / len(picks) * 1e9)
        for name in names:
            times[name].append(statistics.fmean(sample[name]))
        ratios["ours/hand"].append(times["ours"][-1] / times["hand-written"][-1])
        ratios["pycasbin/ours"].append(times["pycasbin"][-1] / times["ours"][-1])
        ratios["record"].append(times["ours (record)"][-1] / times["hand (record)"][-1])
        print(f"  can() repeat {repeat + 1}/{args.repeats}: "
              + ", ".join(f"{n} {times[n][-1]:,.0f} ns" for n in names), file=sys.stderr)  # fmt: skip
    out["can_ratios"] = {k: statistics.median(v) for k, v in ratios.items()}
    out["can_times"] = times
    out["can_requests"] = len(picks)
    out["can_tested"] = len(contexts)
    out["can_memberships"] = len(found)


# -- 2. the filtered query -------------------------------------------------------------------

host = MetaData()
invoices = Table(
    "invoices",
    host,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("site_id", Uuid),
    Column("owner_id", Uuid),
    Column("vendor_id", Uuid),
    Column("status", String(20)),
    Column("amount", Integer),
    Column("created_at", DateTime, nullable=False),
)
# What a person writing "latest 50 invoices of one customer" by hand would create.
LATEST = Index("ix_invoices_customer_created", invoices.c.customer_id, invoices.c.created_at.desc())
PAGE = 50
UMBRELLA_SIZE = 5  # the umbrella customer and its four children


def latest() -> Any:
    return select(invoices).order_by(invoices.c.created_at.desc()).limit(PAGE)


def build_query_world(customers: int) -> dict[str, Any]:
    """Customers for the host table, members who see one customer, and an umbrella member."""
    world = World()
    world.portal.access.register_resource(
        ResourceType(
            "invoices", view="invoices.view", location_field="site_id",
            owner_field="owner_id", model=invoices,
        )
    )  # fmt: skip
    plain = world.profile(capabilities={"invoices.view"})  # invoices per customer by default
    tree = world.profile(capabilities={"invoices.view"}, scopes={"invoices": "tree"})
    with world.portal.transaction():
        umbrella = world.customer()
        children = [world.customer(parent=umbrella) for _ in range(UMBRELLA_SIZE - 1)]
        others = [world.customer() for _ in range(customers - UMBRELLA_SIZE)]
        singles = [world.membership(customer=c, profile=plain) for c in others[:10]]
        over = world.membership(customer=umbrella, profile=tree)
    access = world.portal.access
    return {
        "world": world,
        "customer_ids": [umbrella.id] + [c.id for c in children + others],
        "single": [(access.context(world.member(m)), [m.customer_id]) for m in singles],
        "umbrella": [(access.context(world.member(over)),
                      sorted([umbrella.id] + [c.id for c in children]))],
    }  # fmt: skip


def load_invoices(engine: Engine, rows: int, customer_ids: list[uuid.UUID], vendor: Any) -> None:
    """``rows`` invoices spread round-robin over the customers, one second apart, in SQL."""
    k = len(customer_ids)
    with engine.begin() as conn:
        conn.execute(CreateTable(invoices))
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("CREATE TEMP TABLE bench_customers (n INTEGER PRIMARY KEY, id)")
            conn.exec_driver_sql(
                "INSERT INTO bench_customers VALUES (?, ?)",
                [(n, cid.hex) for n, cid in enumerate(customer_ids)],
            )
            # Uuid is CHAR(32) hex on SQLite and DateTime an ISO string: store what
            # SQLAlchemy's bind processors would, so both queries read ordinary rows.
            conn.exec_driver_sql(
                "INSERT INTO invoices (id, customer_id, site_id, owner_id, vendor_id, status, "
                "amount, created_at) "
                "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) "
                "SELECT lower(hex(randomblob(16))), c.id, lower(hex(randomblob(16))), NULL, ?, "
                "CASE i % 3 WHEN 0 THEN 'open' WHEN 1 THEN 'paid' ELSE 'overdue' END, "
                "i % 100000, strftime('%Y-%m-%d %H:%M:%S', 1700000000 + i, 'unixepoch') "
                "|| '.000000' FROM seq JOIN bench_customers c ON c.n = i % ?",
                (rows - 1, vendor.hex, k),
            )
            conn.exec_driver_sql("DROP TABLE bench_customers")
        else:
            conn.execute(
                text(
                    "INSERT INTO invoices (id, customer_id, site_id, owner_id, vendor_id, status, "
                    "amount, created_at) "
                    "SELECT gen_random_uuid(), (CAST(:cids AS uuid[]))[1 + g % :k], "
                    "gen_random_uuid(), NULL, :vendor, "
                    "(ARRAY['open', 'paid', 'overdue'])[1 + g % 3], g % 100000, "
                    "TIMESTAMP '2023-11-14 22:13:20' + g * INTERVAL '1 second' "
                    "FROM generate_series(0, :last) AS g"
                ),
                {"cids": customer_ids, "k": k, "vendor": vendor, "last": rows - 1},
            )
        LATEST.create(conn)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE invoices")
    with engine.connect() as conn:
        count = conn.execute(select(sqlalchemy.func.count()).select_from(invoices)).scalar_one()
    if count != rows:
        sys.exit(f"invoices: loaded {count} rows, expected {rows}")


def ours_stmt(target: tuple[Any, list[uuid.UUID]]) -> Any:
    return target[0].filter(latest(), "invoices")


def hand_stmt(target: tuple[Any, list[uuid.UUID]]) -> Any:
    ids = target[1]
    if len(ids) == 1:
        return latest().where(invoices.c.customer_id == ids[0])
    return latest().where(invoices.c.customer_id.in_(ids))


def tuned_stmt(target: tuple[Any, list[uuid.UUID]]) -> Any:
    """Ours again, through AccessContext.latest(): each customer's latest page through its own
    index range, merged (what a person tuning the umbrella query would write by hand)."""
    return target[0].latest(
        select(invoices), "invoices", order_by=invoices.c.created_at, limit=PAGE
    )


def run_batch(conn: Any, make: Callable[[Any], Any], targets: list[Any], count: int) -> float:
    """Seconds per query: build the select, execute it, fetch every row."""
    with no_gc():
        started = time.perf_counter()
        for i in range(count):
            conn.execute(make(targets[i % len(targets)])).all()
        return (time.perf_counter() - started) / count


def capture(engine: Engine, conn: Any, stmt: Any) -> tuple[list[Any], str, Any]:
    """Rows of one execution, and the SQL and parameters the driver received."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        rows = conn.execute(stmt).all()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return rows, *seen[-1]


def plan(conn: Any, dialect: str, statement: str, parameters: Any) -> str:
    if dialect == "sqlite":
        found = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "; ".join(str(r[-1]) for r in found)
    found = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    return "; ".join(" ".join(str(r[0]).split()) for r in found if "->" in r[0] or r is found[0])


def section_query(args: argparse.Namespace, tmp: Path, pg: Any, out: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    q = build_query_world(args.invoice_customers)
    out["query_build_world"] = time.perf_counter() - t0
    out["query_build_stmt"] = statement_build_times(q, args.repeats)
    vendor = q["world"].vendor.id
    results: list[dict[str, Any]] = []
    out["query_results"] = results
    out["query_loads"] = loads = []
    out["query_sql"] = {}
    backends = ["sqlite"] + (["postgresql"] if pg is not None else [])
    for backend in backends:
        for rows in args.sizes:
            if backend == "sqlite":
                engine = create_engine(f"sqlite:///{tmp / f'host-{rows}.db'}")
            else:
                engine = create_engine(pg.create_database(f"bench_host_{rows}"))
            t0 = time.perf_counter()
            load_invoices(engine, rows, q["customer_ids"], vendor)
            loads.append((backend, rows, time.perf_counter() - t0))
            print(f"  {backend}: {rows:,} invoices loaded and indexed in {loads[-1][2]:.1f} s",
                  file=sys.stderr)  # fmt: skip
            try:
                with engine.connect() as conn:
                    for who in ("single", "umbrella"):
                        results.append(
                            measure_query(args, engine, conn, backend, rows, who, q[who], out)
                        )
            finally:
                engine.dispose()
            if backend == "sqlite":
                (tmp / f"host-{rows}.db").unlink()


def measure_query(
    args: argparse.Namespace, engine: Engine, conn: Any, backend: str, rows: int, who: str,
    targets: list[Any], out: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    per_customer = rows // args.invoice_customers
    expected = min(PAGE, per_customer * len(targets[0][1]))
    makers = {"ours": ours_stmt, "hand": hand_stmt}
    if who == "umbrella":
        makers["tuned"] = tuned_stmt
    plans: dict[str, str] = {}
    for target in targets:
        found = {name: capture(engine, conn, make(target)) for name, make in makers.items()}
        ours_rows, ours_sql, _ = found["ours"]
        for name, (got, _, _) in found.items():
            if [r.id for r in got] != [r.id for r in ours_rows]:
                sys.exit(f"{backend} {rows} {who}: {name} rows differ from the filtered query's")
        if len(ours_rows) != expected or not {r.customer_id for r in ours_rows} <= set(target[1]):
            sys.exit(f"{backend} {rows} {who}: {len(ours_rows)} rows, expected {expected} "
                     "of the member's customers")  # fmt: skip
        if "WHERE" not in ours_sql:
            sys.exit(f"{backend}: the filtered query has no WHERE:\n{ours_sql}")
        if not plans:
            plans = {n: plan(conn, backend, sql, params) for n, (_, sql, params) in found.items()}
            out["query_sql"][(backend, who)] = {n: sql for n, (_, sql, _) in found.items()}
    # Calibrate: enough queries per batch for about --batch-seconds.
    run_batch(conn, ours_stmt, targets, 3)
    one = max(run_batch(conn, hand_stmt, targets, 3), 1e-6)
    count = max(3, min(2000, int(args.batch_seconds / one)))
    times: dict[str, list[float]] = {name: [] for name in makers}
    names = list(makers)
    for repeat in range(args.repeats):
        # Forwards then backwards (ABBA): drift and warm-up land on every variant alike.
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order + order[::-1]:
            times[name].append(run_batch(conn, makers[name], targets, count) * 1e6)
        conn.rollback()
    # ours/hand per repeat (its two batches of each, side by side), then the median of those.
    paired = [
        (times["ours"][i] + times["ours"][i + 1]) / (times["hand"][i] + times["hand"][i + 1])
        for i in range(0, len(times["ours"]), 2)
    ]
    result = {
        "backend": backend, "rows": rows, "who": who, "returned": expected,
        "ratio": statistics.median(paired),
        **{name: statistics.median(t) for name, t in times.items()},
        "spread": times, "per_batch": count, "plans": plans,
    }  # fmt: skip
    print(f"  {backend} {rows:>9,} {who:<8}: "
          + ", ".join(f"{n} {result[n]:8.1f} us" for n in makers)
          + f" ({count} queries per batch)", file=sys.stderr)  # fmt: skip
    return result


def statement_build_times(q: dict[str, Any], repeats: int) -> dict[str, dict[str, float]]:
    """Microseconds to build each select alone (no database), per member kind."""
    found: dict[str, dict[str, float]] = {}
    for who in ("single", "umbrella"):
        target = q[who][0]
        calls = {"ours": partial(ours_stmt, target), "hand": partial(hand_stmt, target)}
        found[who] = time_calls(calls, repeats, 0.05)  # type: ignore[assignment]
    return found


# -- 3. building a context -------------------------------------------------------------------


def build_ctx_world(portal: Portal, customers: int) -> dict[str, Any]:
    """``customers`` customers; a member with three location grants; an umbrella member whose
    tree holds four children and two grandchildren."""
    world = World(portal)
    portal.access.register_resource(
        ResourceType("invoices", view="invoices.view", location_field="site_id")
    )
    plain = world.profile(capabilities={"invoices.view", "orders.view"})
    tree = world.profile(capabilities={"invoices.view"}, scopes={"invoices": "tree"})
    with portal.transaction():
        umbrella = world.customer()
        children = [world.customer(parent=umbrella) for _ in range(4)]
        for _ in range(2):
            world.customer(parent=children[0])
        home = world.customer()
        sites = [world.location(home) for _ in range(3)]
        located = world.membership(
            customer=home, profile=plain,
            location_grants={sites[0]: "write", sites[1]: "read", sites[2]: "read"},
        )  # fmt: skip
        over = world.membership(customer=umbrella, profile=tree, kind="main")
    made = 8
    while made < customers:
        with portal.transaction():
            for _ in range(min(500, customers - made)):
                world.customer()
                made += 1
    return {
        "location grants": (world.member(located), {"customers": 1, "locations": 3}),
        "umbrella (tree)": (world.member(over), {"customers": 7, "locations": None}),
    }


def section_context(args: argparse.Namespace, tmp: Path, pg: Any, out: dict[str, Any]) -> None:
    from portalkit.storage.sqlalchemy import SqlStorage

    results: list[dict[str, Any]] = []
    out["ctx_results"] = results
    backends = ["memory", "sqlite"] + (["postgresql"] if pg is not None else [])
    for backend in backends:
        if backend == "memory":
            storage: Any = MemoryStorage()
        else:
            url = (f"sqlite:///{tmp / 'ctx.db'}" if backend == "sqlite"
                   else pg.create_database("bench_ctx"))  # fmt: skip
            storage = SqlStorage(url)
            storage.upgrade_schema()
        portal = Portal(storage, MemoryMailer(), clock=FixedClock())
        t0 = time.perf_counter()
        members = build_ctx_world(portal, args.ctx_customers)
        print(f"  context world on {backend}: {args.ctx_customers:,} customers in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
        try:
            for who, (actor, expect) in members.items():
                results.append(measure_context(args, backend, storage, portal, who, actor, expect))
        finally:
            storage.close()


def measure_context(
    args: argparse.Namespace, backend: str, storage: Any, portal: Portal, who: str,
    actor: Any, expect: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    from portalkit.storage.sqlalchemy.rows import Base

    ctx = portal.access.context(actor)
    seen = ctx.predicate("invoices")
    reach = len(seen.customers or ())
    read = None if seen.locations is None else len(seen.locations)
    if ctx.denied or reach != expect["customers"] or read != expect["locations"]:
        sys.exit(f"context on {backend} for {who}: denied={ctx.denied!r}, customers={reach}, "
                 f"locations={read}; expected {expect}")  # fmt: skip

    def ours() -> None:
        portal.access.context(actor)

    floor = None
    if backend != "memory":
        table = Base.metadata.tables["memberships"]

        def floor() -> None:
            with storage.engine.begin() as conn:
                conn.execute(select(table).where(table.c.id == actor.membership_id)).one()

    counts = count_statements(storage, ours)
    times = time_calls({"ours": ours, "floor": floor}, args.repeats, args.batch_seconds)
    print(f"  context {backend} {who}: {times['ours']:.1f} us, {counts['selects']} SELECTs",
          file=sys.stderr)  # fmt: skip
    request = measure_request(storage, portal, actor)
    return {"backend": backend, "who": who, **counts, **times, "request": request}


def measure_request(storage: Any, portal: Portal, actor: Any) -> dict[str, Any]:
    """One page of a member's request: the session checked, the context built, then
    ``customers.get`` and ``locations.list`` — with the context passed to both (ours) and with
    the bare actor (every call reads the member's rights again)."""
    if getattr(storage, "engine", None) is None:
        return {"ours": 0, "bare": 0}  # memory storage sends no statements
    session = portal.auth.session(actor)
    vendor = actor.vendor_id
    answers: list[Any] = []

    def with_context() -> None:
        ctx = portal.auth.session_context(vendor, session)
        answers.append((portal.customers.get(ctx, actor.customer_id).id,
                        len(portal.locations.list(ctx, customer=actor.customer_id))))  # fmt: skip

    def bare() -> None:
        member = portal.auth.validate_session(vendor, session)
        answers.append((portal.customers.get(member, actor.customer_id).id,
                        len(portal.locations.list(member, customer=actor.customer_id))))  # fmt: skip

    with_context()  # the process's first request reads the member's rights
    ours = count_statements(storage, with_context)
    theirs = count_statements(storage, bare)
    if len(set(answers)) != 1 or answers[0][0] != actor.customer_id:
        sys.exit(f"request: the context and the bare actor disagree: {answers}")
    return {"ours": ours["selects"], "bare": theirs["selects"]}


def count_statements(storage: Any, build: Callable[[], Any]) -> dict[str, Any]:
    """SELECTs and every other round trip of one context build, seen from the engine."""
    engine = getattr(storage, "engine", None)
    if engine is None:
        return {"selects": 0, "statements": [], "trips": 0}
    statements: list[str] = []
    extra = {"checkout": 0, "commit": 0, "rollback": 0}

    def on_execute(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        words = statement.split()
        if words[0].upper() == "SELECT" and "FROM" in words:
            statements.append(f"SELECT .. FROM {words[words.index('FROM') + 1]}")
        else:
            statements.append(" ".join(words[:2]))

    def on(kind: str) -> Callable[..., None]:
        def bump(*_a: Any) -> None:
            extra[kind] += 1

        return bump

    hooks = [("before_cursor_execute", on_execute)] + [(k, on(k)) for k in extra]
    for name, fn in hooks:
        event.listen(engine, name, fn)
    try:
        build()
    finally:
        for name, fn in hooks:
            event.remove(engine, name, fn)
    selects = sum(s.upper().startswith(("SELECT", "WITH")) for s in statements)
    trips = len(statements) + extra["commit"] + extra["rollback"]
    if engine.dialect.name == "postgresql":
        # psycopg sends BEGIN on its own before the first statement, and pool_pre_ping sends
        # a "SELECT 1" on every checkout: neither passes before_cursor_execute.
        trips += 1 + (extra["checkout"] if getattr(engine.pool, "_pre_ping", False) else 0)
    return {"selects": selects, "statements": statements, "trips": trips}


def time_calls(
    calls: Mapping[str, Callable[[], Any] | None], repeats: int, batch_seconds: float
) -> dict[str, float | None]:
    """Median microseconds per call; the calls alternate within each repeat."""
    live = {k: v for k, v in calls.items() if v is not None}
    counts = {}
    for name, fn in live.items():
        for _ in range(3):
            fn()  # warm caches (SQLAlchemy's compiled cache, the pool)
        started = time.perf_counter()
        for _ in range(5):
            fn()
        one = max((time.perf_counter() - started) / 5, 1e-7)
        counts[name] = max(5, min(20_000, int(batch_seconds / one)))
    times: dict[str, list[float]] = {k: [] for k in live}
    names = list(live)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            fn, n = live[name], counts[name]
            with no_gc():
                started = time.perf_counter()
                for _ in range(n):
                    fn()
                times[name].append((time.perf_counter() - started) / n * 1e6)
    return {k: (statistics.median(times[k]) if k in times else None) for k in calls}


# -- report ----------------------------------------------------------------------------------


def versions(pg_version: str | None) -> str:
    def v(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    parts = [
        f"Python {sys.version.split()[0]}",
        f"portalkit {portalkit.__version__}",
        f"SQLAlchemy {sqlalchemy.__version__}",
        f"SQLite {sqlite3.sqlite_version}",
        f"psycopg {v('psycopg')}",
        f"PostgreSQL {pg_version or '-'}",
        f"pycasbin {v('pycasbin')}",
    ]
    return ", ".join(parts)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(args: argparse.Namespace, out: dict[str, Any]) -> None:
    print()
    print("portalkit access benchmark")
    print(f"  command:   {shlex.join(['python', *sys.argv])}")
    print(f"  versions:  {versions(out.get('pg_version'))}")
    print(f"  machine:   {out['cpus']} CPUs, load average at start {out['load']:.2f}; repeats "
          f"{args.repeats}, variants interleaved, median shown")  # fmt: skip
    if out.get("pg_skipped"):
        print(f"  PostgreSQL rows SKIPPED: {out['pg_skipped']}")

    if "can_times" in out:
        t = {k: statistics.median(v) for k, v in out["can_times"].items()}
        loop = t["(loop alone)"]
        print()
        print("1. can() per call")
        print(f"  world:     {args.customers:,} customers x {args.members} members = "
              f"{out['can_memberships']:,} memberships (memory backend), built in "
              f"{out['can_build_world']:.1f} s; pycasbin policy loaded in "
              f"{out['can_build_casbin']:.1f} s")  # fmt: skip
        print(f"  requests:  {out['can_requests']:,} pre-chosen (member, capability) pairs over "
              f"{out['can_tested']:,} members, {out['can_allowed']:,} allowed; every decision "
              "compared across the three")  # fmt: skip
        print("  ours:      ctx.can(cap) on contexts built beforehand (one per member, as per "
              "request)")  # fmt: skip
        print("  hand:      cap in caps_by_member[member_id] (str keys: a UUID key's hash is a "
              "Python call and would make the floor slower)")  # fmt: skip
        print("  pycasbin:  FastEnforcer(cache_key_order=[1, 2]).enforce(member, customer, "
              "obj, act)")  # fmt: skip
        print("  timing:    each sample = passes over the whole list for ~--batch-seconds, "
              "order ABCD DCBA per repeat; ratios = median of the per-repeat ratios")  # fmt: skip
        print()
        header = (f"{'variant':<16}{'ns/call':>10}{'min':>9}{'max':>9}{'net of loop':>13}"
                  f"{'x ours':>9}")  # fmt: skip
        print(header)
        print("-" * len(header))
        for name in (
            "ours",
            "hand-written",
            "pycasbin",
            "ours (record)",
            "hand (record)",
            "(loop alone)",
        ):
            vals = out["can_times"][name]
            net = f"{t[name] - loop:>13,.0f}" if name != "(loop alone)" else f"{'':>13}"
            print(f"{name:<16}{t[name]:>10,.0f}{min(vals):>9,.0f}{max(vals):>9,.0f}{net}"
                  f"{t[name] / t['ours']:>9.2f}")  # fmt: skip
        # Ratios are medians of the per-repeat ratios: each repeat's variants ran side by side.
        fast = out["can_ratios"]["pycasbin/ours"]
        near = out["can_ratios"]["ours/hand"]
        near_net = (t["ours"] - loop) / max(t["hand-written"] - loop, 1e-9)
        print(f"\npycasbin / ours     = {fast:,.0f}x  (aim >= {AIM_CASBIN:.0f}x: "
              f"{verdict(fast >= AIM_CASBIN)})")  # fmt: skip
        print(f"ours / hand-written = {near:.2f}x  (aim <= {AIM_HAND:.1f}x: "
              f"{verdict(near <= AIM_HAND)}); net of the loop {near_net:.2f}x")  # fmt: skip
        record = out["can_ratios"]["record"]
        print(f"record form: ctx.allows(cap, invoice, 'invoices') / hand-written = "
              f"{record:.2f}x  (aim <= {AIM_RECORD:.1f}x: {verdict(record <= AIM_RECORD)}); "
              f"{out['record_allowed']:,} of {out['can_requests']:,} allowed")  # fmt: skip
        print(f"building one of these contexts (memory backend, {args.customers:,} customers): "
              f"{out['can_build_contexts'] * 1e6:,.0f} us")  # fmt: skip

    if "query_results" in out:
        results = out["query_results"]
        small, large = min(args.sizes), max(args.sizes)
        print()
        print(f'2. "latest {PAGE} visible invoices": filter() against a hand-written WHERE')
        print(f"  table:     invoices(id, customer_id, site_id, owner_id, vendor_id, status, "
              f"amount, created_at), index (customer_id, created_at DESC), rows round-robin "
              f"over {args.invoice_customers} customers (so each holds rows/"
              f"{args.invoice_customers})")  # fmt: skip
        print("  single:    a member who sees one customer (10 such members, taken in turn)")
        print(f"  umbrella:  a member with tree scope over {UMBRELLA_SIZE} customers")
        print(f"  ours:      ctx.filter(select(invoices).order_by(created_at.desc())"
              f".limit({PAGE}), 'invoices')")  # fmt: skip
        print("  hand:      the same select .where(customer_id == id) (umbrella: .in_(ids))")
        print("  timed:     building the select + execute + fetch all rows, same connection; "
              "batches in ABBA order; us = median per query, ours/hand = median of the "
              "per-repeat ratios")  # fmt: skip
        for backend, rows, seconds in out["query_loads"]:
            print(f"  load:      {backend} {rows:,} rows generated in SQL, indexed and analysed "
                  f"in {seconds:.1f} s")  # fmt: skip
        print("  latest:    umbrella only: ours through ctx.latest(), which reads each customer's "
              f"latest {PAGE} (an index range each) and merges them")  # fmt: skip
        print()
        header = (f"{'backend':<12}{'member':<10}{'rows':>11}{'returned':>9}{'ours us':>10}"
                  f"{'hand us':>10}{'ours/hand':>10}{'ours L/S':>9}{'hand L/S':>9}"
                  f"{'latest us':>10}{'latest L/S':>11}")  # fmt: skip
        print(header)
        print("-" * len(header))
        misses = []
        for r in results:
            ratio = r["ratio"]
            growth = {"ours": "", "hand": "", "tuned": ""}
            if r["rows"] == large and large != small:
                base = next(b for b in results if b["backend"] == r["backend"]
                            and b["who"] == r["who"] and b["rows"] == small)  # fmt: skip
                growth = {k: f"{r[k] / base[k]:.2f}" for k in growth if k in r}
                if r["ours"] / base["ours"] > AIM_GROWTH:
                    misses.append(f"{r['backend']} {r['who']} L/S {growth['ours']}")
            if ratio > AIM_SQL:
                misses.append(f"{r['backend']} {r['who']} {r['rows']:,} ours/hand {ratio:.2f}")
            tuned = f"{r['tuned']:>10.1f}" if "tuned" in r else f"{'':>10}"
            print(f"{r['backend']:<12}{r['who']:<10}{r['rows']:>11,}{r['returned']:>9}"
                  f"{r['ours']:>10.1f}{r['hand']:>10.1f}{ratio:>10.2f}{growth['ours']:>9}"
                  f"{growth['hand']:>9}{tuned}{growth.get('tuned', ''):>10}")  # fmt: skip
        print(f"\nL/S = time on {large:,} rows / time on {small:,} rows.  Aims: ours/hand <= "
              f"{AIM_SQL}, ours L/S <= {AIM_GROWTH:.0f}: "
              + ("met" if not misses else "MISSED: " + "; ".join(misses)))  # fmt: skip
        built = out["query_build_stmt"]
        print("building the select alone (no database): "
              + "; ".join(f"{who} ours {b['ours']:.1f} us, hand {b['hand']:.1f} us"
                          for who, b in built.items()))  # fmt: skip
        print("SQL sent (single member):")
        for name, sql in out["query_sql"][("sqlite", "single")].items():
            print(f"  {name}: ...{' '.join(sql.split()).split(' FROM invoices ')[-1]}")
        print(f"query plans ({large:,} rows):")
        for r in results:
            if r["rows"] == large:
                for name, text_ in r["plans"].items():
                    same = name != "ours" and text_ == r["plans"]["ours"]
                    print(
                        f"  {r['backend']} {r['who']} {name}: {'(same as ours)' if same else text_}"
                    )

    if "ctx_results" in out:
        print()
        print("3. building an access context: portal.access.context(actor)")
        print(f"  world:     {args.ctx_customers:,} customers; 'location grants' = member with "
              "3 granted sites; 'umbrella (tree)' = main member of an umbrella with 4 children "
              "and 2 grandchildren")  # fmt: skip
        print("  floor:     one SELECT of the membership row by primary key in a transaction, "
              "same engine")  # fmt: skip
        print("  SELECTs:   statements starting SELECT/WITH seen by before_cursor_execute; "
              "round trips adds BEGIN, COMMIT and pool pre-pings")  # fmt: skip
        print()
        header = (f"{'backend':<12}{'member':<17}{'SELECTs':>8}{'trips':>7}{'ours us':>10}"
                  f"{'floor us':>10}{'x floor':>9}  statements")  # fmt: skip
        print(header)
        print("-" * len(header))
        worst = 0
        for r in out["ctx_results"]:
            worst = max(worst, r["selects"])
            floor = f"{r['floor']:>10.1f}{r['ours'] / r['floor']:>9.2f}" if r["floor"] else (
                f"{'-':>10}{'-':>9}")  # fmt: skip
            trips = r["trips"] if r["backend"] != "memory" else "-"
            print(f"{r['backend']:<12}{r['who']:<17}{r['selects']:>8}{trips:>7}"
                  f"{r['ours']:>10.1f}{floor}  {', '.join(r['statements']) or '-'}")  # fmt: skip
        print(f"\nat most {worst} SELECTs per context (aim <= {AIM_QUERIES}: "
              f"{verdict(worst <= AIM_QUERIES)})")  # fmt: skip
        print()
        print("   a request: auth.session_context + customers.get(ctx) + locations.list(ctx), "
              "SELECTs (with the bare actor instead of ctx)")  # fmt: skip
        most = 0
        for r in out["ctx_results"]:
            if r["backend"] == "memory":
                continue
            most = max(most, r["request"]["ours"])
            print(f"   {r['backend']:<12}{r['who']:<17}{r['request']['ours']:>4} "
                  f"({r['request']['bare']})")  # fmt: skip
        print(f"at most {most} SELECTs per request (aim <= {AIM_REQUEST}: "
              f"{verdict(most <= AIM_REQUEST)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10k and 100k rows, 3 repeats, smaller worlds")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--customers", type=int, default=2_000, help="can(): customers")
    parser.add_argument("--members", type=int, default=10, help="can(): members per customer")
    parser.add_argument("--contexts", type=int, default=2_000,
                        help="can(): members whose context is asked")  # fmt: skip
    parser.add_argument("--requests", type=int, default=20_000, help="can(): requests per loop")
    parser.add_argument("--sizes", default="10000,1000000", help="invoice rows, comma-separated")
    parser.add_argument("--invoice-customers", type=int, default=200,
                        help="customers the invoices are spread over")  # fmt: skip
    parser.add_argument("--ctx-customers", type=int, default=2_000,
                        help="context building: customers in the vendor")  # fmt: skip
    parser.add_argument("--batch-seconds", type=float, default=0.25,
                        help="target length of one timed batch")  # fmt: skip
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only", choices=("can", "query", "context"), action="append",
                        help="run only these sections (repeatable)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.sizes = 3, "10000,100000"
        args.ctx_customers, args.batch_seconds = 300, 0.1
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.invoice_customers < UMBRELLA_SIZE + 10:
        sys.exit(f"--invoice-customers must be at least {UMBRELLA_SIZE + 10}")
    if min(args.sizes) < PAGE * args.invoice_customers:
        print(f"note: {min(args.sizes):,} rows over {args.invoice_customers} customers gives a "
              f"single customer fewer than {PAGE} rows", file=sys.stderr)  # fmt: skip
    sections = set(args.only or ("can", "query", "context"))

    import os

    out: dict[str, Any] = {"cpus": os.cpu_count(), "load": os.getloadavg()[0]}
    pg = None
    with tempfile.TemporaryDirectory(prefix="portalkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if args.no_postgres:
                out["pg_skipped"] = "--no-postgres given"
            elif sections & {"query", "context"}:
                pg = start_postgres(out)
            if "can" in sections:
                section_can(args, tmp, out)
            if "query" in sections:
                section_query(args, tmp, pg, out)
            if "context" in sections:
                section_context(args, tmp, pg, out)
        finally:
            if pg is not None:
                pg.stop()
    report(args, out)


def start_postgres(out: dict[str, Any]) -> Any:
    """A throw-away server, or None with the reason in ``out['pg_skipped']``."""
    try:
        import psycopg  # noqa: F401

        from pgserver import PostgresServer, PostgresUnavailable
    except ImportError as exc:
        out["pg_skipped"] = f"cannot import {exc.name} (pip install 'portalkit[postgres]')"
        return None
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        out["pg_skipped"] = str(exc).splitlines()[0]
        return None
    try:
        engine = create_engine(server.url)
        with engine.connect() as conn:
            out["pg_version"] = conn.exec_driver_sql("SHOW server_version").scalar_one()
        engine.dispose()
    except BaseException:
        server.stop()
        raise
    return server


if __name__ == "__main__":
    main()
