"""A member's own change of its login e-mail, confirmed by a link to the new address (issue 17,
item 4), through the public API on every backend."""

from __future__ import annotations

import re
from typing import Any

import pytest

from portalkit import (
    AuthenticationFailed,
    FixedClock,
    InvalidToken,
    PermissionDenied,
    Portal,
    Staff,
    ValidationError,
)
from portals import CountingHasher
from portals import account_of as _account
from portals import login_with_password as _login
from portals import mail_world as _world
from secretscan import stored_everything

GOOD = "correct horse battery staple"
OTHER = "tangerine submarine orchestra"
NEW = "new.address@elsewhere.example"


def _mails(portal: Portal) -> list[Any]:
    portal.mail.wait()  # the request is decided in the background
    mailer: Any = portal.mailer
    return list(mailer.outbox)


def _text(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


def _link(portal: Portal, to: str = NEW) -> str:
    """The token of the last e-mail change link mailed to ``to``."""
    for message in reversed(_mails(portal)):
        found = re.search(r"/confirm-email\?token=([A-Za-z0-9_-]+)", _text(message))
        if message["To"] == to and found:
            return found.group(1)
    raise AssertionError(f"no e-mail change link to {to}")


def _events(portal: Portal, world: Any, action: str) -> list[Any]:
    return [e for e in portal.audit.list(world.staff, limit=500) if e.action == action]


def test_the_address_changes_only_when_the_link_to_it_is_used(portal: Portal) -> None:
    """The new address gets the link, the old one a notice; nothing changes before the link is
    used. Using it moves the address, ends every session, tells the old address and is
    audited; the raw token is stored nowhere."""
    world = _world(portal)
    mailer: Any = portal.mailer
    membership = _login(world)
    account = _account(world, membership)
    old = account.email
    session = portal.auth.authenticate(world.vendor, account.username, GOOD).session
    mailer.clear()
    assert (
        portal.accounts.request_email_change(world.member(membership), NEW, password=GOOD) is None
    )
    mails = _mails(portal)
    assert sorted(m["To"] for m in mails) == sorted([old, NEW])
    (notice,) = [m for m in mails if m["To"] == old]
    assert NEW in _text(notice) and "token=" not in _text(notice)
    token = _link(portal)
    assert _account(world, membership).email == old  # not before the link is used
    portal.auth.validate_session(world.vendor, session)  # nor do sessions end
    assert _events(portal, world, "email_change_requested")

    changed = portal.accounts.confirm_email_change(world.vendor, token)
    assert changed.email == NEW == _account(world, membership).email
    with pytest.raises(AuthenticationFailed):
        portal.auth.validate_session(world.vendor, session)
    after = _mails(portal)[-1]
    assert after["To"] == old and NEW in _text(after) and token not in _text(after)
    (event,) = _events(portal, world, "email_changed")
    assert event.target == f"account:{account.id}"
    portal.auth.authenticate(world.vendor, NEW, GOOD)  # the new address logs in
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, old, GOOD)
    assert token not in stored_everything(portal) + repr(portal.audit.list(world.staff))


def test_the_link_works_once(portal: Portal) -> None:
    world = _world(portal)
    membership = _login(world)
    portal.accounts.request_email_change(world.member(membership), NEW, password=GOOD)
    token = _link(portal)
    portal.accounts.confirm_email_change(world.vendor, token)
    with pytest.raises(InvalidToken):
        portal.accounts.confirm_email_change(world.vendor, token)


def test_a_newer_request_kills_the_older_link(portal: Portal) -> None:
    world = _world(portal)
    membership = _login(world)
    member = world.member(membership)
    portal.accounts.request_email_change(member, NEW, password=GOOD)
    first = _link(portal)
    portal.accounts.request_email_change(member, "third@elsewhere.example", password=GOOD)
    second = _link(portal, "third@elsewhere.example")
    with pytest.raises(InvalidToken):
        portal.accounts.confirm_email_change(world.vendor, first)
    assert _account(world, membership).email != NEW
    assert portal.accounts.confirm_email_change(world.vendor, second).email == (
        "third@elsewhere.example"
    )


def test_a_newer_request_kills_the_older_link_before_its_own_job_runs(portal: Portal) -> None:
    """Red team: until the newer request's job ran, the older link still moved the address."""
    world = _world(portal)
    membership = _login(world)
    member = world.member(membership)
    portal.accounts.request_email_change(member, NEW, password=GOOD)
    first = _link(portal)
    portal.accounts.request_email_change(member, "third@elsewhere.example", password=GOOD)
    with pytest.raises(InvalidToken):  # its job not waited for
        portal.accounts.confirm_email_change(world.vendor, first)
    assert _account(world, membership).email != NEW


