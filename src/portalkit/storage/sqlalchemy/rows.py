"""The SQL tables, as SQLAlchemy 2.0 typed row classes of their own.

The domain's attrs classes know nothing of tables; :mod:`._convert` turns rows into domain
records and back. Every link is NOT NULL with a foreign key unless the domain says it is
optional, so a dangling reference cannot be stored. Each ``*_key`` column holds the normalised
form a unique index compares (case-insensitive codes and usernames, normalised e-mail).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import conv

from portalkit.errors import ConfigurationError


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, also on SQLite (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("portalkit stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DecimalText(TypeDecorator[Decimal]):
    """A ``Decimal`` stored as its exact text, the same on SQLite (which has no exact
    numeric type) and PostgreSQL: money is never a float on the way in or out."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError("portalkit stores finite Decimal amounts only")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of portalkit's rows; ``Base.metadata`` is the whole schema."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime,
        Decimal: DecimalText,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class VendorRow(Base):
    """A vendor (tenant)."""

    __tablename__ = "vendors"
    __table_args__ = (UniqueConstraint("code_key", name="uq_vendors_code"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50))
    code_key: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class _Scoped:
    id: Mapped[UUID] = mapped_column(primary_key=True)
    vendor_id: Mapped[UUID] = mapped_column(ForeignKey("vendors.id"), index=True)
    created_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)


class ProfileRow(_Scoped, Base):
    """A permission profile."""

    __tablename__ = "profiles"
    __table_args__ = (UniqueConstraint("vendor_id", "name_key", name="uq_profiles_name"),)

    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    capabilities: Mapped[list[Any]]
    scopes: Mapped[dict[str, Any]]
    description: Mapped[str] = mapped_column(Text)


class CustomerRow(_Scoped, Base):
    """A customer company."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("vendor_id", "code_key", name="uq_customers_code"),
        Index("ix_customers_vendor_parent", "vendor_id", "parent_id"),
    )

    code: Mapped[str] = mapped_column(String(50))
    code_key: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    erp_reference: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool]
    show_prices: Mapped[bool]
    shop_enabled: Mapped[bool]
    approval_above: Mapped[Decimal | None]
    addresses: Mapped[list[Any]]
    branding: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'"))
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("customers.id"))
    # Added by migration 0015: customers stored before it have no defaults.
    notification_defaults: Mapped[list[Any]] = mapped_column(server_default=text("'[]'"))


class LocationRow(_Scoped, Base):
    """A site of a customer."""

    __tablename__ = "locations"

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(50))
    address: Mapped[dict[str, Any] | None]
    active: Mapped[bool]


class ContactRow(_Scoped, Base):
    """A person at a customer."""

    __tablename__ = "contacts"

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    job_title: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool]


class AccountRow(_Scoped, Base):
    """A login identity."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("vendor_id", "username_key", name="uq_accounts_username"),
        UniqueConstraint("vendor_id", "email_key", name="uq_accounts_email"),
    )

    username: Mapped[str] = mapped_column(String(150))
    username_key: Mapped[str] = mapped_column(String(150))
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str | None] = mapped_column(String(512))
    session_stamp: Mapped[str] = mapped_column(String(64))
    must_change_password: Mapped[bool] = mapped_column(server_default=false())
    password_expires_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    login_count: Mapped[int] = mapped_column(server_default=text("0"))


class MembershipRow(_Scoped, Base):
    """An account's access to one customer."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("account_id", "customer_id", name="uq_memberships_account_customer"),
        # At most one main account per customer: a partial unique index on both databases.
        Index(
            "uq_memberships_main",
            "customer_id",
            unique=True,
            sqlite_where=text("kind = 'main'"),
            postgresql_where=text("kind = 'main'"),
        ),
        Index("ix_memberships_vendor_customer", "vendor_id", "customer_id"),
    )

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    contact_id: Mapped[UUID] = mapped_column(ForeignKey("contacts.id"))
    profile_id: Mapped[UUID | None] = mapped_column(ForeignKey("profiles.id"))
    status: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    location_grants: Mapped[list[Any]]
    customer_grants: Mapped[list[Any]]
    subscriptions: Mapped[list[Any]]
    session_stamp: Mapped[str] = mapped_column(String(64), server_default="")


class AuditEventRow(Base):
    """One audit event; portalkit only ever inserts these."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_vendor_customer_at", "vendor_id", "customer_id", "at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    vendor_id: Mapped[UUID] = mapped_column(ForeignKey("vendors.id"))
    at: Mapped[datetime]
    created_at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(20))
    real_actor: Mapped[str] = mapped_column(String(200))
    effective_actor: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[UUID | None] = mapped_column(ForeignKey("customers.id"))
    target: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]


