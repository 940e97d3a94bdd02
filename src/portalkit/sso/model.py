"""A customer's single sign-on set-up, the e-mail domains it owns, and sign-ins under way."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["SsoAttempt", "SsoConfig", "SsoDomain"]


@attrs.frozen
class SsoConfig:
    """How a customer's logins sign in through its own OpenID Connect provider.

    Set by the vendor's staff only (see :meth:`SsoService.configure`). ``client_secret`` is
    sealed with ``PORTALKIT_MAIL_ENCRYPTION_KEY``, never stored in clear. ``domains`` are the
    customer's own e-mail domains (each belongs to one customer of the vendor at most, kept
    by :class:`SsoDomain`). ``allow_new_accounts`` lets an unknown address of those domains
    become a new extra account with ``default_profile_id``; ``required`` refuses password
    log-in (and password reset) for the customer's logins (while ``active``).
    """

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    created_at: datetime
    issuer: str
    client_id: str
    client_secret: str = attrs.field(repr=False)
    domains: tuple[str, ...] = ()
    allow_new_accounts: bool = False
    default_profile_id: UUID | None = None
    required: bool = False
    updated_at: datetime | None = None
    #: False once staff switched single sign-on off (:meth:`SsoService.disable`): nobody
    #: signs in through it, nothing is required, and its domains are free again.
    active: bool = True
    version: int = 1


@attrs.frozen
class SsoDomain:
    """One e-mail domain and the customer it belongs to (unique per vendor)."""

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    domain: str
    created_at: datetime
    version: int = 1


@attrs.frozen
class SsoAttempt:
    """A sign-in under way: kept server-side from :meth:`SsoService.begin` until the
    provider sends the person back, short-lived and used once.

    ``digest`` is the SHA-256 of the ``state`` sent to the provider; ``secrets`` holds the
    nonce and the PKCE verifier, sealed.
    """

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    digest: str = attrs.field(repr=False)
    secrets: str = attrs.field(repr=False)
    redirect_uri: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    version: int = 1
