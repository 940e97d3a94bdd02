"""The demo portal: a transport firm's customer portal, built on portalkit-flask.

Everything a real host would write itself is here, and small: its orders table, its pages, its
own log-in for vendor staff (demo only: one known password). Access decisions, logins,
sessions, invitations and mail are portalkit's.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import json
import queue
import re
import secrets
import threading
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_template,
    stream_with_context,
    url_for,
)
from markupsafe import Markup, escape

from portalkit import (
    ConcurrentModification,
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    PortalError,
    RateLimited,
    Staff,
    ValidationError,
    presets,
)
from portalkit.errors import Message
from portalkit.provisioning import ProvisioningFailed, ProvisionRequest, Step
from portalkit.staffrights import STAFF_PERMISSIONS
from portalkit_flask import (
    Portalkit,
    current_portal,
    document_response,
    end_view_as,
    get_access,
    get_member,
    get_staff,
    login_required,
    requires,
    start_view_as,
    visible_fields,
    visible_or_404,
)
from portalkit_flask.demo import data
from portalkit_flask.i18n import gettext as _
from portalkit_flask.i18n import request_language

__all__ = ["create_app"]

DATABASE = "portalkit-demo.db"
MAIL_DIR = "portalkit-demo-mail"
ASSETS = "portalkit-demo-assets"
SECRETS = "portalkit-demo-secrets.json"

# Customers without a stored logo (branding assets) may have one the demo ships, by code.
_LOGOS = Path(__file__).parent / "static" / "logos"
_COLUMNS = ["reference", "date", "pickup", "delivery", "status", "carrier", "rate"]


def _secrets(folder: Path) -> dict[str, str]:
    """The demo's keys, made on first start and kept beside its database."""
    path = folder / SECRETS
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    made = {
        "flask": secrets.token_urlsafe(32),
        "portalkit": secrets.token_urlsafe(32),
        "mail": Fernet.generate_key().decode(),
    }
    path.write_text(json.dumps(made), encoding="utf-8")
    path.chmod(0o600)
    return made


def _demo_staff() -> Staff | None:
    # The host authenticates its own staff; the demo's is one login with the demo password.
    if session.get("demo_staff") != data.STAFF_LOGIN:
        return None
    return Staff(
        vendor_id=current_app.extensions["demo"]["vendor_id"],
        user_id=data.STAFF_LOGIN,
        name="Pat Planner",
        # The demo's one planner may do everything, viewing as a customer included; a real
        # host gives each employee the permissions it holds (portalkit.staffrights).
        permissions=STAFF_PERMISSIONS,
    )