class OutboxMessageRow(Base):
    """A queued mail."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "next_attempt_at", "id"),
        Index("ix_outbox_messages_vendor_status", "vendor_id", "status"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    vendor_id: Mapped[UUID] = mapped_column(ForeignKey("vendors.id"))
    created_at: Mapped[datetime]
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(250))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(60))
    secret: Mapped[bool] = mapped_column(server_default=false())
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    version: Mapped[int]


ROWS: dict[str, type[Base]] = {
    row.__tablename__: row
    for row in (
        AuditEventRow,
        OutboxMessageRow,
        VendorRow,
        ProfileRow,
        CustomerRow,
        LocationRow,
        ContactRow,
        AccountRow,
        MembershipRow,
    )
}
"""Row class by table name."""


class TokenRow(_Scoped, Base):
    """A one-time link: only its SHA-256 is stored."""

    __tablename__ = "tokens"
    __table_args__ = (
        UniqueConstraint("digest", name="uq_tokens_digest"),
        Index("ix_tokens_account", "account_id", "purpose"),
    )

    purpose: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    expires_at: Mapped[datetime]
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id"))
    registration_id: Mapped[UUID | None] = mapped_column(ForeignKey("registrations.id"))
    membership_id: Mapped[UUID | None] = mapped_column(ForeignKey("memberships.id"))
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RegistrationRow(_Scoped, Base):
    """A self-registration request."""

    __tablename__ = "registrations"
    __table_args__ = (Index("ix_registrations_vendor_status", "vendor_id", "status"),)

    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    company: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    confirmed_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id"))
    customer_id: Mapped[UUID | None] = mapped_column(ForeignKey("customers.id"))


class LoginThrottleRow(Base):
    """Failed logins of one key (an account name or a client) in the current window."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int]
    window_start: Mapped[datetime]


class RightsGenerationRow(Base):
    """A vendor's rights generation: a number every committed change of what an access
    decision reads (customers, locations, accounts, memberships, profiles) moves on, so a
    process may reuse facts it read before while the number has not moved."""

    __tablename__ = "rights_generations"

    vendor_id: Mapped[UUID] = mapped_column(ForeignKey("vendors.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


class JobRow(_Scoped, Base):
    """A stored background job (a reset or registration request still to handle)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "due_at", "id"),)

    kind: Mapped[str] = mapped_column(String(60))
    due_at: Mapped[datetime]
    # Encrypted, and emptied once the job is decided.
    payload: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int]
    last_error: Mapped[str] = mapped_column(Text)


class DocumentRow(_Scoped, Base):
    """A document shared with a customer; its bytes live in the asset store."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_vendor_customer", "vendor_id", "customer_id", "created_at"),
    )

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    location_id: Mapped[UUID | None] = mapped_column(ForeignKey("locations.id"))
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    asset_key: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    visible: Mapped[bool]
    restricted: Mapped[bool]
    members: Mapped[list[Any]]


class StaffMemberRow(_Scoped, Base):
    """A member of the vendor's staff directory."""

    __tablename__ = "staff_members"
    __table_args__ = (UniqueConstraint("vendor_id", "user_id", name="uq_staff_members_user"),)

    user_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool]


class InboxAddressRow(_Scoped, Base):
    """The vendor's inbox address."""

    __tablename__ = "inbox_settings"
    __table_args__ = (UniqueConstraint("vendor_id", name="uq_inbox_settings_vendor"),)

    email: Mapped[str] = mapped_column(String(254))


