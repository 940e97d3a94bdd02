"""``portalkit customer``: create, list, show, switch off and on, and provision customers.

``customer provision`` runs :meth:`portal.provisioning.provision()
<portalkit.provisioning.service.ProvisioningService.provision>` with its steps drawn live on
the terminal, then prints the summary. Its input comes from options, a JSON or TOML file
(``--file``), or both: options win over the file. docs/cli.md shows the file's keys.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from portalkit.cli._app import Runtime, examples, json_option, operator_options, pass_runtime
from portalkit.cli._output import Column
from portalkit.customers.model import Customer
from portalkit.errors import Problem, ValidationError
from portalkit.provisioning import (
    STEPS,
    ProvisionRequest,
    ProvisionSummary,
    Step,
    StepStatus,
)

__all__ = ["customer"]

_LISTED: tuple[Column, ...] = (
    ("code", "Code"),
    ("name", "Name"),
    ("erp_reference", "ERP reference"),
    ("parent", "Parent"),
    ("active", "Active"),
    ("created_at", "Created (UTC)"),
)

# The file's keys, as ProvisionRequest names them; the branding files are paths there.
_FILE_KEYS = frozenset(f.name for f in attrs.fields(ProvisionRequest))
_FILES = ("logo", "email_logo", "size_instructions")
_MAX_FILE = 20 * 1024 * 1024


@click.group(
    epilog=examples(
        "portalkit customer list",
        "portalkit customer create ACME --name 'Acme B.V.' --operator jdoe",
        "portalkit customer provision --file acme.toml --operator jdoe",
        "portalkit customer show ACME --json",
    )
)
def customer() -> None:
    """Create, list, show, switch off and on, and provision the vendor's customers.

    Commands that change something name the operator (--operator), which the audit log
    records; every command acts in one vendor (--vendor, default PORTALKIT_DEFAULT_VENDOR).
    """


def _customer_json(found: Customer, parent: str | None) -> dict[str, Any]:
    return {
        "id": found.id,
        "code": found.code,
        "name": found.name,
        "erp_reference": found.erp_reference,
        "parent": parent,
        "active": found.active,
        "created_at": found.created_at,
        "settings": found.settings,
        "addresses": found.addresses,
    }


def _parent_codes(runtime: Runtime, customers: list[Customer]) -> dict[Any, str]:
    actor = runtime.operator()
    codes: dict[Any, str] = {c.id: c.code for c in customers}
    for c in customers:
        if c.parent_id is not None and c.parent_id not in codes:
            codes[c.parent_id] = runtime.portal.customers.get(actor, c.parent_id).code
    return codes


@customer.command(
    epilog=examples(
        "portalkit customer create ACME --name 'Acme B.V.' --operator jdoe",
        "portalkit customer create ACME-N --name 'Acme Noord' --parent ACME --operator jdoe",
    )
)
@click.argument("code")
@click.option("--name", required=True, help="The company's name; e.g. --name 'Acme B.V.'.")
@click.option("--erp-reference", metavar="REF", help="Its number in your ERP; e.g. D-1001.")
@click.option(
    "--parent", metavar="CODE", help="The umbrella customer above it, by code; e.g. --parent ACME."
)
@operator_options()
@json_option
@pass_runtime
def create(
    runtime: Runtime, code: str, name: str, erp_reference: str | None, parent: str | None
) -> None:
    """Create the customer CODE (at most 50 letters, digits, - and _; it never changes)."""
    portal = runtime.portal
    actor = runtime.operator()
    above = portal.customers.get_by_code(actor, parent) if parent else None
    made = portal.customers.create(
        actor, code=code, name=name, erp_reference=erp_reference, parent=above
    )
    runtime.out.result(
        _customer_json(made, above.code if above else None),
        line=f"created customer {made.code} ({made.name})",
    )


@customer.command(
    name="list",
    epilog=examples("portalkit customer list", "portalkit customer list --inactive --json"),
)
@click.option(
    "--active/--inactive",
    default=None,
    help="Only customers switched on, or only those off; e.g. --inactive.",
)
@click.option(
    "--parent", metavar="CODE", help="Only the customers right below this one; e.g. --parent ACME."
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
def list_(runtime: Runtime, active: bool | None, parent: str | None, limit: int) -> None:
    """List the vendor's customers, oldest first."""
    portal = runtime.portal
    actor = runtime.operator()
    above = portal.customers.get_by_code(actor, parent) if parent else None
    found = portal.customers.list(actor, active=active, parent=above, limit=limit)
    codes = _parent_codes(runtime, found)
    rows = [_customer_json(c, codes.get(c.parent_id) if c.parent_id else None) for c in found]
    runtime.out.table(rows, _LISTED, title="Customers")


