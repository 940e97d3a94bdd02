"""Self-registration (the service-desk seed): request, confirm by mail, staff decide."""

from __future__ import annotations

import re
from typing import Any

import pytest

from portalkit import InvalidToken, Portal, PortalSettings, ValidationError
from portalkit.registrations import RegistrationStatus
from portalkit.testing import World
from portals import mail_world
from secretscan import stored_everything


def _world(portal: Portal, **settings: Any) -> World:
    return mail_world(portal, base_url="https://desk.vendor.example", **settings)


def _request(world: World, email: str = "eva@newco.example", **fields: Any) -> None:
    world.portal.registrations.request(
        world.vendor,
        email=email,
        first_name=fields.get("first_name", "Eva"),
        last_name="Brandt",
        company="NewCo GmbH",
        language="de",
        client_key=fields.get("client_key"),
    )


def _token(portal: Portal) -> str:
    portal.mail.wait()
    mailer: Any = portal.mailer
    body = mailer.outbox[-1].get_body(("plain",)).get_content()
    found = re.search(r"/confirm-registration\?token=([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def test_a_confirmed_request_waits_for_staff_and_approval_invites(portal: Portal) -> None:
    world = _world(portal)
    mailer: Any = portal.mailer
    _request(world)
    assert portal.registrations.list(world.staff) == []  # unconfirmed: not for staff yet
    token = _token(portal)
    assert str(mailer.outbox[-1]["To"]) == "eva@newco.example"
    assert token not in stored_everything(portal)
    confirmed = portal.registrations.confirm(world.vendor, token)
    assert confirmed.status is RegistrationStatus.PENDING
    with pytest.raises(InvalidToken):
        portal.registrations.confirm(world.vendor, token)  # once only
    (pending,) = portal.registrations.list(world.staff)
    newco = world.customer(name="NewCo GmbH")
    membership = portal.registrations.approve(
        world.staff, pending, customer=newco, profile=world.profile(capabilities={"tickets.view"})
    )
    assert membership.status.value == "invited" and membership.customer_id == newco.id
    assert "/accept-invitation?token=" in mailer.outbox[-1].get_body(("plain",)).get_content()
    (decided,) = portal.registrations.list(world.staff, status="approved")
    assert (
        decided.account_id == membership.account_id
        and decided.decided_by == f"staff:{world.staff.user_id}"
    )
    with pytest.raises(ValidationError):
        portal.registrations.reject(world.staff, decided)  # decided once


def test_a_rejected_request_creates_nothing_but_the_audit_entry(portal: Portal) -> None:
    world = _world(portal)
    _request(world)
    portal.registrations.confirm(world.vendor, _token(portal))
    (pending,) = portal.registrations.list(world.staff)
    rejected = portal.registrations.reject(world.staff, pending, reason="unknown company")
    assert rejected.status is RegistrationStatus.REJECTED and rejected.account_id is None
    assert portal.accounts.list(world.staff) == []
    events = portal.audit.list(world.staff)
    assert [e.reason for e in events if e.action == "registration_rejected"] == ["unknown company"]


def test_a_request_answers_alike_for_known_addresses_and_is_rate_limited(
    portal: Portal,
) -> None:
    """B6/D4: an address with an account gets the same answer; its owner (not the
    requester's text) hears of it and nothing is created; over the hourly limit nothing
    happens at all."""
    world = _world(portal, request_max_per_hour=2)
    mailer: Any = portal.mailer
    owner = world.membership(
        account=world.account(username="eva", email="eva@newco.example"),
        contact=None,
    )
    mailer.clear()
    assert _request(world, first_name="Mallory was here") is None
    portal.mail.wait()
    (told,) = mailer.outbox
    body = told.get_body(("plain",)).get_content()
    assert str(told["To"]) == "eva@newco.example" and "you have one already" in body
    contact = portal.contacts.get(world.staff, owner.contact_id)
    assert contact.full_name in body and "Mallory" not in body
    assert "token=" not in body
    assert portal.registrations.list(world.staff, status=None) == []
    assert _request(world, email="new@newco.example") is None
    assert _request(world, email="new@newco.example") is None
    assert _request(world, email="new@newco.example") is None  # the 3rd this hour
    portal.mail.wait()
    assert len(mailer.outbox) == 3
    assert len(portal.registrations.list(world.staff, status="unconfirmed")) == 2


def test_approval_needs_a_profile_or_the_configured_default(portal: Portal) -> None:
    """D4: least privilege by default: the profile staff named in settings, or an error."""
    world = _world(portal)
    _request(world)
    portal.registrations.confirm(world.vendor, _token(portal))
    (pending,) = portal.registrations.list(world.staff)
    newco = world.customer()
    with pytest.raises(ValidationError) as caught:
        portal.registrations.approve(world.staff, pending, customer=newco)
    assert caught.value.problems[0].field == "profile"
    small = world.profile(name="Self-registered", capabilities={"tickets.view"})
    portal.settings = PortalSettings(
        **{**portal.settings.model_dump(), "registration_profile": "self-registered"}
    )
    membership = portal.registrations.approve(world.staff, pending, customer=newco)
    assert membership.profile_id == small.id
    assert len(portal.memberships.list(world.staff, customer=newco)) == 1


def test_bad_input_is_refused_with_every_problem(portal: Portal) -> None:
    world = _world(portal)
    with pytest.raises(ValidationError) as caught:
        portal.registrations.request(
            world.vendor,
            email=["a@x.example", "b@y.example"],  # type: ignore[arg-type]
            first_name="",
            last_name="Brandt\r\nBcc: x@y",
            company="NewCo",
        )
    assert {p.field for p in caught.value.problems} == {"email", "first_name", "last_name"}


def test_a_pending_requester_cannot_log_in_or_get_a_reset(portal: Portal) -> None:
    """D4: a request is a record, not an account."""
    from portalkit import AuthenticationFailed

    world = _world(portal)
    mailer: Any = portal.mailer
    _request(world)
    portal.registrations.confirm(world.vendor, _token(portal))
    mailer.clear()
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, "eva@newco.example", "anything at all here")
    portal.credentials.request_reset(world.vendor, "eva@newco.example")
    portal.mail.wait()
    assert mailer.outbox == [] and portal.accounts.list(world.staff) == []


def test_the_confirmation_mail_carries_no_text_of_the_requester_but_its_name(
    portal: Portal,
) -> None:
    """Anyone may type any address: the mail sent there holds the requester's name, cut
    short, and nothing else it wrote (no company, no message), so the form is no spam relay."""
    world = _world(portal)
    spam = "Buy cheap watches at https://spam.example"
    portal.registrations.request(
        world.vendor,
        email="victim@elsewhere.example",
        first_name="X" * 100,
        last_name="Y" * 100,
        company=spam,
        message=spam,
    )
    portal.mail.wait()
    mail = portal.mailer.outbox[-1]  # type: ignore[attr-defined]
    assert mail["To"] == "victim@elsewhere.example"
    text = mail.get_body(("plain",)).get_content() + mail.get_body(("html",)).get_content()
    assert "spam.example" not in text and "watches" not in text
    assert f"Hello {'X' * 60}," in text  # the name, cut to 60 characters
