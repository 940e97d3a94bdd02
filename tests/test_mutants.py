"""Tests that kill mutants the rest of the suite let survive (issue 9.11, `tox -e mutants`).

Each names the function and the mutation it kills; docs/testing.md lists the run's results.
"""

from __future__ import annotations

from typing import Any

import pytest

from portalkit import (
    AuthenticationFailed,
    FixedClock,
    Membership,
    NotFound,
    PasswordExpired,
    PermissionDenied,
    Portal,
    ValidationError,
)
from portalkit.testing import World
from portals import mail_world as _world

GOOD = "correct horse battery staple"


def _login(world: World, password: str | None = GOOD, **fields: Any) -> Membership:
    profile = fields.pop("profile", None) or world.profile(capabilities={"orders.view"})
    account = fields.pop("account", None) or world.account()
    membership = world.membership(account=account, profile=profile, **fields)
    if password is not None:
        world.portal.credentials.set_password(world.system, membership, password, must_change=False)
    return membership


def _username(world: World, membership: Membership) -> str:
    return str(world.portal.accounts.get(world.staff, membership.account_id).username)


def _later(portal: Portal) -> None:
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    clock.advance(seconds=1)


def _last_reason(world: World) -> str:
    events = world.portal.audit.list(world.staff, action="login_failure", limit=500)
    return str(events[-1].reason)


# -- auth._judge: the audit log names the real reason of every failure (A6, H1) ------------
def test_every_login_failure_records_its_own_reason(portal: Portal) -> None:
    """Kills the reason-string mutants of ``_judge``: the caller sees one failure, the audit
    log the exact reason code, for each path."""
    world = _world(portal, login_max_failures=3)
    plain = _login(world)
    no_password = _login(world, password=None)
    disabled_account = _login(world)
    portal.accounts.deactivate(world.staff, disabled_account.account_id)
    disabled_membership = _login(world)
    portal.memberships.deactivate(world.staff, disabled_membership)
    cases = [
        ("nobody-at-all", GOOD, "unknown_login"),
        (_username(world, plain), "not the right one", "wrong_password"),
        (_username(world, no_password), GOOD, "no_password"),
        (_username(world, disabled_account), GOOD, "account_disabled"),
        (_username(world, disabled_membership), GOOD, "membership_disabled"),
    ]
    for login, password, reason in cases:
        with pytest.raises(AuthenticationFailed) as caught:
            portal.auth.authenticate(world.vendor, login, password)
        assert type(caught.value) is AuthenticationFailed
        assert _last_reason(world) == reason, login
    other = world.customer()
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, _username(world, plain), GOOD, customer=other)
    assert _last_reason(world) == "not_a_member_of_customer"
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, _username(world, plain), "wrong again")
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, _username(world, plain), GOOD)
    assert _last_reason(world) == "throttled"


def test_a_login_whose_every_membership_is_off_names_each_reason(portal: Portal) -> None:
    """Kills ``"; ".join`` mutants: two unusable memberships give both reasons, in order."""
    world = _world(portal)
    first = _login(world)
    account = world.portal.accounts.get(world.staff, first.account_id)
    _later(portal)  # storage lists memberships by creation time
    second = _login(world, password=None, account=account)
    portal.memberships.deactivate(world.staff, first)
    portal.customers.deactivate(world.staff, second.customer_id)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, account.username, GOOD)
    first_reason, second_reason = _last_reason(world).split("; ")
    assert first_reason == "membership_disabled"
    assert second_reason.startswith("customer ") and second_reason.endswith(" is inactive")


def test_a_disabled_first_membership_does_not_hide_an_active_second(portal: Portal) -> None:
    """Kills ``continue`` → ``break`` in ``_judge``: every membership is looked at."""
    world = _world(portal)
    first = _login(world)
    account = world.portal.accounts.get(world.staff, first.account_id)
    _later(portal)  # the disabled membership comes first in storage order
    second = _login(world, password=None, account=account)
    portal.memberships.deactivate(world.staff, first)
    login = portal.auth.authenticate(world.vendor, account.username, GOOD)
    assert login.actor.membership_id == second.id
    assert [m.id for m in login.memberships] == [second.id]


