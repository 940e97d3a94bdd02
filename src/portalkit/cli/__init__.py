"""The ``portalkit`` command: schema upgrades and mail delivery for deployments.

Usage::

    portalkit db upgrade                 # the database in PORTALKIT_DATABASE_URL
    portalkit db upgrade --url sqlite:///portal.db
    portalkit mail flush                 # handle stored requests, deliver what is due, stop
    portalkit mail worker --interval 10  # the same every 10 seconds, until stopped
    portalkit mail list --status dead    # what could not be delivered, and why
    portalkit mail new-key               # a key for PORTALKIT_MAIL_ENCRYPTION_KEY
    portalkit access review --csv        # every login's effective rights, for sign-off
    portalkit events deliver --consumer myapp.erp:take_event   # inbox events to the ERP
    portalkit customer provision --file acme.toml --operator jdoe   # a new customer
    portalkit member list --customer ACME   # its logins
    portalkit import customers klanten.csv --dry-run   # check a CSV file, write nothing
    portalkit export logins --output logins.csv        # logins and their rights as CSV

Every command takes ``--help`` and ``--json``; docs/cli.md lists the exit codes.

A command group is one module beside this one: a ``click.group()`` function whose commands
take the shared :class:`~portalkit.cli._app.Runtime` (``runtime.portal``, ``runtime.out``),
registered in :data:`GROUPS`. Commands call the portal's public services and print the result;
the rules live in the services.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from portalkit.cli import access, customer, db, events, mail, member, transfer
from portalkit.cli._app import ExitCode, Root, examples, exit_codes_help

__all__ = ["GROUPS", "ExitCode", "main", "portalkit"]

GROUPS: tuple[click.Group, ...] = (
    db.db,
    mail.mail,
    events.events,
    access.access,
    customer.customer,
    member.member,
    transfer.import_,
    transfer.export,
)
"""The command groups of ``portalkit``, in the order ``--help`` lists them."""


@click.group(
    cls=Root,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=examples(
        "portalkit db upgrade",
        "portalkit mail worker",
        "portalkit mail flush --json",
        "portalkit mail --help",
    )
    + "\n\n"
    + exit_codes_help(),
)
def portalkit() -> None:
    """Run and look after a portalkit deployment: database schema and mail.

    Every command reads the same settings as your application: PORTALKIT_* environment
    variables, or a .env file in the current folder. Errors you can fix are one line on
    stderr and an exit status (below); the result goes to stdout, as JSON with --json.
    """


for _group in GROUPS:
    portalkit.add_command(_group)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with these arguments (default: ``sys.argv[1:]``); returns the
    exit status (see :class:`~portalkit.cli._app.ExitCode`)."""
    code: int = portalkit.main(argv, "portalkit", standalone_mode=False)
    return code
