"""Enrolling, checking and resetting an account's TOTP second factor.

Example::

    enrolment = portal.second_factor.begin(member, password=typed)  # show enrolment.qr_svg
    codes = portal.second_factor.confirm(member, "492039")   # show the recovery codes once

    try:
        login = portal.auth.authenticate(vendor, name, password)
    except SecondFactorRequired as needed:             # only after the right password
        login = portal.auth.complete_login(vendor, needed.challenge, typed_code)
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from portalkit._guard import require_admin, vendor_of
from portalkit._ids import ordered_id
from portalkit._service import ident, load, prove_password
from portalkit._stamps import new_session_stamp
from portalkit.actors import Actor, Member, System
from portalkit.errors import (
    ConcurrentModification,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from portalkit.secondfactor import totp
from portalkit.secondfactor.model import SecondFactor
from portalkit.staffrights import LOGINS_MANAGE

if TYPE_CHECKING:
    from uuid import UUID

    from portalkit._runtime import Runtime
    from portalkit.accounts.model import Account
    from portalkit.linkmail import LinkMail
    from portalkit.outbox.delivery import Outbox
    from portalkit.storage.base import UnitOfWork

__all__ = ["Enrolment", "SecondFactorService"]

_CODE_MAX = 40


@attrs.frozen
class Enrolment:
    """What a member needs to set up an authenticator app: the QR code (SVG), the same
    address as text, and the secret for typing in by hand. Shown once, never stored in
    clear."""

    uri: str = attrs.field(repr=False)
    qr_svg: str = attrs.field(repr=False)
    secret: str = attrs.field(repr=False)


class SecondFactorService:
    """Accounts' TOTP second factors. Reached as ``portal.second_factor``."""

    def __init__(self, rt: Runtime, *, outbox: Outbox, links: LinkMail) -> None:
        self._rt = rt
        self._outbox = outbox
        self._links = links

    def begin(self, actor: Member, *, password: str, issuer: str = "") -> Enrolment:
        """Start (or start again) the enrolment of the member's own account: a new secret,
        which works only once :meth:`confirm` has seen a first code of it.

        ``password`` is the account's current one: a stolen session alone must not put a
        factor the thief holds in front of the owner's next log-in. A wrong one raises
        ValidationError (field ``current``); tries count on the account's login counter, as
        a change of password does. Conflict if the account has a working second factor
        (disable or reset it first).
        """
        vendor_id = self._own(actor)
        prove_password(self._rt, actor, password, failure="second_factor_enrol_failure")
        now = self._rt.clock.now()
        secret = totp.new_secret()
        with self._rt.transaction() as uow:
            account = uow.accounts.get(vendor_id, actor.account_id)
            if account is None:
                raise NotFound("account", actor.account_id)
            current = uow.second_factors.get_by(vendor_id, "account_id", account.id)
            if current is not None and current.active:
                raise Conflict(
                    "second_factor", "this account has a second factor already; disable it first"
                )
            sealed = self._rt.seal(base64.b64encode(secret).decode())
            if current is None:
                uow.second_factors.add(
                    SecondFactor(
                        id=ordered_id(now),
                        vendor_id=vendor_id,
                        account_id=account.id,
                        created_at=now,
                        secret=sealed,
                    )
                )
            else:
                fresh = attrs.evolve(
                    current,
                    secret=sealed,
                    confirmed_at=None,
                    last_step=None,
                    recovery_digests=frozenset(),
                    version=current.version + 1,
                )
                uow.second_factors.update(fresh, current.version)
            name = account.email or account.username
        uri = totp.provisioning_uri(secret, name, issuer or "portal")
        return Enrolment(
            uri=uri,
            qr_svg=totp.qr_svg(uri),
            secret=base64.b32encode(secret).decode().rstrip("="),
        )

    def confirm(self, actor: Member, code: str) -> tuple[str, ...]:
        """Switch the begun second factor on with a first code from the app; returns the
        ten recovery codes, shown this once (only their digests are kept). Every session of
        the account ends, this one too (ask ``portal.auth.session(member)`` for a fresh
        value): one made before the factor must not outlive it."""
        vendor_id = self._own(actor)
        now = self._rt.clock.now()
        with self._rt.transaction() as uow:
            current = uow.second_factors.get_by(vendor_id, "account_id", actor.account_id)
            if current is None or current.active or not current.secret:
                raise Conflict("second_factor", "no second factor is being set up; begin again")
            step = totp.verify(self._secret(current), code, now, None)
            if step is None:
                raise ValidationError.single(
                    "code", "wrong_code", "this code is not the one the app shows now"
                )
            codes = totp.new_recovery_codes()
            key = self._rt.throttle_secret
            confirmed = attrs.evolve(
                current,
                confirmed_at=now,
                last_step=step,
                recovery_digests=frozenset(totp.recovery_digest(c, key) for c in codes),
                version=current.version + 1,
            )
            uow.second_factors.update(confirmed, current.version)
            account = load(uow.accounts, vendor_id, "account", actor.account_id, "account")
            uow.accounts.update(
                attrs.evolve(
                    account, session_stamp=new_session_stamp(), version=account.version + 1
                ),
                account.version,
            )
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="second_factor_enabled",
                real=actor,
                customer_id=actor.customer_id,
                target=f"account:{actor.account_id}",
            )
        return tuple(codes)

    def disable(self, actor: Member, proof: str) -> None:
        """Switch off the member's own second factor, proven with the account's password
        or an unused recovery code. Ends every session of the account (this one too: ask
        ``portal.auth.session(member)`` for a fresh value). Tries count on the account's
        login counter, as a change of password does, so a stolen session cannot guess."""
        vendor_id = self._own(actor)
        rt = self._rt
        with rt.transaction(read_only=True) as uow:
            current = self.factor(uow, vendor_id, actor.account_id)
        if current is None:
            raise Conflict("second_factor", "this account has no second factor")
        digests = sorted(current.recovery_digests)
        account, recovery = prove_password(
            rt,
            actor,
            proof,
            failure="second_factor_disable_failure",
            field="proof",
            alternative=lambda _: (
                totp.matching_recovery(proof, digests, rt.throttle_secret) is not None
            ),
        )
        with rt.transaction() as uow:
            fresh = uow.second_factors.get(vendor_id, current.id)
            stored = uow.accounts.get(vendor_id, account.id)
            if fresh is None or stored is None or fresh.version != current.version:
                raise ConcurrentModification("second_factor", current.id)
            uow.second_factors.update(_switched_off(fresh), fresh.version)
            self._sessions_ended(uow, stored, "second_factor_disabled")
            rt.record(
                uow,
                vendor_id=vendor_id,
                action="second_factor_disabled",
                real=actor,
                customer_id=actor.customer_id,
                target=f"account:{account.id}",
                proof="recovery_code" if recovery else "password",
            )

    def reset(self, actor: Actor, account: Any) -> None:
        """Staff switch off a member's lost second factor (audited); the member logs in
        with the password alone and may enrol again (must, under
        :meth:`require_for`). Every session of the account ends — whoever holds one may be
        the one who took the phone — and the owner gets a mail saying so."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        account_id = ident("account", account)
        with self._rt.transaction() as uow:
            stored = uow.accounts.get(vendor_id, account_id)
            if stored is None:
                raise NotFound("account", account_id)
            current = uow.second_factors.get_by(vendor_id, "account_id", account_id)
            if current is None or not current.active:
                raise Conflict("second_factor", "this account has no second factor")
            uow.second_factors.update(_switched_off(current), current.version)
            self._sessions_ended(uow, stored, "second_factor_reset")
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="second_factor_reset",
                real=actor,
                target=f"account:{account_id}",
            )

    def _sessions_ended(self, uow: UnitOfWork, account: Account, template: str) -> None:
        """End every session of the account and tell its owner why (no secret in the mail;
        queued in the same transaction, so a rolled-back change mails nobody)."""
        uow.accounts.update(
            attrs.evolve(account, session_stamp=new_session_stamp(), version=account.version + 1),
            account.version,
        )
        self._outbox.send_template(
            System(vendor_id=account.vendor_id, reason=template),
            to=account.email,
            template=template,
            language=account.language,
            link=self._links.url(self._rt.settings.login_path, ""),
            **self._links.greeting(uow, account),
        )

    def enabled(self, actor: Actor, account: Any) -> bool:
        """Whether log-ins of the account need a second factor (staff, or the member for
        its own account)."""
        vendor_id = vendor_of(actor)
        account_id = ident("account", account)
        if not (isinstance(actor, Member) and actor.account_id == account_id):
            require_admin(actor, LOGINS_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            return self.factor(uow, vendor_id, account_id) is not None

    # -- for the log-in's second step --------------------------------------------------------
    def factor(self, uow: UnitOfWork, vendor_id: UUID, account_id: UUID) -> SecondFactor | None:
        """The account's working second factor, or None."""
        found = uow.second_factors.get_by(vendor_id, "account_id", account_id)
        return found if found is not None and found.active else None

    def accept(self, factor: SecondFactor, code: object, now: datetime) -> SecondFactor | None:
        """The factor as it is after ``code`` was used (its step, or its recovery code
        gone), or None when ``code`` is neither a current code nor an unused recovery code.
        The caller stores it with a version check, so of two servers one wins."""
        if not isinstance(code, str) or len(code) > _CODE_MAX:
            return None
        step = totp.verify(self._secret(factor), code, now, factor.last_step)
        if step is not None:
            return attrs.evolve(factor, last_step=step, version=factor.version + 1)
        used = totp.matching_recovery(
            code, sorted(factor.recovery_digests), self._rt.throttle_secret
        )
        if used is None:
            return None
        return attrs.evolve(
            factor, recovery_digests=factor.recovery_digests - {used}, version=factor.version + 1
        )

    def _secret(self, factor: SecondFactor) -> bytes:
        return base64.b64decode(self._rt.open(factor.secret))

    def _own(self, actor: object) -> UUID:
        if not isinstance(actor, Member) or actor.impersonator is not None:
            raise PermissionDenied("only members set up their own second factor")
        return vendor_of(actor)


def _switched_off(factor: SecondFactor) -> SecondFactor:
    return attrs.evolve(
        factor,
        secret="",
        confirmed_at=None,
        last_step=None,
        recovery_digests=frozenset(),
        version=factor.version + 1,
    )
