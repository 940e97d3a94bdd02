"""Passkeys (issue 17 item 2): registration, the second step of a log-in, and log-in without
a password, on memory, SQLite and PostgreSQL, driven by a software authenticator
(tests/webauthn_soft.py) that makes real keys, authenticator data and signatures."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from portalkit import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    FixedClock,
    NotFound,
    PermissionDenied,
    Portal,
    PortalSettings,
    RateLimited,
    SecondFactorRequired,
    ValidationError,
)
from portalkit.auth import member_of
from portalkit.staffrights import DATA_ERASE
from portalkit.testing.authenticator import SoftAuthenticator, b64
from portals import GOOD
from portals import account_of as _account
from portals import login_with_password as _login
from portals import mail_world as _world


def _clock(portal: Portal) -> FixedClock:
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    return clock


def _registered(
    portal: Portal, world: Any = None, **authenticator: Any
) -> tuple[Any, Any, SoftAuthenticator, Any]:
    """A world, a login's membership, its authenticator and the passkey registered on it."""
    world = world or _world(portal)
    membership = _login(world)
    device = SoftAuthenticator(**authenticator)
    member = member_of(membership)
    options = portal.passkeys.registration_options(member, password=GOOD)
    passkey = portal.passkeys.register(member, device.create(options), name="Work laptop")
    return world, membership, device, passkey


def _challenge(portal: Portal, world: Any, membership: Any) -> str:
    with pytest.raises(SecondFactorRequired) as needed:
        portal.auth.authenticate(world.vendor, _account(world, membership).username, GOOD)
    return needed.value.challenge


def _events(portal: Portal, world: Any, action: str) -> list[Any]:
    return [e for e in portal.audit.list(world.staff) if e.action == action]


# -- registration -----------------------------------------------------------------------------
@pytest.mark.parametrize("attestation", ["none", "packed"])
def test_a_member_registers_names_and_removes_passkeys(portal: Portal, attestation: str) -> None:
    world, membership, device, first = _registered(portal, attestation=attestation)
    member = member_of(membership)
    options = portal.passkeys.registration_options(member, password=GOOD)
    with pytest.raises(AssertionError, match="InvalidStateError"):
        device.create(options)  # the browser refuses: this authenticator has one already
    phone = SoftAuthenticator(attestation=attestation)
    second = portal.passkeys.register(member, phone.create(options), name="Phone")
    assert first.credential_id != second.credential_id
    assert first.transports == ("hybrid", "internal") and first.sign_count == 1
    assert portal.passkeys.list(member, membership.account_id) == [first, second]
    assert portal.passkeys.list(world.staff, membership.account_id) == [first, second]
    renamed = portal.passkeys.rename(member, first.id, "  Old laptop ")
    assert renamed.name == "Old laptop"
    portal.passkeys.remove(member, second.id)
    assert portal.passkeys.list(member, membership.account_id) == [renamed]
    portal.passkeys.remove(world.staff, first.id)  # staff, for a lost laptop
    assert portal.passkeys.list(member, membership.account_id) == []
    assert len(_events(portal, world, "passkey_added")) == 2
    assert len(_events(portal, world, "passkey_renamed")) == 1
    assert len(_events(portal, world, "passkey_removed")) == 2


def test_registration_options_ask_for_a_discoverable_passkey_and_exclude_the_accounts(
    portal: Portal,
) -> None:
    world, membership, _, passkey = _registered(portal)
    options = portal.passkeys.registration_options(member_of(membership), password=GOOD)
    assert options["rp"]["id"] == "portal.vendor.example"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert [c["id"] for c in options["excludeCredentials"]] == [passkey.credential_id]
    assert options["user"]["id"] == passkey.user_handle  # one entry per account
    assert _account(world, membership).email not in options["user"]["id"]


def test_registering_needs_the_current_password(portal: Portal) -> None:
    world = _world(portal)
    member = member_of(_login(world))
    with pytest.raises(ValidationError) as refused:
        portal.passkeys.registration_options(member, password="not the password at all")
    assert [p.code for p in refused.value.problems] == ["incorrect"]


