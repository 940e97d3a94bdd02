"""What an import did: rows read, written, unchanged and skipped, and every bad row."""

from __future__ import annotations

import enum

import attrs

__all__ = ["ImportMode", "ImportReport", "RowProblem"]


class ImportMode(enum.Enum):
    """How an import treats bad rows.

    ``ALL_OR_NOTHING``: one transaction; one bad row and nothing is written.
    ``VALID_ROWS``: the good rows are written in batches, the bad ones reported.
    """

    ALL_OR_NOTHING = "all-or-nothing"
    VALID_ROWS = "valid-rows"


@attrs.frozen
class RowProblem:
    """One thing wrong with a file: its line (1 is the header), the column, the rule broken
    (a stable code such as ``required`` or ``duplicate``) and the reason in the operator's
    language. ``column`` is empty for a problem of the whole line or file."""

    line: int
    column: str
    code: str
    reason: str


@attrs.define
class ImportReport:
    """The outcome of one import.

    ``read`` counts the data rows read; each one is ``written`` (created or updated),
    ``unchanged`` (the stored record already says the same: a re-run) or ``skipped`` (bad, or
    not written because the all-or-nothing import or the dry run wrote nothing). ``problems``
    lists every bad row; ``committed`` says whether anything was stored.
    """

    kind: str
    mode: ImportMode
    dry_run: bool
    read: int = 0
    written: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    invited: int = 0
    committed: bool = False
    problems: list[RowProblem] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """True when no row had a problem."""
        return not self.problems
