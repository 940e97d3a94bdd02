"""``portalkit member``: the logins of a customer — invite, list, disable, enable, and reset a
password — and erasing a person.

A login is named by its username and its customer's code (``--customer``): one account may be
a login of several customers. ``erase`` takes the username alone: it erases the person,
at every customer.
"""

from __future__ import annotations

from typing import Any

import attrs
import click

from portalkit.cli._app import Runtime, examples, json_option, operator_options, pass_runtime
from portalkit.cli._output import Column
from portalkit.errors import NotFound
from portalkit.memberships.model import Membership, MembershipStatus

__all__ = ["member"]

_LISTED: tuple[Column, ...] = (
    ("username", "Login"),
    ("email", "E-mail"),
    ("name", "Name"),
    ("kind", "Kind"),
    ("status", "Status"),
    ("profile", "Profile"),
)

_customer_option = click.option(
    "--customer", metavar="CODE", required=True, help="The login's customer; e.g. --customer ACME."
)


@click.group(
    epilog=examples(
        "portalkit member list --customer ACME",
        "portalkit member invite --customer ACME --email tom@acme.example "
        "--first-name Tom --last-name Boer --operator jdoe",
        "portalkit member disable tom --customer ACME --operator jdoe",
    )
)
def member() -> None:
    """The logins of a customer: invite, list, disable, enable, reset a password; erase a
    person.

    Commands that change something name the operator (--operator), which the audit log
    records; every command acts in one vendor (--vendor, default PORTALKIT_DEFAULT_VENDOR).
    """


def _row(runtime: Runtime, membership: Membership) -> dict[str, Any]:
    portal = runtime.portal
    actor = runtime.operator()
    account = portal.accounts.get(actor, membership.account_id)
    contact = portal.contacts.get(actor, membership.contact_id)
    profile = (
        portal.profiles.get(actor, membership.profile_id).name if membership.profile_id else ""
    )
    return {
        "id": membership.id,
        "username": account.username,
        "email": account.email,
        "name": contact.full_name,
        "kind": membership.kind.value,
        "status": membership.status.value,
        "profile": profile,
    }


def _login(runtime: Runtime, customer: str, username: str) -> Membership:
    """The membership of ``username`` in ``customer``, or NotFound."""
    portal = runtime.portal
    actor = runtime.operator()
    where = portal.customers.get_by_code(actor, customer)
    account = portal.accounts.get_by_username(actor, username)
    found = portal.memberships.list(actor, customer=where, account=account)
    if not found:
        raise NotFound("membership", f"{username} at {where.code}")
    return found[0]


@member.command(
    epilog=examples(
        "portalkit member invite --customer ACME --email tom@acme.example "
        "--first-name Tom --last-name Boer --profile Reader --operator jdoe"
    )
)
@_customer_option
@click.option(
    "--email", required=True, help="Where the invitation goes; e.g. --email tom@acme.example."
)
@click.option(
    "--first-name", required=True, help="The contact's first name; e.g. --first-name Tom."
)
@click.option("--last-name", required=True, help="The contact's last name; e.g. --last-name Boer.")
@click.option(
    "--username",
    help="Default: the address's local part (a free variant if taken); e.g. --username tom.",
)
@click.option(
    "--profile", metavar="NAME", help="The permission profile, by name; e.g. --profile Reader."
)
@click.option(
    "--language",
    type=click.Choice(["en", "nl", "de"]),
    help="The language of its mail; e.g. --language nl.",
)
@click.option(
    "--kind",
    type=click.Choice(["main", "member", "extra"]),
    help="main (the customer's main account), member (default) or extra; e.g. --kind main.",
)
@operator_options()
@json_option
@pass_runtime
def invite(
    runtime: Runtime,
    customer: str,
    email: str,
    first_name: str,
    last_name: str,
    username: str | None,
    profile: str | None,
    language: str | None,
    kind: str | None,
) -> None:
    """Add a person as an invited login of a customer and mail the invitation."""
    portal = runtime.portal
    actor = runtime.operator()
    where = portal.customers.get_by_code(actor, customer)
    chosen = portal.profiles.get_by_name(actor, profile) if profile else None
    made = portal.logins.add(
        actor,
        customer=where,
        email=email,
        first_name=first_name,
        last_name=last_name,
        profile=chosen,
        username=username,
        language=language,
        kind=kind,
    )
    row = _row(runtime, made)
    runtime.out.result(row, line=f"invited {row['username']} <{row['email']}> to {where.code}")


