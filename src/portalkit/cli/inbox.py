"""``portalkit inbox``: the vendor inbox — orders, quote requests, registrations, work requests
and tickets that wait for the vendor's staff — as an operator sees it from the command line.

``inbox list`` pages :meth:`portal.inbox.list() <portalkit.inbox.InboxService.list>` as the
operator (a vendor system actor, which holds every staff permission, ``inbox.work`` among
them) and shows each item's customer by code.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import click

from portalkit.cli._app import Runtime, examples, json_option, operator_options, pass_runtime
from portalkit.cli._output import Column
from portalkit.errors import NotFound
from portalkit.inbox import BUILTIN_KINDS, InboxItem, InboxStatus

__all__ = ["inbox"]

_LISTED: tuple[Column, ...] = (
    ("kind", "Kind"),
    ("number", "Number / reference"),
    ("customer", "Customer"),
    ("title", "Title"),
    ("status", "Status"),
    ("created_at", "Filed (UTC)"),
    ("assignee", "Assignee"),
    ("id", "Id"),
)


@click.group(
    epilog=examples(
        "portalkit inbox list",
        "portalkit inbox list --status new --kind order",
        "portalkit inbox list --customer ACME --json",
    )
)
def inbox() -> None:
    """What waits for the vendor's staff: orders, quote requests, registrations, work
    requests and tickets.

    Every command acts in one vendor (--vendor, default PORTALKIT_DEFAULT_VENDOR) as the
    operator, who holds every staff permission, inbox.work among them.
    """


def _number(item: InboxItem) -> str:
    # Orders and quotes carry the number people quote on the phone; other kinds their
    # record's id.
    number = item.details.get("number")
    return str(number) if number not in (None, "") else str(item.reference)


def _row(item: InboxItem, codes: dict[UUID, str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "number": _number(item),
        "reference": item.reference,
        "customer": codes.get(item.customer_id, "") if item.customer_id else "",
        "title": item.title,
        "status": item.status,
        "assignee": item.assignee,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def _customer_codes(runtime: Runtime, items: list[InboxItem]) -> dict[UUID, str]:
    """The code of each item's customer, looked up once per customer."""
    actor = runtime.operator()
    codes: dict[UUID, str] = {}
    for item in items:
        if item.customer_id is None or item.customer_id in codes:
            continue
        try:
            codes[item.customer_id] = runtime.portal.customers.get(actor, item.customer_id).code
        except NotFound:
            # Customers are switched off, not deleted; should one ever go, show its id.
            codes[item.customer_id] = str(item.customer_id)
    return codes


@inbox.command(
    "list",
    epilog=examples(
        "portalkit inbox list                      # the newest 50 items of every kind",
        "portalkit inbox list --status new --status in_progress --kind ticket",
        "portalkit inbox list --customer ACME --limit 200",
        "portalkit inbox list --json | jq -r '.[] | [.kind, .number, .status] | @tsv'",
    ),
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in InboxStatus]),
    help="Only items in this state (repeat for several); e.g. --status new.",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(BUILTIN_KINDS),
    help="Only items of this kind (repeat for several); e.g. --kind order.",
)
@click.option(
    "--customer",
    metavar="CODE",
    help="Only the items of the customer with this code; e.g. --customer ACME.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    metavar="N",
    help="At most so many items, the newest first (1 to 1000); e.g. --limit 200.",
)
@operator_options(required=False)
@json_option
@pass_runtime
def list_(
    runtime: Runtime,
    statuses: tuple[str, ...],
    kinds: tuple[str, ...],
    customer: str | None,
    limit: int,
) -> None:
    """List the vendor's inbox, the newest first.

    Shows each item's kind, its number (an order's or quote's) or the id of the record it
    stands for, the customer's code, title, state, when it was filed and who works on it.

    With --json: a list of objects with the keys id, kind, number, reference, customer,
    title, status, assignee, created_at and updated_at.
    """
    portal = runtime.portal
    actor = runtime.operator()
    wanted: list[InboxStatus | str] = [InboxStatus(s) for s in statuses]
    found = portal.inbox.list(
        actor,
        kind=list(kinds) or None,
        status=wanted or None,
        customer=portal.customers.get_by_code(actor, customer) if customer else None,
        limit=limit,
    )
    codes = _customer_codes(runtime, found)
    rows = [_row(item, codes) for item in found]
    if runtime.out.json:
        runtime.out.result(rows, line="")
    else:
        runtime.out.table(rows, _LISTED, title="Inbox")
