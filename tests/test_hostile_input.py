"""Only PortalErrors escape, for any input (G1): unknown keyword arguments, lone surrogates in
the inputs that bypass the text checkers (login names, session values, links), on every
backend alike."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import (
    AuthenticationFailed,
    InvalidToken,
    Portal,
    PortalSettings,
    ValidationError,
)
from portalkit.testing import World

SURROGATE = "\ud800"


@pytest.fixture
def world(portal: Portal) -> World:
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
    )
    return World(portal)


CREATES = {
    "customers": {"code": "ACME", "name": "Acme"},
    "accounts": {"username": "jane", "email": "jane@acme.example"},
    "profiles": {"name": "Reader"},
}


@pytest.mark.parametrize("service", sorted(CREATES))
def test_unknown_arguments_are_bad_input_and_change_nothing(world: World, service: str) -> None:
    """Mass assignment (D2): ``password_hash=…`` or ``is_admin=…`` is a ValidationError that
    names the field, not a TypeError, and nothing is stored."""
    create = getattr(world.portal, service).create
    before = getattr(world.portal, service).list(world.staff)
    with pytest.raises(ValidationError) as caught:
        create(world.staff, **CREATES[service], password_hash="x", is_admin=True)
    assert {(p.field, p.code) for p in caught.value.problems} == {
        ("password_hash", "unknown_field"),
        ("is_admin", "unknown_field"),
    }
    assert getattr(world.portal, service).list(world.staff) == before


def test_a_missing_argument_is_bad_input_too(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        world.portal.customers.create(world.staff, code="ACME")  # type: ignore[call-arg]
    assert [(p.field, p.code) for p in caught.value.problems] == [("name", "required")]


@pytest.mark.parametrize(
    "login", [SURROGATE, f"jane{SURROGATE}", f"{SURROGATE}@acme.example", "x" * 1_000_000]
)
def test_a_login_no_backend_can_store_is_the_generic_failure(world: World, login: str) -> None:
    with pytest.raises(AuthenticationFailed):
        world.portal.auth.authenticate(world.vendor, login, "whatever it is")
    world.portal.credentials.request_reset(world.vendor, login)  # nothing raised, nothing told
    world.portal.mail.wait()


def test_hostile_sessions_and_links_get_the_flows_own_answers(world: World) -> None:
    p = world.portal
    membership = world.membership()
    for session in (f"{membership.id}.{SURROGATE}.x", SURROGATE * 3, {"a": 1}):
        with pytest.raises(AuthenticationFailed):
            p.auth.validate_session(world.vendor, session)  # type: ignore[arg-type]
    for token in (SURROGATE, f"abc{SURROGATE}", "y" * 10_000):
        with pytest.raises(InvalidToken):
            p.credentials.accept_invitation(world.vendor, token, "a fine long password")
        with pytest.raises(InvalidToken):
            p.credentials.reset_password(world.vendor, token, "a fine long password")
        assert not p.credentials.link_works(world.vendor, "invite", token)


def test_surrogates_in_what_services_store_are_validation_errors(world: World) -> None:
    p = world.portal
    customer = world.customer()
    attempts: list[Any] = [
        lambda: p.customers.create(world.staff, code="X1", name=f"Acme{SURROGATE}"),
        lambda: p.contacts.create(
            world.staff, customer=customer, first_name=SURROGATE, last_name="T"
        ),
        lambda: p.accounts.create(world.staff, username=f"u{SURROGATE}", email="u@x.example"),
        lambda: p.logins.add(
            world.staff,
            customer=customer,
            email="p@x.example",
            first_name="P",
            last_name=SURROGATE,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError):
            attempt()
