"""Access tokens for integrations: a customer's ERP working as one membership, never more.

Example::

    issued = portal.access_tokens.create(
        member, member.membership_id, name="ERP orders",
        capabilities={"orders.view"}, expires_at=now + timedelta(days=90),
    )
    issued.value      # "pkat_…": shown to the person once; storage keeps a digest only

    # on every request of the integration (the host reads ``Authorization: Bearer …``):
    ctx = portal.auth.authenticate_token(vendor, value, client_key=ip)  # or AuthenticationFailed
    portal.orders.list(ctx, ...)                                 # as far as the token reaches

A token's context holds the token's capabilities and the membership's current rights,
whichever are fewer; it dies with every event that ends the membership's sessions, and its
actor is refused by every credential, session and administration call
(:data:`portalkit._guard.TOKEN_SERVICES`).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import NEVER_BY_TOKEN, refuse_token, require_admin, vendor_of, who
from portalkit._ids import ordered_id
from portalkit._service import ident, load, page
from portalkit.accesstokens.model import AccessToken, IssuedToken, new_value, parse_value
from portalkit.actors import Actor, Member, System
from portalkit.audit.model import describe
from portalkit.errors import (
    AuthenticationFailed,
    ConcurrentModification,
    Message,
    NotFound,
    PermissionDenied,
    Problem,
)
from portalkit.memberships.model import Membership
from portalkit.memberships.rights import may_touch
from portalkit.profiles.service import MAX_CAPABILITIES
from portalkit.staffrights import LOGINS_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.storage.base import MemberFacts, UnitOfWork

__all__ = ["AccessTokenService"]

_CLIENT_KEY_MAX = 200
# Bad values are counted per client key alone, not per vendor: a vendor id is read from the
# value, and one made up anew for each guess must not give each guess a counter of its own.
_NO_VENDOR = UUID(int=0)


def _stamps(account_stamp: str, membership_stamp: str) -> str:
    # A digest, not the stamps: together with the membership's id they make a session value.
    return hashlib.sha256(f"{account_stamp}.{membership_stamp}".encode()).hexdigest()


def _member(membership: Membership, token: AccessToken | None = None) -> Member:
    return Member(
        vendor_id=membership.vendor_id,
        account_id=membership.account_id,
        membership_id=membership.id,
        customer_id=membership.customer_id,
        token_id=token.id if token else None,
        token_capabilities=token.capabilities if token else frozenset(),
    )


class AccessTokenService:
    """Make, list and revoke access tokens; check them per request. Reached as
    ``portal.access_tokens`` (and :meth:`portalkit.auth.AuthService.authenticate_token`)."""

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    # -- making ------------------------------------------------------------------------------
    def create(
        self,
        actor: Actor,
        membership: Any,
        *,
        name: str,
        capabilities: Iterable[str],
        expires_at: datetime,
    ) -> IssuedToken:
        """A new token for ``membership``; its value is in the answer and nowhere else.

        Who may: a login for its own membership; a customer's administrator (a member holding
        ``members.manage``) for a login of its own customer that it may manage (not a main
        account, not another administrator, nothing beyond its own rights); vendor staff
        holding ``logins.manage`` for any membership of the vendor. ``capabilities`` must be
        held by the membership now (and, for an administrator, by the administrator too);
        ``members.manage`` never. ``expires_at`` is required, in the future and at most
        ``PORTALKIT_ACCESS_TOKEN_MAX_DAYS`` away. A membership of another customer or vendor
        is NotFound.
        """
        vendor_id = vendor_of(actor)
        refuse_token(actor)
        rt = self._rt
        now = rt.clock.now()
        problems: list[Problem] = []
        label = v.text(problems, "name", name, max_length=100)
        wanted = self._capabilities(problems, capabilities)
        longest = timedelta(days=rt.settings.access_token_max_days)
        if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
            problems.append(
                Problem("expires_at", "not_datetime", "must be a date and time with a time zone")
            )
        elif not now < expires_at <= now + longest:
            problems.append(
                Problem(
                    "expires_at",
                    "out_of_range",
                    "must be in the future and at most {days} days away",
                    {"days": rt.settings.access_token_max_days},
                )
            )
        membership_id = ident("membership", membership)
        v.raise_if(problems)
        with rt.transaction() as uow:
            target = load(uow.memberships, vendor_id, "membership", membership_id, "membership")
            allowed, facts, granter = self._grantable(uow, actor, target)
            if wanted & NEVER_BY_TOKEN:
                raise PermissionDenied("an access token never holds members.manage")
            beyond = sorted(wanted - allowed)
            if beyond:
                raise PermissionDenied(
                    "an access token holds only what its login holds now: {rights}",
                    rights=Message.joined(beyond, ", "),
                )
            token_id = ordered_id(now)
            value, digest = new_value(vendor_id, token_id)
            token = AccessToken(
                id=token_id,
                vendor_id=vendor_id,
                account_id=target.account_id,
                membership_id=target.id,
                customer_id=target.customer_id,
                name=label,
                capabilities=frozenset(wanted),
                digest=digest,
                stamps=_stamps(facts.account_session_stamp, target.session_stamp),
                created_at=now,
                expires_at=expires_at,
                created_by=describe(actor),
                granted_by=granter,
            )
            uow.access_tokens.add(token)
            rt.record(
                uow,
                vendor_id=vendor_id,
                action="access_token_created",
                real=actor,
                customer_id=target.customer_id,
                target=token.reference,
                membership=str(target.id),
                name=label,
                capabilities=sorted(wanted),
                expires_at=expires_at.isoformat(),
            )
        return IssuedToken(token=token, value=value)

    def _capabilities(self, problems: list[Problem], value: object) -> frozenset[str]:
        if isinstance(value, str | bytes) or not isinstance(value, set | frozenset | list | tuple):
            problems.append(Problem("capabilities", "not_set", "must be a set of capabilities"))
            return frozenset()
        if len(value) > MAX_CAPABILITIES:  # before looking at a megabyte of names
            problems.append(
                Problem(
                    "capabilities",
                    "too_many",
                    "may hold at most {limit} names",
                    {"limit": MAX_CAPABILITIES},
                )
            )
            return frozenset()
        if any(type(name) is not str for name in value):
            problems.append(Problem("capabilities", "not_set", "must be a set of capabilities"))
            return frozenset()
        names = frozenset(value)
        if not names:
            problems.append(Problem("capabilities", "required", "is required"))
        unknown = self._access.check_capabilities(names)
        if unknown:
            problems.append(
                Problem(
                    "capabilities",
                    "unknown",
                    "{name} is not a registered capability",
                    {"name": v.shown(unknown[0])},
                )
            )
        return names

    def _grantable(
        self, uow: UnitOfWork, actor: Actor, target: Membership
    ) -> tuple[frozenset[str], MemberFacts, UUID | None]:
        """What a token of ``target`` made by ``actor`` may hold: the target's effective
        capabilities now, cut to the actor's own for a delegated administrator (whose
        membership is the third answer, None for anyone else); refused for anyone who may
        not act on the target's login."""
        actor = who(actor)
        mine = None
        granter = None
        if isinstance(actor, Member):
            if actor.impersonator is not None:
                raise PermissionDenied(
                    "access tokens are never made while viewing the portal as a customer"
                )
            own = actor.membership_id == target.id and actor.account_id == target.account_id
            if not own:
                delegate = self._access.delegated_admin(actor, LOGINS_MANAGE)
                assert delegate is not None  # a member's context
                if target.customer_id != actor.customer_id:
                    raise NotFound("membership", target.id)  # another customer's: not ours
                may_touch(uow, self._access, delegate, target)
                mine = delegate.capabilities
                granter = actor.membership_id
        else:
            require_admin(actor, LOGINS_MANAGE)
        facts = uow.member_facts(target.vendor_id, target.id)
        assert facts is not None  # the membership was just read in this transaction
        context = self._access.context_from_facts(_member(target), facts)
        if context.denied or not context.capabilities:
            raise PermissionDenied(
                "this login does not work now: {reason}", reason=context.denied or "no access"
            )
        allowed = context.capabilities - NEVER_BY_TOKEN
        if mine is not None:
            allowed &= mine
        return allowed, facts, granter

    # -- listing and revoking ----------------------------------------------------------------
    def list(
        self,
        actor: Actor,
        membership: Any = None,
        *,
        customer: Any = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AccessToken]:
        """The tokens of ``membership`` (a member's own when omitted; every token of the
        vendor for staff when omitted), or of every login of ``customer`` the actor may
        manage (a customer's administrator: its own customer's, without main accounts and
        other administrators); revoked and expired ones too, oldest first, a page of
        ``limit`` (1-1000) from ``offset`` as other listings. Never a value: only the
        records. The same people may list as may make them."""
        vendor_id = vendor_of(actor)
        refuse_token(actor)
        limit, offset = page(limit, offset)
        wanted = ident("membership", membership) if membership is not None else None
        if customer is not None:
            return self._of_customer(actor, ident("customer", customer), limit, offset)
        with self._rt.transaction(read_only=True) as uow:
            if wanted is None:
                if isinstance(actor, Member):
                    wanted = actor.membership_id
                else:
                    require_admin(actor, LOGINS_MANAGE)
                    return uow.access_tokens.list(vendor_id, limit=limit, offset=offset)
            target = load(uow.memberships, vendor_id, "membership", wanted, "membership")
            self._may_manage(uow, actor, target)
            # Token ids are time-ordered: storage's order (oldest first, then by id) is the
            # order of making, so each page is a slice of one order.
            return uow.access_tokens.list(
                vendor_id, where={"membership_id": target.id}, limit=limit, offset=offset
            )

    def _of_customer(
        self, actor: Actor, customer_id: UUID, limit: int, offset: int
    ) -> builtins.list[AccessToken]:
        vendor_id = vendor_of(actor)
        member = who(actor)
        with self._rt.transaction(read_only=True) as uow:
            if not isinstance(member, Member):
                require_admin(actor, LOGINS_MANAGE)
                load(uow.customers, vendor_id, "customer", customer_id, "customer")
                where = {"customer_id": customer_id}
                return uow.access_tokens.list(vendor_id, where=where, limit=limit, offset=offset)
            if member.impersonator is not None:
                raise PermissionDenied(
                    "access tokens are never managed while viewing the portal as a customer"
                )
            delegate = self._access.delegated_admin(member, LOGINS_MANAGE)
            assert delegate is not None
            if customer_id != member.customer_id:
                raise NotFound("customer", customer_id)
            found = uow.access_tokens.list(vendor_id, where={"customer_id": customer_id})
            ids = {t.membership_id for t in found}
            memberships = {m.id: m for m in uow.memberships.list_in(vendor_id, "id", ids)}
            reachable = set()
            for membership_id, target in memberships.items():
                try:
                    if membership_id != member.membership_id:
                        may_touch(uow, self._access, delegate, target)
                except (PermissionDenied, NotFound):
                    continue  # a main account's, another administrator's: not its to see
                reachable.add(membership_id)
        mine = [t for t in found if t.membership_id in reachable]
        return mine[offset : offset + limit]

    def revoke(self, actor: Actor, token: Any) -> AccessToken:
        """Revoke a token now: its next request fails. Revoking a revoked token changes
        nothing. The same people may revoke as may make it."""
        vendor_id = vendor_of(actor)
        refuse_token(actor)
        token_id = ident("access_token", token)
        rt = self._rt
        with rt.transaction() as uow:
            current = load(uow.access_tokens, vendor_id, "access_token", token_id, "token")
            target = load(
                uow.memberships, vendor_id, "membership", current.membership_id, "membership"
            )
            try:
                self._may_manage(uow, actor, target)
            except NotFound:
                raise NotFound("access_token", token_id) from None
            except PermissionDenied:
                plain = who(actor)
                if isinstance(plain, Member) and plain.impersonator is None:
                    # A member that may manage no other login: another's token is not found,
                    # as an id nobody has is (PermissionDenied would tell them apart).
                    raise NotFound("access_token", token_id) from None
                raise
            if current.revoked_at is not None:
                return current
            updated = attrs.evolve(current, revoked_at=rt.clock.now(), version=current.version + 1)
            uow.access_tokens.update(updated, current.version)
            rt.record(
                uow,
                vendor_id=vendor_id,
                action="access_token_revoked",
                real=actor,
                customer_id=current.customer_id,
                target=current.reference,
                membership=str(current.membership_id),
            )
            return updated

    def _may_manage(self, uow: UnitOfWork, actor: Actor, target: Membership) -> None:
        actor = who(actor)
        if not isinstance(actor, Member):
            require_admin(actor, LOGINS_MANAGE)
            return
        if actor.impersonator is not None:
            raise PermissionDenied(
                "access tokens are never managed while viewing the portal as a customer"
            )
        if actor.membership_id == target.id and actor.account_id == target.account_id:
            return
        delegate = self._access.delegated_admin(actor, LOGINS_MANAGE)
        assert delegate is not None
        if target.customer_id != actor.customer_id:
            raise NotFound("membership", target.id)
        may_touch(uow, self._access, delegate, target)

    # -- using -------------------------------------------------------------------------------
    def authenticate(
        self, vendor: Any, value: str, *, client_key: str | None = None
    ) -> AccessContext:
        """The access context of a token's value for ``vendor``, for one request;
        AuthenticationFailed for anything else (malformed, unknown, another vendor's, wrong
        secret, revoked, expired, its login's sessions ended, its login off, a client key
        that sent too many bad values) — the same answer for all, the reason in the audit
        log for a token that exists.

        Bad values count per ``client_key`` (as log-ins do: ``PORTALKIT_LOGIN_MAX_FAILURES``
        in ``PORTALKIT_LOGIN_WINDOW_SECONDS``); past the limit every value is refused until
        the window ends. "Last used" is written at most once per
        ``PORTALKIT_ACCESS_TOKEN_USE_SECONDS``, not on every request.
        """
        rt = self._rt
        rt.standalone("authenticate_token()")
        vendor_id = ident("vendor", vendor)
        settings = rt.settings
        now = rt.clock.now()
        window_start = now - timedelta(seconds=settings.login_window_seconds)
        parsed = parse_value(value)
        if parsed is not None and parsed[0] != vendor_id:
            # Another vendor's token, on a portal that serves this one (or a shared
            # database): it names no token here.
            parsed = None
        key = ""
        if isinstance(client_key, str) and client_key:
            key = rt.throttle_key("token-client", _NO_VENDOR, client_key[:_CLIENT_KEY_MAX])
        token = None
        with rt.transaction(read_only=True) as uow:
            locked = bool(key) and uow.throttle_count([key], window_start) >= (
                settings.login_max_failures
            )
            if parsed is not None and not locked:
                token = uow.access_tokens.get(parsed[0], parsed[1])
        reason = "throttled" if locked else ""
        if not reason:
            if parsed is None or token is None:
                reason = "unknown"
            elif not hmac.compare_digest(token.digest, parsed[2]):
                reason, token = "unknown", None  # a wrong secret learns nothing of the token
            elif token.revoked_at is not None:
                reason = "revoked"
            elif not now < token.expires_at:
                reason = "expired"
        context = None
        if not reason:
            assert token is not None
            context, reason = self._context(token)
        if reason:
            self._refused(key, vendor_id, token, reason, now, window_start)
            raise AuthenticationFailed()
        assert token is not None and context is not None
        self._used(token, now)
        return context

    def _context(self, token: AccessToken) -> tuple[AccessContext | None, str]:
        facts = self._access.member_facts(token.vendor_id, token.membership_id, reuse=True)
        if facts is None or facts.membership.account_id != token.account_id:
            return None, "membership_gone"
        stamps = _stamps(facts.account_session_stamp, facts.membership.session_stamp)
        if not hmac.compare_digest(stamps, token.stamps):
            return None, "sessions_ended"
        held = token.capabilities
        if token.granted_by is not None:
            # A customer's administrator made it for another login: it holds no more than
            # that administrator may grant now, and nothing once it may no longer act on the
            # login (switched off, downgraded, the login promoted beyond it) — the checks it
            # passed when it made the token, made again.
            granted = self._still_granted(token, facts.membership)
            if granted is None:
                return None, "granter_lost_rights"
            held = held & granted
        member = _member(facts.membership, attrs.evolve(token, capabilities=held))
        context = self._access.context_from_facts(member, facts)
        if context.denied:
            return None, "login_off"
        if not context.capabilities:
            return None, "no_access"
        return context, ""

    def _still_granted(self, token: AccessToken, target: Membership) -> frozenset[str] | None:
        """The capabilities the administrator that made ``token`` may grant ``target`` now,
        or None when it may no longer make it a token at all."""
        assert token.granted_by is not None
        facts = self._access.member_facts(token.vendor_id, token.granted_by, reuse=True)
        if facts is None or facts.membership.customer_id != target.customer_id:
            return None
        context = self._access.context_from_facts(_member(facts.membership), facts)
        if context.denied or not context.can("members.manage"):
            return None
        try:
            with self._rt.transaction(read_only=True) as uow:
                may_touch(uow, self._access, context, target)
        except (PermissionDenied, NotFound):
            return None
        return context.capabilities

    def _refused(
        self,
        key: str,
        vendor_id: UUID | None,
        token: AccessToken | None,
        reason: str,
        now: datetime,
        window_start: datetime,
    ) -> None:
        rt = self._rt
        if reason == "throttled" or (not key and token is None):
            return  # nothing to count, nothing known to record
        with rt.transaction() as uow:
            if key and token is None:
                # Only values that name no token count: a revoked or expired token in an
                # integration's settings is a mistake to fix, not a guess.
                hits = uow.throttle_hit(key, now, window_start)
                named = uow.vendors.get(vendor_id) if vendor_id is not None else None
                if hits == rt.settings.login_max_failures and named is not None:
                    # Recorded where a vendor is named: the value's own, when it exists.
                    rt.record(
                        uow,
                        vendor_id=named.id,
                        action="access_token_locked",
                        real=System(vendor_id=named.id, reason="access token"),
                        target="client",
                        outcome="failure",
                    )
            if token is not None:
                rt.record(
                    uow,
                    vendor_id=token.vendor_id,
                    action="access_token_refused",
                    real=System(vendor_id=token.vendor_id, reason="access token"),
                    customer_id=token.customer_id,
                    target=token.reference,
                    reason=reason,
                    outcome="failure",
                )

    def _used(self, token: AccessToken, now: datetime) -> None:
        """Write "last used" when the one stored is older than the interval: most requests
        write nothing."""
        rt = self._rt
        every = timedelta(seconds=rt.settings.access_token_use_seconds)
        if token.last_used_at is not None and now < token.last_used_at + every:
            return
        try:
            with rt.transaction() as uow:
                current = uow.access_tokens.get(token.vendor_id, token.id)
                if current is None or (
                    current.last_used_at is not None and now < current.last_used_at + every
                ):
                    return  # another request wrote it meanwhile
                uow.access_tokens.update(
                    attrs.evolve(current, last_used_at=now, version=current.version + 1),
                    current.version,
                )
        except ConcurrentModification:
            pass  # a request in parallel wrote it: one of them is enough
