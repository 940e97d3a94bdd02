"""An authenticated, filtered orders page under load: the portalkit Flask adapter beside the
same page without log-in and beside Flask-Login with the ORM and hand-written checks.

One SQLite database holds portalkit's tables (prefixed ``portalkit_``), the host's ``orders``
(200 customers, 20,000 orders; the member's customer has 100) and the Flask-Login variant's
``users``. Each variant of ``bench/bench_webapp.py`` is served by gunicorn (2 sync workers) on
127.0.0.1 and loaded by wrk from Debian's packages (``wrk -t1 -c4``) for ``--seconds`` per
sample; the variants take turns, the first one rotating per repeat. Before timing, every
variant's page is fetched and checked: 50 rows of the member's customer, newest first, no rate
on the page (the member may not see prices), and the same rows in every variant. wrk's
non-2xx count must be 0 in every sample.

Aim (issue 15): portalkit keeps >= 0.85 of the open page's requests per second.

Run from the repository root (needs ``apt-get install wrk`` and ``pip install gunicorn
flask-login``)::

    python bench/bench_web.py                 # 5 repeats of 5 s per variant (about 2 minutes)
    python bench/bench_web.py --quick         # 2 repeats of 2 s
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from http.cookiejar import CookieJar
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = ("open", "flask-login", "portalkit")
AIM = 0.85  # portalkit rps / open rps
CUSTOMERS = 200
ORDERS = 20_000
THEIRS = 100  # orders of the member's customer


def build(folder: Path) -> str:
    """The database; returns the member's customer id."""
    sys.path.insert(0, str(HERE))
    import sqlalchemy as sa
    from bench_webapp import PASSWORD, Base, Order, User

    from portalkit import STAFF_PERMISSIONS, Portal, PortalSettings, Staff, presets
    from portalkit.storage.sqlalchemy import SqlStorage
    from portalkit.testing import seed_login

    url = f"sqlite:///{folder / 'web.db'}"
    storage = SqlStorage(url, table_prefix="portalkit_")
    storage.upgrade_schema()
    portal = Portal(storage, settings=PortalSettings(seed_known_passwords=True))
    staff = Staff(
        vendor_id=portal.default_vendor("Bench Transport").id,
        user_id="bench",
        permissions=STAFF_PERMISSIONS,
    )
    limited = portal.profiles.create_from(staff, presets.TRANSPORT_LIMITED)
    with portal.transaction():
        customers = [
            portal.customers.create(staff, code=f"C{n:04d}", name=f"Customer {n}")
            for n in range(CUSTOMERS)
        ]
    mine = customers[7]
    seed_login(portal, staff, customer=mine, username="anna", email="anna@c0007.example",
               password=PASSWORD, profile=limited)  # fmt: skip
    portal.close()

    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    rng = random.Random(20261202)
    start = dt.datetime(2026, 1, 1)
    rows = []
    others = [c for c in customers if c.id != mine.id]
    for n in range(ORDERS):
        owner = mine if n < THEIRS else rng.choice(others)
        rows.append({
            "customer_id": owner.id, "reference": f"R-{n:06d}",
            "pickup": f"Pick-up street {n % 97}, Rotterdam", "delivery": f"Dock {n % 13}, Venlo",
            "date": (start + dt.timedelta(hours=n)).date(), "status": "delivered",
            "rate": Decimal(150 + n % 400) + Decimal("0.40"),
            "created_at": start + dt.timedelta(minutes=n * 7),
        })  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Order.__table__), rows)
        conn.execute(sa.insert(User.__table__), [{
            "username": "anna", "customer_id": mine.id, "active": True,
            "may_view_orders": True, "may_view_rates": False,
        }])  # fmt: skip
    engine.dispose()
    (folder / "customer_id").write_text(str(mine.id))
    return str(mine.id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One variant under gunicorn on 127.0.0.1, stopped by ``stop()``."""

    def __init__(self, variant: str, folder: Path) -> None:
        self.variant = variant
        self.port = free_port()
        env = {
            **os.environ,
            "BENCH_WEB_VARIANT": variant,
            "BENCH_WEB_FOLDER": str(folder),
            "PYTHONPATH": os.pathsep.join(
                [str(HERE), str(ROOT / "src"), str(ROOT / "examples" / "flask" / "src")]
            ),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
             f"127.0.0.1:{self.port}", "--log-level", "warning", "bench_webapp:create_app()"],
            cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{variant}: gunicorn ended: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit(f"{variant}: gunicorn did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def session_cookie(server: Server) -> str:
    """Log in as the member and return the ``Cookie`` header to send (empty for ``open``)."""
    if server.variant == "open":
        return ""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = {"login": "anna", "password": "cargo bicycle tulip harbour"}
    if server.variant == "portalkit":
        page = opener.open(server.base + "/login").read().decode()
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, "no CSRF token on the log-in page"
        form["csrf_token"] = found.group(1)
    try:
        opener.open(server.base + "/login", data=urllib.parse.urlencode(form).encode()).read()
    except urllib.error.HTTPError as exc:
        if exc.code != 404:  # the redirect after logging in goes to a home page none has
            raise
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def fetch(server: Server, cookie: str) -> str:
    request = urllib.request.Request(server.base + "/orders", headers={"Cookie": cookie})
    with urllib.request.urlopen(request) as answer:
        return str(answer.read().decode())


def check_page(variant: str, page: str) -> list[str]:
    """The references on the page, after checking it is the member's page."""
    references = re.findall(r"<td>(R-\d{6})</td>", page)
    if len(references) != 50 or "50 orders" not in page:
        sys.exit(f"{variant}: expected 50 orders on the page, found {len(references)}")
    if "Rate" in page or ".40</td>" in page:
        sys.exit(f"{variant}: the page shows rates to a member who may not see them")
    # Hers are R-000000 .. R-000099, made in that order: the newest 50 are 99 down to 50.
    if references != [f"R-{n:06d}" for n in range(THEIRS - 1, THEIRS - 51, -1)]:
        sys.exit(f"{variant}: not the member's newest orders: {references[:3]}...")
    return references


def run_wrk(server: Server, cookie: str, seconds: float) -> float:
    command = ["wrk", "-t1", "-c4", f"-d{max(1, round(seconds))}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    command.append(server.base + "/orders")
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        sys.exit(f"{server.variant}: wrk saw failed responses:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        sys.exit(f"{server.variant}: no Requests/sec in wrk's output:\n{out}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats of 2 s")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.seconds = 2, 2.0
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (Debian's package)")
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    servers: dict[str, Server] = {}
    try:
        t0 = time.perf_counter()
        build(folder)
        print(f"  database built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for variant in VARIANTS:
            servers[variant] = Server(variant, folder)
        cookies = {v: session_cookie(s) for v, s in servers.items()}
        pages = {v: check_page(v, fetch(s, cookies[v])) for v, s in servers.items()}
        if len({tuple(p) for p in pages.values()}) != 1:
            sys.exit(
                f"the variants show different orders: { {v: p[:2] for v, p in pages.items()} }"
            )
        rps: dict[str, list[float]] = {v: [] for v in VARIANTS}
        ratios: dict[str, list[float]] = {v: [] for v in VARIANTS if v != "open"}
        for repeat in range(args.repeats):
            order = list(VARIANTS[repeat % 3 :] + VARIANTS[: repeat % 3])
            for variant in order:
                rps[variant].append(run_wrk(servers[variant], cookies[variant], args.seconds))
            for variant in ratios:
                ratios[variant].append(rps[variant][-1] / rps["open"][-1])
            print(f"  repeat {repeat + 1}/{args.repeats}: "
                  + ", ".join(f"{v} {rps[v][-1]:,.0f}/s" for v in VARIANTS), file=sys.stderr)  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"bench_web: {' '.join(sys.argv[1:]) or '(defaults)'}; {os.cpu_count()} CPUs, load "
          f"average at the end {load:.2f}; gunicorn 2 sync workers, wrk -t1 -c4, "
          f"{args.seconds:g} s per sample, {args.repeats} repeats, variants taking turns")  # fmt: skip
    print(
        "page: GET /orders, the member's 50 newest of 20,000 orders, one Jinja template, "
        "no rates (the member may not see prices); checked in every variant"
    )
    print()
    header = f"{'variant':<14}{'req/s median':>14}{'min':>9}{'max':>9}{'x open':>9}"
    print(header)
    print("-" * len(header))
    for variant in VARIANTS:
        ratio = statistics.median(ratios[variant]) if variant in ratios else 1.0
        print(f"{variant:<14}{statistics.median(rps[variant]):>14,.0f}{min(rps[variant]):>9,.0f}"
              f"{max(rps[variant]):>9,.0f}{ratio:>9.2f}")  # fmt: skip
    ours = statistics.median(ratios["portalkit"])
    verdict = "met" if ours >= AIM else "MISSED"
    print(
        f"\nportalkit / open = {ours:.2f} (median of the per-repeat ratios; aim >= {AIM}: "
        f"{verdict}); flask-login + ORM / open = {statistics.median(ratios['flask-login']):.2f}"
    )


if __name__ == "__main__":
    main()