class InboxItemRow(_Scoped, Base):
    """An item of the vendor inbox."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        UniqueConstraint("reference", "kind", "vendor_id", name="uq_inbox_items_reference"),
        # The inbox page: newest first, filtered by kind and status (bench/bench_inbox.py).
        Index("ix_inbox_items_page", "vendor_id", "kind", "status", "created_at", "id"),
        Index("ix_inbox_items_newest", "vendor_id", "created_at", "id"),
    )

    kind: Mapped[str] = mapped_column(String(60))
    reference: Mapped[UUID]
    title: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[UUID | None] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id"))
    membership_id: Mapped[UUID | None] = mapped_column(ForeignKey("memberships.id"))
    assignee: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]]


class InboxCommentRow(_Scoped, Base):
    """A comment on an inbox item."""

    __tablename__ = "inbox_comments"

    item_id: Mapped[UUID] = mapped_column(ForeignKey("inbox_items.id"), index=True)
    author: Mapped[str] = mapped_column(String(250))
    text: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool]


class InboxEventRow(_Scoped, Base):
    """An inbox event waiting for, or delivered to, the host."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("item_id", "sequence", name="uq_inbox_events_sequence"),
        Index("ix_inbox_events_due", "delivered_at", "next_attempt_at", "id"),
    )

    item_id: Mapped[UUID] = mapped_column(ForeignKey("inbox_items.id"))
    sequence: Mapped[int]
    type: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class WorkRequestRow(_Scoped, Base):
    """A member's work request."""

    __tablename__ = "work_requests"
    __table_args__ = (Index("ix_work_requests_customer", "vendor_id", "customer_id"),)

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    location_id: Mapped[UUID] = mapped_column(ForeignKey("locations.id"))
    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id"))
    subject: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[UUID] = mapped_column(ForeignKey("inbox_items.id"))
    notes: Mapped[str] = mapped_column(Text)
    wished_at: Mapped[datetime | None]
    scheduled_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))


class TicketRow(_Scoped, Base):
    """A service-desk ticket."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_customer", "vendor_id", "customer_id"),)

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id"))
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    item_id: Mapped[UUID] = mapped_column(ForeignKey("inbox_items.id"))
    status: Mapped[str] = mapped_column(String(20))
    followers: Mapped[list[Any]]
    closed_at: Mapped[datetime | None]


class TicketAttachmentRow(_Scoped, Base):
    """A file added to a ticket; its bytes live in the asset store."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (Index("ix_ticket_attachments_ticket", "vendor_id", "ticket_id"),)

    ticket_id: Mapped[UUID] = mapped_column(ForeignKey("tickets.id"))
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    asset_key: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[str] = mapped_column(String(200))


class SecondFactorRow(_Scoped, Base):
    """An account's TOTP second factor: its sealed secret and recovery-code digests."""

    __tablename__ = "second_factors"
    __table_args__ = (
        UniqueConstraint("vendor_id", "account_id", name="uq_second_factors_account"),
    )

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    secret: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int | None]
    recovery_digests: Mapped[list[Any]]


class AccessTokenRow(_Scoped, Base):
    """An integration's access token: the digest of its secret, never the value."""

    __tablename__ = "access_tokens"
    __table_args__ = (Index("ix_access_tokens_membership", "vendor_id", "membership_id"),)

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id"))
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    name: Mapped[str] = mapped_column(String(100))
    capabilities: Mapped[list[Any]]
    digest: Mapped[str] = mapped_column(String(64))
    stamps: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    # No foreign key: the granting administrator's membership may be erased before the token.
    granted_by: Mapped[UUID | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SsoConfigRow(_Scoped, Base):
    """A customer's single sign-on set-up: its provider, sealed client secret and rules."""

    __tablename__ = "sso_configs"
    __table_args__ = (UniqueConstraint("vendor_id", "customer_id", name="uq_sso_configs_customer"),)

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(500))
    client_secret: Mapped[str] = mapped_column(Text)
    domains: Mapped[list[Any]]
    allow_new_accounts: Mapped[bool]
    default_profile_id: Mapped[UUID | None] = mapped_column(ForeignKey("profiles.id"))
    required: Mapped[bool]
    updated_at: Mapped[datetime | None]
    active: Mapped[bool]


class SsoDomainRow(_Scoped, Base):
    """An e-mail domain of one customer's single sign-on."""

    __tablename__ = "sso_domains"
    __table_args__ = (UniqueConstraint("vendor_id", "domain", name="uq_sso_domains_domain"),)

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    domain: Mapped[str] = mapped_column(String(253))


