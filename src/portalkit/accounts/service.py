"""The account service (``portal.accounts``); :mod:`portalkit.accounts` describes the concept,
``model.py`` the records."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._service import ident, load, page, save, seen_version
from portalkit._stamps import new_session_stamp as new_session_stamp  # its old home
from portalkit.accounts.model import (
    Account,
    AccountStatus,
    check_language,
)
from portalkit.actors import Actor, Member, System
from portalkit.errors import (
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    Problem,
    ValidationError,
)
from portalkit.jobs.queue import Decision, RetryJob
from portalkit.memberships.model import MembershipKind
from portalkit.memberships.service import end_logins_of_customer
from portalkit.staffrights import IMPERSONATE, LOGINS_MANAGE
from portalkit.tokens import TokenPurpose

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.jobs.model import Job
    from portalkit.linkmail import LinkMail
    from portalkit.outbox.delivery import Outbox
    from portalkit.storage.base import UnitOfWork

EMAIL_CHANGE_JOB = "email_change_request"


class AccountService:
    """Create, read, change and deactivate accounts. Reached as ``portal.accounts``."""

    _CHANGEABLE = frozenset({"username", "email", "language"})

    def __init__(
        self, rt: Runtime, *, access: AccessService, outbox: Outbox, links: LinkMail
    ) -> None:
        self._rt = rt
        self._access = access
        self._outbox = outbox
        self._links = links
        outbox.on_job(EMAIL_CHANGE_JOB, self._email_change_job)

    def create(
        self, actor: Actor, *, username: str, email: str, language: str | None = None
    ) -> Account:
        """Create an account (without a password: invitations and passwords come later).

        Staff only. Raises ValidationError for a bad username, e-mail or language and
        Conflict when the username or e-mail is taken in this vendor. A customer's own
        administrator adds people with :meth:`portal.logins.add()
        <portalkit.logins.LoginService.add>` instead, whose answer does not tell whether the
        address has a login elsewhere at the vendor (this one's Conflict would).
        """
        vendor_id = vendor_of(actor)
        if isinstance(actor, Member):
            self._access.delegated_admin(
                actor, LOGINS_MANAGE
            )  # a view, or no members.manage: say so
            raise PermissionDenied(
                "customer admins add people with portal.logins.add(), not accounts.create()"
            )
        require_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        name = v.username(problems, "username", username)
        address = v.email(problems, "email", email)
        lang = check_language(problems, language or self._rt.settings.default_language)
        v.raise_if(problems)
        account = Account(
            id=uuid4(),
            vendor_id=vendor_id,
            username=name,
            email=address,
            created_at=self._rt.clock.now(),
            language=lang,
        )
        with self._rt.transaction() as uow:
            uow.accounts.add(account)
            _audit(self._rt, uow, actor, "account_created", account)
        return account

    def get(self, actor: Actor, account: Account | UUID) -> Account:
        """Return an account: staff see all of their vendor, a member only its own."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        with self._rt.transaction() as uow:
            found = load(uow.accounts, vendor_id, "account", account, "account")
        if isinstance(actor, Member) and actor.account_id != found.id:
            raise NotFound("account", found.id)
        return found

    def get_by_username(self, actor: Actor, username: str) -> Account:
        """Return the account with this username (case-insensitive); staff only."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        name = v.username(problems, "username", username)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            found = uow.accounts.get_by(vendor_id, "username", name)
        if found is None:
            raise NotFound("account", name)
        return found

    def get_by_email(self, actor: Actor, email: str) -> Account:
        """Return the account with this login e-mail (normalised comparison); staff only."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        address = v.email(problems, "email", email)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            found = uow.accounts.get_by(vendor_id, "email", address)
        if found is None:
            raise NotFound("account", address)
        return found

    def list(
        self,
        actor: Actor,
        *,
        status: AccountStatus | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Account]:
        """The vendor's accounts, oldest first; staff only."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        limit, offset = page(limit, offset)
        where: dict[str, object] = {}
        if status is not None:
            where["status"] = _status(status)
        with self._rt.transaction() as uow:
            return uow.accounts.list(vendor_id, where=where, limit=limit, offset=offset)

    def update(
        self,
        actor: Actor,
        account: Account | UUID,
        *,
        expected_version: int | None = None,
        **changes: Any,
    ) -> Account:
        """Change username, login e-mail or language.

        A new e-mail address also renews the session stamp: sessions made before it end, and
        so do the account's links (a pending :meth:`request_email_change` too). This is the
        staff path: it applies at once, unconfirmed, and the audit log records it
        (``account_updated``, ``changed=["email"]``). A member changes its own address with
        :meth:`request_email_change`. Staff moving the e-mail of a login that has a password need ``impersonate`` as well
        as ``logins.manage``: a reset sent to the new address is a way in as the member.
        """
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        v.only_fields(problems, changes, self._CHANGEABLE, "account")
        fields: dict[str, Any] = {}
        if "username" in changes:
            fields["username"] = v.username(problems, "username", changes["username"])
        if "email" in changes:
            fields["email"] = v.email(problems, "email", changes["email"])
        if "language" in changes:
            fields["language"] = check_language(problems, changes["language"])
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.accounts, vendor_id, "account", account, "account")
            moved = "email" in fields and v.email_key(fields["email"]) != v.email_key(current.email)
            if moved and current.password_hash is not None:
                # A reset link to an address of the employee's choosing is the password
                # itself: moving a login that has one needs what setting it needs.
                require_admin(actor, IMPERSONATE)
            if moved:
                # Sessions and links made for the old address end with it.
                fields["session_stamp"] = new_session_stamp()
                uow.revoke_tokens(vendor_id, self._rt.clock.now(), account_id=current.id)
            saved = save(
                uow.accounts, current, seen_version(account, expected_version), "account", **fields
            )
            changed = sorted(f for f in changes if getattr(saved, f) != getattr(current, f))
            if changed:
                _audit(self._rt, uow, actor, "account_updated", saved, changed=changed)
            return saved

    # -- a member's own e-mail change, confirmed by a link ---------------------------------
    def request_email_change(self, actor: Member, new_email: str, *, password: str) -> None:
        """Ask to move the actor's own login e-mail to ``new_email``: a link to confirm goes
        to the new address (valid ``PORTALKIT_EMAIL_CHANGE_HOURS``, 24 by default), a notice
        to the old one, and nothing changes until :meth:`confirm_email_change` uses the link.

        ``password`` is the account's current password: a stolen session alone must not move
        the account to an address of the thief's. A wrong one raises ValidationError (field
        ``password``) and counts as a failed log-in of the account (a locked account refuses
        every try); an invalid address or the address the login has already raises
        ValidationError (field ``new_email``). Only a member itself asks, never someone
        viewing as it (PermissionDenied); an account without a password asks staff, who
        change addresses with :meth:`update`.

        Otherwise the answer is None, whether or not another login of the vendor has the new
        address, and whatever follows: the call checks the password and stores the request
        (one row, the same for every address); the look-up and the mail happen in the
        background (``portal.mail.wait()`` waits for them). When the address is taken its
        owner hears that someone tried to use it, and no link is sent; more than
        ``PORTALKIT_REQUEST_MAX_PER_HOUR`` requests of one account in an hour send nothing.
        A newer request replaces the older link.
        """
        if not isinstance(actor, Member) or actor.impersonator is not None:
            raise PermissionDenied("only a member changes its own login e-mail")
        self._rt.standalone("request_email_change()")
        self._access.live(actor)
        problems: list[Problem] = []
        address = v.email(problems, "new_email", new_email)
        v.raise_if(problems)
        settings = self._rt.settings
        now = self._rt.clock.now()
        window_start = now - timedelta(seconds=settings.login_window_seconds)
        with self._rt.transaction() as uow:
            account = load(uow.accounts, actor.vendor_id, "account", actor.account_id, "account")
            if v.email_key(address) == v.email_key(account.email):
                raise ValidationError.single(
                    "new_email", "unchanged", "this is the e-mail address of your login already"
                )
            # As a password change does: each try takes a number on the account's login
            # counter before the check, so a stolen session is no way to guess the password.
            key = self._rt.account_key(actor.vendor_id, account)
            locked = uow.throttle_hit(key, now, window_start) > settings.login_max_failures
        hasher = self._rt.hasher  # with no transaction open (SQLite's one writer)
        if locked or account.password_hash is None or not isinstance(password, str):
            hasher.dummy_verify(password if isinstance(password, str) else "")
            right = False
        else:
            right = hasher.verify(password, account.password_hash)
        if not right:
            with self._rt.transaction() as uow:
                self._rt.record(
                    uow,
                    vendor_id=actor.vendor_id,
                    action="email_change_failure",
                    real=actor,
                    customer_id=actor.customer_id,
                    target=f"account:{account.id}",
                    reason="throttled" if locked else "wrong_password",
                    outcome="failure",
                )
            raise ValidationError.single("password", "incorrect", "the password is not correct")
        with self._rt.transaction() as uow:
            uow.throttle_clear([key])  # the try's number is given back
            # A newer request ends the older link now, not when its job runs (red team: the
            # older link still moved the address in between). The member's own account:
            # nothing here depends on the new address.
            uow.revoke_tokens(
                actor.vendor_id,
                self._rt.clock.now(),
                account_id=account.id,
                purposes=[TokenPurpose.EMAIL_CHANGE],
            )
        # The request only: the same row whether or not the address is taken (sealed with
        # the mail key, so a missing one fails here for every address alike).
        self._outbox.submit(
            actor.vendor_id,
            EMAIL_CHANGE_JOB,
            {"account": str(account.id), "email": address, "stamp": _stamp_digest(account)},
        )

    def _email_change_job(self, job: Job, payload: dict[str, Any]) -> Decision:
        """Decide a stored e-mail change request: read and render outside the write lock,
        then write.

        All three mails — the link to the new address, the notice to the old one and the
        "someone tried your address" notice to the owner of a taken one — are rendered (the
        link sealed) whatever the answer, and the unneeded one thrown away, so the work
        before the write transaction does not depend on whether the address is taken.
        """
        settings = self._rt.settings
        vendor_id, address = job.vendor_id, str(payload["email"])
        account_id = UUID(str(payload["account"]))
        now = job.created_at  # the request's time counts, not the worker's
        nobody = {"name": "", "customer_name": "", "logo_url": ""}
        with self._rt.transaction(read_only=True) as uow:
            account = uow.accounts.get(vendor_id, account_id)
            owner = uow.accounts.get_by(vendor_id, "email", address)
            greeting = self._links.greeting_or(uow, vendor_id, account, nobody)
            # The owner's own name: nothing of the requester reaches the owner's mail.
            owner_greeting = self._links.greeting_or(uow, vendor_id, owner, nobody)
        system = System(vendor_id=vendor_id, reason="email_change_request")
        if (
            account is None
            or not account.active
            or _stamp_digest(account) != payload.get("stamp")
            or (owner is not None and owner.id == account.id)
        ):
            # Erased, disabled, or its password, address or sessions changed since it asked:
            # the request was made by a session that no longer counts.
            def refuse(uow: UnitOfWork) -> None:
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="email_change_refused",
                    real=system,
                    target=f"account:{account_id}",
                    reason="account_changed",
                    outcome="failure",
                )

            return refuse
        language = account.language
        login_link = self._links.url(settings.login_path, "")
        link = self._links.prepare(
            vendor_id,
            TokenPurpose.EMAIL_CHANGE,
            address,
            settings.email_change_hours,
            template="email_change",
            path=settings.email_change_path,
            language=language,
            account_id=account.id,
            **greeting,
        )
        notice = self._outbox.compose_template(
            vendor_id,
            to=account.email,
            template="email_change_requested",
            language=language,
            new_email=address,
            link=login_link,
            **greeting,
        )
        taken = self._outbox.compose_template(
            vendor_id,
            to=owner.email if owner is not None else address,
            template="email_change_taken",
            language=owner.language if owner is not None else language,
            link=login_link,
            **owner_greeting,
        )

        def decide(uow: UnitOfWork) -> None:
            key = self._rt.throttle_key("email-change", vendor_id, str(account.id))
            count = uow.throttle_hit(key, now, now - timedelta(hours=1))
            if uow.accounts.get(vendor_id, account.id) != account:
                raise RetryJob("the account changed since it was read")
            if uow.accounts.get_by(vendor_id, "email", address) != owner:
                raise RetryJob("a login with this address came or went since it was read")
            if count > settings.request_max_per_hour:
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="email_change_refused",
                    real=system,
                    target=f"account:{account.id}",
                    reason="throttled",
                    outcome="failure",
                )
                return
            # The old address hears of every request, taken address or not: its owner is
            # the one who can stop a change it did not ask for (by changing the password).
            self._outbox.queue(uow, notice)
            if owner is not None:
                self._outbox.queue(uow, taken)
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="email_change_refused",
                    real=system,
                    target=f"account:{account.id}",
                    reason="address_taken",
                    outcome="failure",
                )
                return
            token = self._links.store(uow, link)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="email_change_requested",
                real=system,
                target=f"account:{account.id}",
                token=token.reference,
            )

        return decide

    def confirm_email_change(
        self, vendor: Any, token: str, *, client_key: str | None = None
    ) -> Account:
        """Use an e-mail change link: the login e-mail becomes the new address.

        Every session of the account ends (a new session stamp) and so do its other links;
        the old address gets a notice, and the audit log records ``email_changed``. No log-in
        happens. InvalidToken for a link that does not work, whatever the reason: unknown,
        used, expired, replaced by a newer request, the account's password or address
        changed or the account was disabled since, or the new address became another
        login's meanwhile (the link then dies for good). Dead links are recorded and counted
        per ``client_key`` as a reset link's are.
        """
        vendor_id = ident("vendor", vendor)
        settings = self._rt.settings
        now = self._rt.clock.now()
        window_start = now - timedelta(seconds=settings.login_window_seconds)
        purpose = TokenPurpose.EMAIL_CHANGE
        key, throttled = self._links.client_throttle(vendor_id, client_key, window_start)
        if throttled:
            self._links.rejected(vendor_id, purpose, token, key, "throttled", now, window_start)
            raise InvalidToken()
        try:
            return self._change_email(vendor_id, token)
        except InvalidToken:
            self._links.rejected(
                vendor_id, purpose, token, key, "dead_or_unknown", now, window_start
            )
            raise

    def _change_email(self, vendor_id: UUID, raw: str) -> Account:
        """Use the link and move the address, in one transaction."""
        purpose = TokenPurpose.EMAIL_CHANGE
        now = self._rt.clock.now()
        system = System(vendor_id=vendor_id, reason="email_change_link")
        taken = False
        try:
            with self._rt.transaction() as uow:
                found = self._links.peek(uow, vendor_id, purpose, raw)
                account = (
                    uow.accounts.get(vendor_id, found.account_id) if found.account_id else None
                )
                if account is None or not account.active:
                    raise InvalidToken()
                if uow.accounts.get_by(vendor_id, "email", found.email) is not None:
                    # Another login has the address now: the link dies for good.
                    uow.revoke_tokens(vendor_id, now, account_id=account.id, purposes=[purpose])
                    self._rt.record(
                        uow,
                        vendor_id=vendor_id,
                        action="email_change_refused",
                        real=system,
                        target=f"account:{account.id}",
                        reason="address_taken",
                        outcome="failure",
                        token=found.reference,
                    )
                    taken = True
                else:
                    used = self._links.use(uow, vendor_id, purpose, raw)
                    saved = save(
                        uow.accounts,
                        account,
                        account.version,
                        "account",
                        email=found.email,
                        session_stamp=new_session_stamp(),
                    )
                    # Links made for the old address end with it.
                    uow.revoke_tokens(vendor_id, now, account_id=account.id)
                    self._outbox.send_template(
                        System(vendor_id=vendor_id, reason="email_changed"),
                        to=account.email,
                        template="email_changed",
                        language=account.language,
                        new_email=saved.email,
                        link=self._links.url(self._rt.settings.login_path, ""),
                        **self._links.greeting(uow, account),
                    )
                    self._rt.record(
                        uow,
                        vendor_id=vendor_id,
                        action="email_changed",
                        real=system,
                        target=f"account:{account.id}",
                        token=used.reference,
                    )
        except Conflict:
            # Another login took the address between the look and the write (the unique
            # index said so): the same dead link, and nothing changed.
            raise InvalidToken() from None
        if taken:
            raise InvalidToken()
        return saved

    def deactivate(self, actor: Actor, account: Account | UUID) -> Account:
        """Disable an account and renew its session stamp, so its existing sessions end."""
        return self._set_status(actor, account, AccountStatus.DISABLED)

    def reactivate(self, actor: Actor, account: Account | UUID) -> Account:
        """Enable a disabled account again."""
        return self._set_status(actor, account, AccountStatus.ACTIVE)

    def _set_status(self, actor: Actor, account: Account | UUID, status: AccountStatus) -> Account:
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        with self._rt.transaction() as uow:
            current = load(uow.accounts, vendor_id, "account", account, "account")
            if current.status is status:
                return current
            saved = save(
                uow.accounts,
                current,
                seen_version(account),
                "account",
                status=status,
                session_stamp=new_session_stamp(),
            )
            if status is AccountStatus.DISABLED:
                now = self._rt.clock.now()
                uow.revoke_tokens(vendor_id, now, account_id=current.id)
                # A main account stops its customer's extras however it is switched off: here
                # as through its membership, their links and sessions end, for good.
                for main in uow.memberships.list(
                    vendor_id, where={"account_id": current.id, "kind": MembershipKind.MAIN}
                ):
                    end_logins_of_customer(uow, vendor_id, main.customer_id, now)
            action = "reactivated" if status is AccountStatus.ACTIVE else "deactivated"
            _audit(self._rt, uow, actor, f"account_{action}", saved)
            return saved


def _audit(
    rt: Runtime, uow: UnitOfWork, actor: Actor, action: str, account: Account, **details: Any
) -> None:

    rt.record(
        uow,
        vendor_id=account.vendor_id,
        action=action,
        real=actor,
        target=f"account:{account.id}",
        **details,
    )


def _status(value: object) -> AccountStatus:
    try:
        return AccountStatus(value.value if isinstance(value, AccountStatus) else value)
    except ValueError:
        problems = [Problem("status", "invalid_choice", "must be 'active' or 'disabled'")]
        v.raise_if(problems)
        raise  # pragma: no cover - raise_if always raises here


def _stamp_digest(account: Account) -> str:
    """What an e-mail change request keeps of the account's session stamp: a request made
    before the stamp changed (password, address, sessions ended) is not carried out."""
    return hashlib.sha256(account.session_stamp.encode()).hexdigest()[:32]
