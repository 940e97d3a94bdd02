"""A vendor's rule that logins holding some rights must have a second factor, and the
enrolment it forces at the next log-in (issue 17 item 1), on memory, SQLite and PostgreSQL.
Codes are computed by hand (tests/test_second_factor.py's ``_code``)."""

from __future__ import annotations

from typing import Any

import pytest

from portalkit import (
    AuthenticationFailed,
    Enrolled,
    FixedClock,
    NotFound,
    PermissionDenied,
    Portal,
    SecondFactorEnrolmentRequired,
    SecondFactorRequired,
    ValidationError,
)
from portalkit.auth import member_of
from portalkit.testing.authenticator import SoftAuthenticator
from portals import GOOD
from portals import account_of as _account
from portals import login_with_password as _login
from portals import mail_world as _world
from test_second_factor import _code


def _clock(portal: Portal) -> FixedClock:
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    return clock


def _name(world: Any, membership: Any) -> str:
    return str(_account(world, membership).username)


def _must_enrol(portal: Portal, world: Any, username: str) -> str:
    with pytest.raises(SecondFactorEnrolmentRequired) as needed:
        portal.auth.authenticate(world.vendor, username, GOOD)
    return needed.value.challenge


def _enrol(portal: Portal, world: Any, challenge: str) -> tuple[Enrolled, str]:
    enrolment = portal.second_factor.begin_enrolment(world.vendor, challenge, issuer="Acme")
    assert "<svg" in enrolment.qr_svg
    done = portal.auth.complete_enrolment(
        world.vendor, challenge, _code(enrolment.secret, portal.clock.now())
    )
    return done, enrolment.secret


def _admin(world: Any, **fields: Any) -> Any:
    return _login(world, profile=world.profile(capabilities={"orders.view", "members.manage"}))


# -- the rule, on effective rights -----------------------------------------------------------
def test_a_capability_rule_forces_enrolment_only_on_logins_holding_it(portal: Portal) -> None:
    world = _world(portal)
    admin, plain = _admin(world), _login(world)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    with pytest.raises(AuthenticationFailed) as refused:  # a host that knows nothing of it
        portal.auth.authenticate(world.vendor, _name(world, admin), GOOD)
    assert isinstance(refused.value, SecondFactorEnrolmentRequired)
    assert portal.auth.authenticate(world.vendor, _name(world, plain), GOOD).session


def test_a_profile_rule_forces_enrolment_on_that_profiles_logins(portal: Portal) -> None:
    world = _world(portal)
    strict = world.profile(capabilities={"orders.view"})
    covered, other = _login(world, profile=strict), _login(world)
    portal.second_factor.require_for(world.staff, profiles=[strict])
    _must_enrol(portal, world, _name(world, covered))
    assert portal.auth.authenticate(world.vendor, _name(world, other), GOOD).session


def test_a_capability_the_customers_settings_cut_does_not_count(portal: Portal) -> None:
    """The profile lists ``prices.view``, but the customer has prices switched off: the
    login cannot see prices, so a rule on ``prices.view`` does not cover it."""
    world = _world(portal)
    hidden = world.customer(settings={"show_prices": False})
    priced = _login(
        world, customer=hidden, profile=world.profile(capabilities={"orders.view", "prices.view"})
    )
    shown = _login(world, profile=world.profile(capabilities={"orders.view", "prices.view"}))
    portal.second_factor.require_for(world.staff, capabilities=["prices.view"])
    assert portal.auth.authenticate(world.vendor, _name(world, priced), GOOD).session
    _must_enrol(portal, world, _name(world, shown))
    portal.customers.update(world.staff, hidden, settings={"show_prices": True})
    _must_enrol(portal, world, _name(world, priced))  # decided live, at each log-in


def test_a_capability_held_through_the_umbrella_membership_counts(portal: Portal) -> None:
    """The login works in a site customer with a plain profile, but its membership of the
    umbrella above manages members: whichever customer it logs in to, it is covered."""
    world = _world(portal)
    umbrella = world.customer()
    site = world.customer(parent=umbrella)
    at_site = _login(world, customer=site)
    account = _account(world, at_site)
    world.membership(
        customer=umbrella,
        account=account,
        profile=world.profile(capabilities={"orders.view", "members.manage"}),
    )
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    with pytest.raises(SecondFactorEnrolmentRequired):
        portal.auth.authenticate(world.vendor, account.username, GOOD, customer=site)


def test_a_membership_that_cannot_log_in_does_not_count(portal: Portal) -> None:
    """Rights written on a disabled membership are no rights: the rule looks at what the
    login may really do."""
    world = _world(portal)
    plain = _login(world)
    account = _account(world, plain)
    gone = world.membership(
        account=account, profile=world.profile(capabilities={"orders.view", "members.manage"})
    )
    portal.memberships.deactivate(world.staff, gone)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    assert portal.auth.authenticate(world.vendor, account.username, GOOD).session


