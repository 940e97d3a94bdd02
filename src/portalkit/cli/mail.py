"""``portalkit mail``: deliver queued mail, run the mail worker, look at the queue."""

from __future__ import annotations

import time

import attrs
import click

from portalkit.cli._app import Runtime, examples, json_option, pass_runtime
from portalkit.cli._output import Column
from portalkit.outbox import FlushReport, OutboxStatus

__all__ = ["mail"]

_batch = click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    metavar="N",
    help="Messages sent over one connection to the mail server; e.g. --batch 20.",
)

_LISTED: tuple[Column, ...] = (
    ("vendor", "Vendor"),
    ("id", "Id"),
    ("to", "To"),
    ("subject", "Subject"),
    ("kind", "Kind"),
    ("status", "Status"),
    ("attempts", "Attempts"),
    ("next_attempt_at", "Next attempt (UTC)"),
    ("last_error", "Last error"),
)


@click.group(
    epilog=examples(
        "portalkit mail flush",
        "portalkit mail worker --interval 30",
        "portalkit mail list --status dead",
        "portalkit mail new-key",
    )
)
def mail() -> None:
    """Deliver queued mail, run the mail worker, look at the queue.

    Mail is queued in the database in the transaction that caused it; these commands deliver
    it with the settings of your application (PORTALKIT_MAIL_BACKEND, PORTALKIT_SMTP_*).
    """


def _flush(runtime: Runtime, batch: int) -> FlushReport:
    """One round: ``portal.mail.flush()``, a batch at a time so that the bar can move."""
    portal = runtime.portal
    total = FlushReport()
    with runtime.out.progress("delivering mail") as advance:
        while True:
            report = portal.mail.flush(limit=batch, batch=batch)
            total += report
            handled = report.sent + report.retrying + report.dead
            advance(handled)
            if handled < batch:  # nothing more is due
                return total


def _summary(report: FlushReport) -> str:
    # The wording is relied on by scripts written before --json; keep it.
    return (
        f"portalkit: {report.sent} sent, {report.retrying} to retry, {report.dead} dead, "
        f"{report.jobs} requests handled"
    )


@mail.command(
    epilog=examples(
        "portalkit mail flush",
        "portalkit mail flush --batch 20",
        'portalkit mail flush --json               # {"sent": 3, "retrying": 0, "dead": 0, "jobs": 1}',
        "* * * * *  portalkit mail flush           # from cron, every minute",
    )
)
@_batch
@json_option
@pass_runtime
def flush(runtime: Runtime, batch: int) -> None:
    """Deliver the mail that is due, then stop.

    First handles the stored requests that are due (password resets and self-registrations,
    which queue mail), then delivers, batch by batch. Prints what it did: sent, to be retried later, given up (dead), and requests
    handled. A progress bar shows on a terminal.
    """
    report = _flush(runtime, batch)
    runtime.out.result(report, line=_summary(report))


@mail.command(
    epilog=examples(
        "portalkit mail worker                     # every 10 seconds, until stopped",
        "portalkit mail worker --interval 30 --batch 20",
        "portalkit mail worker --rounds 3 --json   # three JSON lines, one a round",
    )
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait between rounds; e.g. --interval 30.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Stop after so many rounds (0: never); e.g. --rounds 1 for a single round.",
)
@_batch
@json_option
@pass_runtime
def worker(runtime: Runtime, interval: float, rounds: int, batch: int) -> None:
    """Deliver the mail that is due, again and again, until stopped.

    Each round does what 'portalkit mail flush' does, then waits --interval seconds.

    Run one next to your web application, as a service that is restarted when it ends (it
    ends on a database error). Each round prints one line, or one JSON object a line with
    --json. Ctrl-C stops it with exit status 0.
    """
    done = 0
    try:
        while True:
            report = _flush(runtime, batch)
            runtime.out.result(report, line=_summary(report))
            done += 1
            if done == rounds:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@mail.command(
    "list",
    epilog=examples(
        "portalkit mail list --status dead         # what could not be delivered, and why",
        "portalkit mail list --vendor acme --limit 20",
        "portalkit mail list --status pending --json",
    ),
)
@click.option(
    "--status",
    type=click.Choice([s.value for s in OutboxStatus]),
    help="Only messages in this state; e.g. --status dead.",
)
@click.option(
    "--vendor",
    metavar="CODE",
    help="Only the queue of the vendor with this code (default: every vendor); e.g. --vendor acme.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    metavar="N",
    help="At most so many messages of each vendor, the oldest first; e.g. --limit 20.",
)
@json_option
@pass_runtime
def list_(runtime: Runtime, status: str | None, vendor: str | None, limit: int) -> None:
    """List queued mail, e.g. the messages that could not be delivered.

    Shows address, subject, state, attempts and the last error of each message.

    Bodies are never shown (they may hold links and passwords). With --json: a list of
    objects with the keys vendor, id, to, subject, kind, status, attempts, next_attempt_at
    and last_error.
    """
    rows = []
    for found in runtime.vendors(vendor):
        actor = runtime.acting_for(found)
        for message in runtime.portal.mail.list(actor, status=status, limit=limit):
            rows.append({"vendor": found.code, **attrs.asdict(message)})
    runtime.out.table(rows, _LISTED, title="Queued mail")


@mail.command(
    "new-key",
    epilog=examples(
        "portalkit mail new-key                    # then PORTALKIT_MAIL_ENCRYPTION_KEY=<key>",
        'portalkit mail new-key --json             # {"key": "..."}',
    ),
)
@json_option
@pass_runtime
def new_key(runtime: Runtime) -> None:
    """Print a new key for PORTALKIT_MAIL_ENCRYPTION_KEY.

    The key encrypts secret mail (links, passwords) while it waits in the database. Make one
    per deployment and keep it with your other secrets; every web process and worker needs it.
    """
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    runtime.out.result({"key": key}, line=key)
