"""CSV import and export of a vendor's customers, locations, contacts and logins.

An operator loads a spreadsheet of customers (or their sites, contact people or logins) with
:meth:`portal.imports.load() <portalkit.transfer.imports.ImportService.load>`: every row
passes through the same services, and so the same rules, as an API call; the
:class:`~portalkit.transfer.report.ImportReport` names every bad row by line, column and
reason. :meth:`portal.exports.lines() <portalkit.transfer.exports.ExportService.lines>` streams
customers and logins with their rights back out, formula-looking cells defused.

Example::

    with open("customers.csv", "rb") as f:
        report = portal.imports.load(staff, "customers", f, dry_run=True, language="nl")
    for problem in report.problems:
        print(problem.line, problem.column, problem.reason)

docs/import-export.md lists the columns of each kind.
"""

from __future__ import annotations

from portalkit.transfer.columns import KINDS, Kind
from portalkit.transfer.report import ImportMode, ImportReport, RowProblem

__all__ = ["KINDS", "ImportMode", "ImportReport", "Kind", "RowProblem"]
