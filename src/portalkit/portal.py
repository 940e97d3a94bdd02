"""The :class:`Portal` facade: one object a host app keeps, holding every service.

Example::

    from portalkit import Portal, Staff, System

    portal = Portal.from_settings()          # SQLite file portalkit.db, console mail
    vendor = portal.default_vendor()
    staff = Staff(vendor_id=vendor.id, user_id="planner-1")
    acme = portal.customers.create(staff, code="ACME", name="Acme B.V.")

Every service call runs in a transaction. Group calls into one with
``with portal.transaction():`` — all of them commit together, or none does.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from portalkit import _validation as v
from portalkit.access import AccessService
from portalkit.accounts.service import AccountService
from portalkit.actors import Member, Staff, System
from portalkit.audit.service import AuditService
from portalkit.auth import AuthService
from portalkit.clock import Clock, SystemClock
from portalkit.credentials import CredentialService
from portalkit.customers.service import ContactService, CustomerService, LocationService
from portalkit.errors import (
    ConfigurationError,
    InvalidToken,
    NotFound,
    PermissionDenied,
    PortalError,
    Problem,
    RateLimited,
    ValidationError,
)
from portalkit.logins import LoginService
from portalkit.mail import Mailer, MemoryMailer
from portalkit.memberships.service import MembershipService
from portalkit.outbox.service import MailService
from portalkit.passwords import PasswordHasher
from portalkit.profiles.service import ProfileService
from portalkit.registrations.service import RegistrationService
from portalkit.settings import PortalSettings, load_settings
from portalkit.storage.base import Storage, UnitOfWork
from portalkit.storage.memory import MemoryStorage
from portalkit.vendors.model import Vendor
from portalkit.vendors.service import VendorService

__all__ = ["Portal"]

log = logging.getLogger("portalkit")

# Raised by services before their first write, so the transaction they ran in is still sound.
_HARMLESS = (ValidationError, NotFound, PermissionDenied, InvalidToken, RateLimited)


class _Transaction:
    __slots__ = ("after_commit", "after_end", "bag", "failed", "uow")

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.failed: BaseException | None = None
        self.after_commit: list[Callable[[], None]] = []
        self.after_end: list[Callable[[], None]] = []
        self.bag: dict[str, Any] = {}


class Portal:
    """The entry point: services for vendors, customers, locations, contacts, accounts,
    memberships and permission profiles, on one storage backend and one mailer.

    ``Portal()`` with no arguments is an in-memory portal, as tests want it;
    :meth:`from_settings` builds the configured one.
    """

    def __init__(
        self,
        storage: Storage | None = None,
        mailer: Mailer | None = None,
        *,
        settings: PortalSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or PortalSettings.model_construct()
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.mailer: Mailer = mailer if mailer is not None else MemoryMailer()
        self.clock: Clock = clock or SystemClock()
        self._current: ContextVar[_Transaction | None] = ContextVar(
            f"portalkit-transaction-{id(self)}", default=None
        )
        self.access = AccessService(self)
        self.audit = AuditService(self)
        self.mail = MailService(self)
        self.vendors = VendorService(self)
        self.customers = CustomerService(self)
        self.locations = LocationService(self)
        self.contacts = ContactService(self)
        self.accounts = AccountService(self)
        self.memberships = MembershipService(self)
        self.profiles = ProfileService(self)
        self.auth = AuthService(self)
        self.credentials = CredentialService(self)
        self.registrations = RegistrationService(self)
        self.logins = LoginService(
            self,
            access=self.access,
            accounts=self.accounts,
            contacts=self.contacts,
            memberships=self.memberships,
            credentials=self.credentials,
        )
        for service in (
            self.access,
            self.audit,
            self.mail,
            self.vendors,
            self.customers,
            self.locations,
            self.contacts,
            self.accounts,
            self.memberships,
            self.profiles,
            self.auth,
            self.credentials,
            self.registrations,
            self.logins,
        ):
            _record_denials(self, service)
        self._hasher: PasswordHasher | None = None

    @property
    def hasher(self) -> PasswordHasher:
        """The password hasher (Argon2id with the ``PORTALKIT_ARGON2_*`` parameters).

        Assign another :class:`~portalkit.passwords.PasswordHasher` to change it, say with
        cheaper parameters in a test suite.
        """
        if self._hasher is None:
            settings = self.settings
            self._hasher = PasswordHasher(
                memory_kib=settings.argon2_memory_kib,
                iterations=settings.argon2_iterations,
                lanes=settings.argon2_lanes,
                max_length=settings.password_max_length,
            )
        return self._hasher

    @hasher.setter
    def hasher(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

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
        on the spot, and mail printed to the console.
        """
        if settings is not None and overrides:
            settings = load_settings(**{**settings.model_dump(), **overrides})
        settings = settings or load_settings(**overrides)
        storage = _build_storage(settings)
        migrate = settings.auto_migrate
        if migrate is None:
            migrate = settings.storage == "sqlalchemy" and settings.database_url.startswith(
                "sqlite"
            )
        if migrate:
            storage.upgrade_schema()
        return cls(storage, _build_mailer(settings), settings=settings, clock=clock)

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[UnitOfWork]:
        """Run the block in one transaction: commit at the end, roll back on any exception.

        Nested blocks (and the services called inside) join the outer transaction. A storage
        failure inside it, such as a Conflict, spoils the whole transaction: it rolls back
        even if the exception is caught inside the block.

        ``read_only=True`` (for the outermost block) refuses every write with PortalError;
        on SQLite such a transaction reads its snapshot without waiting for writers.
        """
        current = self._current.get()
        if current is not None:
            if current.failed is not None:
                raise PortalError(
                    "an earlier error spoiled this transaction; it will be rolled back"
                ) from current.failed
            try:
                yield current.uow
            except _HARMLESS:
                raise
            except BaseException as exc:
                current.failed = exc
                raise
            return
        uow = self.storage.begin(read_only=read_only)
        tx = _Transaction(uow)
        token = self._current.set(tx)
        try:
            yield uow
            if tx.failed is not None:
                raise PortalError(
                    "the transaction was rolled back because of an earlier error"
                ) from tx.failed
            uow.commit()
        except BaseException:
            uow.rollback()
            raise
        finally:
            self._current.reset(token)
            for action in tx.after_end:
                action()
        for action in tx.after_commit:
            action()

    def _transaction_bag(self) -> dict[str, Any]:
        """A dict that lives as long as the current transaction, for services to gather what
        they do once at commit (such as one mail delivery for all of its messages)."""
        current = self._current.get()
        if current is None:
            raise PortalError("_transaction_bag needs a transaction")
        return current.bag

    def _after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the current transaction has committed (never if it rolls back).

        The action must not raise: the change it follows is already done.
        """
        current = self._current.get()
        if current is None:
            raise PortalError("_after_commit needs a transaction")
        current.after_commit.append(action)

    @property
    def _throttle_secret(self) -> bytes:
        """The key of the throttle counters' HMAC (``PORTALKIT_SECRET_KEY``)."""
        return self.settings.secret_key.get_secret_value().encode()

    def _standalone(self, what: str) -> None:
        """Refuse to run inside a caller's transaction: what ``what`` records (failed logins,
        throttle counts) must stay even when the caller's change rolls back."""
        if self._current.get() is not None:
            raise PortalError(f"{what} runs in a transaction of its own; call it outside one")

    def _note_denial(self, actor: object, where: str, exc: PortalError) -> None:
        """Record a refused call (``authz_fail``, or ``rate_limited`` for RateLimited) in the
        audit log once the caller's transaction (if any) has ended, so a rollback cannot take
        it away."""
        if not isinstance(actor, Staff | Member | System) or actor.vendor_id is None:
            return
        self._record_later(
            actor.vendor_id,
            action="rate_limited" if isinstance(exc, RateLimited) else "authz_fail",
            real=actor,
            target=where,
            reason=str(exc)[:500],
        )

    def _record_later(
        self,
        vendor_id: Any,
        *,
        before: Callable[[UnitOfWork], None] | None = None,
        **event: Any,
    ) -> None:
        """Append a failure event (and do ``before`` in the same transaction, such as counting
        it on a throttle) in a transaction of its own, after the caller's transaction ends
        whichever way: what was refused stays on record even when the change rolls back."""

        def write() -> None:
            from portalkit.audit.service import record

            try:
                with self.transaction() as uow:
                    if before is not None:
                        before(uow)
                    record(self, uow, vendor_id=vendor_id, outcome="failure", **event)
            except PortalError:
                log.exception("could not record a refused call in the audit log")

        current = self._current.get()
        if current is None:
            write()
        else:
            current.after_end.append(write)

    def default_vendor(self) -> Vendor:
        """The vendor of a single-vendor host (code from ``PORTALKIT_DEFAULT_VENDOR``),
        created on first use."""
        platform = System()
        code = self.settings.default_vendor
        with self.transaction() as uow:
            found = uow.vendors.get_by_code(code)
            if found is not None:
                return found
            return self.vendors.create(platform, code=code, name=code)

    def close(self) -> None:
        """Release the storage's connections."""
        self.storage.close()


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