def test_a_generated_password_expires_exactly_at_its_time(portal: Portal) -> None:
    """Kills ``now < expires`` → ``now <= expires``: valid while ``now < expires_at``."""
    world = _world(portal, generated_password_hours=24)
    membership = _login(world, password=None)
    generated = portal.credentials.set_password(world.system, membership)
    assert generated is not None
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    clock.advance(hours=24, seconds=-1)
    assert portal.auth.authenticate(world.vendor, _username(world, membership), generated)
    clock.advance(seconds=1)
    with pytest.raises(PasswordExpired):
        portal.auth.authenticate(world.vendor, _username(world, membership), generated)
    assert _last_reason(world) == "password_expired"


def test_a_customer_that_is_not_an_id_is_bad_input_on_the_customer_field(portal: Portal) -> None:
    """Kills the field-name mutants of ``ident("customer", …)`` in ``_judge``."""
    world = _world(portal)
    membership = _login(world)
    with pytest.raises(ValidationError) as caught:
        portal.auth.authenticate(
            world.vendor, _username(world, membership), GOOD, customer="not an id"
        )
    assert [p.field for p in caught.value.problems] == ["customer"]


def test_a_malformed_customer_is_refused_before_the_password_is_looked_at(
    portal: Portal,
) -> None:
    """A bad ``customer`` answered only after the right password would confirm a guessed
    password without a log-in: no success recorded, no session. It is refused the same way
    for the right password, a wrong one and an unknown login, and counts no attempt."""
    world = _world(portal, login_max_failures=3)
    membership = _login(world)
    name = _username(world, membership)
    answers = []
    for login, password in [(name, GOOD), (name, "not the right one"), ("nobody", GOOD)]:
        with pytest.raises(ValidationError) as caught:
            portal.auth.authenticate(world.vendor, login, password, customer="not an id")
        answers.append(str(caught.value))
    assert len(set(answers)) == 1
    for _ in range(2):  # no attempt was counted: two failures and the right password pass
        with pytest.raises(AuthenticationFailed):
            portal.auth.authenticate(world.vendor, name, "not the right one")
        _later(portal)
    assert portal.auth.authenticate(world.vendor, name, GOOD).actor.membership_id == membership.id


# -- credentials._admin and memberships._may_touch_account: a delegated admin sets passwords -
def _customer_with_main(world: World, **fields: Any) -> Any:
    customer = world.customer(**fields)
    world.membership(customer=customer, kind="main")
    return customer


def _delegate(world: World, customer: Any, capabilities: set[str], **scopes: str) -> Any:
    profile = world.profile(capabilities={"members.manage", *capabilities}, scopes=scopes)
    return world.member(world.membership(customer=customer, profile=profile, kind="extra"))


def test_a_delegated_admin_sets_the_password_of_a_login_within_its_rights() -> None:
    """Kills the argument mutants of ``_admin``'s ``_may_touch_account`` call and the inverted
    checks inside it: the allowed case must work, not only the refusals."""
    world = World()
    portal = world.portal
    customer = _customer_with_main(world)
    admin = _delegate(world, customer, {"orders.view"})
    login = _login(world, customer=customer, kind="extra")
    _login(world, customer=customer, kind="extra")  # another login of the customer, untouched
    assert portal.credentials.set_password(admin, login.id, "a new passphrase for kim") is None
    result = portal.auth.authenticate(
        world.vendor, _username(world, login), "a new passphrase for kim"
    )
    assert result.must_change_password
    generated = portal.credentials.set_password(admin, login)
    assert generated is not None
    assert portal.auth.authenticate(world.vendor, _username(world, login), generated)


def test_a_delegated_admin_cannot_set_the_password_of_its_own_account_elsewhere() -> None:
    """Kills the own-account mutants of ``_may_touch_account``: an umbrella admin whose account
    is also an extra login at a branch may not set that login's password (it is its own)."""
    world = World()
    portal = world.portal
    umbrella = _customer_with_main(world)
    branch = _customer_with_main(world, parent=umbrella)
    admin = _delegate(world, umbrella, {"orders.view"}, memberships="tree", orders="tree")
    account = portal.accounts.get(world.staff, admin.account_id)
    at_branch = _login(world, password=None, account=account, customer=branch, kind="extra")
    with pytest.raises(PermissionDenied) as caught:
        portal.credentials.set_password(admin, at_branch.id, "a new passphrase for me")
    assert str(caught.value) == "you cannot change your own login"


