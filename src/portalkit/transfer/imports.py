"""The CSV import service (``portal.imports``): customers, locations, contacts and logins
from a spreadsheet, every row through the same services — so the same rules — as an API call.

Example::

    with open("logins.csv", "rb") as f:
        report = portal.imports.load(staff, "logins", f, mode="valid-rows", invite=True)
    report.written, report.unchanged, [(p.line, p.column, p.reason) for p in report.problems]

Two modes (:class:`~portalkit.transfer.report.ImportMode`): ``all-or-nothing`` runs the whole
file in one transaction and writes nothing when any row is bad; ``valid-rows`` writes the
good rows in batches of ``batch_size`` and reports the rest, so memory stays flat however
long the file is. ``dry_run`` checks every row against the stored data in one transaction and
rolls it back. A row whose record is stored already as the file says is ``unchanged``: a
re-run of the same file changes nothing. docs/import-export.md lists the columns.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit.accounts.model import Account, check_language
from portalkit.actors import Actor
from portalkit.customers.model import Address, Contact, Customer, Location
from portalkit.errors import (
    ConcurrentModification,
    Conflict,
    NotFound,
    PermissionDenied,
    PortalError,
    Problem,
    RateLimited,
    ValidationError,
)
from portalkit.logins import _free_username
from portalkit.memberships.model import Access, Membership
from portalkit.staffrights import DATA_IMPORT, IMPERSONATE
from portalkit.transfer.columns import KINDS, Kind
from portalkit.transfer.report import ImportMode, ImportReport, RowProblem

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.accounts.service import AccountService
    from portalkit.credentials import CredentialService
    from portalkit.customers.model import Location
    from portalkit.customers.service import ContactService, CustomerService, LocationService
    from portalkit.memberships.model import Access
    from portalkit.memberships.service import MembershipService
    from portalkit.storage.base import UnitOfWork

__all__ = ["BATCH_MAX", "ImportService"]

BATCH_MAX = 10_000
"""The largest ``batch_size`` an import takes."""

_Outcome = Literal["created", "updated", "unchanged"]
T = TypeVar("T")

# Errors a row can cause that are the row's fault; anything else (the database is down, a
# bug) ends the import.
_ROW_ERRORS = (ValidationError, NotFound, Conflict, PermissionDenied, RateLimited)


class _Bad(Exception):
    """A row's problems, raised by a row handler."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__()
        self.problems = problems


class _Rollback(Exception):
    """Leave the transaction without committing it."""


@attrs.frozen
class _Row:
    line: int
    cells: dict[str, str]

    def cell(self, column: str) -> str | None:
        """The cell as written, or None when the file has no such column."""
        return self.cells.get(column)

    def given(self, column: str) -> str | None:
        """The cell stripped, or None when the column is missing or the cell empty."""
        value = self.cells.get(column)
        return value.strip() or None if value is not None else None


@attrs.define
class _Known:
    """What a chunk's rows look up in stored records, read with a query a table before the
    chunk's first row rather than a query a row; the records the chunk makes are added as
    it makes them, so that these answer as the unit of work's look-ups would."""

    #: Customers by code key.
    customers: dict[str, Customer] = attrs.field(factory=dict)
    #: Accounts by e-mail key.
    accounts: dict[str, Account] = attrs.field(factory=dict)
    #: The keys of the usernames the rows ask for that are taken, and of new accounts'.
    usernames: set[str] = attrs.field(factory=set)
    #: Each customer's oldest contact with an address, by customer id and address.
    contacts: dict[tuple[UUID, str], Contact] = attrs.field(factory=dict)
    #: Each customer's oldest location with a code, by customer id and code.
    locations: dict[tuple[UUID, str], Location] = attrs.field(factory=dict)
    #: Memberships of the stored accounts the rows name, by account and customer id.
    memberships: dict[tuple[UUID, UUID], Membership] = attrs.field(factory=dict)
    #: Permission profile ids by the name a row gives.
    profiles: dict[str, UUID] = attrs.field(factory=dict)
    #: Each row's e-mail address as the services store it ("" when it is not one), by line.
    addresses: dict[int, str] = attrs.field(factory=dict)


@attrs.define
class _Found:
    """What a row's look-ups found before its chunk writes anything."""

    owner: Customer | None = None
    location: Location | None = None
    contact: Contact | None = None
    membership: Membership | None = None
    grants: dict[UUID, str] | None = None


