"""Deny by default, immediate effect, SQL and Python filtering that agree, and the edges."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, String, Table, Uuid, create_engine, event, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from portalkit import (
    AccessContext,
    Condition,
    Member,
    PermissionDenied,
    ResourceType,
    ValidationError,
    presets,
)
from portalkit.testing import World

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
    Column("amount", String(20)),
)


@pytest.fixture
def kinds(world: World) -> ResourceType:
    return world.portal.access.register_resource(
        ResourceType(
            "invoices",
            view="invoices.view",
            location_field="site_id",
            owner_field="owner_id",
            sensitive={"amount": "prices.view"},
            model=invoices,
            conditions={"jobs.download": Condition("status", {"paid"})},
        )
    )


def _ctx(world: World, capabilities: set[str], **fields: Any) -> tuple[AccessContext, Any]:
    scopes = fields.pop("scopes", {})
    profile = world.profile(capabilities=capabilities, scopes=scopes)
    membership = world.membership(profile=profile, **fields)
    return world.portal.access.context(world.member(membership)), membership


@pytest.mark.parametrize(
    "state", ["invited", "disabled", "account", "customer", "no profile", "forged", "missing"]
)
def test_every_closed_door_denies_everything(world: World, state: str) -> None:
    p = world.portal
    profile = None if state == "no profile" else world.profile(capabilities={"invoices.view"})
    membership = world.membership(
        profile=profile, status="invited" if state == "invited" else "active"
    )
    actor = world.member(membership)
    if state == "disabled":
        p.memberships.deactivate(world.staff, membership)
    elif state == "account":
        p.accounts.deactivate(world.staff, membership.account_id)
    elif state == "customer":
        p.customers.deactivate(world.staff, membership.customer_id)
    elif state == "forged":
        actor = Member(
            vendor_id=actor.vendor_id,
            account_id=actor.account_id,
            membership_id=actor.membership_id,
            customer_id=world.customer().id,
        )
    elif state == "missing":
        actor = Member(
            vendor_id=actor.vendor_id,
            account_id=actor.account_id,
            membership_id=uuid.uuid4(),
            customer_id=actor.customer_id,
        )
    ctx = p.access.context(actor)
    assert ctx.denied
    assert ctx.capabilities == frozenset()
    assert not ctx.can("invoices.view")
    assert ctx.explain("invoices.view").startswith("denied: ")


def test_a_member_of_another_vendor_gets_nothing(world: World, other_world: World) -> None:
    _, membership = _ctx(world, {"invoices.view"})
    elsewhere = Member(
        vendor_id=other_world.vendor.id,
        account_id=membership.account_id,
        membership_id=membership.id,
        customer_id=membership.customer_id,
    )
    assert world.portal.access.context(elsewhere).denied == "the membership does not exist"


@pytest.fixture
def other_world(world: World) -> World:
    return World(world.portal)


def test_a_downgrade_takes_effect_on_the_next_check(world: World, kinds: Any) -> None:
    profile = world.profile(capabilities={"invoices.view", "prices.view"})
    membership = world.membership(profile=profile)
    actor = world.member(membership)
    assert world.portal.access.context(actor).can("prices.view")
    world.portal.profiles.update(world.staff, profile, capabilities={"invoices.view"})
    assert not world.portal.access.context(actor).can("prices.view")  # no new log-in needed


def test_unknown_capabilities_fail_when_configured(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        world.profile(capabilities={"invoice.view"})  # misspelt
    assert caught.value.code == "unknown"
    ctx, _ = _ctx(world, {"invoices.view"})
    with pytest.raises(ValidationError):
        ctx.can("invoice.view")
    world.portal.access.register_capability("contracts.view", "see contracts")
    assert world.profile(capabilities={"contracts.view"}).capabilities == {"contracts.view"}
    with pytest.raises(ValidationError):
        world.portal.access.register_resource(ResourceType("contracts", view="contract.view"))


def test_a_record_that_cannot_be_read_is_denied(world: World, kinds: Any) -> None:
    ctx, m = _ctx(world, {"invoices.view"})

    class Broken:
        @property
        def customer_id(self) -> Any:
            raise RuntimeError("lazy load failed")

    assert not ctx.allows("invoices.view", Broken(), "invoices")
    assert not ctx.allows("invoices.view", {"no": "customer"}, "invoices")
    assert ctx.allows("invoices.view", {"customer_id": m.customer_id, "site_id": None}, "invoices")


def test_staff_see_their_vendor_only(world: World, other_world: World, kinds: Any) -> None:
    mine, theirs = world.customer(), other_world.customer()
    ctx = world.portal.access.context(world.staff)
    assert ctx.staff and ctx.can("members.manage")
    rows = [{"customer_id": mine.id}, {"customer_id": theirs.id}]
    assert ctx.filter(rows, "invoices") == rows[:1]


def test_own_scope_needs_an_owner_field(world: World) -> None:
    world.portal.access.register_resource(ResourceType("notes", view="documents.view"))
    ctx, m = _ctx(world, {"documents.view"}, scopes={"notes": "own"})
    assert ctx.filter([{"customer_id": m.customer_id}], "notes") == []


def test_a_location_scope_without_grants_sees_nothing(world: World, kinds: Any) -> None:
    ctx, m = _ctx(world, {"invoices.view"}, scopes={"invoices": "location"})
    assert ctx.filter([{"customer_id": m.customer_id, "site_id": None}], "invoices") == []


def test_switching_between_customers_of_one_account(world: World, kinds: Any) -> None:
    profile = world.profile(capabilities={"invoices.view"})
    first = world.membership(profile=profile)
    account = world.portal.accounts.get(world.staff, first.account_id)
    second = world.membership(account=account, profile=profile)
    actor = world.member(first)
    assert {m.id for m in world.portal.access.memberships(actor)} == {first.id, second.id}
    switched = world.portal.access.switch(actor, second.customer_id)
    rows = [{"customer_id": first.customer_id}, {"customer_id": second.customer_id}]
    assert world.portal.access.context(actor).filter(rows, "invoices") == rows[:1]
    assert world.portal.access.context(switched).filter(rows, "invoices") == rows[1:]
    with pytest.raises(LookupError):
        world.portal.access.switch(actor, world.customer())


def test_redaction_reaches_every_depth_and_every_shape(world: World, kinds: Any) -> None:
    import attrs

    @attrs.define
    class Line:
        product: str
        amount: str

    ctx, _ = _ctx(world, {"invoices.view"})
    record = {
        "id": 1,
        "amount": "9",
        "lines": [Line("a", "1"), {"sub": {"amount": "2"}}],
        "pair": ({"amount": "3"},),
    }
    assert ctx.redact(record, "invoices") == {
        "id": 1,
        "lines": [{"product": "a"}, {"sub": {}}],
        "pair": [{}],
    }


def test_export_defuses_spreadsheet_formulas(world: World, kinds: Any) -> None:
    ctx, m = _ctx(world, {"invoices.view", "export", "prices.view"})
    rows = [
        {"customer_id": m.customer_id, "site_id": None, "note": '=HYPERLINK("x")', "amount": "-5"}
    ]
    out = io.StringIO()
    ctx.export(rows, "invoices", out)
    assert "'=HYPERLINK" in out.getvalue() and "'-5" in out.getvalue()


def test_read_only_contexts_refuse_writes(world: World) -> None:
    ctx, _ = _ctx(world, {"orders.view", "orders.create"})
    from portalkit.access import AccessContext as Ctx

    view = Ctx(
        world.portal.access,
        ctx.actor,
        capabilities=ctx.capabilities,
        denied=None,
        read_only=True,
        profile_name="p",
    )
    assert view.can("orders.view") and not view.can("orders.create")
    assert "read-only" in view.explain("orders.create")
    with pytest.raises(PermissionDenied):
        view.require("orders.create")


# -- SQL filtering: the database does it, and agrees with Python ---------------------------
@pytest.fixture
def host_engine(backend: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    if backend == "postgres":
        url = request.getfixturevalue("pg_server").create_database(f"host_{uuid.uuid4().hex[:8]}")
        engine = create_engine(url)
    else:
        engine = create_engine("sqlite://")
    host.create_all(engine)
    yield engine
    engine.dispose()


def test_sql_filter_and_python_filter_agree(world: World, kinds: Any, host_engine: Any) -> None:
    umbrella = world.customer()
    child, stranger = world.customer(parent=umbrella), world.customer()
    sites = [world.location(c) for c in (umbrella, umbrella, child)]
    main_profile = world.profile(
        capabilities={"invoices.view", "jobs.download"}, scopes={"invoices": "tree"}
    )
    main = world.membership(customer=umbrella, profile=main_profile, kind="main")
    limited = world.membership(
        customer=umbrella,
        profile=main_profile,
        kind="extra",
        customer_grants=[child],
        location_grants={sites[0]: "read", sites[2]: "write"},
    )
    rows = []
    for customer in (umbrella, child, stranger):
        for site in [None, *sites]:
            for owner in (None, main.account_id):
                for status in ("open", "paid"):
                    rows.append(
                        {
                            "id": uuid.uuid4(),
                            "customer_id": customer.id,
                            "site_id": site.id if site else None,
                            "owner_id": owner,
                            "vendor_id": world.vendor.id,
                            "status": status,
                            "amount": "1",
                        }
                    )
    with host_engine.begin() as conn:
        conn.execute(invoices.insert(), rows)
    for actor in (world.member(main), world.member(limited), world.staff):
        ctx = world.portal.access.context(actor)
        for capability in (None, "jobs.download"):
            statements: list[str] = []

            def record(
                _c: Any, _cur: Any, statement: str, *_a: Any, into: list[str] = statements
            ) -> None:
                into.append(statement)

            event.listen(host_engine, "before_cursor_execute", record)
            with host_engine.connect() as conn:
                query = ctx.filter(select(invoices.c.id), "invoices", capability=capability)
                in_sql = {r.id for r in conn.execute(query)}
            event.remove(host_engine, "before_cursor_execute", record)
            in_python = {r["id"] for r in ctx.filter(rows, "invoices", capability=capability)}
            assert in_sql == in_python
            assert in_python  # every actor sees something here, so agreement is not vacuous
            assert any("WHERE" in s for s in statements)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_building_a_context_costs_at_most_two_queries(world: World, kinds: Any) -> None:
    engine = world.portal.storage.engine  # type: ignore[attr-defined]
    profile = world.profile(capabilities={"invoices.view"}, scopes={"invoices": "tree"})
    umbrella = world.customer()
    for _ in range(3):
        world.customer(parent=umbrella)
    site = world.location(umbrella)
    membership = world.membership(
        customer=umbrella, profile=profile, location_grants={site: "write"}
    )
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    ctx = world.portal.access.context(world.member(membership))
    event.remove(engine, "before_cursor_execute", count)
    assert ctx.location_read == {site.id}
    assert len(seen) <= 2, seen


def test_sql_filter_works_on_a_mapped_class(world: World) -> None:
    class HostBase(DeclarativeBase):
        pass

    class Ticket(HostBase):
        __tablename__ = "tickets"
        id: Mapped[int] = mapped_column(primary_key=True)
        customer_id: Mapped[uuid.UUID]
        created_by: Mapped[uuid.UUID | None]

    world.portal.access.register_resource(
        ResourceType("tickets", view="tickets.view", owner_field="created_by", model=Ticket)
    )
    spec = presets.SERVICE_DESK_USER
    profile = world.profile(capabilities=spec.capabilities, scopes=spec.scopes)
    membership = world.membership(profile=profile)
    ctx = world.portal.access.context(world.member(membership))
    engine = create_engine("sqlite://")
    HostBase.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [
                Ticket(id=1, customer_id=membership.customer_id, created_by=membership.account_id),
                Ticket(id=2, customer_id=membership.customer_id, created_by=uuid.uuid4()),
                Ticket(id=3, customer_id=uuid.uuid4(), created_by=membership.account_id),
            ]
        )
        session.commit()
        found = session.scalars(ctx.filter(select(Ticket).order_by(Ticket.id), "tickets"))
        assert [t.id for t in found] == [1]
    engine.dispose()


def test_a_broken_link_in_storage_denies_everything(world: World, backend: str) -> None:
    """C3: a membership whose profile link is gone (forced past the services) gives no access."""
    profile = world.profile(capabilities={"invoices.view"})
    membership = world.membership(profile=profile)
    storage: Any = world.portal.storage
    if backend == "memory":
        import attrs

        rows = storage._tables.rows["memberships"]
        rows[membership.id] = attrs.evolve(rows[membership.id], profile_id=uuid.uuid4())
    else:
        with storage.engine.begin() as conn:
            conn.execute(
                text("UPDATE memberships SET profile_id = NULL WHERE id = :m"),
                {"m": membership.id.hex if backend == "sqlite" else membership.id},
            )
    ctx = world.portal.access.context(world.member(membership))
    assert ctx.denied == "the membership has no permission profile"
    assert not ctx.can("invoices.view")


@settings(max_examples=60, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "profile",
                "subscriptions",
                "kind",
                "customer_id",
                "account_id",
                "is_main",
                "status",
                "vendor_id",
                "auth_epoch",
                "password_hash",
                "version",
            ]
        ),
        st.just(None),
        min_size=1,
    )
)
def test_protected_fields_are_refused_and_nothing_is_written(changes: dict[str, Any]) -> None:
    """D2: an update with any protected key fails as a whole."""
    world = World()
    membership = world.membership()
    allowed = {"profile", "subscriptions", "kind"}
    safe = {"profile": None, "subscriptions": [], "kind": "member"}
    call = {k: safe.get(k) for k in changes}
    if set(changes) <= allowed:
        world.portal.memberships.update(world.staff, membership, **call)
    else:
        with pytest.raises(ValidationError) as caught:
            world.portal.memberships.update(world.staff, membership, **call)
        assert {p.field for p in caught.value.problems} == set(changes) - allowed
        assert world.portal.memberships.get(world.staff, membership.id) == membership


def test_latest_returns_the_same_rows_as_filter_sort_and_limit(
    world: World, host_engine: Any
) -> None:
    import datetime as dt

    from sqlalchemy import DateTime

    meta = MetaData()
    jobs = Table(
        "jobs",
        meta,
        Column("id", Uuid, primary_key=True),
        Column("customer_id", Uuid, nullable=False),
        Column("site_id", Uuid),
        Column("done_at", DateTime),
    )
    meta.create_all(host_engine)
    world.portal.access.register_resource(
        ResourceType("jobs", view="jobs.view_completed", location_field="site_id", model=jobs)
    )
    umbrella = world.customer()
    children = [world.customer(parent=umbrella) for _ in range(3)]
    profile = world.profile(capabilities={"jobs.view_completed"}, scopes={"jobs": "tree"})
    member = world.membership(customer=umbrella, profile=profile)
    start = dt.datetime(2026, 1, 1)
    rows = [
        {
            "id": uuid.uuid4(),
            "customer_id": c.id,
            "site_id": None,
            "done_at": start + dt.timedelta(minutes=7 * n + i),
        }
        for i, c in enumerate([umbrella, *children, world.customer()])
        for n in range(30)
    ]
    with host_engine.begin() as conn:
        conn.execute(jobs.insert(), rows)
    ctx = world.portal.access.context(world.member(member))
    with host_engine.connect() as conn:
        plain = conn.execute(
            ctx.filter(select(jobs), "jobs").order_by(jobs.c.done_at.desc()).limit(25)
        ).all()
        fast = conn.execute(
            ctx.latest(select(jobs), "jobs", order_by=jobs.c.done_at, limit=25)
        ).all()
    assert [r.id for r in fast] == [r.id for r in plain]
    assert len(fast) == 25
    assert {r.customer_id for r in fast} <= {umbrella.id, *(c.id for c in children)}


class _Host(DeclarativeBase):
    pass


class Visit(_Host):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID]
    seq: Mapped[int]


def test_latest_keeps_returning_orm_objects(world: World) -> None:
    world.portal.access.register_resource(
        ResourceType("visits", view="jobs.view_status", model=Visit)
    )
    umbrella = world.customer()
    child = world.customer(parent=umbrella)
    profile = world.profile(capabilities={"jobs.view_status"}, scopes={"visits": "tree"})
    ctx = world.portal.access.context(
        world.member(world.membership(customer=umbrella, profile=profile))
    )
    engine = create_engine("sqlite://")
    _Host.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [
                Visit(id=n, customer_id=(umbrella, child, world.customer())[n % 3].id, seq=n)
                for n in range(60)
            ]
        )
        session.commit()
        found = session.scalars(ctx.latest(select(Visit), "visits", order_by=Visit.seq, limit=5))
        assert [(type(v).__name__, v.seq) for v in found] == [
            ("Visit", s) for s in (58, 57, 55, 54, 52)
        ]
    engine.dispose()


# -- deny by default for locations ---------------------------------------------------------
def test_a_member_without_location_grants_acts_only_at_locations_in_reach(
    world: World, other_world: World
) -> None:
    p = world.portal
    home, stranger = world.customer(), world.customer()
    child = world.customer(parent=home)
    own, closed = world.location(home), world.location(home)
    p.locations.deactivate(world.staff, closed)
    theirs, below = world.location(stranger), world.location(child)
    elsewhere = other_world.location(other_world.customer())
    ctx, _ = _ctx(world, {"orders.view", "orders.create"}, customer=home)
    assert ctx.location_read is None  # no grants: locations do not narrow this member...
    for capability in ("orders.view", "orders.create"):
        assert ctx.allows(capability, location=own.id)
        # ...but no location outside its customers answers yes: not another customer's, not
        # another vendor's, not a closed one, not one that does not exist.
        for place in (theirs.id, elsewhere.id, closed.id, uuid.uuid4()):
            assert not ctx.allows(capability, location=place), place
    assert not ctx.allows("orders.view", location=below.id)  # the child is not in a customer scope
    why = ctx.explain("orders.create", location=theirs.id)
    assert why.startswith("denied: ") and "reach" in why, why
    with pytest.raises(PermissionDenied, match="reach"):
        ctx.require("orders.view", location=theirs.id)
    tree, _ = _ctx(world, {"orders.view"}, customer=home, scopes={"orders": "tree"})
    assert tree.allows("orders.view", location=below.id)  # a tree scope reaches the child's sites
    assert not tree.allows("orders.view", location=theirs.id)


def test_location_grants_never_reach_outside_the_members_customers(world: World) -> None:
    home, stranger = world.customer(), world.customer()
    mine, theirs = world.location(home), world.location(stranger)
    ctx, _ = _ctx(
        world, {"orders.view", "orders.create"}, customer=home, location_grants={mine: "write"}
    )
    assert ctx.allows("orders.create", location=mine.id)
    assert not ctx.allows("orders.view", location=theirs.id)
    assert "reach" in ctx.explain("orders.view", location=theirs.id)


def test_a_write_on_a_record_at_a_foreign_location_is_denied(world: World, kinds: Any) -> None:
    home = world.customer()
    home_site, theirs = world.location(home), world.location(world.customer())
    ctx, _ = _ctx(world, {"invoices.view", "orders.create"}, customer=home)
    for site, expected in ((None, True), (home_site.id, True), (theirs.id, False)):
        # The record is the member's customer's, so only its location can deny the write.
        record = {"customer_id": home.id, "site_id": site, "status": "open"}
        assert ctx.allows("orders.create", record, "invoices") is expected, site


def test_staff_act_only_at_locations_of_their_vendor(world: World, other_world: World) -> None:
    p = world.portal
    ours, closed = world.location(world.customer()), world.location(world.customer())
    p.locations.deactivate(world.staff, closed)
    theirs = other_world.location(other_world.customer())
    ctx = p.access.context(world.staff)
    assert ctx.allows("orders.create", location=ours.id)
    assert ctx.allows("orders.view", location=closed.id)  # staff see inactive ones, as customers
    for place in (theirs.id, uuid.uuid4(), "not-an-id"):
        assert not ctx.allows("orders.create", location=place)  # type: ignore[arg-type]
    assert ctx.explain("orders.view", location=theirs.id) == (
        f"denied: location {theirs.id} is not a location of this vendor"
    )
    with pytest.raises(PermissionDenied):
        ctx.require("orders.view", location=theirs.id)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_location_answers_cost_no_query_after_the_context_is_built(world: World) -> None:
    """The reach's locations come with the context's two statements; staff look one up once."""
    engine = world.portal.storage.engine  # type: ignore[attr-defined]
    umbrella = world.customer()
    children = [world.customer(parent=umbrella) for _ in range(3)]
    sites = [world.location(c) for c in (umbrella, *children) for _ in range(2)]
    stranger = world.location(world.customer())
    profile = world.profile(capabilities={"orders.view"}, scopes={"orders": "tree"})
    member = world.member(world.membership(customer=umbrella, profile=profile))
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        ctx = world.portal.access.context(member)
        built = len(seen)
        assert all(ctx.allows("orders.view", location=s.id) for s in sites)
        assert not ctx.allows("orders.view", location=stranger.id)
        asked = len(seen) - built
        staff = world.portal.access.context(world.staff)
        before = len(seen)
        for _ in range(3):
            assert staff.allows("orders.view", location=sites[0].id)
        staff_lookups = len(seen) - before
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert built <= 2, seen
    assert asked == 0
    assert staff_lookups == 1  # looked up when first asked, then remembered
