"""Single sign-on per customer: its people sign in with their company identity.

The vendor's staff set up a customer's OpenID Connect provider (its Azure AD, its Google
Workspace) with :meth:`SsoService.configure`; a customer's own administrator never can (an
admin pointing single sign-on at a provider of its own could sign in as anyone of the
customer). The host then needs two routes::

    url = portal.sso.begin(vendor, customer, redirect_uri)       # send the person there
    login = portal.sso.complete(vendor, state, code, redirect_uri)  # the provider sent it back
    session["portal"] = login.session

The identity maps to the login of *that* customer whose e-mail address it carries — only a
verified address of one of the customer's own domains — or, where the vendor allowed it, to
a new extra account with the customer's default profile. Every other outcome is one
:class:`~portalkit.errors.AuthenticationFailed`; the reason goes to the audit log.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._ids import ordered_id
from portalkit._service import ident, load
from portalkit._stamps import new_session_stamp
from portalkit.accounts.model import Account
from portalkit.actors import Actor, System
from portalkit.errors import (
    AuthenticationFailed,
    ConcurrentModification,
    Conflict,
    NotFound,
    Problem,
    ValidationError,
)
from portalkit.memberships.model import MembershipKind, MembershipStatus
from portalkit.sso import _oidc
from portalkit.sso.model import SsoAttempt, SsoConfig, SsoDomain
from portalkit.staffrights import LOGINS_MANAGE
from portalkit.tokens import new_token, token_digest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from portalkit._runtime import Runtime
    from portalkit.auth import AuthService, Login
    from portalkit.customers.service import ContactService
    from portalkit.memberships.service import MembershipService
    from portalkit.profiles.model import PermissionProfile
    from portalkit.storage.base import UnitOfWork

__all__ = ["SsoService"]

_MAX_DOMAINS = 20
_VALUE_MAX = 500
_SECRET_MAX = 2000
_CLIENT_KEY_MAX = 200


class SsoService:
    """Set up and run customers' single sign-on. Reached as ``portal.sso``."""

    def __init__(
        self,
        rt: Runtime,
        *,
        auth: AuthService,
        contacts: ContactService,
        memberships: MembershipService,
    ) -> None:
        self._rt = rt
        self._auth = auth
        self._contacts = contacts
        self._memberships = memberships

    # -- set-up (vendor staff only) ---------------------------------------------------------
    def configure(
        self,
        actor: Actor,
        customer: Any,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        domains: Iterable[str],
        allow_new_accounts: bool = False,
        default_profile: PermissionProfile | UUID | None = None,
        required: bool = False,
    ) -> SsoConfig:
        """Set (or replace) a customer's single sign-on; staff with ``logins.manage`` only.

        ``issuer`` is the provider's issuer URL (https; its discovery document must name it);
        ``client_secret`` is sealed with ``PORTALKIT_MAIL_ENCRYPTION_KEY`` (None keeps the
        stored one); ``domains`` are the customer's own e-mail domains — exactly these, no
        subdomain — each of which may belong to one customer of the vendor only.
        ``allow_new_accounts`` lets an unknown address of those domains become a new extra
        account with ``default_profile`` (then required); ``required`` refuses password
        log-in and password reset for the customer's logins, and switching it on ends
        every open session of the customer's logins in that customer (and with them their
        access tokens): a password session made before must not outlive the rule.

        Raises PermissionDenied for a member (a customer admin too), ValidationError,
        NotFound for a customer or profile out of the vendor, Conflict for a domain of
        another customer.
        """
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        customer_id = ident("customer", customer)
        problems: list[Problem] = []
        issuer_url = v.text(problems, "issuer", issuer, max_length=_VALUE_MAX)
        if issuer_url and not self._url_ok(issuer_url):
            problems.append(
                Problem("issuer", "not_https", "must be an https:// address without a fragment")
            )
        client = v.text(problems, "client_id", client_id, max_length=_VALUE_MAX)
        secret = ""
        if client_secret is not None:
            secret = v.text(problems, "client_secret", client_secret, max_length=_SECRET_MAX)
        names = _domains(problems, domains)
        allow = v.boolean(problems, "allow_new_accounts", allow_new_accounts)
        needed = v.boolean(problems, "required", required)
        profile_id = ident("default_profile", default_profile) if default_profile else None
        if allow and profile_id is None:
            problems.append(
                Problem("default_profile", "required", "is required when new accounts are allowed")
            )
        v.raise_if(problems)
        sealed = self._rt.seal(secret) if secret else ""  # before any write: a missing key fails
        now = self._rt.clock.now()
        with self._rt.transaction() as uow:
            load(uow.customers, vendor_id, "customer", customer_id, "customer")
            if profile_id is not None:
                load(uow.profiles, vendor_id, "profile", profile_id, "default_profile")
            current = uow.sso_configs.get_by(vendor_id, "customer_id", customer_id)
            if current is None and not sealed:
                raise ValidationError.single("client_secret", "required", "is required")
            self._claim(uow, vendor_id, customer_id, names, current, now)
            if needed and (current is None or not (current.required and current.active)):
                _end_sessions(uow, vendor_id, customer_id)
            if current is None:
                config = SsoConfig(
                    id=ordered_id(now),
                    vendor_id=vendor_id,
                    customer_id=customer_id,
                    created_at=now,
                    issuer=issuer_url,
                    client_id=client,
                    client_secret=sealed,
                    domains=names,
                    allow_new_accounts=allow,
                    default_profile_id=profile_id,
                    required=needed,
                )
                uow.sso_configs.add(config)
            else:
                config = attrs.evolve(
                    current,
                    issuer=issuer_url,
                    client_id=client,
                    client_secret=sealed or current.client_secret,
                    domains=names,
                    allow_new_accounts=allow,
                    default_profile_id=profile_id,
                    required=needed,
                    updated_at=now,
                    active=True,
                    version=current.version + 1,
                )
                uow.sso_configs.update(config, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="sso_configured",
                real=actor,
                customer_id=customer_id,
                target=f"customer:{customer_id}",
                issuer=issuer_url,
                domains=list(names),
                allow_new_accounts=allow,
                required=needed,
                secret_changed=bool(sealed),
            )
        return config

    def disable(self, actor: Actor, customer: Any) -> SsoConfig:
        """Switch a customer's single sign-on off; staff with ``logins.manage`` only.

        Nobody signs in through it any more (sign-ins under way fail), "SSO required" no
        longer applies (password log-in works again for logins that have a password), and
        its domains may be claimed by another customer. :meth:`configure` switches it on
        again. NotFound when the customer has none.
        """
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        customer_id = ident("customer", customer)
        now = self._rt.clock.now()
        with self._rt.transaction() as uow:
            current = uow.sso_configs.get_by(vendor_id, "customer_id", customer_id)
            if current is None:
                raise NotFound("sso_config", customer_id)
            off = attrs.evolve(current, active=False, updated_at=now, version=current.version + 1)
            uow.sso_configs.update(off, current.version)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="sso_disabled",
                real=actor,
                customer_id=customer_id,
                target=f"customer:{customer_id}",
            )
        return off

    def get(self, actor: Actor, customer: Any) -> SsoConfig | None:
        """A customer's single sign-on set-up (its secret sealed), or None; staff only."""
        vendor_id = require_admin(actor, LOGINS_MANAGE)
        customer_id = ident("customer", customer)
        with self._rt.transaction(read_only=True) as uow:
            return uow.sso_configs.get_by(vendor_id, "customer_id", customer_id)

    def _claim(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        customer_id: UUID,
        names: tuple[str, ...],
        current: SsoConfig | None,
        now: Any,
    ) -> None:
        """Make ``names`` the customer's domains: claimed in their own table, whose unique
        key keeps each domain one customer's even when two set-ups race."""
        found = uow.sso_domains.get_many_by(vendor_id, "domain", names) if names else {}
        for name in names:
            held = found.get(name)
            if held is not None and held.customer_id != customer_id:
                owner = uow.sso_configs.get_by(vendor_id, "customer_id", held.customer_id)
                if owner is not None and owner.active and name in owner.domains:
                    raise Conflict(
                        "domain", "this e-mail domain belongs to another customer's single sign-on"
                    )
                # Released by its former customer: it moves to this one.
                moved = attrs.evolve(held, customer_id=customer_id, version=held.version + 1)
                uow.sso_domains.update(moved, held.version)
            elif held is None:
                uow.sso_domains.add(
                    SsoDomain(
                        id=uuid4(),
                        vendor_id=vendor_id,
                        customer_id=customer_id,
                        domain=name,
                        created_at=now,
                    )
                )

    # -- signing in ---------------------------------------------------------------------------
    def customer_for(
        self, vendor: Any, *, email: str | None = None, code: str | None = None
    ) -> UUID | None:
        """The customer whose single sign-on a "sign in with your company" form means: the
        one owning the domain of ``email``, or the one with customer ``code``; None when
        that customer has no single sign-on switched on (or the input is no address or code).

        For the log-in page, before anyone is known: it answers only whether a domain or
        code signs in through a company provider, which the provider's own page shows anyway.
        """
        vendor_id = ident("vendor", vendor)
        domain = ""
        if email is not None:
            problems: list[Problem] = []
            address = v.email(problems, "email", email)
            if problems or not address:
                return None
            domain = address.rpartition("@")[2].casefold()
        elif not isinstance(code, str) or not code or len(code) > 50 or not v.encodable(code):
            return None
        with self._rt.transaction(read_only=True) as uow:
            if domain:
                owner = uow.sso_domains.get_by(vendor_id, "domain", domain)
                customer_id = owner.customer_id if owner is not None else None
            else:
                customer = uow.customers.get_by(vendor_id, "code", code)
                customer_id = customer.id if customer is not None else None
            if customer_id is None:
                return None
            config = uow.sso_configs.get_by(vendor_id, "customer_id", customer_id)
        if config is None or not config.active or (domain and domain not in config.domains):
            return None
        return customer_id

    def begin(
        self, vendor: Any, customer: Any, redirect_uri: str, *, client_key: str | None = None
    ) -> str:
        """The address of the customer's provider to send the person to.

        ``redirect_uri`` is the host's route that calls :meth:`complete` (registered at the
        provider). The state, nonce and PKCE verifier stay in storage, sealed, for
        ``PORTALKIT_SSO_ATTEMPT_SECONDS`` and work once. Raises NotFound when the customer
        has no single sign-on, ValidationError for a bad ``redirect_uri``, and
        AuthenticationFailed when the provider cannot be reached or trusted.

        Every call counts against ``client_key`` (as :meth:`AuthService.authenticate
        <portalkit.auth.AuthService.authenticate>` takes it: the client's address): past
        ``PORTALKIT_SSO_BEGIN_MAX`` in ``PORTALKIT_LOGIN_WINDOW_SECONDS`` it is
        AuthenticationFailed until the window ends, before the provider is asked or
        anything is stored — each sign-in begun costs a request to the provider and a row.
        """
        rt = self._rt
        vendor_id = ident("vendor", vendor)
        customer_id = ident("customer", customer)
        if not _oidc.check_url(redirect_uri, loopback=True):
            raise ValidationError.single(
                "redirect_uri", "not_url", "must be an absolute http(s) address"
            )
        self._count_begin(vendor_id, customer_id, client_key)
        with rt.transaction(read_only=True) as uow:
            config = uow.sso_configs.get_by(vendor_id, "customer_id", customer_id)
        if config is None or not config.active:
            raise NotFound("sso_config", customer_id)
        http = _oidc.session(config.client_id, timeout=rt.settings.sso_timeout_seconds)
        with http:
            try:
                provider = _oidc.discover(http, config.issuer, loopback=self._loopback)
            except _oidc.OidcRefused as refused:
                self._refused(vendor_id, customer_id, refused.reason)
            state, nonce = new_token(), new_token()
            verifier = secrets.token_urlsafe(48)  # 64 characters: within PKCE's 43-128
            url = _oidc.authorization_url(http, provider, redirect_uri, state, nonce, verifier)
        now = rt.clock.now()
        sealed = rt.seal(json.dumps({"nonce": nonce, "verifier": verifier}))
        with rt.transaction() as uow:
            uow.sso_attempts.add(
                SsoAttempt(
                    id=ordered_id(now),
                    vendor_id=vendor_id,
                    customer_id=customer_id,
                    digest=token_digest(state),
                    secrets=sealed,
                    redirect_uri=redirect_uri,
                    created_at=now,
                    expires_at=now + timedelta(seconds=rt.settings.sso_attempt_seconds),
                )
            )
        return url

    def complete(self, vendor: Any, state: str, code: str, redirect_uri: str) -> Login:
        """Finish a sign-in the provider sent back: the :class:`~portalkit.auth.Login`.

        ``state`` and ``code`` are the query parameters the provider added to
        ``redirect_uri`` (the same address :meth:`begin` had). The state works once,
        whatever happens next. The code is exchanged at the provider's token endpoint and
        the ID token checked in full: signature by the provider's published keys (public-key
        algorithms only), issuer, audience, expiry and issue time by the portal's clock, and
        the nonce. Then the address must be verified (``email_verified`` true) and of one of
        the customer's domains: it signs in the login of that customer with that address,
        or a new extra account where the vendor allowed it. AuthenticationFailed otherwise,
        the same for every reason. Runs in transactions of its own.
        """
        rt = self._rt
        rt.standalone("complete()")
        vendor_id = ident("vendor", vendor)
        fits = all(
            isinstance(x, str) and 0 < len(x) <= 2000 and v.encodable(x)
            for x in (state, code, redirect_uri)
        )
        attempt = self._consume(vendor_id, state) if fits else None
        if attempt is None or attempt.redirect_uri != redirect_uri:
            self._refused(vendor_id, attempt.customer_id if attempt else None, "bad_state")
        customer_id = attempt.customer_id
        with rt.transaction(read_only=True) as uow:
            config = uow.sso_configs.get_by(vendor_id, "customer_id", customer_id)
        if config is None or not config.active:
            self._refused(vendor_id, customer_id, "no_sso")
        kept = json.loads(rt.open(attempt.secrets))
        http = _oidc.session(
            config.client_id,
            rt.open(config.client_secret),
            timeout=rt.settings.sso_timeout_seconds,
        )
        try:
            with http:
                provider = _oidc.discover(http, config.issuer, loopback=self._loopback)
                id_token = _oidc.exchange(http, provider, code, redirect_uri, kept["verifier"])
                jwks = _oidc.keys(http, provider)
            claims = _oidc.verify_id_token(
                id_token,
                jwks,
                issuer=config.issuer,
                client_id=config.client_id,
                nonce=kept["nonce"],
                now=rt.clock.now().timestamp(),
            )
        except _oidc.OidcRefused as refused:
            self._refused(vendor_id, customer_id, refused.reason)
        address = self._address(claims, config)
        if not address:
            self._refused(vendor_id, customer_id, "address_not_verified_or_not_the_customers")
        account_id = self._account_for(vendor_id, config, address, claims)
        if account_id is None:
            self._refused(vendor_id, customer_id, "no_login_for_address")
        with rt.transaction() as uow:
            rt.record(
                uow,
                vendor_id=vendor_id,
                action="sso_signed_in",
                real=System(vendor_id=vendor_id, reason="sso"),
                customer_id=customer_id,
                target=f"account:{account_id}",
                issuer=config.issuer,
            )
        # The session value comes from the one place that makes them.
        return self._auth.login_verified(vendor_id, account_id, customer_id)

    # -- helpers ------------------------------------------------------------------------------
    def _count_begin(self, vendor_id: UUID, customer_id: UUID, client_key: str | None) -> None:
        """Count a sign-in begun against its client key; refuse past the limit."""
        if not isinstance(client_key, str) or not client_key:
            return
        rt = self._rt
        now = rt.clock.now()
        window_start = now - timedelta(seconds=rt.settings.login_window_seconds)
        key = rt.throttle_key("sso-begin", vendor_id, client_key[:_CLIENT_KEY_MAX])
        with rt.transaction() as uow:
            hits = uow.throttle_hit(key, now, window_start)
        limit = rt.settings.sso_begin_max
        if hits == limit + 1:
            self._refused(vendor_id, customer_id, "throttled")  # recorded once per window
        if hits > limit:
            raise AuthenticationFailed()

    @property
    def _loopback(self) -> bool:
        return self._rt.settings.sso_allow_http_loopback

    def _url_ok(self, url: str) -> bool:
        return _oidc.check_url(url, loopback=self._loopback)

    def _consume(self, vendor_id: UUID, state: str) -> SsoAttempt | None:
        """The sign-in under way that ``state`` names, marked used — or None if it is
        unknown, used, expired, or another request took it first."""
        now = self._rt.clock.now()
        try:
            with self._rt.transaction() as uow:
                found = uow.sso_attempts.get_by(vendor_id, "digest", token_digest(state))
                if found is None or found.used_at is not None or not now < found.expires_at:
                    return None
                used = attrs.evolve(found, used_at=now, version=found.version + 1)
                uow.sso_attempts.update(used, found.version)
        except ConcurrentModification:
            return None  # another request with the same state was first
        return used

    def _address(self, claims: dict[str, Any], config: SsoConfig) -> str:
        """The verified address of one of the customer's domains the claims carry, or ""."""
        if claims.get("email_verified") is not True:
            return ""  # absent, false, or the text "true": not proof enough
        problems: list[Problem] = []
        address = v.email(problems, "email", claims.get("email"))
        if problems or not address:
            return ""
        domain = address.rpartition("@")[2].casefold()
        # The whole domain, exactly: no subdomain, no look-alike ending.
        return address if domain in config.domains else ""

    def _account_for(
        self, vendor_id: UUID, config: SsoConfig, address: str, claims: dict[str, Any]
    ) -> UUID | None:
        """The account of ``config``'s customer with ``address``, or a new extra account
        where the vendor allows it; None otherwise."""
        with self._rt.transaction() as uow:
            # The domain must still be this customer's (a set-up changed meanwhile).
            owner = uow.sso_domains.get_by(vendor_id, "domain", address.rpartition("@")[2])
            if owner is None or owner.customer_id != config.customer_id:
                return None
            account = uow.accounts.get_by(vendor_id, "email", address)
            if account is not None:
                member = uow.memberships.list(
                    vendor_id, where={"account_id": account.id, "customer_id": config.customer_id}
                )
                return account.id if member else None
            if not config.allow_new_accounts or config.default_profile_id is None:
                return None
            return self._new_login(uow, vendor_id, config, address, claims)

    def _new_login(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        config: SsoConfig,
        address: str,
        claims: dict[str, Any],
    ) -> UUID:
        """A new extra account of the customer with its default profile, active at once (its
        provider vouched for the address), with no password."""
        rt = self._rt
        system = System(vendor_id=vendor_id, reason="sso")
        now = rt.clock.now()
        first = _claim_text(claims.get("given_name")) or address.partition("@")[0][:100]
        last = _claim_text(claims.get("family_name")) or "-"
        person = self._contacts.create(
            system, customer=config.customer_id, first_name=first, last_name=last, email=address
        )
        account = Account(
            id=uuid4(),
            vendor_id=vendor_id,
            username=_free_username(uow, vendor_id, address.partition("@")[0]),
            email=address,
            created_at=now,
            language=rt.settings.default_language,
        )
        uow.accounts.add(account)
        rt.record(
            uow, vendor_id=vendor_id, action="account_created", real=system,
            target=f"account:{account.id}", via="sso",
        )  # fmt: skip
        self._memberships.create(
            system,
            account=account.id,
            customer=config.customer_id,
            contact=person.id,
            kind=MembershipKind.EXTRA,
            status=MembershipStatus.ACTIVE,
            profile=config.default_profile_id,
        )
        return account.id

    def _refused(self, vendor_id: UUID, customer_id: UUID | None, reason: str) -> NoReturn:
        """Record why a sign-in failed and raise the one answer every failure gives."""
        with self._rt.transaction() as uow:
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="sso_failure",
                real=System(vendor_id=vendor_id, reason="sso"),
                customer_id=customer_id,
                target=f"customer:{customer_id}" if customer_id else "customer:unknown",
                reason=reason[:200],
                outcome="failure",
            )
        raise AuthenticationFailed()