def test_a_delegated_admin_cannot_set_the_password_of_an_account_shared_elsewhere() -> None:
    """Kills the message and reach mutants of ``_may_touch_account``'s outside-reach check."""
    world = World()
    portal = world.portal
    mine, theirs = _customer_with_main(world), _customer_with_main(world)
    admin = _delegate(world, mine, {"orders.view"})
    login = _login(world, customer=mine, kind="extra")
    account = portal.accounts.get(world.staff, login.account_id)
    _login(world, password=None, account=account, customer=theirs, kind="extra")
    with pytest.raises(PermissionDenied) as caught:
        portal.credentials.set_password(admin, login.id, "a new passphrase for kim")
    assert str(caught.value) == (
        "this login also works for a customer outside your reach; only the vendor's staff "
        "may change it"
    )


def test_an_invited_login_gets_its_invitation_resent_not_a_password() -> None:
    """Kills the message mutants of ``_admin``'s refusal for invited logins."""
    world = World()
    customer = _customer_with_main(world)
    admin = _delegate(world, customer, {"orders.view"})
    invited = _login(world, password=None, customer=customer, kind="extra", status="invited")
    with pytest.raises(PermissionDenied) as caught:
        world.portal.credentials.set_password(admin, invited.id, "a new passphrase for kim")
    assert str(caught.value) == (
        "this login is not active; resend the invitation, or set a password once the "
        "invitation is accepted"
    )


def test_an_unknown_login_is_not_found_under_the_membership_field() -> None:
    """Kills the label mutants of ``_admin``'s ``load``: the error names the membership."""
    from uuid import uuid4

    from portalkit import NotFound

    world = World()
    missing = uuid4()
    with pytest.raises(NotFound) as caught:
        world.portal.credentials.set_password(world.system, missing, "a new passphrase for kim")
    assert str(caught.value) == f"membership {missing} not found"
    with pytest.raises(ValidationError) as bad:
        world.portal.credentials.set_password(world.system, "not an id", "a passphrase")
    assert [p.field for p in bad.value.problems] == ["membership"]


# -- memberships._reach: effective rights of the login's own customer -----------------------
def test_an_admin_whose_customer_hides_prices_cannot_give_them_at_a_branch_that_shows_them() -> (
    None
):
    """Kills the ``show_prices`` mutants of ``_reach``: the admin holds ``prices.view`` as
    written, but its customer hides prices, so it sees none; a login at a branch that shows
    prices would see them: more than the admin."""
    world = World()
    portal = world.portal
    umbrella = _customer_with_main(world, settings={"show_prices": False})
    branch = _customer_with_main(world, parent=umbrella)
    admin = _delegate(
        world, umbrella, {"orders.view", "prices.view"}, memberships="tree", orders="tree"
    )
    priced = world.profile(capabilities={"orders.view", "prices.view"})
    account = portal.accounts.create(world.staff, username="newbie", email="n@customer.example")
    contact = portal.contacts.create(admin, customer=branch, first_name="New", last_name="Login")
    with pytest.raises(PermissionDenied, match=r"prices\.view"):
        portal.memberships.create(
            admin, account=account, customer=branch, contact=contact, profile=priced, kind="extra"
        )
    # Without prices it is within its rights, at the same branch.
    plain = world.profile(capabilities={"orders.view"})
    made = portal.memberships.create(
        admin, account=account, customer=branch, contact=contact, profile=plain, kind="extra"
    )
    assert made.customer_id == branch.id


# -- access.Predicate.matches and filters.clause: staff and a vendor column -----------------
def test_staff_filter_by_a_vendor_column_in_python_and_in_sql() -> None:
    """Kills the vendor mutants of ``Predicate.matches`` and ``filters.clause``: for a type
    with a ``vendor_field``, staff see their vendor's rows only, in Python and in SQL alike."""
    import uuid

    from sqlalchemy import Column, MetaData, Table, Uuid, create_engine, select

    from portalkit import ResourceType

    world = World()
    other = World(world.portal, vendor_code="other-vendor")
    table = Table(
        "tickets",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("customer_id", Uuid),
        Column("vendor_id", Uuid),
    )
    world.portal.access.register_resource(
        ResourceType("tickets", view="orders.view", vendor_field="vendor_id", model=table)
    )
    rows = [
        {"id": uuid.uuid4(), "customer_id": None, "vendor_id": vendor.id}
        for vendor in (world.vendor, other.vendor, world.vendor)
    ]
    ctx = world.portal.access.context(world.staff)
    assert ctx.filter(rows, "tickets") == [rows[0], rows[2]]
    assert ctx.allows("orders.view", rows[0], "tickets")
    assert not ctx.allows("orders.view", rows[1], "tickets")
    assert not ctx.allows("orders.view", {"id": uuid.uuid4()}, "tickets")  # no vendor: no
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
        found = {r.id for r in conn.execute(ctx.filter(select(table.c.id), "tickets"))}
        assert found == {rows[0]["id"], rows[2]["id"]}
        # A member's filter has no vendor part (its customers are its vendor's): kills
        # ``and`` → ``or`` in the vendor test of ``clause``.
        membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
        mine = {
            "id": uuid.uuid4(),
            "customer_id": membership.customer_id,
            "vendor_id": world.vendor.id,
        }
        conn.execute(table.insert(), [mine])
        member = world.portal.access.context(world.member(membership))
        seen = {r.id for r in conn.execute(member.filter(select(table.c.id), "tickets"))}
    assert seen == {mine["id"]}


