"""The :class:`Portal` facade: one object a host app keeps, holding every service.

Example::

    from portalkit import Portal, Staff, System
    from portalkit.staffrights import CUSTOMERS_PROVISION

    portal = Portal.from_settings()          # SQLite file portalkit.db, console mail
    vendor = portal.default_vendor()
    staff = Staff(vendor_id=vendor.id, user_id="planner-1", permissions={CUSTOMERS_PROVISION})
    acme = portal.customers.create(staff, code="ACME", name="Acme B.V.")

Every service call runs in a transaction. Group calls into one with
``with portal.transaction():`` — all of them commit together, or none does.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

from portalkit._guard import TOKEN_SERVICES
from portalkit._runtime import Runtime, _Transaction
from portalkit.access import AccessService
from portalkit.accesstokens.service import AccessTokenService
from portalkit.accounts.service import AccountService
from portalkit.actors import System
from portalkit.assets.base import AssetStore
from portalkit.assets.service import AssetService
from portalkit.assortments.service import AssortmentService
from portalkit.audit.service import AuditService
from portalkit.auth import AuthService, member_of
from portalkit.branding import BrandingService
from portalkit.carts.service import CartService
from portalkit.catalogue.service import CatalogueService
from portalkit.clock import Clock, SystemClock
from portalkit.copying import CopyingService
from portalkit.credentials import CredentialService
from portalkit.customers.service import ContactService, CustomerService, LocationService
from portalkit.devices.service import DeviceService
from portalkit.documents.service import DocumentService
from portalkit.errors import ConfigurationError, PortalError
from portalkit.groups.service import GroupService
from portalkit.inbox.model import InboxStatus
from portalkit.inbox.service import InboxService
from portalkit.linkmail import LinkMail
from portalkit.logins import LoginService
from portalkit.mail.base import Mailer
from portalkit.memberships.service import MembershipService
from portalkit.orders.model import Order, OrderStatus
from portalkit.orders.service import OrderService
from portalkit.outbox.delivery import Outbox
from portalkit.outbox.service import MailService
from portalkit.passkeys.service import PasskeyService
from portalkit.passwords import PasswordHasher
from portalkit.pricing.service import PricingService
from portalkit.profiles.service import ProfileService
from portalkit.provisioning.service import ProvisioningService
from portalkit.quotes.model import Quote, QuoteStatus
from portalkit.quotes.service import QuoteService
from portalkit.registrations.service import RegistrationService
from portalkit.retention import RetentionService
from portalkit.review import AccessReviewService
from portalkit.secondfactor.service import SecondFactorService
from portalkit.sessions.service import SessionService
from portalkit.settings import PortalSettings, load_settings
from portalkit.shop.service import ShopService
from portalkit.sso.service import SsoService
from portalkit.staff.service import StaffService
from portalkit.storage.base import Storage, UnitOfWork
from portalkit.tickets.service import TicketService
from portalkit.transfer.exports import ExportService
from portalkit.transfer.imports import ImportService
from portalkit.vendors.model import Vendor
from portalkit.vendors.service import VendorService
from portalkit.workrequests.service import WorkRequestService

__all__ = ["Portal"]


class Portal:
    """The entry point: services for vendors, customers, locations, contacts, accounts,
    memberships and permission profiles, documents, the staff directory, the vendor inbox,
    work requests and tickets, on one storage backend, one mailer and one asset store.

    ``Portal()`` with no arguments is an in-memory portal (files in memory too), as tests
    want it; :meth:`from_settings` builds the configured one. ``assets=`` is the
    :class:`~portalkit.assets.base.AssetStore` uploaded files live in.
    """

    def __init__(
        self,
        storage: Storage | None = None,
        mailer: Mailer | None = None,
        *,
        settings: PortalSettings | None = None,
        clock: Clock | None = None,
        assets: AssetStore | None = None,
    ) -> None:
        settings = settings or PortalSettings.model_construct()
        # The in-memory backends are loaded by name, as configured ones are: the core
        # names no concrete backend.
        rt = Runtime(
            storage if storage is not None else _build_storage(settings, "memory"),
            mailer if mailer is not None else _build_mailer(settings, "memory"),
            settings=settings,
            clock=clock or SystemClock(),
        )
        self._runtime = rt
        # The one place that knows every service: each gets the runtime and what it calls.
        store = assets if assets is not None else _build_assets(settings, "memory")
        # The outbox reads the customers' e-mail logos it sends inline from the asset store.
        outbox = Outbox(rt, assets=store)
        links = LinkMail(rt, outbox=outbox)
        self.access = AccessService(rt, outbox=outbox)
        self.assets = AssetService(rt, store)
        self.audit = AuditService(rt, access=self.access)
        self.mail = MailService(rt, outbox=outbox, access=self.access)
        self.vendors = VendorService(rt)
        self.customers = CustomerService(rt, access=self.access)
        self.locations = LocationService(rt, access=self.access)
        self.contacts = ContactService(rt, access=self.access)
        self.accounts = AccountService(rt, access=self.access, outbox=outbox, links=links)
        self.memberships = MembershipService(rt, access=self.access)
        self.profiles = ProfileService(rt, access=self.access)
        self.documents = DocumentService(rt, access=self.access, assets=self.assets)
        self.second_factor = SecondFactorService(rt, access=self.access, outbox=outbox, links=links)
        self.access_tokens = AccessTokenService(rt, access=self.access)
        self.passkeys = PasskeyService(rt)
        self.sessions = SessionService(rt, access=self.access)
        self.auth = AuthService(
            rt,
            access=self.access,
            second_factor=self.second_factor,
            access_tokens=self.access_tokens,
            passkeys=self.passkeys,
            sessions=self.sessions,
        )
        self.credentials = CredentialService(rt, access=self.access, outbox=outbox, links=links)
        self.sso = SsoService(
            rt, auth=self.auth, contacts=self.contacts, memberships=self.memberships
        )
        self.staff = StaffService(rt)
        self.inbox = InboxService(rt, access=self.access, outbox=outbox, staff=self.staff)
        self.work_requests = WorkRequestService(rt, access=self.access, inbox=self.inbox)
        self.tickets = TicketService(rt, access=self.access, inbox=self.inbox, assets=self.assets)
        self.registrations = RegistrationService(
            rt,
            outbox=outbox,
            links=links,
            profiles=self.profiles,
            contacts=self.contacts,
            accounts=self.accounts,
            memberships=self.memberships,
            credentials=self.credentials,
            inbox=self.inbox,
        )
        self.review = AccessReviewService(rt, access=self.access)
        self.branding = BrandingService(rt, assets=self.assets)
        # Retention: pruning what outlived its period, and erasing a person (GDPR art. 17).
        self.retention = RetentionService(rt)
        self.logins = LoginService(
            rt,
            access=self.access,
            accounts=self.accounts,
            contacts=self.contacts,
            memberships=self.memberships,
            credentials=self.credentials,
        )
        # CSV import and export: each imported row goes through the services above.
        self.imports = ImportService(
            rt,
            customers=self.customers,
            locations=self.locations,
            contacts=self.contacts,
            accounts=self.accounts,
            memberships=self.memberships,
            credentials=self.credentials,
        )
        self.exports = ExportService(rt)
        # The shop: the vendor's catalogue and prices (staff), and the member's view of them.
        self.catalogue = CatalogueService(rt, access=self.access)
        self.groups = GroupService(rt, access=self.access)
        self.assortments = AssortmentService(rt, access=self.access)
        self.pricing = PricingService(rt, access=self.access)
        # Copying settings between customers reaches their branding and shop settings.
        self.copying = CopyingService(
            rt,
            customers=self.customers,
            assortments=self.assortments,
            pricing=self.pricing,
            groups=self.groups,
        )
        self.provisioning = ProvisioningService(
            rt,
            customers=self.customers,
            locations=self.locations,
            contacts=self.contacts,
            accounts=self.accounts,
            memberships=self.memberships,
            profiles=self.profiles,
            credentials=self.credentials,
            copying=self.copying,
            branding=self.branding,
        )
        self.devices = DeviceService(rt, access=self.access)
        self.shop = ShopService(rt, access=self.access)
        # Orders and quotes: ``on_filed`` is where the vendor inbox takes in what they file.
        self.orders = OrderService(rt, access=self.access, outbox=outbox)
        self.quotes = QuoteService(rt, access=self.access, orders=self.orders)
        self.cart = CartService(
            rt, access=self.access, shop=self.shop, orders=self.orders, quotes=self.quotes
        )
        # What the shop files lands in the vendor's inbox, in the same transaction.
        self.orders.on_filed = self.quotes.on_filed = _inbox_filing(self.inbox)
        # Every public attribute set above is a service: each refusal it raises is audited.
        # An access context passed as the actor stands for it: built once per request.
        # An access token's actor works only in the services open to tokens.
        for name, service in vars(self).items():
            if service is not rt:
                rt.watch(service, adopt=self.access.adopter, tokens=name in TOKEN_SERVICES)

    # The shared pieces live in the runtime; setting one here sets it for every service.
    @property
    def storage(self) -> Storage:
        """The storage backend."""
        return self._runtime.storage

    @storage.setter
    def storage(self, storage: Storage) -> None:
        self._runtime.storage = storage

    @property
    def mailer(self) -> Mailer:
        """The mailer the outbox delivers through."""
        return self._runtime.mailer

    @mailer.setter
    def mailer(self, mailer: Mailer) -> None:
        self._runtime.mailer = mailer

    @property
    def settings(self) -> PortalSettings:
        """The settings this portal runs with."""
        return self._runtime.settings

    @settings.setter
    def settings(self, settings: PortalSettings) -> None:
        self._runtime.settings = settings

    @property
    def clock(self) -> Clock:
        """The clock every timestamp comes from."""
        return self._runtime.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._runtime.clock = clock

    @property
    def hasher(self) -> PasswordHasher:
        """The password hasher (Argon2id with the ``PORTALKIT_ARGON2_*`` parameters).

        Assign another :class:`~portalkit.passwords.PasswordHasher` to change it, say with
        cheaper parameters in a test suite.
        """
        return self._runtime.hasher

    @hasher.setter
    def hasher(self, hasher: PasswordHasher) -> None:
        self._runtime.hasher = hasher

    @property
    def _current(self) -> ContextVar[_Transaction | None]:
        # The current transaction, if any (a test looks at it).
        return self._runtime.current

    @classmethod
    def from_settings(
        cls,
        settings: PortalSettings | None = None,
        *,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> Portal:
        """Build the portal the settings describe (``PORTALKIT_*`` variables, ``.env``).

        With the defaults: a SQLite file ``portalkit.db`` whose schema is created or upgraded
        on the spot, mail printed to the console, and uploaded files in ``assets/`` beside
        the database file.
        """
        if settings is not None and overrides:
            settings = load_settings(**{**settings.model_dump(), **overrides})
        settings = settings or load_settings(**overrides)
        storage = _build_storage(settings, settings.storage)
        migrate = settings.auto_migrate
        if migrate is None:
            migrate = settings.storage == "sqlalchemy" and settings.database_url.startswith(
                "sqlite"
            )
        if migrate:
            storage.upgrade_schema()
        return cls(
            storage,
            _build_mailer(settings, settings.mail_backend),
            settings=settings,
            clock=clock,
            assets=_build_assets(settings, settings.asset_store),
        )

    def transaction(
        self, *, read_only: bool = False, session: Any = None
    ) -> AbstractContextManager[UnitOfWork]:
        """Run the block in one transaction: commit at the end, roll back on any exception.

        Nested blocks (and the services called inside) join the outer transaction. A storage
        failure inside it, such as a Conflict, spoils the whole transaction: it rolls back
        even if the exception is caught inside the block.

        ``read_only=True`` (for the outermost block) refuses every write with PortalError;
        on SQLite such a transaction reads its snapshot without waiting for writers.

        The host's writes join it through ``uow.connection`` (SQL storage): a SQLAlchemy
        ``Session(bind=uow.connection, join_transaction_mode="create_savepoint")`` or Core
        statements on it commit when the block does, and the mail the block queued is
        delivered after that commit.

        ``session=`` (a SQLAlchemy ``Session`` of the host's, on the same database) makes
        the block join the host's transaction instead: at its end portalkit's changes are
        written into it (an exception undoes portalkit's part only), and the host commits
        or rolls back the whole. Mail is delivered after the host's commit, and never if it
        rolls back; refusals are audited once the host's transaction is over. See
        docs/host-integration.md.
        """
        return self._runtime.transaction(read_only=read_only, session=session)

    def default_vendor(self, name: str | None = None) -> Vendor:
        """The vendor of a single-vendor host (code from ``PORTALKIT_DEFAULT_VENDOR``),
        created on first use.

        ``name`` is its display name: given, the vendor is created with it, or renamed to it
        when it has another (so the host's configured name wins at the next start); without
        it, a new vendor is named after its code and an existing one keeps its name.
        """
        platform = System()
        code = self.settings.default_vendor
        with self.transaction() as uow:
            found = uow.vendors.get_by_code(code)
            if found is None:
                return self.vendors.create(platform, code=code, name=name or code)
            if name is not None and name != found.name:
                return self.vendors.rename(platform, found, name)
            return found

    def close(self) -> None:
        """Release the storage's connections."""
        self.storage.close()


def _inbox_filing(inbox: InboxService) -> Callable[[UnitOfWork, object], None]:
    """The shop's ``on_filed`` hook: a placed order and a quote request become inbox items
    (no amount in them: members see their own items); a sent quote moves its request's item
    on to "in progress", since the customer is now to answer."""

    def filed(uow: UnitOfWork, record: object) -> None:
        if isinstance(record, Order) and record.status is OrderStatus.PLACED:
            kind, title = "order", f"Order {record.number}"
        elif isinstance(record, Quote) and record.status is QuoteStatus.REQUESTED:
            kind, title = "quote_request", f"Quote request {record.number}"
        elif isinstance(record, Quote) and record.status is QuoteStatus.SENT:
            inbox.settle(
                uow,
                System(vendor_id=record.vendor_id),
                record.vendor_id,
                kind="quote_request",
                reference=record.id,
                status=InboxStatus.IN_PROGRESS,
            )
            return
        else:
            return
        membership = uow.memberships.get(record.vendor_id, record.membership_id)
        filer = member_of(membership) if membership is not None else None
        inbox.file(
            uow,
            record.vendor_id,
            kind=kind,
            title=title,
            reference=record.id,
            customer_id=record.customer_id,
            filer=filer,
            details={"number": record.number, "lines": len(record.lines)},
        )

    return filed


_MAILERS = {
    "console": "portalkit.mail.console.ConsoleMailer",
    "memory": "portalkit.mail.memory.MemoryMailer",
    "file": "portalkit.mail.file.FileMailer",
    "smtp": "portalkit.mail.smtp.SmtpMailer",
}

_BACKENDS = {
    "sqlalchemy": "portalkit.storage.sqlalchemy.SqlStorage",
    "memory": "portalkit.storage.memory.MemoryStorage",
}


def _plugin(settings: PortalSettings, variable: str, name: str, known: dict[str, str]) -> Any:
    """Build a storage or mail backend named by a short name or a dotted path.

    Backends are named by dotted path, so the core never imports a concrete one; each is a
    class with a ``from_settings(settings)`` method.
    """
    module_name, _, attr = known.get(name, name).rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attr).from_settings
    except (ImportError, AttributeError, ValueError) as exc:
        if isinstance(exc, PortalError):  # ImproperlyInstalled names the missing extra
            raise
        raise ConfigurationError(
            f"PORTALKIT_{variable}: {name!r} is neither one of {', '.join(known)} nor the "
            f"dotted path of a class with a from_settings() method ({exc})"
        ) from None
    return factory(settings)


_ASSET_STORES = {
    "filesystem": "portalkit.assets.filesystem.FilesystemAssetStore",
    "memory": "portalkit.assets.memory.MemoryAssetStore",
}


def _build_assets(settings: PortalSettings, name: str) -> AssetStore:
    store: AssetStore = _plugin(settings, "ASSET_STORE", name, _ASSET_STORES)
    return store


def _build_mailer(settings: PortalSettings, name: str) -> Mailer:
    mailer: Mailer = _plugin(settings, "MAIL_BACKEND", name, _MAILERS)
    return mailer


def _build_storage(settings: PortalSettings, name: str) -> Storage:
    storage: Storage = _plugin(settings, "STORAGE", name, _BACKENDS)
    return storage