def _end_sessions(uow: UnitOfWork, vendor_id: UUID, customer_id: UUID) -> None:
    """New session stamps for every membership of the customer: each session (a password
    one above all) and access token made before ends at its next request."""
    for member in uow.memberships.list(vendor_id, where={"customer_id": customer_id}):
        uow.memberships.update(
            attrs.evolve(member, session_stamp=new_session_stamp(), version=member.version + 1),
            member.version,
        )


def _free_username(uow: UnitOfWork, vendor_id: UUID, wanted: str) -> str:
    """``wanted`` if nobody has it, else with a random suffix (whose it was is nobody's
    business)."""
    base = wanted[:140]
    if uow.accounts.get_by(vendor_id, "username", base) is None:
        return base
    return f"{base}-{secrets.token_hex(4)}"


def _claim_text(value: object) -> str:
    problems: list[Problem] = []
    found = v.text(problems, "name", value, required=False, max_length=100)
    return "" if problems else found


def _domains(problems: list[Problem], value: object) -> tuple[str, ...]:
    """Check the customer's e-mail domains: one to twenty DNS names, lower-cased, sorted."""
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        problems.append(Problem("domains", "not_list", "must be a list of e-mail domains"))
        return ()
    found: set[str] = set()
    for item in value:
        if len(found) >= _MAX_DOMAINS:
            problems.append(
                Problem("domains", "too_many", "at most {limit} domains", {"limit": _MAX_DOMAINS})
            )
            return ()
        checked: list[Problem] = []
        text = item if isinstance(item, str) and len(item) <= 253 else None
        address = v.email(checked, "domains", f"a@{text}") if text else ""
        domain = address.rpartition("@")[2].casefold() if address else ""
        if not domain or domain != text.strip().casefold() or "." not in domain:  # type: ignore[union-attr]
            problems.append(Problem("domains", "invalid_domain", "must be e-mail domains"))
            return ()
        found.add(domain)
    if not found:
        problems.append(Problem("domains", "required", "is required"))
    return tuple(sorted(found))
