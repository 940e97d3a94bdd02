"""The audit log misses nothing that matters (H1 in ``../shared/security.md``): account and
customer changes, refused invitations, dead links, refusals while viewing as a customer, and
the host's request id on every event of one request."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import (
    InvalidToken,
    PermissionDenied,
    Portal,
    PortalSettings,
    RateLimited,
    Staff,
    ValidationError,
)
from portalkit.testing import World


@pytest.fixture
def world(portal: Portal) -> World:
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
        request_max_per_hour=2,
        login_max_failures=3,
    )
    return World(portal)


def _events(world: World, action: str) -> list[Any]:
    return world.portal.audit.list(world.staff, action=action, limit=1000)


def test_customer_creation_settings_and_switching_off_are_audited(world: World) -> None:
    p = world.portal
    acme = p.customers.create(world.staff, code="ACME", name="Acme")
    p.customers.update(world.staff, acme.id, settings={"show_prices": False})
    p.customers.update(world.staff, acme.id, name="Acme")  # no change: no event
    p.customers.deactivate(world.staff, acme.id)
    p.customers.deactivate(world.staff, acme.id)  # already off: no second event
    p.customers.reactivate(world.staff, acme.id)
    actions = [e.action for e in p.audit.list(world.staff, customer=acme)]
    assert actions == [
        "customer_created",
        "customer_updated",
        "customer_deactivated",
        "customer_reactivated",
    ]
    (updated,) = _events(world, "customer_updated")
    assert updated.details["settings"] == {"show_prices": [True, False]}
    assert updated.real_actor == "staff:" + world.staff.user_id


def test_every_account_creation_is_audited(world: World) -> None:
    account = world.portal.accounts.create(world.staff, username="a1", email="a1@x.example")
    assert [e.target for e in _events(world, "account_created")] == [f"account:{account.id}"]


def test_profile_creation_and_every_change_are_audited(world: World) -> None:
    p = world.portal
    profile = p.profiles.create(world.staff, name="Reader", capabilities={"orders.view"})
    p.profiles.update(world.staff, profile.id, description="reads orders")
    p.profiles.update(world.staff, profile.id, description="reads orders")  # no change
    p.profiles.update(world.staff, profile.id, capabilities={"orders.view", "export"})
    actions = [e.action for e in p.audit.list(world.staff) if e.target == f"profile:{profile.id}"]
    assert actions == ["profile_created", "profile_updated", "profile_rights_changed"]
    assert _events(world, "profile_created")[0].details["capabilities"] == ["orders.view"]


def test_an_invitation_refused_as_rate_limited_is_audited(world: World) -> None:
    p = world.portal
    login = world.membership(status="invited", profile=world.profile(capabilities={"orders.view"}))
    p.credentials.invite(world.staff, login)
    p.credentials.invite(world.staff, login)
    with pytest.raises(RateLimited):
        p.credentials.invite(world.staff, login)
    (refused,) = _events(world, "rate_limited")
    assert refused.target == "CredentialService.invite" and refused.outcome == "failure"


def test_dead_links_are_audited_and_throttled_per_client_only(world: World) -> None:
    """An unknown token is recorded (by a prefix of its hash, never itself) and counts for the
    client that tried it: after the limit that client's good links fail too, nobody else's."""
    p = world.portal
    login = world.membership(status="invited", profile=world.profile(capabilities={"orders.view"}))
    p.credentials.invite(world.staff, login)
    body = p.mailer.outbox[-1].get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    good = body.split("?token=")[1].split()[0]
    for n in range(3):
        with pytest.raises(InvalidToken):
            p.credentials.accept_invitation(
                world.vendor, f"guess-{n}", "a fine long password", client_key="10.0.0.9"
            )
    rejected = _events(world, "token_rejected")
    assert [e.reason for e in rejected] == ["dead_or_unknown"] * 3
    assert all("guess" not in e.target for e in rejected)
    with pytest.raises(InvalidToken):  # this client is stopped, even with the right link
        p.credentials.accept_invitation(
            world.vendor, good, "a fine long password", client_key="10.0.0.9"
        )
    assert _events(world, "token_rejected")[-1].reason == "throttled"
    # Another client is not: a guesser cannot stop everyone's links.
    p.credentials.accept_invitation(
        world.vendor, good, "a fine long password", client_key="192.0.2.1"
    )


def test_refusals_while_viewing_as_a_customer_name_the_staff_member(world: World) -> None:
    p = world.portal
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    helpdesk = Staff(
        vendor_id=world.vendor.id, user_id="helpdesk-7", permissions=frozenset({"impersonate"})
    )
    view = p.access.view_as(helpdesk, membership, reason="ticket 1")
    with pytest.raises(PermissionDenied):
        p.access.context(view).require("orders.create")
    with pytest.raises(PermissionDenied):
        p.memberships.deactivate(view, membership)
    refusals = _events(world, "authz_fail")
    assert [(e.real_actor, e.effective_actor) for e in refusals] == [
        ("staff:helpdesk-7", f"member:{membership.id}")
    ] * 2


def test_one_request_id_tags_every_event_of_the_request(world: World) -> None:
    p = world.portal
    with p.audit.correlate("req-4711"):
        acme = p.customers.create(world.staff, code="ACME", name="Acme")
        member = world.member(world.membership(customer=acme))
        with pytest.raises(PermissionDenied):
            p.memberships.deactivate(member, member.membership_id)
    p.customers.update(world.staff, acme.id, name="Acme Transport")
    tagged = [(e.action, e.request_id) for e in p.audit.list(world.staff, limit=1000)]
    assert ("customer_created", "req-4711") in tagged
    assert ("membership_created", "req-4711") in tagged
    assert ("authz_fail", "req-4711") in tagged  # written after the call, still tagged
    assert ("customer_updated", "") in tagged
    with pytest.raises(ValidationError), p.audit.correlate("x" * 101):
        pass
    with pytest.raises(ValidationError), p.audit.correlate("line\nbreak"):
        pass
