"""The ``portalkit`` command: schema upgrades for deployments.

Usage::

    portalkit db upgrade                 # the database in PORTALKIT_DATABASE_URL
    portalkit db upgrade --url sqlite:///portal.db
"""

from __future__ import annotations

import argparse
import sys
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
    args = parser.parse_args(argv)

    try:
        settings = load_settings(**({"database_url": args.url} if args.url else {}))
        from portalkit.storage.sqlalchemy import SqlStorage

        storage = SqlStorage(settings.database_url)
        try:
            storage.upgrade_schema()
        finally:
            storage.close()
    except PortalError as exc:
        print(f"portalkit: {exc}", file=sys.stderr)
        return 2
    print(f"portalkit: schema of {storage.engine.url.render_as_string()} is up to date")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
