"""What a command prints: one line or a table for people, JSON for scripts, progress on stderr.

Every command prints through :class:`Output`, so ``--json`` means the same everywhere: the
result as JSON on stdout and nothing else there. Progress bars and notes go to stderr, and
only when stderr is a terminal, so a pipe or a log file sees the result alone.
"""

from __future__ import annotations

import decimal
import json
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import click
from cattrs.preconf.json import make_converter
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "Output"]


# The preconfigured JSON converter writes datetimes as ISO 8601 and enums as their values; ids
# and amounts of money are written as strings, so that no JSON reader rounds them.
def printable(text: str, *, lines: bool = False) -> str:
    """``text`` fit for a terminal: every control or format character (ESC, C1 such as CSI,
    bidi overrides, line separators) becomes a space, so stored data can neither retitle,
    clear nor redraw the operator's screen, nor forge a row of a table. ``lines`` keeps the
    line breaks of a result that is several lines long."""
    kept = "\n" if lines else ""
    return "".join(
        " " if unicodedata.category(c)[0] in "CZ" and c != " " and c not in kept else c
        for c in text
    )


def _json_text(data: Any) -> str:
    # Readable non-ASCII names, but every control and format character escaped: JSON
    # piped to a terminal must not carry a raw C1 control or bidi override either.
    raw = _JSON.dumps(data, ensure_ascii=False)
    return "".join(
        json.dumps(c)[1:-1] if ord(c) > 127 and unicodedata.category(c)[0] in "CZ" else c
        for c in raw
    )


_JSON = make_converter()
_JSON.register_unstructure_hook(uuid.UUID, str)
_JSON.register_unstructure_hook(decimal.Decimal, str)

Column = tuple[str, str]
"""One column of a table: the key in each row, and the heading people see."""


class Output:
    """Prints a command's result in the form the caller asked for (``--json`` or not)."""

    def __init__(self) -> None:
        #: Set by ``--json``: results go to stdout as JSON, and nothing else goes there.
        self.json = False

    def result(self, data: Any, *, line: str) -> None:
        """Print the result of a command: ``data`` as JSON with ``--json``, else ``line``.

        ``data`` is anything cattrs can unstructure (attrs classes, dicts, lists, datetimes,
        enums, ids). A command that runs in rounds calls this once a round, which makes its
        ``--json`` output one JSON document per line (JSON Lines).
        """
        if self.json:
            click.echo(_json_text(data))
        else:
            click.echo(printable(line, lines=True))

    def table(self, rows: Sequence[Any], columns: Sequence[Column], *, title: str) -> None:
        """Print records as a table, or as a JSON list of objects holding only ``columns``."""
        records: list[Mapping[str, Any]] = [_JSON.unstructure(row) for row in rows]
        picked = [{key: record.get(key) for key, _ in columns} for record in records]
        if self.json:
            click.echo(_json_text(picked))
            return
        if not picked:
            click.echo(f"{title}: none")
            return
        table = Table(title=title, title_justify="left")
        for _, heading in columns:
            table.add_column(heading, overflow="fold")
        for record in picked:
            # Text, not str: a subject such as "[urgent] …" is data, not rich markup.
            table.add_row(
                *(Text("" if value is None else printable(str(value))) for value in record.values())
            )
        # A table read through a pipe must not be cut to 80 columns (rich's fallback width).
        console = Console(highlight=False, soft_wrap=False)
        if not console.is_terminal:
            console.width = max(console.width, 200)
        console.print(table)

    def note(self, text: str) -> None:
        """Tell the person at the terminal something that is not the result (on stderr)."""
        click.echo(text, err=True)

    @contextmanager
    def progress(self, description: str) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr for a long run of unknown length; yields ``advance(n)``.

        Shown only when stderr is a terminal and the output is not JSON; otherwise
        ``advance`` does nothing, so that logs and pipes stay clean.
        """
        console = Console(stderr=True)
        bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=self.json or not console.is_terminal,
        )
        with bar:
            task = bar.add_task(description, total=None)
            yield lambda n: bar.advance(task, n)
