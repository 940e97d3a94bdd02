"""``portalkit events``: deliver the vendor inbox's events to the host's consumer."""

from __future__ import annotations

import importlib
import time
from typing import Any

import click

from portalkit.cli._app import Runtime, examples, json_option, pass_runtime
from portalkit.inbox import EventReport

__all__ = ["events"]


def _consumer(_ctx: click.Context, _param: click.Parameter, value: str) -> Any:
    # "package.module:function", as console_scripts name an entry point.
    module_name, _, attribute = value.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute) if attribute else None
    except (ImportError, AttributeError, ValueError) as exc:
        raise click.BadParameter(f"cannot load {value!r}: {exc}") from None
    if not callable(found):
        raise click.BadParameter(f"{value!r} is not module:function naming a callable")
    return found


@click.group(
    epilog=examples(
        "portalkit events deliver --consumer myapp.erp:take_event",
        "portalkit events deliver --consumer myapp.erp:take_event --worker --interval 5",
    )
)
def events() -> None:
    """Deliver the inbox's events (new and changed items) to your ERP.

    Each event is stored with the change that caused it; these commands hand the due ones to
    your consumer function, which takes one portalkit.inbox.InboxEvent and raises when it
    could not take it (it is retried later, with back-off). Events of one item arrive in
    order; an event may arrive twice after a crash, so skip an event.key you have seen.
    """


def _summary(report: EventReport) -> str:
    return f"portalkit: {report.delivered} delivered, {report.retrying} to retry"


@events.command(
    epilog=examples(
        "portalkit events deliver --consumer myapp.erp:take_event",
        "portalkit events deliver --consumer myapp.erp:take_event --limit 100 --json",
        "portalkit events deliver --consumer myapp.erp:take_event --worker",
    )
)
@click.option(
    "--consumer",
    required=True,
    callback=_consumer,
    metavar="MODULE:FUNCTION",
    help="Your function taking one event; e.g. --consumer myapp.erp:take_event.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Handle at most so many events a round (default: all that are due); e.g. --limit 100.",
)
@click.option(
    "--worker",
    is_flag=True,
    help="Keep delivering, round after round, until stopped; e.g. --worker --interval 5.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="With --worker: seconds to wait between rounds; e.g. --interval 10.",
)
@json_option
@pass_runtime
def deliver(
    runtime: Runtime, consumer: Any, limit: int | None, worker: bool, interval: float
) -> None:
    """Deliver the events that are due, then stop (or go on with --worker).

    Several runs may work side by side (also on several machines): each event goes to one of
    them. Prints what was delivered and what waits for a retry.
    """
    try:
        while True:
            report = runtime.portal.inbox.deliver_events(consumer, limit=limit)
            runtime.out.result(report, line=_summary(report))
            if not worker:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
