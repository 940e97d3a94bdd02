"""portalkit-django: a small Django project on real SQLite, driven through Django's test client.

Django's settings are process-wide, so they are configured once, the first time a test of
this module asks for them (the Flask tests in the same run never see them). Each test gets
a copy of one database file on which Django's table and portalkit's (under ``portalkit_``)
were made once: ``manage.py portalkit_migrate`` and a host model of the project's own.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import (
    AuthenticationFailed,
    Condition,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    ResourceType,
    Staff,
    presets,
)
from portalkit.staffrights import STAFF_PERMISSIONS

PASSWORD = "cargo bicycle tulip harbour"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PORTALKIT: dict[str, Any] = {
    "SECRET_KEY": "another long test secret for throttles",
    "MAIL_BACKEND": "memory",
    "MAIL_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "BASE_URL": "https://portal.example",
    "LOGIN_MAX_FAILURES": 3,
    "PORTAL_NAME": "Django host portal",
    "STAFF_LOADER": lambda request: _STAFF_IN_BROWSER.get("staff"),
}
_STAFF_IN_BROWSER: dict[str, Staff | None] = {}
_PROJECT: dict[str, Any] = {}


# -- the project's views (ROOT_URLCONF is this module) ---------------------------------------
def _views() -> list[Any]:
    from django.http import HttpResponse
    from django.template import engines
    from django.urls import include, path
    from django.views import View
    from portalkit_django.decorators import (
        PortalMemberRequiredMixin,
        capability_required,
        portal_login_required,
        visible_or_404,
    )

    @portal_login_required
    def whoami(request: Any) -> HttpResponse:
        assert request.portal_access.actor is request.portal_member
        return HttpResponse(f"membership {request.portal_member.membership_id}")

    @capability_required("orders.create")
    def new_order(request: Any) -> HttpResponse:
        return HttpResponse("order form")

    @capability_required("orders.creat")
    def typo(request: Any) -> HttpResponse:
        return HttpResponse("let in")

    @portal_login_required
    def denied(request: Any) -> HttpResponse:
        raise PermissionDenied("the core said no")

    @portal_login_required
    def missing(request: Any) -> HttpResponse:
        raise NotFound("order", 42)

    @capability_required("orders.view")
    def record(request: Any, customer_id: Any) -> HttpResponse:
        shown = visible_or_404(request, {"customer_id": customer_id, "id": 1}, "records")
        return HttpResponse(f"record of {shown['customer_id']}")

    def helpers(request: Any) -> HttpResponse:
        page = engines["django"].from_string(
            "{% load portalkit %}"
            '{% can "orders.view" %}view{% else %}no-view{% endcan %}|'
            '{% can "orders.create" %}create{% else %}no-create{% endcan %}|'
            '{% visible_fields "records" "id customer_id" as cols %}{{ cols|join:"," }}|'
            '{% can "orders.view" mine "records" %}mine{% else %}not-mine{% endcan %}|'
            '{% can "orders.view" theirs "records" %}theirs{% else %}not-theirs{% endcan %}'
        )
        member = getattr(request, "portal_member", None)
        mine = {"id": 1, "customer_id": member.customer_id if member else None}
        theirs = {"id": 2, "customer_id": _PROJECT.get("other_customer")}
        return HttpResponse(page.render({"mine": mine, "theirs": theirs}, request))

    class Orders(PortalMemberRequiredMixin, View):
        required_capabilities = ("orders.view",)

        def get(self, request: Any) -> HttpResponse:
            return HttpResponse("orders")

    return [
        path("portal/", include("portalkit_django.urls")),
        path("i18n/", include("django.conf.urls.i18n")),
        path("whoami", whoami),
        path("orders/new", new_order),
        path("orders", Orders.as_view()),
        path("typo", typo),
        path("denied", denied),
        path("missing", missing),
        path("records/<uuid:customer_id>", record),
        path("helpers", helpers),
    ]


def __getattr__(name: str) -> Any:
    # Django reads ``urlpatterns`` of ROOT_URLCONF only once it is set up.
    if name == "urlpatterns":
        if "urls" not in _PROJECT:
            _PROJECT["urls"] = _views()
        return _PROJECT["urls"]
    raise AttributeError(name)


def _project() -> dict[str, Any]:
    """Configure Django once for this process and make the template database."""
    if _PROJECT.get("template"):
        return _PROJECT
    import django
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections, models

    where = Path(tempfile.mkdtemp(prefix="portalkit-django-"))
    settings.configure(
        DEBUG=False,
        SECRET_KEY="a django test secret that is long enough for signing",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.messages", "portalkit_django"],
        LANGUAGE_CODE="en",
        LANGUAGES=[("en", "English"), ("nl", "Nederlands"), ("de", "Deutsch")],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.locale.LocaleMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "portalkit_django.middleware.PortalkitMiddleware",
        ],
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        MESSAGE_STORAGE="django.contrib.messages.storage.cookie.CookieStorage",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(where / "t.db")}
        },
        PORTALKIT=PORTALKIT,
    )
    django.setup()

    class Shipment(models.Model):
        """The host's own table, written by Django's ORM."""

        reference = models.CharField(max_length=50, unique=True)

        class Meta:
            app_label = "portalkit"

    class Job(models.Model):
        """Host records portalkit filters: a customer's, some with an owner and a status."""

        customer_id = models.UUIDField()
        owner_id = models.UUIDField(null=True)
        status = models.CharField(max_length=20, null=True)
        reference = models.CharField(max_length=20)
        rate = models.DecimalField(max_digits=9, decimal_places=2)

        class Meta:
            app_label = "portalkit"

    call_command("portalkit_migrate", verbosity=0)
    with connection.schema_editor() as editor:
        editor.create_model(Shipment)
        editor.create_model(Job)
    from portalkit_django.apps import get_portal, get_vendor_id

    get_vendor_id()
    access = get_portal().access
    access.register_resource(ResourceType("records", view="orders.view"))
    access.register_resource(
        ResourceType(
            "jobs",
            view="orders.view",
            owner_field="owner_id",
            sensitive={"rate": "prices.view"},
            conditions={"orders.create": Condition("status", {"open", None})},
        )
    )
    connections.close_all()
    _PROJECT.update(template=where / "t.db", Shipment=Shipment, Job=Job, where=where)
    return _PROJECT


