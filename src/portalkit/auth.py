"""Logging in: one answer for every failure, throttling kept in storage, and session stamps.

Example::

    login = portal.auth.authenticate(vendor, "jan@acme.example", password, client_key=ip)
    session["portal"] = login.session          # keep it in the host's (signed) session
    if login.must_change_password:
        ...                                    # send the member to "choose a new password"

    # on every request: the session checked and the member's rights read, once
    ctx = portal.auth.session_context(vendor, session["portal"])   # or AuthenticationFailed
    portal.customers.get(ctx, ctx.actor.customer_id)               # each call reuses ctx

Every failure raises the same :class:`~portalkit.errors.AuthenticationFailed` — unknown login,
wrong password, no password yet, disabled account, membership or customer, main account off,
a no-access profile, too many failures — and costs one password verification, so neither the
answer nor the work tells them apart. The real reason goes to the audit log.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._ids import ordered_id
from portalkit._service import ident, load
from portalkit._stamps import new_session_stamp
from portalkit.accounts.model import Account
from portalkit.actors import Actor, Member, System
from portalkit.errors import (
    AuthenticationFailed,
    ConcurrentModification,
    PasswordExpired,
    PermissionDenied,
    SecondFactorEnrolmentRequired,
    SecondFactorRequired,
)
from portalkit.memberships.model import Membership, MembershipStatus
from portalkit.staffrights import LOGINS_MANAGE
from portalkit.throttle import account_throttle_key as account_throttle_key
from portalkit.throttle import login_key as login_key
from portalkit.throttle import throttle_key as throttle_key
from portalkit.tokens import Token, TokenPurpose, new_token, token_digest

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.accesstokens.service import AccessTokenService
    from portalkit.passkeys.service import PasskeyService
    from portalkit.secondfactor.service import SecondFactorService
    from portalkit.sessions.service import SessionService
    from portalkit.storage.base import UnitOfWork

__all__ = ["AuthService", "Enrolled", "Login"]

_LOGIN_MAX = 254
_CLIENT_KEY_MAX = 200
_CHALLENGE_SECONDS = 300  # long enough to open the app, too short to be worth stealing
_ENROL_SECONDS = 600  # long enough to install an authenticator app too


@attrs.frozen
class Login:
    """A successful login: the account, the actor to work as, and the session value.

    ``session`` is what the host keeps in its session (signed by its framework) and hands to
    :meth:`AuthService.validate_session` on every request; ``memberships`` are the customers
    this login may switch between (the actor works in the first, or the one asked for).
    """

    account: Account
    actor: Member
    session: str = attrs.field(repr=False)
    memberships: tuple[Membership, ...]
    must_change_password: bool


@attrs.frozen
class Enrolled:
    """A log-in that enrolled the second factor the vendor requires (see
    :meth:`AuthService.complete_enrolment`): the :class:`Login`, and the ten recovery codes
    to show this once (only their digests are kept)."""

    login: Login
    recovery_codes: tuple[str, ...] = attrs.field(repr=False)


class AuthService:
    """Authenticate logins and check sessions. Reached as ``portal.auth``."""

    def __init__(
        self,
        rt: Runtime,
        *,
        access: AccessService,
        second_factor: SecondFactorService,
        access_tokens: AccessTokenService | None = None,
        passkeys: PasskeyService | None = None,
        sessions: SessionService,
    ) -> None:
        self._rt = rt
        self._sessions = sessions
        self._access = access
        self._second = second_factor
        self._access_tokens = access_tokens
        self._passkeys = passkeys

    def authenticate(
        self,
        vendor: Any,
        login: str,
        password: str,
        *,
        client_key: str | None = None,
        customer: Any = None,
        user_agent: str | None = None,
    ) -> Login:
        """Check a username or e-mail address and a password; return the :class:`Login`.

        ``client_key`` is the caller's idea of who is knocking (say, the client's IP address
        as the host's proxy set-up vouches for it; portalkit never reads headers): failures
        count per login and per client key, and after ``PORTALKIT_LOGIN_MAX_FAILURES`` in
        ``PORTALKIT_LOGIN_WINDOW_SECONDS`` every attempt is refused — the right password too
        — until the window ends. A success clears the login's count. ``customer`` picks the
        membership to work in when the account has several. ``client_key`` and ``user_agent``
        (the browser's ``User-Agent``, as the host read it) are kept on the session's record,
        for the member's list of its sessions (:mod:`portalkit.sessions.service`).

        Raises AuthenticationFailed for every failure, and PasswordExpired (a subclass, only
        after the right password) when a generated or admin-set password was never changed
        in time: the member must use "forgot password". After the right password, an
        account with a second factor gets SecondFactorRequired (go on with
        :meth:`complete_login`), and one the vendor's rule requires a second factor of but
        has none gets SecondFactorEnrolmentRequired (go on with
        ``portal.second_factor.begin_enrolment`` and :meth:`complete_enrolment`); both
        are AuthenticationFailed and give no session. Runs in a transaction of its own (a
        caller's rollback must not erase failed attempts): calling it inside
        ``rt.transaction()`` raises PortalError.
        """
        rt = self._rt
        rt.standalone("authenticate()")
        settings = rt.settings
        vendor_id = ident("vendor", vendor)
        # Bad input is refused before anything is looked at: a malformed customer answered
        # only after the right password would confirm a password without a log-in (no
        # success recorded, no session).
        wanted = ident("customer", customer) if customer is not None else None
        # A login no backend can store (a lone surrogate) is an unknown login: same answer,
        # same work.
        storable = isinstance(login, str) and len(login) <= _LOGIN_MAX and v.encodable(login)
        typed = login_key(login) if storable else ""
        secret = password if isinstance(password, str) else ""
        now = rt.clock.now()
        window_start = now - timedelta(seconds=settings.login_window_seconds)
        hasher = rt.hasher
        limit = settings.login_max_failures
        with rt.transaction() as uow:
            account = find_account(uow, vendor_id, typed) if typed else None
            keys = [self._rt.account_key(vendor_id, account, typed)]
            backoff = ""
            if isinstance(client_key, str) and client_key:
                client = client_key[:_CLIENT_KEY_MAX]
                keys.append(self._rt.throttle_key("client", vendor_id, client))
                backoff = self._rt.throttle_key("client-backoff", vendor_id, client)
            # Every attempt takes its number before the password is checked, so attempts in
            # parallel cannot all slip under the limit; a success gives the count back. The
            # client key counts failures only (an office's logins share it).
            attempt = uow.throttle_hit(keys[0], now, window_start)
            clients = uow.throttle_count(keys[1:], window_start) if len(keys) > 1 else 0
            locked = attempt > limit or clients >= limit or self._backing_off(uow, backoff, now)
            if attempt == limit + 1:
                target = f"account:{account.id}" if account else "login:unknown"
                self._locked(uow, vendor_id, target)
        if locked:
            secret = ""  # nothing is learnt about the password while locked
        # Verified outside any transaction: tens of milliseconds of Argon2 must not hold a
        # database lock (SQLite has one writer). Exactly one verification on every path: an
        # unknown login, one without a usable password, or a locked one (whose stored hash an
        # admin may have made costly on purpose) checks against a dummy hash.
        if not locked and account is not None and hasher.is_usable(account.password_hash):
            assert account.password_hash is not None
            verified = hasher.verify(secret, account.password_hash)
            if not verified and hasher.needs_rehash(account.password_hash):
                # A cheaper imported or older hash must not make its failures faster than an
                # unknown login's (Django does the same): add one check at current cost.
                hasher.dummy_verify(secret)
        else:
            hasher.dummy_verify(secret)
            verified = False
        for attempt in range(3):
            try:
                reason, chosen, usable, account, challenge, enrol = self._settle(
                    vendor_id, account, verified, locked, keys, backoff, secret, wanted
                )
                break
            except ConcurrentModification:
                # Another login of the same account wrote first (last login, count): judge
                # again on what it left. Three tries are plenty for people at keyboards.
                if attempt == 2:
                    raise
        if reason == "password_expired":
            raise PasswordExpired()
        if challenge and enrol:
            raise SecondFactorEnrolmentRequired(challenge)
        if challenge:
            raise SecondFactorRequired(challenge)
        if reason:
            raise AuthenticationFailed()
        assert account is not None and chosen is not None
        return self._login(account, chosen, usable, client_key, user_agent)

    def complete_login(
        self,
        vendor: Any,
        challenge: str,
        code: str,
        *,
        client_key: str | None = None,
        user_agent: str | None = None,
    ) -> Login:
        """The second step of a log-in: the challenge of :class:`SecondFactorRequired`
        and a code from the authenticator app (or an unused recovery code).

        The challenge works once, right or wrong, for ``PORTALKIT_SECOND_FACTOR_SECONDS``
        (five minutes): a wrong code sends the member back to the password. Wrong codes
        count per account as failed passwords do (their own counter, so a known password
        does not buy more guesses) and, with ``client_key``, per client as the password
        step counts them: a client locked by failed passwords or codes is refused here too.
        A code (or a step before it) never works twice.
        Raises AuthenticationFailed for every failure. Runs in a transaction of its own.
        """
        rt = self._rt
        rt.standalone("complete_login()")
        vendor_id = ident("vendor", vendor)
        fits = isinstance(challenge, str) and 0 < len(challenge) < 200 and v.encodable(challenge)
        now = rt.clock.now()
        window_start = now - timedelta(seconds=rt.settings.login_window_seconds)
        reason, target = "", "login:unknown"
        account: Account | None = None
        chosen: Membership | None = None
        usable: list[Membership] = []
        clients, backoff = self._client_keys(vendor_id, client_key)
        try:
            with rt.transaction() as uow:
                client_locked = self._client_refused(uow, clients, backoff, now, window_start)
                token = (
                    uow.consume_token(
                        vendor_id, TokenPurpose.SECOND_FACTOR, token_digest(challenge), now
                    )
                    if fits
                    else None
                )
                if token is None or token.account_id is None or token.membership_id is None:
                    reason = "bad_challenge"
                else:
                    target = f"account:{token.account_id}"
                    key = rt.throttle_key("second-factor", vendor_id, str(token.account_id))
                    # Counted before the code is checked, as a password attempt is.
                    tries = uow.throttle_hit(key, now, window_start)
                    account = uow.accounts.get(vendor_id, token.account_id)
                    factor = self._second.factor(uow, vendor_id, token.account_id)
                    membership = uow.memberships.get(vendor_id, token.membership_id)
                    if tries > rt.settings.login_max_failures or client_locked:
                        reason = "throttled"
                    elif account is None or factor is None or membership is None:
                        reason = "no_second_factor"
                    else:
                        used = self._second.accept(factor, code, now)
                        if used is None:
                            reason = "wrong_code"
                        else:
                            uow.second_factors.update(used, factor.version)
                            reason, chosen, usable = self._judge(
                                uow, vendor_id, account, True, False, now, membership.customer_id
                            )
                            if not reason:
                                assert chosen is not None
                                uow.throttle_clear([key, backoff] if backoff else [key])
                                account = self._succeeded(
                                    uow,
                                    account,
                                    None,
                                    rt.account_key(vendor_id, account),
                                    chosen,
                                    now,
                                )
                if reason:
                    if reason != "throttled":
                        self._client_failed(uow, vendor_id, clients, backoff, now, window_start)
                    self._second_step_failed(uow, vendor_id, target, reason)
        except ConcurrentModification:
            # Another server accepted this code (or the account changed) first.
            raise AuthenticationFailed() from None
        if reason == "password_expired":
            raise PasswordExpired()
        if reason:
            raise AuthenticationFailed()
        assert account is not None and chosen is not None
        return self._login(account, chosen, usable, client_key, user_agent)

    def complete_enrolment(
        self,
        vendor: Any,
        challenge: str,
        code: str,
        *,
        client_key: str | None = None,
        user_agent: str | None = None,
    ) -> Enrolled:
        """The end of a log-in that had to enrol a second factor: the challenge of
        :class:`~portalkit.errors.SecondFactorEnrolmentRequired`, after
        ``portal.second_factor.begin_enrolment(vendor, challenge)``, and the app's first
        code. Switches the factor on and logs in: :class:`Enrolled` holds the :class:`Login`
        and the recovery codes, shown once.

        The challenge works once: it is used up by the log-in it completes, and dies after
        ten minutes or when the password is given again. A wrong code keeps it (the member
        may have mistyped while setting the app up), but wrong codes count per account and
        per client key as the second step's do. Every failure raises AuthenticationFailed.
        Runs in a transaction of its own.
        """
        rt = self._rt
        rt.standalone("complete_enrolment()")
        vendor_id = ident("vendor", vendor)
        fits = isinstance(challenge, str) and 0 < len(challenge) < 200 and v.encodable(challenge)
        now = rt.clock.now()
        window_start = now - timedelta(seconds=rt.settings.login_window_seconds)
        reason, target = "", "login:unknown"
        account: Account | None = None
        chosen: Membership | None = None
        usable: list[Membership] = []
        codes: tuple[str, ...] | None = None
        clients, backoff = self._client_keys(vendor_id, client_key)
        purpose = TokenPurpose.SECOND_FACTOR_ENROL
        try:
            with rt.transaction() as uow:
                client_locked = self._client_refused(uow, clients, backoff, now, window_start)
                digest = token_digest(challenge) if fits else ""
                token = uow.tokens.get_by(vendor_id, "token", digest) if fits else None
                if (
                    token is None
                    or token.vendor_id != vendor_id
                    or not token.usable(purpose, now)
                    or token.account_id is None
                    or token.membership_id is None
                ):
                    reason = "bad_challenge"
                else:
                    target = f"account:{token.account_id}"
                    key = rt.throttle_key("second-factor", vendor_id, str(token.account_id))
                    tries = uow.throttle_hit(key, now, window_start)
                    account = uow.accounts.get(vendor_id, token.account_id)
                    membership = uow.memberships.get(vendor_id, token.membership_id)
                    begun = self._second.being_set_up(uow, vendor_id, token.account_id)
                    if tries > rt.settings.login_max_failures or client_locked:
                        reason = "throttled"
                    elif account is None or membership is None or begun is None:
                        reason = "no_second_factor"
                    else:
                        # Judged before anything is written: a login that stopped working
                        # meanwhile gets no factor switched on either.
                        reason, chosen, usable = self._judge(
                            uow, vendor_id, account, True, False, now, membership.customer_id
                        )
                        if not reason:
                            codes = self._second.switch_on(uow, begun, code, now)
                            if codes is None:
                                reason = "wrong_code"
                            elif uow.consume_token(vendor_id, purpose, digest, now) is None:
                                raise ConcurrentModification("token", token.id)  # raced
                        if not reason:
                            assert chosen is not None
                            uow.throttle_clear([key, backoff] if backoff else [key])
                            rt.record(
                                uow,
                                vendor_id=vendor_id,
                                action="second_factor_enabled",
                                real=member_of(chosen),
                                customer_id=chosen.customer_id,
                                target=target,
                                required=True,
                            )
                            stamped = load(
                                uow.accounts, vendor_id, "account", account.id, "account"
                            )
                            account = self._succeeded(
                                uow, stamped, None, rt.account_key(vendor_id, stamped), chosen, now
                            )
                if reason:
                    if reason != "throttled":
                        self._client_failed(uow, vendor_id, clients, backoff, now, window_start)
                    self._second_step_failed(uow, vendor_id, target, reason)
        except ConcurrentModification:
            # Another server completed this enrolment (or the account changed) first.
            raise AuthenticationFailed() from None
        if reason == "password_expired":
            raise PasswordExpired()
        if reason:
            raise AuthenticationFailed()
        assert account is not None and chosen is not None and codes is not None
        login = self._login(account, chosen, usable, client_key, user_agent)
        return Enrolled(login=login, recovery_codes=codes)

    def complete_login_with_passkey(
        self,
        vendor: Any,
        challenge: str,
        response: object,
        *,
        client_key: str | None = None,
        user_agent: str | None = None,
    ) -> Login:
        """The second step of a log-in with one of the account's passkeys: the challenge of
        :class:`SecondFactorRequired` and the browser's answer to
        ``portal.passkeys.second_factor_options(vendor, challenge)``.

        As :meth:`complete_login`: the challenge works once, right or wrong; failures count
        on the same per-account counter as wrong codes; AuthenticationFailed for every
        failure (another account's passkey, a removed one, a wrong origin, a counter that
        did not grow); failures count per client key too. Runs in a transaction of its own.
        """
        rt = self._rt
        rt.standalone("complete_login_with_passkey()")
        vendor_id = ident("vendor", vendor)
        fits = isinstance(challenge, str) and 0 < len(challenge) < 200 and v.encodable(challenge)
        now = rt.clock.now()
        window_start = now - timedelta(seconds=rt.settings.login_window_seconds)
        reason, target = "", "login:unknown"
        account: Account | None = None
        chosen: Membership | None = None
        usable: list[Membership] = []
        clients, backoff = self._client_keys(vendor_id, client_key)
        try:
            with rt.transaction() as uow:
                client_locked = self._client_refused(uow, clients, backoff, now, window_start)
                token = (
                    uow.consume_token(
                        vendor_id, TokenPurpose.SECOND_FACTOR, token_digest(challenge), now
                    )
                    if fits and self._passkeys is not None
                    else None
                )
                if token is None or token.account_id is None or token.membership_id is None:
                    reason = "bad_challenge"
                else:
                    assert self._passkeys is not None
                    target = f"account:{token.account_id}"
                    key = rt.throttle_key("second-factor", vendor_id, str(token.account_id))
                    tries = uow.throttle_hit(key, now, window_start)
                    account = uow.accounts.get(vendor_id, token.account_id)
                    membership = uow.memberships.get(vendor_id, token.membership_id)
                    if tries > rt.settings.login_max_failures or client_locked:
                        reason = "throttled"
                    elif account is None or membership is None:
                        reason = "no_second_factor"
                    else:
                        _, reason = self._passkeys.check(
                            uow,
                            vendor_id,
                            response,
                            _challenge_bytes(challenge),
                            account_id=account.id,
                            user_verification=False,
                            now=now,
                        )
                        if not reason:
                            reason, chosen, usable = self._judge(
                                uow, vendor_id, account, True, False, now, membership.customer_id
                            )
                            if not reason:
                                assert chosen is not None
                                uow.throttle_clear([key, backoff] if backoff else [key])
                                account = self._succeeded(
                                    uow,
                                    account,
                                    None,
                                    rt.account_key(vendor_id, account),
                                    chosen,
                                    now,
                                )
                if reason:
                    if reason != "throttled":
                        self._client_failed(uow, vendor_id, clients, backoff, now, window_start)
                    self._second_step_failed(uow, vendor_id, target, reason)
        except ConcurrentModification:
            raise AuthenticationFailed() from None
        if reason == "password_expired":
            raise PasswordExpired()
        if reason:
            raise AuthenticationFailed()
        assert account is not None and chosen is not None
        return self._login(account, chosen, usable, client_key, user_agent)

    def passkey_login(
        self,
        vendor: Any,
        response: object,
        *,
        client_key: str | None = None,
        customer: Any = None,
        user_agent: str | None = None,
    ) -> Login:
        """Log in without a password: the browser's answer to
        ``portal.passkeys.login_options(vendor)``, made with a discoverable passkey that
        verified its user (PIN, fingerprint, face).

        The passkey stands for both factors, so no second step follows. The account must be
        able to log in as with its password (active account, membership and customer; a
        password set). Failures count per client key on the password's counter, and on the
        account's once the passkey names one; a locked account is refused here too. Every
        failure raises the same AuthenticationFailed, whether the passkey exists or not.
        Runs in a transaction of its own.
        """
        rt = self._rt
        rt.standalone("passkey_login()")
        vendor_id = ident("vendor", vendor)
        wanted = ident("customer", customer) if customer is not None else None
        settings = rt.settings
        now = rt.clock.now()
        window_start = now - timedelta(seconds=settings.login_window_seconds)
        limit = settings.login_max_failures
        reason = ""
        account: Account | None = None
        chosen: Membership | None = None
        usable: list[Membership] = []
        try:
            with rt.transaction() as uow:
                keys = [""]
                backoff = ""
                if isinstance(client_key, str) and client_key:
                    client = client_key[:_CLIENT_KEY_MAX]
                    keys.append(rt.throttle_key("client", vendor_id, client))
                    backoff = rt.throttle_key("client-backoff", vendor_id, client)
                clients = uow.throttle_count(keys[1:], window_start) if len(keys) > 1 else 0
                locked = clients >= limit or self._backing_off(uow, backoff, now)
                signed = (
                    self._passkeys.login_challenge(uow, vendor_id, response, now)
                    if self._passkeys is not None
                    else None
                )
                if locked:
                    reason = "throttled"
                elif signed is None:
                    reason = "bad_challenge"
                else:
                    assert self._passkeys is not None
                    named, reason = self._passkeys.check(
                        uow,
                        vendor_id,
                        response,
                        signed,
                        account_id=None,
                        user_verification=True,
                        now=now,
                    )
                    if named is not None:
                        account = uow.accounts.get(vendor_id, named.account_id)
                        keys[0] = rt.account_key(vendor_id, account)
                    if not reason and uow.throttle_count(keys[:1], window_start) >= limit:
                        reason = "throttled"  # locked by failed passwords: a passkey waits too
                    elif not reason:
                        reason, chosen, usable = self._judge(
                            uow, vendor_id, account, True, False, now, wanted
                        )
                    if reason and keys[0]:
                        uow.throttle_hit(keys[0], now, window_start)
                if reason:
                    self._failed(uow, vendor_id, account, reason, keys, backoff, now, window_start)
                else:
                    assert account is not None and chosen is not None
                    account = self._succeeded(uow, account, None, keys[0], chosen, now)
                    if backoff:
                        uow.throttle_clear([backoff])
        except ConcurrentModification:
            raise AuthenticationFailed() from None
        if reason == "password_expired":
            raise PasswordExpired()
        if reason:
            raise AuthenticationFailed()
        assert account is not None and chosen is not None
        return self._login(account, chosen, usable, client_key, user_agent)

    def _client_keys(self, vendor_id: UUID, client_key: object) -> tuple[list[str], str]:
        """The client's throttle key (none without a client key) and its back-off key."""
        if not isinstance(client_key, str) or not client_key:
            return [], ""
        client = client_key[:_CLIENT_KEY_MAX]
        rt = self._rt
        return [rt.throttle_key("client", vendor_id, client)], rt.throttle_key(
            "client-backoff", vendor_id, client
        )

    def _client_refused(
        self,
        uow: UnitOfWork,
        clients: Sequence[str],
        backoff: str,
        now: datetime,
        window_start: datetime,
    ) -> bool:
        """Whether the client key is locked, as the password step judges it: a second step
        from a client that guesses is refused as its passwords are."""
        failures = uow.throttle_count(clients, window_start) if clients else 0
        return failures >= self._rt.settings.login_max_failures or self._backing_off(
            uow, backoff, now
        )

    def _second_step_failed(
        self, uow: UnitOfWork, vendor_id: UUID, target: str, reason: str
    ) -> None:
        self._rt.record(
            uow,
            vendor_id=vendor_id,
            action="login_failure",
            real=System(vendor_id=vendor_id, reason="login"),
            target=target,
            reason=reason,
            outcome="failure",
            step="second_factor",
        )

    def _challenge(
        self,
        uow: UnitOfWork,
        account: Account,
        chosen: Membership,
        now: datetime,
        purpose: TokenPurpose = TokenPurpose.SECOND_FACTOR,
        seconds: int = _CHALLENGE_SECONDS,
    ) -> str:
        """A fresh single-use challenge for the log-in's second step (stored as a digest,
        bound to the account and the membership chosen)."""
        raw = new_token()
        # A newer challenge ends the older ones: one log-in in progress per account.
        uow.revoke_tokens(
            account.vendor_id,
            now,
            account_id=account.id,
            purposes=[TokenPurpose.SECOND_FACTOR, TokenPurpose.SECOND_FACTOR_ENROL],
        )
        uow.tokens.add(
            Token(
                id=ordered_id(now),
                vendor_id=account.vendor_id,
                purpose=purpose,
                digest=token_digest(raw),
                email=account.email,
                created_at=now,
                expires_at=now + timedelta(seconds=seconds),
                account_id=account.id,
                membership_id=chosen.id,
            )
        )
        return raw

    def _settle(
        self,
        vendor_id: UUID,
        found: Account | None,
        verified: bool,
        locked: bool,
        keys: list[str],
        backoff: str,
        secret: str,
        customer: UUID | None,
    ) -> tuple[str, Membership | None, list[Membership], Account | None, str, bool]:
        """Judge the attempt on the account as it is now and record the outcome; the last
        values are the challenge of the second step ("" when none is needed) and whether
        that step is the enrolment of a second factor the vendor's rule requires."""
        rt = self._rt
        now = rt.clock.now()
        window_start = now - timedelta(seconds=rt.settings.login_window_seconds)
        with rt.transaction() as uow:
            account = found
            if found is not None:
                # The verification holds only if the hash it checked is still the stored one
                # (not if the password changed meanwhile).
                account = uow.accounts.get(vendor_id, found.id)
                if account is None or account.password_hash != found.password_hash:
                    verified = False
            contexts: list[tuple[Membership, AccessContext]] = []
            reason, chosen, usable = self._judge(
                uow, vendor_id, account, verified, locked, now, customer, contexts=contexts
            )
            challenge, enrol = "", False
            if reason:
                self._failed(uow, vendor_id, account, reason, keys, backoff, now, window_start)
            elif self._second_step_needed(uow, vendor_id, account):
                assert account is not None and chosen is not None
                challenge = self._password_step(uow, account, secret, keys[0], chosen, now)
            elif self._second.required(uow, vendor_id, contexts):
                # Compared on the contexts just judged: the rights each membership really
                # has now, not what its profile lists.
                assert account is not None and chosen is not None
                enrol = True
                challenge = self._password_step(
                    uow, account, secret, keys[0], chosen, now, enrol=True
                )
            else:
                assert account is not None and chosen is not None
                account = self._succeeded(uow, account, secret, keys[0], chosen, now)
                if backoff:
                    uow.throttle_clear([backoff])  # a success ends the client's back-off
        return reason, chosen, usable, account, challenge, enrol

    def _second_step_needed(
        self, uow: UnitOfWork, vendor_id: UUID, account: Account | None
    ) -> bool:
        """Whether the account's log-ins go on to a second step: a TOTP factor or a
        passkey."""
        if account is None:
            return False
        if self._second.factor(uow, vendor_id, account.id) is not None:
            return True
        return self._passkeys is not None and self._passkeys.registered(uow, vendor_id, account.id)

    def _password_step(
        self,
        uow: UnitOfWork,
        account: Account,
        password: str,
        key: str,
        chosen: Membership,
        now: datetime,
        *,
        enrol: bool = False,
    ) -> str:
        """The right password of an account with a second factor (or, ``enrol``, one that
        must enrol one): the attempt's number is given back (the code has a counter of its
        own) and a challenge handed out."""
        rt = self._rt
        assert account.password_hash is not None
        if rt.hasher.needs_rehash(account.password_hash):
            # Only now is the password known to be right, so only now may the hash change.
            upgraded = attrs.evolve(
                account, password_hash=rt.hasher.hash(password), version=account.version + 1
            )
            uow.accounts.update(upgraded, account.version)
        uow.throttle_clear([key])
        rt.record(
            uow,
            vendor_id=account.vendor_id,
            action="login_second_factor_enrolment_needed"
            if enrol
            else "login_second_factor_needed",
            real=System(vendor_id=account.vendor_id, reason="login"),
            customer_id=chosen.customer_id,
            target=f"account:{account.id}",
        )
        if enrol:
            return self._challenge(
                uow, account, chosen, now, TokenPurpose.SECOND_FACTOR_ENROL, _ENROL_SECONDS
            )
        return self._challenge(uow, account, chosen, now)

    def _judge(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        account: Account | None,
        verified: bool,
        locked: bool,
        now: datetime,
        customer: UUID | None,
        *,
        password: bool = True,
        contexts: list[tuple[Membership, AccessContext]] | None = None,
    ) -> tuple[str, Membership | None, list[Membership]]:
        """The reason a login fails ("" if it does not), the membership to work in, and
        every membership the login may switch to. ``password=False``: the identity was
        proved otherwise (single sign-on), so the password's rules do not apply.
        ``contexts`` receives each usable membership with its access context."""
        if locked:
            return "throttled", None, []
        if account is None:
            return "unknown_login", None, []
        if password and not self._rt.hasher.is_usable(account.password_hash):
            return "no_password", None, []
        if not verified:
            return "wrong_password", None, []
        if not account.active:
            return "account_disabled", None, []
        expires = account.password_expires_at
        late = expires is not None and not now < expires
        if password and account.must_change_password and late:
            return "password_expired", None, []
        memberships = uow.memberships.list(vendor_id, where={"account_id": account.id})
        # A customer that requires single sign-on takes no password for its logins.
        barred = (
            sso_only(uow, vendor_id, {m.customer_id for m in memberships})
            if password
            else frozenset()
        )
        usable, reasons = [], []
        for membership in memberships:
            if membership.status is not MembershipStatus.ACTIVE:
                reasons.append(f"membership_{membership.status.value}")
                continue
            if membership.customer_id in barred:
                reasons.append("sso_required")
                continue
            # Evaluated live, as for every request: customer, main account and profile.
            context = self._access.context(member_of(membership))
            reason = _refusal(context)
            if reason:
                reasons.append(reason)
            else:
                usable.append(membership)
                if contexts is not None:
                    contexts.append((membership, context))
        if not usable:
            return "; ".join(reasons) or "no_membership", None, []
        chosen = usable[0]
        if customer is not None:
            picked = [m for m in usable if m.customer_id == customer]
            if not picked:
                return "not_a_member_of_customer", None, []
            chosen = picked[0]
        return "", chosen, usable

    def _failed(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        account: Account | None,
        reason: str,
        keys: Sequence[str],
        backoff: str,
        now: datetime,
        window_start: datetime,
    ) -> None:
        if reason != "throttled":
            self._client_failed(uow, vendor_id, keys[1:], backoff, now, window_start)
        # Never the typed login, not even hashed: people type passwords into that field.
        target = f"account:{account.id}" if account else "login:unknown"
        self._rt.record(
            uow,
            vendor_id=vendor_id,
            action="login_failure",
            real=System(vendor_id=vendor_id, reason="login"),
            target=target,
            reason=reason,
            outcome="failure",
        )

    def _client_failed(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        clients: Sequence[str],
        backoff: str,
        now: datetime,
        window_start: datetime,
    ) -> None:
        """Count a failure on the client's key (the account's attempt was counted before the
        check); the failure that reaches the limit locks the client, longer each time."""
        rt = self._rt
        for key in clients:
            if uow.throttle_hit(key, now, window_start) == rt.settings.login_max_failures:
                # Exactly one attempt sees the count reach the limit (the hit is atomic),
                # so each lock window of the client counts once, on every server.
                forget = now - 2 * timedelta(seconds=rt.settings.login_backoff_max_seconds)
                strikes = uow.throttle_strike(backoff, now, forget) if backoff else 1
                seconds = lock_seconds(
                    strikes,
                    rt.settings.login_window_seconds,
                    rt.settings.login_backoff_max_seconds,
                )
                self._locked(uow, vendor_id, "client", seconds)

    def _locked(
        self, uow: UnitOfWork, vendor_id: UUID, target: str, seconds: float | None = None
    ) -> None:
        """Record that a login (or a client) is now refused until its window ends: once per
        window, as the atomic count passes the limit exactly once."""
        self._rt.record(
            uow,
            vendor_id=vendor_id,
            action="login_locked",
            real=System(vendor_id=vendor_id, reason="login"),
            target=target,
            reason=f"{self._rt.settings.login_max_failures} attempts",
            outcome="failure",
            lock_seconds=int(seconds or self._rt.settings.login_window_seconds),
        )

    def _backing_off(self, uow: UnitOfWork, backoff: str, now: datetime) -> bool:
        """Whether the client's latest lock (see :func:`lock_seconds`) still runs."""
        found = uow.throttle_get(backoff) if backoff else None
        if found is None:
            return False
        strikes, started = found
        settings = self._rt.settings
        seconds = lock_seconds(
            strikes, settings.login_window_seconds, settings.login_backoff_max_seconds
        )
        return now < started + timedelta(seconds=seconds)

    def _succeeded(
        self,
        uow: UnitOfWork,
        account: Account,
        password: str | None,
        key: str,
        chosen: Membership,
        now: datetime,
    ) -> Account:
        rt = self._rt
        changes: dict[str, Any] = {"last_login_at": now, "login_count": account.login_count + 1}
        # No password in the second step (the first one upgraded the hash already), nor in
        # a single sign-on (whose account may have no password at all).
        upgraded = (
            password is not None
            and account.password_hash is not None
            and rt.hasher.needs_rehash(account.password_hash)
        )
        if upgraded:
            # Only now is the password known to be right, so only now may the hash change.
            changes["password_hash"] = rt.hasher.hash(password)  # type: ignore[arg-type]
        updated = attrs.evolve(account, version=account.version + 1, **changes)
        uow.accounts.update(updated, account.version)
        uow.throttle_clear([key])  # the attempt's number is given back
        rt.record(
            uow,
            vendor_id=account.vendor_id,
            action="login_success",
            real=member_of(chosen),
            customer_id=chosen.customer_id,
            target=f"account:{account.id}",
            hash_upgraded=upgraded,
        )
        return updated

    def _login(
        self,
        account: Account,
        chosen: Membership,
        usable: Sequence[Membership],
        client_key: str | None,
        user_agent: str | None,
    ) -> Login:
        """The :class:`Login` of a success, with its session's record made (a transaction of
        its own, after the one that judged the attempt: the session begins only then)."""
        with self._rt.transaction() as uow:
            value = self._sessions.open(
                uow,
                account,
                chosen,
                self._rt.clock.now(),
                client_key=client_key,
                user_agent=user_agent,
            )
        return Login(
            account=account,
            actor=member_of(chosen),
            session=value,
            memberships=tuple(usable),
            must_change_password=account.must_change_password,
        )

    def login_verified(
        self,
        vendor: Any,
        account: Any,
        customer: Any,
        *,
        client_key: str | None = None,
        user_agent: str | None = None,
    ) -> Login:
        """Log in an account whose identity was proved without its password — by the
        customer's own OpenID provider (:class:`~portalkit.sso.service.SsoService`) — to
        work in ``customer``; the :class:`Login` as :meth:`authenticate` gives it.

        Only for a caller that verified the identity itself: it checks everything but the
        password (account, membership, customer, main account and profile, live), and that
        the account has no login at another customer (whose portal that proof must not open).
        AuthenticationFailed otherwise. Runs in a transaction of its own.
        """
        rt = self._rt
        rt.standalone("login_verified()")
        vendor_id = ident("vendor", vendor)
        account_id = ident("account", account)
        customer_id = ident("customer", customer)
        now = rt.clock.now()
        with rt.transaction() as uow:
            found = uow.accounts.get(vendor_id, account_id)
            reason, chosen, usable = self._judge(
                uow, vendor_id, found, True, False, now, customer_id, password=False
            )
            if not reason and found is not None:
                # One customer's provider vouches for that customer's logins only: an account
                # that works for another customer too signs in with its password, or the
                # provider could open the other customer's portal (and switch into it).
                theirs = uow.memberships.list(vendor_id, where={"account_id": found.id})
                if any(m.customer_id != customer_id for m in theirs):
                    reason = "works_for_another_customer"
            if reason:
                self._failed(uow, vendor_id, found, reason, [], "", now, now)
            else:
                assert found is not None and chosen is not None
                key = rt.account_key(vendor_id, found)
                found = self._succeeded(uow, found, None, key, chosen, now)
        if reason:
            raise AuthenticationFailed()
        assert found is not None and chosen is not None
        return self._login(found, chosen, usable, client_key, user_agent)

    def session(self, actor: Member, current: str | None = None) -> str:
        """The session value for working as ``actor`` (after a switch of customer or a
        password change, which renews the stamps).

        ``current`` is this browser's session value until now: its record carries over, with
        a new secret, so the session keeps its place in the member's list and its log-in
        time (no renewal makes it outlive ``PORTALKIT_SESSION_ABSOLUTE_HOURS``). Without it,
        or when it no longer holds, a new session begins.

        PermissionDenied when the vendor's second-factor rule covers ``actor``'s membership
        and the account has no second factor: a switch of customer must not reach what a
        log-in would have made it enrol for (the member logs in again, and enrols)."""
        if not isinstance(actor, Member) or actor.impersonator is not None:
            # A view-as-customer actor carries its own limits (read-only, time box); a session
            # value would drop them and hand out the member's full, lasting login.
            raise PermissionDenied("only a member's own login has a session value")
        now = self._rt.clock.now()
        context = self._access.context(actor)  # the rights the membership really has now
        with self._rt.transaction() as uow:
            membership = uow.memberships.get(actor.vendor_id, actor.membership_id)
            account = uow.accounts.get(actor.vendor_id, actor.account_id)
            if membership is None or account is None or membership.account_id != account.id:
                raise AuthenticationFailed()
            if not self._second_step_needed(uow, actor.vendor_id, account) and (
                self._second.required(uow, actor.vendor_id, [(membership, context)])
            ):
                raise PermissionDenied(
                    "this login needs a second factor: log in again to set one up"
                )
            return self._sessions.renew(uow, account, membership, current, now)

    def validate_session(self, vendor: Any, session: str) -> Member:
        """The actor of a session value, if that session still holds; AuthenticationFailed
        otherwise.

        A session ends when it is unused for ``PORTALKIT_SESSION_IDLE_MINUTES``, once
        ``PORTALKIT_SESSION_ABSOLUTE_HOURS`` have passed since its log-in, when it is ended
        from the member's list (``portal.sessions``), when the account's stamp changes (password or e-mail changed,
        deactivated, "log out everywhere"), when the membership's stamp changes (any change of
        its rights, deactivation) and whenever the login no longer works (customer, main
        account or membership off). A request that goes on to portalkit calls wants
        :meth:`session_context` instead: the same check, and the context the calls reuse.
        """
        return self.session_context(vendor, session).actor  # type: ignore[return-value]

    def session_context(self, vendor: Any, session: str) -> AccessContext:
        """Check a session value as :meth:`validate_session` does and return the member's
        access context, read with the session's record in the same queries (on SQL storage)
        that the check needs — in one statement, the record and the vendor's rights
        generation, while the vendor's rights have not changed since this process last read
        this membership's (``AccessService.session_facts``).

        Pass the context as the actor of every portalkit call of the request
        (``portal.customers.get(ctx, …)``): none of them reads the member's rights again. A
        login switched off meanwhile fails the next request's ``session_context``.
        """
        vendor_id = ident("vendor", vendor)
        held = self._sessions.check(vendor_id, session)
        if held is None:
            raise AuthenticationFailed()
        facts = held[1]
        context = self._access.context_from_facts(member_of(facts.membership), facts)
        if _refusal(context):
            raise AuthenticationFailed()
        return context

    def authenticate_token(
        self, vendor: Any, value: str, *, client_key: str | None = None
    ) -> AccessContext:
        """The access context of an integration's access token (``Authorization: Bearer
        <value>``) for ``vendor`` (as :meth:`session_context` takes it), for one request: see
        :meth:`AccessTokenService.authenticate
        <portalkit.accesstokens.service.AccessTokenService.authenticate>`. AuthenticationFailed
        for every failure."""
        if self._access_tokens is None:
            raise AuthenticationFailed()  # a portal without access tokens accepts none
        return self._access_tokens.authenticate(vendor, value, client_key=client_key)

    def end_sessions(self, actor: Actor, account: Account | UUID) -> Account:
        """Log an account out everywhere: a new stamp ends every session made before.

        Staff may do it for any account of their vendor; a member for its own account.
        """

        vendor_id = vendor_of(actor)
        account_id = ident("account", account)
        own = isinstance(actor, Member) and actor.account_id == account_id
        if not own or (isinstance(actor, Member) and actor.impersonator is not None):
            require_admin(actor, LOGINS_MANAGE)  # a view-as-customer actor is not the member itself
        with self._rt.transaction() as uow:
            current = load(uow.accounts, vendor_id, "account", account_id, "account")
            updated = attrs.evolve(
                current, session_stamp=new_session_stamp(), version=current.version + 1
            )
            uow.accounts.update(updated, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="sessions_ended",
                real=actor,
                target=f"account:{current.id}",
            )
            return updated


def lock_seconds(strikes: int, window: float, longest: float) -> float:
    """How long a client key's ``strikes``-th lock window in a row lasts: one window, then
    twice as long each time, never longer than ``longest``."""
    # Capped before the power: a client that kept at it for months must not overflow.
    return min(window * 2.0 ** min(max(strikes, 1) - 1, 40), max(longest, window))


def _refusal(context: AccessContext) -> str:
    """Why a membership cannot log in ("" if it can): its context is denied, or it holds no
    capability at all once the customer's settings are applied ("Geen toegang": a login
    that exists but may do nothing is no login)."""
    if context.denied:
        return context.denied
    return "" if context.capabilities else "no_access"


def member_of(membership: Membership) -> Member:
    """The actor a membership works as once logged in."""
    return Member(
        vendor_id=membership.vendor_id,
        account_id=membership.account_id,
        membership_id=membership.id,
        customer_id=membership.customer_id,
    )


def sso_only(uow: UnitOfWork, vendor_id: UUID, customer_ids: Iterable[UUID]) -> frozenset[UUID]:
    """The customers among ``customer_ids`` that require single sign-on: no password log-in
    (nor reset) for their logins. One read, whatever the customers."""
    found = uow.sso_configs.list_in(vendor_id, "customer_id", set(customer_ids))
    return frozenset(c.customer_id for c in found if c.required and c.active)


def _challenge_bytes(challenge: str) -> bytes:
    """The WebAuthn challenge a second step's challenge stands for (the raw token is
    base64url text of its 32 random bytes)."""
    return base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))


def find_account(uow: UnitOfWork, vendor_id: UUID, typed: str) -> Account | None:
    """The account a typed login (see :func:`login_key`) names, or None."""
    # An e-mail address is looked up as one first, so nobody can take over logins by
    # e-mail with a username that looks like someone's address.
    # Both look-ups whatever the first finds: the reads for a known address are those for
    # an unknown one (issue 9).
    by_email = uow.accounts.get_by(vendor_id, "email", typed) if "@" in typed else None
    by_name = uow.accounts.get_by(vendor_id, "username", typed)
    return by_email if by_email is not None else by_name
