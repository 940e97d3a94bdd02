"""The in-memory backend: for tests and demos, with the same transaction semantics as SQL.

One lock serialises units of work, so a transaction sees no one else's half-done changes and a
rolled-back one leaves nothing behind (an undo log restores every table and index). Records are
frozen attrs objects with immutable fields, so a caller can never change what is stored through
a record it was handed. Nothing survives the process; throttling and the like are per process.
"""

from __future__ import annotations

import builtins
import enum
import functools
import heapq
import itertools
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

import attrs

from portalkit._validation import code_key
from portalkit.customers.model import MAX_TREE_DEPTH
from portalkit.errors import ConcurrentModification, Conflict, PortalError
from portalkit.outbox.model import OutboxStatus
from portalkit.storage.base import (
    APPEND_ONLY,
    ERASABLE_TABLES,
    RECENT_TABLES,
    RIGHTS_TABLES,
    TABLES,
    UNIQUE_KEYS,
    MemberFacts,
    check_pseudonyms,
    pseudonymised,
    unique_key,
)

if TYPE_CHECKING:
    from portalkit.accesstokens.model import AccessToken
    from portalkit.accounts.model import Account
    from portalkit.assortments.model import Assortment
    from portalkit.audit.model import AuditEvent
    from portalkit.carts.model import Cart
    from portalkit.catalogue.model import CatalogueItem, Category, ItemQuery
    from portalkit.customers.model import Contact, Customer, Location
    from portalkit.devices.model import Device, DeviceModel
    from portalkit.documents.model import Document
    from portalkit.groups.model import CustomerGroup
    from portalkit.inbox.model import InboxComment, InboxEvent, InboxItem
    from portalkit.jobs.model import Job
    from portalkit.memberships.model import Membership
    from portalkit.orders.model import Order
    from portalkit.outbox.model import OutboxMessage
    from portalkit.passkeys.model import Passkey
    from portalkit.pricing.model import PriceList, PriceRule
    from portalkit.profiles.model import PermissionProfile
    from portalkit.quotes.model import Quote, QuoteMessage
    from portalkit.registrations.model import Registration
    from portalkit.secondfactor.model import SecondFactor, SecondFactorRule
    from portalkit.sessions.model import SessionRecord
    from portalkit.settings import PortalSettings
    from portalkit.sso.model import SsoAttempt, SsoConfig, SsoDomain
    from portalkit.staff.model import InboxAddress, StaffMember
    from portalkit.tickets.model import Ticket, TicketAttachment
    from portalkit.tokens import Token, TokenPurpose
    from portalkit.vendors.model import Vendor
    from portalkit.workrequests.model import WorkRequest

__all__ = ["MemoryStorage"]

T = TypeVar("T")
_Undo = Callable[[], object]  # an undo step; what it returns is ignored