@attrs.define
class _Run:
    actor: Actor
    vendor_id: UUID
    kind: Kind
    language: str
    invite: bool
    report: ImportReport
    #: What the current chunk's rows look up (read afresh each chunk).
    known: _Known = attrs.field(factory=_Known)

    def at(self, line: int, problem: Problem) -> RowProblem:
        """A problem of this run's file on ``line``, in the operator's language."""
        return RowProblem(line, problem.field, problem.code, problem.text(self.language))

    def refusal(self, line: int, column: str, error: PortalError) -> list[RowProblem]:
        """What a service's refusal of a row says, per column."""
        if isinstance(error, ValidationError):
            return [
                RowProblem(line, _column(p.field), p.code, p.text(self.language))
                for p in error.problems
            ]
        code = {
            NotFound: "not_found",
            ConcurrentModification: "changed",
            Conflict: "conflict",
            PermissionDenied: "denied",
            RateLimited: "rate_limited",
        }.get(type(error), "refused")
        return [RowProblem(line, column, code, error.text(self.language))]


def _column(field: str) -> str:
    """The CSV column a service's field name stands for."""
    field = re.sub(r"^(addresses\[\d+\]|address)\.", "", field)
    if field.startswith("location_grants"):
        return "locations"
    return field


class _Reader:
    """The rows of a CSV file object, decoded strictly as UTF-8 (a BOM is dropped), with
    ``,`` or ``;`` between cells (as the header line shows)."""

    def __init__(self, source: object, run: _Run) -> None:
        self._run = run
        self._wrapper: io.TextIOWrapper | None = None
        read = getattr(source, "read", None)
        probe = read(0) if callable(read) else None
        text: IO[str]
        if isinstance(probe, bytes):
            self._wrapper = io.TextIOWrapper(
                source,  # type: ignore[arg-type]
                encoding="utf-8-sig",
                errors="strict",
                newline="",
            )
            text = self._wrapper
        elif isinstance(probe, str):
            text = source  # type: ignore[assignment]
        else:
            raise ValidationError.single(
                "file", "not_file", "must be a file object opened for reading"
            )
        self._text = text
        self.header = self._header()

    def _header(self) -> tuple[str, ...]:
        kind = self._run.kind
        try:
            first = self._text.readline()
        except UnicodeDecodeError:
            self.close()
            raise ValidationError.single(
                "file",
                "not_utf8",
                'the file is not UTF-8 text; save it as "CSV UTF-8" and import it again',
            ) from None
        first = first.removeprefix("\ufeff")  # a text stream keeps the BOM
        if not first.strip():
            self.close()
            raise ValidationError.single("file", "empty", "the file has no header line")
        self._delimiter = ";" if first.count(";") > first.count(",") else ","
        header = tuple(c.strip() for c in next(csv.reader([first], delimiter=self._delimiter)))
        problems: list[Problem] = []
        for name in sorted({c for c in header if c not in kind.columns + kind.ignored}):
            problems.append(
                Problem(
                    name or "(empty)",
                    "unknown_column",
                    "is not a column of a {kind} file; the columns are: {columns}",
                    {"kind": kind.name, "columns": ", ".join(kind.columns)},
                )
            )
        for name in sorted({c for c in header if header.count(c) > 1}):
            problems.append(Problem(name, "duplicate_column", "appears twice in the header"))
        for name in kind.required:
            if name not in header:
                problems.append(
                    Problem(
                        name,
                        "missing_column",
                        "is a required column of a {kind} file",
                        {"kind": kind.name},
                    )
                )
        if problems:
            self.close()
            raise ValidationError(problems)
        return header

    def rows(self) -> Iterator[_Row | RowProblem]:
        """Each data row (blank lines left out), or a problem that ends the file."""
        reader = csv.reader(self._text, delimiter=self._delimiter)
        done = 0  # physical lines after the header read so far
        try:
            for cells in reader:
                line, done = done + 2, reader.line_num
                if not cells:
                    continue
                if len(cells) != len(self.header):
                    yield self._run.at(
                        line,
                        Problem(
                            "",
                            "cell_count",
                            "has {count} cells where the header has {expected}",
                            {"count": len(cells), "expected": len(self.header)},
                        ),
                    )
                    continue
                yield _Row(line, dict(zip(self.header, cells, strict=True)))
        except UnicodeDecodeError:
            yield self._run.at(
                done + 2,
                Problem(
                    "",
                    "not_utf8",
                    "is not UTF-8 text from here on; nothing after this line was read",
                ),
            )
        except csv.Error as exc:
            yield self._run.at(
                done + 2,
                Problem(
                    "",
                    "bad_csv",
                    "is not valid CSV ({detail}); nothing after this line was read",
                    {"detail": str(exc)},
                ),
            )

    def close(self) -> None:
        """Let go of the caller's file without closing it."""
        if self._wrapper is not None:
            self._wrapper.detach()
            self._wrapper = None