def test_a_login_with_a_second_factor_goes_to_the_second_step(portal: Portal) -> None:
    world = _world(portal)
    admin = _admin(world)
    member = member_of(admin)
    enrolment = portal.second_factor.begin(member, password=GOOD)
    portal.second_factor.confirm(member, _code(enrolment.secret, portal.clock.now()))
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    with pytest.raises(SecondFactorRequired) as needed:
        portal.auth.authenticate(world.vendor, _name(world, admin), GOOD)
    assert not isinstance(needed.value, SecondFactorEnrolmentRequired)


def test_a_passkey_counts_as_a_second_factor(portal: Portal) -> None:
    world = _world(portal, base_url="https://portal.vendor.example")
    admin = _admin(world)
    member = member_of(admin)
    device = SoftAuthenticator()
    options = portal.passkeys.registration_options(member, password=GOOD)
    portal.passkeys.register(member, device.create(options), name="Laptop")
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    with pytest.raises(SecondFactorRequired) as needed:
        portal.auth.authenticate(world.vendor, _name(world, admin), GOOD)
    assert not isinstance(needed.value, SecondFactorEnrolmentRequired)


def test_the_rule_is_staff_only_checked_and_audited(portal: Portal) -> None:
    world = _world(portal)
    other = _world(Portal(portal.storage, portal.mailer, clock=portal.clock))
    foreign = other.profile(capabilities={"orders.view"})
    with pytest.raises(PermissionDenied):
        portal.second_factor.require_for(member_of(_admin(world)), capabilities=["export"])
    with pytest.raises(ValidationError):
        portal.second_factor.require_for(world.staff, capabilities=["members.manag"])
    with pytest.raises(ValidationError):
        portal.second_factor.require_for(world.staff, capabilities="members.manage")
    with pytest.raises(NotFound):
        portal.second_factor.require_for(world.staff, profiles=[foreign])
    assert portal.second_factor.rule(world.staff) is None
    rule = portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    assert portal.second_factor.rule(world.staff) == rule
    assert portal.second_factor.rule(other.staff) is None
    (event,) = portal.audit.list(world.staff, action="second_factor_rule_changed")
    assert event.details["capabilities"] == ["members.manage"]
    portal.second_factor.require_for(world.staff)  # empty: nothing required any more
    assert portal.auth.authenticate(world.vendor, _name(world, _admin(world)), GOOD).session


# -- forced enrolment ------------------------------------------------------------------------
def test_forced_enrolment_logs_in_with_the_first_code_and_shows_recovery_codes(
    portal: Portal,
) -> None:
    world = _world(portal)
    admin = _admin(world)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    done, secret = _enrol(portal, world, _must_enrol(portal, world, _name(world, admin)))
    assert len(done.recovery_codes) == 10
    assert portal.auth.validate_session(world.vendor, done.login.session) == done.login.actor
    assert portal.second_factor.enabled(done.login.actor, done.login.account)
    _clock(portal).advance(seconds=30)
    with pytest.raises(SecondFactorRequired) as needed:  # from now on: the second step
        portal.auth.authenticate(world.vendor, _name(world, admin), GOOD)
    login = portal.auth.complete_login(
        world.vendor, needed.value.challenge, _code(secret, portal.clock.now())
    )
    assert login.account.id == done.login.account.id


def test_the_enrolment_challenge_gives_no_session_and_nothing_else(portal: Portal) -> None:
    """Fail closed: the challenge is no session value, no second step, no passkey step;
    no success is recorded until the enrolment is complete."""
    world = _world(portal)
    admin = _admin(world)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    challenge = _must_enrol(portal, world, _name(world, admin))
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, challenge)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login(world.vendor, challenge, "123456")
    with pytest.raises(AuthenticationFailed):
        portal.passkeys.second_factor_options(world.vendor, challenge)
    assert portal.audit.list(world.staff, action="login_success") == []
    assert _account(world, admin).last_login_at is None
    # A second step's challenge does not enrol either.
    plain = _login(world)
    member = member_of(plain)
    enrolment = portal.second_factor.begin(member, password=GOOD)
    portal.second_factor.confirm(member, _code(enrolment.secret, portal.clock.now()))
    with pytest.raises(SecondFactorRequired) as step:
        portal.auth.authenticate(world.vendor, _name(world, plain), GOOD)
    with pytest.raises(AuthenticationFailed):
        portal.second_factor.begin_enrolment(world.vendor, step.value.challenge)


