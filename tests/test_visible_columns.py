"""Only visible columns leave the database: ctx.columns(), ctx.select(), ctx.visible_fields().

The SQL a member without ``prices.view`` sends must not name the rate column at all (captured
from the connection, not only compiled), while staff get every column; SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from portalkit import AccessContext, ResourceType, ValidationError
from portalkit.testing import World

host = MetaData()
rates = Table(
    "vc_rates",
    host,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("site_id", Uuid),
    Column("number", String(20)),
    Column("hourly_rate", String(20)),
    Column("carrier", String(40)),
)


class Base(DeclarativeBase):
    pass


class Visit(Base):
    __tablename__ = "vc_visits"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID]
    number: Mapped[str] = mapped_column(String(20))
    hourly_rate: Mapped[str] = mapped_column(String(20))
    lines: Mapped[list[Line]] = relationship(back_populates="visit")


class Line(Base):
    __tablename__ = "vc_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vc_visits.id"))
    visit: Mapped[Visit] = relationship(back_populates="lines")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], ids=str)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = "sqlite://" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url)
    host.create_all(engine)
    Base.metadata.create_all(engine)
    try:
        yield engine
    finally:
        host.drop_all(engine)
        Base.metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture
def registered(world: World) -> World:
    access = world.portal.access
    access.register_resource(
        ResourceType(
            "invoices",
            view="invoices.view",
            location_field="site_id",
            sensitive={"hourly_rate": "prices.view", "carrier": "carrier.view"},
            model=rates,
        )
    )
    access.register_resource(
        ResourceType(
            "jobs",
            view="jobs.view_status",
            sensitive={"hourly_rate": "prices.view"},
            model=Visit,
        )
    )
    return world


def _member(world: World, *capabilities: str) -> tuple[AccessContext, Any]:
    profile = world.profile(capabilities={"invoices.view", "jobs.view_status", *capabilities})
    membership = world.membership(profile=profile)
    return world.portal.access.context(world.member(membership)), membership


def _statements(engine: Engine) -> list[str]:
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    return sent


def _fill(engine: Engine, customer: uuid.UUID, other: uuid.UUID) -> None:
    with Session(engine) as session:
        session.execute(
            rates.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "customer_id": c,
                    "number": n,
                    "hourly_rate": "95.00",
                    "carrier": "Van Dijk",
                }
                for c, n in ((customer, "R-1"), (other, "R-2"))
            ],
        )
        session.add_all(
            [
                Visit(customer_id=customer, number="V-1", hourly_rate="95.00"),
                Visit(customer_id=other, number="V-2", hourly_rate="80.00"),
            ]
        )
        session.commit()


def test_a_member_without_rates_never_fetches_them(registered: World, engine: Engine) -> None:
    ctx, membership = _member(registered, "carrier.view")
    _fill(engine, membership.customer_id, registered.customer().id)
    sent = _statements(engine)
    with Session(engine) as session:
        table_rows = session.execute(ctx.select("invoices")).mappings().all()
        own_select = session.execute(ctx.filter(select(*ctx.columns("invoices")), "invoices"))
        objects = session.scalars(ctx.select("jobs")).all()
        assert [r["number"] for r in table_rows] == ["R-1"]
        assert [dict(r._mapping) for r in own_select] == [dict(r) for r in table_rows]
        assert set(table_rows[0]) == {"id", "customer_id", "site_id", "number", "carrier"}
        assert [o.number for o in objects] == ["V-1"]
        assert "hourly_rate" not in ctx.redact(objects[0], "jobs")
        with pytest.raises(InvalidRequestError, match="raiseload"):
            _ = objects[0].hourly_rate  # never loaded behind the member's back either
    selects = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3
    assert all("hourly_rate" not in s for s in selects), selects
    assert all("carrier" in s for s in selects[:2])


def test_staff_and_members_with_the_rates_capability_get_every_column(
    registered: World, engine: Engine
) -> None:
    member, membership = _member(registered, "prices.view", "carrier.view")
    _fill(engine, membership.customer_id, registered.customer().id)
    staff = registered.portal.access.context(registered.staff)
    for ctx, numbers in ((member, ["R-1"]), (staff, ["R-1", "R-2"])):
        sent = _statements(engine)
        with Session(engine) as session:
            rows = session.execute(ctx.select("invoices").order_by(rates.c.number)).mappings()
            found = rows.all()
            visits = session.scalars(ctx.select("jobs")).all()
            assert [r["number"] for r in found] == numbers
            assert {r["hourly_rate"] for r in found} == {"95.00"} or ctx is staff
            assert all(v.hourly_rate for v in visits)
        assert all("hourly_rate" in s for s in sent[:2]), sent
        assert ctx.visible_fields("invoices") == [c.key for c in rates.c]
        assert ctx.columns("jobs") == [Visit.id, Visit.customer_id, Visit.number, Visit.hourly_rate]


def test_the_columns_follow_the_capabilities_one_by_one(registered: World) -> None:
    ctx, _ = _member(registered, "prices.view")
    assert ctx.columns("invoices") == [c for c in rates.c if c.key != "carrier"]
    assert ctx.visible_fields("invoices") == [
        "id",
        "customer_id",
        "site_id",
        "number",
        "hourly_rate",
    ]
    sql = str(ctx.select("invoices"))
    assert "carrier" not in sql and "hourly_rate" in sql


def test_a_denied_select_returns_nothing_and_still_names_no_rate(
    registered: World, engine: Engine
) -> None:
    profile = registered.profile(capabilities={"export"})
    membership = registered.membership(profile=profile)
    ctx = registered.portal.access.context(registered.member(membership))
    _fill(engine, membership.customer_id, registered.customer().id)
    with Session(engine) as session:
        assert session.execute(ctx.select("invoices")).all() == []
    assert "hourly_rate" not in str(ctx.select("invoices"))


def test_headings_without_sql(world: World) -> None:
    world.portal.access.register_resource(
        ResourceType(
            "orders",
            view="orders.view",
            sensitive={"amount": "prices.view"},
            nested_sensitive={"unit_price": "prices.view"},
        )
    )
    ctx, _ = _member(world)
    heading = ["number", "amount", "carrier", "unit_price", "number"]
    assert ctx.visible_fields("orders", heading) == ["number", "carrier"]
    priced, _ = _member(world, "prices.view")
    assert priced.visible_fields("orders", heading) == ["number", "amount", "carrier", "unit_price"]
    with pytest.raises(ValidationError) as no_fields:
        ctx.visible_fields("orders")
    assert no_fields.value.code == "required"
    with pytest.raises(ValidationError) as no_model:
        ctx.columns("orders")
    assert no_model.value.code == "no_model"


def test_a_heading_naming_no_field_of_the_model_is_refused(registered: World) -> None:
    ctx, _ = _member(registered)
    assert ctx.visible_fields("invoices", ["number", "hourly_rate"]) == ["number"]
    with pytest.raises(ValidationError) as bad:
        ctx.visible_fields("invoices", ["number", "hourly_rates", 7])  # type: ignore[list-item]
    assert bad.value.code == "unknown"
    assert len(bad.value.problems) == 2


def test_a_sensitive_field_that_is_no_column_fails_closed(world: World) -> None:
    class Host(DeclarativeBase):
        pass

    class Quote(Host):
        __tablename__ = "vc_quotes"
        id: Mapped[int] = mapped_column(primary_key=True)
        customer_id: Mapped[uuid.UUID]
        rate_cents: Mapped[int]

        @hybrid_property
        def rate(self) -> int:
            return self.rate_cents // 100

    # Registration accepts the hybrid (filters may use one); selecting columns cannot hide it:
    # the rate would leave the database as rate_cents.
    world.portal.access.register_resource(
        ResourceType("quotes", view="quotes.view", sensitive={"rate": "prices.view"}, model=Quote)
    )
    for capabilities in ((), ("prices.view",)):
        ctx, _ = _member(world, "quotes.view", *capabilities)
        for call in (ctx.columns, ctx.select):
            with pytest.raises(ValidationError) as refused:
                call("quotes")
            assert refused.value.code == "not_column"


def test_a_model_missing_a_field_the_resource_names_fails_closed(world: World) -> None:
    ctx, _ = _member(world)
    # Never registered (registration would refuse it): handed to the context directly.
    kind = ResourceType("invoices", view="invoices.view", location_field="place_id", model=rates)
    with pytest.raises(ValidationError) as refused:
        ctx.select(kind)
    assert refused.value.field == "location_field"
    weird = ResourceType("invoices", view="invoices.view", model=object())
    with pytest.raises(ValidationError) as not_model:
        ctx.columns(weird)
    assert not_model.value.code == "not_model"