def test_a_taken_address_gets_the_same_answer_and_its_owner_a_notice(portal: Portal) -> None:
    """No enumeration: a free and a taken address get the same answer after the same work (one
    password verification, one stored request); the owner of the taken one hears of the try,
    no link exists, and the requester's old address gets the same notice either way."""
    world = _world(portal)
    mailer: Any = portal.mailer
    spy = CountingHasher(portal.hasher)
    portal.hasher = spy  # type: ignore[assignment]
    owner = _account(world, _login(world, email="taken@elsewhere.example"))
    first, second = _login(world), _login(world)
    answers, work = [], []
    for membership, address in ((first, NEW), (second, "Taken@elsewhere.example")):
        _mails(portal)
        mailer.clear()
        spy.verifications = 0
        answers.append(
            portal.accounts.request_email_change(world.member(membership), address, password=GOOD)
        )
        work.append(spy.verifications)
    assert answers == [None, None] and work == [1, 1]
    mails = _mails(portal)
    old = _account(world, second).email
    assert sorted(m["To"] for m in mails) == sorted([old, owner.email])
    (tried,) = [m for m in mails if m["To"] == owner.email]
    assert "token=" not in _text(tried) and old not in _text(tried)
    (refused,) = _events(portal, world, "email_change_refused")
    assert refused.reason == "address_taken" and _account(world, second).email == old


def test_a_wrong_password_is_refused_and_counts_as_a_failed_login(portal: Portal) -> None:
    """A stolen session alone does not move the account: without the password nothing is
    mailed, and the tries lock the account as failed logins do."""
    world = _world(portal, login_max_failures=3)
    mailer: Any = portal.mailer
    membership = _login(world)
    account = _account(world, membership)
    mailer.clear()
    for _ in range(3):
        with pytest.raises(ValidationError) as caught:
            portal.accounts.request_email_change(
                world.member(membership), NEW, password="not my password"
            )
        assert caught.value.problems[0].field == "password"
    with pytest.raises(ValidationError):  # locked: the right one is refused too
        portal.accounts.request_email_change(world.member(membership), NEW, password=GOOD)
    with pytest.raises(AuthenticationFailed):
        portal.auth.authenticate(world.vendor, account.username, GOOD)
    assert _mails(portal) == []
    assert len(_events(portal, world, "email_change_failure")) == 4


def test_bad_requests_are_refused_at_once(portal: Portal) -> None:
    """An invalid address, the login's own address, someone viewing as the member."""
    world = _world(portal)
    membership = _login(world)
    member = world.member(membership)
    with pytest.raises(ValidationError) as caught:
        portal.accounts.request_email_change(member, "not an address", password=GOOD)
    assert caught.value.problems[0].field == "new_email"
    own = _account(world, membership).email.upper()
    with pytest.raises(ValidationError) as caught:
        portal.accounts.request_email_change(member, own, password=GOOD)
    assert caught.value.problems[0].code == "unchanged"
    helpdesk = Staff(
        vendor_id=world.vendor.id, user_id="helpdesk", permissions=frozenset({"impersonate"})
    )
    viewing = portal.access.view_as(helpdesk, membership, reason="checking", allow_writes=True)
    with pytest.raises(PermissionDenied):
        portal.accounts.request_email_change(viewing, NEW, password=GOOD)


def test_the_link_dies_when_the_address_is_taken_meanwhile(portal: Portal) -> None:
    """Another login got the address before the link was used: the link dies for good, even
    once the address is free again."""
    world = _world(portal)
    membership = _login(world)
    portal.accounts.request_email_change(world.member(membership), NEW, password=GOOD)
    token = _link(portal)
    other = world.account(username="quick", email=NEW)
    with pytest.raises(InvalidToken):
        portal.accounts.confirm_email_change(world.vendor, token)
    portal.accounts.update(world.system, other.id, email="gone@elsewhere.example")
    with pytest.raises(InvalidToken):
        portal.accounts.confirm_email_change(world.vendor, token)
    assert _account(world, membership).email != NEW


@pytest.mark.parametrize("trigger", ["password_change", "staff_email_change", "account_off"])
def test_the_link_dies_when_the_account_changes(portal: Portal, trigger: str) -> None:
    world = _world(portal)
    membership = _login(world)
    account = _account(world, membership)
    portal.accounts.request_email_change(world.member(membership), NEW, password=GOOD)
    token = _link(portal)
    if trigger == "password_change":
        portal.credentials.change_password(world.member(membership), current=GOOD, new=OTHER)
    elif trigger == "staff_email_change":
        portal.accounts.update(world.system, account.id, email="staff.set@customer.example")
    else:
        portal.accounts.deactivate(world.staff, account.id)
        portal.accounts.reactivate(world.staff, account.id)
    with pytest.raises(InvalidToken):
        portal.accounts.confirm_email_change(world.vendor, token)
    assert _account(world, membership).email != NEW


