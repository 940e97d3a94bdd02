"""An authenticated, filtered orders page under load: the portalkit Django adapter beside the
same Django page without log-in.

One SQLite database holds Django's tables (its sessions), portalkit's (prefixed
``portalkit_``) and the demo project's orders (``demo_site.Order``: 200 customers, 20,000
orders; the member's customer has 100). This file is also the Django project gunicorn serves
(``bench_django_web:application``), in one of two variants chosen by
``BENCH_DJANGO_VARIANT``:

``open``
    No log-in at all: no session, no CSRF, no portalkit middleware; the view reads the 50
    newest orders of one fixed customer through the ORM, without the rate. The ceiling.
``portalkit``
    The adapter as docs/django.md recommends it: Django's signed-cookie sessions (portalkit
    keeps each session's record itself) and CSRF middleware,
    ``PortalkitMiddleware`` (the session value checked and the access context built once per
    request), ``@capability_required("orders.view")`` and ``visible_rows(...)``, which narrows
    the rows in SQL to the member's customers and never selects the rate for a member without
    ``prices.view``.

Both render the same Django template with the same 50 orders. Each variant is served by
gunicorn (2 sync workers) on 127.0.0.1 and loaded by wrk from Debian's packages (``wrk -t1
-c4``) for ``--seconds`` per sample; the variants take turns, the first one alternating per
repeat. Before timing, both pages are fetched and checked: 50 rows of the member's customer,
newest first, no rate on the page, the same rows in both. wrk's non-2xx count must be 0 in
every sample.

Aim (issue 16): portalkit keeps >= 0.85 of the open page's requests per second.

Run from the repository root (needs ``apt-get install wrk``, ``pip install gunicorn`` and
Django)::

    python bench/bench_django_web.py              # 5 repeats of 5 s per variant (about 1 minute)
    python bench/bench_django_web.py --quick      # 2 repeats of 2 s
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import shutil
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
from typing import Any

from _web import PAGE, THEIRS, Server, check_pages, report, take_turns

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = ("open", "portalkit")
AIM = 0.85  # portalkit rps / open rps
CUSTOMERS = 200
ORDERS = 20_000
PASSWORD = "cargo bicycle tulip harbour"
PATHS = [str(HERE), str(ROOT / "src"), str(ROOT / "examples" / "django" / "src"),
         str(ROOT / "examples" / "django" / "demo")]  # fmt: skip
TEMPLATE = """<!doctype html>
<title>Orders</title>
<table>
<tr><th>Reference</th><th>Pick-up</th><th>Delivery</th><th>Placed</th>
{% if show_rates %}<th>Rate</th>{% endif %}</tr>
{% for order in orders %}
<tr><td>{{ order.reference }}</td><td>{{ order.pickup }}</td><td>{{ order.delivery }}</td>
<td>{{ order.placed_at|date:"Y-m-d H:i" }}</td>
{% if show_rates %}<td>{{ order.rate }}</td>{% endif %}</tr>
{% endfor %}
</table>
<p>{{ orders|length }} orders</p>
"""


# -- the Django project gunicorn serves --------------------------------------------------------
def configure(variant: str, folder: Path) -> None:
    """Django's settings for ``variant`` on the database in ``folder``."""
    import django
    from django.conf import settings

    middleware = []
    if variant == "portalkit":
        middleware = [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "portalkit_django.middleware.PortalkitMiddleware",
        ]
    settings.configure(
        DEBUG=False,
        SECRET_KEY="a benchmark secret, the same for every variant",
        ALLOWED_HOSTS=["127.0.0.1"],
        USE_TZ=True,
        ROOT_URLCONF=__name__,
        # The same apps in both: demo_site's ready() registers the "orders" resource type.
        INSTALLED_APPS=[
            "django.contrib.sessions",
            "django.contrib.messages",
            "portalkit_django",
            "demo_site",
        ],
        MIDDLEWARE=middleware,
        # What docs/django.md recommends: portalkit keeps each session's record itself (time-
        # outs, log-out, "end this session"), so the cookie need carry only its value; a
        # database session would store it a second time and read it on every request.
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "web.db")}
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        PORTALKIT={
            "SECRET_KEY": "a benchmark throttle secret",
            "BASE_URL": "https://portal.example",
            "MAIL_BACKEND": "memory",
            "MAIL_ENCRYPTION_KEY": "qp_TOrtrX5vBv8R_LSid9Fn9o7WXektC6RhLlcY1Ylw=",
            "SEED_KNOWN_PASSWORDS": True,
        },
    )
    django.setup()