# -- access._build_predicate: a capability's condition holds for staff and members alike ----
def test_a_capabilitys_condition_filters_for_members_and_staff() -> None:
    """Kills the condition mutants of ``_build_predicate`` (members and staff paths): with
    ``jobs.download`` only completed jobs pass, in ``can`` and in ``filter``."""
    from portalkit import Condition, ResourceType

    world = World()
    world.portal.access.register_resource(
        ResourceType(
            "jobs", view="orders.view", conditions={"jobs.download": Condition("status", {"done"})}
        )
    )
    profile = world.profile(capabilities={"orders.view", "jobs.download"})
    membership = world.membership(profile=profile)
    done = {"customer_id": membership.customer_id, "status": "done"}
    open_job = {"customer_id": membership.customer_id, "status": "open"}
    for actor in (world.member(membership), world.staff):
        ctx = world.portal.access.context(actor)
        assert ctx.filter([done, open_job], "jobs", capability="jobs.download") == [done]
        assert not ctx.allows("jobs.download", open_job, "jobs")
        assert ctx.filter([done, open_job], "jobs") == [done, open_job]  # viewing has none


def test_a_capabilitys_condition_filters_staff_on_a_vendor_wide_type() -> None:
    """Kills ``conditions`` dropped from the vendor-field branch of ``_build_predicate``: a
    type kept per vendor (no customer) still applies the capability's condition for staff."""
    from portalkit import Condition, ResourceType

    world = World()
    world.portal.access.register_resource(
        ResourceType(
            "stock",
            view="orders.view",
            vendor_field="vendor_id",
            conditions={"jobs.download": Condition("status", {"done"})},
        )
    )
    done = {"vendor_id": world.vendor.id, "status": "done"}
    open_item = {"vendor_id": world.vendor.id, "status": "open"}
    ctx = world.portal.access.context(world.staff)
    assert ctx.filter([done, open_item], "stock", capability="jobs.download") == [done]
    assert ctx.filter([done, open_item], "stock") == [done, open_item]


# -- access._member_context: a denied context keeps its actor and its reason ----------------
def test_a_disabled_account_gives_a_denied_context_that_says_so() -> None:
    """Kills the ``deny`` mutants of ``_member_context``: the actor stays, nothing is allowed,
    the reason reads as written."""
    world = World()
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    world.portal.accounts.deactivate(world.staff, membership.account_id)
    actor = world.member(membership)
    ctx = world.portal.access.context(actor)
    assert ctx.actor == actor
    assert ctx.denied == "the account is disabled"
    assert not ctx.can("orders.view")
    assert ctx.capabilities == frozenset()


# -- memberships._beyond_scopes, _Reach.customers, _sees_some: per-type reach ---------------
def _new_login(world: World, admin: Any, customer: Any, **fields: Any) -> Membership:
    portal = world.portal
    n = world._next()
    account = portal.accounts.create(
        world.staff, username=f"made{n}", email=f"made{n}@customer.example"
    )
    contact = portal.contacts.create(admin, customer=customer, first_name="New", last_name="Login")
    return portal.memberships.create(
        admin,
        account=account,
        customer=customer,
        contact=contact,
        kind=fields.pop("kind", "extra"),
        **fields,
    )


