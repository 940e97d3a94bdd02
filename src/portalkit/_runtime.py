"""The runtime every service shares: transactions over the storage, the clock, the settings,
the password hasher, the audit trail and the mail-sealing key.

A service receives the runtime and the other services it calls in its constructor; only
:class:`~portalkit.portal.Portal` builds them all and wires them together. The runtime knows
no service, so every service can depend on it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from portalkit import _validation as v
from portalkit._guard import legacy_rights, refuse_token
from portalkit._ids import ordered_id
from portalkit.actors import Actor, Member, Staff, System
from portalkit.audit.model import AuditEvent, describe
from portalkit.clock import Clock
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
from portalkit.mail.base import Mailer
from portalkit.passwords import PasswordHasher
from portalkit.settings import PortalSettings
from portalkit.storage.base import (
    HostJoinable,
    HostTransactions,
    QuickGenerations,
    Storage,
    UnitOfWork,
)
from portalkit.throttle import account_throttle_key, throttle_key

if TYPE_CHECKING:
    from portalkit.accounts.model import Account
    from portalkit.sessions.model import SessionRecord

__all__ = ["Runtime"]

log = logging.getLogger("portalkit")

# Raised by services before their first write, so the transaction they ran in is still sound.
_HARMLESS = (ValidationError, NotFound, PermissionDenied, InvalidToken, RateLimited)

# The host's request id, tagged on every audit event recorded while it is set.
_request_id: ContextVar[str] = ContextVar("portalkit-request-id", default="")

# Set while a watched call runs, so a refusal is recorded once, by the outermost call.
_watching: ContextVar[bool] = ContextVar("portalkit-watching", default=False)


class _Transaction:
    __slots__ = (
        "after_commit",
        "after_end",
        "after_rollback",
        "bag",
        "ended",
        "failed",
        "host",
        "uow",
    )

    def __init__(self, uow: UnitOfWork, host: object = None) -> None:
        self.uow = uow
        # The host's session whose transaction this one joined (None: portalkit's own).
        self.host = host
        # Whether the host's transaction is over already (it may end inside the block).
        self.ended = False
        self.failed: BaseException | None = None
        self.after_commit: list[Callable[[], None]] = []
        self.after_end: list[Callable[[], None]] = []
        # Undo what lives outside the database (files written for the block) if it fails.
        self.after_rollback: list[Callable[[], None]] = []
        self.bag: dict[str, Any] = {}


Adopt = Callable[[object], "tuple[Any, Callable[[], None]] | None"]
"""What :meth:`Runtime.watch` calls on a call's actor argument: None to leave it, or the
actor to pass instead and what to call once the call has returned."""


def _run_once(actions: list[Callable[[], None]]) -> None:
    """Run and forget ``actions``, so none of them runs twice."""
    while actions:
        actions.pop(0)()


def _undo_all(actions: list[Callable[[], None]]) -> None:
    """Run and forget the rollback ``actions``, newest first; one that fails is logged and
    the others still run, so the error that caused the rollback is the one the caller sees."""
    while actions:
        action = actions.pop()
        try:
            action()
        except Exception:
            log.exception("could not undo a rolled-back transaction's work outside storage")


class Runtime:
    """What all services of one portal share. ``storage``, ``mailer``, ``settings``,
    ``clock`` and ``hasher`` may be replaced (the portal's attributes of those names set
    them here), and every service sees the new one."""

    def __init__(
        self, storage: Storage, mailer: Mailer, *, settings: PortalSettings, clock: Clock
    ) -> None:
        self.storage = storage
        self.mailer = mailer
        self.settings = settings
        self.clock = clock
        self.current: ContextVar[_Transaction | None] = ContextVar(
            f"portalkit-transaction-{id(self)}", default=None
        )
        self._hasher: PasswordHasher | None = None
        # Which optional protocols the storage speaks, by storage (it may be replaced): a
        # Protocol isinstance check costs more than the one-statement read it guards.
        self._speaks: tuple[object, bool, bool] | None = None

    # -- shared pieces ----------------------------------------------------------------------
    @property
    def hasher(self) -> PasswordHasher:
        """The password hasher, built from the ``PORTALKIT_ARGON2_*`` settings on first use."""
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

    @property
    def throttle_secret(self) -> bytes:
        """The key of the throttle counters' HMAC (``PORTALKIT_SECRET_KEY``)."""
        return self.settings.secret_key.get_secret_value().encode()

    def throttle_key(self, kind: str, vendor_id: UUID, value: str) -> str:
        """A throttle counter's key under this portal's ``PORTALKIT_SECRET_KEY``."""
        return throttle_key(kind, vendor_id, value, self.throttle_secret)

    def account_key(self, vendor_id: UUID, account: Account | None, typed: str = "") -> str:
        """An account's (or a typed unknown login's) failed-login counter under this
        portal's secret."""
        return account_throttle_key(vendor_id, account, typed, self.throttle_secret)

    def seal(self, plain: str) -> str:
        """Encrypt ``plain`` under the first ``PORTALKIT_MAIL_ENCRYPTION_KEY``."""
        return str(self._fernet().encrypt(plain.encode()).decode())

    def open(self, sealed: str) -> str:
        """Decrypt what :meth:`seal` made, under any of the configured keys."""
        return str(self._fernet().decrypt(sealed.encode()).decode())

    def _fernet(self) -> Any:
        from cryptography.fernet import Fernet, MultiFernet  # only mail with secrets needs it

        keys = self.settings.mail_encryption_key.get_secret_value()
        if not keys:
            raise ConfigurationError(
                "PORTALKIT_MAIL_ENCRYPTION_KEY: needed to queue mail that carries a secret; "
                "make one with `portalkit mail new-key`"
            )
        try:
            # Several keys, comma-separated: the first encrypts, all decrypt (key rotation).
            return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
        except ValueError:
            raise ConfigurationError(
                "PORTALKIT_MAIL_ENCRYPTION_KEY: not a Fernet key (32 url-safe base64 bytes)"
            ) from None

    # -- transactions -----------------------------------------------------------------------
    @contextmanager
    def transaction(
        self, *, read_only: bool = False, session: object = None
    ) -> Iterator[UnitOfWork]:
        """Run the block in one transaction, portalkit's own or the host ``session``'s (see
        :meth:`Portal.transaction <portalkit.portal.Portal.transaction>`)."""
        current = self.current.get()
        if current is not None:
            if session is not None and session is not current.host:
                raise PortalError(
                    "transaction(session=…) inside another portal transaction: join the "
                    "host's session in the outermost block"
                )
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
        if session is None:
            # A storage on the host's own connection (the Django adapter's) joins the
            # host's transaction under way, as if it had been passed.
            session = self._ambient()
        if session is None:
            tx = _Transaction(self.storage.begin(read_only=read_only))
        else:
            tx = self._join(session, read_only)
        uow = tx.uow
        token = self.current.set(tx)
        try:
            yield uow
            if tx.failed is not None:
                raise PortalError(
                    "the transaction was rolled back because of an earlier error"
                ) from tx.failed
            uow.commit()
        except BaseException:
            uow.rollback()
            # Nothing of the block stays, so nothing of it is delivered, whatever the host does.
            tx.after_commit.clear()
            _undo_all(tx.after_rollback)
            raise
        finally:
            self.current.reset(token)
            if session is None or tx.ended:
                # A refusal after the host ended its transaction inside the block has no
                # host's end left to wait for.
                _run_once(tx.after_end)
        if session is None:
            tx.after_rollback.clear()
            _run_once(tx.after_commit)

    def _join(self, session: object, read_only: bool) -> _Transaction:
        """A transaction inside the host's: its after-commit work waits for the host's
        commit, its after-end work (the audit of refusals) for the host's commit or
        rollback, since on SQLite no other transaction can write until then."""
        storage = self.storage
        if not isinstance(storage, HostJoinable):
            raise PortalError(
                f"transaction(session=…): {type(storage).__name__} cannot join a host's "
                "transaction; use the SQL storage (PORTALKIT_STORAGE=sqlalchemy)"
            )
        tx: _Transaction | None = None

        def host_ended(committed: bool) -> None:
            assert tx is not None
            tx.ended = True
            # The host may end its transaction inside the block: what waited for that end
            # runs in transactions of its own, never nested in the joined one, which is dead
            # and would take the refusals' audit down with it.
            token = self.current.set(None)
            try:
                _run_once(tx.after_end)
                if committed:
                    tx.after_rollback.clear()
                    _run_once(tx.after_commit)
                else:
                    tx.after_commit.clear()
                    _undo_all(tx.after_rollback)
            finally:
                self.current.reset(token)

        tx = _Transaction(
            storage.join(session, read_only=read_only, when_host_ends=host_ended), host=session
        )
        return tx

    def in_transaction(self) -> bool:
        """Whether the caller is inside a transaction of this portal."""
        return self.current.get() is not None

    def transaction_bag(self) -> dict[str, Any]:
        """A dict that lives as long as the current transaction, for services to gather what
        they do once at commit (such as one mail delivery for all of its messages)."""
        current = self.current.get()
        if current is None:
            raise PortalError("transaction_bag needs a transaction")
        return current.bag

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the current transaction has committed (never if it rolls back).

        The action must not raise: the change it follows is already done.
        """
        current = self.current.get()
        if current is None:
            raise PortalError("after_commit needs a transaction")
        current.after_commit.append(action)

    def on_rollback(self, action: Callable[[], None]) -> None:
        """Run ``action`` if the current transaction rolls back (never if it commits): to
        take back what the block did outside storage, such as a file it wrote.

        Actions run newest first, right after the rollback; in a transaction joined to the
        host's (``transaction(session=…)``) also when the host rolls its own back. One that
        raises is logged and the others still run.
        """
        current = self.current.get()
        if current is None:
            raise PortalError("on_rollback needs a transaction")
        current.after_rollback.append(action)

    def standalone(self, what: str) -> None:
        """Refuse to run inside a caller's transaction: what ``what`` records (failed logins,
        throttle counts) must stay even when the caller's change rolls back."""
        if self.current.get() is not None or self._ambient() is not None:
            # The host's transaction under way (the Django adapter's ``atomic()``) would
            # take the records with it just the same.
            raise PortalError(f"{what} runs in a transaction of its own; call it outside one")

    def quick_rights_generation(self, vendor_id: UUID) -> int | None:
        """The vendor's committed rights generation read in one statement, when no
        transaction is under way (portalkit's or the host's) and the storage can
        (:class:`~portalkit.storage.base.QuickGenerations`); None otherwise — then read it in
        a unit of work, which also sees the changes of the transaction under way."""
        quick, _host = self._protocols()
        if not quick or self.current.get() is not None or self._ambient() is not None:
            return None
        return cast(QuickGenerations, self.storage).read_rights_generation(vendor_id)

    def quick_session(
        self, vendor_id: UUID, session_id: UUID
    ) -> tuple[int, SessionRecord | None] | None:
        """The vendor's committed rights generation and one of its sessions, read together
        in one statement, as :meth:`quick_rights_generation` reads the number alone; None
        when that cannot be done (then read both in a unit of work)."""
        quick, _host = self._protocols()
        if not quick or self.current.get() is not None or self._ambient() is not None:
            return None
        return cast(QuickGenerations, self.storage).read_session(vendor_id, session_id)

    def _protocols(self) -> tuple[bool, bool]:
        # (QuickGenerations, HostTransactions) for the storage of the moment.
        storage = self.storage
        speaks = self._speaks
        if speaks is None or speaks[0] is not storage:
            speaks = self._speaks = (
                storage,
                isinstance(storage, QuickGenerations),
                isinstance(storage, HostTransactions),
            )
        return speaks[1], speaks[2]

    def _ambient(self) -> object | None:
        """The host's transaction a storage on the host's connection would join, or None."""
        if not self._protocols()[1]:
            return None
        return cast(HostTransactions, self.storage).ambient()

    # -- the audit trail --------------------------------------------------------------------
    def record(
        self,
        uow: UnitOfWork,
        *,
        vendor_id: UUID,
        action: str,
        real: Actor,
        effective: Actor | None = None,
        customer_id: UUID | None = None,
        target: str = "",
        reason: str = "",
        outcome: str = "success",
        **details: Any,
    ) -> AuditEvent:
        """Append an event in the caller's transaction: it commits or rolls back with the
        change.

        A view-as-customer actor as ``real`` is recorded as what it is: the staff member at
        the keyboard, acting as the member (``effective``).
        """
        if isinstance(real, Member) and real.impersonator is not None and effective is None:
            real, effective = Staff(vendor_id=vendor_id, user_id=real.impersonator), real
        request_id = _request_id.get()
        if request_id:
            details = {**details, "request_id": request_id}
        now = self.clock.now()
        event = AuditEvent(
            id=ordered_id(now),
            vendor_id=vendor_id,
            at=now,
            action=action,
            outcome=outcome,
            real_actor=describe(real),
            effective_actor=describe(effective) if effective else "",
            customer_id=customer_id,
            target=target,
            reason=reason,
            details=details,
        )
        uow.audit.add(event)
        return event

    @contextmanager
    def tagged(self, request_id: str) -> Iterator[None]:
        """Tag every event recorded inside the block with ``request_id`` (checked already)."""
        token = _request_id.set(request_id)
        try:
            yield
        finally:
            _request_id.reset(token)

    def record_later(
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
            try:
                with self.transaction() as uow:
                    if before is not None:
                        before(uow)
                    self.record(uow, vendor_id=vendor_id, outcome="failure", **event)
            except PortalError:
                log.exception("could not record a refused call in the audit log")

        current = self.current.get()
        if current is not None:
            current.after_end.append(write)
            return
        host = self._ambient()
        if host is None:
            write()
        else:
            # Refused before its transaction began, inside the host's (the Django adapter's
            # ``atomic()``): written once the host's ends, so its rollback cannot take it.
            assert isinstance(self.storage, HostTransactions)
            self.storage.when_ended(host, lambda committed: write())

    def note_denial(self, actor: object, where: str, exc: PortalError) -> None:
        """Record a refused call (``authz_fail``, or ``rate_limited`` for RateLimited) in the
        audit log once the caller's transaction (if any) has ended, so a rollback cannot take
        it away."""
        if not isinstance(actor, Staff | Member | System) or actor.vendor_id is None:
            return
        self.record_later(
            actor.vendor_id,
            action="rate_limited" if isinstance(exc, RateLimited) else "authz_fail",
            real=actor,
            target=where,
            reason=str(exc)[:500],
        )

    @staticmethod
    def watching() -> bool:
        """Whether a watched service call is running: that call records a refusal once."""
        return _watching.get()

    def watch(self, service: object, *, adopt: Adopt | None = None, tokens: bool = False) -> None:
        """Wrap a service's public methods so that every PermissionDenied they raise is also
        an ``authz_fail`` event in the audit log (H1), whichever service refused, and bad
        arguments are a ValidationError, not a TypeError.

        ``adopt`` turns what a caller passed as the actor (the first argument, or ``actor=``)
        into the actor itself, and says how to undo what it set up for the call: an access
        context built earlier in the request stands for its actor and is reused.

        Unless ``tokens`` (see :data:`~portalkit._guard.TOKEN_SERVICES`), every call refuses
        an access token's actor wherever it is passed, before the call begins.
        """
        for name in dir(type(service)):
            if name.startswith("_"):
                continue
            attribute = getattr(type(service), name)
            if isinstance(attribute, property) or not callable(attribute):
                continue
            setattr(
                service,
                name,
                self._watched(
                    getattr(service, name), f"{type(service).__name__}.{name}", adopt, tokens
                ),
            )

    def _watched(
        self, method: Callable[..., Any], where: str, adopt: Adopt | None, tokens: bool = False
    ) -> Callable[..., Any]:
        signature = inspect.signature(method)
        # Only the parameter that takes the acting party is adopted, never another argument.
        first = next(iter(signature.parameters), "")
        acting = first if first in ("actor", "staff") else None

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            adopted = None
            if adopt is not None and acting is not None:
                if args:
                    adopted = adopt(args[0])
                    if adopted is not None:
                        args = (adopted[0], *args[1:])
                elif acting in kwargs:
                    adopted = adopt(kwargs[acting])
                    if adopted is not None:
                        kwargs = {**kwargs, acting: adopted[0]}
            if acting is not None and self.settings.staff_permissions == "legacy":
                # The host opted in: a Staff with no permissions keeps its old rights.
                if args:
                    args = (legacy_rights(args[0]), *args[1:])
                elif acting in kwargs:
                    kwargs = {**kwargs, acting: legacy_rights(kwargs[acting])}
            if adopted is None:
                return guarded(*args, **kwargs)
            try:
                return guarded(*args, **kwargs)
            finally:
                adopted[1]()

        def closed(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if not tokens:
                # Every argument, not only the actor's: a token's actor passed under any
                # name is refused by a service that is not open to tokens.
                for value in (*args, *kwargs.values()):
                    refuse_token(value)

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if _watching.get():
                closed(args, kwargs)
                return method(*args, **kwargs)
            token = _watching.set(True)
            try:
                closed(args, kwargs)
                return method(*args, **kwargs)
            except TypeError:
                # Unknown or missing arguments (``password_hash=…``) are bad input, not a crash.
                _check_arguments(signature, where, args, kwargs)
                raise
            except (PermissionDenied, RateLimited) as exc:
                # The acting party by its own name: view_as(staff=...) is refused on record too.
                self.note_denial(args[0] if args else kwargs.get(acting or "actor"), where, exc)
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
        Problem(
            name[:100],
            "unknown_field",
            "{where} takes no argument {name}",
            {"where": where, "name": v.shown(name)},
        )
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
        problems = [
            Problem(
                "arguments", "invalid", "{where} was called with wrong arguments", {"where": where}
            )
        ]
    raise ValidationError(problems) from None