def create_app(
    folder: Path | str = ".", *, base_url: str = "http://127.0.0.1:5000", **config: Any
) -> Flask:
    """The demo application, its SQLite database and mail folder in ``folder`` (filled on
    first start, reused afterwards)."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    keys = _secrets(folder)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=keys["flask"],
        PORTALKIT_DATABASE_URL=f"sqlite:///{folder / DATABASE}",
        PORTALKIT_MAIL_BACKEND="file",
        PORTALKIT_MAIL_FILE_DIR=str(folder / MAIL_DIR),
        PORTALKIT_MAIL_ENCRYPTION_KEY=keys["mail"],
        PORTALKIT_SECRET_KEY=keys["portalkit"],
        PORTALKIT_BASE_URL=base_url,
        PORTALKIT_PORTAL_NAME="Snelweg Transport customer portal",
        PORTALKIT_MAIL_FROM="portal@snelweg-transport.example",
        # Demo only: it is served over plain HTTP on 127.0.0.1. A real portal keeps the
        # default (Secure cookies outside debug) behind HTTPS.
        PORTALKIT_SESSION_COOKIE_SECURE=False,
        # Demo only: its logins get the known password printed at start (portalkit.testing's
        # seed_login refuses without this switch; a real portal invites its people).
        PORTALKIT_SEED_KNOWN_PASSWORDS=True,
        # Documents' bytes: the filesystem asset store, beside the database.
        PORTALKIT_ASSET_DIR=str(folder / ASSETS),
    )
    app.config.update(config)
    kit = Portalkit(app, staff_loader=_demo_staff)
    with app.app_context():
        portal = kit.portal
    data.register(portal)
    engine = sa.create_engine(f"sqlite:///{folder / DATABASE}")
    vendor = portal.default_vendor("Snelweg Transport")
    platform = Staff(vendor_id=vendor.id, user_id="demo-setup", permissions=STAFF_PERMISSIONS)
    _staff_directory(portal, platform)
    app.extensions["demo"] = {
        "engine": engine,
        "mail": folder / MAIL_DIR,
        "created": data.seed(portal, engine, platform),
        "vendor_id": platform.vendor_id,
        "profiles": {p.id: p for p in portal.profiles.list(platform)},
    }
    _routes(app)
    return app


def _staff_directory(portal: Any, platform: Staff) -> None:
    """The vendor's staff directory and inbox address (inbox items are assigned to and
    mailed from it), made on first start."""
    try:
        portal.staff.get(platform, data.STAFF_LOGIN)
    except NotFound:
        portal.staff.add(
            platform, user_id=data.STAFF_LOGIN, name="Pat Planner", email="pat@snelweg.example"
        )
        portal.staff.set_inbox_address(platform, "inbox@snelweg.example")


def _me() -> Any:
    """This request's member: the adapter has entered ``portal.access.using()`` with its
    context, so calls given the member reuse that context (typed code passes actors)."""
    member = get_member()
    assert member is not None
    return member


def _errors(exc: ValidationError) -> list[str]:
    language = request_language()
    return [f"{p.field}: {p.text(language)}" for p in exc.problems]


def _engine() -> sa.Engine:
    return current_app.extensions["demo"]["engine"]  # type: ignore[no-any-return]


def _profiles() -> dict[UUID | None, Any]:
    return current_app.extensions["demo"]["profiles"]  # type: ignore[no-any-return]


def _customer() -> Any:
    if "demo_customer" not in g:
        member = get_member()
        g.demo_customer = (
            current_portal.customers.get(member, member.customer_id) if member is not None else None
        )
    return g.demo_customer


def _visible_orders(limit: int | None = None) -> list[dict[str, Any]]:
    """The member's orders with only the columns it may see: rates never leave the database
    for a member without ``prices.view``."""
    context = get_access()
    assert context is not None
    hidden = context.hidden_fields("orders")
    columns = [c for c in data.orders.c if c.name not in hidden]
    query = context.filter(sa.select(*columns), "orders").order_by(
        data.orders.c.date.desc(), data.orders.c.id.desc()
    )
    if limit is not None:
        query = query.limit(limit)
    with _engine().connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def _money(value: Any) -> str:
    return f"€ {value:,.2f}"


def _linked(text: str) -> Markup:
    """Plain mail text with its http(s) links clickable (escaped first)."""
    escaped = str(escape(text))
    return Markup(
        re.sub(r"(https?://[^\s<>&]+(?:&amp;[^\s<>&]+)*)", r'<a href="\1">\1</a>', escaped)
    )


def _logo(customer: Any) -> str | None:
    """Where the customer's logo is: its own branding asset (stored by portalkit, served by
    the adapter's public route), else one the demo ships, else an https URL; None: none."""
    if customer is None:
        return None
    if customer.branding.logo_asset_id:
        return url_for("portalkit.branding_asset", asset_id=customer.branding.logo_asset_id)
    if (_LOGOS / f"{customer.code}.svg").is_file():
        return url_for("static", filename=f"logos/{customer.code}.svg")
    return customer.branding.logo_url or None


_NEW_CUSTOMER = (
    "code",
    "name",
    "street",
    "postal_code",
    "city",
    "country",
    "admin_username",
    "admin_email",
    "copy_from",
)


def _request_of(form: dict[str, str]) -> ProvisionRequest:
    """The form as a provisioning request; checking it is the run's first step, not the
    view's. Empty optional parts are left out (no address, admin, copy or logo)."""
    address = {k: form[k] for k in ("street", "postal_code", "city", "country")}
    upload = request.files.get("logo")
    logo = upload.read() if upload is not None and upload.filename else None
    admin = None
    if form["admin_username"] or form["admin_email"]:
        admin = {"username": form["admin_username"], "email": form["admin_email"]}
    return ProvisionRequest(
        code=form["code"],
        name=form["name"],
        addresses=[{**address, "default_delivery": True}] if any(address.values()) else [],
        copy_from=form["copy_from"] or None,
        logo=logo,
        admin=admin,
    )