class World:
    """The project's portal and the people in it."""

    def __init__(self) -> None:
        from portalkit_django.apps import get_portal, get_vendor_id

        self.portal = portal = get_portal()
        self.Shipment = _PROJECT["Shipment"]
        self.staff = staff = Staff(
            vendor_id=get_vendor_id(), user_id="planner", permissions=STAFF_PERMISSIONS
        )
        self.full = portal.profiles.create_from(staff, presets.TRANSPORT_FULL)
        self.read_only = portal.profiles.create_from(staff, presets.TRANSPORT_READ_ONLY)
        self.acme = portal.customers.create(staff, code="ACME", name="Acme Transport")
        self.other = portal.customers.create(staff, code="OTHER", name="Other Freight")
        self.memberships: dict[str, Any] = {}
        for name, customer, kind, profile in [
            ("jane", self.acme, "main", self.full),
            ("piet", self.acme, "extra", self.read_only),
            ("olga", self.other, "main", self.full),
        ]:
            self.add(name, customer, kind, profile)

    def add(
        self, name: str, customer: Any, kind: str, profile: Any, *, must_change: bool = False
    ) -> Any:
        portal, staff = self.portal, self.staff
        contact = portal.contacts.create(
            staff, customer=customer, first_name=name.title(), last_name="Test"
        )
        account = portal.accounts.create(staff, username=name, email=f"{name}@example.com")
        membership = portal.memberships.create(
            staff, account=account, customer=customer, contact=contact, kind=kind, profile=profile
        )
        portal.credentials.set_password(staff, membership, PASSWORD, must_change=must_change)
        self.memberships[name] = membership
        return membership

    def browser(self, address: str = "192.0.2.10", *, csrf: bool = True) -> Browser:
        from django.test import Client

        return Browser(Client(enforce_csrf_checks=csrf, REMOTE_ADDR=address))


