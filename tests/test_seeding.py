"""Known passwords for demo and test data: one call per login, and only behind a switch."""

from __future__ import annotations

import pytest

from portalkit import ConfigurationError, PasswordRejected, Portal, PortalSettings, load_settings
from portalkit.clock import FixedClock
from portalkit.mail import MemoryMailer
from portalkit.storage.base import Storage
from portalkit.testing import World, seed_login

PASSWORD = "demo harbour tulip"


def test_off_by_default_and_nothing_is_created(world: World) -> None:
    assert PortalSettings().seed_known_passwords is False
    customer = world.customer()
    with pytest.raises(ConfigurationError) as caught:
        seed_login(
            world.portal,
            world.system,
            customer=customer,
            username="anna",
            email="anna@acme.example",
            password=PASSWORD,
        )
    assert "PORTALKIT_SEED_KNOWN_PASSWORDS" in str(caught.value)
    assert world.portal.contacts.list(world.staff, customer=customer) == []
    assert world.portal.memberships.list(world.staff, customer=customer) == []


def test_a_seeded_login_logs_in_at_once(storage: Storage) -> None:
    portal = Portal(
        storage,
        MemoryMailer(),
        clock=FixedClock(),
        settings=PortalSettings(seed_known_passwords=True),
    )
    world = World(portal)
    acme, other = world.customer(), world.customer()
    buyer = world.profile(capabilities={"orders.view"})
    anna = seed_login(
        portal,
        world.system,
        customer=acme,
        username="anna",
        email="anna@acme.example",
        password=PASSWORD,
        profile=buyer,
    )
    assert anna.status.value == "active"
    login = portal.auth.authenticate(world.vendor, "anna", PASSWORD)
    assert login.must_change_password is False
    assert portal.auth.session_context(world.vendor, login.session).can("orders.view")
    # The same person at a second customer: one account, two logins.
    second = seed_login(
        portal,
        world.system,
        customer=other,
        username="anna",
        email="anna@acme.example",
        password=PASSWORD,
        profile=buyer,
        account=anna.account_id,
    )
    assert second.account_id == anna.account_id and second.customer_id == other.id
    with pytest.raises(PasswordRejected):
        seed_login(
            portal,
            world.system,
            customer=acme,
            username="weak",
            email="weak@acme.example",
            password="1234",
            profile=buyer,
            kind="extra",
        )


def test_the_switch_is_an_environment_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTALKIT_SEED_KNOWN_PASSWORDS", "true")
    assert load_settings().seed_known_passwords is True
    assert Portal().settings.seed_known_passwords is False  # only what is read counts
    monkeypatch.setenv("PORTALKIT_SEED_KNOWN_PASSWORDS", "maybe")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "PORTALKIT_SEED_KNOWN_PASSWORDS" in str(caught.value)
