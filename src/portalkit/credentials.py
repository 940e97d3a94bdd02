"""Passwords and one-time links: invitations, admin-set and generated passwords, changes and
resets. Reached as ``portal.credentials``.

Example::

    portal.credentials.invite(staff, membership)             # mails an accept link (7 days)
    portal.credentials.accept_invitation(vendor, token, "a long new passphrase")

    generated = portal.credentials.set_password(staff, membership, send=True)  # mails it too
    portal.credentials.change_password(member, current=generated, new="my own passphrase")

    portal.credentials.request_reset(vendor, "jan@acme.example")   # same answer for anyone
    portal.credentials.reset_password(vendor, token, "another long passphrase")

Every password, whoever sets it, passes the same policy (``PORTALKIT_PASSWORD_POLICY``) and is
stored as an Argon2id hash; every change ends the account's sessions and revokes its
outstanding links. Raw tokens exist only in the mail that carries them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._service import ident, load, prove_password
from portalkit._stamps import new_session_stamp
from portalkit.accounts.model import Account
from portalkit.actors import Actor, Member, System
from portalkit.auth import find_account, login_key, member_of, sso_only
from portalkit.errors import (
    AuthenticationFailed,
    ConcurrentModification,
    InvalidToken,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from portalkit.jobs.model import Job
from portalkit.jobs.queue import Decision, RetryJob
from portalkit.memberships.model import Membership, MembershipKind, MembershipStatus
from portalkit.memberships.rights import may_touch, may_touch_account
from portalkit.passwords import PasswordPolicy, generate_password
from portalkit.staffrights import IMPERSONATE, LOGINS_MANAGE
from portalkit.tokens import Token, TokenPurpose

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.linkmail import LinkMail
    from portalkit.outbox.delivery import Outbox
    from portalkit.storage.base import UnitOfWork

__all__ = ["CredentialService"]

RESET_JOB = "reset_request"


class CredentialService:
    """Set, change and reset passwords; issue and redeem invitation and reset links."""

    def __init__(
        self, rt: Runtime, *, access: AccessService, outbox: Outbox, links: LinkMail
    ) -> None:
        self._rt = rt
        self._access = access
        self._outbox = outbox
        self._links = links
        outbox.on_job(RESET_JOB, self._reset_job)

    # -- policy ---------------------------------------------------------------------------
    @property
    def policy(self) -> PasswordPolicy:
        """The active password policy, from ``PORTALKIT_PASSWORD_*``."""
        settings = self._rt.settings
        policy = PasswordPolicy.named(settings.password_policy)
        changes: dict[str, Any] = {"max_length": settings.password_max_length}
        if settings.password_min_length is not None:
            changes["min_length"] = settings.password_min_length
        return attrs.evolve(policy, **changes)

    def _context(self, uow: UnitOfWork, account: Account) -> list[str]:
        """Words a password must not contain: the login, the vendor and its customers' names."""
        words = [account.username, account.email]
        vendor = uow.vendors.get(account.vendor_id)
        if vendor is not None:
            words.append(vendor.name)
        for membership in uow.memberships.list(account.vendor_id, where={"account_id": account.id}):
            customer = uow.customers.get(account.vendor_id, membership.customer_id)
            if customer is not None:
                words.append(customer.name)
        return words

    def _check(self, uow: UnitOfWork, account: Account, password: str) -> None:
        """The policy, with the account's words, in the account's language."""
        self.policy.check(password, context=self._context(uow, account), language=account.language)

    def _store(
        self, uow: UnitOfWork, account: Account, hashed: str, *, must_change: bool, now: datetime
    ) -> Account:
        """Save a new password hash (checked and made by the caller, outside any transaction):
        new session stamp, links revoked."""
        expires = (
            now + timedelta(hours=self._rt.settings.generated_password_hours)
            if must_change
            else None
        )
        updated = attrs.evolve(
            account,
            password_hash=hashed,
            must_change_password=must_change,
            password_expires_at=expires,
            password_changed_at=now,
            session_stamp=new_session_stamp(),
            version=account.version + 1,
        )
        uow.accounts.update(updated, account.version)
        uow.revoke_tokens(account.vendor_id, now, account_id=account.id)
        return updated

    # -- links ----------------------------------------------------------------------------
    def _mail_link(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        purpose: TokenPurpose,
        email: str,
        hours: float,
        *,
        template: str,
        path: str,
        language: str,
        account_id: UUID | None = None,
        registration_id: UUID | None = None,
        membership_id: UUID | None = None,
        **context: Any,
    ) -> Token:
        """Issue a link and queue the secret mail that carries it, to ``email`` (the stored
        address, never a typed one). The raw token lives only here and in that mail; a newer
        link of the same purpose replaces every older one."""
        prepared = self._links.prepare(
            vendor_id,
            purpose,
            email,
            hours,
            template=template,
            path=path,
            language=language,
            account_id=account_id,
            registration_id=registration_id,
            membership_id=membership_id,
            **context,
        )
        return self._links.store(uow, prepared)

    def link_works(
        self,
        vendor: Any,
        purpose: TokenPurpose | str,
        token: str,
        *,
        client_key: str | None = None,
    ) -> bool:
        """Whether a link would work now, without using it (to show the form or say it is
        dead before the member types a password).

        A link that does not work is recorded and counted per ``client_key`` as a redemption
        of it would be (``token_rejected``): probing links through the page that shows the
        form is no cheaper than through the form.
        """
        vendor_id = ident("vendor", vendor)
        try:
            wanted = TokenPurpose(getattr(purpose, "value", purpose))
        except ValueError:
            return False
        settings = self._rt.settings
        now = self._rt.clock.now()
        window_start = now - timedelta(seconds=settings.login_window_seconds)
        key, throttled = self._links.client_throttle(vendor_id, client_key, window_start)
        if throttled:
            self._links.rejected(vendor_id, wanted, token, key, "throttled", now, window_start)
            return False
        try:
            with self._rt.transaction() as uow:
                self._links.peek(uow, vendor_id, wanted, token)
        except InvalidToken:
            self._links.rejected(
                vendor_id, wanted, token, key, "dead_or_unknown", now, window_start
            )
            return False
        return True

    def _admin(
        self, uow: UnitOfWork, actor: Actor, membership: Any, *, password: bool
    ) -> Membership:
        """The membership an administrator acts on: staff holding ``logins.manage`` any of
        their vendor (to set a ``password``, holding ``impersonate`` too); a member holding
        ``members.manage`` only the logins it may manage — and, to set a ``password``, only
        accounts that are wholly in its hands."""
        vendor_id = vendor_of(actor)
        delegate = self._access.delegated_admin(actor, LOGINS_MANAGE)
        if password and delegate is None:
            # An employee who knows a member's password can log in as it, without the time
            # limit, the read-only rule and the audit trail of viewing as a customer.
            require_admin(actor, IMPERSONATE)
        target = load(uow.memberships, vendor_id, "membership", membership, "membership")
        if delegate is not None:
            may_touch(uow, self._access, delegate, target)
            if password:
                if target.status is not MembershipStatus.ACTIVE:
                    # An invited login may be a person who has a login elsewhere and was asked
                    # to join: the same refusal for every invited login tells nobody which.
                    raise PermissionDenied(
                        "this login is not active; resend the invitation, or set a password "
                        "once the invitation is accepted"
                    )
                # A password belongs to the account, which may log in elsewhere too.
                may_touch_account(uow, self._access, delegate, target.account_id)
        return target

    # -- invitations ----------------------------------------------------------------------
    def invite(self, actor: Actor, membership: Membership | UUID) -> Token:
        """Mail the membership's account a link to choose its password (valid
        ``PORTALKIT_INVITATION_HOURS``, 7 days by default); an earlier invitation stops
        working. Returns the stored token record (never the link itself).

        For accounts without a password yet. An invited login whose account has a password
        already (a person asked to join this customer with the login it has) gets an
        invitation to join instead, accepted with that password; any other login with a
        password gets a reset instead.
        """
        with self._rt.transaction() as uow:
            target = self._admin(uow, actor, membership, password=False)
            account = uow.accounts.get(target.vendor_id, target.account_id)
            assert account is not None
            joining = account.password_hash is not None
            if joining and target.status is not MembershipStatus.INVITED:
                raise ValidationError.single(
                    "membership",
                    "has_password",
                    "this login has a password already; send a password reset instead",
                )
            if not account.active or target.status is MembershipStatus.DISABLED:
                raise ValidationError.single(
                    "membership", "disabled", "this login is disabled; activate it first"
                )
            settings = self._rt.settings
            now = self._rt.clock.now()
            sent = uow.throttle_hit(
                self._rt.throttle_key("invite", target.vendor_id, str(account.id)),
                now,
                now - timedelta(hours=1),
            )
            if sent > settings.request_max_per_hour:
                raise RateLimited("invitations to this login")
            token = self._mail_link(
                uow,
                target.vendor_id,
                TokenPurpose.INVITE,
                account.email,
                settings.invitation_hours,
                template="join_invitation" if joining else "invitation",
                path=settings.invite_path,
                language=account.language,
                account_id=account.id,
                membership_id=target.id,
                username=account.username,
                **self._links.mail_context(uow, target),
            )
            self._rt.record(
                uow,
                vendor_id=target.vendor_id,
                action="invitation_issued",
                real=actor,
                customer_id=target.customer_id,
                target=f"membership:{target.id}",
                token=token.reference,
            )
            return token

    def accept_invitation(
        self,
        vendor: Any,
        token: str,
        password: str,
        *,
        actor: Member | None = None,
        client_key: str | None = None,
    ) -> Account:
        """Redeem an invitation: set the password and activate the invited memberships.

        ``actor`` is the member already logged in, if any: an invitation meant for another
        account is refused (InvalidToken). A password the policy rejects raises
        PasswordRejected and leaves the link usable.

        An invitation to *join* (for an account that has a password already) is accepted
        with that password, which stays as it is: a wrong one raises AuthenticationFailed,
        counts as a failed log-in of the account, and leaves the link usable.

        A link that does not work is recorded in the audit log (``token_rejected``) and, with
        ``client_key`` (the caller's address, say), counted per client: after
        ``PORTALKIT_LOGIN_MAX_FAILURES`` dead links in ``PORTALKIT_LOGIN_WINDOW_SECONDS`` that
        client's links are all refused until the window ends — its own, never anyone else's.
        """
        return self._redeem(vendor, TokenPurpose.INVITE, token, password, actor, client_key)

    def _redeem(
        self,
        vendor: Any,
        purpose: TokenPurpose,
        raw: str,
        password: str,
        actor: Member | None,
        client_key: str | None,
    ) -> Account:
        """Redeem a link, counting and recording the dead ones per client."""
        vendor_id = ident("vendor", vendor)
        settings = self._rt.settings
        now = self._rt.clock.now()
        window_start = now - timedelta(seconds=settings.login_window_seconds)
        key, throttled = self._links.client_throttle(vendor_id, client_key, window_start)
        if throttled:
            self._links.rejected(vendor_id, purpose, raw, key, "throttled", now, window_start)
            raise InvalidToken()
        try:
            return self._redeem_now(vendor_id, purpose, raw, password, actor)
        except InvalidToken:
            self._links.rejected(vendor_id, purpose, raw, key, "dead_or_unknown", now, window_start)
            raise

    def _redeem_now(
        self,
        vendor_id: UUID,
        purpose: TokenPurpose,
        raw: str,
        password: str,
        actor: Member | None,
    ) -> Account:
        now = self._rt.clock.now()
        # Look first (no write lock), hash with no transaction open (tens of milliseconds
        # must not hold SQLite's one writer), then use the link and save in one transaction.
        with self._rt.transaction(read_only=True) as uow:
            _, account = self._redeemable(uow, vendor_id, purpose, raw, actor)
            if purpose is TokenPurpose.INVITE and account.password_hash is not None:
                joining = True
            else:
                joining = False
                self._check(uow, account, password)  # first: a rejected one leaves it usable
        if joining:
            return self._join(vendor_id, raw, password, actor, account, now)
        hashed = self._rt.hasher.hash(password)
        with self._rt.transaction() as uow:
            token, account = self._redeemable(uow, vendor_id, purpose, raw, actor)
            self._links.use(uow, vendor_id, purpose, raw)
            updated = self._store(uow, account, hashed, must_change=False, now=now)
            if purpose is TokenPurpose.INVITE:
                for membership in _invited(uow, vendor_id, account.id, token):
                    uow.memberships.update(
                        attrs.evolve(
                            membership,
                            status=MembershipStatus.ACTIVE,
                            version=membership.version + 1,
                        ),
                        membership.version,
                    )
            else:
                uow.throttle_clear([self._rt.account_key(vendor_id, account)])
                self._notice(uow, updated)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="invitation_accepted"
                if purpose is TokenPurpose.INVITE
                else "password_reset",
                real=System(vendor_id=vendor_id, reason=f"{purpose.value}_link"),
                target=f"account:{account.id}",
                token=token.reference,
            )
            return updated

    def _join(
        self,
        vendor_id: UUID,
        raw: str,
        password: object,
        actor: Member | None,
        account: Account,
        now: datetime,
    ) -> Account:
        """Accept an invitation to join with the account's own password, checked (and
        throttled) as a log-in is, with no transaction open while it is hashed."""
        settings = self._rt.settings
        key = self._rt.account_key(vendor_id, account)
        with self._rt.transaction() as uow:
            window_start = now - timedelta(seconds=settings.login_window_seconds)
            locked = uow.throttle_hit(key, now, window_start) > settings.login_max_failures
        hasher = self._rt.hasher
        secret = password if isinstance(password, str) else ""
        if locked or not hasher.is_usable(account.password_hash):
            hasher.dummy_verify(secret)
            right = False
        else:
            assert account.password_hash is not None
            right = hasher.verify(secret, account.password_hash)
        if not right:
            with self._rt.transaction() as uow:
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="invitation_join_failure",
                    real=System(vendor_id=vendor_id, reason="invite_link"),
                    target=f"account:{account.id}",
                    reason="throttled" if locked else "wrong_password",
                    outcome="failure",
                )
            raise AuthenticationFailed()
        with self._rt.transaction() as uow:
            token, current = self._redeemable(uow, vendor_id, TokenPurpose.INVITE, raw, actor)
            if current.password_hash != account.password_hash:
                raise InvalidToken()  # the password changed while it was checked
            self._links.use(uow, vendor_id, TokenPurpose.INVITE, raw)
            for membership in _invited(uow, vendor_id, current.id, token):
                uow.memberships.update(
                    attrs.evolve(
                        membership, status=MembershipStatus.ACTIVE, version=membership.version + 1
                    ),
                    membership.version,
                )
            uow.throttle_clear([key])  # the try's number is given back
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="invitation_accepted",
                real=System(vendor_id=vendor_id, reason="invite_link"),
                target=f"account:{current.id}",
                token=token.reference,
                joined=True,
            )
            return current

    def _redeemable(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        purpose: TokenPurpose,
        raw: str,
        actor: Member | None,
    ) -> tuple[Token, Account]:
        """The link and the account it would set the password of, if it works now for it."""
        token = self._links.peek(uow, vendor_id, purpose, raw)
        account = uow.accounts.get(vendor_id, token.account_id) if token.account_id else None
        if (
            account is None
            or (actor is not None and actor.account_id != account.id)
            or not account.active
            or account.email != token.email
        ):
            raise InvalidToken()
        if purpose is TokenPurpose.RESET and not self._may_log_in(uow, account.vendor_id, account):
            raise InvalidToken()
        if purpose is TokenPurpose.INVITE and not self._reachable(uow, account):
            raise InvalidToken()  # its customer (or main account) was switched off since
        return token, account

    def _may_log_in(self, uow: UnitOfWork, vendor_id: UUID, account: Account | None) -> bool:
        """Whether ``account`` (None: an unknown login) has a membership that may log in,
        with the same reads either way: for no account, or no active membership, one access
        context is built for an id nobody has, as one would be for a membership (issue 9)."""
        account_id = account.id if account is not None else uuid4()
        found = uow.memberships.list(
            vendor_id, where={"account_id": account_id, "status": MembershipStatus.ACTIVE}
        )
        if not found:
            nobody = Member(
                vendor_id=vendor_id, account_id=account_id, membership_id=uuid4(),
                customer_id=uuid4(),
            )  # fmt: skip
            # The same statements, in the same order, as for a login's one membership.
            sso_only(uow, vendor_id, [nobody.customer_id])
            self._access.context(nobody)
            return False
        # A customer that requires single sign-on resets no passwords of its logins.
        barred = sso_only(uow, vendor_id, {m.customer_id for m in found})
        return any(
            m.customer_id not in barred and not self._access.context(member_of(m)).denied
            for m in found
        )

    def _reachable(self, uow: UnitOfWork, account: Account) -> bool:
        """Whether an invited login has a customer that is still on."""
        vendor_id = account.vendor_id
        for membership in uow.memberships.list(vendor_id, where={"account_id": account.id}):
            if membership.status is MembershipStatus.DISABLED:
                continue
            customer = uow.customers.get(vendor_id, membership.customer_id)
            if customer is None or not customer.active:
                continue
            if membership.kind is MembershipKind.EXTRA:
                # An extra account works only while the customer's main account does (A9).
                mains = uow.memberships.list(
                    vendor_id, where={"customer_id": customer.id, "kind": MembershipKind.MAIN}
                )
                owners = [uow.accounts.get(vendor_id, m.account_id) for m in mains if m.active]
                if not any(owner is not None and owner.active for owner in owners):
                    continue
            return True
        return False

    def _notice(self, uow: UnitOfWork, account: Account) -> None:
        """Tell the account its password changed (no link, no password in it)."""
        self._outbox.send_template(
            System(vendor_id=account.vendor_id, reason="password_changed"),
            to=account.email,
            template="password_changed",
            language=account.language,
            link=self._links.url(self._rt.settings.login_path, ""),
            **self._links.greeting(uow, account),
        )

    # -- admin-set and generated passwords ------------------------------------------------
    def set_password(
        self,
        actor: Actor,
        membership: Membership | UUID,
        password: str | None = None,
        *,
        must_change: bool = True,
        send: bool = False,
    ) -> str | None:
        """Set a login's password as its administrator, or generate one (``password=None``).

        Staff need ``logins.manage`` and ``impersonate``: whoever knows the password can log
        in as the member. With ``logins.manage`` alone, :meth:`invite` mails the member a
        link to choose one itself.

        Returns the generated password (to show once, or copy) or None for a given one. By
        default the member must change it at its next login and it stops working after
        ``PORTALKIT_GENERATED_PASSWORD_HOURS`` if it never does (``must_change=False`` is the
        documented deviation from ASVS 6.4.6). ``send=True`` mails the username and password
        to the account (the message is encrypted while it waits, purged once sent). The
        membership becomes active; the account's sessions and links end.
        """
        now = self._rt.clock.now()
        generated = password is None
        chosen = generate_password(self.policy) if password is None else password
        with self._rt.transaction(read_only=True) as uow:
            target = self._admin(uow, actor, membership, password=True)
            account = uow.accounts.get(target.vendor_id, target.account_id)
            assert account is not None
            self._check(uow, account, chosen)
        seen = account.version
        hashed = self._rt.hasher.hash(chosen)  # with no transaction open (SQLite's lock)
        with self._rt.transaction() as uow:
            target = self._admin(uow, actor, membership, password=True)
            account = uow.accounts.get(target.vendor_id, target.account_id)
            assert account is not None
            if account.version != seen:
                raise ConcurrentModification("account", account.id)
            updated = self._store(uow, account, hashed, must_change=must_change, now=now)
            if target.status is MembershipStatus.INVITED:
                uow.memberships.update(
                    attrs.evolve(
                        target, status=MembershipStatus.ACTIVE, version=target.version + 1
                    ),
                    target.version,
                )
            if send:
                self._outbox.send_template(
                    System(vendor_id=target.vendor_id, reason="credentials"),
                    to=updated.email,
                    template="credentials",
                    language=updated.language,
                    secret=True,
                    username=updated.username,
                    password=chosen,
                    link=self._links.url(self._rt.settings.login_path, ""),
                    **self._links.mail_context(uow, target),
                )
            self._rt.record(
                uow,
                vendor_id=target.vendor_id,
                action="password_set",
                real=actor,
                customer_id=target.customer_id,
                target=f"account:{account.id}",
                generated=generated,
                must_change=must_change,
                mailed=send,
            )
        return chosen if generated else None

    def import_hash(
        self, actor: Actor, membership: Membership | UUID, password_hash: str
    ) -> Account:
        """Give a login the password hash a peer system stored for it, for moving from
        Django or Flask without a reset: the member logs in with the password it had, and
        that log-in upgrades the hash to Argon2id.

        Staff only, with ``logins.manage`` and ``impersonate``: whoever chose the hash may know
        its password, and unlike :meth:`set_password` nothing asks the member to change it, so
        a customer admin may not import one (moving from a peer system is the vendor's job). The formats are those of
        :class:`~portalkit.passwords.PasswordHasher` (Django's ``pbkdf2_sha256``,
        ``pbkdf2_sha1``, ``argon2``, ``bcrypt_sha256``, ``bcrypt``, ``scrypt``; Werkzeug's
        ``pbkdf2:sha256``, ``pbkdf2:sha512``, ``scrypt``); anything else, or a hash over the
        cost caps, raises ValidationError (``password_hash``, ``unknown_format``) and a bcrypt
        hash without the ``bcrypt`` extra ImproperlyInstalled, changing nothing. The account's
        sessions and links end, an invited membership becomes active, and the audit log
        records ``password_hash_imported`` with the scheme (never the hash).
        """
        require_admin(actor, IMPERSONATE)  # never a member: see above
        scheme = self._rt.hasher.importable(password_hash)
        now = self._rt.clock.now()
        with self._rt.transaction() as uow:
            target = self._admin(uow, actor, membership, password=True)
            account = uow.accounts.get(target.vendor_id, target.account_id)
            assert account is not None
            updated = self._store(uow, account, password_hash, must_change=False, now=now)
            if target.status is MembershipStatus.INVITED:
                uow.memberships.update(
                    attrs.evolve(
                        target, status=MembershipStatus.ACTIVE, version=target.version + 1
                    ),
                    target.version,
                )
            self._rt.record(
                uow,
                vendor_id=target.vendor_id,
                action="password_hash_imported",
                real=actor,
                customer_id=target.customer_id,
                target=f"account:{account.id}",
                scheme=scheme,
            )
            return updated

    def generate(self) -> str:
        """A new password that passes the active policy (from ``secrets`` only), e.g. for a
        form's "generate" button."""
        return generate_password(self.policy)

    # -- self-service ---------------------------------------------------------------------
    def change_password(self, actor: Member, *, current: str, new: str) -> Account:
        """Change the actor's own password; the current one must be given.

        A wrong current password raises ValidationError (field ``current``) and changes
        nothing; every session of the account ends, so the host asks
        :meth:`~portalkit.auth.AuthService.session` for a fresh session value.
        """
        if not isinstance(actor, Member) or actor.impersonator is not None:
            raise PermissionDenied("only a member changes its own password")
        self._access.live(actor)
        now = self._rt.clock.now()
        with self._rt.transaction(read_only=True) as uow:
            account = load(uow.accounts, actor.vendor_id, "account", actor.account_id, "account")
            self._check(uow, account, new)
        # A stolen session must not become a way to guess the password (see prove_password).
        account, _ = prove_password(self._rt, actor, current, failure="password_change_failure")
        checked = account.version
        hashed = self._rt.hasher.hash(new)  # with no transaction open
        with self._rt.transaction() as uow:
            account = load(uow.accounts, actor.vendor_id, "account", actor.account_id, "account")
            if account.version != checked:  # changed since the current password was checked
                raise ConcurrentModification("account", account.id)
            updated = self._store(uow, account, hashed, must_change=False, now=now)
            self._notice(uow, updated)
            self._rt.record(
                uow,
                vendor_id=actor.vendor_id,
                action="password_changed",
                real=actor,
                customer_id=actor.customer_id,
                target=f"account:{account.id}",
            )
            return updated

    def request_reset(self, vendor: Any, login: str, *, client_key: str | None = None) -> None:
        """Mail a reset link (valid ``PORTALKIT_RESET_HOURS``, 24 by default) if ``login``
        names an active account that may log in; do nothing otherwise.

        Returns None and raises nothing in every case — unknown, disabled, no password yet,
        too many requests — so the answer tells nobody whether an account exists. The call
        only stores the request (one row, the same for every login) and returns; the
        look-up, link and mail happen in the background (:mod:`portalkit.jobs`), so a stop
        of the process loses nothing and ``portal.mail.wait()`` waits for it. A newer
        request replaces the older link. Only a missing mail key raises
        (ConfigurationError), for every login alike, and NotFound for a vendor that does
        not exist.
        """
        self._rt.standalone("request_reset()")
        vendor_id = ident("vendor", vendor)
        typed = login_key(login) if isinstance(login, str) and len(login) <= 254 else ""
        if not typed:
            return
        key = client_key[:200] if isinstance(client_key, str) and client_key else None
        # Sealing the payload needs the mail key: a missing one fails here, for every login.
        self._outbox.submit(vendor_id, RESET_JOB, {"login": typed, "client_key": key})

    def _reset_job(self, job: Job, payload: dict[str, Any]) -> Decision:
        """Decide a stored reset request: read and prepare outside the write lock, then
        write the same statements whether or not the login is known.

        On SQLite the write lock is what the next request waits for, so what happens while
        it is held must not depend on the answer (issue 9): the reads run in a read-only
        transaction, the link's mail is rendered and sealed before the write transaction —
        for an unknown login too, and then thrown away — and the write transaction differs
        only by the token and outbox rows of a known one.
        """
        settings = self._rt.settings
        vendor_id, typed = job.vendor_id, str(payload["login"])
        if not v.encodable(typed):
            typed = ""  # no login has a lone surrogate: decided as an unknown one
        client_key = payload.get("client_key")
        now = job.created_at  # the request's time counts, not the worker's
        with self._rt.transaction(read_only=True) as uow:
            account = find_account(uow, vendor_id, typed)
            # Asked for every login, known or not: the reads must not tell them apart.
            may_log_in = self._may_log_in(uow, vendor_id, account)
            if account is None:
                reason = "unknown_login"
            elif not self._rt.hasher.is_usable(account.password_hash):
                # As Django does: a login that never had a password gets an invitation, not a
                # reset, from its administrator.
                reason = "no_password"
            elif not account.active or not may_log_in:
                reason = "cannot_log_in"
            else:
                reason = ""
            greeting = self._links.greeting_or(
                uow,
                vendor_id,
                account if not reason else None,
                {"name": typed[:100], "customer_name": "", "logo_url": ""},
            )
        issuing = account is not None and not reason
        prepared = self._links.prepare(
            vendor_id,
            TokenPurpose.RESET,
            account.email if issuing and account else "nobody@invalid.example",
            settings.reset_hours,
            template="password_reset",
            path=settings.reset_path,
            language=account.language if issuing and account else settings.default_language,
            account_id=account.id if issuing and account else None,
            **greeting,
        )
        # The same look-up in both cases: by id, an id nobody has for an unknown login.
        account_id = account.id if account is not None else uuid4()

        def decide(uow: UnitOfWork) -> None:
            # Per account however it was typed (username or e-mail), else per typed login.
            who = f"account:{account.id}" if account is not None else typed
            keys = [self._rt.throttle_key("reset", vendor_id, who)]
            if isinstance(client_key, str) and client_key:
                keys.append(self._rt.throttle_key("reset-client", vendor_id, client_key))
            counts = [uow.throttle_hit(key, now, now - timedelta(hours=1)) for key in keys]
            current = uow.accounts.get(vendor_id, account_id)
            if current != account:
                raise RetryJob("the account changed since it was read")
            why = "throttled" if max(counts) > settings.request_max_per_hour else reason
            system = System(vendor_id=vendor_id, reason="reset_request")
            if why or account is None:
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="reset_refused",
                    real=system,
                    target=f"account:{account.id}" if account else "login:unknown",
                    reason=why or reason,
                    outcome="failure",
                )
                return
            token = self._links.store(uow, prepared)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="reset_issued",
                real=system,
                target=f"account:{account.id}",
                token=token.reference,
            )

        return decide

    def reset_password(
        self, vendor: Any, token: str, password: str, *, client_key: str | None = None
    ) -> Account:
        """Redeem a reset link: set the new password. No login happens; every session of
        the account ends, its failed-login count is cleared, "must change" is lifted, and a
        notice (without any secret) is mailed. InvalidToken for a link that does not work
        (whatever the reason); PasswordRejected leaves the link usable.
        """
        return self._redeem(vendor, TokenPurpose.RESET, token, password, None, client_key)


def _invited(uow: UnitOfWork, vendor_id: UUID, account_id: UUID, token: Token) -> list[Membership]:
    """The invited memberships an accepted invitation switches on: the one it was issued for
    (a person asked to join a second customer says yes to that one only), or — for a link
    issued before links named their membership — every invited one of the account."""
    where: dict[str, object] = {"account_id": account_id, "status": MembershipStatus.INVITED}
    if token.membership_id is not None:
        where["id"] = token.membership_id
    return uow.memberships.list(vendor_id, where=where)