def test_requests_are_throttled_per_account(portal: Portal) -> None:
    """More than ``PORTALKIT_REQUEST_MAX_PER_HOUR`` requests in an hour send nothing more, with
    the same answer; an hour later they work again."""
    world = _world(portal, request_max_per_hour=2)
    mailer: Any = portal.mailer
    membership = _login(world)
    member = world.member(membership)
    mailer.clear()
    for n in range(3):
        assert (
            portal.accounts.request_email_change(member, f"n{n}@elsewhere.example", password=GOOD)
            is None
        )
    assert len([m for m in _mails(portal) if "token=" in _text(m)]) == 2
    assert [e.reason for e in _events(portal, world, "email_change_refused")] == ["throttled"]
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    clock.advance(hours=1, seconds=1)
    portal.accounts.request_email_change(member, "later@elsewhere.example", password=GOOD)
    assert _link(portal, "later@elsewhere.example")


def test_dead_links_are_counted_per_client(portal: Portal) -> None:
    """As reset links are: after ``PORTALKIT_LOGIN_MAX_FAILURES`` dead links from one client,
    even a good one is refused to that client (and only to it)."""
    world = _world(portal, login_max_failures=3)
    membership = _login(world)
    portal.accounts.request_email_change(world.member(membership), NEW, password=GOOD)
    token = _link(portal)
    for n in range(3):
        with pytest.raises(InvalidToken):
            portal.accounts.confirm_email_change(world.vendor, f"guess{n}", client_key="10.0.0.9")
    with pytest.raises(InvalidToken):
        portal.accounts.confirm_email_change(world.vendor, token, client_key="10.0.0.9")
    assert portal.accounts.confirm_email_change(world.vendor, token, client_key="10.0.0.1")
    assert {e.reason for e in _events(portal, world, "token_rejected")} == {
        "dead_or_unknown",
        "throttled",
    }


def test_staff_still_change_addresses_at_once_and_audited(portal: Portal) -> None:
    """The staff path stays direct: no link, the address moves, sessions and a pending
    change link end, and the audit log records it."""
    world = _world(portal)
    membership = _login(world)
    account = _account(world, membership)
    portal.accounts.request_email_change(world.member(membership), NEW, password=GOOD)
    token = _link(portal)
    moved = portal.accounts.update(world.system, account.id, email="staff@customer.example")
    assert moved.email == "staff@customer.example"
    (event,) = _events(portal, world, "account_updated")
    assert event.details.get("changed") == ["email"]
    with pytest.raises(InvalidToken):
        portal.accounts.confirm_email_change(world.vendor, token)


# Portal A: stores the request, then the process ends at once, before its background thread
# could decide it (os._exit skips every clean-up, as a kill would).
_ASKS_AND_DIES = """
import os
from uuid import UUID
from portalkit import Member, Portal
portal = Portal.from_settings()
member = Member(**{k: UUID(os.environ["ID_" + k]) for k in
                   ("vendor_id", "account_id", "membership_id", "customer_id")})
portal.accounts.request_email_change(member, os.environ["NEW"], password=os.environ["GOOD"])
os._exit(0)
"""


@pytest.mark.parametrize("password_changed", [False, True])
def test_a_request_is_dropped_when_the_password_changed_before_it_was_handled(
    tmp_path: Any, password_changed: bool
) -> None:
    """The request was made by a session that no longer counts (the password changed before
    its job ran, in another process): no link, no notice; in order, the link goes out."""
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime

    from cryptography.fernet import Fernet

    from portalkit import PortalSettings
    from portalkit.testing import World

    url = f"sqlite:///{tmp_path / 'portal.db'}"
    key = Fernet.generate_key().decode()
    settings = PortalSettings(
        _env_file=None,
        database_url=url,
        mail_from="portal@vendor.example",
        mail_encryption_key=key,
        base_url="https://portal.vendor.example",
        mail_backend="memory",
    )
    clock = FixedClock(datetime.now(UTC))
    portal = Portal.from_settings(settings, clock=clock)  # the schema upgraded here
    mailer: Any = portal.mailer
    world = World(portal, vendor_code=settings.default_vendor)
    membership = _login(world)
    member = world.member(membership)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(
        PORTALKIT_DATABASE_URL=url,
        PORTALKIT_MAIL_BACKEND="memory",
        PORTALKIT_MAIL_FROM="portal@vendor.example",
        PORTALKIT_MAIL_ENCRYPTION_KEY=key,
        PORTALKIT_BASE_URL="https://portal.vendor.example",
        NEW=NEW,
        GOOD=GOOD,
        **{f"ID_{k}": str(getattr(member, k)) for k in
           ("vendor_id", "account_id", "membership_id", "customer_id")},
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _ASKS_AND_DIES], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    if password_changed:
        portal.credentials.change_password(member, current=GOOD, new=OTHER)
    portal.mail.wait()
    mailer.clear()
    # The other process's clock is the system's, a little ahead of this fixed one.
    clock.advance(seconds=settings.mail_lease_seconds + 120)
    assert portal.mail.flush().jobs == 1
    links = [m for m in mailer.outbox if m["To"] == NEW]
    refused = _events(portal, world, "email_change_refused")
    if password_changed:
        assert mailer.outbox == [] and [e.reason for e in refused] == ["account_changed"]
    else:
        assert len(links) == 1 and refused == []
    portal.close()
