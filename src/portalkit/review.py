"""The access review (``portal.review``): who can do what, as the vendor's security officer
signs it off each quarter.

Every row is one login at one customer with its **effective** rights — what an access context
built for it now allows, not what its profile says: an invited or switched-off login, an
inactive customer or an extra account whose main account is off can do nothing, and the row
says why. Example::

    rows = portal.review.rows(staff, customer=acme, tree=True)   # Acme and what is below
    for row in rows:
        print(row.username, row.customer_code, row.capabilities, row.denied)
    portal.review.write_csv(staff, sys.stdout, customer=acme)   # the same as CSV
    print(portal.review.explain(staff, rows[0].membership_id, "invoices.view"))
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit._guard import require_admin
from portalkit._service import ident, load
from portalkit._spreadsheet import safe_cell
from portalkit.actors import Actor
from portalkit.auth import member_of
from portalkit.errors import ValidationError
from portalkit.staffrights import ACCESS_REVIEW

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.customers.model import Customer
    from portalkit.memberships.model import Membership
    from portalkit.storage.base import UnitOfWork

__all__ = ["COLUMNS", "AccessReviewService", "ReviewRow"]

ROWS_MAX = 100_000
"""At most this many logins in one review; a larger vendor reviews per customer tree."""


@attrs.frozen
class ReviewRow:
    """One login at one customer, with what it may effectively do now."""

    customer_code: str
    customer_name: str
    customer_id: UUID
    membership_id: UUID
    username: str
    email: str
    contact_name: str
    kind: str
    membership_status: str
    account_status: str
    profile: str
    #: The capabilities the login holds now (none when it cannot log in).
    capabilities: tuple[str, ...]
    #: Why the login can do nothing ("" when it can): invited, switched off, no profile, …
    denied: str
    #: The scopes its profile sets, by resource type; every other type is at its default.
    scopes: tuple[tuple[str, str], ...]
    #: Granted sites that count now, as ``(site name, "read" | "write")``.
    locations: tuple[tuple[str, str], ...]
    #: Customers beyond its own that it reaches (umbrella branches, granted customers), codes.
    other_customers: tuple[str, ...]
    #: An extra account works only while its customer's main account does.
    depends_on_main_account: bool
    last_login_at: datetime | None


COLUMNS: tuple[str, ...] = tuple(f.name for f in attrs.fields(ReviewRow))
"""The columns of the CSV and the keys of the JSON, in this order."""


class AccessReviewService:
    """The access review of one customer, an umbrella tree or the whole vendor; staff only.
    Reached as ``portal.review``."""

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def rows(
        self, actor: Actor, *, customer: Customer | UUID | None = None, tree: bool = False
    ) -> list[ReviewRow]:
        """Every login of ``customer`` (with ``tree=True``: and of the customers below it), or
        of the whole vendor when no customer is given; by customer code, then username.

        Each row's rights are read as a request would read them (the access facts of its
        membership, two queries per login on SQL storage). Raises NotFound for a customer
        of another vendor, PermissionDenied for a member.
        """
        vendor_id = require_admin(actor, ACCESS_REVIEW)
        if not isinstance(tree, bool):
            raise ValidationError.single("tree", "not_bool", "must be true or false")
        with self._rt.transaction(read_only=True) as uow:
            customers = {c.id: c for c in _all(uow, "customers", vendor_id)}
            if customer is not None:
                top = load(uow.customers, vendor_id, "customer", customer, "customer")
                wanted = {top.id} | (_below(customers, top.id) if tree else set())
            else:
                wanted = set(customers)
            found: list[ReviewRow] = []
            for customer_id in sorted(wanted, key=lambda i: customers[i].code.casefold()):
                for membership in _all(uow, "memberships", vendor_id, customer_id=customer_id):
                    found.append(self._row(uow, vendor_id, membership, customers))
                    if len(found) > ROWS_MAX:
                        raise ValidationError.single(
                            "customer",
                            "too_many",
                            "may hold at most {limit}",
                            limit=ROWS_MAX,
                        )
        found.sort(key=lambda r: (r.customer_code.casefold(), r.username.casefold()))
        return found

    def write_csv(
        self,
        actor: Actor,
        stream: IO[str],
        *,
        customer: Customer | UUID | None = None,
        tree: bool = False,
    ) -> int:
        """Write :meth:`rows` as CSV (:data:`COLUMNS`; lists joined with ``;``); cells a
        spreadsheet would run as a formula get a leading apostrophe. Returns the row count."""
        rows = self.rows(actor, customer=customer, tree=tree)
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_cell(value) for value in _plain(row).values()])
        return len(rows)

    def to_json(
        self, actor: Actor, *, customer: Customer | UUID | None = None, tree: bool = False
    ) -> str:
        """:meth:`rows` as a JSON array of objects keyed by :data:`COLUMNS`."""
        return json.dumps([_plain(r) for r in self.rows(actor, customer=customer, tree=tree)])

    def explain(self, actor: Actor, membership: Membership | UUID, capability: str) -> str:
        """Which profile, grant or rule decides whether this login may use ``capability``
        now, in words (the access context's :meth:`~portalkit.AccessContext.explain`)."""
        vendor_id = require_admin(actor, ACCESS_REVIEW)
        membership_id = ident("membership", membership)
        with self._rt.transaction(read_only=True) as uow:
            found = load(uow.memberships, vendor_id, "membership", membership_id, "membership")
            facts = uow.member_facts(vendor_id, found.id)
        context = self._access.context_from_facts(member_of(found), facts)
        return context.explain(capability)

    def _row(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        membership: Membership,
        customers: dict[UUID, Customer],
    ) -> ReviewRow:
        facts = uow.member_facts(vendor_id, membership.id)
        context = self._access.context_from_facts(member_of(membership), facts)
        account = uow.accounts.get(vendor_id, membership.account_id)
        contact = uow.contacts.get(vendor_id, membership.contact_id)
        profile = facts.profile if facts is not None else None
        customer = customers[membership.customer_id]
        readable = context.location_read
        locations = []
        for grant in membership.location_grants:
            if readable is not None and grant.location_id not in readable:
                continue  # switched off, or out of its reach: it does not count
            place = uow.locations.get(vendor_id, grant.location_id)
            if place is not None:
                locations.append((place.name, grant.access.value))
        reached: set[UUID] = set()
        if not context.denied:
            for resource in self._access.resource_types:
                reached |= context.reach(resource)
        reached.discard(customer.id)
        return ReviewRow(
            customer_code=customer.code,
            customer_name=customer.name,
            customer_id=customer.id,
            membership_id=membership.id,
            username=account.username if account is not None else "",
            email=account.email if account is not None else "",
            contact_name=contact.full_name if contact is not None else "",
            kind=membership.kind.value,
            membership_status=membership.status.value,
            account_status=account.status.value if account is not None else "",
            profile=profile.name if profile is not None else "",
            capabilities=tuple(sorted(context.capabilities)),
            denied=str(context.denied or ""),
            scopes=tuple(
                sorted((r, s.value) for r, s in (profile.scopes if profile else {}).items())
            ),
            locations=tuple(sorted(locations)),
            other_customers=tuple(sorted(customers[i].code for i in reached if i in customers)),
            depends_on_main_account=membership.kind.value == "extra",
            last_login_at=account.last_login_at if account is not None else None,
        )


def _all(uow: UnitOfWork, table: str, vendor_id: UUID, **where: object) -> Iterator[Any]:
    """Every record of a table (filtered), read page by page."""
    repo = getattr(uow, table)
    offset = 0
    while True:
        chunk = repo.list(vendor_id, where=where or None, limit=1000, offset=offset)
        yield from chunk
        if len(chunk) < 1000:
            return
        offset += 1000


def _below(customers: dict[UUID, Customer], top: UUID) -> set[UUID]:
    children: dict[UUID | None, list[UUID]] = {}
    for c in customers.values():
        children.setdefault(c.parent_id, []).append(c.id)
    found: set[UUID] = set()
    level = [top]
    while level:
        level = [c for p in level for c in children.get(p, []) if c not in found]
        found.update(level)
    return found


def _plain(row: ReviewRow) -> dict[str, Any]:
    """The row with JSON-able values: ids and times as text, lists as lists."""
    out: dict[str, Any] = {}
    for name in COLUMNS:
        value = getattr(row, name)
        if isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif name in ("scopes", "locations"):
            value = [f"{a}:{b}" for a, b in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _cell(value: object) -> object:
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return safe_cell(value)
