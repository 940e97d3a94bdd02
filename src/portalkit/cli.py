"""The ``portalkit`` command: schema upgrades and mail delivery for deployments.

Usage::

    portalkit db upgrade                 # the database in PORTALKIT_DATABASE_URL
    portalkit db upgrade --url sqlite:///portal.db
    portalkit mail flush                 # handle stored requests, deliver what is due, stop
    portalkit mail worker --interval 10  # the same every 10 seconds, until stopped
    portalkit mail new-key               # a key for PORTALKIT_MAIL_ENCRYPTION_KEY
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from portalkit.errors import PortalError
from portalkit.settings import load_settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success)."""
    parser = argparse.ArgumentParser(prog="portalkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    db = commands.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create or upgrade the schema")
    upgrade.add_argument("--url", help="database URL (default: PORTALKIT_DATABASE_URL)")
    mail = commands.add_parser("mail", help="deliver queued mail")
    mail_commands = mail.add_subparsers(dest="mail_command", required=True)
    flush = mail_commands.add_parser("flush", help="deliver what is due, then stop")
    worker = mail_commands.add_parser("worker", help="deliver what is due, again and again")
    worker.add_argument("--interval", type=float, default=10.0, help="seconds between rounds")
    worker.add_argument("--rounds", type=int, default=0, help="stop after so many (0: never)")
    mail_commands.add_parser("new-key", help="print a new PORTALKIT_MAIL_ENCRYPTION_KEY")
    for sub in (flush, worker):
        sub.add_argument("--batch", type=int, default=50, help="messages per connection")
    args = parser.parse_args(argv)

    try:
        if args.command == "db":
            return _upgrade(args.url)
        return _mail(args)
    except PortalError as exc:
        print(f"portalkit: {exc}", file=sys.stderr)
        return 2


def _upgrade(url: str | None) -> int:
    settings = load_settings(**({"database_url": url} if url else {}))
    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage(settings.database_url)
    try:
        storage.upgrade_schema()
    finally:
        storage.close()
    print(f"portalkit: schema of {storage.engine.url.render_as_string()} is up to date")
    return 0


def _mail(args: argparse.Namespace) -> int:
    if args.mail_command == "new-key":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode())
        return 0
    from portalkit.portal import Portal

    portal = Portal.from_settings()
    rounds = 0
    try:
        while True:
            report = portal.mail.flush(batch=args.batch)
            print(
                f"portalkit: {report.sent} sent, {report.retrying} to retry, {report.dead} dead, "
                f"{report.jobs} requests handled",
                flush=True,
            )
            rounds += 1
            if args.mail_command == "flush" or rounds == args.rounds:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    finally:
        portal.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
