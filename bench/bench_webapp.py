"""The three Flask applications ``bench_web.py`` serves with gunicorn: one orders page, three
ways of deciding who sees it. Not a benchmark itself: ``bench_web.py`` builds the database and
starts each variant with ``BENCH_WEB_VARIANT`` and ``BENCH_WEB_FOLDER`` set.

``open``
    No log-in at all: the page shows the orders of one fixed customer. The ceiling.
``flask-login``
    What a developer would otherwise build: Flask-Login, the user loaded through the SQLAlchemy
    ORM on every request, and hand-written checks (may see orders? may see rates?).
``portalkit``
    The portalkit Flask adapter: the session checked and the access context built once per
    request, ``@requires("orders.view")``, and ``current_access.select("orders")``, which
    narrows the rows to the member's customers and drops the rate column for a member without
    ``prices.view``.

All three render the same Jinja template with the same 50 orders.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, current_app, request
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

PAGE = 50
PASSWORD = "cargo bicycle tulip harbour"
SECRET = "a benchmark secret, the same for every variant"

TEMPLATE = """<!doctype html>
<title>Orders</title>
<table>
<tr><th>Reference</th><th>Pick-up</th><th>Delivery</th><th>Date</th><th>Status</th>
{% if show_rates %}<th>Rate</th>{% endif %}</tr>
{% for order in orders %}
<tr><td>{{ order.reference }}</td><td>{{ order.pickup }}</td><td>{{ order.delivery }}</td>
<td>{{ order.date }}</td><td>{{ order.status }}</td>
{% if show_rates %}<td>{{ order.rate }}</td>{% endif %}</tr>
{% endfor %}
</table>
<p>{{ orders | length }} orders</p>
"""


class Base(DeclarativeBase):
    """The host's own tables."""


class Order(Base):
    """The host's orders; ``customer_id`` is a portalkit customer's id."""

    __tablename__ = "orders"
    __table_args__ = (sa.Index("ix_orders_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # A Uuid column, as portalkit's own ids: portalkit's filter binds UUIDs, which SQLite
    # stores as 32 hex digits; a VARCHAR of the hyphenated text would match no row (and
    # show nothing: the check fails closed).
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    reference: Mapped[str] = mapped_column(sa.String(30))
    pickup: Mapped[str] = mapped_column(sa.String(100))
    delivery: Mapped[str] = mapped_column(sa.String(100))
    date: Mapped[dt.date]
    status: Mapped[str] = mapped_column(sa.String(20))
    rate: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    created_at: Mapped[dt.datetime]


class User(Base):
    """The flask-login variant's users: what a hand-built portal keeps per login."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(50), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    active: Mapped[bool]
    may_view_orders: Mapped[bool]
    may_view_rates: Mapped[bool]

    # Flask-Login's user protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


def _folder() -> Path:
    return Path(os.environ["BENCH_WEB_FOLDER"])


def _customer_id() -> uuid.UUID:
    return uuid.UUID((_folder() / "customer_id").read_text().strip())


def _page(orders: Any, show_rates: bool) -> str:
    # Compiled once per application, as a real template file is (render_template caches).
    template = current_app.extensions.get("bench_template")
    if template is None:
        template = current_app.extensions["bench_template"] = current_app.jinja_env.from_string(
            TEMPLATE
        )
    return str(template.render(orders=orders, show_rates=show_rates))


def open_app() -> Flask:
    """No log-in: the orders of one customer, as anyone could fetch them."""
    app = Flask("bench-open")
    engine = sa.create_engine(f"sqlite:///{_folder() / 'web.db'}")
    customer_id = _customer_id()
    orders = sa.select(Order.__table__).where(Order.customer_id == customer_id)
    newest = orders.order_by(Order.created_at.desc()).limit(PAGE)

    @app.get("/orders")
    def list_orders() -> str:
        with engine.connect() as conn:
            rows = conn.execute(newest).all()
        return _page(rows, show_rates=False)

    return app


def flask_login_app() -> Flask:
    """Flask-Login, the user from the ORM on every request, checks written by hand."""
    import flask_login

    app = Flask("bench-flask-login")
    app.config["SECRET_KEY"] = SECRET
    engine = sa.create_engine(f"sqlite:///{_folder() / 'web.db'}")
    manager = flask_login.LoginManager(app)

    @manager.user_loader
    def load(user_id: str) -> User | None:
        with Session(engine, expire_on_commit=False) as session:
            user = session.get(User, int(user_id))
            return user if user is not None and user.active else None

    @app.post("/login")
    def log_in() -> Any:
        with Session(engine, expire_on_commit=False) as session:
            user = session.scalars(
                sa.select(User).where(User.username == request.form["login"])
            ).one()
        flask_login.login_user(user)
        return "ok"

    @app.get("/orders")
    @flask_login.login_required
    def list_orders() -> str:
        user = flask_login.current_user
        if not user.may_view_orders:
            abort(403)
        columns = [c for c in Order.__table__.c if user.may_view_rates or c.name != "rate"]
        query = (
            sa.select(*columns)
            .where(Order.customer_id == user.customer_id)
            .order_by(Order.created_at.desc())
            .limit(PAGE)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        return _page(rows, show_rates=user.may_view_rates)

    return app


def portalkit_app() -> Flask:
    """The portalkit adapter: one context per request, the rows and columns it may see."""
    from portalkit_flask import Portalkit, current_access, current_portal, requires

    from portalkit import ResourceType

    app = Flask("bench-portalkit")
    app.config.update(
        SECRET_KEY=SECRET,
        PORTALKIT_DATABASE_URL=f"sqlite:///{_folder() / 'web.db'}",
        PORTALKIT_TABLE_PREFIX="portalkit_",
        PORTALKIT_SECRET_KEY=SECRET,
        PORTALKIT_SESSION_COOKIE_SECURE=False,
        PORTALKIT_AUTO_MIGRATE=False,
    )
    Portalkit(app)
    with app.app_context():
        current_portal.access.register_resource(
            # The Table, so that every variant renders the same Core rows (not ORM objects).
            ResourceType(
                "orders",
                view="orders.view",
                sensitive={"rate": "prices.view"},
                model=Order.__table__,
            )
        )
    engine = sa.create_engine(f"sqlite:///{_folder() / 'web.db'}")

    @app.get("/orders")
    @requires("orders.view")
    def list_orders() -> str:
        assert current_access is not None
        query = current_access.select("orders")
        query = query.order_by(Order.created_at.desc()).limit(PAGE)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        return _page(rows, show_rates=current_access.can("prices.view"))

    return app


def create_app() -> Flask:
    """The variant ``BENCH_WEB_VARIANT`` names (gunicorn's ``bench_webapp:create_app()``)."""
    variant = os.environ["BENCH_WEB_VARIANT"]
    makers = {"open": open_app, "flask-login": flask_login_app, "portalkit": portalkit_app}
    return makers[variant]()