def test_a_password_an_administrator_gave_adds_no_passkey(portal: Portal) -> None:
    """Red team: a customer admin set a login's password, added a passkey with it, and kept
    logging in with that passkey after the person had chosen a password of its own."""
    world = _world(portal)
    membership = _login(world)
    given = "a password the admin chose"
    portal.credentials.set_password(world.system, membership, given)  # must change it
    member = member_of(membership)
    with pytest.raises(Conflict):
        portal.passkeys.registration_options(member, password=given)
    portal.credentials.change_password(member, current=given, new=GOOD)
    assert portal.passkeys.registration_options(member, password=GOOD)["challenge"]


def test_only_the_member_itself_registers_renames_and_lists(portal: Portal) -> None:
    world, membership, _, passkey = _registered(portal)
    stranger = member_of(_login(world))
    with pytest.raises(PermissionDenied):
        portal.passkeys.registration_options(world.staff, password=GOOD)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        portal.passkeys.rename(stranger, passkey.id, "mine now")
    # Red team: PermissionDenied here, and NotFound for a made-up id, told ids apart.
    with pytest.raises(NotFound):
        portal.passkeys.remove(stranger, passkey.id)
    with pytest.raises(NotFound):
        portal.passkeys.remove(stranger, uuid4())
    with pytest.raises(PermissionDenied):
        portal.passkeys.list(stranger, membership.account_id)
    assert portal.passkeys.list(member_of(membership), membership.account_id) == [passkey]


def test_a_registration_answer_works_once_and_only_for_its_account(portal: Portal) -> None:
    world = _world(portal)
    mine, theirs = member_of(_login(world)), member_of(_login(world))
    device = SoftAuthenticator()
    answer = device.create(portal.passkeys.registration_options(mine, password=GOOD))
    with pytest.raises(ValidationError):
        portal.passkeys.register(theirs, answer)  # another account's challenge
    with pytest.raises(ValidationError):
        portal.passkeys.register(mine, answer)  # that try used the challenge up
    assert portal.passkeys.list(mine, mine.account_id) == []


@pytest.mark.parametrize("where", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}])
def test_a_registration_from_another_site_is_refused(portal: Portal, where: dict[str, str]) -> None:
    world = _world(portal)
    member = member_of(_login(world))
    answer = SoftAuthenticator().create(
        portal.passkeys.registration_options(member, password=GOOD), **where
    )
    with pytest.raises(ValidationError):
        portal.passkeys.register(member, answer)


def test_a_relying_party_that_does_not_fit_fails_closed(portal: Portal) -> None:
    with pytest.raises(ValueError, match="PASSKEY_ORIGINS"):
        PortalSettings(base_url="https://portal.vendor.example", passkey_rp_id="other.example")
    world = _world(portal, base_url="http://portal.vendor.example")  # no https
    with pytest.raises(ConfigurationError, match="plain http"):
        portal.passkeys.login_options(world.vendor)


# -- the second step of a log-in ---------------------------------------------------------------
def test_the_right_password_then_a_passkey_logs_in(portal: Portal) -> None:
    world, membership, device, passkey = _registered(portal)
    challenge = _challenge(portal, world, membership)
    options = portal.passkeys.second_factor_options(world.vendor, challenge)
    assert [c["id"] for c in options["allowCredentials"]] == [passkey.credential_id]
    login = portal.auth.complete_login_with_passkey(world.vendor, challenge, device.get(options))
    assert login.actor == member_of(membership)
    assert portal.auth.validate_session(world.vendor, login.session) == login.actor
    (used,) = portal.passkeys.list(world.staff, membership.account_id)
    assert used.sign_count == 2 and used.last_used_at == portal.clock.now()


def test_the_second_step_refuses_another_accounts_passkey(portal: Portal) -> None:
    world, membership, _, _ = _registered(portal)
    _, _, thief, _ = _registered(portal, world)  # a passkey of the vendor, not of this account
    challenge = _challenge(portal, world, membership)
    options = portal.passkeys.second_factor_options(world.vendor, challenge)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login_with_passkey(
            world.vendor, challenge, thief.get(options, credential=thief.credentials[0])
        )