def _render(request: Any, orders: Any, show_rates: bool) -> Any:
    from django.http import HttpResponse
    from django.template import engines

    page = engines["django"].from_string(TEMPLATE)
    return HttpResponse(page.render({"orders": orders, "show_rates": show_rates}, request))


_FIELDS = ("reference", "pickup", "delivery", "placed_at")
_OPEN_CUSTOMER: list[str] = []  # read once per worker, so the ceiling reads no file per request


def open_orders(request: Any) -> Any:
    """No log-in: the newest orders of the customer named in the folder, without the rate."""
    from demo_site.models import Order

    if not _OPEN_CUSTOMER:
        folder = Path(os.environ["BENCH_DJANGO_FOLDER"])
        _OPEN_CUSTOMER.append((folder / "customer_id").read_text())
    customer = _OPEN_CUSTOMER[0]
    rows = Order.objects.filter(customer_id=customer).order_by("-placed_at").values(*_FIELDS)
    return _render(request, list(rows[:PAGE]), show_rates=False)


def portalkit_orders(request: Any) -> Any:
    """The member's newest orders, filtered in SQL; the rate only if the member may see it."""
    from demo_site.models import Order
    from portalkit_django.decorators import visible_fields
    from portalkit_django.queries import visible_rows

    rows = visible_rows(request, Order.objects.order_by("-placed_at"), "orders")[:PAGE]
    show_rates = "rate" in visible_fields(request, "orders", ["rate"])
    return _render(request, list(rows), show_rates=show_rates)


def _urls(variant: str) -> list[Any]:
    from django.urls import include, path

    if variant == "open":
        return [path("orders", open_orders)]
    from portalkit_django.decorators import capability_required

    return [
        path("portal/", include("portalkit_django.urls")),
        path("orders", capability_required("orders.view")(portalkit_orders)),
    ]


urlpatterns: list[Any] = []
if os.environ.get("BENCH_DJANGO_VARIANT") and __name__ != "__main__":
    # Imported by gunicorn: this module is the project (settings, URLs and WSGI application).
    configure(os.environ["BENCH_DJANGO_VARIANT"], Path(os.environ["BENCH_DJANGO_FOLDER"]))
    urlpatterns = _urls(os.environ["BENCH_DJANGO_VARIANT"])
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()


# -- the benchmark -----------------------------------------------------------------------------
def build(folder: Path) -> None:
    """The database (run in a process of its own: Django's settings are per process)."""
    configure("portalkit", folder)
    from demo_site.models import Order
    from django.core.management import call_command
    from django.db import transaction
    from portalkit_django.apps import get_portal

    from portalkit import STAFF_PERMISSIONS, Staff, presets
    from portalkit.testing import seed_login

    call_command("migrate", verbosity=0)
    call_command("portalkit_migrate", verbosity=0)
    portal = get_portal()
    staff = Staff(
        vendor_id=portal.default_vendor("Bench Transport").id,
        user_id="bench",
        permissions=STAFF_PERMISSIONS,
    )
    limited = portal.profiles.create_from(staff, presets.TRANSPORT_LIMITED)
    with transaction.atomic():
        customers = [
            portal.customers.create(staff, code=f"C{n:04d}", name=f"Customer {n}")
            for n in range(CUSTOMERS)
        ]
    mine = customers[7]
    seed_login(portal, staff, customer=mine, username="anna", email="anna@c0007.example",
               password=PASSWORD, profile=limited)  # fmt: skip
    rng = random.Random(20261203)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    others = [c for c in customers if c.id != mine.id]
    rows = []
    for n in range(ORDERS):
        owner = mine if n < THEIRS else rng.choice(others)
        rows.append(Order(
            customer_id=owner.id, reference=f"R-{n:06d}",
            pickup=f"Pick-up street {n % 97}, Rotterdam", delivery=f"Dock {n % 13}, Venlo",
            rate=Decimal(150 + n % 400) + Decimal("0.40"),
            placed_at=start + dt.timedelta(minutes=n * 7),
        ))  # fmt: skip
    Order.objects.bulk_create(rows, batch_size=2000)
    (folder / "customer_id").write_text(str(mine.id))