@customer.command(
    epilog=examples("portalkit customer show ACME", "portalkit customer show ACME --json")
)
@click.argument("code")
@operator_options(required=False)
@json_option
@pass_runtime
def show(runtime: Runtime, code: str) -> None:
    """Show one customer: its details, addresses, locations and logins."""
    portal = runtime.portal
    actor = runtime.operator()
    found = portal.customers.get_by_code(actor, code)
    parent = portal.customers.get(actor, found.parent_id).code if found.parent_id else None
    sites = portal.locations.list(actor, customer=found)
    logins = portal.memberships.list(actor, customer=found, limit=1000)
    data = {
        **_customer_json(found, parent),
        "locations": [{"id": s.id, "name": s.name, "code": s.code} for s in sites],
        "logins": len(logins),
    }
    lines = [
        f"{found.code}: {found.name}" + ("" if found.active else " (switched off)"),
        f"  ERP reference: {found.erp_reference or '-'}",
        f"  Parent: {parent or '-'}",
        f"  Prices shown: {'yes' if found.settings.show_prices else 'no'}, "
        f"shop: {'on' if found.settings.shop_enabled else 'off'}",
        "  Orders waiting for approval: "
        + (
            f"above {found.settings.approval_above}"
            if found.settings.approval_above is not None
            else "none"
        ),
        "  Notifications for new logins: "
        + (", ".join(sorted(found.settings.notification_defaults)) or "none"),
    ]
    lines += [
        f"  Address: {a.street}, {a.postal_code} {a.city} {a.country}" for a in found.addresses
    ]
    lines += [f"  Location: {s.name}" + (f" ({s.code})" if s.code else "") for s in sites]
    lines.append(f"  Logins: {len(logins)}")
    runtime.out.result(data, line="\n".join(lines))


def _switch(runtime: Runtime, code: str, on: bool) -> None:
    portal = runtime.portal
    actor = runtime.operator()
    found = portal.customers.get_by_code(actor, code)
    changed = (portal.customers.reactivate if on else portal.customers.deactivate)(actor, found)
    state = "on" if changed.active else "off"
    runtime.out.result(
        {"code": changed.code, "active": changed.active},
        line=f"customer {changed.code} is switched {state}",
    )


@customer.command(epilog=examples("portalkit customer deactivate ACME --operator jdoe"))
@click.argument("code")
@operator_options()
@json_option
@pass_runtime
def deactivate(runtime: Runtime, code: str) -> None:
    """Switch the customer CODE off: none of its logins works until it is switched on."""
    _switch(runtime, code, False)


@customer.command(epilog=examples("portalkit customer reactivate ACME --operator jdoe"))
@click.argument("code")
@operator_options()
@json_option
@pass_runtime
def reactivate(runtime: Runtime, code: str) -> None:
    """Switch the customer CODE on again."""
    _switch(runtime, code, True)


# -- provision ----------------------------------------------------------------------------------


