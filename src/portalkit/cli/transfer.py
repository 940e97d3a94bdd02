"""``portalkit import`` and ``portalkit export``: CSV files of customers, locations, contacts
and logins in, customers and logins with their rights out (docs/import-export.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import attrs
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from portalkit.cli._app import ExitCode, Runtime, examples, json_option, pass_runtime
from portalkit.errors import ValidationError
from portalkit.i18n import SUPPORTED_LANGUAGES
from portalkit.transfer.columns import KINDS
from portalkit.transfer.exports import EXPORT_KINDS
from portalkit.transfer.report import ImportMode, ImportReport

__all__ = ["export", "import_"]

_vendor = click.option(
    "--vendor",
    metavar="CODE",
    help="The vendor (default: PORTALKIT_DEFAULT_VENDOR); e.g. --vendor acme.",
)


class _Refused(click.ClickException):
    """A refusal already written in the operator's language."""

    exit_code = ExitCode.REFUSED


class _RowsPerSecond(ProgressColumn):
    """How many rows a second the import reads."""

    def render(self, task: Task) -> Text:
        """The speed as ``1234 rows/s``."""
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s")


@contextmanager
def _progress(runtime: Runtime, description: str) -> Iterator[Callable[[int], None]]:
    """A bar with rows read and rows a second on stderr; yields ``seen(rows_so_far)``.

    Only when stderr is a terminal and the output is not JSON, as every progress bar here.
    """
    console = Console(stderr=True)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        _RowsPerSecond(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=runtime.out.json or not console.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=None)
        yield lambda rows: bar.update(task, completed=rows)


def _actor(runtime: Runtime, vendor: str | None) -> Any:
    found = runtime.vendors(vendor or runtime.portal.settings.default_vendor)[0]
    return runtime.acting_for(found)


@click.group(
    "import",
    epilog=examples(
        "portalkit import customers klanten.csv --dry-run --language nl",
        "portalkit import logins logins.csv --mode valid-rows --invite",
        "portalkit import contacts - --json < contacts.csv",
    ),
)
def import_() -> None:
    """Load customers, locations, contacts or logins from a CSV file (UTF-8, , or ;).

    Every row obeys the same rules as the API; a row that is stored already as the file
    says is left alone, so running the same file twice changes nothing. Exit status 0 when
    every row was good, 4 when some were not (listed with line, column and reason).
    """


def _import_command(kind: str) -> click.Command:
    spec = KINDS[kind]

    @import_.command(
        kind,
        help=f"Import {kind} from FILE (a path, or - for stdin). "
        f"Columns: {', '.join(spec.required)} (required), {', '.join(spec.optional)}.",
        epilog=examples(
            f"portalkit import {kind} {kind}.csv --dry-run",
            f"portalkit import {kind} {kind}.csv --mode all-or-nothing --json",
        ),
    )
    @click.argument("file", type=click.File("rb"))
    @click.option(
        "--dry-run",
        is_flag=True,
        help="Check every row against the stored data, write nothing; e.g. --dry-run.",
    )
    @click.option(
        "--mode",
        type=click.Choice([m.value for m in ImportMode]),
        default=ImportMode.VALID_ROWS.value,
        show_default=True,
        help="all-or-nothing: one bad row and nothing is written; "
        "valid-rows: write the good rows (in batches), report the rest; "
        "e.g. --mode all-or-nothing.",
    )
    @click.option(
        "--invite/--no-invite",
        default=False,
        help="Queue an invitation for each login written (logins only; default: no); "
        "e.g. --invite.",
    )
    @click.option(
        "--language",
        type=click.Choice(SUPPORTED_LANGUAGES),
        default=None,
        help="The language of the reasons (default: PORTALKIT_DEFAULT_LANGUAGE); e.g. nl.",
    )
    @click.option(
        "--batch-size",
        type=click.IntRange(1, 10_000),
        default=500,
        show_default=True,
        help="Rows a transaction in the valid-rows mode; e.g. --batch-size 1000.",
    )
    @_vendor
    @json_option
    @pass_runtime
    @click.pass_context
    def command(
        ctx: click.Context,
        runtime: Runtime,
        file: IO[bytes],
        dry_run: bool,
        mode: str,
        invite: bool,
        language: str | None,
        batch_size: int,
        vendor: str | None,
    ) -> None:
        portal = runtime.portal
        lang = language or portal.settings.default_language
        actor = _actor(runtime, vendor)
        try:
            with _progress(runtime, f"import {kind}") as seen:
                report = portal.imports.load(
                    actor,
                    kind,
                    source=file,
                    mode=mode,
                    dry_run=dry_run,
                    invite=invite,
                    language=lang,
                    batch_size=batch_size,
                    progress=seen,
                )
        except ValidationError as exc:
            raise _Refused(exc.text(lang)) from None
        _show(runtime, report)
        if report.problems:
            ctx.exit(ExitCode.REFUSED)

    return command


for _kind in KINDS:
    _import_command(_kind)


def _show(runtime: Runtime, report: ImportReport) -> None:
    data = attrs.asdict(report, value_serializer=lambda _i, _a, x: getattr(x, "value", x))
    verb = "would write" if report.dry_run else "written"
    line = (
        f"{report.kind}: {report.read} read, {verb} {report.created + report.updated if report.dry_run else report.written}"
        f" ({report.created} new, {report.updated} changed), {report.unchanged} unchanged, "
        f"{len(report.problems)} problem(s)" + (", nothing stored" if not report.committed else "")
    )
    if runtime.out.json or not report.problems:
        runtime.out.result(data, line=line)
        return
    table = Table(title="Problems", title_justify="left")
    for heading in ("Line", "Column", "Rule", "Reason"):
        table.add_column(heading, overflow="fold")
    for problem in report.problems:
        table.add_row(str(problem.line), Text(problem.column), problem.code, Text(problem.reason))
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)
    console.print(table)
    click.echo(line)


@click.group(
    epilog=examples(
        "portalkit export customers --output customers.csv",
        "portalkit export logins > logins.csv",
    )
)
def export() -> None:
    """Write customers, or logins with their rights, as CSV (formulas defused).

    The columns are those of the import plus read-only ones (status, rights), so an
    exported file imports again without changing anything.
    """


def _export_command(kind: str) -> click.Command:
    @export.command(
        kind,
        help=f"Write the vendor's {kind} as CSV to stdout or --output FILE.",
        epilog=examples(f"portalkit export {kind} --output {kind}.csv"),
    )
    @_vendor
    @click.option(
        "--output",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        help="Write to this file instead of stdout; e.g. --output customers.csv.",
    )
    @pass_runtime
    def command(runtime: Runtime, vendor: str | None, output: str | None) -> None:
        lines = runtime.portal.exports.lines(_actor(runtime, vendor), kind)
        target = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        rows = 0
        try:
            with _progress(runtime, f"export {kind}") as seen:
                for rows, text in enumerate(lines):
                    target.write(text)
                    if rows % 500 == 0:
                        seen(rows)
        finally:
            if output:
                target.close()
        if output:
            runtime.out.note(f"{kind}: {rows} row(s) written to {output}")

    return command


for _kind in EXPORT_KINDS:
    _export_command(_kind)
