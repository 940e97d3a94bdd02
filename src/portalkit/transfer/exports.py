"""The CSV export service (``portal.exports``): a vendor's customers, and its logins with
their rights, as CSV rows streamed page by page.

Example::

    with open("logins.csv", "w", newline="", encoding="utf-8") as f:
        f.writelines(portal.exports.lines(staff, "logins"))

Every cell passes :func:`portalkit._spreadsheet.safe_cell`, as ``ctx.export`` does: text a
spreadsheet would run as a formula starts with an apostrophe. The columns are those of the
import (docs/import-export.md), plus read-only ones an import reads past, so an exported
file imports again as a no-op.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from uuid import UUID

from portalkit._guard import require_admin
from portalkit._spreadsheet import safe_cell
from portalkit.actors import Actor
from portalkit.errors import Problem, ValidationError
from portalkit.staffrights import DATA_EXPORT
from portalkit.transfer.columns import KINDS

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.customers.model import Customer
    from portalkit.memberships.model import Membership
    from portalkit.storage.base import UnitOfWork

__all__ = ["EXPORT_KINDS", "ExportService"]

EXPORT_KINDS = ("customers", "logins")
"""What :class:`ExportService` exports."""

_PAGE = 500


class ExportService:
    """Stream a vendor's customers and logins as CSV. Reached as ``portal.exports``."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def columns(self, kind: str) -> tuple[str, ...]:
        """The header of an export of ``kind``."""
        return KINDS[_checked(kind)].exported

    def rows(self, actor: Actor, kind: str) -> Iterator[list[object]]:
        """The header, then one row per record, read a page at a time (constant memory).

        Staff only; the export is recorded in the audit log when it is asked for. Raises
        ValidationError for a kind other than ``customers`` or ``logins``.
        """
        vendor_id = require_admin(actor, DATA_EXPORT)
        name = _checked(kind)
        with self._rt.transaction() as uow:
            self._rt.record(uow, vendor_id=vendor_id, action="data_exported", real=actor, kind=name)
        page: Callable[[UnitOfWork, UUID, int], list[list[object]]] = (
            _customer_page if name == "customers" else _login_page
        )
        return self._stream(vendor_id, self.columns(name), page)

    def lines(self, actor: Actor, kind: str) -> Iterator[str]:
        """The export as CSV text lines (``\\r\\n`` ends, as spreadsheets write them)."""
        rows = self.rows(actor, kind)

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for row in rows:
                writer.writerow([safe_cell(cell) for cell in row])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()

        return lines()

    def _stream(
        self,
        vendor_id: UUID,
        header: tuple[str, ...],
        page: Callable[[UnitOfWork, UUID, int], list[list[object]]],
    ) -> Iterator[list[object]]:
        yield list(header)
        offset = 0
        while True:
            # A short transaction a page: none stays open while the caller writes.
            with self._rt.transaction(read_only=True) as uow:
                rows = page(uow, vendor_id, offset)
            yield from rows
            if len(rows) < _PAGE:
                return
            offset += _PAGE


def _checked(kind: object) -> str:
    if not isinstance(kind, str) or kind not in EXPORT_KINDS:
        raise ValidationError(
            [
                Problem(
                    "kind",
                    "invalid_choice",
                    "must be one of {choices}",
                    {"choices": ", ".join(EXPORT_KINDS)},
                )
            ]
        )
    return kind


def _code_of(
    uow: UnitOfWork, vendor_id: UUID, customer_id: UUID | None, seen: dict[UUID, str]
) -> str:
    if customer_id is None:
        return ""
    if customer_id not in seen:
        found = uow.customers.get(vendor_id, customer_id)
        seen[customer_id] = found.code if found is not None else ""
    return seen[customer_id]


def _customer_page(uow: UnitOfWork, vendor_id: UUID, offset: int) -> list[list[object]]:
    customers: list[Customer] = uow.customers.list(vendor_id, limit=_PAGE, offset=offset)
    codes: dict[UUID, str] = {c.id: c.code for c in customers}
    rows: list[list[object]] = []
    for c in customers:
        address = c.default_delivery_address
        rows.append(
            [
                c.code,
                c.name,
                c.erp_reference,
                _code_of(uow, vendor_id, c.parent_id, codes),
                address.street if address else "",
                address.postal_code if address else "",
                address.city if address else "",
                address.country if address else "",
                "true" if c.active else "false",
            ]
        )
    return rows


def _login_page(uow: UnitOfWork, vendor_id: UUID, offset: int) -> list[list[object]]:
    memberships: list[Membership] = uow.memberships.list(vendor_id, limit=_PAGE, offset=offset)
    codes: dict[UUID, str] = {}
    profiles: dict[UUID, tuple[str, str]] = {}
    rows: list[list[object]] = []
    for m in memberships:
        account = uow.accounts.get(vendor_id, m.account_id)
        contact = uow.contacts.get(vendor_id, m.contact_id)
        profile_name, capabilities = "", ""
        if m.profile_id is not None:
            if m.profile_id not in profiles:
                profile = uow.profiles.get(vendor_id, m.profile_id)
                profiles[m.profile_id] = (
                    (profile.name, " ".join(sorted(profile.capabilities)))
                    if profile is not None
                    else ("", "")
                )
            profile_name, capabilities = profiles[m.profile_id]
        sites = []
        for grant in m.location_grants:
            location = uow.locations.get(vendor_id, grant.location_id)
            if location is not None:
                sites.append(f"{location.code or location.name}:{grant.access.value}")
        rows.append(
            [
                _code_of(uow, vendor_id, m.customer_id, codes),
                account.email if account else "",
                contact.first_name if contact else "",
                contact.last_name if contact else "",
                account.username if account else "",
                account.language if account else "",
                profile_name,
                " ".join(sorted(sites)),
                contact.job_title if contact else "",
                contact.department if contact else "",
                contact.phone if contact else "",
                m.status.value,
                m.kind.value,
                capabilities,
                " ".join(sorted(_code_of(uow, vendor_id, c, codes) for c in m.customer_grants)),
                account.last_login_at.isoformat() if account and account.last_login_at else "",
            ]
        )
    return rows
