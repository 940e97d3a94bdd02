"""The account service (``portal.accounts``); :mod:`portalkit.accounts` describes the concept,
``model.py`` the records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._service import load, page, save, seen_version
from portalkit._stamps import new_session_stamp as new_session_stamp  # its old home
from portalkit.accounts.model import (
    Account,
    AccountStatus,
    check_language,
)
from portalkit.actors import Actor, Member
from portalkit.errors import NotFound, PermissionDenied, Problem
from portalkit.memberships.model import MembershipKind
from portalkit.memberships.service import end_logins_of_customer
from portalkit.staffrights import IMPERSONATE, LOGINS_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.storage.base import UnitOfWork


class AccountService:
    """Create, read, change and deactivate accounts. Reached as ``portal.accounts``."""

    _CHANGEABLE = frozenset({"username", "email", "language"})

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

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

        A new e-mail address also renews the session stamp: sessions made before it end.
        Staff moving the e-mail of a login that has a password need ``impersonate`` as well
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