class _ProvisioningRun:
    """One run in a worker thread, its progress handed to the streamed page through a queue:
    the page draws each step as it changes while the run's transaction is open."""

    def __init__(self, portal: Any, staff: Staff, wanted: ProvisionRequest) -> None:
        self._portal, self._staff, self._wanted = portal, staff, wanted
        self._queue: queue.Queue[Step | None] = queue.Queue()
        self.steps: dict[str, Step] = {}
        self.summary: Any = None
        self.failed: PortalError | None = None
        self.failed_step: str = ""

    def _work(self) -> None:
        try:
            self.summary = self._portal.provisioning.provision(
                self._staff, self._wanted, progress=self._queue.put
            )
        except ProvisioningFailed as exc:
            self.failed, self.failed_step = exc, exc.step.value
        except PortalError as exc:  # refused before any step (the actor's rights)
            self.failed = exc
        finally:
            self._queue.put(None)

    def changes(self) -> Iterator[Step]:
        """Every step change as it happens; afterwards :attr:`summary` or :attr:`failed`."""
        worker = threading.Thread(target=self._work, name="demo-provisioning", daemon=True)
        worker.start()
        while (step := self._queue.get()) is not None:
            self.steps[step.name.value] = step
            yield step
        worker.join()

    def error(self, language: str) -> str:
        """Why the run stopped, in ``language``."""
        return self.failed.text(language) if self.failed is not None else ""