class SsoAttemptRow(_Scoped, Base):
    """A single sign-on under way: the state's digest, the sealed nonce and verifier."""

    __tablename__ = "sso_attempts"
    __table_args__ = (UniqueConstraint("vendor_id", "digest", name="uq_sso_attempts_digest"),)

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    digest: Mapped[str] = mapped_column(String(64))
    secrets: Mapped[str] = mapped_column(Text)
    redirect_uri: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PasskeyRow(_Scoped, Base):
    """An account's passkey: a WebAuthn credential's id, public key and counter."""

    __tablename__ = "passkeys"
    __table_args__ = (
        UniqueConstraint("vendor_id", "credential_id", name="uq_passkeys_credential"),
        Index("ix_passkeys_account", "vendor_id", "account_id"),
    )

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    # A credential id is at most 1023 bytes (WebAuthn level 3), 1364 in base64url.
    credential_id: Mapped[str] = mapped_column(String(1400))
    public_key: Mapped[str] = mapped_column(Text)
    user_handle: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    sign_count: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[list[Any]]
    aaguid: Mapped[str] = mapped_column(String(36))
    backed_up: Mapped[bool]
    last_used_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]


class SecondFactorRuleRow(_Scoped, Base):
    """The vendor's rule of which logins need a second factor: capabilities and profiles."""

    __tablename__ = "second_factor_rules"
    __table_args__ = (UniqueConstraint("vendor_id", name="uq_second_factor_rules_vendor"),)

    capabilities: Mapped[list[Any]]
    profile_ids: Mapped[list[Any]]


class SessionRow(_Scoped, Base):
    """A log-in session: the digest of its secret (never the value), its stamps and times."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_account", "vendor_id", "account_id"),)

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id"))
    last_seen_at: Mapped[datetime]
    digest: Mapped[str] = mapped_column(String(64))
    stamps: Mapped[str] = mapped_column(String(64))
    client_key: Mapped[str] = mapped_column(String(200))
    user_agent: Mapped[str] = mapped_column(String(500))
    ended_at: Mapped[datetime | None]


class CategoryRow(_Scoped, Base):
    """A node of the category tree."""

    __tablename__ = "category_tree"

    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("category_tree.id"))


class CatalogueItemRow(_Scoped, Base):
    """A catalogue item; the ``*_key`` columns are the folded texts a search compares."""

    __tablename__ = "catalogue_items"
    __table_args__ = (
        UniqueConstraint("vendor_id", "sku_key", name="uq_catalogue_items_sku"),
        Index("ix_catalogue_items_vendor_category", "vendor_id", "category_id"),
    )

    sku: Mapped[str] = mapped_column(String(50))
    sku_key: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    description_key: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(20))
    list_price: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    # Named by hand: the conventional name, prefixed, would pass PostgreSQL's 63 characters.
    category_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("category_tree.id", name="fk_catalogue_items_category")
    )
    active: Mapped[bool]
    attributes: Mapped[dict[str, Any]]


class CustomerGroupRow(_Scoped, Base):
    """A named group of customers (their ids in a JSON list)."""

    __tablename__ = "customer_groups"
    __table_args__ = (UniqueConstraint("vendor_id", "name_key", name="uq_customer_groups_name"),)

    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    customer_ids: Mapped[list[Any]]


class AssortmentRow(_Scoped, Base):
    """The assortment of one customer."""

    __tablename__ = "assortments"
    __table_args__ = (UniqueConstraint("customer_id", name="uq_assortments_customer"),)

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    mode: Mapped[str] = mapped_column(String(20))
    category_ids: Mapped[list[Any]]
    item_ids: Mapped[list[Any]]
    excluded_ids: Mapped[list[Any]]


class PriceListRow(_Scoped, Base):
    """A price list and whom it is assigned to."""

    __tablename__ = "price_lists"
    __table_args__ = (UniqueConstraint("vendor_id", "name_key", name="uq_price_lists_name"),)

    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    customer_ids: Mapped[list[Any]]
    group_ids: Mapped[list[Any]]
    active: Mapped[bool]


class PriceRuleRow(_Scoped, Base):
    """One rule of a price list, for an item or a category."""

    __tablename__ = "price_rules"
    __table_args__ = (
        Index("ix_price_rules_list_item", "price_list_id", "item_id"),
        Index("ix_price_rules_list_category", "price_list_id", "category_id"),
    )

    price_list_id: Mapped[UUID] = mapped_column(ForeignKey("price_lists.id"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal]
    item_id: Mapped[UUID | None] = mapped_column(ForeignKey("catalogue_items.id"))
    category_id: Mapped[UUID | None] = mapped_column(ForeignKey("category_tree.id"))
    min_quantity: Mapped[int]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]


class DeviceModelRow(_Scoped, Base):
    """A device model and its compatible accessories (item ids in a JSON list)."""

    __tablename__ = "device_models"
    __table_args__ = (UniqueConstraint("vendor_id", "name_key", name="uq_device_models_name"),)

    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    accessory_ids: Mapped[list[Any]]


class DeviceRow(_Scoped, Base):
    """A device of a customer's installed base."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("model_id", "serial_key", name="uq_devices_serial"),
        Index("ix_devices_vendor_customer", "vendor_id", "customer_id"),
    )

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    model_id: Mapped[UUID] = mapped_column(ForeignKey("device_models.id"))
    serial: Mapped[str] = mapped_column(String(100))
    serial_key: Mapped[str] = mapped_column(String(100))
    location_id: Mapped[UUID | None] = mapped_column(ForeignKey("locations.id"))
    active: Mapped[bool]