def _env(variant: str | None, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(BENCH_DJANGO_FOLDER=str(folder), PYTHONPATH=os.pathsep.join(PATHS))
    if variant is not None:
        env["BENCH_DJANGO_VARIANT"] = variant
    return env


def start_variant(variant: str, folder: Path) -> Server:
    """The variant of this project under gunicorn."""
    return Server(variant, "bench_django_web:application", cwd=HERE, env=_env(variant, folder))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def session_cookie(server: Server) -> str:
    """Log in as the member through the adapter's form (with its CSRF token) and return the
    ``Cookie`` header to send (empty for ``open``)."""
    if server.variant == "open":
        return ""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    page = opener.open(server.base + "/portal/login/").read().decode()
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, "no CSRF token on the log-in page"
    form = {"login": "anna", "password": PASSWORD, "csrfmiddlewaretoken": found.group(1)}
    try:
        opener.open(server.base + "/portal/login/", data=urllib.parse.urlencode(form).encode())
    except urllib.error.HTTPError as exc:
        if exc.code != 302:  # the answer to a log-in that worked
            sys.exit(f"the log-in failed: {exc.code}")
    else:
        sys.exit("the log-in failed: no redirect")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "sessionid=" not in cookie:
        sys.exit("the log-in set no session cookie")
    return cookie


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats of 2 s")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the build process
    args = parser.parse_args()
    if args.build is not None:
        build(args.build)
        return
    if args.quick:
        args.repeats, args.seconds = 2, 2.0
    if not 1 <= args.repeats <= 50 or not 1 <= args.seconds <= 60:
        sys.exit("--repeats must be 1..50 and --seconds 1..60 (the run stays bounded)")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (Debian's package)")
    folder = Path(tempfile.mkdtemp(prefix="bench-django-web-"))
    servers: dict[str, Server] = {}
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", str(folder)], env=_env(None, folder),
                       check=True, timeout=600)  # fmt: skip
        print(f"  database built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for variant in VARIANTS:
            servers[variant] = start_variant(variant, folder)
        cookies = {v: session_cookie(s) for v, s in servers.items()}
        check_pages(servers, cookies)
        # Without the session cookie the portalkit page is no page: the log-in guards it.
        request = urllib.request.Request(servers["portalkit"].base + "/orders")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request)
            sys.exit("portalkit: /orders answered without a log-in")
        except urllib.error.HTTPError as exc:
            if exc.code != 302:
                sys.exit(f"portalkit: /orders without a log-in answered {exc.code}")
        rps, ratios = take_turns(servers, cookies, args.repeats, args.seconds)
        check_pages(servers, cookies)  # still the member's page after the load
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    report(
        "bench_django_web",
        "page: GET /orders, the member's 50 newest of 20,000 orders (Django ORM, one Django "
        "template), no rates (the member may not see prices); checked in both variants",
        args.seconds,
        args.repeats,
        rps,
        ratios,
        AIM,
    )


if __name__ == "__main__":
    main()