def test_a_customer_grant_cannot_show_a_type_at_customers_the_admin_does_not_see() -> None:
    """Kills the customer-set mutants of ``_beyond_scopes`` and ``_Reach.customers``: an admin
    that manages a branch's logins but sees only its own customer's orders cannot give a login
    orders of the branch through a customer grant; with the same grant itself, it can."""
    from portalkit import ResourceType

    world = World()
    world.portal.access.register_resource(ResourceType("orders", view="orders.view"))
    umbrella = _customer_with_main(world)
    branch = _customer_with_main(world, parent=umbrella)
    admin = _delegate(world, umbrella, {"orders.view"}, memberships="tree", orders="customer")
    reader = world.profile(capabilities={"orders.view"}, scopes={"orders": "customer"})
    with pytest.raises(PermissionDenied) as caught:
        _new_login(world, admin, umbrella, profile=reader, customer_grants=[branch])
    assert str(caught.value).endswith("orders of customers outside your reach")
    assert _new_login(world, admin, umbrella, profile=reader).customer_grants == frozenset()
    granted = world.profile(
        capabilities={"members.manage", "orders.view"},
        scopes={"memberships": "tree", "orders": "customer"},
    )
    wide_admin = world.member(
        world.membership(customer=umbrella, profile=granted, kind="extra", customer_grants=[branch])
    )
    made = _new_login(world, wide_admin, umbrella, profile=reader, customer_grants=[branch])
    assert made.customer_grants == frozenset({branch.id})


def test_an_admin_that_sees_no_visits_gives_a_login_none_but_may_give_an_empty_scope() -> None:
    """Kills the ``_sees_some`` location mutants: an admin with the location scope and no
    grants sees no visits; a login with grants would see some (refused), one without sees
    none either (allowed)."""
    from portalkit import ResourceType

    world = World()
    world.portal.access.register_resource(
        ResourceType("visits", view="orders.view", location_field="site_id")
    )
    customer = _customer_with_main(world)
    site = world.location(customer)
    admin = _delegate(world, customer, {"orders.view"}, visits="location")
    at_site = world.profile(capabilities={"orders.view"}, scopes={"visits": "location"})
    with pytest.raises(PermissionDenied) as caught:
        _new_login(world, admin, customer, profile=at_site, location_grants={site: "read"})
    assert "visits (you see none)" in str(caught.value)
    assert _new_login(world, admin, customer, profile=at_site).location_grants == ()


def test_an_admin_that_writes_at_a_location_may_give_that_write_right() -> None:
    """Kills ``writable or ()`` → ``writable and ()`` in ``_beyond``: a write grant the admin
    holds itself is allowed; only one it lacks is refused."""
    world = World()
    customer = _customer_with_main(world)
    kitchen, cellar = world.location(customer), world.location(customer)
    profile = world.profile(capabilities={"members.manage", "logbook.view"})
    admin = world.member(
        world.membership(
            customer=customer,
            profile=profile,
            kind="extra",
            location_grants={kitchen: "write", cellar: "read"},
        )
    )
    made = _new_login(world, admin, customer, location_grants={kitchen: "write"})
    assert [g.can_write for g in made.location_grants] == [True]
    with pytest.raises(PermissionDenied, match="write at location"):
        _new_login(world, admin, customer, location_grants={cellar: "write"})


def test_a_type_that_passes_does_not_stop_the_check_of_the_types_after_it() -> None:
    """Kills ``continue`` → ``break`` in ``_beyond_scopes``: the types are compared in name
    order, and one that passes — unseen by the login, unregistered, or within reach — must not
    end the comparison before a later type that widens."""
    from portalkit import ResourceType

    world = World()
    access = world.portal.access
    access.register_resource(ResourceType("documents", view="documents.view"))
    access.register_resource(ResourceType("orders", view="orders.view"))
    umbrella = _customer_with_main(world)
    _customer_with_main(world, parent=umbrella)
    admin = _delegate(world, umbrella, {"orders.view", "documents.view"}, orders="customer")
    cases = {
        # "documents" comes first; the login does not see documents at all
        "unseen": ({"orders.view"}, {"documents": "tree", "orders": "tree"}),
        # "assets" is declared but not registered here, so only its scope counts
        "unregistered": ({"orders.view"}, {"assets": "customer", "orders": "tree"}),
        # "documents" is seen, within the admin's reach
        "within": ({"orders.view", "documents.view"}, {"orders": "tree"}),
    }
    for case, (capabilities, scopes) in cases.items():
        wide = world.profile(capabilities=capabilities, scopes=scopes)
        with pytest.raises(PermissionDenied, match="orders per tree") as caught:
            _new_login(world, admin, umbrella, profile=wide)
        assert caught.value is not None, case
    # every widening type is named, not only the first
    both = world.profile(
        capabilities={"orders.view", "documents.view"},
        scopes={"documents": "tree", "orders": "tree"},
    )
    with pytest.raises(PermissionDenied, match=r"documents per tree.*orders per tree"):
        _new_login(world, admin, umbrella, profile=both)
    blind = _delegate(world, umbrella, {"orders.view"}, orders="customer")
    seeing = world.profile(
        capabilities={"orders.view", "documents.view"}, scopes={"orders": "tree"}
    )
    with pytest.raises(PermissionDenied, match=r"documents \(you see none\).*orders per tree"):
        _new_login(world, blind, umbrella, profile=seeing)