def _routes(app: Flask) -> None:
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["linked"] = _linked

    @app.context_processor
    def _layout() -> dict[str, Any]:
        return {"customer": _customer(), "logo": _logo(_customer())}

    @app.get("/")
    def home() -> Any:
        if get_member() is None:
            if get_staff() is not None:
                return redirect(url_for("vendor_customers"))
            return redirect(url_for("portalkit.login"))
        context = get_access()
        assert context is not None
        every = _visible_orders() if context.can("orders.view") else []
        total = None
        if context.can("prices.view") and every:
            total = sum((o["rate"] for o in every), start=0)
        return render_template(
            "demo/dashboard.html", latest=every[:5], count=len(every), total=total
        )

    @app.get("/orders")
    @requires("orders.view")
    def orders() -> Any:
        rows = _visible_orders()
        return render_template(
            "demo/orders.html", rows=rows, columns=visible_fields("orders", _COLUMNS)
        )

    @app.get("/orders/<int:order_id>")
    @requires("orders.view")
    def order(order_id: int) -> Any:
        with _engine().connect() as connection:
            row = connection.execute(
                sa.select(data.orders).where(data.orders.c.id == order_id)
            ).first()
        record = visible_or_404(dict(row._mapping) if row else None, "orders")
        context = get_access()
        assert context is not None
        shown = context.redact(record, "orders")
        return render_template(
            "demo/order.html", order=shown, columns=visible_fields("orders", _COLUMNS)
        )

    @app.route("/orders/new", methods=["GET", "POST"])
    @requires("orders.create")
    def new_order() -> Any:
        member = get_member()
        assert member is not None
        errors: list[str] = []
        form = {k: request.form.get(k, "").strip() for k in ("reference", "pickup", "delivery")}
        if request.method == "POST":
            labels = {
                "reference": _("Your reference"),
                "pickup": _("Pick-up address"),
                "delivery": _("Delivery address"),
            }
            errors = [_("%(field)s: required", field=labels[k]) for k, v in form.items() if not v]
            errors += [
                _("%(field)s: at most 100 characters", field=labels[k])
                for k, v in form.items()
                if len(v) > 100
            ]
            if not errors:
                with _engine().begin() as connection:
                    connection.execute(
                        data.orders.insert().values(
                            customer_id=member.customer_id,
                            created_by=member.account_id,
                            reference=form["reference"][:50],
                            pickup=form["pickup"],
                            delivery=form["delivery"],
                            date=dt.date.today(),
                            status="new",
                            carrier=None,
                            rate=data.rate_for(form["pickup"], form["delivery"]),
                        )
                    )
                flash(_("Order %(reference)s placed.", reference=form["reference"]))
                return redirect(url_for("orders"))
        return render_template("demo/new_order.html", form=form, errors=errors)

    @app.get("/orders.csv")
    @requires("export")
    def export_orders() -> Any:
        context = get_access()
        assert context is not None
        stream = io.StringIO()
        context.export(_visible_orders(), "orders", stream)
        return Response(
            stream.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=orders.csv"},
        )

    @app.get("/invoices")
    @requires("invoices.view", "prices.view")
    def invoices() -> Any:
        months: dict[str, Any] = {}
        for row in _visible_orders():
            if row["status"] == "delivered":
                key = row["date"].strftime("%Y-%m")
                months[key] = months.get(key, 0) + row["rate"]
        return render_template("demo/invoices.html", months=sorted(months.items(), reverse=True))

    @app.get("/account")
    @login_required
    def account() -> Any:
        member = get_member()
        assert member is not None
        login = current_portal.accounts.get(member, member.account_id)
        membership = current_portal.memberships.get(member, member.membership_id)
        person = current_portal.contacts.get(member, membership.contact_id)
        others = (
            len(current_portal.access.memberships(member)) if member.impersonator is None else 1
        )
        return render_template(
            "demo/account.html",
            login=login,
            person=person,
            profile=_profiles().get(membership.profile_id),
            others=others,
        )

    @app.route("/admin/logins", methods=["GET", "POST"])
    @requires("members.manage")
    def admin_logins() -> Any:
        member = get_member()
        assert member is not None
        choices = {
            p.name: p
            for p in _profiles().values()
            if p.name
            in {
                presets.TRANSPORT_FULL.name,
                presets.TRANSPORT_LIMITED.name,
                presets.TRANSPORT_READ_ONLY.name,
                presets.TRANSPORT_FULL_WITH_CARRIER.name,
            }
        }
        errors: list[str] = []
        form = {
            k: request.form.get(k, "").strip()
            for k in ("first_name", "last_name", "email", "profile")
        }
        if request.method == "POST":
            profile = choices.get(form["profile"])
            if profile is None:
                errors = [_("choose the rights of the new login")]
            else:
                try:
                    current_portal.logins.add(
                        member,
                        customer=member.customer_id,
                        email=form["email"],
                        first_name=form["first_name"],
                        last_name=form["last_name"],
                        profile=profile,
                    )
                except ValidationError as exc:
                    language = request_language()
                    errors = [f"{p.field}: {p.text(language)}" for p in exc.problems]
                except (PermissionDenied, Conflict, RateLimited) as exc:
                    errors = [exc.text(request_language())]
                else:
                    flash(
                        _(
                            "%(name)s is invited: the invitation is in the demo mailbox.",
                            name=f"{form['first_name']} {form['last_name']}",
                        )
                    )
                    return redirect(url_for("admin_logins"))
        people = []
        for membership in current_portal.memberships.list(member, customer=member.customer_id):
            person = current_portal.contacts.get(member, membership.contact_id)
            people.append((person, membership, _profiles().get(membership.profile_id)))
        return render_template(
            "demo/admin_logins.html",
            people=people,
            choices=sorted(choices),
            form=form,
            errors=errors,
        )

    # -- pest control: the logbook per site, and the main account's site rights ------------
    def _sites(context: Any) -> dict[UUID, Any]:
        """The sites whose logbook the member may read, by id."""
        return {site.id: site for site in current_portal.locations.reachable(context, "logbook")}

    @app.route("/logbook", methods=["GET", "POST"])
    @requires("logbook.view")
    def logbook() -> Any:
        member = get_member()
        context = get_access()
        assert member is not None and context is not None
        sites = _sites(context)
        # Only sites the member may write at are offered, and the POST is checked again.
        writable = {i: s for i, s in sites.items() if context.allows("logbook.write", location=i)}
        errors: list[str] = []
        form = {k: request.form.get(k, "").strip() for k in ("site", "kind", "text")}
        if request.method == "POST":
            try:
                site_id = UUID(form["site"])
            except ValueError:
                abort(404)
            if site_id not in writable:
                abort(403)
            if form["kind"] not in ("visit", "finding", "recommendation"):
                errors.append(_("choose what kind of note this is"))
            if not 1 <= len(form["text"]) <= 500:
                errors.append(_("%(field)s: 1 to 500 characters", field=_("Note")))
            if not errors:
                with _engine().begin() as connection:
                    connection.execute(
                        data.logbook.insert().values(
                            customer_id=writable[site_id].customer_id,
                            location_id=site_id,
                            created_by=member.account_id,
                            date=dt.date.today(),
                            kind=form["kind"],
                            text=form["text"],
                        )
                    )
                flash(_("Note added to the logbook of %(site)s.", site=writable[site_id].name))
                return redirect(url_for("logbook"))
        query = context.filter(sa.select(data.logbook), "logbook").order_by(
            data.logbook.c.date.desc(), data.logbook.c.id.desc()
        )
        with _engine().connect() as connection:
            entries = [dict(row._mapping) for row in connection.execute(query.limit(200))]
        return render_template(
            "demo/logbook.html",
            entries=entries,
            sites=sites,
            writable=writable,
            form=form,
            errors=errors,
        )

    @app.route("/admin/sites", methods=["GET", "POST"])
    @requires("members.manage", "logbook.view")
    def admin_sites() -> Any:
        member = get_member()
        context = get_access()
        assert member is not None and context is not None
        sites = _sites(context)
        extras = [
            m
            for m in current_portal.memberships.list(member, customer=member.customer_id)
            if m.kind.value == "extra"
        ]
        if request.method == "POST":
            try:
                chosen = next(m for m in extras if str(m.id) == request.form.get("membership"))
            except StopIteration:
                abort(404)
            works_for = {chosen.customer_id, *chosen.customer_grants}
            grants = {}
            for site_id in (i for i, site in sites.items() if site.customer_id in works_for):
                right = request.form.get(f"site-{site_id}", "none")
                if right in ("read", "write"):
                    grants[site_id] = right
            try:
                current_portal.memberships.update(member, chosen.id, location_grants=grants)
            except (ValidationError, PermissionDenied) as exc:
                flash(exc.text(request_language()))
            else:
                person = current_portal.contacts.get(member, chosen.contact_id)
                flash(_("The site rights of %(name)s are saved.", name=person.full_name))
            return redirect(url_for("admin_sites"))
        people = []
        for membership in extras:
            person = current_portal.contacts.get(member, membership.contact_id)
            rights = {g.location_id: g.access.value for g in membership.location_grants}
            # Sites of the customers the extra account works for (its own and granted ones).
            works_for = {membership.customer_id, *membership.customer_grants}
            mine = {i: site for i, site in sites.items() if site.customer_id in works_for}
            people.append((person, membership, rights, mine))
        return render_template("demo/admin_sites.html", people=people, sites=sites)

    # -- field service: documents and work requests --------------------------------------
    @app.get("/documents")
    @requires("documents.view")
    def documents() -> Any:
        context = get_access()
        assert context is not None
        shown = current_portal.documents.list(_me())
        # A link signed for this member, valid for an hour: not a permanent share URL.
        links = {d.id: current_portal.documents.link(_me(), d) for d in shown}
        return render_template("demo/documents.html", documents=shown, links=links)

    @app.get("/documents/open/<token>")
    @login_required
    def open_document(token: str) -> Any:
        context = get_access()
        assert context is not None
        try:
            document, content = current_portal.documents.open(_me(), token)
        except InvalidToken:
            abort(404)
        return document_response(document, content)

    @app.route("/work-requests", methods=["GET", "POST"])
    @requires("work_requests.create")
    def work_requests() -> Any:
        context = get_access()
        assert context is not None
        sites = [
            site
            for site in current_portal.locations.reachable(_me(), "work_requests")
            if context.allows("work_requests.create", location=site.id)
        ]
        errors: list[str] = []
        form = {k: request.form.get(k, "").strip() for k in ("site", "subject", "notes", "wish")}
        if request.method == "POST":
            wished = None
            if form["wish"]:
                try:
                    wished = dt.datetime.fromisoformat(form["wish"]).replace(tzinfo=dt.UTC)
                except ValueError:
                    errors.append(_("%(field)s: not a date and time", field=_("Wished for")))
            if not errors:
                try:
                    current_portal.work_requests.create(
                        _me(),
                        subject=form["subject"],
                        location=form["site"],
                        notes=form["notes"],
                        wished_at=wished,
                    )
                except ValidationError as exc:
                    errors = _errors(exc)
                except (PermissionDenied, NotFound):
                    abort(403)
                else:
                    flash(_("Work request sent: the planner will schedule it."))
                    return redirect(url_for("work_requests"))
        names = {
            site.id: site.name
            for site in current_portal.locations.reachable(_me(), "work_requests")
        }
        return render_template(
            "demo/work_requests.html",
            requests=current_portal.work_requests.list(_me()),
            sites=sites,
            names=names,
            form=form,
            errors=errors,
        )

    # -- service desk: tickets ------------------------------------------------------------
    @app.route("/tickets", methods=["GET", "POST"])
    @requires("tickets.view")
    def tickets() -> Any:
        context = get_access()
        assert context is not None
        errors: list[str] = []
        form = {k: request.form.get(k, "").strip() for k in ("subject", "text")}
        if request.method == "POST":
            if not context.can("tickets.create"):
                abort(403)
            try:
                made = current_portal.tickets.create(
                    _me(), subject=form["subject"], text=form["text"]
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                flash(_("Ticket %(subject)s filed.", subject=made.subject))
                return redirect(url_for("ticket", ticket_id=made.id))
        return render_template(
            "demo/tickets.html",
            tickets=current_portal.tickets.list(_me()),
            form=form,
            errors=errors,
        )

    @app.route("/tickets/<uuid:ticket_id>", methods=["GET", "POST"])
    @requires("tickets.view")
    def ticket(ticket_id: UUID) -> Any:
        context = get_access()
        assert context is not None
        found = current_portal.tickets.get(_me(), ticket_id)  # NotFound: 404
        errors: list[str] = []
        if request.method == "POST":
            try:
                action = request.form.get("action")
                if action == "close":
                    current_portal.tickets.close(_me(), found)
                elif action == "attach":
                    upload = request.files.get("file")
                    current_portal.tickets.attach(
                        _me(),
                        found,
                        name=(upload.filename or "") if upload else "",
                        data=upload.read() if upload else b"",
                    )
                else:
                    current_portal.tickets.comment(_me(), found, request.form.get("text", ""))
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                return redirect(url_for("ticket", ticket_id=ticket_id))
        return render_template(
            "demo/ticket.html",
            ticket=current_portal.tickets.get(_me(), ticket_id),
            comments=current_portal.tickets.comments(_me(), ticket_id),
            attachments=current_portal.tickets.attachments(_me(), ticket_id),
            errors=errors,
        )

    @app.get("/tickets/<uuid:ticket_id>/files/<uuid:file_id>")
    @requires("tickets.view")
    def ticket_file(ticket_id: UUID, file_id: UUID) -> Any:
        attachment, content = current_portal.tickets.attachment(_me(), ticket_id, file_id)
        return document_response(attachment, content)

    # -- the shop and the printer shop (DoIT) ----------------------------------------------
    def _may_shop() -> Any:
        context = get_access()
        if context is None or not (context.can("shop.order") or context.can("quotes.request")):
            abort(403)
        return context

    @app.get("/shop")
    @login_required
    def shop() -> Any:
        context = _may_shop()
        text = request.args.get("q", "").strip()[:100] or None
        try:
            found = current_portal.shop.catalogue(context, text=text, limit=50)
        except PermissionDenied:
            abort(403)
        return render_template("demo/shop.html", page=found, q=text or "")

    @app.get("/shop/printers")
    @login_required
    def printer_shop() -> Any:
        context = _may_shop()
        return render_template(
            "demo/printer_shop.html",
            devices=current_portal.shop.printer_shop(context),
            prices=current_portal.shop.prices_shown(context),
        )

    @app.route("/cart", methods=["GET", "POST"])
    @login_required
    def cart() -> Any:
        context = _may_shop()
        if request.method == "POST":
            action = request.form.get("action", "")
            try:
                if action == "add":
                    quantity = int(request.form.get("quantity", "1") or "1")
                    current_portal.cart.add(context, request.form.get("item", ""), quantity)
                    flash(_("Added to your cart."))
                elif action == "clear":
                    current_portal.cart.clear(context)
                elif action == "checkout":
                    made = current_portal.cart.checkout(
                        context, reference=request.form.get("reference", "")
                    )
                    flash(_("Sent as %(number)s.", number=made.number))
                    return redirect(url_for("quotes"))
            except ValueError:
                flash(_("the quantity must be a whole number"))
            except ValidationError as exc:
                for line in _errors(exc):
                    flash(line)
            except (NotFound, PermissionDenied):
                abort(404)
            return redirect(
                (request.form.get("back") == "shop" and url_for("shop")) or url_for("cart")
            )
        return render_template(
            "demo/cart.html",
            view=current_portal.cart.view(context),
            prices=current_portal.shop.prices_shown(context),
        )

    @app.route("/quotes", methods=["GET", "POST"])
    @login_required
    def quotes() -> Any:
        context = _may_shop()
        if request.method == "POST":
            quote_id = request.form.get("quote", "")
            try:
                if request.form.get("action") == "accept":
                    order = current_portal.quotes.accept(context, quote_id)
                    flash(_("Quote accepted: order %(number)s is placed.", number=order.number))
                else:
                    current_portal.quotes.decline(context, quote_id)
                    flash(_("Quote declined."))
            except ValidationError as exc:
                for line in _errors(exc):
                    flash(line)
            except (NotFound, PermissionDenied):
                abort(404)
            return redirect(url_for("quotes"))
        return render_template("demo/quotes.html", quotes=current_portal.quotes.list(context))

    # -- the demo mailbox (demo only: a real portal's mail goes to people, not to a page) ----
    @app.get("/mailbox")
    def mailbox() -> Any:
        folder: Path = app.extensions["demo"]["mail"]
        files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
        # The demo's own logins are everyone's (their password is printed): their mail, with
        # its reset links, is for the staff login only, or anyone could take them over.
        demo_addresses = data.demo_addresses()
        everything = _demo_staff() is not None
        messages = []
        for path in files[:100]:
            with path.open("rb") as handle:
                message = BytesParser(policy=policy.default).parse(handle)
            if not everything and str(message["To"]).lower() in demo_addresses:
                continue
            body = message.get_body(("plain",))
            messages.append(
                {
                    "to": message["To"],
                    "subject": message["Subject"],
                    "date": message["Date"],
                    "body": body.get_content() if body is not None else "",
                }
            )
        return render_template("demo/mailbox.html", messages=messages)

    # -- vendor side ------------------------------------------------------------------------
    @app.route("/vendor/login", methods=["GET", "POST"])
    def vendor_login() -> Any:
        error = ""
        if request.method == "POST":
            right = hmac.compare_digest(
                request.form.get("login", "").encode(), data.STAFF_LOGIN.encode()
            ) & hmac.compare_digest(
                request.form.get("password", "").encode(), data.DEMO_PASSWORD.encode()
            )
            if right:
                session.clear()
                session["demo_staff"] = data.STAFF_LOGIN
                return redirect(url_for("vendor_customers"))
            error = _("the username or password is not correct")
        return render_template("demo/vendor_login.html", error=error), 401 if error else 200

    @app.post("/vendor/logout")
    def vendor_logout() -> Any:
        end_view_as()  # recorded in the audit log, if one is running
        session.clear()
        return redirect(url_for("vendor_login"))

    def _staff() -> Staff:
        staff = get_staff()
        if staff is None:
            abort(redirect(url_for("vendor_login")))
        return staff

    @app.get("/vendor/customers")
    def vendor_customers() -> Any:
        staff = _staff()
        customers = current_portal.customers.list(staff)
        return render_template("demo/vendor_customers.html", customers=customers)

    @app.route("/vendor/customers/new", methods=["GET", "POST"])
    def vendor_new_customer() -> Any:
        """The create-customer screen: one form, then the provisioning run's steps, streamed
        to the browser as each one changes, then the summary (or the step that failed)."""
        staff = _staff()
        customers = current_portal.customers.list(staff, limit=1000)
        form = {k: request.form.get(k, "").strip() for k in _NEW_CUSTOMER}
        if request.method == "GET":
            return render_template("demo/vendor_new_customer.html", form=form, customers=customers)
        # The worker thread has no app context: it gets the portal itself, not the proxy.
        portal = current_portal._get_current_object()  # type: ignore[attr-defined]
        run = _ProvisioningRun(portal, staff, _request_of(form))
        language = request_language()
        return Response(
            stream_with_context(
                stream_template(
                    "demo/vendor_provisioning.html",
                    changes=run.changes(),
                    run=run,
                    label=lambda step: Message(step.label).text(language),
                )
            ),
            # Each step's row leaves at once, not when a proxy's buffer is full.
            headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
        )

    @app.get("/vendor/customers/<code>")
    def vendor_customer(code: str) -> Any:
        staff = _staff()
        customer = current_portal.customers.get_by_code(staff, code)  # NotFound: 404
        people = []
        for membership in current_portal.memberships.list(staff, customer=customer):
            person = current_portal.contacts.get(staff, membership.contact_id)
            login = current_portal.accounts.get(staff, membership.account_id)
            people.append((person, login, membership, _profiles().get(membership.profile_id)))
        return render_template("demo/vendor_customer.html", shown=customer, people=people)

    @app.get("/vendor/customers/<code>/review")
    def vendor_review(code: str) -> Any:
        """The access review of a customer and the customers below it: who can do what."""
        staff = _staff()
        customer = current_portal.customers.get_by_code(staff, code)  # NotFound: 404
        if request.args.get("format") == "csv":
            out = io.StringIO()
            current_portal.review.write_csv(staff, out, customer=customer, tree=True)
            return Response(
                out.getvalue(),
                mimetype="text/csv",
                headers={
                    "Content-Disposition": f"attachment; filename=access-review-{code}.csv",
                    "Cache-Control": "private, no-store",
                },
            )
        rows = current_portal.review.rows(staff, customer=customer, tree=True)
        return render_template("demo/vendor_review.html", shown=customer, rows=rows)

    @app.get("/vendor/audit")
    def vendor_audit() -> Any:
        """The vendor's audit log, newest first (the demo's is small enough to read whole)."""
        staff = _staff()
        events: list[Any] = []
        while True:  # oldest first, a page at a time
            found = current_portal.audit.list(staff, limit=1000, offset=len(events))
            events += found
            if len(found) < 1000:
                break
        customers = {c.id: c for c in current_portal.customers.list(staff, limit=1000)}
        return render_template(
            "demo/vendor_audit.html", events=events[::-1][:200], customers=customers
        )

    @app.get("/vendor/inbox")
    def vendor_inbox() -> Any:
        staff = _staff()
        kind = request.args.get("kind") or None
        status = request.args.get("status") or None
        try:
            items = current_portal.inbox.list(staff, kind=kind, status=status, limit=50)
        except ValidationError:
            abort(404)
        return render_template(
            "demo/vendor_inbox.html",
            items=items,
            kinds=sorted(current_portal.inbox.kinds),
            kind=kind,
            status=status,
            customers={c.id: c for c in current_portal.customers.list(staff, limit=1000)},
        )

    @app.route("/vendor/inbox/<uuid:item_id>", methods=["GET", "POST"])
    def vendor_inbox_item(item_id: UUID) -> Any:
        staff = _staff()
        item = current_portal.inbox.get(staff, item_id)  # NotFound: 404
        if request.method == "POST":
            action = request.form.get("action", "")
            try:
                if action == "claim":
                    current_portal.inbox.claim(staff, item)
                elif action == "send_quote":
                    quote = current_portal.quotes.get(staff, item.reference)
                    current_portal.quotes.send(
                        staff,
                        quote,
                        prices={
                            line.item_id: request.form.get(f"price-{line.item_id}", "")
                            for line in quote.lines
                        },
                        currency="EUR",
                        valid_until=dt.date.today() + dt.timedelta(days=30),
                    )
                    flash(_("Quote %(number)s sent to the customer.", number=quote.number))
                elif action == "comment":
                    current_portal.inbox.comment(
                        staff,
                        item,
                        request.form.get("text", ""),
                        internal=request.form.get("internal") == "on",
                    )
                else:
                    current_portal.inbox.set_status(staff, item, action)
            except (ValidationError, ConcurrentModification) as exc:
                flash(exc.text(request_language()))
            return redirect(url_for("vendor_inbox_item", item_id=item_id))
        quote = None
        if item.kind == "quote_request":
            quote = current_portal.quotes.get(staff, item.reference)
        return render_template(
            "demo/vendor_inbox_item.html",
            quote=quote,
            item=item,
            comments=current_portal.inbox.comments(staff, item),
            customer=current_portal.customers.get(staff, item.customer_id)
            if item.customer_id
            else None,
        )

    @app.post("/vendor/view-as/<uuid:membership_id>")
    def vendor_view_as(membership_id: UUID) -> Any:
        staff = _staff()
        try:
            start_view_as(
                staff, membership_id, reason="demo: looking at the portal as the customer"
            )
        except PermissionDenied as exc:
            flash(exc.text(request_language()))
            return redirect(request.referrer or url_for("vendor_customers"))
        return redirect(url_for("home"))

    @app.errorhandler(403)
    def forbidden(exc: Any) -> Any:
        return render_template("demo/error.html", code=403, text=_("You may not do this.")), 403

    @app.errorhandler(404)
    def not_found(exc: Any) -> Any:
        return render_template("demo/error.html", code=404, text=_("There is nothing here.")), 404
