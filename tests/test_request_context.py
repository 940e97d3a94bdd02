"""One access context per request: validated with the session, built once, reused by every
portalkit call it is passed to, and never trusted beyond its request's worth of time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from conftest import BACKENDS, make_storage
from portalkit import (
    AccessContext,
    AuthenticationFailed,
    Member,
    NotFound,
    PermissionDenied,
    Portal,
    Staff,
    System,
    ValidationError,
)
from portalkit.access import CONTEXT_REUSE
from portalkit.clock import FixedClock
from portalkit.mail import MemoryMailer
from portalkit.testing import World

# Statements of a request once this process has read the member's rights: the vendor's
# rights generation (the session check), then customers.get and locations.list.
REQUEST_AIM = 3
# The first request of a process reads the rights too: generation + two fact queries + two.
FIRST_REQUEST_AIM = 5


@contextmanager
def statements(portal: Portal) -> Iterator[list[str]]:
    """Every SQL statement the portal sends meanwhile, but transaction control."""
    seen: list[str] = []
    engine = portal.storage.engine  # type: ignore[attr-defined]

    def count(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        first = statement.lstrip().split(None, 1)[0].upper()
        if first not in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _member_world(world: World) -> tuple[Any, Any, str]:
    profile = world.profile(capabilities={"orders.view"})
    customer = world.customer()
    world.location(customer)
    world.location(customer)
    membership = world.membership(customer=customer, profile=profile)
    session = world.portal.auth.session(world.member(membership))
    return customer, membership, session


@pytest.fixture(params=[b for b in BACKENDS if b.id != "memory"])
def sql_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A world on SQL storage only: the memory backend sends no statements to count."""
    storage = make_storage(request.param, request, tmp_path)
    yield World(Portal(storage, MemoryMailer(), clock=FixedClock()))
    storage.close()


def test_session_context_and_two_member_calls_send_at_most_three_statements(
    sql_world: World,
) -> None:
    world = sql_world
    portal = world.portal
    customer, _membership, session = _member_world(world)

    def request() -> list[str]:
        with statements(portal) as seen:
            ctx = portal.auth.session_context(world.vendor, session)
            found = portal.customers.get(ctx, customer.id)
            places = portal.locations.list(ctx, customer=customer)
        assert found.id == customer.id and len(places) == 2
        return seen

    first = request()
    assert len(first) <= FIRST_REQUEST_AIM, first
    seen = request()
    assert len(seen) <= REQUEST_AIM, seen
    ctx = portal.auth.session_context(world.vendor, session)
    # The same page with the bare actor reads the member's rights on every call.
    actor = ctx.actor
    with statements(portal) as bare:
        portal.auth.validate_session(world.vendor, session)
        portal.customers.get(actor, customer.id)
        portal.locations.list(actor, customer=customer)
    assert len(bare) > len(seen)


def test_a_context_answers_like_its_actor_on_every_backend(world: World) -> None:
    portal = world.portal
    customer, membership, session = _member_world(world)
    other = world.customer()
    ctx = portal.auth.session_context(world.vendor, session)
    assert isinstance(ctx, AccessContext) and ctx.actor == world.member(membership)
    assert portal.customers.get(ctx, customer) == portal.customers.get(ctx.actor, customer)
    assert portal.customers.list(ctx) == [customer]
    assert portal.locations.list(ctx, customer=customer) == portal.locations.list(
        ctx.actor, customer=customer
    )
    for call in (
        lambda: portal.customers.get(ctx, other),
        lambda: portal.locations.list(ctx, customer=other),
    ):
        with pytest.raises(NotFound):
            call()
    # Keyword actors are contexts too, and refusals stay refusals.
    assert portal.customers.get(actor=ctx, customer=customer).id == customer.id
    with pytest.raises(PermissionDenied):
        portal.customers.create(ctx, code="NEW", name="Not for members")
    assert portal.access.context(ctx) is ctx


def test_a_login_switched_off_between_requests_fails_the_next_request(world: World) -> None:
    portal = world.portal
    customer, membership, session = _member_world(world)
    first = portal.auth.session_context(world.vendor, session)
    portal.memberships.deactivate(world.staff, membership)
    with pytest.raises(AuthenticationFailed):
        portal.auth.session_context(world.vendor, session)
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, session)
    # A context kept beyond its request is not trusted once its time is up.
    assert isinstance(portal.clock, FixedClock)
    portal.clock.advance(seconds=CONTEXT_REUSE.total_seconds())
    with pytest.raises(PermissionDenied):
        portal.customers.get(first, customer)


def test_the_customer_switched_off_and_the_account_logged_out_everywhere(world: World) -> None:
    portal = world.portal
    customer, membership, session = _member_world(world)
    portal.auth.end_sessions(world.staff, membership.account_id)
    with pytest.raises(AuthenticationFailed):
        portal.auth.session_context(world.vendor, session)
    session = portal.auth.session(world.member(membership))
    assert portal.auth.session_context(world.vendor, session).actor.customer_id == customer.id
    portal.customers.deactivate(world.staff, customer)
    with pytest.raises(AuthenticationFailed):
        portal.auth.session_context(world.vendor, session)