# -- memberships.rights: every refusal says what it refuses, in its own words ----------------
def test_every_refusal_of_a_delegated_admin_reads_as_documented() -> None:
    """Kills the message mutants of ``may_touch``, ``may_touch_account`` and
    ``within_rights``: a host shows these sentences to customer admins, and the list of what
    would widen is joined with ", "."""
    world = World()
    portal = world.portal
    customer = _customer_with_main(world)
    stranger = _customer_with_main(world)
    admin = _delegate(world, customer, {"orders.view"})
    own = portal.memberships.get(admin, admin.membership_id)
    main = next(
        m for m in portal.memberships.list(world.staff, customer=customer) if m.kind.value == "main"
    )
    other_admin = world.membership(
        customer=customer,
        kind="extra",
        profile=world.profile(capabilities={"members.manage"}),
    )
    richer = world.membership(
        customer=customer,
        kind="extra",
        profile=world.profile(capabilities={"orders.view", "orders.create", "invoices.view"}),
    )
    refusals = [
        (lambda: portal.memberships.update(admin, own, subscriptions=[]),
         "you cannot change your own login"),
        (lambda: portal.credentials.set_password(admin, own.id, "a new passphrase for me"),
         "you cannot change your own login"),
        (lambda: portal.memberships.update(admin, main, subscriptions=[]),
         "only the vendor's staff may change a main account"),
        (lambda: portal.memberships.update(admin, other_admin, subscriptions=[]),
         "only the vendor's staff may change another administrator"),
        (lambda: portal.memberships.deactivate(admin, richer),
         "this login holds more than you do; only the vendor's staff may change it: "
         "invoices.view, orders.create"),
        (lambda: _new_login(
            world, admin, customer, profile=world.profile(capabilities={"members.manage"})
         ),
         "only the vendor's staff may make a login an administrator"),
        (lambda: _new_login(world, admin, customer, kind="main"),
         "only the vendor's staff may create or promote a main account"),
        (lambda: _new_login(
            world, admin, customer,
            profile=world.profile(capabilities={"orders.view", "orders.create", "invoices.view"}),
         ),
         "you cannot grant what you do not hold: invoices.view, orders.create"),
    ]  # fmt: skip
    for call, message in refusals:
        with pytest.raises(PermissionDenied) as caught:
            call()
        assert str(caught.value) == message
    account = portal.accounts.create(world.staff, username="elsewhere", email="e@x.example")
    contact = world.contact(stranger)  # made by staff: the admin cannot know it
    with pytest.raises(NotFound) as missing:
        portal.memberships.create(
            admin, account=account, customer=stranger, contact=contact, kind="extra"
        )
    assert (missing.value.kind, missing.value.ident) == ("customer", stranger.id)
    outside = world.membership(customer=stranger, kind="extra")
    with pytest.raises(NotFound) as missing:
        portal.credentials.set_password(admin, outside.id, "a new passphrase for them")
    assert (missing.value.kind, missing.value.ident) == ("membership", outside.id)


def test_a_location_limited_admin_is_told_to_give_locations_of_its_own() -> None:
    """Kills the message mutant of the "every location" refusal in ``_beyond``."""
    world = World()
    customer = _customer_with_main(world)
    site = world.location(customer)
    profile = world.profile(capabilities={"members.manage", "orders.view"})
    admin = world.member(
        world.membership(
            customer=customer, profile=profile, kind="extra", location_grants={site: "read"}
        )
    )
    with pytest.raises(PermissionDenied) as caught:
        _new_login(world, admin, customer)
    assert str(caught.value) == (
        "you cannot grant what you do not hold: "
        "every location (give the login locations of your own)"
    )