class CartRow(_Scoped, Base):
    """A membership's cart: item ids and quantities (a JSON list), never a price."""

    __tablename__ = "carts"
    __table_args__ = (UniqueConstraint("membership_id", name="uq_carts_membership"),)

    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id"))
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    lines: Mapped[list[Any]]


class OrderRow(_Scoped, Base):
    """An order; its lines (with the prices ordered at) and delivery address are JSON."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("vendor_id", "number_key", name="uq_orders_number"),
        Index("ix_orders_vendor_customer_status", "vendor_id", "customer_id", "status"),
    )

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id"))
    number: Mapped[str] = mapped_column(String(100))
    number_key: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[Any]]
    total: Mapped[Decimal]
    delivery: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(100))
    quote_id: Mapped[UUID | None] = mapped_column(ForeignKey("quotes.id"))
    decided_by: Mapped[UUID | None] = mapped_column(ForeignKey("memberships.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text)


class QuoteRow(_Scoped, Base):
    """A quote request and the vendor's answer to it."""

    __tablename__ = "quotes"
    __table_args__ = (
        UniqueConstraint("vendor_id", "number_key", name="uq_quotes_number"),
        Index("ix_quotes_vendor_customer_status", "vendor_id", "customer_id", "status"),
    )

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    membership_id: Mapped[UUID] = mapped_column(ForeignKey("memberships.id"))
    number: Mapped[str] = mapped_column(String(100))
    number_key: Mapped[str] = mapped_column(String(100))
    lines: Mapped[list[Any]]
    delivery: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal | None]
    valid_until: Mapped[date | None]
    sent_at: Mapped[datetime | None]
    sent_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[UUID | None] = mapped_column(ForeignKey("memberships.id"))
    order_id: Mapped[UUID | None]


class QuoteMessageRow(_Scoped, Base):
    """A message in a quote's thread."""

    __tablename__ = "quote_messages"
    __table_args__ = (Index("ix_quote_messages_quote", "quote_id", "created_at"),)

    quote_id: Mapped[UUID] = mapped_column(ForeignKey("quotes.id"))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    membership_id: Mapped[UUID | None] = mapped_column(ForeignKey("memberships.id"))


class NumberCounterRow(Base):
    """The last number given out per vendor and scope (a customer, a year): order and quote
    numbers come from one atomic upsert on it."""

    __tablename__ = "number_counters"

    vendor_id: Mapped[UUID] = mapped_column(ForeignKey("vendors.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int]


# Short enough that every prefixed name stays within PostgreSQL's 63 characters (the longest
# of portalkit's own names has 39); lowercase so no database folds or quotes it.
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,18}_")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid table prefix, else raise ConfigurationError."""
    if prefix and not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"PORTALKIT_TABLE_PREFIX: {prefix[:40]!r} is not a table prefix; use up to 20 "
            "lowercase letters, digits and underscores, starting with a letter and ending "
            "with '_' (such as 'portalkit_')"
        )
    return prefix


def version_table_for(prefix: str) -> str:
    """The table holding the revision of portalkit's migrations, beside the host's own
    ``alembic_version``: ``<prefix>alembic_version``, or ``portalkit_version`` without a
    prefix. No two prefixes share one, and none is one of portalkit's tables, so an
    unprefixed schema and a prefixed one can live in one database (as while moving over)."""
    return f"{prefix}alembic_version" if prefix else "portalkit_version"


