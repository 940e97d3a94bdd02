""" "No access" means no access: a login whose profile leaves it no capability cannot log in.

The transport seed's *Geen toegang* level refuses the portal even when a username and a
password exist (``../shared/seeds``); A6 in ``../shared/security.md`` asks that the refusal look
and cost the same as every other failure.
"""

from __future__ import annotations

from typing import Any

import pytest

from portalkit import AuthenticationFailed, Portal, presets
from portalkit.testing import World
from portals import CountingHasher
from portals import mail_world as _world

GOOD = "correct horse battery staple"


def _login(world: World, profile: Any, **fields: Any) -> tuple[Any, str]:
    n = world._next()
    account = world.account(username=f"user{n}", email=f"user{n}@customer.example")
    membership = world.membership(account=account, profile=profile, **fields)
    world.portal.credentials.set_password(world.system, membership, GOOD, must_change=False)
    return membership, account.username


def _reasons(world: World) -> list[str]:
    return [e.reason for e in world.portal.audit.list(world.staff) if e.action == "login_failure"]


def test_transport_no_access_level_cannot_log_in_even_with_a_password(portal: Portal) -> None:
    """Geen toegang: the right password gets the same answer, after the same work, as a wrong
    one; the audit log says why."""
    world = _world(portal)
    spy = CountingHasher(portal.hasher)
    portal.hasher = spy  # type: ignore[assignment]
    nobody = portal.profiles.create_from(world.staff, presets.TRANSPORT_NO_ACCESS)
    _, username = _login(world, nobody)
    _, other = _login(world, world.profile(capabilities={"orders.view"}))
    answers = []
    for login, password in ((username, GOOD), (other, "not the password at all")):
        spy.verifications = 0
        with pytest.raises(AuthenticationFailed) as caught:
            portal.auth.authenticate(world.vendor, login, password)
        assert spy.verifications == 1
        answers.append((type(caught.value), str(caught.value)))
    assert answers[0] == answers[1]
    assert _reasons(world) == ["no_access", "wrong_password"]


def test_a_profile_left_empty_by_hidden_prices_cannot_log_in(portal: Portal) -> None:
    """Capabilities are counted after the customer's settings: only prices.view at a customer
    whose prices are hidden is no access."""
    world = _world(portal)
    hidden = world.customer(settings={"show_prices": False})
    prices_only = world.profile(capabilities={"prices.view"})
    _, username = _login(world, prices_only, customer=hidden)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, username, GOOD)
    assert _reasons(world) == ["no_access"]
    portal.customers.update(world.staff, hidden, settings={"show_prices": True})
    assert portal.auth.authenticate(world.vendor, username, GOOD).actor.customer_id == hidden.id


def test_a_session_ends_when_its_login_is_left_with_no_access(portal: Portal) -> None:
    """A session made while the login could do something fails on its next request once it
    can do nothing: here the customer hides prices from a prices-only login."""
    world = _world(portal)
    shown = world.customer(settings={"show_prices": True})
    membership, username = _login(
        world, world.profile(capabilities={"prices.view"}), customer=shown
    )
    session = portal.auth.authenticate(world.vendor, username, GOOD).session
    assert portal.auth.validate_session(world.vendor, session).membership_id == membership.id
    portal.customers.update(world.staff, shown, settings={"show_prices": False})
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, session)


def test_a_login_with_one_usable_membership_works_there_only(portal: Portal) -> None:
    """An account that is "no access" at one customer and a reader at another logs in to the
    other one, and cannot switch to the first."""
    world = _world(portal)
    nobody = portal.profiles.create_from(world.staff, presets.TRANSPORT_NO_ACCESS)
    first, username = _login(world, nobody)
    reader = world.profile(capabilities={"orders.view"})
    second = world.membership(
        account=first.account_id, profile=reader, customer=world.customer(), status="active"
    )
    login = portal.auth.authenticate(world.vendor, username, GOOD)
    assert login.actor.membership_id == second.id
    assert [m.id for m in login.memberships] == [second.id]
