"""A member's sessions (``portal.sessions``): their lifetimes, the list, and ending one.

Every log-in makes a session record; the session value the host keeps names it and carries a
secret whose digest alone is stored. A session ends when it is unused for
``PORTALKIT_SESSION_IDLE_MINUTES``, ``PORTALKIT_SESSION_ABSOLUTE_HOURS`` after its log-in, when
the member (or staff) ends it, and — as before — when the account's or the membership's
stamps change. Example::

    current = session["portal"]                          # the value kept at log-in
    for s in portal.sessions.list(member, current=current):
        print(s.user_agent, s.last_seen_at, "this browser" if s.current else "")
    portal.sessions.end(member, some_id)                 # refused on its next request
    portal.sessions.end_others(member, current)          # every other browser logs out

Staff holding ``logins.manage`` list and end any account's sessions of their vendor:
``portal.sessions.list(staff, account=account)``, ``portal.sessions.end(staff, some_id)``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._ids import ordered_id
from portalkit._service import ident, load
from portalkit.actors import Actor, Member, System
from portalkit.errors import ConcurrentModification, NotFound, ValidationError
from portalkit.sessions.model import SessionRecord, SessionSummary
from portalkit.staffrights import LOGINS_MANAGE
from portalkit.tokens import new_token, token_digest

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.accounts.model import Account
    from portalkit.memberships.model import Membership
    from portalkit.storage.base import MemberFacts, UnitOfWork

__all__ = ["SessionService", "parse_session", "session_stamps"]

_CLIENT_KEY_MAX = 200
_USER_AGENT_MAX = 500
# A digest no secret has (hex is lowercase): an unknown session is compared as a known one.
_NO_DIGEST = "X" * 64


def session_stamps(account_stamp: str, membership_stamp: str) -> str:
    """The digest of the stamps a session record holds: the stamps themselves stay in
    their own tables."""
    return hashlib.sha256(f"{account_stamp}.{membership_stamp}".encode()).hexdigest()


def parse_session(value: object) -> tuple[UUID, str] | None:
    """The record id and the secret of a session value (``<id>.<secret>``), or None for
    anything else (an old three-part value too: it has no record, so it no longer holds)."""
    if not isinstance(value, str) or len(value) > 120 or not v.encodable(value):
        return None
    head, dot, secret = value.partition(".")
    if not dot or not secret or "." in secret:
        return None
    try:
        return UUID(head), secret
    except ValueError:
        return None


def _clip(text: object, most: int) -> str:
    # What the host says of a client is shown, never trusted: kept short and encodable.
    if not isinstance(text, str):
        return ""
    return "".join(c for c in text[:most] if c.isprintable() and v.encodable(c))


class SessionService:
    """Session records: made at log-in, checked on every request, listed and ended. Reached
    as ``portal.sessions``."""

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    # -- lifetimes ------------------------------------------------------------------------------
    def _idle(self) -> timedelta:
        return timedelta(minutes=self._rt.settings.session_idle_minutes)

    def _absolute(self) -> timedelta:
        return timedelta(hours=self._rt.settings.session_absolute_hours)

    def _live(self, record: SessionRecord, now: datetime) -> bool:
        """Whether the record itself still holds at ``now`` (not ended, not timed out)."""
        return (
            record.ended_at is None
            and now < record.last_seen_at + self._idle()
            and now < record.created_at + self._absolute()
        )

    # -- used by portal.auth ------------------------------------------------------------------
    def open(
        self,
        uow: UnitOfWork,
        account: Account,
        membership: Membership,
        now: datetime,
        *,
        client_key: str | None = None,
        user_agent: str | None = None,
    ) -> str:
        """Make the record of a new log-in in ``uow``; the session value for the host."""
        secret = new_token()
        record = SessionRecord(
            id=ordered_id(now),
            vendor_id=account.vendor_id,
            account_id=account.id,
            membership_id=membership.id,
            created_at=now,
            last_seen_at=now,
            digest=token_digest(secret),
            stamps=session_stamps(account.session_stamp, membership.session_stamp),
            client_key=_clip(client_key, _CLIENT_KEY_MAX),
            user_agent=_clip(user_agent, _USER_AGENT_MAX),
        )
        uow.sessions.add(record)
        return f"{record.id}.{secret}"

    def renew(
        self,
        uow: UnitOfWork,
        account: Account,
        membership: Membership,
        current: str | None,
        now: datetime,
    ) -> str:
        """The value for working as ``membership`` from now on: the record of ``current``
        (this browser's value) carried over — its log-in time stays, so no renewal buys a
        longer session — with a new secret and the stamps of now; a new record when
        ``current`` names no live session of the account."""
        found = self._own(uow, account, current, now)
        if found is None:
            return self.open(uow, account, membership, now)
        secret = new_token()
        renewed = attrs.evolve(
            found,
            membership_id=membership.id,
            digest=token_digest(secret),
            stamps=session_stamps(account.session_stamp, membership.session_stamp),
            last_seen_at=now,
            version=found.version + 1,
        )
        uow.sessions.update(renewed, found.version)
        return f"{found.id}.{secret}"

    def _own(
        self, uow: UnitOfWork, account: Account, current: str | None, now: datetime
    ) -> SessionRecord | None:
        """The live record ``current`` names, if its secret is right and it is the account's
        (its stamps may be old: renewing follows a change that renewed them)."""
        parsed = parse_session(current) if current is not None else None
        if parsed is None:
            return None
        record = uow.sessions.get(account.vendor_id, parsed[0])
        if record is None or record.account_id != account.id or not self._live(record, now):
            return None
        if not hmac.compare_digest(record.digest, token_digest(parsed[1])):
            return None
        return record

    def check(self, vendor_id: UUID, value: str) -> tuple[SessionRecord, MemberFacts] | None:
        """The record and the membership's facts of a session value that still holds (the
        right secret, not ended or timed out, stamps unchanged); None otherwise. Records that
        the session was seen, at most every ``PORTALKIT_SESSION_TOUCH_SECONDS``."""
        parsed = parse_session(value)
        if parsed is None:
            return None
        session_id, secret = parsed
        record, facts = self._access.session_facts(vendor_id, session_id)
        digest = record.digest if record is not None else _NO_DIGEST
        right = hmac.compare_digest(digest, token_digest(secret))
        if record is None or facts is None or not right:
            return None
        stamps = session_stamps(facts.account_session_stamp, facts.membership.session_stamp)
        now = self._rt.clock.now()
        if not hmac.compare_digest(record.stamps, stamps) or not self._live(record, now):
            return None
        if now - record.last_seen_at >= timedelta(seconds=self._rt.settings.session_touch_seconds):
            self._touch(record, now)
        return record, facts

    def _touch(self, record: SessionRecord, now: datetime) -> None:
        if self._rt.current.get() is not None:
            return  # inside a caller's transaction a write would be the caller's to undo
        try:
            with self._rt.transaction() as uow:
                seen = attrs.evolve(record, last_seen_at=now, version=record.version + 1)
                uow.sessions.update(seen, record.version)
        except (ConcurrentModification, NotFound):
            # Another request touched it first, or it was ended or pruned: nothing to record.
            pass

    # -- the member's and staff's calls -------------------------------------------------------
    def list(
        self, actor: Actor, *, account: Account | UUID | None = None, current: str | None = None
    ) -> list[SessionSummary]:
        """The sessions of an account that still hold, oldest first: a member's own (no
        ``account``), or any account's of the vendor for staff holding ``logins.manage``.
        ``current`` is the caller's own session value: that one is marked ``current``."""
        vendor_id, account_id = self._whose(actor, account)
        now = self._rt.clock.now()
        marked = parse_session(current) if current is not None else None
        with self._rt.transaction(read_only=True) as uow:
            found = load(uow.accounts, vendor_id, "account", account_id, "account")
            records = [
                r
                for r in uow.sessions.list(vendor_id, where={"account_id": found.id})
                if self._live(r, now)
            ]
            memberships = {
                m.id: m
                for m in uow.memberships.list_in(
                    vendor_id, "id", {r.membership_id for r in records}
                )
            }
        shown = []
        for r in records:
            membership = memberships.get(r.membership_id)
            if membership is None:
                continue
            stamps = session_stamps(found.session_stamp, membership.session_stamp)
            if not hmac.compare_digest(r.stamps, stamps):
                continue  # ended by a password change, a change of rights, "everywhere"
            mine = (
                marked is not None
                and marked[0] == r.id
                and hmac.compare_digest(r.digest, token_digest(marked[1]))
            )
            shown.append(
                SessionSummary(
                    id=r.id,
                    account_id=r.account_id,
                    customer_id=membership.customer_id,
                    created_at=r.created_at,
                    last_seen_at=r.last_seen_at,
                    idle_ends_at=min(
                        r.last_seen_at + self._idle(), r.created_at + self._absolute()
                    ),
                    ends_at=r.created_at + self._absolute(),
                    client_key=r.client_key,
                    user_agent=r.user_agent,
                    current=mine,
                )
            )
        return shown

    def end(self, actor: Actor, session: UUID | SessionSummary) -> None:
        """End one session: its next request is refused, on every server. A member ends its
        own account's sessions; staff holding ``logins.manage`` any of the vendor's. NotFound
        for a session the actor may not end (or that has ended already)."""
        vendor_id = vendor_of(actor)
        session_id = ident("session", session)
        now = self._rt.clock.now()
        for attempt in range(3):
            try:
                with self._rt.transaction() as uow:
                    record = uow.sessions.get(vendor_id, session_id)
                    if record is None or record.ended_at is not None:
                        raise NotFound("session", session_id)
                    self._whose(actor, record.account_id, quiet=session_id)
                    ended = attrs.evolve(record, ended_at=now, version=record.version + 1)
                    uow.sessions.update(ended, record.version)
                    self._rt.record(
                        uow,
                        vendor_id=vendor_id,
                        action="session_ended",
                        real=actor,
                        target=f"account:{record.account_id}",
                        session=str(record.id),
                    )
                return
            except ConcurrentModification:
                # A request of that session recorded it was seen: end it as it is now.
                if attempt == 2:
                    raise

    def log_out(self, vendor: object, value: object) -> bool:
        """End the session ``value`` names: this browser's log-out. Its record ends on every
        server, so a copy of the value taken before (a cookie, a backup) is refused from now
        on, not only this browser's. True when a live session ended; False for a value that
        names none (ended already, malformed, another vendor's, a wrong secret) — a log-out
        never fails. Audited as ``logout``."""
        vendor_id = ident("vendor", vendor)
        parsed = parse_session(value)
        if parsed is None:
            return False
        session_id, secret = parsed
        now = self._rt.clock.now()
        for attempt in range(3):
            try:
                with self._rt.transaction() as uow:
                    record = uow.sessions.get(vendor_id, session_id)
                    digest = record.digest if record is not None else _NO_DIGEST
                    right = hmac.compare_digest(digest, token_digest(secret))
                    if record is None or not right or record.ended_at is not None:
                        return False
                    ended = attrs.evolve(record, ended_at=now, version=record.version + 1)
                    uow.sessions.update(ended, record.version)
                    self._rt.record(
                        uow,
                        vendor_id=vendor_id,
                        action="logout",
                        real=System(vendor_id=vendor_id, reason="logout"),
                        target=f"account:{record.account_id}",
                        session=str(record.id),
                    )
                return True
            except ConcurrentModification:
                # A request of that session recorded it was seen: end it as it is now.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def end_others(self, actor: Member, current: str) -> int:
        """End every session of the member's account but ``current`` (this browser's
        value, which must be a live session of the account); how many ended."""
        vendor_id, account_id = self._whose(actor, None)
        now = self._rt.clock.now()
        for attempt in range(3):
            try:
                with self._rt.transaction() as uow:
                    found = load(uow.accounts, vendor_id, "account", account_id, "account")
                    mine = self._own(uow, found, current, now)
                    if mine is None:
                        raise NotFound("session", current if isinstance(current, str) else "")
                    count = 0
                    for r in uow.sessions.list(vendor_id, where={"account_id": account_id}):
                        if r.id != mine.id and r.ended_at is None:
                            uow.sessions.update(
                                attrs.evolve(r, ended_at=now, version=r.version + 1), r.version
                            )
                            count += 1
                    self._rt.record(
                        uow,
                        vendor_id=vendor_id,
                        action="sessions_ended_others",
                        real=actor,
                        target=f"account:{account_id}",
                        session=str(mine.id),
                        count=count,
                    )
                return count
            except ConcurrentModification:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _whose(
        self, actor: Actor, account: Account | UUID | None, *, quiet: UUID | None = None
    ) -> tuple[UUID, UUID]:
        """The vendor and the account whose sessions ``actor`` works on: its own as a member
        (not viewing as a customer), any for staff holding ``logins.manage``."""
        vendor_id = vendor_of(actor)
        own = isinstance(actor, Member) and actor.impersonator is None
        if account is None:
            if not own:
                require_admin(actor, LOGINS_MANAGE)
                raise ValidationError.single(
                    "account", "required", "name the account whose sessions to list"
                )
            assert isinstance(actor, Member)
            return vendor_id, actor.account_id
        account_id = ident("account", account)
        if own and isinstance(actor, Member) and actor.account_id == account_id:
            return vendor_id, account_id
        if isinstance(actor, Member) and quiet is not None and actor.impersonator is None:
            # Another account's session is, to a member, one that does not exist.
            raise NotFound("session", quiet)
        require_admin(actor, LOGINS_MANAGE)
        return vendor_id, account_id
