"""Reset and registration requests are stored jobs: a process that stops loses none (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from portalkit import Portal, PortalSettings
from portalkit.clock import FixedClock
from portalkit.mail import MemoryMailer
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World

# Portal A: stores the request, then the process ends at once, before its background thread
# could run the job (os._exit skips every clean-up, as a kill would).
_DIES = """
import os
from portalkit import Portal
portal = Portal.from_settings()
vendor = portal.default_vendor()
portal.credentials.request_reset(vendor, "jan@customer.example")
os._exit(0)
"""


def test_a_reset_request_whose_process_dies_is_mailed_by_the_next_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    key = Fernet.generate_key().decode()
    settings = PortalSettings(
        _env_file=None,
        database_url=url,
        mail_from="portal@vendor.example",
        mail_encryption_key=key,
        base_url="https://portal.vendor.example",
    )
    setup = Portal.from_settings(settings, clock=FixedClock(datetime.now(UTC)))
    world = World(setup, vendor_code=settings.default_vendor)
    account = world.account(email="jan@customer.example")
    membership = world.membership(
        account=account, profile=world.profile(capabilities={"orders.view"})
    )
    setup.credentials.set_password(
        world.system, membership, "a long enough passphrase", must_change=False
    )
    setup.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(
        PORTALKIT_DATABASE_URL=url,
        PORTALKIT_MAIL_BACKEND="memory",
        PORTALKIT_MAIL_FROM="portal@vendor.example",
        PORTALKIT_MAIL_ENCRYPTION_KEY=key,
        PORTALKIT_BASE_URL="https://portal.vendor.example",
    )
    done = subprocess.run(
        [sys.executable, "-c", _DIES], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    clock = FixedClock(datetime.now(UTC))
    mailer = MemoryMailer()
    portal = Portal(SqlStorage(url), mailer, settings=settings, clock=clock)
    assert portal.mail.flush().jobs == 0  # A's lease on its job still holds
    assert mailer.outbox == []
    clock.advance(seconds=settings.mail_lease_seconds + 1)
    assert portal.mail.flush().jobs == 1
    (mail,) = mailer.outbox
    assert str(mail["To"]) == "jan@customer.example"
    assert "/reset-password?token=" in mail.get_body(("plain",)).get_content()
    assert portal.mail.flush().jobs == 0  # a done job is deleted: it never runs twice
    assert len(mailer.outbox) == 1
    portal.close()


def _reads_before_the_decision(portal: Portal, request: Any) -> list[str]:
    """The statements a request's background job sends from its start (the request's own
    job row written) to its first write: the work a following request may meet."""
    from sqlalchemy import event

    storage = portal.storage
    assert isinstance(storage, SqlStorage)
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(storage.engine, "before_cursor_execute", count)
    try:
        request()
        portal.mail.wait()
    finally:
        event.remove(storage.engine, "before_cursor_execute", count)
    start = next(n for n, s in enumerate(seen) if s.startswith("INSERT INTO jobs")) + 1
    writes = ("INSERT", "UPDATE", "DELETE")
    end = next(n for n in range(start, len(seen)) if seen[n].startswith(writes))
    return seen[start:end]


def test_a_job_reads_the_same_for_a_known_and_an_unknown_address(tmp_path: Path) -> None:
    """Issue 9, item 7: a request that follows a reset or registration request must not be
    held up longer after a known address. The job's reads before its write are a part of
    that work: the same statements, in the same order, known address or not."""
    settings = PortalSettings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'portal.db'}",
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
    )
    portal = Portal.from_settings(settings, clock=FixedClock(datetime.now(UTC)))
    portal.mailer = MemoryMailer()
    try:
        world = World(portal, vendor_code=settings.default_vendor)
        account = world.account(email="jan@customer.example")
        membership = world.membership(
            account=account, profile=world.profile(capabilities={"orders.view"})
        )
        portal.credentials.set_password(
            world.system, membership, "a long enough passphrase", must_change=False
        )
        vendor = world.vendor

        def reset(login: str) -> Any:
            return lambda: portal.credentials.request_reset(vendor, login)

        def register(email: str) -> Any:
            return lambda: portal.registrations.request(
                vendor, email=email, first_name="Eva", last_name="Brandt", company="NewCo"
            )

        for known, unknown in [
            (reset("jan@customer.example"), reset("nobody@customer.example")),
            (register("jan@customer.example"), register("eva@newco.example")),
        ]:
            reads = _reads_before_the_decision(portal, known)
            assert len(reads) >= 5  # account, memberships, context, greeting
            assert reads == _reads_before_the_decision(portal, unknown)
        assert portal.mailer.outbox  # the known address was mailed: the jobs did run
    finally:
        portal.close()