@member.command(
    name="list",
    epilog=examples(
        "portalkit member list --customer ACME", "portalkit member list --customer ACME --json"
    ),
)
@_customer_option
@click.option(
    "--status",
    type=click.Choice([s.value for s in MembershipStatus]),
    help="Only this status; e.g. --status invited.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="At most this many; e.g. --limit 500.",
)
@operator_options(required=False)
@json_option
@pass_runtime
def list_(runtime: Runtime, customer: str, status: str | None, limit: int) -> None:
    """List the logins of a customer."""
    portal = runtime.portal
    actor = runtime.operator()
    where = portal.customers.get_by_code(actor, customer)
    found = portal.memberships.list(actor, customer=where, status=status, limit=limit)
    runtime.out.table([_row(runtime, m) for m in found], _LISTED, title=f"Logins of {where.code}")


def _status(runtime: Runtime, customer: str, username: str, on: bool) -> None:
    portal = runtime.portal
    target = _login(runtime, customer, username)
    change = portal.memberships.activate if on else portal.memberships.deactivate
    row = _row(runtime, change(runtime.operator(), target))
    runtime.out.result(row, line=f"{row['username']} at {customer}: {row['status']}")


@member.command(epilog=examples("portalkit member disable tom --customer ACME --operator jdoe"))
@click.argument("username")
@_customer_option
@operator_options()
@json_option
@pass_runtime
def disable(runtime: Runtime, username: str, customer: str) -> None:
    """Disable the login USERNAME of a customer (a main account's extras stop too)."""
    _status(runtime, customer, username, False)


@member.command(epilog=examples("portalkit member enable tom --customer ACME --operator jdoe"))
@click.argument("username")
@_customer_option
@operator_options()
@json_option
@pass_runtime
def enable(runtime: Runtime, username: str, customer: str) -> None:
    """Make the login USERNAME of a customer active again."""
    _status(runtime, customer, username, True)


@member.command(
    name="reset-password",
    epilog=examples(
        "portalkit member reset-password tom --customer ACME --operator jdoe",
        "portalkit member reset-password tom --customer ACME --show --operator jdoe",
    ),
)
@click.argument("username")
@_customer_option
@click.option(
    "--show",
    is_flag=True,
    help="Print the generated password once instead of mailing it; e.g. --show.",
)
@operator_options()
@json_option
@pass_runtime
def reset_password(runtime: Runtime, username: str, customer: str, show: bool) -> None:
    """Give the login USERNAME a new generated password, which it must change at its next
    log-in; mailed to the login's address unless --show. An invited login gets a new
    invitation instead."""
    portal = runtime.portal
    actor = runtime.operator()
    target = _login(runtime, customer, username)
    if target.status is MembershipStatus.INVITED:
        token = portal.credentials.invite(actor, target)
        runtime.out.result(
            {"username": username, "invitation_expires_at": token.expires_at, "password": None},
            line=f"{username} is invited: a new invitation is queued",
        )
        return
    password = portal.credentials.set_password(actor, target, None, send=not show)
    runtime.out.result(
        {"username": username, "password": password if show else None},
        line=f"new password of {username}: {password}"
        if show
        else f"a new password is queued for {username}'s address",
    )


@member.command(
    epilog=examples(
        "portalkit member erase tom --dry-run --operator jdoe   # what would go",
        "portalkit member erase tom --yes --operator jdoe",
    )
)
@click.argument("username")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Report what would be erased and erase nothing; e.g. --dry-run.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Confirm the erasure, which cannot be undone; e.g. portalkit member erase tom --yes.",
)
@operator_options()
@json_option
@pass_runtime
def erase(runtime: Runtime, username: str, dry_run: bool, yes: bool) -> None:
    """Erase the person with the login USERNAME (GDPR article 17): its contact, account and
    logins at every customer, its links, carts, self-registrations and mail; its audit
    entries keep their place under a pseudonym.

    Refused (exit status 4) while orders, quotes, tickets, work requests or inbox items name
    the person. Needs --yes, or --dry-run to see first what would go.
    """
    if not (yes or dry_run):
        raise click.UsageError("erasing a person cannot be undone; add --yes (or --dry-run)")
    portal = runtime.portal
    actor = runtime.operator()
    account = portal.accounts.get_by_username(actor, username)
    report = portal.retention.erase_person(actor, account=account, dry_run=dry_run)
    result = attrs.asdict(report)
    verb = "would erase" if dry_run else "erased"
    runtime.out.result(
        result,
        line=f"{verb} {username}: {report.accounts} account, {report.contacts} contacts, "
        f"{report.memberships} logins; the audit log names it {report.pseudonym}",
    )
