"""Small pieces every service uses: turning ids or records into ids, loading within scope,
and the optimistic-locking update step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

import attrs

from portalkit._guard import require_admin
from portalkit.errors import ConcurrentModification, NotFound, ValidationError
from portalkit.staffrights import StaffPermission

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.accounts.model import Account
    from portalkit.actors import Actor, Member
    from portalkit.storage.base import Repository, UnitOfWork

MAX_PAGE = 1000


class _Versioned(Protocol):
    # Read-only, so that frozen attrs records match.
    @property
    def id(self) -> UUID: ...

    @property
    def version(self) -> int: ...


R = TypeVar("R", bound=_Versioned)


def ident(field: str, value: object) -> UUID:
    """Accept a record or its id (UUID or UUID string) and return the id."""
    if isinstance(value, UUID):
        return value
    record_id = getattr(value, "id", None)
    if isinstance(record_id, UUID):
        return record_id
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise ValidationError.single(field, "not_an_id", "must be a record or its id")


def seen_version(value: object, explicit: object = None) -> int | None:
    """The version the caller last saw: given explicitly (say, from a form's hidden field),
    or taken from the record it passed; None when it passed only an id."""
    if explicit is not None:
        if not isinstance(explicit, int) or isinstance(explicit, bool) or explicit < 1:
            raise ValidationError.single(
                "expected_version", "out_of_range", "must be a version number (1 or more)"
            )
        return explicit
    if isinstance(value, UUID | str):
        return None  # a UUID's own `version` attribute is its UUID version, not ours
    version = getattr(value, "version", None)
    return version if isinstance(version, int) else None


def load(repo: Repository[R], vendor_id: UUID, kind: str, value: object, field: str) -> R:
    """Load a record of the vendor or raise NotFound (also for another vendor's id)."""
    record_id = ident(field, value)
    found = repo.get(vendor_id, record_id)
    if found is None:
        raise NotFound(kind, record_id)
    return found


def page(limit: object, offset: object) -> tuple[int, int]:
    """Check paging arguments: a limit of 1–1000 and a non-negative offset."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError.single(
            "limit", "out_of_range", "must be 1 to {limit}", limit=MAX_PAGE
        )
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValidationError.single("offset", "out_of_range", "must be 0 or more")
    return limit, offset


def save(
    repo: Repository[R], current: R, seen_version: int | None, what: str, /, **fields: Any
) -> R:
    """Write ``current`` with ``fields`` changed and its version bumped, guarding lost updates.

    ``seen_version`` is the version the caller read (when it passed a record); a mismatch with
    the stored one means someone else wrote in between. ``what`` names the record in errors.
    """
    if seen_version is not None and seen_version != current.version:
        raise ConcurrentModification(what, current.id)
    updated = attrs.evolve(current, version=current.version + 1, **fields)  # type: ignore[misc]
    repo.update(updated, current.version)
    return updated


def set_fields(
    rt: Runtime,
    actor: Actor,
    permission: StaffPermission,
    pick: Callable[[UnitOfWork], Repository[R]],
    what: str,
    record: object,
    /,
    **fields: Any,
) -> R:
    """Set a few fields of a record as an administrator holding the staff ``permission``
    (activate, deactivate, …).

    Nothing is written, and the version stays, when the record already has those values.
    """
    vendor_id = require_admin(actor, permission)
    with rt.transaction() as uow:
        repo = pick(uow)
        current = load(repo, vendor_id, what, record, what)
        if all(getattr(current, name) == value for name, value in fields.items()):
            return current
        return save(repo, current, seen_version(record), what, **fields)


def prove_password(
    rt: Runtime,
    actor: Member,
    proof: object,
    *,
    failure: str,
    field: str = "current",
    alternative: Callable[[Account], bool] | None = None,
) -> tuple[Account, bool]:
    """Check that the member knows its account's current password before a change a stolen
    session alone must not make (a new password, a second factor, a passkey); raise
    ValidationError on ``field`` otherwise, after recording the audit event ``failure``.

    Each try takes a number on the account's login counter before the check, so tries in
    parallel are bounded too, and a locked account refuses them all; a right one gives its
    number back. ``alternative`` may accept another proof instead (an unused recovery code):
    it is asked only while not locked, and the password hasher runs once on every path, so
    the time does not tell which proof worked. Returns the account as read and whether the
    alternative was the proof. Runs in transactions of its own; the hasher runs outside them.
    """
    vendor_id = actor.vendor_id
    settings = rt.settings
    now = rt.clock.now()
    window_start = now - timedelta(seconds=settings.login_window_seconds)
    text = proof if isinstance(proof, str) and len(proof) <= 1000 else ""
    with rt.transaction() as uow:
        account = load(uow.accounts, vendor_id, "account", actor.account_id, "account")
        key = rt.account_key(vendor_id, account)
        locked = uow.throttle_hit(key, now, window_start) > settings.login_max_failures
    other = not locked and alternative is not None and alternative(account)
    if locked or other or account.password_hash is None:
        rt.hasher.dummy_verify(text)
        right = other
    else:
        right = rt.hasher.verify(text, account.password_hash)
    with rt.transaction() as uow:
        if right:
            uow.throttle_clear([key])  # the try's number is given back
        else:
            rt.record(
                uow,
                vendor_id=vendor_id,
                action=failure,
                real=actor,
                customer_id=actor.customer_id,
                target=f"account:{account.id}",
                reason="throttled"
                if locked
                else ("wrong_proof" if alternative else "wrong_current_password"),
                outcome="failure",
            )
    if not right:
        if alternative is not None:
            raise ValidationError.single(
                field, "incorrect", "neither the password nor a recovery code"
            )
        raise ValidationError.single(field, "incorrect", "the current password is not correct")
    return account, other