@pytest.mark.parametrize(
    "bad",
    ["", "x", "a.b.c", "\udcff.b.c", "0" * 1_000_000, None, 7],
)
def test_bad_session_values_fail_alike(world: World, bad: Any) -> None:
    with pytest.raises(AuthenticationFailed):
        world.portal.auth.session_context(world.vendor, bad)


def test_a_forged_session_for_a_real_membership_fails(world: World) -> None:
    _customer, _membership, session = _member_world(world)
    forged = f"{session.split('.')[0]}.{'A' * 43}"
    with pytest.raises(AuthenticationFailed):
        world.portal.auth.session_context(world.vendor, forged)
    other_vendor = world.portal.vendors.create(System(), code="OTHER", name="Other")
    with pytest.raises(AuthenticationFailed):
        world.portal.auth.session_context(other_vendor, session)


def test_a_context_of_another_portal_is_refused(world: World) -> None:
    customer, _membership, _session = _member_world(world)
    stranger = Portal()
    stranger_world = World(stranger)
    foreign = stranger.access.context(stranger_world.staff)
    with pytest.raises(ValidationError) as caught:
        world.portal.customers.get(foreign, customer)
    assert caught.value.code == "foreign_context"
    with pytest.raises(ValidationError):
        world.portal.access.context(foreign)


def test_a_view_as_context_ends_with_its_view(world: World) -> None:
    portal = world.portal
    customer, membership, _session = _member_world(world)
    helpdesk = Staff(
        vendor_id=world.vendor.id, user_id="helpdesk", permissions=frozenset({"impersonate"})
    )
    viewer = portal.access.view_as(helpdesk, membership, reason="ticket 12", minutes=5)
    ctx = portal.access.context(viewer)
    assert portal.customers.get(ctx, customer).id == customer.id
    assert isinstance(portal.clock, FixedClock)
    portal.clock.advance(minutes=5)
    with pytest.raises(PermissionDenied):
        portal.customers.get(ctx, customer)


def test_a_context_stands_only_for_its_own_actor(world: World) -> None:
    portal = world.portal
    customer, membership, _session = _member_world(world)
    other = world.membership(customer=world.customer(), profile=world.profile())
    ctx = portal.access.context(world.member(membership))
    # Inside a call given ctx, a context asked for someone else is built for them.
    assert portal.access.context(world.member(other)).actor == world.member(other)
    assert portal.access.context(world.member(other)) is not ctx
    assert isinstance(ctx.actor, Member)
    # And after a call that failed, the next call with the bare actor reads afresh.
    with pytest.raises(NotFound):
        portal.customers.get(ctx, other.customer_id)
    portal.memberships.deactivate(world.staff, membership)
    with pytest.raises(PermissionDenied):
        portal.customers.get(world.member(membership), customer)


def test_a_block_lets_calls_with_the_bare_actor_reuse_the_context(sql_world: World) -> None:
    portal = sql_world.portal
    customer, _membership, session = _member_world(sql_world)
    ctx = portal.auth.session_context(sql_world.vendor, session)
    member = ctx.actor
    with statements(portal) as seen, portal.access.using(ctx):
        portal.customers.get(member, customer.id)
        portal.locations.list(member, customer=customer)
        assert portal.access.context(member) is ctx
    assert len(seen) == 2  # the two reads of the calls, no rights read
    with statements(portal) as after:
        portal.customers.get(member, customer.id)
    assert len(after) > 1  # outside the block, the rights are read again
    with pytest.raises(ValidationError), portal.access.using(member):  # type: ignore[arg-type]
        pass


def _second_process(portal: Portal) -> Portal:
    """Another process on the same database: a portal of its own (its own kept facts)."""
    storage = portal.storage
    engine = getattr(storage, "engine", None)
    if engine is None:  # memory: one store, two portals
        return Portal(storage, MemoryMailer(), clock=portal.clock)
    from portalkit.storage.sqlalchemy import SqlStorage

    url = engine.url.render_as_string(hide_password=False)
    twin = SqlStorage(
        url,
        table_prefix=storage.table_prefix,  # type: ignore[attr-defined]
        database_schema=storage.schema.database_schema,  # type: ignore[attr-defined]
    )
    return Portal(twin, MemoryMailer(), clock=portal.clock)


