"""The storage contract: a unit of work with one repository per aggregate.

A backend stores and queries; it decides nothing. Services validate input and authorize the
actor, then hand finished domain objects to a repository. Every vendor-scoped method takes the
``vendor_id`` first, so no query can forget its tenant.

Writes may be buffered until the next read of the same kind or the commit; a clash with a unique
key (:data:`UNIQUE_KEYS`) is raised as :class:`~portalkit.errors.Conflict` at the latest then.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable
from uuid import UUID

import attrs

from portalkit._validation import code_key, email_key
from portalkit.errors import Conflict, PortalError

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
    from portalkit.sso.model import SsoAttempt, SsoConfig, SsoDomain
    from portalkit.staff.model import InboxAddress, StaffMember
    from portalkit.tickets.model import Ticket, TicketAttachment
    from portalkit.tokens import Token, TokenPurpose
    from portalkit.vendors.model import Vendor
    from portalkit.workrequests.model import WorkRequest

__all__ = [
    "APPEND_ONLY",
    "ERASABLE_TABLES",
    "PSEUDONYM",
    "RECENT_TABLES",
    "RIGHTS_TABLES",
    "TABLES",
    "UNIQUE_KEYS",
    "HostJoinable",
    "HostTransactions",
    "MemberFacts",
    "QuickGenerations",
    "Repository",
    "Storage",
    "UniqueKey",
    "UnitOfWork",
    "VendorRepository",
    "check_pseudonyms",
    "pseudonymised",
    "unique_key",
]

T = TypeVar("T")


class VendorRepository(Protocol):
    """Vendors are the tenants themselves, so they are the one unscoped repository."""

    def add(self, vendor: Vendor) -> None:
        """Store a new vendor."""
        ...

    def get(self, vendor_id: UUID) -> Vendor | None:
        """Return the vendor or None."""
        ...

    def get_by_code(self, code: str) -> Vendor | None:
        """Return the vendor whose code matches case-insensitively, or None."""
        ...

    def list(self) -> list[Vendor]:
        """All vendors, oldest first."""
        ...

    def rename(self, vendor_id: UUID, name: str) -> Vendor | None:
        """Set a vendor's display name (its code never changes); the renamed vendor, or
        None when there is no such vendor."""
        ...


class Repository(Protocol[T]):
    """One aggregate's records of one vendor at a time.

    Records are frozen attrs objects with ``id``, ``vendor_id`` and ``version`` fields.
    """

    def add(self, item: T) -> None:
        """Store a new record (Conflict if a unique key is taken, now or at flush)."""
        ...

    def add_many(self, items: Sequence[T]) -> None:
        """Store several new records; the same as calling :meth:`add` for each."""
        ...

    def get(self, vendor_id: UUID, item_id: UUID) -> T | None:
        """The record with this id in this vendor, or None (also for another vendor's id)."""
        ...

    def get_by(self, vendor_id: UUID, key: str, value: object) -> T | None:
        """The record whose unique key ``key`` (see :data:`UNIQUE_KEYS`) equals ``value``."""
        ...

    def list(
        self,
        vendor_id: UUID,
        *,
        where: Mapping[str, object] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[T]:
        """Records whose fields equal ``where``'s values, oldest first, then by id."""
        ...

    def update(self, item: T, expected_version: int) -> None:
        """Replace the stored record if its version is still ``expected_version``.

        ``item.version`` must be ``expected_version + 1``; otherwise, or when the stored version
        moved on, ConcurrentModification is raised and nothing changes.
        """
        ...

    def get_many_by(self, vendor_id: UUID, key: str, values: Collection[object]) -> dict[object, T]:
        """:meth:`get_by` for each of ``values`` at once (a query per few hundred values):
        the records found, by the value that found each; a value nobody has is left out."""
        ...

    def list_in(self, vendor_id: UUID, field: str, values: Collection[object]) -> builtins.list[T]:
        """Records whose ``field`` equals one of ``values`` (None among them matches nothing),
        oldest first, then by id: :meth:`list` for each value at once."""
        ...


@attrs.frozen
class MemberFacts:
    """Everything an access decision about one membership needs, read in at most two queries.

    ``main_active`` is None when the customer has no main account, else whether the main
    membership and its account are both active. ``subtree`` lists the customers below the
    membership's customer as ``(id, parent_id, active)``; ``locations`` maps every location of
    the membership's customer and of the customers below it, and each granted location that
    exists in the vendor, to ``(customer_id, active)`` — what an access context needs to answer
    "is this location within reach?" without another query.
    """

    membership: Membership
    account_active: bool
    customer: Customer
    profile: PermissionProfile | None
    main_active: bool | None
    subtree: tuple[tuple[UUID, UUID | None, bool], ...]
    locations: Mapping[UUID, tuple[UUID, bool]]
    #: The account's session stamp: a session value is checked against the same read that
    #: builds the access context, so validating a session costs no query of its own.
    account_session_stamp: str


class UnitOfWork(Protocol):
    """One transaction: all repositories share it; commit makes every change visible at once."""

    @property
    def vendors(self) -> VendorRepository: ...
    @property
    def customers(self) -> Repository[Customer]: ...
    @property
    def locations(self) -> Repository[Location]: ...
    @property
    def contacts(self) -> Repository[Contact]: ...
    @property
    def accounts(self) -> Repository[Account]: ...
    @property
    def memberships(self) -> Repository[Membership]: ...
    @property
    def profiles(self) -> Repository[PermissionProfile]: ...
    @property
    def second_factors(self) -> Repository[SecondFactor]:
        """Accounts' TOTP second factors (one per account)."""
        ...

    @property
    def second_factor_rules(self) -> Repository[SecondFactorRule]:
        """The vendor's rule of which logins need a second factor (at most one per vendor)."""
        ...

    @property
    def access_tokens(self) -> Repository[AccessToken]:
        """Integrations' access tokens (digests only), each bound to one membership."""
        ...

    @property
    def sso_configs(self) -> Repository[SsoConfig]:
        """Customers' single sign-on set-ups (one per customer)."""
        ...

    @property
    def sso_domains(self) -> Repository[SsoDomain]:
        """The e-mail domains of customers' single sign-on (each one customer's at most)."""
        ...

    @property
    def sso_attempts(self) -> Repository[SsoAttempt]:
        """Single sign-ons under way (state digest, sealed nonce and PKCE verifier)."""
        ...

    @property
    def passkeys(self) -> Repository[Passkey]:
        """Accounts' passkeys (WebAuthn credentials; several per account)."""
        ...

    @property
    def sessions(self) -> Repository[SessionRecord]:
        """Log-in sessions (digests of their secrets only; several per account)."""
        ...

    @property
    def tokens(self) -> Repository[Token]:
        """One-time links (digests only); consumed and revoked through the methods below."""
        ...

    @property
    def registrations(self) -> Repository[Registration]:
        """Self-registration requests."""
        ...

    @property
    def audit(self) -> Repository[AuditEvent]:
        """The audit log (portalkit only adds and lists events, never changes one)."""
        ...

    @property
    def outbox(self) -> Repository[OutboxMessage]:
        """Queued mail (across vendors only through :meth:`claim_outbox`)."""
        ...

    @property
    def jobs(self) -> Repository[Job]:
        """Stored background jobs (across vendors only through :meth:`claim_jobs`)."""
        ...

    @property
    def documents(self) -> Repository[Document]:
        """Documents shared with customers (their bytes live in the asset store)."""
        ...

    def delete_document(self, vendor_id: UUID, document_id: UUID, expected_version: int) -> bool:
        """Delete the document if it is of this vendor and still at ``expected_version``;
        returns whether it was (False: changed meanwhile, or gone)."""
        ...

    @property
    def staff_members(self) -> Repository[StaffMember]:
        """The vendor's staff directory."""
        ...

    @property
    def inbox_settings(self) -> Repository[InboxAddress]:
        """The vendor's inbox address (at most one per vendor)."""
        ...

    @property
    def inbox_items(self) -> Repository[InboxItem]:
        """The vendor inbox (paged newest first through :meth:`recent`)."""
        ...

    @property
    def inbox_comments(self) -> Repository[InboxComment]:
        """Comments on inbox items."""
        ...

    @property
    def inbox_events(self) -> Repository[InboxEvent]:
        """Inbox events for the host (across vendors only through
        :meth:`claim_inbox_events`)."""
        ...

    @property
    def work_requests(self) -> Repository[WorkRequest]:
        """Members' work requests."""
        ...

    @property
    def tickets(self) -> Repository[Ticket]:
        """Service-desk tickets."""
        ...

    @property
    def ticket_attachments(self) -> Repository[TicketAttachment]:
        """Files added to tickets."""
        ...

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
        """A page of ``table`` (one of :data:`RECENT_TABLES`) newest first (``created_at``
        descending, then id descending): records of the vendor whose fields equal
        ``where``'s values and whose fields are among ``among``'s values (an empty
        collection matches nothing)."""
        ...

    def claim_inbox_events(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[InboxEvent]:
        """Claim up to ``limit`` inbox events of any vendor that are due: undelivered, due
        (``next_attempt_at <= now``), not leased (``claimed_until`` None or past), and the
        first undelivered event of their item (so one item's events go out in order, one
        at a time). Set ``claimed_until`` to ``lease_until`` (version + 1) and return them,
        oldest due first. Concurrent claims never return the same event (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``)."""
        ...

    @property
    def categories(self) -> Repository[Category]:
        """The catalogue's category tree."""
        ...

    @property
    def catalogue_items(self) -> Repository[CatalogueItem]:
        """Catalogue items (searched through :meth:`search_items`)."""
        ...

    @property
    def customer_groups(self) -> Repository[CustomerGroup]:
        """Named groups of customers."""
        ...

    @property
    def assortments(self) -> Repository[Assortment]:
        """What each customer may order (at most one per customer)."""
        ...

    @property
    def price_lists(self) -> Repository[PriceList]:
        """Price lists."""
        ...

    @property
    def price_rules(self) -> Repository[PriceRule]:
        """The rules of the price lists (read in bulk through :meth:`price_rules_for`)."""
        ...

    @property
    def device_models(self) -> Repository[DeviceModel]:
        """Device models with their compatible accessories."""
        ...

    @property
    def devices(self) -> Repository[Device]:
        """The customers' installed devices."""
        ...

    @property
    def carts(self) -> Repository[Cart]:
        """Members' carts (at most one per membership)."""
        ...

    @property
    def orders(self) -> Repository[Order]:
        """Orders (order number unique per vendor)."""
        ...

    @property
    def quotes(self) -> Repository[Quote]:
        """Quote requests and the quotes answering them."""
        ...

    @property
    def quote_messages(self) -> Repository[QuoteMessage]:
        """The messages of the quotes' threads."""
        ...

    def next_number(self, vendor_id: UUID, scope: str) -> int:
        """The next number of the counter ``scope`` of this vendor (1 for a new counter), in
        one atomic write: concurrent callers each get a number of their own (the counter's
        row stays locked until this unit of work ends)."""
        ...

    def search_items(
        self, vendor_id: UUID, query: ItemQuery, *, limit: int, offset: int = 0
    ) -> list[CatalogueItem]:
        """One page of the vendor's catalogue items that pass ``query``
        (:meth:`ItemQuery.matches <portalkit.catalogue.model.ItemQuery.matches>` says which),
        ordered by SKU ignoring case, then id: one query, whatever the catalogue's size."""
        ...

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
        """The rules of these price lists that are for one of ``item_ids`` or for one of
        ``category_ids`` (a page's prices in one query), in no particular order.

        ``valid_at``: only the rules valid at that moment (``[valid_from, valid_until)``);
        ``up_to``: only those whose ``min_quantity`` is at most that — a page priced for one
        piece reads no tier above it. None: no such limit."""
        ...

    def delete_price_rule(self, vendor_id: UUID, rule_id: UUID) -> bool:
        """Delete a rule of this vendor; returns whether there was one."""
        ...

    def claim_jobs(self, now: datetime, limit: int, lease_until: datetime) -> list[Job]:
        """Claim up to ``limit`` jobs of any vendor that are due (``due_at <= now``: new, to
        retry, or with an expired lease), oldest due first: set ``due_at`` to
        ``lease_until`` (version + 1) and return them. Concurrent claims never return the
        same job (PostgreSQL: ``FOR UPDATE SKIP LOCKED``)."""
        ...

    def delete_job(self, vendor_id: UUID, job_id: UUID, expected_version: int) -> bool:
        """Delete the job if it is of this vendor and still at ``expected_version``; returns
        whether it was (False: another worker took it over, or it is gone)."""
        ...

    def claim_outbox(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        ids: Sequence[UUID] | None = None,
    ) -> list[OutboxMessage]:
        """Claim up to ``limit`` messages that are due (pending and due, or sending with an
        expired lease), of any vendor, or only those of ``ids``: mark them ``sending`` until
        ``lease_until`` (version + 1) and return them. Concurrent claims never return the same
        message (PostgreSQL: ``FOR UPDATE SKIP LOCKED``)."""
        ...

    def settle_outbox(self, outcomes: Sequence[OutboxMessage]) -> set[UUID]:
        """Record the outcome of claimed messages in one go: each replaces the stored message
        whose version is ``outcome.version - 1``. Returns the ids recorded; a message another
        worker took over meanwhile (its lease ran out) keeps the other worker's state."""
        ...

    def consume_token(
        self, vendor_id: UUID, purpose: TokenPurpose, digest: str, now: datetime
    ) -> Token | None:
        """Use the token with this digest once: in one conditional write, mark it used if it
        is of this vendor and purpose, unused, unrevoked and ``now < expires_at``. Returns the
        used token, or None when it was not usable (of two concurrent calls, one wins)."""
        ...

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
        """Revoke the outstanding (unused, unrevoked) tokens of an account, registration or
        membership (the filters given, together), of the given purposes (all if None);
        returns how many."""
        ...

    def throttle_hit(self, key: str, now: datetime, window_start: datetime) -> int:
        """Count one failure for ``key`` atomically and return its count in the window that
        began after ``window_start`` (a key whose window began before starts again at 1)."""
        ...

    def throttle_count(self, keys: Sequence[str], window_start: datetime) -> int:
        """The highest failure count of these keys in windows begun after ``window_start``."""
        ...

    def throttle_clear(self, keys: Sequence[str]) -> None:
        """Forget the failures of these keys."""
        ...

    def throttle_strike(self, key: str, now: datetime, forget_before: datetime) -> int:
        """Count one more lock window for ``key`` atomically and return the count: it starts
        again at 1 when the last one began at or before ``forget_before``; the stored time
        becomes ``now`` (the start of this lock)."""
        ...

    def throttle_get(self, key: str) -> tuple[int, datetime] | None:
        """The count and time stored for ``key`` (None if there is none)."""
        ...

    def lock_vendor(self, vendor_id: UUID) -> None:
        """Hold the vendor's lock until this unit of work ends, so changes that must see the
        whole vendor (moving customers in umbrella trees) run one after another."""
        ...

    def member_facts(self, vendor_id: UUID, membership_id: UUID) -> MemberFacts | None:
        """The facts about a membership of this vendor (None if there is none)."""
        ...

    def rights_generation(self, vendor_id: UUID) -> int | None:
        """A number that moves on with every committed change, in this vendor, of a table of
        :data:`RIGHTS_TABLES` (what :meth:`member_facts` reads), and never comes back to an
        earlier value; None when this unit of work changed such a row itself (its facts are
        then its own, not yet anyone's). Facts read after the number, in one unit of work,
        may be reused while the number stays the same."""
        ...

    def prune_tokens(self, vendor_id: UUID, before: datetime) -> int:
        """Delete the vendor's dead one-time links: used, revoked or expired before
        ``before``; returns how many. A link that still works is never touched."""
        ...

    def prune_sso_attempts(self, vendor_id: UUID, before: datetime) -> int:
        """Delete the vendor's single sign-ins begun that expired before ``before`` (used or
        not); returns how many. One still under way is never touched."""
        ...

    def prune_sessions(self, vendor_id: UUID, before: datetime) -> int:
        """Delete the vendor's sessions that ended, or were last seen, before ``before``;
        returns how many. (The caller picks ``before`` past every time-out, so a session
        that still works is never touched.)"""
        ...

    def prune_throttles(self, before: datetime) -> int:
        """Delete the failed-login counters (of every vendor: their keys name none) whose
        window began before ``before``; returns how many."""
        ...

    def purge_outbox(self, vendor_id: UUID, before: datetime) -> int:
        """Empty the text and HTML bodies of the vendor's messages created before ``before``
        that are sent or given up (version + 1); returns how many had a body. Address,
        subject and status stay."""
        ...

    def erase(self, vendor_id: UUID, table: str, ids: Collection[UUID]) -> int:
        """Delete these records of the vendor from ``table`` (one of
        :data:`ERASABLE_TABLES`; PortalError for any other, the audit log's above all);
        returns how many were deleted. The caller deletes what refers to them first."""
        ...

    def pseudonymise_audit(
        self, vendor_id: UUID, event_ids: Collection[UUID], replacements: Mapping[str, str]
    ) -> int:
        """Rewrite these audit events of the vendor as :func:`pseudonymised` does, the one
        change the append-only log allows; returns how many changed. Every replacement must
        be a pseudonym (``erased-`` and 16 hex digits; PortalError otherwise), so nothing but
        a pseudonym can be written into the log this way."""
        ...

    @property
    def connection(self) -> Any:
        """The transaction's database connection, for host code that joins it (a SQLAlchemy
        ``Connection`` on the SQL backend); a backend without one raises PortalError."""
        ...

    def commit(self) -> None:
        """Make every change durable and visible to others."""
        ...

    def rollback(self) -> None:
        """Forget every change of this unit of work."""
        ...


class Storage(Protocol):
    """A storage backend: it opens units of work and can create or upgrade its schema."""

    def begin(self, *, read_only: bool = False) -> UnitOfWork:
        """Start a unit of work; the caller commits or rolls it back. A ``read_only`` one
        refuses every write with PortalError and may read without taking write locks."""
        ...

    def upgrade_schema(self) -> None:
        """Create or upgrade the schema to the version this portalkit needs."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class HostJoinable(Protocol):
    """A storage whose units of work can run inside a transaction the host application
    opened (``portal.transaction(session=…)``)."""

    def join(
        self, host: object, *, read_only: bool, when_host_ends: Callable[[bool], None]
    ) -> UnitOfWork:
        """A unit of work inside the host's transaction ``host``: its commit hands the
        changes to that transaction and its rollback undoes them, leaving the host's own.
        ``when_host_ends(committed)`` is called once the host's transaction is over."""
        ...


@runtime_checkable
class HostTransactions(HostJoinable, Protocol):
    """A storage on the host's own database connection (a framework adapter's), whose
    transactions join the host's whenever one is under way, without a ``session=``."""

    def ambient(self) -> object | None:
        """The host's transaction under way in this thread, to pass to :meth:`join`, or None
        when there is none (portalkit then runs a transaction of its own)."""
        ...

    def when_ended(self, host: object, action: Callable[[bool], None]) -> None:
        """Call ``action(committed)`` once the host's transaction ``host`` (what
        :meth:`ambient` returned) is over: on that connection no transaction of portalkit's
        own can begin before, and what must outlive a rollback (the audit of a refusal)
        waits for it."""
        ...


@runtime_checkable
class QuickGenerations(Protocol):
    """A storage that reads a vendor's rights generation in one statement, outside any unit
    of work (the SQL backend): every request's session check asks for it first."""

    def read_rights_generation(self, vendor_id: UUID) -> int | None:
        """The committed rights generation of the vendor (0 before its first change), as
        :meth:`UnitOfWork.rights_generation` outside a unit of work would read it; None when
        this storage cannot read it so just now (the caller then opens a unit of work)."""
        ...

    def read_session(
        self, vendor_id: UUID, session_id: UUID
    ) -> tuple[int, SessionRecord | None] | None:
        """The vendor's committed rights generation and the session ``session_id`` of the
        vendor (None if it has none), read together in one statement outside any unit of
        work: what every request's session check reads; None as for
        :meth:`read_rights_generation`."""
        ...


@attrs.frozen
class UniqueKey:
    """A uniqueness rule every backend enforces, in one place for all of them.

    ``parts`` are record fields; ``normalise`` maps a part to the function making its comparison
    key (stored in the SQL column ``<part>_key``); ``only`` limits the rule to records whose
    enum fields hold the given values (a partial index); ``field`` and ``message`` make the Conflict a person reads.
    """

    name: str
    parts: tuple[str, ...]
    field: str
    message: str
    normalise: Mapping[str, Callable[[str], str]] = attrs.field(factory=dict)
    only: Mapping[str, str] = attrs.field(factory=dict)

    def key_of(self, item: object) -> tuple[object, ...] | None:
        """The key of a record, or None if the rule does not apply to it."""
        for field, value in self.only.items():
            if getattr(getattr(item, field), "value", None) != value:
                return None
        # Asked for every record a unit of work adds (an import adds tens of thousands): a
        # list built in place, not a generator and a method call per part.
        normalise = self.normalise
        return tuple(
            [
                getattr(item, p) if (f := normalise.get(p)) is None else f(getattr(item, p))
                for p in self.parts
            ]
        )

    def lookup_key(self, vendor_id: UUID, value: object) -> tuple[object, ...]:
        """The key a look-up means: ``vendor_id`` plus the other parts' value(s).

        ``value`` is one value when the rule has one other part, else a tuple in part order.
        """
        others = [p for p in self.parts if p != "vendor_id"]
        values = iter(cast("Iterable[object]", value) if len(others) > 1 else (value,))
        return tuple(
            vendor_id if p == "vendor_id" else self._normalised(p, next(values)) for p in self.parts
        )

    def conflict(self) -> Conflict:
        """The error for a clash with this rule."""
        return Conflict(self.field, self.message)

    def _normalised(self, part: str, value: Any) -> object:
        # The comparison form of one part: normalised if the rule says so, else as it is.
        normalise = self.normalise.get(part)
        return value if normalise is None else normalise(value)


UNIQUE_KEYS: Mapping[str, tuple[UniqueKey, ...]] = {
    "vendors": (
        UniqueKey(
            "uq_vendors_code",
            ("code",),
            "code",
            "this vendor code is already taken",
            {"code": code_key},
        ),
    ),
    "customers": (
        UniqueKey(
            "uq_customers_code",
            ("vendor_id", "code"),
            "code",
            "this customer code is already taken",
            {"code": code_key},
        ),
    ),
    "accounts": (
        UniqueKey(
            "uq_accounts_username",
            ("vendor_id", "username"),
            "username",
            "this username is already taken",
            {"username": code_key},
        ),
        UniqueKey(
            "uq_accounts_email",
            ("vendor_id", "email"),
            "email",
            "an account with this e-mail address already exists",
            {"email": email_key},
        ),
    ),
    "memberships": (
        UniqueKey(
            "uq_memberships_account_customer",
            ("account_id", "customer_id"),
            "account",
            "this account already has a membership in this customer",
        ),
        UniqueKey(
            "uq_memberships_main",
            ("customer_id",),
            "kind",
            "this customer already has a main account",
            only={"kind": "main"},
        ),
    ),
    "profiles": (
        UniqueKey(
            "uq_profiles_name",
            ("vendor_id", "name"),
            "name",
            "a permission profile with this name already exists",
            {"name": code_key},
        ),
    ),
    "catalogue_items": (
        UniqueKey(
            "uq_catalogue_items_sku",
            ("vendor_id", "sku"),
            "sku",
            "an item with this SKU already exists",
            {"sku": code_key},
        ),
    ),
    "customer_groups": (
        UniqueKey(
            "uq_customer_groups_name",
            ("vendor_id", "name"),
            "name",
            "a customer group with this name already exists",
            {"name": code_key},
        ),
    ),
    "assortments": (
        UniqueKey(
            "uq_assortments_customer",
            ("customer_id",),
            "customer",
            "this customer already has an assortment",
        ),
    ),
    "price_lists": (
        UniqueKey(
            "uq_price_lists_name",
            ("vendor_id", "name"),
            "name",
            "a price list with this name already exists",
            {"name": code_key},
        ),
    ),
    "device_models": (
        UniqueKey(
            "uq_device_models_name",
            ("vendor_id", "name"),
            "name",
            "a device model with this name already exists",
            {"name": code_key},
        ),
    ),
    "devices": (
        UniqueKey(
            "uq_devices_serial",
            ("model_id", "serial"),
            "serial",
            "a device of this model with this serial number already exists",
            {"serial": code_key},
        ),
    ),
    "carts": (
        UniqueKey(
            "uq_carts_membership",
            ("membership_id",),
            "membership",
            "this membership already has a cart",
        ),
    ),
    "orders": (
        UniqueKey(
            "uq_orders_number",
            ("vendor_id", "number"),
            "number",
            "an order with this number already exists",
            {"number": code_key},
        ),
    ),
    "quotes": (
        UniqueKey(
            "uq_quotes_number",
            ("vendor_id", "number"),
            "number",
            "a quote with this number already exists",
            {"number": code_key},
        ),
    ),
    "quote_messages": (),
    "category_tree": (),
    "price_rules": (),
    "locations": (),
    "contacts": (),
    "sessions": (),
    "audit_events": (),
    "outbox_messages": (),
    "registrations": (),
    "jobs": (),
    "documents": (),
    "tokens": (UniqueKey("uq_tokens_digest", ("digest",), "token", "this token exists already"),),
    "staff_members": (
        UniqueKey(
            "uq_staff_members_user",
            ("vendor_id", "user_id"),
            "user_id",
            "this staff member is in the directory already",
        ),
    ),
    "inbox_settings": (
        UniqueKey(
            "uq_inbox_settings_vendor",
            ("vendor_id",),
            "vendor",
            "this vendor has an inbox address already",
        ),
    ),
    # The reference first: the look-up probes that column, not every item of the vendor.
    "inbox_items": (
        UniqueKey(
            "uq_inbox_items_reference",
            ("reference", "kind", "vendor_id"),
            "reference",
            "this record is in the inbox already",
        ),
    ),
    "inbox_comments": (),
    "inbox_events": (
        UniqueKey(
            "uq_inbox_events_sequence",
            ("item_id", "sequence"),
            "sequence",
            "this inbox event exists already",
        ),
    ),
    "work_requests": (),
    "tickets": (),
    "ticket_attachments": (),
    "second_factors": (
        UniqueKey(
            "uq_second_factors_account",
            ("vendor_id", "account_id"),
            "account_id",
            "this account has a second factor already",
        ),
    ),
    "access_tokens": (),
    "sso_configs": (
        UniqueKey(
            "uq_sso_configs_customer",
            ("vendor_id", "customer_id"),
            "customer_id",
            "this customer has single sign-on already",
        ),
    ),
    "sso_domains": (
        UniqueKey(
            "uq_sso_domains_domain",
            ("vendor_id", "domain"),
            "domain",
            "this e-mail domain belongs to another customer's single sign-on",
        ),
    ),
    "sso_attempts": (
        UniqueKey(
            "uq_sso_attempts_digest",
            ("vendor_id", "digest"),
            "digest",
            "this sign-in exists already",
        ),
    ),
    "second_factor_rules": (
        UniqueKey(
            "uq_second_factor_rules_vendor",
            ("vendor_id",),
            "vendor",
            "this vendor has a second-factor rule already",
        ),
    ),
    "passkeys": (
        UniqueKey(
            "uq_passkeys_credential",
            ("vendor_id", "credential_id"),
            "credential_id",
            "this passkey is registered already",
        ),
    ),
}
"""Every uniqueness rule, by table; backends enforce exactly these."""


def unique_key(table: str, field: str) -> UniqueKey:
    """The uniqueness rule of ``table`` blamed on ``field`` (used by ``get_by`` look-ups)."""
    for key in UNIQUE_KEYS[table]:
        if key.field == field:
            return key
    raise KeyError(f"{table} has no unique key on {field}")


TABLES = (
    "vendors",
    "profiles",
    "customers",
    "locations",
    "contacts",
    "accounts",
    "memberships",
    "audit_events",
    "outbox_messages",
    "registrations",
    "tokens",
    "jobs",
    "documents",
    "staff_members",
    "inbox_settings",
    "inbox_items",
    "inbox_comments",
    "inbox_events",
    "work_requests",
    "tickets",
    "ticket_attachments",
    "category_tree",
    "catalogue_items",
    "customer_groups",
    "assortments",
    "price_lists",
    "price_rules",
    "device_models",
    "devices",
    "carts",
    "quotes",
    "orders",
    "quote_messages",
    "second_factors",
    "access_tokens",
    "sso_configs",
    "sso_domains",
    "sso_attempts",
    "passkeys",
    "second_factor_rules",
    "sessions",
)
"""Every table, in an order where each one's references come before it."""

RIGHTS_TABLES = frozenset({"customers", "locations", "accounts", "memberships", "profiles"})
"""The tables :meth:`UnitOfWork.member_facts` reads: a change to any of them moves the
vendor's :meth:`~UnitOfWork.rights_generation` on."""

RECENT_TABLES = frozenset({"inbox_items", "inbox_comments", "work_requests", "tickets"})
"""The tables :meth:`UnitOfWork.recent` pages (each has ``created_at``)."""

ERASABLE_TABLES = frozenset(
    {
        "contacts",
        "accounts",
        "memberships",
        "tokens",
        "access_tokens",
        "carts",
        "registrations",
        "outbox_messages",
        "inbox_items",
        "inbox_comments",
        "inbox_events",
        "passkeys",
        "second_factors",
        "sessions",
    }
)
"""The tables :meth:`UnitOfWork.erase` deletes from: what erasing a person removes. The
audit log is not among them: it is append-only."""

APPEND_ONLY = (
    "the audit log is append-only: its events are never changed or deleted "
    "(erasing a person pseudonymises them through pseudonymise_audit)"
)
"""Why every backend refuses to change or delete an audit event through the storage API."""

PSEUDONYM = re.compile(r"erased-[0-9a-f]{16}")
"""What an erased person's data becomes in the audit log."""


# A needle that is a record id (uuid text): the only kind written over an actor.
_ID_WORD = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


def _pseudonymise_text(text: str, patterns: Sequence[tuple[re.Pattern[str], str]]) -> str:
    for pattern, pseudonym in patterns:
        text = pattern.sub(pseudonym, text)
    return text


def _pseudonymise_value(value: Any, patterns: Sequence[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(value, str):
        return _pseudonymise_text(value, patterns)
    if isinstance(value, Mapping):
        # Keys are the names the recorder chose, not the person's data: rewriting them could
        # merge two keys and lose a value.
        return {k: _pseudonymise_value(v, patterns) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_pseudonymise_value(v, patterns) for v in value]
    return value


def check_pseudonyms(replacements: Mapping[str, str]) -> None:
    """Refuse (PortalError) replacements whose values are not all pseudonyms (:data:`PSEUDONYM`), or
    whose keys are blank."""
    for needle, pseudonym in replacements.items():
        if not isinstance(pseudonym, str) or not PSEUDONYM.fullmatch(pseudonym):
            raise PortalError(
                f"{str(pseudonym)[:30]!r} is not a pseudonym (erased-<16 hex digits>)"
            )
        if not isinstance(needle, str) or not needle.strip():
            raise PortalError("a pseudonym must replace some text")


def pseudonymised(event: AuditEvent, replacements: Mapping[str, str]) -> AuditEvent:
    """``event`` with every occurrence of each key of ``replacements`` (ignoring case, as
    a whole word) replaced by its value, in the actors, target, reason and details; its id,
    vendor, time, action, outcome and customer stay as they are.

    Longer keys go first, so a full name is replaced before its parts. Every value must be a
    :data:`PSEUDONYM` (PortalError otherwise): this is how an erased person leaves the log,
    and the only way anything in it changes.
    """
    check_pseudonyms(replacements)
    ordered = sorted(replacements.items(), key=lambda kv: -len(kv[0]))
    patterns = [
        (re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)", re.IGNORECASE), pseudonym)
        for needle, pseudonym in ordered
    ]
    # The actors are who did something: only an id of the person (``member:<id>``) goes
    # there, never a word, so an erased username such as an employee's own id cannot hide
    # who acted.
    ids = [
        found
        for (needle, _), found in zip(ordered, patterns, strict=True)
        if _ID_WORD.fullmatch(needle)
    ]
    return attrs.evolve(
        event,
        real_actor=_pseudonymise_text(event.real_actor, ids),
        effective_actor=_pseudonymise_text(event.effective_actor, ids),
        target=_pseudonymise_text(event.target, patterns),
        reason=_pseudonymise_text(event.reason, patterns),
        details=_pseudonymise_value(dict(event.details), patterns),
    )
