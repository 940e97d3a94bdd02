"""The conformance check for host resource types: it passes on portalkit's own test resources
(on SQLite and PostgreSQL) and fails on hosts that are broken in the ways hosts break."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    create_engine,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from conftest import make_storage
from portalkit import Condition, Portal, ResourceType
from portalkit.testing import check_resource_type, memory_portal
from portalkit.testing.conformance import RowRequest

host = MetaData()
# The invoices of tests/test_access_rules.py: a location, an owner, a vendor column, a
# condition and a rate.
invoices = Table(
    "cf_invoices",
    host,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("site_id", Uuid),
    Column("owner_id", Uuid),
    Column("vendor_id", Uuid),
    Column("status", String(20)),
    Column("amount", String(20)),
)
# Contracts, a host capability of their own: customer may be NULL (a contract not yet
# assigned), the fee is a Numeric, and the view capability itself has a condition.
contracts = Table(
    "cf_contracts",
    host,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Uuid, nullable=True),
    Column("vendor_id", Uuid, nullable=False),
    Column("state", String(20), nullable=False),
    Column("monthly_fee", Numeric(12, 2)),
    Column("title", String(80), nullable=False),
)


class Base(DeclarativeBase):
    pass


class Pest(Base):
    __tablename__ = "cf_pests"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class LogbookEntry(Base):
    """The pest-control logbook: per location, with a NOT NULL text and a foreign key."""

    __tablename__ = "cf_logbook"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID]
    location_id: Mapped[uuid.UUID | None]
    pest_id: Mapped[int] = mapped_column(ForeignKey("cf_pests.id"))
    remark: Mapped[str] = mapped_column(String(200))
    treatment_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))


def _register(portal: Portal) -> None:
    access = portal.access
    access.register_capability("contracts.view", "see contracts")
    access.register_resource(
        ResourceType(
            "invoices",
            view="invoices.view",
            location_field="site_id",
            owner_field="owner_id",
            vendor_field="vendor_id",
            sensitive={"amount": "prices.view"},
            model=invoices,
            conditions={"jobs.download": Condition("status", {"paid"})},
        )
    )
    access.register_resource(
        ResourceType(
            "logbook",
            view="logbook.view",
            location_field="location_id",
            sensitive={"treatment_cost": "prices.view"},
            conditions={"logbook.write": Condition("remark", {"open"})},
            model=LogbookEntry,
        )
    )
    access.register_resource(
        ResourceType(
            "contracts",
            view="contracts.view",
            vendor_field="vendor_id",
            sensitive={"monthly_fee": "prices.view"},
            conditions={"contracts.view": Condition("state", {"signed", "active"})},
            model=contracts,
        )
    )


def _invoice(request: RowRequest) -> dict[str, Any]:
    return {"id": uuid.uuid4(), **request.fields}


def _logbook(request: RowRequest) -> LogbookEntry:
    fields = {"remark": "checked", **request.fields}
    return LogbookEntry(pest_id=1, **fields)


def _contract(request: RowRequest) -> dict[str, Any]:
    state = request.fields.get("state", "signed")
    return {"title": f"Contract {request.serial}", **request.fields, "state": state}


FACTORIES = {"invoices": _invoice, "logbook": _logbook, "contracts": _contract}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Session, Portal]]:
    """A session on a host database and a portal whose storage is a database of that kind."""
    url = "sqlite://" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url)
    host.create_all(engine)
    Base.metadata.create_all(engine)
    storage = make_storage(request.param, request, tmp_path)
    with Session(engine) as session:
        session.add(Pest(id=1, name="Brown rat"))
        session.commit()
        portal = Portal(storage)
        _register(portal)
        yield session, portal
    storage.close()
    host.drop_all(engine)
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.mark.parametrize("resource", ["invoices", "logbook", "contracts"])
def test_portalkits_own_resources_conform(resource: str, database: tuple[Session, Portal]) -> None:
    session, portal = database
    check_resource_type(portal, resource, session=session, make_row=FACTORIES[resource], examples=8)


def test_a_condition_on_a_field_not_set_conforms() -> None:
    # Found by the check: SQL's IN never matches NULL, so Condition("cancelled", {None}) let
    # can() and the Python filter through where the database returned nothing.
    table = Table(
        "cf_jobs",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("customer_id", Uuid, nullable=False),
        Column("cancelled", String(10)),
        Column("closed", String(10)),
    )
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    portal = memory_portal()
    portal.access.register_resource(
        ResourceType(
            "jobs",
            view="jobs.view_status",
            conditions={
                "jobs.download": Condition("cancelled", {None}),
                "jobs.view_completed": Condition("closed", {None, "yes"}),
            },
            model=table,
        )
    )
    with Session(engine) as session:
        check_resource_type(portal, "jobs", session=session, make_row=_invoice, examples=6)


# -- broken hosts: the check must fail on each ---------------------------------------------
def _broken(resource: ResourceType, model: Any, make_row: Any, match: str) -> None:
    engine = create_engine("sqlite://")
    model.metadata.create_all(engine)
    portal = memory_portal()
    portal.access.register_resource(resource)
    with Session(engine) as session, pytest.raises(AssertionError, match=match):
        check_resource_type(portal, resource.name, session=session, make_row=make_row, examples=10)
    engine.dispose()


def test_it_fails_on_a_condition_column_that_ignores_case() -> None:
    # SQLite's NOCASE (or a case-insensitive collation elsewhere): the database matches "PAID"
    # where can() sees a different status.
    table = Table(
        "cf_blind",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("customer_id", Uuid, nullable=False),
        Column("status", String(20, collation="NOCASE")),
    )
    resource = ResourceType(
        "invoices",
        view="invoices.view",
        conditions={"jobs.download": Condition("status", {"paid"})},
        model=table,
    )
    _broken(resource, table, _invoice, "only in SQL: .*status=PAID")


def test_it_fails_on_a_rate_the_host_copies_into_a_json_column() -> None:
    # The rate is declared sensitive, but the host also keeps it in the row's details without
    # nested_sensitive: redact() leaves the copy.
    table = Table(
        "cf_copied",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("customer_id", Uuid, nullable=False),
        Column("amount", String(20)),
        Column("details", JSON),
    )
    resource = ResourceType(
        "invoices", view="invoices.view", sensitive={"amount": "prices.view"}, model=table
    )

    def make_row(request: RowRequest) -> dict[str, Any]:
        return {**_invoice(request), "details": {"price": request.fields["amount"]}}

    _broken(resource, table, make_row, "the value of a hidden field shows at 'details.price'")


def test_it_fails_on_a_factory_that_files_rows_under_one_vendor() -> None:
    # A single-vendor habit: the factory writes the first vendor it saw into every row, so
    # that vendor's staff (filtered by vendor column) see the other vendor's customers.
    table = Table(
        "cf_vendored",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("customer_id", Uuid, nullable=False),
        Column("vendor_id", Uuid, nullable=False),
    )
    resource = ResourceType("invoices", view="invoices.view", vendor_field="vendor_id", model=table)
    first: list[uuid.UUID] = []

    def make_row(request: RowRequest) -> dict[str, Any]:
        if request.serial == 0:  # the first row of each world
            first[:] = [request.fields["vendor_id"]]
        return {**_invoice(request), "vendor_id": first[0]}

    _broken(resource, table, make_row, "sees a row of another vendor's customer")


class _Mismatched(DeclarativeBase):
    pass


class Visit(_Mismatched):
    """A field mapped one way in Python and another in SQL: the hybrid's Python side falls
    back to the depot, its SQL side looks at the site only."""

    __tablename__ = "cf_visits"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID]
    site_id: Mapped[uuid.UUID | None]
    depot_id: Mapped[uuid.UUID | None]

    @hybrid_property
    def place(self) -> uuid.UUID | None:
        return self.site_id or self.depot_id

    @place.inplace.expression
    @classmethod
    def _place(cls) -> Any:
        return cls.site_id


def test_it_fails_on_a_field_mapped_differently_in_python_and_sql() -> None:
    resource = ResourceType("logbook", view="logbook.view", location_field="place", model=Visit)

    def make_row(request: RowRequest) -> Visit:
        place = request.fields["place"]
        at_depot = request.serial % 2 == 1
        return Visit(
            customer_id=request.fields["customer_id"],
            site_id=None if at_depot else place,
            depot_id=place if at_depot else None,
        )

    _broken(resource, Visit, make_row, "only in Python: .*place=location")