def test_a_second_step_challenge_works_once(portal: Portal) -> None:
    world, membership, device, _ = _registered(portal)
    challenge = _challenge(portal, world, membership)
    options = portal.passkeys.second_factor_options(world.vendor, challenge)
    answer = device.get(options)
    portal.auth.complete_login_with_passkey(world.vendor, challenge, answer)
    with pytest.raises(AuthenticationFailed):
        portal.auth.complete_login_with_passkey(world.vendor, challenge, answer)
    with pytest.raises(AuthenticationFailed):
        portal.passkeys.second_factor_options(world.vendor, challenge)


def test_an_account_without_passkeys_gets_no_passkey_step(portal: Portal) -> None:
    world = _world(portal)
    membership = _login(world)
    login = portal.auth.authenticate(world.vendor, _account(world, membership).username, GOOD)
    assert login.actor == member_of(membership)


# -- log-in without a password ---------------------------------------------------------------
def test_a_discoverable_passkey_logs_in_without_a_password(portal: Portal) -> None:
    world, membership, device, _ = _registered(portal)
    options = portal.passkeys.login_options(world.vendor)
    assert options["userVerification"] == "required"
    login = portal.auth.passkey_login(world.vendor, device.get(options), client_key="10.0.0.1")
    assert login.actor == member_of(membership)
    assert portal.auth.validate_session(world.vendor, login.session) == login.actor
    assert _events(portal, world, "login_success")[-1].target == f"account:{login.account.id}"


def test_login_options_are_the_same_for_everyone(portal: Portal) -> None:
    world, _, _, _ = _registered(portal)
    first = portal.passkeys.login_options(world.vendor)
    second = portal.passkeys.login_options(world.vendor)
    assert first["challenge"] != second["challenge"]
    assert {**first, "challenge": ""} == {**second, "challenge": ""}
    assert first.get("allowCredentials", []) == []


def test_a_replayed_login_is_refused(portal: Portal) -> None:
    # No counter (as synced passkeys have none): only the single-use challenge refuses it.
    world, _, device, _ = _registered(portal, counter_step=0)
    answer = device.get(portal.passkeys.login_options(world.vendor))
    portal.auth.passkey_login(world.vendor, answer)
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(world.vendor, answer)


def test_a_counter_that_does_not_grow_is_refused_and_audited(portal: Portal) -> None:
    world, _, device, passkey = _registered(portal)
    portal.auth.passkey_login(world.vendor, device.get(portal.passkeys.login_options(world.vendor)))
    clone = device.get(portal.passkeys.login_options(world.vendor), counter=2)  # stored: 2
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(world.vendor, clone)
    (suspected,) = _events(portal, world, "passkey_clone_suspected")
    assert suspected.target == f"account:{passkey.account_id}"
    # The real authenticator, a step ahead, still works.
    portal.auth.passkey_login(
        world.vendor, device.get(portal.passkeys.login_options(world.vendor), counter=3)
    )


def test_a_passwordless_answer_must_carry_its_passkeys_user_handle(portal: Portal) -> None:
    world, _, device, _ = _registered(portal)
    _, _, other, _ = _registered(portal, world)
    theirs = other.credentials[0].user_handle
    swapped = device.get(portal.passkeys.login_options(world.vendor))
    swapped["response"]["userHandle"] = b64(theirs)  # not signed: it must match the passkey
    missing = device.get(portal.passkeys.login_options(world.vendor))
    del missing["response"]["userHandle"]
    for answer in (swapped, missing):
        with pytest.raises(AuthenticationFailed):
            portal.auth.passkey_login(world.vendor, answer)
    portal.auth.passkey_login(world.vendor, device.get(portal.passkeys.login_options(world.vendor)))


def test_an_authenticator_without_a_counter_keeps_working(portal: Portal) -> None:
    world, _, device, passkey = _registered(portal, counter_step=0)
    assert passkey.sign_count == 0
    for _ in range(2):
        portal.auth.passkey_login(
            world.vendor, device.get(portal.passkeys.login_options(world.vendor))
        )