def test_a_change_in_another_process_reaches_the_next_request(world: World) -> None:
    """Facts kept between requests are reused only while the vendor's rights generation has
    not moved: every kind of change another process commits is seen by the next request."""
    portal = world.portal
    other = _second_process(portal)
    staff = world.staff
    try:
        customer, membership, session = _member_world(world)
        profile = portal.profiles.get(staff, membership.profile_id)
        site = world.location(customer)

        sessions = [session]

        def ctx() -> AccessContext:
            return portal.auth.session_context(world.vendor, sessions[-1])

        def log_in_again() -> None:
            # Switching a login off ends its sessions for good; it logs in anew.
            sessions.append(portal.auth.session(world.member(membership)))

        assert ctx().can("orders.view") and not ctx().can("invoices.view")
        # The profile gains a capability, in the other process.
        other.profiles.update(staff, profile, capabilities={"orders.view", "invoices.view"})
        with pytest.raises(AuthenticationFailed):  # a change of rights ends the sessions
            ctx()
        log_in_again()
        assert ctx().can("invoices.view")
        # A location is switched off there.
        assert ctx().allows("orders.view", location=site.id)
        other.locations.deactivate(staff, site.id)
        assert not ctx().allows("orders.view", location=site.id)
        # The membership, then the customer, then the account.
        other.memberships.deactivate(staff, membership.id)
        with pytest.raises(AuthenticationFailed):
            ctx()
        other.memberships.activate(staff, membership.id)
        log_in_again()
        assert ctx().can("orders.view")
        other.customers.deactivate(staff, customer.id)
        with pytest.raises(AuthenticationFailed):
            ctx()
        other.customers.reactivate(staff, customer.id)
        log_in_again()
        assert ctx().can("orders.view")
        other.auth.end_sessions(staff, membership.account_id)
        with pytest.raises(AuthenticationFailed):
            ctx()
    finally:
        if other.storage is not portal.storage:
            other.close()


def test_a_change_rolled_back_leaves_no_kept_facts_behind(world: World) -> None:
    """Facts read inside a transaction that changed rights are not kept: rolled back, the
    change never reaches a request."""
    portal = world.portal
    _customer, membership, session = _member_world(world)
    profile = portal.profiles.get(world.staff, membership.profile_id)
    assert not portal.auth.session_context(world.vendor, session).can("invoices.view")
    with pytest.raises(RuntimeError), portal.transaction():
        portal.profiles.update(world.staff, profile, capabilities={"orders.view", "invoices.view"})
        # Inside, the change is seen: a change of rights ends the member's sessions.
        with pytest.raises(AuthenticationFailed):
            portal.auth.session_context(world.vendor, session)
        raise RuntimeError("the host's next step failed")
    # Rolled back, it never happened: the session holds, with the rights it had.
    assert not portal.auth.session_context(world.vendor, session).can("invoices.view")


def test_a_known_session_is_checked_in_one_statement_and_no_transaction(
    sql_world: World,
) -> None:
    portal = sql_world.portal
    _customer, membership, session = _member_world(sql_world)
    portal.auth.session_context(sql_world.vendor, session)  # this process reads the facts
    engine = portal.storage.engine  # type: ignore[attr-defined]
    sent: list[str] = []
    ended: list[str] = []

    def count(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", lambda _c: ended.append("COMMIT"))
    try:
        ctx = portal.auth.session_context(sql_world.vendor, session)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert ctx.actor == sql_world.member(membership)
    # The rights generation alone: no BEGIN before it, no COMMIT after it.
    assert len(sent) == 1 and "rights_generations" in sent[0] and not ended, (sent, ended)
    # Inside a transaction under way the number is read there (it may hold the change).
    with portal.transaction():
        portal.memberships.deactivate(sql_world.staff, membership)
        with pytest.raises(AuthenticationFailed):
            portal.auth.session_context(sql_world.vendor, session)
    with pytest.raises(AuthenticationFailed):
        portal.auth.session_context(sql_world.vendor, session)


def test_a_kept_select_never_answers_for_another_decision(world: World) -> None:
    import sqlalchemy as sa

    from portalkit import ResourceType

    table = sa.Table(
        "kept_orders",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Uuid),
        sa.Column("rate", sa.Numeric(10, 2)),
    )
    portal = world.portal
    portal.access.register_resource(
        ResourceType(
            "kept_orders", view="orders.view", sensitive={"rate": "prices.view"}, model=table
        )
    )
    seeing = world.profile(capabilities={"orders.view", "prices.view"})
    blind = world.profile(capabilities={"orders.view"})
    first, second = world.customer(), world.customer()

    def select_of(customer: Any, profile: Any) -> Any:
        membership = world.membership(customer=customer, profile=profile)
        ctx = portal.auth.session_context(
            world.vendor, portal.auth.session(world.member(membership))
        )
        return ctx.select("kept_orders")

    mine = select_of(first, seeing)
    assert select_of(first, seeing) is mine  # the same decision: the same select
    theirs = select_of(second, seeing)
    assert theirs.compile().params != mine.compile().params  # another customer's rows
    assert [c.name for c in select_of(first, blind).selected_columns] == ["id", "customer_id"]
    assert [c.name for c in mine.selected_columns] == ["id", "customer_id", "rate"]
