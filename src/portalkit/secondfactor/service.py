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
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._ids import ordered_id
from portalkit._service import ident, load, prove_password
from portalkit._stamps import new_session_stamp
from portalkit.actors import Actor, Member, System
from portalkit.errors import (
    AuthenticationFailed,
    ConcurrentModification,
    Conflict,
    NotFound,
    PermissionDenied,
    Problem,
    ValidationError,
)
from portalkit.secondfactor import totp
from portalkit.secondfactor.model import SecondFactor, SecondFactorRule
from portalkit.staffrights import LOGINS_MANAGE
from portalkit.tokens import TokenPurpose, token_digest

if TYPE_CHECKING:
    from uuid import UUID

    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.accounts.model import Account
    from portalkit.linkmail import LinkMail
    from portalkit.memberships.model import Membership
    from portalkit.outbox.delivery import Outbox
    from portalkit.storage.base import UnitOfWork

__all__ = ["Enrolment", "SecondFactorService"]

_CODE_MAX = 40
_RULE_MAX = 100  # capabilities, and profiles, one rule names


@attrs.frozen
class Enrolment:
    """What a member needs to set up an authenticator app: the QR code (SVG), the same
    address as text, and the secret for typing in by hand. Shown once, never stored in
    clear."""

    uri: str = attrs.field(repr=False)
    qr_svg: str = attrs.field(repr=False)
    secret: str = attrs.field(repr=False)

    @property
    def qr_data_uri(self) -> str:
        """The QR code as a ``data:`` address for ``<img src>``: a page shows it as an image,
        which runs nothing, instead of pasting the SVG into its markup."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.qr_svg.encode()).decode()


class SecondFactorService:
    """Accounts' TOTP second factors. Reached as ``portal.second_factor``."""

    def __init__(
        self, rt: Runtime, *, access: AccessService, outbox: Outbox, links: LinkMail
    ) -> None:
        self._rt = rt
        self._access = access
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
        return self._begin(vendor_id, actor.account_id, issuer)

    def begin_enrolment(self, vendor: Any, challenge: str, *, issuer: str = "") -> Enrolment:
        """:meth:`begin` for a log-in that must enrol first: the challenge of
        :class:`~portalkit.errors.SecondFactorEnrolmentRequired` stands for the password,
        just given. It stays unused (call again for a new secret) until
        ``portal.auth.complete_enrolment`` takes the app's first code and logs in; it does
        nothing else. AuthenticationFailed when the challenge does not work (unknown,
        expired, used, replaced by a newer log-in, or a second step's)."""
        vendor_id = ident("vendor", vendor)
        now = self._rt.clock.now()
        fits = isinstance(challenge, str) and 0 < len(challenge) < 200 and v.encodable(challenge)
        with self._rt.transaction(read_only=True) as uow:
            token = uow.tokens.get_by(vendor_id, "token", token_digest(challenge)) if fits else None
        if (
            token is None
            or token.vendor_id != vendor_id
            or token.account_id is None
            or not token.usable(TokenPurpose.SECOND_FACTOR_ENROL, now)
        ):
            raise AuthenticationFailed()
        try:
            return self._begin(vendor_id, token.account_id, issuer)
        except (Conflict, NotFound):
            raise AuthenticationFailed() from None

    def _begin(self, vendor_id: UUID, account_id: UUID, issuer: str) -> Enrolment:
        now = self._rt.clock.now()
        secret = totp.new_secret()
        with self._rt.transaction() as uow:
            account = uow.accounts.get(vendor_id, account_id)
            if account is None:
                raise NotFound("account", account_id)
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
            current = self.being_set_up(uow, vendor_id, actor.account_id)
            if current is None:
                raise Conflict("second_factor", "no second factor is being set up; begin again")
            codes = self.switch_on(uow, current, code, now)
            if codes is None:
                raise ValidationError.single(
                    "code", "wrong_code", "this code is not the one the app shows now"
                )
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="second_factor_enabled",
                real=actor,
                customer_id=actor.customer_id,
                target=f"account:{actor.account_id}",
            )
        return codes

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

    # -- the vendor's rule ---------------------------------------------------------------------
    def require_for(
        self, actor: Actor, *, capabilities: Iterable[str] = (), profiles: Iterable[Any] = ()
    ) -> SecondFactorRule:
        """Make a second factor compulsory for every login of the vendor whose effective
        rights hold one of ``capabilities`` (``"members.manage"``) or that works with one of
        ``profiles`` (records or ids); the rule replaces the one before, and empty lists
        require nothing. Staff with ``logins.manage``; audited.

        Effective means what the login may really do, in every membership it may log in
        with: a capability the customer's settings cut (prices switched off) does not
        count, one held in any usable membership (an umbrella's, say) does; a disabled
        membership, or one whose customer is off, does not. A login under the rule without
        a second factor (a TOTP factor or a passkey) gets
        :class:`~portalkit.errors.SecondFactorEnrolmentRequired` from its next right
        password, and enrols before it gets a session. Sessions made before go on until
        they end; call ``portal.auth.end_sessions`` for the logins that must enrol at once.

        ValidationError for an unknown capability or a malformed list; NotFound for a
        profile the vendor does not have.
        """
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        names = _names(problems, "capabilities", capabilities)
        for name in self._access.check_capabilities(names):
            problems.append(
                Problem(
                    "capabilities",
                    "unknown",
                    "{name} is not a registered capability",
                    {"name": v.shown(name)},
                )
            )
        if isinstance(profiles, str | bytes) or not isinstance(profiles, Iterable):
            problems.append(Problem("profiles", "not_list", "must be a list of profiles"))
            profiles = ()
        picked = list(profiles)
        if len(picked) > _RULE_MAX:
            problems.append(
                Problem("profiles", "too_many", "may hold at most {limit}", {"limit": _RULE_MAX})
            )
            picked = []
        v.raise_if(problems)
        profile_ids = frozenset(ident("profiles", p) for p in picked)
        now = self._rt.clock.now()
        with self._rt.transaction() as uow:
            for profile_id in sorted(profile_ids):
                load(uow.profiles, vendor_id, "profile", profile_id, "profiles")
            current = uow.second_factor_rules.get_by(vendor_id, "vendor", None)
            if current is None:
                rule = SecondFactorRule(
                    id=ordered_id(now),
                    vendor_id=vendor_id,
                    created_at=now,
                    capabilities=names,
                    profile_ids=profile_ids,
                )
                uow.second_factor_rules.add(rule)
            else:
                rule = attrs.evolve(
                    current,
                    capabilities=names,
                    profile_ids=profile_ids,
                    version=current.version + 1,
                )
                uow.second_factor_rules.update(rule, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="second_factor_rule_changed",
                real=actor,
                target=f"vendor:{vendor_id}",
                capabilities=sorted(names),
                profiles=sorted(str(p) for p in profile_ids),
            )
        return rule

    def rule(self, actor: Actor) -> SecondFactorRule | None:
        """The vendor's rule of which logins must have a second factor (see
        :meth:`require_for`), or None when there never was one. Staff with
        ``logins.manage``."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        with self._rt.transaction(read_only=True) as uow:
            return uow.second_factor_rules.get_by(vendor_id, "vendor", None)

    def required(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        usable: Iterable[tuple[Membership, AccessContext]],
    ) -> bool:
        """Whether the vendor's rule covers a login with these usable memberships and
        their access contexts (for ``portal.auth``). A context is effective rights: a
        capability the customer's settings cut is not in it, and a denied one holds
        nothing, not even its profile."""
        rule = uow.second_factor_rules.get_by(vendor_id, "vendor", None)
        if rule is None:
            return False
        return any(
            not context.denied
            and (
                bool(rule.capabilities & context.capabilities)
                or membership.profile_id in rule.profile_ids
            )
            for membership, context in usable
        )

    # -- for the log-in's second step --------------------------------------------------------
    def factor(self, uow: UnitOfWork, vendor_id: UUID, account_id: UUID) -> SecondFactor | None:
        """The account's working second factor, or None."""
        found = uow.second_factors.get_by(vendor_id, "account_id", account_id)
        return found if found is not None and found.active else None

    def being_set_up(
        self, uow: UnitOfWork, vendor_id: UUID, account_id: UUID
    ) -> SecondFactor | None:
        """The account's begun, not yet confirmed second factor, or None."""
        found = uow.second_factors.get_by(vendor_id, "account_id", account_id)
        return found if found is not None and not found.active and found.secret else None

    def switch_on(
        self, uow: UnitOfWork, factor: SecondFactor, code: object, now: datetime
    ) -> tuple[str, ...] | None:
        """Confirm a begun factor with the app's first code, in the caller's transaction:
        the factor works from now on and every session of the account ends (one made before
        the factor must not outlive it). Returns the ten recovery codes, or None (nothing
        written) when ``code`` is not the app's current one."""
        if not isinstance(code, str) or len(code) > _CODE_MAX:
            return None
        step = totp.verify(self._secret(factor), code, now, None)
        if step is None:
            return None
        codes = totp.new_recovery_codes()
        key = self._rt.throttle_secret
        confirmed = attrs.evolve(
            factor,
            confirmed_at=now,
            last_step=step,
            recovery_digests=frozenset(totp.recovery_digest(c, key) for c in codes),
            version=factor.version + 1,
        )
        uow.second_factors.update(confirmed, factor.version)
        account = load(uow.accounts, factor.vendor_id, "account", factor.account_id, "account")
        uow.accounts.update(
            attrs.evolve(account, session_stamp=new_session_stamp(), version=account.version + 1),
            account.version,
        )
        return tuple(codes)

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


def _names(problems: list[Problem], field: str, value: object) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        problems.append(Problem(field, "not_list", "must be a list of names"))
        return frozenset()
    items = list(value)
    if len(items) > _RULE_MAX:
        problems.append(
            Problem(field, "too_many", "may hold at most {limit}", {"limit": _RULE_MAX})
        )
        return frozenset()
    good = set()
    for item in items:
        if not isinstance(item, str) or not 0 < len(item) <= 100:
            problems.append(
                Problem(field, "invalid_name", "{item} is not a name", {"item": v.shown(item)})
            )
        else:
            good.add(item)
    return frozenset(good)