@attrs.frozen(eq=False)
class Schema:
    """portalkit's tables under one table prefix: ``tables`` maps portalkit's own table
    names (``customers``) to the tables as the database names them (``portalkit_customers``).
    Every index and constraint name carries the prefix too, since PostgreSQL's index names
    are unique per schema, not per table."""

    prefix: str
    metadata: MetaData
    tables: Mapping[str, Table]
    version_table: str
    #: The PostgreSQL schema the tables are in (None: the connection's default).
    database_schema: str | None = None

    def name(self, name: str) -> str:
        """The database's name for one of portalkit's table, index or constraint names."""
        return self.prefix + name


_SCHEMA = re.compile(r"[a-z][a-z0-9_]{0,62}")


def check_database_schema(database_schema: str | None) -> str | None:
    """Return ``database_schema`` if it is a valid PostgreSQL schema name (or None), else
    raise ConfigurationError."""
    if database_schema is not None and not _SCHEMA.fullmatch(database_schema):
        raise ConfigurationError(
            f"PORTALKIT_DATABASE_SCHEMA: {database_schema[:70]!r} is not a schema name; use up "
            "to 63 lowercase letters, digits and underscores, starting with a letter"
        )
    return database_schema


@functools.cache
def schema_for(prefix: str = "", database_schema: str | None = None) -> Schema:
    """The schema under ``prefix``, in the PostgreSQL schema ``database_schema`` (both
    checked), built once for each."""
    check_prefix(prefix)
    check_database_schema(database_schema)
    if not prefix and database_schema is None:
        metadata = Base.metadata
    else:
        # No naming convention: every name is given, as the prefixed form of the name the
        # unprefixed schema has, so both follow one rule and the migrations can compute it.
        # The metadata's schema is every table's and every foreign key's target's.
        metadata = MetaData(schema=database_schema)
        for table in Base.metadata.sorted_tables:
            _copy(table, metadata, prefix)
    return Schema(
        prefix=prefix,
        metadata=metadata,
        tables={t.name[len(prefix) :]: t for t in metadata.tables.values()},
        version_table=version_table_for(prefix),
        database_schema=database_schema,
    )


def _copy(table: Table, metadata: MetaData, prefix: str) -> Table:
    columns = []
    for column in table.columns:
        copied = column._copy()
        copied.index = None  # the table's indexes are copied below, under their own names
        copied.unique = None
        columns.append(copied)
    constraints: list[Any] = []
    for constraint in table.constraints:
        name = conv(prefix + str(constraint.name))
        if isinstance(constraint, PrimaryKeyConstraint):
            constraints.append(PrimaryKeyConstraint(*constraint.columns.keys(), name=name))
        elif isinstance(constraint, ForeignKeyConstraint):
            constraints.append(
                ForeignKeyConstraint(
                    constraint.column_keys,
                    [
                        ".".join(filter(None, (metadata.schema, prefix + fk.target_fullname)))
                        for fk in constraint.elements
                    ],
                    name=name,
                )
            )
        elif isinstance(constraint, UniqueConstraint):
            constraints.append(UniqueConstraint(*constraint.columns.keys(), name=name))
        else:  # pragma: no cover - a new kind of constraint must be copied on purpose
            raise TypeError(f"{table.name}: cannot copy {constraint!r} under a prefix")
    copy = Table(prefix + table.name, metadata, *columns, *constraints)
    for index in table.indexes:
        Index(
            conv(prefix + str(index.name)),
            *[copy.c[c.name] for c in index.columns],
            unique=index.unique,
            **dict(index.dialect_kwargs),
        )
    return copy


def migration_names() -> Callable[[str], str]:
    """For a migration script: the function that turns one of portalkit's table, index or
    constraint names into the database's, under the prefix of the migration run in progress
    (``alembic_config(table_prefix=…)``), so one script serves every prefix."""
    from alembic import context

    prefix = check_prefix(context.config.attributes.get("portalkit_table_prefix", ""))
    return lambda name: prefix + name


def migration_schema() -> str | None:
    """For a migration script: the PostgreSQL schema of the migration run in progress (None:
    the default), for the ``batch_alter_table(…, schema=…)`` calls, whose ALTER statements
    Alembic renders itself. What SQLAlchemy renders (CREATE TABLE, CREATE INDEX) is put there
    by the run's ``schema_translate_map``."""
    from alembic import context

    return check_database_schema(context.config.attributes.get("portalkit_database_schema"))