@pytest.mark.parametrize("where", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}])
def test_a_login_from_another_site_is_refused(portal: Portal, where: dict[str, str]) -> None:
    world, _, device, _ = _registered(portal)
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(
            world.vendor, device.get(portal.passkeys.login_options(world.vendor), **where)
        )


def test_a_login_without_user_verification_is_refused(portal: Portal) -> None:
    world, _, device, _ = _registered(portal)
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(
            world.vendor, device.get(portal.passkeys.login_options(world.vendor), uv=False)
        )


def test_a_removed_passkey_no_longer_logs_in(portal: Portal) -> None:
    world, membership, device, passkey = _registered(portal)
    portal.passkeys.remove(member_of(membership), passkey.id)
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(
            world.vendor, device.get(portal.passkeys.login_options(world.vendor))
        )
    # Nor is it the second step any more: the password alone logs in again.
    login = portal.auth.authenticate(world.vendor, _account(world, membership).username, GOOD)
    assert login.actor == member_of(membership)


def test_a_passkey_of_a_disabled_account_does_not_log_in(portal: Portal) -> None:
    world, membership, device, _ = _registered(portal)
    portal.accounts.deactivate(world.staff, membership.account_id)
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(
            world.vendor, device.get(portal.passkeys.login_options(world.vendor))
        )


def test_unknown_and_forged_passkeys_get_the_same_answer(portal: Portal) -> None:
    world, _, device, _ = _registered(portal)
    stranger = SoftAuthenticator()
    stranger.create(portal.passkeys.registration_options(member_of(_login(world)), password=GOOD))
    unknown = SoftAuthenticator()
    unknown.credentials = [c for c in stranger.credentials]
    unknown.credentials[0].id = b"\x01" * 32  # a credential id nobody registered
    forged = device.get(portal.passkeys.login_options(world.vendor))
    forged["response"]["signature"] = stranger.get(portal.passkeys.login_options(world.vendor))[
        "response"
    ]["signature"]
    answers = []
    for answer in (unknown.get(portal.passkeys.login_options(world.vendor)), forged, "{}", 7):
        with pytest.raises(AuthenticationFailed) as refused:
            portal.auth.passkey_login(world.vendor, answer)
        answers.append((type(refused.value), str(refused.value)))
    assert len(set(answers)) == 1


def test_failed_passkey_logins_are_throttled_per_client(portal: Portal) -> None:
    world, _, device, _ = _registered(portal)
    for _ in range(portal.settings.login_max_failures):
        with pytest.raises(AuthenticationFailed):
            portal.auth.passkey_login(world.vendor, "{}", client_key="10.0.0.9")
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(
            world.vendor,
            device.get(portal.passkeys.login_options(world.vendor)),
            client_key="10.0.0.9",
        )
    _clock(portal).advance(seconds=portal.settings.login_window_seconds + 1)
    portal.auth.passkey_login(
        world.vendor,
        device.get(portal.passkeys.login_options(world.vendor)),
        client_key="10.0.0.9",
    )


def test_erasing_a_person_takes_its_passkeys_along(portal: Portal) -> None:
    world, membership, device, _ = _registered(portal)
    portal.retention.erase_person(world.staff_holding(DATA_ERASE), account=membership.account_id)
    with pytest.raises(AuthenticationFailed):
        portal.auth.passkey_login(
            world.vendor, device.get(portal.passkeys.login_options(world.vendor))
        )


def test_login_options_are_limited_per_client_key(portal: Portal) -> None:
    world = _world(portal)
    for _ in range(60):
        portal.passkeys.login_options(world.vendor, client_key="10.0.0.5")
    with pytest.raises(RateLimited):
        portal.passkeys.login_options(world.vendor, client_key="10.0.0.5")
    portal.passkeys.login_options(world.vendor, client_key="10.0.0.6")
    _clock(portal).advance(seconds=portal.settings.login_window_seconds + 1)
    portal.passkeys.login_options(world.vendor, client_key="10.0.0.5")