class Browser:
    """Django's test client, sending forms with the CSRF token of the page they are on."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(
        self, path: str, data: dict[str, str], *, form_at: str | None = None, token: bool = True
    ) -> Any:
        if token:
            page = self.get(form_at or path)
            found = CSRF.search(page.content.decode())
            assert found, f"no CSRF token on {form_at or path}"
            data = {**data, "csrfmiddlewaretoken": found.group(1)}
        return self.client.post(path, data=data)

    def login(self, login: str, password: str = PASSWORD, next_url: str = "") -> Any:
        return self.post("/portal/login/", {"login": login, "password": password, "next": next_url})

    def session_keys(self) -> set[str]:
        return set(self.client.session.keys())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    project = _project()
    from django.db import connections

    database = tmp_path / "portal.db"
    shutil.copyfile(project["template"], database)
    connections.close_all()
    connections.settings["default"]["NAME"] = str(database)
    _STAFF_IN_BROWSER["staff"] = None
    made = World()
    made.portal.mailer.outbox.clear()
    yield made
    connections.close_all()


# -- set-up ---------------------------------------------------------------------------------
def test_settings_come_from_the_portalkit_dict(world: World) -> None:
    settings = world.portal.settings
    assert settings.portal_name == "Django host portal"
    assert settings.login_max_failures == 3
    assert settings.table_prefix == "portalkit_"


def test_an_unknown_portalkit_key_is_refused(world: World) -> None:
    from django.test import override_settings
    from portalkit_django.conf import portal_settings

    with (
        override_settings(PORTALKIT={**PORTALKIT, "LOGIN_MAX_FAILURE": 5}),
        pytest.raises(ConfigurationError, match="LOGIN_MAX_FAILURE"),
    ):
        portal_settings()


def test_portalkit_tables_are_on_djangos_database_beside_its_own(world: World) -> None:
    from django.db import connection

    tables = set(connection.introspection.table_names())
    assert {"portalkit_customers", "portalkit_accounts", "portalkit_alembic_version"} <= tables
    assert "portalkit_shipment" in tables  # the host's, by Django
    assert "customers" not in tables


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"SECRET_KEY": ""}, "portalkit_django.E001"),
        ({"MAIL_BACKEND": "console"}, "portalkit_django.W002"),
        ({"BASE_URL": "http://portal.example"}, "portalkit_django.W003"),
    ],
)
def test_unsafe_settings_fail_the_system_checks(
    world: World, change: dict[str, Any], check: str
) -> None:
    from django.core import checks
    from django.test import override_settings

    assert check not in {found.id for found in checks.run_checks()}
    with override_settings(PORTALKIT={**PORTALKIT, **change}):
        assert check in {found.id for found in checks.run_checks()}


def test_console_mail_passes_in_debug(world: World) -> None:
    from django.core import checks
    from django.test import override_settings

    with override_settings(DEBUG=True, PORTALKIT={**PORTALKIT, "MAIL_BACKEND": "console"}):
        assert "portalkit_django.W002" not in {found.id for found in checks.run_checks()}


# -- one connection, one transaction --------------------------------------------------------
def _customers(world: World) -> list[str]:
    return [c.code for c in world.portal.customers.list(world.staff)]


def test_an_atomic_block_commits_the_hosts_row_and_portalkits_change_together(
    world: World,
) -> None:
    from django.db import transaction

    started = time.monotonic()
    with transaction.atomic():
        world.Shipment.objects.create(reference="S-1")  # Django holds the write lock now
        world.portal.customers.create(world.staff, code="BETA", name="Beta GmbH")
        world.portal.mail.enqueue(world.staff, to="b@beta.example", subject="Hi", text="Hallo")
        assert world.portal.mailer.outbox == []  # not before Django's commit
    assert time.monotonic() - started < 2  # no wait for a lock on a second connection
    assert world.Shipment.objects.filter(reference="S-1").exists()
    assert "BETA" in _customers(world)
    assert len(world.portal.mailer.outbox) == 1  # delivered after the commit


def test_an_atomic_block_rolls_back_the_hosts_row_portalkits_change_and_its_mail(
    world: World,
) -> None:
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        world.Shipment.objects.create(reference="S-2")
        world.portal.customers.create(world.staff, code="BETA", name="Beta GmbH")
        world.portal.mail.enqueue(world.staff, to="b@beta.example", subject="Hi", text="Hallo")
        raise RuntimeError("the host changes its mind")
    assert not world.Shipment.objects.filter(reference="S-2").exists()
    assert "BETA" not in _customers(world)
    world.portal.mail.wait()
    assert world.portal.mailer.outbox == []


def test_a_failed_portalkit_call_inside_atomic_changes_nothing_and_leaves_djangos_rows(
    world: World,
) -> None:
    from django.db import transaction

    from portalkit import Conflict

    with transaction.atomic():
        world.Shipment.objects.create(reference="S-3")
        with pytest.raises(Conflict):
            world.portal.customers.create(world.staff, code="ACME", name="Acme again")
        world.portal.customers.create(world.staff, code="GAMMA", name="Gamma")
    assert world.Shipment.objects.filter(reference="S-3").exists()
    assert "GAMMA" in _customers(world)


def test_a_refusal_inside_a_rolled_back_block_stays_on_record(world: World) -> None:
    from django.db import transaction

    from portalkit.auth import member_of

    piet = member_of(world.memberships["piet"])
    with pytest.raises(PermissionDenied), transaction.atomic():
        world.Shipment.objects.create(reference="S-4")
        world.portal.customers.create(piet, code="DELTA", name="Delta")
    world.portal.customers.list(world.staff)  # the next call outside atomic ends the wait
    refused = world.portal.audit.list(world.staff, action="authz_fail")
    assert refused and refused[-1].target.startswith("CustomerService.create")


def test_a_log_in_inside_atomic_is_refused_so_its_failures_stay_counted(world: World) -> None:
    # Joined to Django's transaction, a failed attempt's count would roll back with it.
    from django.db import transaction

    from portalkit import PortalError

    with pytest.raises(PortalError, match="transaction of its own"), transaction.atomic():
        world.portal.auth.authenticate(world.portal.default_vendor().id, "jane", "a guess")


def test_a_second_writer_waits_for_the_first_and_neither_deadlocks(world: World) -> None:
    from django.db import connections, transaction

    done: dict[str, Any] = {}

    def second() -> None:
        try:
            world.portal.customers.create(world.staff, code="LATE", name="Late Ltd")
            done["ok"] = time.monotonic()
        except Exception as exc:  # reported below
            done["error"] = exc
        finally:
            connections.close_all()

    with transaction.atomic():
        world.Shipment.objects.create(reference="S-5")
        world.portal.customers.create(world.staff, code="EARLY", name="Early Ltd")
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.3)
        assert "ok" not in done  # the second connection waits for this transaction
        committed = time.monotonic()
    other.join(10)
    assert "error" not in done, done.get("error")
    assert done["ok"] >= committed
    assert {"EARLY", "LATE"} <= set(_customers(world))


# -- querysets filtered in SQL --------------------------------------------------------------
def _jobs(world: World) -> Any:
    Job = _PROJECT["Job"]
    jane = world.memberships["jane"]
    n = 0
    for customer in (world.acme, world.other):
        for owner in (jane.account_id, None):
            for status in ("open", "closed", None):
                n += 1
                Job.objects.create(
                    customer_id=customer.id,
                    owner_id=owner,
                    status=status,
                    reference=f"J-{n}",
                    rate="12.50",
                )
    return Job


def test_a_queryset_is_filtered_in_sql_as_portalkit_filters_records(world: World) -> None:
    from types import SimpleNamespace

    from portalkit_django.queries import visible, visible_rows

    from portalkit.auth import member_of

    Job = _jobs(world)
    limited = world.portal.profiles.create_from(world.staff, presets.TRANSPORT_LIMITED)
    world.add("lars", world.acme, "member", limited)
    everything = list(Job.objects.values())
    seen_rates = set()
    for name in ("jane", "piet", "olga", "lars"):
        context = world.portal.access.context(member_of(world.memberships[name]))
        request = SimpleNamespace(portal_access=context)
        for capability in (None, "orders.create"):
            if capability and not context.can(capability):
                continue
            query = visible(request, Job.objects.all(), "jobs", capability=capability)
            assert "WHERE" in str(query.query)  # the database filters, not Python
            expected = context.filter(everything, "jobs", capability=capability)
            assert sorted(j.reference for j in query) == sorted(r["reference"] for r in expected)
        rows = list(visible_rows(request, Job.objects.all(), "jobs"))
        assert rows and all(("rate" in row) == context.can("prices.view") for row in rows)
        seen_rates.add(context.can("prices.view"))
    assert seen_rates == {True, False}  # both kinds of member were looked at
    assert not visible(SimpleNamespace(portal_access=None), Job.objects.all(), "jobs").exists()


def test_the_condition_of_a_capability_keeps_records_without_a_status(world: World) -> None:
    from types import SimpleNamespace

    from portalkit_django.queries import visible

    from portalkit.auth import member_of

    Job = _jobs(world)
    context = world.portal.access.context(member_of(world.memberships["jane"]))
    found = visible(
        SimpleNamespace(portal_access=context),
        Job.objects.all(),
        "jobs",
        capability="orders.create",
    )
    assert {j.status for j in found} == {"open", None}
    assert {j.customer_id for j in found} == {world.acme.id}


# -- the same on PostgreSQL ------------------------------------------------------------------
class PgWorld:
    """A second database alias, ``pg``, on the test server, with a portal on its connection."""

    def __init__(self, url: str) -> None:
        from django.db import connections
        from portalkit_django.apps import get_portal
        from portalkit_django.db import DjangoStorage
        from sqlalchemy.engine import make_url

        from portalkit import Portal

        found = make_url(url)
        self.conninfo = (
            f"host={found.host} port={found.port} dbname={found.database} user={found.username}"
        )
        connections.settings["pg"] = connections.configure_settings(
            {
                "default": connections.settings["default"],
                "pg": {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": found.database,
                    "USER": found.username,
                    "PASSWORD": found.password or "",
                    "HOST": found.host,
                    "PORT": found.port,
                },
            }
        )["pg"]
        self.portal = Portal(DjangoStorage("pg"), settings=get_portal().settings)
        self.portal.storage.upgrade_schema()  # type: ignore[attr-defined]
        self.staff = Staff(
            vendor_id=self.portal.default_vendor().id,
            user_id="planner",
            permissions=STAFF_PERMISSIONS,
        )
        with connections["pg"].cursor() as cursor:
            cursor.execute("CREATE TABLE shipment (reference text)")

    def shipments(self) -> int:
        from django.db import connections

        with connections["pg"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM shipment")
            return int(cursor.fetchone()[0])

    def codes(self) -> list[str]:
        return [c.code for c in self.portal.customers.list(self.staff)]

    def seen_from_outside(self, code: str) -> bool:
        """Whether another connection sees the customer (committed)."""
        import psycopg

        with psycopg.connect(self.conninfo) as other:
            row = other.execute(
                "SELECT count(*) FROM portalkit_customers WHERE code = %s", (code,)
            ).fetchone()
            return bool(row and row[0])


@pytest.fixture
def pg_world(pg_server: Any) -> Iterator[PgWorld]:
    _project()
    from uuid import uuid4

    from django.db import connections

    made = PgWorld(pg_server.create_database(f"django_{uuid4().hex[:12]}"))
    yield made
    connections["pg"].close()
    del connections["pg"]  # this thread's connection object, with the old database's name
    del connections.settings["pg"]


@pytest.mark.postgres
def test_on_postgresql_atomic_commits_both_and_portalkit_never_commits_alone(
    pg_world: PgWorld,
) -> None:
    from django.db import connections, transaction

    with transaction.atomic(using="pg"):
        with connections["pg"].cursor() as cursor:
            cursor.execute("INSERT INTO shipment VALUES ('S-1')")
        pg_world.portal.customers.create(pg_world.staff, code="GAMMA", name="Gamma")
        assert not pg_world.seen_from_outside("GAMMA")  # inside Django's transaction only
    assert pg_world.seen_from_outside("GAMMA")
    assert pg_world.shipments() == 1


@pytest.mark.postgres
def test_on_postgresql_atomic_rolls_back_both_and_the_mail(pg_world: PgWorld) -> None:
    from django.db import connections, transaction

    portal = pg_world.portal
    with pytest.raises(RuntimeError), transaction.atomic(using="pg"):
        with connections["pg"].cursor() as cursor:
            cursor.execute("INSERT INTO shipment VALUES ('S-2')")
        portal.customers.create(pg_world.staff, code="BETA", name="Beta GmbH")
        portal.mail.enqueue(pg_world.staff, to="b@beta.example", subject="Hi", text="Hallo")
        raise RuntimeError("the host changes its mind")
    assert pg_world.shipments() == 0
    assert "BETA" not in pg_world.codes()
    portal.mail.wait()
    assert portal.mailer.outbox == []


@pytest.mark.postgres
def test_on_postgresql_a_login_round_trip_on_djangos_connection(pg_world: PgWorld) -> None:
    portal, staff = pg_world.portal, pg_world.staff
    acme = portal.customers.create(staff, code="ACME", name="Acme Transport")
    membership = portal.memberships.create(
        staff,
        account=portal.accounts.create(staff, username="jane", email="jane@example.com"),
        customer=acme,
        contact=portal.contacts.create(staff, customer=acme, first_name="Jane", last_name="T"),
        kind="main",
        profile=portal.profiles.create_from(staff, presets.TRANSPORT_FULL),
    )
    portal.credentials.set_password(staff, membership, PASSWORD, must_change=False)
    vendor = portal.default_vendor().id
    login = portal.auth.authenticate(vendor, "jane", PASSWORD, client_key="192.0.2.1")
    context = portal.auth.session_context(vendor, login.session)
    assert context.actor.membership_id == membership.id and context.can("orders.view")
    portal.auth.end_sessions(staff, membership.account_id)
    with pytest.raises(AuthenticationFailed):
        portal.auth.session_context(vendor, login.session)


# -- sessions -------------------------------------------------------------------------------
def test_login_keeps_the_session_and_logout_ends_it(world: World) -> None:
    browser = world.browser()
    answer = browser.login("jane")
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert browser.get("/whoami").content.decode() == (f"membership {world.memberships['jane'].id}")
    value = browser.client.session["portalkit"]
    assert browser.post("/portal/logout/", {}, form_at="/portal/login/").status_code == 302
    assert browser.get("/whoami").status_code == 302
    assert "portalkit" not in browser.session_keys()
    # The session ended in storage too: with signed-cookie sessions a copy of the cookie
    # would carry the value, and it no longer works.
    with pytest.raises(AuthenticationFailed):
        world.portal.auth.validate_session(world.staff.vendor_id, value)


def test_a_wrong_password_logs_nobody_in(world: World) -> None:
    browser = world.browser()
    assert browser.login("jane", "wrong password here").status_code == 401
    assert "portalkit" not in browser.session_keys()


def _deactivate_account(world: World, who: str) -> None:
    world.portal.accounts.deactivate(world.staff, world.memberships[who].account_id)


def _deactivate_membership(world: World, who: str) -> None:
    world.portal.memberships.deactivate(world.staff, world.memberships[who].id)


def _deactivate_customer(world: World, who: str) -> None:
    world.portal.customers.deactivate(world.staff, world.memberships[who].customer_id)


def _password_set_by_staff(world: World, who: str) -> None:
    world.portal.credentials.set_password(
        world.staff, world.memberships[who], "seven quiet orange ferries"
    )


def _main_account_off(world: World, who: str) -> None:
    world.portal.memberships.deactivate(world.staff, world.memberships["jane"].id)


def _profile_changed(world: World, who: str) -> None:
    world.portal.memberships.update(world.staff, world.memberships[who].id, profile=world.read_only)


def _sessions_ended(world: World, who: str) -> None:
    world.portal.auth.end_sessions(world.staff, world.memberships[who].account_id)


TRIGGERS: list[tuple[str, str, Callable[[World, str], None]]] = [
    ("account deactivated", "jane", _deactivate_account),
    ("membership deactivated", "jane", _deactivate_membership),
    ("customer deactivated", "jane", _deactivate_customer),
    ("password set by staff", "jane", _password_set_by_staff),
    ("main account off for an extra", "piet", _main_account_off),
    ("rights changed", "jane", _profile_changed),
    ("log out everywhere", "jane", _sessions_ended),
]


@pytest.mark.parametrize(
    ("who", "trigger"), [(w, t) for _, w, t in TRIGGERS], ids=[n for n, _, _ in TRIGGERS]
)
def test_a_login_switched_off_between_requests_is_logged_out(
    world: World, who: str, trigger: Callable[[World, str], None]
) -> None:
    browser = world.browser()
    assert browser.login(who).status_code == 302
    assert browser.get("/whoami").status_code == 200
    trigger(world, who)
    answer = browser.get("/whoami")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/portal/login/?next=")
    assert "portalkit" not in browser.session_keys()  # logged out, not only refused once


def test_a_tampered_session_cookie_logs_nobody_in(world: World) -> None:
    from django.conf import settings

    browser = world.browser()
    assert browser.login("jane").status_code == 302
    cookie = browser.client.cookies[settings.SESSION_COOKIE_NAME]
    cookie.set(cookie.key, cookie.value[:-2] + "xx", cookie.value[:-2] + "xx")
    assert browser.get("/whoami").status_code == 302


def test_must_change_password_sends_the_member_to_change_it_first(world: World) -> None:
    world.add("kees", world.acme, "member", world.full, must_change=True)
    browser = world.browser()
    answer = browser.login("kees", next_url="/whoami")
    assert answer["Location"] == "/portal/change-password/?next=/whoami"
    refused = browser.get("/whoami")
    assert refused.status_code == 302
    assert refused["Location"].startswith("/portal/change-password/")
    new = "windmill lantern pepper canal"
    changed = browser.post(
        "/portal/change-password/",
        {"current": PASSWORD, "new": new, "confirm": new, "next": "/whoami"},
    )
    assert changed["Location"] == "/whoami"
    assert browser.get("/whoami").status_code == 200


def test_a_member_who_must_change_its_password_may_still_switch_language(world: World) -> None:
    world.add("kees", world.acme, "member", world.full, must_change=True)
    browser = world.browser()
    browser.login("kees")
    switched = browser.post(
        "/i18n/setlang/",
        {"language": "nl", "next": "/portal/change-password/"},
        form_at="/portal/change-password/",
    )
    assert switched.status_code == 302
    assert switched["Location"] == "/portal/change-password/"
    assert "Wachtwoord wijzigen" in browser.get("/portal/change-password/").content.decode()


# -- who may see what ---------------------------------------------------------------------
def test_nobody_logged_in_goes_to_the_login_page(world: World) -> None:
    answer = world.browser().get("/orders/new")
    assert answer.status_code == 302
    assert answer["Location"] == "/portal/login/?next=%2Forders%2Fnew"


def test_a_missing_capability_is_403(world: World) -> None:
    browser = world.browser()
    browser.login("piet")  # read-only
    assert browser.get("/orders/new").status_code == 403
    assert browser.get("/orders").status_code == 200  # the mixin: orders.view is held
    refused = world.portal.audit.list(world.staff, action="authz_fail")
    assert refused  # the refusal is on record


def test_the_mixin_refuses_without_the_capability(world: World) -> None:
    world.portal.memberships.update(
        world.staff,
        world.memberships["olga"].id,
        profile=world.portal.profiles.create(
            world.staff, name="Tickets only", capabilities={"tickets.view"}
        ),
    )
    browser = world.browser()
    browser.login("olga")
    assert browser.get("/orders").status_code == 403


def test_an_unknown_capability_fails_closed(world: World) -> None:
    # A misspelt capability is the project's bug, not the member's: the core refuses the
    # name (ValidationError), so the view never runs and the answer is a server error.
    browser = world.browser()
    browser.login("jane")
    browser.client.raise_request_exception = False
    answer = browser.get("/typo")
    assert answer.status_code == 500
    assert "let in" not in answer.content.decode()


def test_the_cores_refusals_map_to_403_and_404(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    assert browser.get("/denied").status_code == 403
    assert browser.get("/missing").status_code == 404


def test_a_record_of_another_customer_is_404(world: World) -> None:
    browser = world.browser()
    browser.login("jane")
    assert browser.get(f"/records/{world.acme.id}").status_code == 200
    assert browser.get(f"/records/{world.other.id}").status_code == 404


def test_template_tags_follow_the_context(world: World) -> None:
    _PROJECT["other_customer"] = world.other.id
    anonymous = world.browser().get("/helpers").content.decode()
    assert anonymous == "no-view|no-create||not-mine|not-theirs"
    browser = world.browser()
    browser.login("piet")
    assert browser.get("/helpers").content.decode() == (
        "view|no-create|id,customer_id|mine|not-theirs"
    )


# -- CSRF, redirects, throttles -------------------------------------------------------------
def test_a_post_without_csrf_token_is_refused(world: World) -> None:
    browser = world.browser()
    answer = browser.post("/portal/login/", {"login": "jane", "password": PASSWORD}, token=False)
    assert answer.status_code == 403
    assert "portalkit" not in browser.session_keys()


def test_without_csrf_checks_the_same_post_logs_in(world: World) -> None:
    # The proof the test above can fail: the same form passes once CSRF is not enforced.
    browser = world.browser(csrf=False)
    answer = browser.post("/portal/login/", {"login": "jane", "password": PASSWORD}, token=False)
    assert answer.status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "https:evil.example",
        "http://testserver/",
        "javascript:alert(1)",
    ],
)
def test_next_never_leads_off_the_site(world: World, target: str) -> None:
    answer = world.browser().login("jane", next_url=target)
    assert answer.status_code == 302
    assert answer["Location"] == "/"


def test_next_on_the_site_is_followed(world: World) -> None:
    answer = world.browser().login("jane", next_url="/orders?page=2")
    assert answer["Location"] == "/orders?page=2"


def test_the_throttle_counts_per_client_address(world: World) -> None:
    # Guesses at logins nobody has: only the client's count can lock jane's right password.
    guesser = world.browser("203.0.113.9")
    for n in range(3):
        assert guesser.login(f"nobody{n}", "wrong password here").status_code == 401
    assert guesser.login("jane").status_code == 401  # the guessing client is locked out
    assert world.browser("192.0.2.77").login("jane").status_code == 302


def test_a_forwarded_for_header_does_not_change_the_client(world: World) -> None:
    # X-Forwarded-For is the client's to write: a guesser varying it stays one client.
    for n in range(3):
        guesser = world.browser("203.0.113.9")
        guesser.client.defaults["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{n}"
        assert guesser.login(f"nobody{n}", "wrong password here").status_code == 401
    guesser = world.browser("203.0.113.9")
    guesser.client.defaults["HTTP_X_FORWARDED_FOR"] = "198.51.100.99"
    assert guesser.login("jane").status_code == 401


# -- languages ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "title"), [("en", "Log in"), ("nl", "Inloggen"), ("de", "Anmelden")]
)
def test_the_pages_speak_the_language_of_the_request(
    world: World, language: str, title: str
) -> None:
    browser = world.browser()
    browser.client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    assert f"<h1>{title}</h1>" in browser.get("/portal/login/").content.decode()


def test_portalkits_own_messages_follow_the_language_too(world: World) -> None:
    from portalkit import AuthenticationFailed

    texts = {}
    for language in ("en", "nl", "de"):
        browser = world.browser(f"192.0.2.{len(texts) + 20}")
        browser.client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
        page = browser.login(f"nobody-{language}", "wrong password here").content.decode()
        texts[language] = AuthenticationFailed().text(language)
        assert texts[language] in page
    assert len(set(texts.values())) == 3


def _catalog_entries(language: str) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with (_LOCALE / language / "LC_MESSAGES" / "django.po").open("rb") as po:
        return {m.id: m.string for m in read_po(po, locale=language) if m.id}


_LOCALE = Path(__file__).parent.parent / "examples/django/src/portalkit_django/locale"


@pytest.mark.parametrize("language", ["nl", "de"])
def test_every_message_is_translated_and_compiled(language: str) -> None:
    import gettext

    entries = _catalog_entries(language)
    sources = _LOCALE.parent
    said: set[str] = set()
    for template in (sources / "templates").rglob("*.html"):
        said |= set(re.findall(r'{% translate "([^"]+)" %}', template.read_text()))
    for module in sources.glob("*.py"):
        said |= set(re.findall(r'\b_\("([^"]+)"\)', module.read_text()))
    assert said and said <= set(entries), sorted(said - set(entries))
    assert all(entries.values()), [k for k, v in entries.items() if not v]
    with (_LOCALE / language / "LC_MESSAGES" / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    # The .mo Django reads is the .po's: `django-admin compilemessages` after every change.
    assert {k: compiled.gettext(k) for k in entries} == entries


# -- the other pages ------------------------------------------------------------------------
def _token_in_last_mail(world: World) -> str:
    world.portal.mail.wait()
    body = world.portal.mailer.outbox[-1].get_body(("plain",)).get_content()
    found = re.search(r"\?token=([\w-]+)", body)
    assert found
    return found.group(1)


def test_forgot_and_reset_password(world: World) -> None:
    browser = world.browser()
    answer = browser.post("/portal/forgot-password/", {"login": "jane"})
    assert "If this login exists" in answer.content.decode()
    token = _token_in_last_mail(world)
    assert browser.get(f"/portal/reset-password/?token={token}").status_code == 200
    new = "seven quiet orange ferries"
    done = browser.post(
        "/portal/reset-password/",
        {"token": token, "password": new, "confirm": new},
        form_at=f"/portal/reset-password/?token={token}",
    )
    assert done["Location"] == "/portal/login/"
    assert browser.login("jane", new).status_code == 302
    assert browser.get(f"/portal/reset-password/?token={token}").status_code == 404


def test_the_sessions_page_lists_this_browser_and_ends_another(world: World) -> None:
    from django.test import Client

    here = world.browser("192.0.2.10")
    there = Browser(
        Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.20", HTTP_USER_AGENT="Safari/18")
    )
    here.login("jane")
    there.login("jane")
    page = here.get("/portal/sessions/").content.decode()
    assert "198.51.100.20" in page and "Safari/18" in page and "This browser" in page
    account = world.memberships["jane"].account_id
    (other,) = [
        s
        for s in world.portal.sessions.list(world.staff, account=account)
        if s.client_key == "198.51.100.20"
    ]
    answer = here.post("/portal/sessions/", {"end": str(other.id)}, form_at="/portal/sessions/")
    assert answer.status_code == 302
    assert there.get("/whoami").status_code == 302  # logged out at once
    assert here.get("/whoami").status_code == 200
    stranger = world.browser()
    stranger.login("piet")
    (mine,) = world.portal.sessions.list(world.staff, account=account)
    refused = stranger.post("/portal/sessions/", {"end": str(mine.id)}, form_at="/portal/login/")
    assert refused.status_code == 404
    assert here.get("/whoami").status_code == 200


def test_switch_customer(world: World) -> None:
    portal, staff = world.portal, world.staff
    contact = portal.contacts.create(staff, customer=world.other, first_name="Jane", last_name="T")
    portal.memberships.create(
        staff,
        account=world.memberships["jane"].account_id,
        customer=world.other,
        contact=contact,
        kind="member",
        profile=world.full,
        status="active",  # an invited membership is no customer to switch to yet
    )
    browser = world.browser()
    browser.login("jane")
    page = browser.get("/portal/switch-customer/").content.decode()
    assert "Other Freight" in page and "Acme Transport" in page
    answer = browser.post(
        "/portal/switch-customer/", {"customer": str(world.other.id)}, form_at="/portal/login/"
    )
    assert answer.status_code == 302
    assert browser.get(f"/records/{world.other.id}").status_code == 200
    assert browser.get(f"/records/{world.acme.id}").status_code == 404
    stranger = world.browser()
    stranger.login("piet")
    refused = stranger.post(
        "/portal/switch-customer/", {"customer": str(world.other.id)}, form_at="/portal/login/"
    )
    assert refused.status_code == 404
    assert stranger.get(f"/records/{world.other.id}").status_code == 404


def test_view_as_customer_shows_the_banner_and_ends(world: World) -> None:
    from django.conf import settings
    from portalkit_django.apps import get_portal

    _STAFF_IN_BROWSER["staff"] = world.staff
    actor = get_portal().access.view_as(
        world.staff, world.memberships["jane"], reason="ticket 12", minutes=10
    )
    browser = world.browser()
    session = browser.client.session
    session["portalkit_view_as"] = {
        "m": str(actor.membership_id),
        "a": str(actor.account_id),
        "c": str(actor.customer_id),
        "by": actor.impersonator,
        "ro": actor.read_only,
        "until": actor.expires_at.isoformat(),
    }
    session.save()
    browser.client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    page = browser.get("/portal/switch-customer/").content.decode()
    assert "viewing the portal as a customer" in page
    assert browser.get("/orders/new").status_code == 403  # read only
    _STAFF_IN_BROWSER["staff"] = None  # the host no longer vouches for the staff member
    assert browser.get("/whoami").status_code == 302
