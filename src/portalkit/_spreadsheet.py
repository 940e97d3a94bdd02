"""Cells for CSV files a person opens in a spreadsheet."""

from __future__ import annotations

__all__ = ["safe_cell"]


def safe_cell(value: object) -> object:
    """The value as a CSV cell: empty for None, and text a spreadsheet would run as a formula
    (starting with = + - @, a tab or a carriage return; OWASP's CSV injection) defused with a
    leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value
