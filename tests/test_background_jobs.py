"""Reset and registration requests are stored jobs: a process that stops loses none (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

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
        world.staff, membership, "a long enough passphrase", must_change=False
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
