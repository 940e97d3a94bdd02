"""A hostile customer admin against delegated administration (issue 9, items 1–3), through the
public API only. Each test here demonstrates a hole found by trying: it fails until the code
closes it (none is marked skip or xfail on purpose)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import (
    AuthenticationFailed,
    PermissionDenied,
    Portal,
    PortalError,
    PortalSettings,
)
from portalkit.passwords import PasswordHasher
from portalkit.testing import World

GOOD = "correct horse battery staple"


def _settings() -> PortalSettings:
    return PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
    )


@pytest.fixture
def world(portal: Portal) -> World:
    """One vendor on each backend, with what invitations need (a mail key, a base URL)."""
    portal.settings = _settings()
    portal.hasher = PasswordHasher(iterations=2, lanes=1)
    return World(portal)


def _scene(world: World) -> tuple[Any, Any, Any, Any]:
    """Two customers; Karin logs in at ``elsewhere`` with her own password; an admin of
    ``here`` who holds what it hands out (orders)."""
    here, elsewhere = world.customer(), world.customer()
    world.membership(customer=here, kind="main")
    world.membership(customer=elsewhere, kind="main")
    reader = world.profile(capabilities={"orders.view"})
    karin = world.membership(
        customer=elsewhere,
        account=world.account(username="karin", email="karin@elsewhere.example"),
        profile=reader,
    )
    world.portal.credentials.set_password(world.system, karin, GOOD, must_change=False)
    admin_profile = world.profile(capabilities={"members.manage", "orders.view"})
    admin = world.member(world.membership(customer=here, kind="extra", profile=admin_profile))
    return here, reader, admin, karin


def _add(world: World, admin: Any, here: Any, email: str, profile: Any) -> Any:
    return world.portal.logins.add(
        admin, customer=here, email=email, first_name="Karin", last_name="Smit", profile=profile
    )


def _outcome(call: Any) -> tuple[str, str]:
    """What the admin observes of a call: the answer's type, and its message if refused."""
    try:
        answer = call()
    except PortalError as exc:
        return type(exc).__name__, str(exc)
    return "answered", type(answer).__name__


# -- Finding 1: joining a person to the admin's customer without its consent ---------------
def test_an_admin_cannot_switch_on_a_join_invitation_in_place_of_its_owner(world: World) -> None:
    """An address that already has a login gets an invitation to *join*, which only its owner
    may accept with its own password. memberships.activate lets the admin accept it instead:
    the person's own login then works at the admin's customer without being asked."""
    p = world.portal
    here, reader, admin, _ = _scene(world)
    joined = _add(world, admin, here, "karin@elsewhere.example", reader)
    with pytest.raises(PermissionDenied):
        p.memberships.activate(admin, joined.id)
    assert p.memberships.get(world.staff, joined.id).status.value == "invited"
    with pytest.raises(AuthenticationFailed):
        p.auth.authenticate(world.vendor, "karin", GOOD, customer=here)


# -- Finding 2: the same activation turns credential calls into a vendor-wide oracle --------
@pytest.mark.parametrize("then", ["set_password", "invite"])
def test_an_added_login_answers_the_same_after_activation_known_or_not(
    world: World, then: str
) -> None:
    """Add an address, switch the invited login on, then set its password (or resend its
    invitation): for a new address the admin gets a generated password (or a link), for an
    address with a login at another customer a refusal naming "a customer outside your
    reach" (or "has a password already") — so the admin learns who else the vendor serves."""
    p = world.portal
    here, reader, admin, _ = _scene(world)
    seen = []
    for email in ("stranger@nowhere.example", "karin@elsewhere.example"):
        login = _add(world, admin, here, email, reader)
        steps = [_outcome(lambda login=login: p.memberships.activate(admin, login.id))]
        if then == "set_password":
            steps.append(_outcome(lambda login=login: p.credentials.set_password(admin, login.id)))
        else:
            steps.append(_outcome(lambda login=login: p.credentials.invite(admin, login.id)))
        seen.append(steps)
    assert seen[0] == seen[1]


# -- Finding 3: the work of logins.add tells known addresses from new ones -----------------