def _read_file(path: Path) -> dict[str, Any]:
    """The request file: JSON (``.json``) or TOML (any other name), keys as ProvisionRequest's."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--file") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold one object of keys", param_hint="--file")
    unknown = sorted(str(k) for k in data if k not in _FILE_KEYS)
    if unknown:
        raise ValidationError(
            [Problem(k[:100], "unknown_field", "is not a provisioning field") for k in unknown]
        )
    base = path.parent
    for name in _FILES:
        if isinstance(data.get(name), str):
            data[name] = base / data[name]
    return data


def _contents(name: str, value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, Path):
        raise ValidationError.single(name, "not_path", "must be the path of a file")
    try:
        if value.stat().st_size > _MAX_FILE:
            raise click.BadParameter(f"{value} is larger than 20 MB", param_hint=name)
        return value.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {value}: {exc.strerror}", param_hint=name) from None


@contextmanager
def _live(runtime: Runtime) -> Iterator[Any]:
    """A table of the steps on stderr, redrawn as each changes (a terminal only)."""
    console = Console(stderr=True)
    steps: dict[Any, Step] = {name: Step(name) for name in STEPS}
    marks = {
        StepStatus.WAITING: ("·", "dim"),
        StepStatus.RUNNING: ("…", "yellow"),
        StepStatus.DONE: ("✓", "green"),
        StepStatus.FAILED: ("✗", "red"),
        StepStatus.SKIPPED: ("-", "dim"),
    }

    def draw() -> Table:
        table = Table(title="Provisioning", title_justify="left", show_header=False)
        for step in steps.values():
            mark, style = marks[step.status]
            table.add_row(
                Text(mark, style=style),
                Text(step.label),
                Text(step.status.value, style=style),
                Text(step.error or step.detail),
            )
        return table

    if runtime.out.json or not console.is_terminal:
        yield None
        return
    with Live(draw(), console=console, refresh_per_second=8, transient=False) as live:

        def progress(step: Step) -> None:
            steps[step.name] = step
            live.update(draw())

        yield progress


def _summary_json(summary: ProvisionSummary) -> dict[str, Any]:
    admin = summary.admin
    return {
        "dry_run": summary.dry_run,
        "customer": {
            "id": summary.customer.id,
            "code": summary.customer.code,
            "name": summary.customer.name,
        },
        "locations": [{"id": s.id, "name": s.name, "code": s.code} for s in summary.locations],
        "copied_from": summary.copied_from.code if summary.copied_from else None,
        "copied_parts": summary.copied_parts,
        "branding": summary.branding,
        "admin": None
        if admin is None
        else {
            "id": admin.id,
            "username": admin.username,
            "email": admin.email,
            "membership_id": summary.admin_membership.id if summary.admin_membership else None,
            "profile": summary.admin_profile.name if summary.admin_profile else None,
            "profile_created": summary.profile_created,
        },
        "invitation": summary.invitation,
        "steps": [
            {"name": s.name, "status": s.status, "detail": s.detail, "error": s.error}
            for s in summary.steps
        ],
    }


def _summary_lines(summary: ProvisionSummary) -> str:
    c = summary.customer
    head = "Dry run, nothing written: would create" if summary.dry_run else "Created"
    lines = [f"{head} customer {c.code} ({c.name})"]
    lines += [f"  Step {s.name.value}: {s.status.value}" for s in summary.steps]
    if summary.locations:
        lines.append("  Locations: " + ", ".join(s.name for s in summary.locations))
    if summary.copied_from is not None:
        lines.append(f"  Settings copied from: {summary.copied_from.code}")
    if summary.branding:
        lines.append("  Branding: " + ", ".join(summary.branding))
    if summary.admin is not None:
        profile = summary.admin_profile.name if summary.admin_profile else "-"
        lines.append(
            f"  Customer admin: {summary.admin.username} <{summary.admin.email}>, profile {profile}"
        )
    if summary.invitation is not None:
        verb = "would go" if summary.dry_run else "queued"
        lines.append(
            f"  Invitation {verb} to {summary.invitation.email}, "
            f"valid until {summary.invitation.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    return "\n".join(lines)


@customer.command(
    epilog=examples(
        "portalkit customer provision --file acme.toml --operator jdoe",
        "portalkit customer provision --code ACME --name 'Acme B.V.' "
        "--admin-username acme-admin --admin-email it@acme.example --operator jdoe",
        "portalkit customer provision --file acme.json --dry-run --json --operator jdoe",
    )
)
@click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A JSON (.json) or TOML file with the request (addresses, locations, admin, …); "
    "e.g. --file acme.toml.",
)
@click.option("--code", help="The new customer's code; e.g. --code ACME.")
@click.option("--name", help="Its company name; e.g. --name 'Acme B.V.'.")
@click.option(
    "--erp-reference", metavar="REF", help="Its number in your ERP; e.g. --erp-reference D-1001."
)
@click.option(
    "--parent", metavar="CODE", help="The umbrella customer above it; e.g. --parent GROUP."
)
@click.option(
    "--copy-from",
    metavar="CODE",
    help="Copy the settings of this customer; e.g. --copy-from MODEL.",
)
@click.option(
    "--copy-part",
    "copy_parts",
    multiple=True,
    metavar="PART",
    help="What to copy (repeatable); e.g. --copy-part branding.",
)
@click.option(
    "--logo",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The portal logo, PNG or JPEG; e.g. --logo logo.png.",
)
@click.option(
    "--email-logo",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The logo in mail; e.g. --email-logo mail.png.",
)
@click.option(
    "--size-instructions",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The size instructions, a PDF; e.g. --size-instructions sizes.pdf.",
)
@click.option(
    "--admin-username",
    metavar="NAME",
    help="The customer admin's username, free; e.g. --admin-username acme-admin.",
)
@click.option(
    "--admin-email",
    metavar="ADDRESS",
    help="Its e-mail address; e.g. --admin-email it@acme.example.",
)
@click.option(
    "--admin-first-name",
    metavar="NAME",
    help="Default: the username; e.g. --admin-first-name Jane.",
)
@click.option(
    "--admin-last-name",
    metavar="NAME",
    help="Default: the customer's name; e.g. --admin-last-name Visser.",
)
@click.option(
    "--admin-language",
    type=click.Choice(["en", "nl", "de"]),
    help="The language of its mail; e.g. --admin-language nl.",
)
@click.option(
    "--admin-profile",
    metavar="NAME",
    help="Its profile, by name (default: Customer admin); e.g. --admin-profile Buyer.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check every step and write nothing; e.g. --dry-run --json."
)
@operator_options()
@json_option
@pass_runtime
def provision(runtime: Runtime, /, path: Path | None, dry_run: bool, **options: Any) -> None:
    """Create a customer environment in one run of steps — customer, addresses and locations,
    copied settings, branding, customer admin and its invitation — all or nothing.

    The steps are drawn live on a terminal; the summary goes to stdout. If a step fails,
    nothing of the run is kept and the error names the step.
    """
    data = _read_file(path) if path is not None else {}
    admin = data.pop("admin", None)
    if admin is not None and not isinstance(admin, Mapping):
        raise ValidationError.single("admin", "not_mapping", "must be an AdminRequest or a mapping")
    admin = dict(admin or {})
    for key in ("username", "email", "first_name", "last_name", "language", "profile"):
        value = options.pop(f"admin_{key}")
        if value is not None:
            admin[key] = value
    copy_parts = options.pop("copy_parts")
    for key, value in options.items():
        if value is not None:
            data[key] = value
    if copy_parts:
        data["copy_parts"] = list(copy_parts)
    for name in _FILES:
        data[name] = _contents(name, data.get(name))
    missing = [k for k in ("code", "name") if data.get(k) is None]
    if missing:
        raise click.UsageError(
            "give " + " and ".join(f"--{k}" for k in missing) + " (or put them in --file)"
        )
    if admin:
        data["admin"] = admin
    for key in ("addresses", "locations"):
        if key in data and isinstance(data[key], list):
            data[key] = tuple(data[key])
    request = ProvisionRequest(**data)
    portal = runtime.portal
    actor = runtime.operator()
    with _live(runtime) as progress:
        summary = portal.provisioning.provision(actor, request, progress=progress, dry_run=dry_run)
    runtime.out.result(_summary_json(summary), line=_summary_lines(summary))