def test_an_umbrella_admin_sets_the_password_of_a_branch_login() -> None:
    """Kills ``reach("memberships")`` → another type in ``may_touch_account``: the logins an
    admin manages are those of its memberships reach (here the whole tree)."""
    world = World()
    umbrella = _customer_with_main(world)
    branch = _customer_with_main(world, parent=umbrella)
    admin = _delegate(world, umbrella, {"orders.view"}, memberships="tree")
    login = _login(world, customer=branch, kind="extra")
    assert world.portal.credentials.set_password(admin, login.id, "a branch passphrase") is None


def test_scope_defaults_and_customer_sets_are_compared_per_type() -> None:
    """Kills the scope mutants of ``_beyond_scopes``, ``_reach`` and ``_sees_some``: a missing
    scope is the *type's* default on both sides, the customers a scope shows are those of the
    login's own customer, and a tree or own scope is read as itself."""
    from portalkit import ResourceType, Scope

    world = World()
    access = world.portal.access
    access.register_resource(ResourceType("notes", view="orders.view", default_scope=Scope.TREE))
    access.register_resource(ResourceType("orders", view="orders.view"))
    access.register_resource(
        ResourceType(
            "visits", view="orders.view", location_field="site_id", default_scope=Scope.LOCATION
        )
    )
    umbrella = _customer_with_main(world)
    branch = _customer_with_main(world, parent=umbrella)
    admin = _delegate(
        world, umbrella, {"orders.view"}, memberships="tree", notes="customer", orders="customer"
    )
    # notes' default is tree: a login without a notes scope sees more than the admin
    with pytest.raises(PermissionDenied, match="notes per tree"):
        _new_login(world, admin, umbrella, profile=world.profile(capabilities={"orders.view"}))
    # the admin sees only the umbrella's orders; a login at the branch sees the branch's
    reader = world.profile(
        capabilities={"orders.view"}, scopes={"notes": "customer", "orders": "customer"}
    )
    with pytest.raises(PermissionDenied) as caught:
        _new_login(world, admin, branch, profile=reader)
    assert "orders of customers outside your reach" in str(caught.value)
    # an admin with a tree scope may give a customer scope with a grant in its tree
    tree_admin = _delegate(
        world, umbrella, {"orders.view"}, memberships="tree", orders="tree", visits="tree"
    )
    granted = world.profile(
        capabilities={"orders.view"}, scopes={"notes": "own", "orders": "customer"}
    )
    made = _new_login(world, tree_admin, umbrella, profile=granted, customer_grants=[branch])
    assert made.customer_grants == frozenset({branch.id})
    # with the own scope, a customer grant shows nothing more
    own_admin = _delegate(world, umbrella, {"orders.view"}, memberships="tree", orders="own")
    own_reader = world.profile(
        capabilities={"orders.view"}, scopes={"notes": "own", "orders": "own"}
    )
    own_everywhere = world.profile(
        capabilities={"orders.view"}, scopes={"notes": "own", "orders": "own", "visits": "own"}
    )
    made = _new_login(world, own_admin, umbrella, profile=own_everywhere, customer_grants=[branch])
    assert made.customer_grants == frozenset({branch.id})
    # visits default to the location scope: neither side, without grants, sees any
    made = _new_login(world, own_admin, umbrella, profile=own_reader)
    assert made.location_grants == ()


# -- access._member_context: what the member's context carries over ---------------------------
def test_a_members_context_names_its_profile_and_keeps_a_view_as_read_only() -> None:
    """Kills the ``profile_name`` and ``read_only`` mutants of ``_member_context``: explain()
    names the profile that decided, and a read-only view as customer refuses writes the
    member itself may make."""
    from portalkit import Staff

    world = World()
    portal = world.portal
    profile = world.profile(capabilities={"orders.view", "orders.create"})
    membership = world.membership(profile=profile)
    ctx = portal.access.context(world.member(membership))
    assert f"profile {profile.name!r} grants orders.create" in ctx.explain("orders.create")
    assert ctx.can("orders.create")
    staff = Staff(vendor_id=world.vendor.id, user_id="planner", permissions={"impersonate"})
    viewer = portal.access.view_as(staff, membership, reason="customer called")
    seen = portal.access.context(viewer)
    assert seen.can("orders.view")
    assert not seen.can("orders.create")
