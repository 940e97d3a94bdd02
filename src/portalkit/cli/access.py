"""``portalkit access``: the access review of a vendor, a customer or an umbrella tree, and
``explain`` for one login."""

from __future__ import annotations

import sys

import attrs
import click

from portalkit.cli._app import Runtime, examples, json_option, pass_runtime
from portalkit.cli._output import Column

__all__ = ["access"]

_SHOWN: tuple[Column, ...] = (
    ("customer_code", "Customer"),
    ("username", "Login"),
    ("contact_name", "Name"),
    ("kind", "Kind"),
    ("membership_status", "Status"),
    ("profile", "Profile"),
    ("capabilities", "Capabilities"),
    ("locations", "Sites"),
    ("other_customers", "Also reaches"),
    ("denied", "Cannot log in because"),
    ("last_login_at", "Last log-in (UTC)"),
)

_vendor = click.option(
    "--vendor",
    metavar="CODE",
    help="The vendor (default: PORTALKIT_DEFAULT_VENDOR); e.g. --vendor acme.",
)


@click.group(
    epilog=examples(
        "portalkit access review",
        "portalkit access review --customer ACME --tree --csv > review.csv",
        "portalkit access explain --customer ACME --login anna invoices.view",
    )
)
def access() -> None:
    """Who can do what: the access review and its explanations.

    Every row is a login's effective rights now — an invited or switched-off login, or one
    whose customer or main account is off, shows none, and says why.
    """


def _vendor_of(runtime: Runtime, code: str | None) -> object:
    return runtime.vendors(code or runtime.portal.settings.default_vendor)[0]


@access.command(
    epilog=examples(
        "portalkit access review",
        "portalkit access review --customer ACME --tree",
        "portalkit access review --csv > review.csv",
        "portalkit access review --json",
    )
)
@_vendor
@click.option("--customer", metavar="CODE", help="Only this customer; e.g. --customer ACME.")
@click.option(
    "--tree",
    is_flag=True,
    help="With --customer: the customers below it too; e.g. --customer HGZ --tree.",
)
@click.option(
    "--csv",
    "as_csv",
    is_flag=True,
    help="CSV on stdout, formulas defused; e.g. --csv > review.csv.",
)
@json_option
@pass_runtime
def review(
    runtime: Runtime, vendor: str | None, customer: str | None, tree: bool, as_csv: bool
) -> None:
    """List every login with its effective rights (the quarterly access review).

    With --json: a list of objects keyed like the CSV's header row.
    """
    found = _vendor_of(runtime, vendor)
    actor = runtime.acting_for(found)  # type: ignore[arg-type]
    portal = runtime.portal
    top = portal.customers.get_by_code(actor, customer) if customer else None
    if tree and top is None:
        raise click.UsageError("--tree needs --customer")
    if as_csv:
        portal.review.write_csv(actor, sys.stdout, customer=top, tree=tree)
        return
    if runtime.out.json:
        click.echo(portal.review.to_json(actor, customer=top, tree=tree))
        return
    rows = []
    for row in portal.review.rows(actor, customer=top, tree=tree):
        plain = attrs.asdict(row, recurse=False)
        plain["capabilities"] = ", ".join(row.capabilities)
        plain["locations"] = ", ".join(f"{n} ({a})" for n, a in row.locations)
        plain["other_customers"] = ", ".join(row.other_customers)
        rows.append(plain)
    runtime.out.table(rows, _SHOWN, title="Access review")


@access.command(
    epilog=examples("portalkit access explain --customer ACME --login anna invoices.view")
)
@_vendor
@click.option(
    "--customer", metavar="CODE", required=True, help="The login's customer; e.g. --customer ACME."
)
@click.option(
    "--login", "username", metavar="NAME", required=True, help="Its username; e.g. --login anna."
)
@click.argument("capability")
@json_option
@pass_runtime
def explain(
    runtime: Runtime, vendor: str | None, customer: str, username: str, capability: str
) -> None:
    """Say which profile, grant or rule decides whether a login may use CAPABILITY now."""
    found = _vendor_of(runtime, vendor)
    actor = runtime.acting_for(found)  # type: ignore[arg-type]
    portal = runtime.portal
    where = portal.customers.get_by_code(actor, customer)
    rows = [
        r
        for r in portal.review.rows(actor, customer=where)
        if r.username.casefold() == username.casefold()
    ]
    if not rows:
        raise click.UsageError(f"{customer} has no login {username!r}")
    said = portal.review.explain(actor, rows[0].membership_id, capability)
    runtime.out.result({"login": rows[0].username, "capability": capability, "explain": said},
                       line=said)  # fmt: skip
