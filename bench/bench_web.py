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
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from http.cookiejar import CookieJar
from pathlib import Path

from _web import THEIRS, Server, check_pages, report, take_turns

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = ("open", "flask-login", "portalkit")
AIM = 0.85  # portalkit rps / open rps
CUSTOMERS = 200
ORDERS = 20_000


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


def start_variant(variant: str, folder: Path) -> Server:
    """The variant of ``bench_webapp.py`` under gunicorn."""
    env = {
        **os.environ,
        "BENCH_WEB_VARIANT": variant,
        "BENCH_WEB_FOLDER": str(folder),
        "PYTHONPATH": os.pathsep.join(
            [str(HERE), str(ROOT / "src"), str(ROOT / "examples" / "flask" / "src")]
        ),
    }
    return Server(variant, "bench_webapp:create_app()", cwd=HERE, env=env)


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
            servers[variant] = start_variant(variant, folder)
        cookies = {v: session_cookie(s) for v, s in servers.items()}
        check_pages(servers, cookies)
        rps, ratios = take_turns(servers, cookies, args.repeats, args.seconds)
        check_pages(servers, cookies)  # still the member's page after the load
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    report(
        "bench_web",
        "page: GET /orders, the member's 50 newest of 20,000 orders, one Jinja template, "
        "no rates (the member may not see prices); checked in every variant",
        args.seconds,
        args.repeats,
        rps,
        ratios,
        AIM,
        others=["flask-login"],
    )


if __name__ == "__main__":
    main()