def _build_mailer(settings: PortalSettings) -> Mailer:
    mailer: Mailer = _plugin(settings, "MAIL_BACKEND", settings.mail_backend, _MAILERS)
    return mailer


def _build_storage(settings: PortalSettings) -> Storage:
    storage: Storage = _plugin(settings, "STORAGE", settings.storage, _BACKENDS)
    return storage


def _record_denials(portal: Portal, service: object) -> None:
    """Wrap a service's public methods so that every PermissionDenied they raise is also
    an ``authz_fail`` event in the audit log (H1), whichever service refused."""
    for name in dir(type(service)):
        if name.startswith("_"):
            continue
        attribute = getattr(type(service), name)
        if isinstance(attribute, property) or not callable(attribute):
            continue
        setattr(
            service,
            name,
            _watched(portal, getattr(service, name), f"{type(service).__name__}.{name}"),
        )


# Set while a watched call runs, so a refusal is recorded once, by the outermost call.
_watching: ContextVar[bool] = ContextVar("portalkit-watching", default=False)


def _watched(portal: Portal, method: Callable[..., Any], where: str) -> Callable[..., Any]:
    signature = inspect.signature(method)

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _watching.get():
            return method(*args, **kwargs)
        token = _watching.set(True)
        try:
            return method(*args, **kwargs)
        except TypeError:
            # Unknown or missing arguments (``password_hash=…``) are bad input, not a crash.
            _check_arguments(signature, where, args, kwargs)
            raise
        except (PermissionDenied, RateLimited) as exc:
            portal._note_denial(args[0] if args else kwargs.get("actor"), where, exc)
            raise
        finally:
            _watching.reset(token)

    return call


def _check_arguments(
    signature: inspect.Signature, where: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Raise ValidationError naming every unknown and missing argument of a call that does
    not fit ``signature``; return if it fits (the TypeError came from inside)."""
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        pass
    else:
        return
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    problems = [
        Problem(name[:100], "unknown_field", f"{where} takes no argument {v.shown(name)}")
        for name in kwargs
        if not takes_any and name not in params
    ]
    positional = [
        p.name
        for p in params.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    given = set(positional[: len(args)]) | set(kwargs)
    problems += [
        Problem(p.name, "required", "is required")
        for p in params.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in given
    ]
    if not problems:
        problems = [Problem("arguments", "invalid", f"{where} was called with wrong arguments")]
    raise ValidationError(problems) from None