class ImportService:
    """Load customers, locations, contacts and logins from CSV files. Reached as
    ``portal.imports``."""

    def __init__(
        self,
        rt: Runtime,
        *,
        customers: CustomerService,
        locations: LocationService,
        contacts: ContactService,
        accounts: AccountService,
        memberships: MembershipService,
        credentials: CredentialService,
    ) -> None:
        self._rt = rt
        self._customers = customers
        self._locations = locations
        self._contacts = contacts
        self._accounts = accounts
        self._memberships = memberships
        self._credentials = credentials

    def load(
        self,
        actor: Actor,
        kind: str,
        source: IO[bytes] | IO[str],
        *,
        mode: ImportMode | str = ImportMode.VALID_ROWS,
        dry_run: bool = False,
        invite: bool = False,
        language: str = "en",
        batch_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Import one CSV file of ``kind`` (``customers``, ``locations``, ``contacts`` or
        ``logins``) from ``source``, a file object: binary (decoded as UTF-8, a BOM allowed)
        or text.

        Customers are matched by code, locations by customer and code, contacts and logins
        by customer and e-mail address: a matching record is updated where the file differs
        and left alone where it does not. ``invite`` queues an invitation (in the outbox) for
        each login the import creates. ``progress`` is called with the number of rows read
        so far, once a batch. Problems are written in ``language`` (``en``, ``nl``, ``de``).

        Staff only. Raises ValidationError for bad arguments or a bad header (a missing or
        unknown column, a file that is not UTF-8): nothing is read then. Bad rows are not
        raised but listed in the returned report.
        """
        vendor_id = require_admin(actor, DATA_IMPORT)
        problems: list[Problem] = []
        spec = KINDS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            problems.append(
                Problem(
                    "kind",
                    "invalid_choice",
                    "must be one of {choices}",
                    {"choices": ", ".join(KINDS)},
                )
            )
        chosen = v.choice(problems, "mode", mode, ImportMode)
        wanted = v.boolean(problems, "dry_run", dry_run)
        inviting = v.boolean(problems, "invite", invite)
        lang = check_language(problems, language)
        if (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or not 1 <= batch_size <= BATCH_MAX
        ):
            problems.append(
                Problem(
                    "batch_size",
                    "out_of_range",
                    "must be a whole number from 1 to {limit}",
                    {"limit": BATCH_MAX},
                )
            )
        v.raise_if(problems)
        assert spec is not None
        report = ImportReport(kind=spec.name, mode=chosen, dry_run=wanted)
        run = _Run(actor, vendor_id, spec, lang, inviting, report)
        reader = _Reader(source, run)
        try:
            rows = self._checked(run, reader.rows())
            if wanted or chosen is ImportMode.ALL_OR_NOTHING:
                self._at_once(run, rows, batch_size, progress, commit=not wanted)
            else:
                self._in_batches(run, rows, batch_size, progress)
        finally:
            reader.close()
        report.skipped = report.read - report.unchanged - report.written
        report.problems.sort(key=lambda p: p.line)
        return report

    # -- reading ------------------------------------------------------------------------------
    def _checked(self, run: _Run, rows: Iterator[_Row | RowProblem]) -> Iterator[_Row]:
        """The rows that have the right shape and a key not seen before in this file."""
        # One hash per row rather than the keys themselves: the one thing that grows with
        # the file (some 60 bytes a row), so that a duplicate is caught anywhere in it.
        seen: set[int] = set()
        kind = run.kind
        for row in rows:
            if isinstance(row, RowProblem):
                run.report.problems.append(row)
                continue
            run.report.read += 1
            key = hash(tuple(_key_part(column, row.cell(column) or "") for column in kind.key))
            if key in seen:
                run.report.problems.append(
                    run.at(
                        row.line,
                        Problem(
                            kind.key[-1],
                            "duplicate",
                            "appears on an earlier line of this file too: each row of a {kind} "
                            "file must have its own {key}",
                            {"kind": kind.name, "key": " + ".join(kind.key)},
                        ),
                    )
                )
                continue
            seen.add(key)
            yield row

    # -- writing ------------------------------------------------------------------------------
    def _at_once(
        self,
        run: _Run,
        rows: Iterator[_Row],
        batch_size: int,
        progress: Callable[[int], None] | None,
        *,
        commit: bool,
    ) -> None:
        """Every row in one transaction, kept only if ``commit`` and no row was bad."""
        tally: dict[str, int] = {"created": 0, "updated": 0, "unchanged": 0, "invited": 0}
        try:
            with self._rt.transaction() as uow:
                for chunk in _batches(rows, batch_size):
                    failed: dict[int, list[RowProblem]] = {}
                    stopped = self._chunk(run, uow, chunk, tally, failed)
                    for found in failed.values():
                        run.report.problems.extend(found)
                    if stopped is not None:
                        run.report.problems.append(
                            run.at(
                                stopped,
                                Problem(
                                    "",
                                    "stopped",
                                    "the rows after this one were not checked: fix it and "
                                    "check the file again",
                                ),
                            )
                        )
                        break
                    if progress is not None:
                        progress(run.report.read)
                if not commit or run.report.problems:
                    raise _Rollback
        except _Rollback:
            pass
        else:
            run.report.committed = True
        if progress is not None:
            progress(run.report.read)
        self._add(run, tally, written=run.report.committed)

    def _in_batches(
        self,
        run: _Run,
        rows: Iterator[_Row],
        batch_size: int,
        progress: Callable[[int], None] | None,
    ) -> None:
        """The good rows, ``batch_size`` to a transaction; a bad row is left out of its
        batch, which then runs again without it, so nothing of a bad row stays."""
        for chunk in _batches(rows, batch_size):
            pending = chunk
            while pending:
                tally: dict[str, int] = {"created": 0, "updated": 0, "unchanged": 0, "invited": 0}
                failed: dict[int, list[RowProblem]] = {}
                try:
                    with self._rt.transaction() as uow:
                        # A conflict found by storage stops the batch at its row; the rows
                        # after it run again, in a clean batch.
                        self._chunk(run, uow, pending, tally, failed)
                        if failed:
                            raise _Rollback
                except _Rollback:
                    for found in failed.values():
                        run.report.problems.extend(found)
                    pending = [row for row in pending if row.line not in failed]
                    continue
                run.report.committed = True
                self._add(run, tally, written=True)
                break
            if progress is not None:
                progress(run.report.read)

    def _chunk(
        self,
        run: _Run,
        uow: UnitOfWork,
        rows: list[_Row],
        tally: dict[str, int],
        failed: dict[int, list[RowProblem]],
    ) -> int | None:
        """Apply ``rows``: first every look-up of stored records they need, then the writes.

        In that order the writes of the whole chunk wait in the unit of work and go to the
        database together, one insert a table, instead of each look-up flushing the rows
        before it. Returns the line of a row whose conflict spoiled the transaction, if any.
        """
        handler = getattr(self, f"_row_{run.kind.name}")
        self._read_ahead(run, uow, rows)
        looked: dict[int, _Found] = {}
        for row in rows:
            try:
                looked[row.line] = self._guarded(run, row, self._look, run, uow, row)
            except _Bad as bad:
                failed[row.line] = bad.problems
        for row in rows:
            if row.line in failed:
                continue
            try:
                self._count(
                    tally, self._guarded(run, row, handler, run, uow, row, looked[row.line])
                )
            except _Bad as bad:
                failed[row.line] = bad.problems
                if self._spoiled():
                    return row.line
        return None

    def _read_ahead(self, run: _Run, uow: UnitOfWork, rows: list[_Row]) -> None:
        """Read the stored records ``rows`` look up into ``run.known``, a query a table (a
        few for a large chunk): a query a row spent more time than all the row's writes."""
        known = run.known = _Known()
        kind, vendor_id = run.kind.name, run.vendor_id
        columns = ("code", "parent") if kind == "customers" else ("customer",)
        codes = {code for row in rows for c in columns if (code := row.given(c)) is not None}
        for given, customer in uow.customers.get_many_by(vendor_id, "code", codes).items():
            known.customers[v.code_key(cast(str, given))] = customer
        if kind == "customers":
            return
        owners = {customer.id for customer in known.customers.values()}
        if kind == "locations" or (kind == "logins" and "locations" in rows[0].cells):
            for location in uow.locations.list_in(vendor_id, "customer_id", owners):
                known.locations.setdefault((location.customer_id, location.code), location)
        if kind == "locations":
            return
        known.addresses = {row.line: _email(row) for row in rows}
        for contact in uow.contacts.list_in(vendor_id, "customer_id", owners):
            if contact.email:
                known.contacts.setdefault((contact.customer_id, contact.email), contact)
        if kind == "contacts":
            return
        addresses = set(filter(None, known.addresses.values()))
        for address, account in uow.accounts.get_many_by(vendor_id, "email", addresses).items():
            known.accounts[v.email_key(cast(str, address))] = account
        stored = [account.id for account in known.accounts.values()]
        for membership in uow.memberships.list_in(vendor_id, "account_id", stored):
            pair = (membership.account_id, membership.customer_id)
            known.memberships.setdefault(pair, membership)
        names = {name for row in rows if (name := row.given("username")) is not None}
        known.usernames = {
            v.code_key(cast(str, name))
            for name in uow.accounts.get_many_by(vendor_id, "username", names)
        }
        profiles = {name for row in rows if (name := row.given("profile")) is not None}
        for given, profile in uow.profiles.get_many_by(vendor_id, "name", profiles).items():
            known.profiles[cast(str, given)] = profile.id

    def _spoiled(self) -> bool:
        # A conflict found by storage spoils the transaction it happened in.
        current = self._rt.current.get()
        return current is not None and current.failed is not None

    @staticmethod
    def _count(tally: dict[str, int], outcome: tuple[_Outcome, bool]) -> None:
        tally[outcome[0]] += 1
        tally["invited"] += outcome[1]

    @staticmethod
    def _add(run: _Run, tally: dict[str, int], *, written: bool) -> None:
        report = run.report
        report.created += tally["created"]
        report.updated += tally["updated"]
        report.unchanged += tally["unchanged"]
        if written:
            report.written += tally["created"] + tally["updated"]
            report.invited += tally["invited"]

    @staticmethod
    def _guarded(run: _Run, row: _Row, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)``, a refusal of the row turned into its problems."""
        try:
            return call(*args)
        except _ROW_ERRORS as exc:
            column = exc.field if isinstance(exc, Conflict) else _not_found_column(exc)
            raise _Bad(run.refusal(row.line, _column(column), exc)) from None

    # -- one row of each kind -----------------------------------------------------------------
    def _owner(self, run: _Run, uow: UnitOfWork, row: _Row) -> Customer:
        code = row.given("customer") or ""
        found = run.known.customers.get(v.code_key(code)) if code else None
        if found is None:
            # Another vendor's customer is not found either: the file cannot reach it.
            error = NotFound("customer", code) if code else None
            raise _Bad(
                run.refusal(row.line, "customer", error)
                if error is not None
                else [run.at(row.line, Problem("customer", "required", "is required"))]
            )
        return found

    def _look(self, run: _Run, uow: UnitOfWork, row: _Row) -> _Found:
        """What a row needs to know of stored records that its chunk's writes cannot change,
        from what :meth:`_read_ahead` read (the look-ups by unique key, which must see the
        records of earlier rows of the chunk, are left to the writes)."""
        kind = run.kind.name
        if kind == "customers":
            return _Found()
        owner = self._owner(run, uow, row)
        if kind == "locations":
            code = row.given("code")
            if code is None:
                raise _Bad([run.at(row.line, Problem("code", "required", "is required"))])
            return _Found(owner, location=run.known.locations.get((owner.id, code)))
        known = run.known
        address = known.addresses[row.line]
        account = known.accounts.get(v.email_key(address)) if address and kind == "logins" else None
        membership = known.memberships.get((account.id, owner.id)) if account is not None else None
        # A login that exists needs no contact: its row changes only its rights.
        contact = (
            known.contacts.get((owner.id, address)) if address and membership is None else None
        )
        if kind == "contacts":
            return _Found(owner, contact=contact)
        return _Found(
            owner,
            contact=contact,
            membership=membership,
            grants=self._grants(run, uow, row, owner),
        )

    def _row_customers(
        self, run: _Run, uow: UnitOfWork, row: _Row, _found: _Found
    ) -> tuple[_Outcome, bool]:
        code = row.cell("code") or ""
        known = run.known.customers
        parent_id: UUID | None = None
        parent_code = row.given("parent")
        if parent_code is not None:
            parent = known.get(v.code_key(parent_code))
            if parent is None:
                raise _Bad(run.refusal(row.line, "parent", NotFound("customer", parent_code)))
            parent_id = parent.id
        address = _address(row)
        existing = known.get(v.code_key(code.strip())) if code else None
        if existing is None:
            made = self._customers.create(
                run.actor,
                code=code,
                name=row.cell("name") or "",
                erp_reference=row.cell("erp_reference"),
                addresses=[address] if address is not None else (),
                parent=parent_id,
            )
            # A later row of the chunk may name it as its parent.
            known[v.code_key(made.code)] = made
            return "created", False
        changes: dict[str, Any] = {}
        _differs(changes, row, "name", existing.name)
        _differs(changes, row, "erp_reference", existing.erp_reference)
        if row.cell("parent") is not None and parent_id != existing.parent_id:
            changes["parent"] = parent_id
        if address is not None and not _same_address(address, existing.default_delivery_address):
            others = [a for a in existing.addresses if not a.default_delivery]
            changes["addresses"] = [address, *others]
        if not changes:
            return "unchanged", False
        self._customers.update(run.actor, existing, **changes)
        return "updated", False

    def _row_locations(
        self, run: _Run, uow: UnitOfWork, row: _Row, found: _Found
    ) -> tuple[_Outcome, bool]:
        assert found.owner is not None
        address = _address(row)
        existing = found.location
        if existing is None:
            self._locations.create(
                run.actor,
                customer=found.owner.id,
                name=row.cell("name") or "",
                code=row.cell("code"),
                address=address,
            )
            return "created", False
        changes: dict[str, Any] = {}
        _differs(changes, row, "name", existing.name)
        if address is not None and not _same_address(address, existing.address):
            changes["address"] = address
        if not changes:
            return "unchanged", False
        self._locations.update(run.actor, existing, **changes)
        return "updated", False

    def _contact_of(self, run: _Run, row: _Row, found: _Found) -> tuple[Contact, _Outcome]:
        """The customer's contact with the row's address, created or brought up to date."""
        assert found.owner is not None
        existing = found.contact
        if existing is None:
            optional = {c: row.cell(c) for c in ("job_title", "department", "phone")}
            contact = self._contacts.create(
                run.actor,
                customer=found.owner.id,
                first_name=row.cell("first_name") or "",
                last_name=row.cell("last_name") or "",
                email=row.cell("email"),
                **{k: x for k, x in optional.items() if x is not None},
            )
            return contact, "created"
        changes: dict[str, Any] = {}
        for column in ("first_name", "last_name", "job_title", "department", "phone"):
            _differs(changes, row, column, getattr(existing, column))
        if not changes:
            return existing, "unchanged"
        return self._contacts.update(run.actor, existing, **changes), "updated"

    def _row_contacts(
        self, run: _Run, uow: UnitOfWork, row: _Row, found: _Found
    ) -> tuple[_Outcome, bool]:
        _contact, outcome = self._contact_of(run, row, found)
        return outcome, False

    def _row_logins(
        self, run: _Run, uow: UnitOfWork, row: _Row, found: _Found
    ) -> tuple[_Outcome, bool]:
        assert found.owner is not None
        owner, grants = found.owner, found.grants
        known = run.known
        address = known.addresses[row.line]
        profile_id = self._profile(run, uow, row)
        membership = found.membership
        if membership is not None:
            changes: dict[str, Any] = {}
            if row.cell("profile") is not None and profile_id != membership.profile_id:
                changes["profile"] = profile_id
            if grants is not None and grants != {
                g.location_id: g.access.value for g in membership.location_grants
            }:
                changes["location_grants"] = grants
            if not changes:
                return "unchanged", False
            self._memberships.update(run.actor, membership, **changes)
            return "updated", False
        peer_hash = row.given("password_hash")
        if peer_hash is not None:
            # Checked before anything of the row is written: a refused hash refuses the row.
            try:
                require_admin(run.actor, IMPERSONATE)  # who chose a hash may know its password
            except PermissionDenied as denied:
                raise _Bad(run.refusal(row.line, "password_hash", denied)) from None
            self._rt.hasher.importable(peer_hash)
        contact, _ = self._contact_of(run, row, found)
        # The chunk's look-ups include the accounts its earlier rows made (the same person
        # at another customer).
        account = known.accounts.get(v.email_key(address)) if address else None
        if account is not None and peer_hash is not None:
            # The same person at another customer: its login has a password of its own.
            raise ValidationError.single(
                "password_hash",
                "login_exists",
                "this login exists already and keeps its own password; leave this cell empty",
            )
        if account is None:
            wanted = row.given("username")
            if wanted is not None and v.code_key(wanted) in known.usernames:
                # Said before storage would (in the words of its unique key): a conflict
                # found by storage spoils the whole transaction.
                raise Conflict("username", "this username is already taken")
            account = self._accounts.create(
                run.actor,
                username=wanted
                or _free_username(uow, run.vendor_id, address.partition("@")[0] or "login"),
                email=row.cell("email") or "",
                language=row.given("language"),
            )
            known.accounts[v.email_key(account.email)] = account
            known.usernames.add(v.code_key(account.username))
        membership = self._memberships.create(
            run.actor,
            account=account.id,
            customer=owner.id,
            contact=contact.id,
            profile=profile_id,
            location_grants=cast("dict[Location | UUID, Access | str]", grants or {}),
        )
        if peer_hash is not None:
            # A peer's hash (docs/accounts.md): the person logs in with its old password.
            self._credentials.import_hash(run.actor, membership, peer_hash)
            return "created", False
        if run.invite:
            self._credentials.invite(run.actor, membership)
        return "created", run.invite

    def _profile(self, run: _Run, uow: UnitOfWork, row: _Row) -> UUID | None:
        name = row.given("profile")
        if name is None:
            return None
        found = run.known.profiles.get(name)
        if found is None:
            raise _Bad(run.refusal(row.line, "profile", NotFound("permission profile", name)))
        return found

    def _grants(
        self, run: _Run, uow: UnitOfWork, row: _Row, owner: Customer
    ) -> dict[UUID, str] | None:
        """``CODE[:read|write]`` items separated by spaces (or ``;`` or ``,`` in a quoted
        cell) as grants by location id; None when the file has no locations column."""
        cell = row.cell("locations")
        if cell is None:
            return None
        grants: dict[UUID, str] = {}
        problems: list[RowProblem] = []
        for item in filter(None, re.split(r"[\s;,]+", cell)):
            code, _, access = item.partition(":")
            found = run.known.locations.get((owner.id, code.strip()))
            if found is None:
                problems += run.refusal(row.line, "locations", NotFound("location", code.strip()))
                continue
            # The membership service checks the access word, as for any API call.
            grants[found.id] = access.strip() or "read"
        if problems:
            raise _Bad(problems)
        return grants


def _not_found_column(error: PortalError) -> str:
    if not isinstance(error, NotFound):
        return ""
    return {
        "permission profile": "profile",
        "location": "locations",
        "parent customer": "parent",
    }.get(error.kind, error.kind)


def _key_part(column: str, value: str) -> str:
    value = value.strip()
    return v.email_key(value) if column == "email" else v.code_key(value)


def _email(row: _Row) -> str:
    """The row's address as the services store it, or "" when it is not one (the service
    called with it says why)."""
    scratch: list[Problem] = []
    return v.email(scratch, "email", row.cell("email"))


def _address(row: _Row) -> dict[str, Any] | None:
    parts = {c: row.cell(c) for c in ("street", "postal_code", "city", "country")}
    if not any(x and x.strip() for x in parts.values()):
        return None
    return {**{k: x for k, x in parts.items() if x is not None}, "default_delivery": True}


def _same_address(wanted: dict[str, Any], stored: Address | None) -> bool:
    if stored is None:
        return False
    return all(
        (
            str(wanted.get(f) or "").strip().upper()
            if f == "country"
            else str(wanted.get(f) or "").strip()
        )
        == getattr(stored, f)
        for f in ("street", "postal_code", "city", "country")
    )


def _differs(changes: dict[str, Any], row: _Row, column: str, stored: str) -> None:
    value = row.cell(column)
    if value is not None and value.strip() != stored:
        changes[column] = value


def _batches(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