class _Tables:
    """The stored state: rows by table and id, and one dict per unique key."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[UUID, Any]] = {name: {} for name in TABLES}
        self.keys: dict[str, dict[tuple[object, ...], UUID]] = {
            key.name: {} for keys in UNIQUE_KEYS.values() for key in keys
        }
        # Failed logins per throttle key: (failures, window start). Per process, documented.
        self.throttles: dict[str, tuple[int, datetime]] = {}
        # The order and quote number counters: (vendor id, scope) -> last number given.
        self.counters: dict[tuple[UUID, str], int] = {}
        # Customers by parent, for umbrella trees; rebuilt when a customer changed since.
        self.customers_changed = 0
        self.children: tuple[int, dict[UUID | None, list[Any]]] = (-1, {})
        # Rights generations by vendor, drawn from one counter so that none comes back
        # after a rollback restored an earlier one.
        self.generations: dict[UUID, int] = {}
        self.generation_counter = itertools.count(1)


class _Table(Generic[T]):
    """One table's repository inside a unit of work; every write records its undo step."""

    def __init__(self, uow: MemoryUnitOfWork, name: str) -> None:
        self._uow = uow
        self._name = name
        self._rows: dict[UUID, Any] = uow._tables.rows[name]
        self._unique = UNIQUE_KEYS[name]

    def add(self, item: T) -> None:
        self._uow._writing()
        self._uow._check_open()
        item_id: UUID = item.id  # type: ignore[attr-defined]
        if item_id in self._rows:
            # As the SQL backends' primary key refuses it: an add never replaces a record
            # (an audit event overwritten, or dropped by the undo of a rollback).
            raise Conflict(
                self._name, "the change to {table} clashes with stored data", table=self._name
            )
        new_keys = [(k, k.key_of(item)) for k in self._unique]
        for key, value in new_keys:
            if value is not None and value in self._uow._tables.keys[key.name]:
                raise key.conflict()
        self._rows[item_id] = item
        self._uow._undo.append(lambda: self._rows.pop(item_id))
        self._changed(item)
        for key, value in new_keys:
            if value is not None:
                self._index(key.name, value, item_id)

    def _changed(self, item: Any) -> None:
        tables = self._uow._tables
        if self._name == "customers":
            tables.customers_changed += 1
        if self._name in RIGHTS_TABLES:
            # The unit of work holds the store's lock, so nobody reads the new number before
            # the change commits or is undone (and the undo restores the old number).
            generations, vendor_id = tables.generations, item.vendor_id
            before = generations.get(vendor_id, 0)
            generations[vendor_id] = next(tables.generation_counter)
            self._uow._undo.append(lambda: generations.__setitem__(vendor_id, before))

    def add_many(self, items: Sequence[T]) -> None:
        for item in items:
            self.add(item)

    def _index(self, key_name: str, value: tuple[object, ...], item_id: UUID) -> None:
        index = self._uow._tables.keys[key_name]
        index[value] = item_id
        self._uow._undo.append(lambda: index.pop(value))

    def _unindex(self, key_name: str, value: tuple[object, ...]) -> None:
        index = self._uow._tables.keys[key_name]
        old = index.pop(value)
        self._uow._undo.append(lambda: index.__setitem__(value, old))

    def get(self, vendor_id: UUID, item_id: UUID) -> T | None:
        self._uow._check_open()
        item = self._rows.get(item_id)
        return item if item is not None and item.vendor_id == vendor_id else None

    def get_by(self, vendor_id: UUID, key: str, value: object) -> T | None:
        self._uow._check_open()
        rule = unique_key(self._name, key)
        item_id = self._uow._tables.keys[rule.name].get(rule.lookup_key(vendor_id, value))
        return self.get(vendor_id, item_id) if item_id is not None else None

    def list(
        self,
        vendor_id: UUID,
        *,
        where: Mapping[str, object] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[T]:
        self._uow._check_open()
        conditions = dict(where or {})
        found = [
            item
            for item in self._rows.values()
            if item.vendor_id == vendor_id
            and all(getattr(item, k) == v for k, v in conditions.items())
        ]
        found.sort(key=lambda item: (item.created_at, str(item.id)))
        end = None if limit is None else offset + limit
        return found[offset:end]

    def update(self, item: T, expected_version: int) -> None:
        self._uow._writing()
        self._uow._check_open()
        if self._name == "audit_events":
            raise PortalError(APPEND_ONLY)
        item_id: UUID = item.id  # type: ignore[attr-defined]
        stored = self._rows.get(item_id)
        if (
            stored is None
            or stored.vendor_id != item.vendor_id  # type: ignore[attr-defined]
            or stored.version != expected_version
            or item.version != expected_version + 1  # type: ignore[attr-defined]
        ):
            raise ConcurrentModification(self._name.rstrip("s"), item_id)
        changes = [(k, k.key_of(stored), k.key_of(item)) for k in self._unique]
        for key, old, new in changes:
            index = self._uow._tables.keys[key.name]
            if new is not None and new != old and new in index:
                raise key.conflict()
        for key, old, new in changes:
            if old != new:
                if old is not None:
                    self._unindex(key.name, old)
                if new is not None:
                    self._index(key.name, new, item_id)
        self._rows[item_id] = item
        self._uow._undo.append(lambda: self._rows.__setitem__(item_id, stored))
        self._changed(item)

    def _delete(self, vendor_id: UUID, ids: Collection[UUID]) -> int:
        """Delete these records of the vendor with their unique keys (undone on rollback)."""
        deleted = 0
        for item_id in set(ids):
            stored = self._rows.get(item_id)
            if stored is None or stored.vendor_id != vendor_id:
                continue
            for key in self._unique:
                value = key.key_of(stored)
                if value is not None:
                    self._unindex(key.name, value)
            del self._rows[item_id]
            self._uow._undo.append(functools.partial(self._rows.__setitem__, item_id, stored))
            self._changed(stored)
            deleted += 1
        return deleted

    def get_many_by(self, vendor_id: UUID, key: str, values: Collection[object]) -> dict[object, T]:
        found: dict[object, T] = {}
        for value in values:
            item = self.get_by(vendor_id, key, value)
            if item is not None:
                found[value] = item
        return found

    def list_in(self, vendor_id: UUID, field: str, values: Collection[object]) -> builtins.list[T]:
        self._uow._check_open()
        # Enum members by their values, as the SQL backends compare them (and as a set:
        # an import asks for a thousand values at a time).
        wanted = {_plain(value) for value in values if value is not None}
        found = [
            item
            for item in self._rows.values()
            if item.vendor_id == vendor_id and _plain(getattr(item, field)) in wanted
        ]
        found.sort(key=lambda item: (item.created_at, str(item.id)))
        return found


class _Vendors:
    """The vendors table: unscoped, since vendors are the scopes."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._table: _Table[Vendor] = _Table(uow, "vendors")
        self._uow = uow

    def add(self, vendor: Vendor) -> None:
        self._table.add(vendor)

    def get(self, vendor_id: UUID) -> Vendor | None:
        self._uow._check_open()
        found: Vendor | None = self._uow._tables.rows["vendors"].get(vendor_id)
        return found

    def get_by_code(self, code: str) -> Vendor | None:
        self._uow._check_open()
        vendor_id = self._uow._tables.keys["uq_vendors_code"].get((code_key(code),))
        return self.get(vendor_id) if vendor_id else None

    def list(self) -> list[Vendor]:
        self._uow._check_open()
        rows: list[Vendor] = list(self._uow._tables.rows["vendors"].values())
        return sorted(rows, key=lambda v: (v.created_at, str(v.id)))

    def rename(self, vendor_id: UUID, name: str) -> Vendor | None:
        self._uow._writing()
        self._uow._check_open()
        rows = self._uow._tables.rows["vendors"]
        current: Vendor | None = rows.get(vendor_id)
        if current is None:
            return None
        rows[vendor_id] = renamed = attrs.evolve(current, name=name)
        self._uow._undo.append(lambda: rows.__setitem__(vendor_id, current))
        return renamed


class MemoryUnitOfWork:
    """A transaction on :class:`MemoryStorage`; holds the storage's lock until it ends."""

    def __init__(self, storage: MemoryStorage, read_only: bool = False) -> None:
        self._storage = storage
        self._read_only = read_only
        self._tables = storage._tables
        self._undo: list[_Undo] = []
        self._open = True
        self.vendors = _Vendors(self)
        self.customers: _Table[Customer] = _Table(self, "customers")
        self.locations: _Table[Location] = _Table(self, "locations")
        self.contacts: _Table[Contact] = _Table(self, "contacts")
        self.accounts: _Table[Account] = _Table(self, "accounts")
        self.memberships: _Table[Membership] = _Table(self, "memberships")
        self.profiles: _Table[PermissionProfile] = _Table(self, "profiles")
        self.audit: _Table[AuditEvent] = _Table(self, "audit_events")
        self.outbox: _Table[OutboxMessage] = _Table(self, "outbox_messages")
        self.registrations: _Table[Registration] = _Table(self, "registrations")
        self.tokens: _Table[Token] = _Table(self, "tokens")
        self.jobs: _Table[Job] = _Table(self, "jobs")
        self.documents: _Table[Document] = _Table(self, "documents")
        self.staff_members: _Table[StaffMember] = _Table(self, "staff_members")
        self.inbox_settings: _Table[InboxAddress] = _Table(self, "inbox_settings")
        self.inbox_items: _Table[InboxItem] = _Table(self, "inbox_items")
        self.inbox_comments: _Table[InboxComment] = _Table(self, "inbox_comments")
        self.inbox_events: _Table[InboxEvent] = _Table(self, "inbox_events")
        self.work_requests: _Table[WorkRequest] = _Table(self, "work_requests")
        self.tickets: _Table[Ticket] = _Table(self, "tickets")
        self.ticket_attachments: _Table[TicketAttachment] = _Table(self, "ticket_attachments")
        self.second_factors: _Table[SecondFactor] = _Table(self, "second_factors")
        self.access_tokens: _Table[AccessToken] = _Table(self, "access_tokens")
        self.sso_configs: _Table[SsoConfig] = _Table(self, "sso_configs")
        self.sso_domains: _Table[SsoDomain] = _Table(self, "sso_domains")
        self.sso_attempts: _Table[SsoAttempt] = _Table(self, "sso_attempts")
        self.passkeys: _Table[Passkey] = _Table(self, "passkeys")
        self.second_factor_rules: _Table[SecondFactorRule] = _Table(self, "second_factor_rules")
        self.sessions: _Table[SessionRecord] = _Table(self, "sessions")
        self.categories: _Table[Category] = _Table(self, "category_tree")
        self.catalogue_items: _Table[CatalogueItem] = _Table(self, "catalogue_items")
        self.customer_groups: _Table[CustomerGroup] = _Table(self, "customer_groups")
        self.assortments: _Table[Assortment] = _Table(self, "assortments")
        self.price_lists: _Table[PriceList] = _Table(self, "price_lists")
        self.price_rules: _Table[PriceRule] = _Table(self, "price_rules")
        self.device_models: _Table[DeviceModel] = _Table(self, "device_models")
        self.devices: _Table[Device] = _Table(self, "devices")
        self.carts: _Table[Cart] = _Table(self, "carts")
        self.orders: _Table[Order] = _Table(self, "orders")
        self.quotes: _Table[Quote] = _Table(self, "quotes")
        self.quote_messages: _Table[QuoteMessage] = _Table(self, "quote_messages")

    def _check_open(self) -> None:
        if not self._open:
            raise PortalError("this unit of work has ended; start a new transaction")
        self._storage._before_statement()

    def _writing(self) -> None:
        if self._read_only:
            raise PortalError("this transaction is read-only (transaction(read_only=True))")

    def recent(
        self,
        table: str,
        vendor_id: UUID,
        *,
        where: Mapping[str, object] | None = None,
        among: Mapping[str, Collection[object]] | None = None,
        limit: int,
        offset: int = 0,
    ) -> list[Any]:
        """Newest first, by a partial sort of the matching records."""
        self._check_open()
        if table not in RECENT_TABLES:
            raise PortalError(f"{table} is not paged newest first")
        equal = dict(where or {})
        sets = {field: set(values) for field, values in (among or {}).items()}
        found = heapq.nlargest(
            offset + limit,
            (
                r
                for r in self._tables.rows[table].values()
                if r.vendor_id == vendor_id
                and all(getattr(r, k) == v for k, v in equal.items())
                and all(getattr(r, k) in v for k, v in sets.items())
            ),
            key=lambda r: (r.created_at, r.id),
        )
        return found[offset:]

    def claim_inbox_events(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[InboxEvent]:
        """Claim the first undelivered event of each item, if due and not leased."""
        self._writing()
        self._check_open()
        heads: dict[UUID, InboxEvent] = {}
        for event in self._tables.rows["inbox_events"].values():
            if event.delivered_at is not None:
                continue
            head = heads.get(event.item_id)
            if head is None or event.sequence < head.sequence:
                heads[event.item_id] = event
        due = heapq.nsmallest(
            limit,
            (
                e
                for e in heads.values()
                if e.next_attempt_at <= now and (e.claimed_until is None or e.claimed_until < now)
            ),
            key=lambda e: (e.next_attempt_at, e.id),
        )
        claimed = []
        for event in due:
            taken = attrs.evolve(event, claimed_until=lease_until, version=event.version + 1)
            self.inbox_events.update(taken, event.version)
            claimed.append(taken)
        return claimed

    def next_number(self, vendor_id: UUID, scope: str) -> int:
        """Count on under the store's lock (undone with the unit of work)."""
        self._writing()
        self._check_open()
        counters = self._tables.counters
        key = (vendor_id, scope)
        before = counters.get(key)
        counters[key] = number = (before or 0) + 1

        def undo() -> None:
            if before is None:
                counters.pop(key, None)
            else:
                counters[key] = before

        self._undo.append(undo)
        return number

    def search_items(
        self, vendor_id: UUID, query: ItemQuery, *, limit: int, offset: int = 0
    ) -> list[CatalogueItem]:
        """Filter the items with the query's own reference rule, then sort and cut a page."""
        self._check_open()
        found = [
            item
            for item in self._tables.rows["catalogue_items"].values()
            if item.vendor_id == vendor_id and query.matches(item)
        ]
        found.sort(key=lambda item: (code_key(item.sku), str(item.id)))
        return found[offset : offset + limit]

    def price_rules_for(
        self,
        vendor_id: UUID,
        price_list_ids: Iterable[UUID],
        *,
        item_ids: Iterable[UUID],
        category_ids: Iterable[UUID],
        valid_at: datetime | None = None,
        up_to: int | None = None,
    ) -> list[PriceRule]:
        """The rules of the lists for the items or categories asked about."""
        self._check_open()
        lists, items, categories = set(price_list_ids), set(item_ids), set(category_ids)
        return [
            rule
            for rule in self._tables.rows["price_rules"].values()
            if rule.vendor_id == vendor_id
            and rule.price_list_id in lists
            and (
                (rule.item_id is not None and rule.item_id in items)
                or (rule.item_id is None and rule.category_id in categories)
            )
            and (valid_at is None or rule.valid_at(valid_at))
            and (up_to is None or rule.min_quantity <= up_to)
        ]

    def delete_price_rule(self, vendor_id: UUID, rule_id: UUID) -> bool:
        """Remove the rule (undone on rollback)."""
        self._writing()
        self._check_open()
        rows = self._tables.rows["price_rules"]
        stored = rows.get(rule_id)
        if stored is None or stored.vendor_id != vendor_id:
            return False
        del rows[rule_id]
        self._undo.append(lambda: rows.__setitem__(rule_id, stored))
        return True

    def claim_jobs(self, now: datetime, limit: int, lease_until: datetime) -> list[Job]:
        """Claim due jobs under the store's lock (one unit of work at a time)."""
        self._writing()
        self._check_open()
        due = heapq.nsmallest(
            limit,
            (j for j in self._tables.rows["jobs"].values() if j.due_at <= now),
            key=lambda j: (j.due_at, str(j.id)),
        )
        claimed = []
        for job in due:
            taken = attrs.evolve(job, due_at=lease_until, version=job.version + 1)
            self.jobs.update(taken, job.version)
            claimed.append(taken)
        return claimed

    def delete_job(self, vendor_id: UUID, job_id: UUID, expected_version: int) -> bool:
        """Remove the job if it is still at ``expected_version`` (undone on rollback)."""
        self._writing()
        self._check_open()
        rows = self._tables.rows["jobs"]
        stored = rows.get(job_id)
        if stored is None or stored.vendor_id != vendor_id or stored.version != expected_version:
            return False
        del rows[job_id]
        self._undo.append(lambda: rows.__setitem__(job_id, stored))
        return True

    def delete_document(self, vendor_id: UUID, document_id: UUID, expected_version: int) -> bool:
        """Remove the document if it is still at ``expected_version`` (undone on rollback)."""
        self._writing()
        self._check_open()
        rows = self._tables.rows["documents"]
        stored = rows.get(document_id)
        if stored is None or stored.vendor_id != vendor_id or stored.version != expected_version:
            return False
        del rows[document_id]
        self._undo.append(lambda: rows.__setitem__(document_id, stored))
        return True

    def claim_outbox(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        ids: Sequence[UUID] | None = None,
    ) -> list[OutboxMessage]:
        """Claim due messages under the store's lock (one unit of work at a time)."""
        self._writing()
        self._check_open()
        wanted = set(ids) if ids is not None else None
        rows = self._tables.rows["outbox_messages"]
        # nsmallest keeps only ``limit`` candidates: no sort of the whole queue per batch.
        due = heapq.nsmallest(
            limit,
            (
                m
                for m in rows.values()
                if (wanted is None or m.id in wanted)
                and (
                    (m.status is OutboxStatus.PENDING and m.next_attempt_at <= now)
                    or (m.status is OutboxStatus.SENDING and m.claimed_until < now)
                )
            ),
            key=lambda m: (m.next_attempt_at, str(m.id)),
        )
        claimed = []
        for message in due:
            taken = attrs.evolve(
                message,
                status=OutboxStatus.SENDING,
                claimed_until=lease_until,
                version=message.version + 1,
            )
            self.outbox.update(taken, message.version)
            claimed.append(taken)
        return claimed

    def settle_outbox(self, outcomes: Sequence[OutboxMessage]) -> set[UUID]:
        """Record each outcome whose previous version is still the stored one."""
        self._writing()
        self._check_open()
        recorded = set()
        for outcome in outcomes:
            try:
                self.outbox.update(outcome, outcome.version - 1)
            except ConcurrentModification:
                continue
            recorded.add(outcome.id)
        return recorded

    def consume_token(
        self, vendor_id: UUID, purpose: TokenPurpose, digest: str, now: datetime
    ) -> Token | None:
        """Mark the token used if it still works (the store's lock makes this atomic)."""
        self._writing()
        self._check_open()
        found = self.tokens.get_by(vendor_id, "token", digest)
        if found is None or not found.usable(purpose, now):
            return None
        used = attrs.evolve(found, used_at=now, version=found.version + 1)
        self.tokens.update(used, found.version)
        return used

    def revoke_tokens(
        self,
        vendor_id: UUID,
        now: datetime,
        *,
        account_id: UUID | None = None,
        registration_id: UUID | None = None,
        membership_id: UUID | None = None,
        purposes: Iterable[TokenPurpose] | None = None,
    ) -> int:
        """Revoke the outstanding tokens of an account or a registration."""
        self._writing()
        self._check_open()
        wanted = set(purposes) if purposes is not None else None
        where: dict[str, object] = {"used_at": None, "revoked_at": None}
        if account_id is not None:
            where["account_id"] = account_id
        if registration_id is not None:
            where["registration_id"] = registration_id
        if membership_id is not None:
            where["membership_id"] = membership_id
        revoked = 0
        for token in self.tokens.list(vendor_id, where=where):
            if wanted is None or token.purpose in wanted:
                self.tokens.update(
                    attrs.evolve(token, revoked_at=now, version=token.version + 1), token.version
                )
                revoked += 1
        return revoked

    def throttle_hit(self, key: str, now: datetime, window_start: datetime) -> int:
        """Count a failure for ``key`` (undone with the unit of work, like any write)."""
        self._writing()
        self._check_open()
        table = self._tables.throttles
        before = table.get(key)
        failures, started = before if before is not None else (0, now)
        if started <= window_start:
            failures, started = 0, now
        table[key] = (failures + 1, started)

        def undo() -> None:
            if before is None:
                table.pop(key, None)
            else:
                table[key] = before

        self._undo.append(undo)
        return failures + 1

    def throttle_count(self, keys: Sequence[str], window_start: datetime) -> int:
        """The highest current failure count of ``keys``."""
        self._check_open()
        found = [self._tables.throttles.get(k) for k in keys]
        return max((n for n, started in filter(None, found) if started > window_start), default=0)

    def throttle_clear(self, keys: Sequence[str]) -> None:
        """Forget the failures of ``keys``."""
        self._writing()
        self._check_open()
        table = self._tables.throttles
        removed = {key: table.pop(key) for key in keys if key in table}
        self._undo.append(lambda: table.update(removed))

    def throttle_strike(self, key: str, now: datetime, forget_before: datetime) -> int:
        """Count a lock window for ``key`` (undone with the unit of work)."""
        self._writing()
        self._check_open()
        table = self._tables.throttles
        before = table.get(key)
        strikes = before[0] if before is not None and before[1] > forget_before else 0
        table[key] = (strikes + 1, now)

        def undo() -> None:
            if before is None:
                table.pop(key, None)
            else:
                table[key] = before

        self._undo.append(undo)
        return strikes + 1

    def throttle_get(self, key: str) -> tuple[int, datetime] | None:
        """The stored count and time of ``key``."""
        self._check_open()
        return self._tables.throttles.get(key)

    def prune_tokens(self, vendor_id: UUID, before: datetime) -> int:
        """Delete the dead links (undone on rollback)."""
        self._writing()
        self._check_open()
        dead = [
            t.id
            for t in self._tables.rows["tokens"].values()
            if t.vendor_id == vendor_id
            and (
                t.expires_at < before
                or (t.used_at is not None and t.used_at < before)
                or (t.revoked_at is not None and t.revoked_at < before)
            )
        ]
        return self.tokens._delete(vendor_id, dead)

    def prune_sso_attempts(self, vendor_id: UUID, before: datetime) -> int:
        """Delete the expired sign-ins (undone on rollback)."""
        self._writing()
        self._check_open()
        dead = [
            a.id
            for a in self._tables.rows["sso_attempts"].values()
            if a.vendor_id == vendor_id and a.expires_at < before
        ]
        return self.sso_attempts._delete(vendor_id, dead)

    def prune_sessions(self, vendor_id: UUID, before: datetime) -> int:
        """Delete the ended and long-unseen sessions (undone on rollback)."""
        self._writing()
        self._check_open()
        dead = [
            s.id
            for s in self._tables.rows["sessions"].values()
            if s.vendor_id == vendor_id
            and (s.last_seen_at < before or (s.ended_at is not None and s.ended_at < before))
        ]
        return self.sessions._delete(vendor_id, dead)

    def prune_throttles(self, before: datetime) -> int:
        """Forget the counters whose window began before ``before`` (undone on rollback)."""
        self._writing()
        self._check_open()
        table = self._tables.throttles
        removed = {k: v for k, v in table.items() if v[1] < before}
        for key in removed:
            del table[key]
        self._undo.append(lambda: table.update(removed))
        return len(removed)

    def purge_outbox(self, vendor_id: UUID, before: datetime) -> int:
        """Empty the bodies of old delivered or given-up messages."""
        self._writing()
        self._check_open()
        done = (OutboxStatus.SENT, OutboxStatus.DEAD)
        old = [
            m
            for m in self._tables.rows["outbox_messages"].values()
            if m.vendor_id == vendor_id
            and m.status in done
            and m.created_at < before
            and (m.text or m.html)
        ]
        for message in old:
            self.outbox.update(
                attrs.evolve(message, text="", html="", version=message.version + 1),
                message.version,
            )
        return len(old)

    def erase(self, vendor_id: UUID, table: str, ids: Collection[UUID]) -> int:
        """Delete the records (undone on rollback)."""
        self._writing()
        self._check_open()
        if table not in ERASABLE_TABLES:
            raise PortalError(
                APPEND_ONLY if table == "audit_events" else f"{table} records are not erased"
            )
        repo: _Table[Any] = _Table(self, table)
        return repo._delete(vendor_id, ids)

    def pseudonymise_audit(
        self, vendor_id: UUID, event_ids: Collection[UUID], replacements: Mapping[str, str]
    ) -> int:
        """Rewrite the events in place (undone on rollback)."""
        self._writing()
        self._check_open()
        check_pseudonyms(replacements)
        rows = self._tables.rows["audit_events"]
        changed = 0
        for event_id in set(event_ids):
            stored = rows.get(event_id)
            if stored is None or stored.vendor_id != vendor_id:
                continue
            rewritten = pseudonymised(stored, replacements)
            if rewritten == stored:
                continue
            rows[event_id] = rewritten
            self._undo.append(functools.partial(rows.__setitem__, event_id, stored))
            changed += 1
        return changed

    def lock_vendor(self, vendor_id: UUID) -> None:
        """Nothing more to do: a memory unit of work holds the whole store's lock already."""
        self._writing()
        self._check_open()

    def rights_generation(self, vendor_id: UUID) -> int | None:
        """The vendor's rights generation: every change of a rights table draws a new one
        (this unit of work's own changes too, as nobody else reads until it ends)."""
        self._check_open()
        return self._tables.generations.get(vendor_id, 0)

    def member_facts(self, vendor_id: UUID, membership_id: UUID) -> MemberFacts | None:
        """Collect the facts about one membership straight from the tables."""
        self._check_open()
        rows = self._tables.rows
        membership = rows["memberships"].get(membership_id)
        if membership is None or membership.vendor_id != vendor_id:
            return None
        customer = rows["customers"][membership.customer_id]
        profile = rows["profiles"].get(membership.profile_id) if membership.profile_id else None
        main_id = self._tables.keys["uq_memberships_main"].get((customer.id,))
        main_active = None
        if main_id is not None:
            main = rows["memberships"][main_id]
            main_active = main.active and rows["accounts"][main.account_id].active
        children = self._children()
        subtree: list[tuple[UUID, UUID | None, bool]] = []
        level, seen = [customer.id], {customer.id}
        for _ in range(MAX_TREE_DEPTH):
            level = [
                c.id
                for parent in level
                for c in children.get(parent, [])
                if c.id not in seen and c.vendor_id == vendor_id
            ]
            seen.update(level)
            subtree += [
                (i, rows["customers"][i].parent_id, rows["customers"][i].active) for i in level
            ]
        locations = {
            grant.location_id: (place.customer_id, place.active)
            for grant in membership.location_grants
            if (place := rows["locations"].get(grant.location_id)) is not None
            and place.vendor_id == vendor_id
        }
        below = {customer.id, *(i for i, _, _ in subtree)}
        locations.update(
            (place.id, (place.customer_id, place.active))
            for place in rows["locations"].values()
            if place.customer_id in below and place.vendor_id == vendor_id
        )
        return MemberFacts(
            membership=membership,
            account_active=rows["accounts"][membership.account_id].active,
            account_session_stamp=rows["accounts"][membership.account_id].session_stamp,
            customer=customer,
            profile=profile,
            main_active=main_active,
            subtree=tuple(subtree),
            locations=locations,
        )

    def _children(self) -> dict[UUID | None, list[Customer]]:
        """Customers by parent id (all vendors: ids are unique), built once per change of
        the customers table instead of on every access check."""
        tables = self._tables
        built, children = tables.children
        if built != tables.customers_changed:
            children = {}
            for candidate in tables.rows["customers"].values():
                children.setdefault(candidate.parent_id, []).append(candidate)
            tables.children = (tables.customers_changed, children)
        return children

    @property
    def connection(self) -> Any:
        """There is none: only the SQL backend's transactions can hold a host's writes."""
        raise PortalError(
            "the memory storage has no database connection to share; the host's writes can "
            "join portal.transaction() on the SQL storage only (PORTALKIT_STORAGE=sqlalchemy)"
        )

    def commit(self) -> None:
        """Keep every change and release the lock."""
        if self._open:
            self._undo.clear()
            self._end()

    def rollback(self) -> None:
        """Undo every change, newest first, and release the lock."""
        if self._open:
            for step in reversed(self._undo):
                step()
            self._undo.clear()
            self._tables.customers_changed += 1  # what was undone may have been a customer
            self._end()

    def _end(self) -> None:
        self._open = False
        self._storage._lock.release()


class MemoryStorage:
    """Everything in process memory, thread-safe; the default backend of tests.

    ``fail_after`` makes the n-th storage operation after it is set raise a PortalError, so
    tests can prove that a failure half-way leaves nothing behind (the SQL backend's
    counterpart is a ``before_cursor_execute`` hook).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tables = _Tables()
        self._fail_countdown: int | None = None

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> MemoryStorage:
        """A fresh, empty store (``PORTALKIT_STORAGE=memory``); the settings hold nothing for it."""
        return cls()

    def begin(self, *, read_only: bool = False) -> MemoryUnitOfWork:
        """Wait for the lock and start a unit of work (``read_only``: refuses writes, as the
        SQL backend's does)."""
        self._lock.acquire()
        return MemoryUnitOfWork(self, read_only)

    def upgrade_schema(self) -> None:
        """Nothing to create: the tables exist as soon as the storage does."""
        return None

    def close(self) -> None:
        """Drop all data."""
        with self._lock:
            self._tables = _Tables()

    def fail_after(self, operations: int | None) -> None:
        """Fault injection for tests: make operation number ``operations`` (1-based) raise."""
        self._fail_countdown = operations

    def _before_statement(self) -> None:
        if self._fail_countdown is None:
            return
        self._fail_countdown -= 1
        if self._fail_countdown <= 0:
            self._fail_countdown = None
            raise PortalError("injected storage failure (MemoryStorage.fail_after)")


def _plain(value: object) -> object:
    """An enum member's value, any other value as it is."""
    return value.value if isinstance(value, enum.Enum) else value