def test_the_enrolment_challenge_cannot_be_replayed(portal: Portal) -> None:
    world = _world(portal)
    admin = _admin(world)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    challenge = _must_enrol(portal, world, _name(world, admin))
    done, secret = _enrol(portal, world, challenge)
    _clock(portal).advance(seconds=30)
    with pytest.raises(AuthenticationFailed):
        portal.second_factor.begin_enrolment(world.vendor, challenge)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_enrolment(world.vendor, challenge, _code(secret, portal.clock.now()))
    # Not even once the factor is gone again (staff reset it): the challenge was used up.
    portal.second_factor.reset(world.staff, done.login.account)
    with pytest.raises(AuthenticationFailed):
        portal.second_factor.begin_enrolment(world.vendor, challenge)


def test_the_enrolment_challenge_expires_and_a_newer_log_in_ends_it(portal: Portal) -> None:
    world = _world(portal)
    admin = _admin(world)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    old = _must_enrol(portal, world, _name(world, admin))
    enrolment = portal.second_factor.begin_enrolment(world.vendor, old)
    _clock(portal).advance(seconds=600)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_enrolment(
            world.vendor, old, _code(enrolment.secret, portal.clock.now())
        )
    with pytest.raises(AuthenticationFailed):
        portal.second_factor.begin_enrolment(world.vendor, old)
    first = _must_enrol(portal, world, _name(world, admin))
    second = _must_enrol(portal, world, _name(world, admin))
    with pytest.raises(AuthenticationFailed):
        portal.second_factor.begin_enrolment(world.vendor, first)
    _enrol(portal, world, second)


def test_a_wrong_first_code_keeps_the_challenge_but_counts(portal: Portal) -> None:
    world = _world(portal, login_max_failures=3)
    admin = _admin(world)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    challenge = _must_enrol(portal, world, _name(world, admin))
    enrolment = portal.second_factor.begin_enrolment(world.vendor, challenge)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_enrolment(world.vendor, challenge, "000000")
    done = portal.auth.complete_enrolment(
        world.vendor, challenge, _code(enrolment.secret, portal.clock.now())
    )
    assert done.login.session
    other = _admin(world)
    challenge = _must_enrol(portal, world, _name(world, other))
    enrolment = portal.second_factor.begin_enrolment(world.vendor, challenge)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            portal.auth.complete_enrolment(world.vendor, challenge, "000000")
    with pytest.raises(AuthenticationFailed):  # throttled: even the right code
        portal.auth.complete_enrolment(
            world.vendor, challenge, _code(enrolment.secret, portal.clock.now())
        )
    assert not portal.second_factor.enabled(world.staff, _account(world, other))


def test_a_login_switched_off_meanwhile_enrols_nothing(portal: Portal) -> None:
    world = _world(portal)
    admin = _admin(world)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    challenge = _must_enrol(portal, world, _name(world, admin))
    enrolment = portal.second_factor.begin_enrolment(world.vendor, challenge)
    portal.accounts.deactivate(world.staff, _account(world, admin))
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_enrolment(
            world.vendor, challenge, _code(enrolment.secret, portal.clock.now())
        )
    assert not portal.second_factor.enabled(world.staff, _account(world, admin))


@pytest.mark.parametrize("how", ["new_membership", "upgraded_profile", "reactivated"])
def test_a_switch_never_reaches_a_covered_membership_without_a_second_factor(
    portal: Portal, how: str
) -> None:
    """Red team: a login not covered at its log-in switched into another membership of its
    account that the rule covered (added, given more rights or switched on since) and got a
    session value there with no second factor."""
    world = _world(portal)
    a, b = world.customer(), world.customer()
    account = _account(world, _login(world, customer=a))
    manager = {"orders.view", "members.manage"}
    there = None
    if how != "new_membership":
        there = world.membership(
            customer=b, account=account, profile=world.profile(capabilities={"orders.view"})
        )
        if how == "reactivated":
            portal.memberships.update(
                world.staff, there, profile=world.profile(capabilities=manager)
            )
            portal.memberships.deactivate(world.staff, there.id)
    portal.second_factor.require_for(world.staff, capabilities=["members.manage"])
    login = portal.auth.authenticate(world.vendor, account.username, GOOD, customer=a)
    if how == "new_membership":
        world.membership(customer=b, account=account, profile=world.profile(capabilities=manager))
    elif how == "upgraded_profile":
        assert there is not None
        portal.memberships.update(world.staff, there, profile=world.profile(capabilities=manager))
    else:
        assert there is not None
        portal.memberships.activate(world.staff, there.id)
    actor = portal.auth.validate_session(world.vendor, login.session)
    moved = portal.access.switch(actor, b)
    with pytest.raises(PermissionDenied):
        portal.auth.session(moved, login.session)
    # The way in is a log-in, which asks for the enrolment first.
    with pytest.raises(SecondFactorEnrolmentRequired):
        portal.auth.authenticate(world.vendor, account.username, GOOD, customer=b)
