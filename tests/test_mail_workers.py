"""Two worker processes flush one outbox on PostgreSQL: every message arrives exactly once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from portalkit import Portal, PortalSettings
from portalkit.mail import MemoryMailer
from portalkit.outbox import OutboxStatus
from portalkit.storage.base import TABLES
from portalkit.testing import World
from smtpsink import SmtpServer

MESSAGES = 2000


@pytest.mark.postgres
def test_two_workers_deliver_each_message_exactly_once(pg_url: str) -> None:
    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage(pg_url)
    with storage.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    portal = Portal(
        storage,
        MemoryMailer(),
        settings=PortalSettings(mail_send_after_commit=False, mail_from="portal@vendor.example"),
    )
    world = World(portal)
    with portal.transaction():
        queued = [
            portal.mail.enqueue(
                world.staff, to=f"m{i}@customer.example", subject=f"Message {i}", text="Body"
            )
            for i in range(MESSAGES)
        ]
    with SmtpServer() as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")},
            "PORTALKIT_DATABASE_URL": pg_url,
            "PORTALKIT_MAIL_BACKEND": "smtp",
            "PORTALKIT_SMTP_HOST": "127.0.0.1",
            "PORTALKIT_SMTP_PORT": str(server.port),
            "PORTALKIT_SMTP_SECURITY": "none",
            "PORTALKIT_MAIL_FROM": "portal@vendor.example",
        }
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "portalkit.cli", "mail", "flush", "--batch", "20"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=300) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
        received = server.sink.message_ids()
    sent_counts = [int(out.split("portalkit: ")[1].split(" sent")[0]) for out, _ in outputs]
    assert sum(sent_counts) == MESSAGES
    assert all(n > 0 for n in sent_counts), sent_counts  # both really worked side by side
    assert len(received) == MESSAGES
    assert sorted(received) == sorted(m.message_id for m in queued)  # each exactly once
    assert len(portal.mail.list(world.staff, status=OutboxStatus.SENT, limit=1000)) == 1000
    assert portal.mail.list(world.staff, status="pending") == []
    storage.close()
