"""``portalkit mail``: deliver queued mail, run the mail worker, look at the queue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import attrs
import click

from portalkit.actors import System
from portalkit.cli._app import Runtime, examples, json_option, pass_runtime
from portalkit.cli._output import Column, printable
from portalkit.outbox import FlushReport, OutboxMessage, OutboxStatus

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


_COUNTED: tuple[Column, ...] = (
    ("vendor", "Vendor"),
    ("pending", "Pending"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("dead", "Dead"),
    ("oldest_pending_at", "Oldest pending (UTC)"),
    ("waiting", "Waiting for"),
)

_DEAD: tuple[Column, ...] = (
    ("vendor", "Vendor"),
    ("id", "Id"),
    ("to", "To"),
    ("subject", "Subject"),
    ("kind", "Kind"),
    ("attempts", "Attempts"),
    ("created_at", "Queued (UTC)"),
    ("last_error", "Last error"),
)

# Pages of the largest size portal.mail.list() takes: counting reads every message once.
_PAGE = 1000


@click.group(
    epilog=examples(
        "portalkit mail flush",
        "portalkit mail worker --interval 30",
        "portalkit mail list --status dead",
        "portalkit mail status",
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
            rows.append(
                {
                    "vendor": found.code,
                    **attrs.asdict(message),
                    "last_error": _one_line(message.last_error),
                }
            )
    runtime.out.table(rows, _LISTED, title="Queued mail")


def _all(runtime: Runtime, actor: System, status: OutboxStatus) -> Iterator[OutboxMessage]:
    """Every message of the actor's vendor in ``status``, oldest first, a page at a time."""
    offset = 0
    while True:
        found = runtime.portal.mail.list(actor, status=status, limit=_PAGE, offset=offset)
        yield from found
        if len(found) < _PAGE:
            return
        offset += _PAGE


def _dead_row(vendor: str, message: OutboxMessage) -> dict[str, Any]:
    # What went wrong and where, never the body: a dead invitation may still hold its link.
    return {
        "vendor": vendor,
        "id": message.id,
        "to": message.to,
        "subject": message.subject,
        "kind": message.kind,
        "attempts": message.attempts,
        "created_at": message.created_at,
        "last_error": _one_line(message.last_error),
    }


def _one_line(error: str) -> str:
    # A mail server's answer is foreign text: on one line, and without the escape sequences
    # that would let it retitle or recolour the operator's terminal.
    return printable(" ".join(error.split()))


def _waiting(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _counts(
    vendor: str, counts: dict[str, int], oldest: datetime | None, now: datetime
) -> dict[str, Any]:
    age = None if oldest is None else max(0, int((now - oldest).total_seconds()))
    return {
        "vendor": vendor,
        **counts,
        "oldest_pending_at": oldest,
        "oldest_pending_seconds": age,
        "waiting": _waiting(age),
    }


@mail.command(
    epilog=examples(
        "portalkit mail status",
        "portalkit mail status --vendor acme --limit 5",
        "portalkit mail status --json | jq -e '.total.dead == 0'   # for monitoring: 1 if dead",
    ),
)
@click.option(
    "--vendor",
    metavar="CODE",
    help="Only the queue of the vendor with this code (default: every vendor); e.g. --vendor acme.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    metavar="N",
    help="At most so many dead messages of each vendor shown with their last error, the newest "
    "first (the count is of all); e.g. --limit 5.",
)
@json_option
@pass_runtime
def status(runtime: Runtime, vendor: str | None, limit: int) -> None:
    """Show how the mail queue is doing: how many messages wait, are being sent, were sent
    and were given up (dead), how long the oldest waits, and why each dead one failed.

    Bodies are never shown (they may hold links and passwords). It only reads; the exit
    status is 0 whatever the queue holds: a monitor reads the counts (see the example).

    With --json: {"vendors": [...], "total": {...}, "dead_messages": [...]}, each vendor and
    the total with the keys pending, sending, sent, dead, oldest_pending_at and
    oldest_pending_seconds; each dead message with vendor, id, to, subject, kind, attempts,
    created_at and last_error.
    """
    now = runtime.portal.clock.now()
    rows: list[dict[str, Any]] = []
    dead_rows: list[dict[str, Any]] = []
    total = dict.fromkeys((s.value for s in OutboxStatus), 0)
    oldest_of_all: datetime | None = None
    for found in runtime.vendors(vendor):
        actor = runtime.acting_for(found)
        counts = dict.fromkeys((s.value for s in OutboxStatus), 0)
        oldest: datetime | None = None
        dead: list[OutboxMessage] = []
        for state in OutboxStatus:
            for message in _all(runtime, actor, state):
                counts[state.value] += 1
                if state is OutboxStatus.PENDING and (
                    oldest is None or message.created_at < oldest
                ):
                    oldest = message.created_at
                elif state is OutboxStatus.DEAD:
                    dead.append(message)
        dead.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        dead_rows += [_dead_row(found.code, m) for m in dead[:limit]]
        rows.append(_counts(found.code, counts, oldest, now))
        total = {k: total[k] + counts[k] for k in total}
        if oldest is not None and (oldest_of_all is None or oldest < oldest_of_all):
            oldest_of_all = oldest
    summed = _counts("(all)", total, oldest_of_all, now)
    if runtime.out.json:
        strip = ("vendor", "waiting")
        runtime.out.result(
            {
                "vendors": [{k: v for k, v in r.items() if k != "waiting"} for r in rows],
                "total": {k: v for k, v in summed.items() if k not in strip},
                "dead_messages": dead_rows,
            },
            line="",
        )
        return
    runtime.out.table(rows + ([summed] if len(rows) > 1 else []), _COUNTED, title="Mail queue")
    if dead_rows:
        runtime.out.table(dead_rows, _DEAD, title="Dead mail")


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
