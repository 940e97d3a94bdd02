"""Registering, listing and removing passkeys, and checking a passkey's answer at log-in.

Each ceremony is two framework-free calls: one makes the options the browser hands to
``navigator.credentials.create()`` / ``.get()`` (JSON-ready dicts, for
``PublicKeyCredential.parseCreationOptionsFromJSON``), the other checks what the browser
answered (``credential.toJSON()``, as a dict or JSON text). The challenge inside the options
is a one-time token: stored as a digest, bound to its ceremony (and to the account, where
there is one), dead after five minutes or one use.

Example::

    options = portal.passkeys.registration_options(member, password=typed)  # to the browser
    passkey = portal.passkeys.register(member, answer, name="Work laptop")

    # log-in without a password: the same options for everyone
    options = portal.passkeys.login_options(vendor)
    login = portal.auth.passkey_login(vendor, answer, client_key=ip)

    # or as the second step after the password
    try:
        login = portal.auth.authenticate(vendor, name, password)
    except SecondFactorRequired as needed:
        options = portal.passkeys.second_factor_options(vendor, needed.challenge)
        login = portal.auth.complete_login_with_passkey(vendor, needed.challenge, answer)
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._ids import ordered_id
from portalkit._service import ident, load, prove_password
from portalkit.actors import Actor, Member, System
from portalkit.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from portalkit.passkeys.model import Passkey
from portalkit.settings import passkey_relying_party
from portalkit.staffrights import LOGINS_MANAGE
from portalkit.tokens import Token, TokenPurpose, new_token, token_digest

if TYPE_CHECKING:
    from uuid import UUID

    from portalkit._runtime import Runtime
    from portalkit.storage.base import UnitOfWork

__all__ = ["PasskeyService"]

_CHALLENGE_SECONDS = 300  # as long as the password step's challenge
_ANSWER_MAX = 64 * 1024  # a browser's answer is a few kilobytes; attestation certificates too
_NAME_MAX = 100
_MOST_PER_ACCOUNT = 20
_OPTIONS_PER_WINDOW = 60  # a login page opened once a quarter hour by everyone in an office
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)


class PasskeyService:
    """Accounts' passkeys (WebAuthn credentials). Reached as ``portal.passkeys``."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    # -- registration ------------------------------------------------------------------------
    def registration_options(self, actor: Member, *, password: str) -> dict[str, Any]:
        """Start registering a passkey for the member's own account: the options for
        ``navigator.credentials.create()``.

        ``password`` is the account's current one: with a stolen session alone nobody may
        add a passkey, which logs in without a password. Conflict while the account must
        change its password: one its administrator gave it proves nothing of the person. A wrong one raises
        ValidationError (field ``current``); tries count on the account's login counter. The
        options ask for a discoverable credential (so it also logs in without a password),
        exclude the account's passkeys, and carry a challenge that works once, for five
        minutes, for this account (a newer one ends it).
        """
        vendor_id = self._own(actor)
        rp_id, _ = self._relying_party()
        prove_password(self._rt, actor, password, failure="passkey_register_failure")
        now = self._rt.clock.now()
        raw = new_token()
        with self._rt.transaction() as uow:
            account = load(uow.accounts, vendor_id, "account", actor.account_id, "account")
            if account.must_change_password:
                # The password was given by an administrator, who knows it: a passkey added
                # with it would let that administrator in after the person chose its own.
                raise Conflict("passkey", "choose a password of your own before you add a passkey")
            mine = self._active(uow, vendor_id, account.id)
            uow.revoke_tokens(
                vendor_id, now, account_id=account.id, purposes=[TokenPurpose.PASSKEY_REGISTER]
            )
            uow.tokens.add(
                Token(
                    id=ordered_id(now),
                    vendor_id=vendor_id,
                    purpose=TokenPurpose.PASSKEY_REGISTER,
                    digest=token_digest(raw),
                    email=account.email or "",
                    created_at=now,
                    expires_at=now + timedelta(seconds=_CHALLENGE_SECONDS),
                    account_id=account.id,
                )
            )
            handle = self._user_handle(uow, vendor_id, account.id)
        options = generate_registration_options(
            rp_id=rp_id,
            rp_name=self._rt.settings.portal_name,
            user_id=_unb64(handle),
            user_name=account.email or account.username,
            user_display_name=account.username,
            challenge=_unb64(raw),
            timeout=_CHALLENGE_SECONDS * 1000,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[_descriptor(p) for p in mine],
        )
        return _as_json(options_to_json(options))

    def register(self, actor: Member, response: object, *, name: str = "Passkey") -> Passkey:
        """Check the browser's answer to :meth:`registration_options` and store the passkey
        under ``name`` (at most 100 characters). Audited.

        ValidationError (field ``response``) when the answer is not one to this account's
        current challenge, comes from another origin or relying party, or does not verify;
        the challenge is used up either way. Conflict when the passkey is registered
        already, or the account has 20.
        """
        vendor_id = self._own(actor)
        rp_id, origins = self._relying_party()
        problems: builtins.list[Any] = []
        label = v.text(problems, "name", name, max_length=_NAME_MAX)
        v.raise_if(problems)
        answer = _as_dict(response)
        challenge = _client_challenge(answer)
        now = self._rt.clock.now()
        token = None
        if challenge is not None:
            with self._rt.transaction() as uow:
                token = uow.consume_token(
                    vendor_id, TokenPurpose.PASSKEY_REGISTER, token_digest(challenge), now
                )
        verified = None
        if answer is not None and token is not None and token.account_id == actor.account_id:
            try:
                verified = verify_registration_response(
                    credential=answer,
                    expected_challenge=_unb64(challenge or ""),
                    expected_rp_id=rp_id,
                    expected_origin=list(origins),
                )
            except (WebAuthnException, ValueError, TypeError, KeyError):
                verified = None
        if verified is None:
            raise ValidationError.single(
                "response", "not_verified", "the passkey could not be registered; try again"
            )
        transports = _transports(answer)
        with self._rt.transaction() as uow:
            account = load(uow.accounts, vendor_id, "account", actor.account_id, "account")
            if len(self._active(uow, vendor_id, account.id)) >= _MOST_PER_ACCOUNT:
                raise Conflict(
                    "passkey", "this account has the most passkeys allowed; remove one first"
                )
            passkey = Passkey(
                id=ordered_id(now),
                vendor_id=vendor_id,
                account_id=account.id,
                created_at=now,
                credential_id=_b64(verified.credential_id),
                public_key=_b64(verified.credential_public_key),
                user_handle=self._user_handle(uow, vendor_id, account.id),
                name=label,
                sign_count=verified.sign_count,
                transports=transports,
                aaguid=verified.aaguid,
                backed_up=verified.credential_backed_up,
            )
            uow.passkeys.add(passkey)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="passkey_added",
                real=actor,
                customer_id=actor.customer_id,
                target=f"account:{account.id}",
                passkey=str(passkey.id),
            )
        return passkey

    # -- the account's passkeys --------------------------------------------------------------
    def list(self, actor: Actor, account: Any) -> builtins.list[Passkey]:
        """The account's passkeys, oldest first (staff, or the member for its own)."""
        vendor_id, account_id = self._mine_or_staff(actor, account)
        with self._rt.transaction(read_only=True) as uow:
            return self._active(uow, vendor_id, account_id)

    def rename(self, actor: Member, passkey: Any, name: str) -> Passkey:
        """Give one of the member's own passkeys a new name (at most 100 characters)."""
        vendor_id = self._own(actor)
        passkey_id = ident("passkey", passkey)
        problems: builtins.list[Any] = []
        label = v.text(problems, "name", name, max_length=_NAME_MAX)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = self._held(uow, vendor_id, passkey_id, actor.account_id)
            renamed = attrs.evolve(current, name=label, version=current.version + 1)
            uow.passkeys.update(renamed, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="passkey_renamed",
                real=actor,
                customer_id=actor.customer_id,
                target=f"account:{current.account_id}",
                passkey=str(current.id),
            )
        return renamed

    def remove(self, actor: Actor, passkey: Any) -> None:
        """Remove a passkey: it never works again (audited). The member removes its own;
        staff (``logins.manage``) any of their vendor's, say for a lost laptop."""
        vendor_id = vendor_of(actor)
        passkey_id = ident("passkey", passkey)
        now = self._rt.clock.now()
        with self._rt.transaction() as uow:
            found = uow.passkeys.get(vendor_id, passkey_id)
            # Another account's passkey is not found for a member: PermissionDenied would
            # tell it that the id exists.
            mine = actor.account_id if isinstance(actor, Member) else None
            if found is None or not found.active or (mine is not None and found.account_id != mine):
                raise NotFound("passkey", passkey_id)
            self._mine_or_staff(actor, found.account_id)
            removed = attrs.evolve(found, removed_at=now, version=found.version + 1)
            uow.passkeys.update(removed, found.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="passkey_removed",
                real=actor,
                customer_id=actor.customer_id if isinstance(actor, Member) else None,
                target=f"account:{found.account_id}",
                passkey=str(found.id),
            )

    # -- log-in ------------------------------------------------------------------------------
    def login_options(self, vendor: Any, *, client_key: str | None = None) -> dict[str, Any]:
        """Options for a log-in without a password (``navigator.credentials.get()``).

        The same for every caller but for the challenge: no list of credentials, so they
        tell nobody which accounts have passkeys; user verification is required (the
        passkey stands for the password and the second factor both). The challenge is bound
        to no account, works once, for five minutes. Finish with
        ``portal.auth.passkey_login``.

        Each call stores a challenge for anyone who asks, so pass ``client_key`` (as for
        ``authenticate``): one client key gets at most 60 a login window, then RateLimited
        (which tells nothing of any account).
        """
        vendor_id = ident("vendor", vendor)
        rp_id, _ = self._relying_party()
        rt = self._rt
        now = rt.clock.now()
        raw = new_token()
        with rt.transaction() as uow:
            if uow.vendors.get(vendor_id) is None:
                raise NotFound("vendor", vendor_id)
            if isinstance(client_key, str) and client_key:
                key = rt.throttle_key("passkey-options", vendor_id, client_key[:200])
                window_start = now - timedelta(seconds=rt.settings.login_window_seconds)
                if uow.throttle_hit(key, now, window_start) > _OPTIONS_PER_WINDOW:
                    raise RateLimited("passkey log-ins from this client")
            uow.tokens.add(
                Token(
                    id=ordered_id(now),
                    vendor_id=vendor_id,
                    purpose=TokenPurpose.PASSKEY_LOGIN,
                    digest=token_digest(raw),
                    email="",
                    created_at=now,
                    expires_at=now + timedelta(seconds=_CHALLENGE_SECONDS),
                )
            )
        options = generate_authentication_options(
            rp_id=rp_id,
            challenge=_unb64(raw),
            timeout=_CHALLENGE_SECONDS * 1000,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return _as_json(options_to_json(options))

    def second_factor_options(self, vendor: Any, challenge: str) -> dict[str, Any]:
        """Options for the second step of a log-in with a passkey, for the challenge of
        :class:`~portalkit.errors.SecondFactorRequired` (which becomes the WebAuthn
        challenge; it stays unused until ``portal.auth.complete_login_with_passkey``).

        They list the account's passkeys: whoever holds the challenge knew the password.
        AuthenticationFailed when the challenge does not work or the account has no passkey.
        """
        vendor_id = ident("vendor", vendor)
        rp_id, _ = self._relying_party()
        now = self._rt.clock.now()
        fits = isinstance(challenge, str) and 0 < len(challenge) < 200 and v.encodable(challenge)
        with self._rt.transaction(read_only=True) as uow:
            token = uow.tokens.get_by(vendor_id, "token", token_digest(challenge)) if fits else None
            owner = token.account_id if token is not None and token.vendor_id == vendor_id else None
            usable = token is not None and token.usable(TokenPurpose.SECOND_FACTOR, now)
            mine = self._active(uow, vendor_id, owner) if usable and owner is not None else []
        if not mine:
            raise AuthenticationFailed()
        options = generate_authentication_options(
            rp_id=rp_id,
            challenge=_unb64(challenge),
            timeout=_CHALLENGE_SECONDS * 1000,
            allow_credentials=[_descriptor(p) for p in mine],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return _as_json(options_to_json(options))

    # -- for portal.auth ---------------------------------------------------------------------
    def registered(self, uow: UnitOfWork, vendor_id: UUID, account_id: UUID) -> bool:
        """Whether the account has a passkey that works (so log-ins may use it as their
        second step)."""
        return bool(self._active(uow, vendor_id, account_id))

    def login_challenge(
        self, uow: UnitOfWork, vendor_id: UUID, response: object, now: datetime
    ) -> bytes | None:
        """Use up the challenge of :meth:`login_options` that ``response`` answers; its
        bytes, or None when the answer names no working challenge of that ceremony."""
        challenge = _client_challenge(_as_dict(response))
        if challenge is None:
            return None
        token = uow.consume_token(
            vendor_id, TokenPurpose.PASSKEY_LOGIN, token_digest(challenge), now
        )
        return _unb64(challenge) if token is not None else None

    def check(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        response: object,
        challenge: bytes,
        *,
        account_id: UUID | None,
        user_verification: bool,
        now: datetime,
    ) -> tuple[Passkey | None, str]:
        """Check a passkey's answer (``navigator.credentials.get()``) to ``challenge``: the
        passkey as stored after it (counter and last use) and "", or the reason it fails
        with the working passkey it named (None when it named none).

        ``account_id`` limits the passkeys that count to that account's (the second step);
        None takes any passkey of the vendor, whose user handle must then come back
        (discoverable credentials). A signature counter that does not grow, once it is above
        zero, is refused and audited as a possible clone.
        """
        answer = _as_dict(response)
        parsed = _assertion(answer)
        if parsed is None:
            return None, "malformed_answer"
        found = uow.passkeys.get_by(vendor_id, "credential_id", parsed.id)
        if found is None:
            return None, "unknown_passkey"
        if not found.active:
            return None, "removed_passkey"
        if account_id is not None and found.account_id != account_id:
            return None, "another_accounts_passkey"
        fail = found  # from here on, a failure names a passkey that works
        handle = parsed.response.user_handle
        if (handle is None and account_id is None) or (
            handle is not None and not hmac.compare_digest(handle, _unb64(found.user_handle))
        ):
            return fail, "wrong_user_handle"
        rp_id, origins = self._relying_party()
        try:
            # The counter is compared below, after the signature: only a signed answer with
            # an old counter tells of a clone (the library would refuse it unsigned first).
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=list(origins),
                credential_public_key=_unb64(found.public_key),
                credential_current_sign_count=0,
                require_user_verification=user_verification,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError):
            return fail, "not_verified"
        count = verified.new_sign_count
        if (found.sign_count > 0 or count > 0) and count <= found.sign_count:
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="passkey_clone_suspected",
                real=System(vendor_id=vendor_id, reason="login"),
                target=f"account:{found.account_id}",
                passkey=str(found.id),
                stored_count=found.sign_count,
                answered_count=count,
                outcome="failure",
            )
            return fail, "counter_not_grown"
        used = attrs.evolve(
            found,
            sign_count=count,
            last_used_at=now,
            backed_up=verified.credential_backed_up,
            version=found.version + 1,
        )
        uow.passkeys.update(used, found.version)
        return used, ""

    # -- helpers -----------------------------------------------------------------------------
    def _relying_party(self) -> tuple[str, tuple[str, ...]]:
        try:
            return passkey_relying_party(self._rt.settings)
        except ValueError as exc:
            # Fail closed: no ceremony runs against an origin the browser would not trust.
            raise ConfigurationError(str(exc)) from None

    def _active(self, uow: UnitOfWork, vendor_id: UUID, account_id: UUID) -> builtins.list[Passkey]:
        found = uow.passkeys.list(vendor_id, where={"account_id": account_id})
        return [p for p in found if p.active]

    def _user_handle(self, uow: UnitOfWork, vendor_id: UUID, account_id: UUID) -> str:
        """The WebAuthn user id of the account: that of its passkeys so far (so one
        authenticator keeps one entry per account), else a keyed digest of the account's id
        (no personal data, the same on every server)."""
        for passkey in uow.passkeys.list(vendor_id, where={"account_id": account_id}):
            return passkey.user_handle
        message = f"passkey-user\x00{vendor_id}\x00{account_id}".encode()
        return _b64(hmac.new(self._rt.throttle_secret, message, hashlib.sha256).digest())

    def _held(self, uow: UnitOfWork, vendor_id: UUID, passkey_id: UUID, account: UUID) -> Passkey:
        found = uow.passkeys.get(vendor_id, passkey_id)
        # Another account's passkey is not found either: its existence is nobody else's.
        if found is None or not found.active or found.account_id != account:
            raise NotFound("passkey", passkey_id)
        return found

    def _mine_or_staff(self, actor: Actor, account: Any) -> tuple[UUID, UUID]:
        vendor_id = vendor_of(actor)
        account_id = ident("account", account)
        own = (
            isinstance(actor, Member)
            and actor.account_id == account_id
            and actor.impersonator is None
        )
        if not own:
            require_admin(actor, LOGINS_MANAGE)
        return vendor_id, account_id

    def _own(self, actor: object) -> UUID:
        if not isinstance(actor, Member) or actor.impersonator is not None:
            raise PermissionDenied("only members manage their own passkeys")
        return vendor_of(actor)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _as_json(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _as_dict(response: object) -> dict[str, Any] | None:
    """The browser's answer as a dict (given as one or as JSON text), or None when it is
    no JSON object of a sensible size."""
    if isinstance(response, str):
        if len(response) > _ANSWER_MAX:
            return None
        try:
            response = json.loads(response)
        except ValueError:
            return None
    if not isinstance(response, dict):
        return None
    try:
        size = len(json.dumps(response))
    except (TypeError, ValueError):
        return None
    return response if size <= _ANSWER_MAX else None


def _client_challenge(answer: dict[str, Any] | None) -> str | None:
    """The challenge the browser signed (from ``clientDataJSON``), as the raw token it
    was made from; None when there is none."""
    try:
        inner = answer["response"] if answer is not None else None
        data = json.loads(_unb64(inner["clientDataJSON"]))  # type: ignore[index]
        challenge = data["challenge"]
        if not isinstance(challenge, str) or not 0 < len(challenge) < 200:
            return None
        return _b64(_unb64(challenge))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _assertion(answer: dict[str, Any] | None) -> AuthenticationCredential | None:
    if answer is None:
        return None
    try:
        parsed = parse_authentication_credential_json(answer)
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError):
        return None
    return parsed if 0 < len(parsed.id) <= 1400 else None


def _transports(answer: dict[str, Any] | None) -> tuple[str, ...]:
    inner = answer.get("response") if answer is not None else None
    given = inner.get("transports") if isinstance(inner, dict) else None
    if not isinstance(given, list):
        return ()
    return tuple(sorted({t for t in given if isinstance(t, str) and t in _TRANSPORTS}))


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=_unb64(passkey.credential_id),
        transports=[AuthenticatorTransport(t) for t in passkey.transports],
    )
