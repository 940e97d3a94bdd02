"""portalkit's settings: one class, read from ``PORTALKIT_*`` environment variables or ``.env``.

Example::

    PORTALKIT_DATABASE_URL=postgresql://portal@db/portal python app.py

Nothing else in portalkit reads the environment.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

from portalkit.errors import ConfigurationError

__all__ = ["PortalSettings", "load_settings"]


class PortalSettings(BaseSettings):
    """All settings, with the defaults an embedded single-machine portal needs."""

    model_config = SettingsConfigDict(
        env_prefix="PORTALKIT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    database_url: str = pydantic.Field(
        default="sqlite:///portalkit.db",
        description="SQLAlchemy URL: sqlite:///file.db (default) or postgresql://…",
        min_length=1,
        repr=False,  # it may hold the database password
    )
    table_prefix: str = pydantic.Field(
        default="",
        description="Prefix of every table, index and constraint name of portalkit's, so its "
        "tables sit beside a host application's own in one database ('portalkit_' is "
        "recommended there; the default, none, keeps existing databases as they are). Up to "
        "20 lowercase letters, digits and underscores, starting with a letter and ending "
        "with '_'.",
        pattern=r"^([a-z][a-z0-9_]{0,18}_)?$",
    )
    database_schema: str = pydantic.Field(
        default="",
        description="PostgreSQL only: the schema portalkit's tables live in (created by "
        "`portalkit db upgrade` if missing), apart from the host's in `public`. Default: "
        "the connection's search path.",
        pattern=r"^([a-z][a-z0-9_]{0,62})?$",
    )
    storage: str = pydantic.Field(
        default="sqlalchemy",
        description="'sqlalchemy', 'memory', or a dotted path to a Storage class.",
        min_length=1,
    )
    auto_migrate: bool | None = pydantic.Field(
        default=None,
        description=(
            "Upgrade the schema when the portal starts. Default: yes for SQLite, no for other "
            "databases, where `portalkit db upgrade` runs once per deployment."
        ),
    )
    default_language: Literal["en", "nl", "de"] = "en"
    default_vendor: str = pydantic.Field(
        default="default",
        description="Code of the vendor that single-vendor hosts use (Portal.default_vendor()).",
        pattern=r"^[A-Za-z0-9_-]{1,50}$",
    )
    sql_echo: bool = False
    seed_known_passwords: bool = pydantic.Field(
        default=False,
        description=(
            "Let portalkit.testing.seed_login give logins known passwords without the "
            "must-change flag: for demo and test data only, never in production."
        ),
    )
    portal_name: str = pydantic.Field(
        default="Customer portal", description="The portal's name in mail.", max_length=100
    )

    base_url: str = pydantic.Field(
        default="http://localhost:8000",
        description="The portal's address; every link in mail starts with it (never with "
        "anything taken from a request).",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
    )
    invite_path: str = pydantic.Field(
        default="/accept-invitation?token={token}", pattern=r"^/[^\s]*\{token\}[^\s]*$"
    )
    reset_path: str = pydantic.Field(
        default="/reset-password?token={token}", pattern=r"^/[^\s]*\{token\}[^\s]*$"
    )
    confirm_path: str = pydantic.Field(
        default="/confirm-registration?token={token}", pattern=r"^/[^\s]*\{token\}[^\s]*$"
    )
    email_change_path: str = pydantic.Field(
        default="/confirm-email?token={token}",
        pattern=r"^/[^\s]*\{token\}[^\s]*$",
        description="Where the link that confirms a new login e-mail leads.",
    )
    login_path: str = pydantic.Field(default="/login", pattern=r"^/[^\s]*$")

    staff_permissions: Literal["enforce", "legacy"] = pydantic.Field(
        default="enforce",
        description="'enforce': a Staff actor may do only what its permissions name "
        "(portalkit.staffrights). 'legacy': a Staff with no permissions may do everything "
        "but view as a customer, as before permissions were checked; one with some holds "
        "just those.",
    )

    password_policy: Literal["nist", "strict"] = pydantic.Field(
        default="nist",
        description="'nist' (length, common passwords, no composition rules) or 'strict' "
        "(at least 8 characters with an upper-case letter, a digit and a symbol).",
    )
    password_min_length: int | None = pydantic.Field(
        default=None, ge=8, le=64, description="Overrides the policy's minimum length."
    )
    password_max_length: int = pydantic.Field(default=128, ge=64, le=1024)
    argon2_memory_kib: int = pydantic.Field(
        default=19456,
        ge=19456,
        le=4 * 1024 * 1024,
        description="Argon2id memory in KiB (OWASP: at least 19 MiB; at most 4 GiB).",
    )
    argon2_iterations: int = pydantic.Field(default=2, ge=2, le=100)
    argon2_lanes: int = pydantic.Field(default=1, ge=1, le=64)
    invitation_hours: float = pydantic.Field(default=7 * 24.0, gt=0, le=90 * 24.0)
    reset_hours: float = pydantic.Field(default=24.0, gt=0, le=7 * 24.0)
    confirm_hours: float = pydantic.Field(default=48.0, gt=0, le=30 * 24.0)
    email_change_hours: float = pydantic.Field(
        default=24.0,
        gt=0,
        le=7 * 24.0,
        description="How long the link that confirms a new login e-mail works.",
    )
    generated_password_hours: float = pydantic.Field(
        default=7 * 24.0,
        gt=0,
        description="A generated or admin-set password stops working after this long if it "
        "was never changed.",
    )
    login_max_failures: int = pydantic.Field(
        default=10,
        ge=3,
        le=100,
        description="Failed logins per account (and per client key) "
        "in one window before logins are refused until the window ends.",
    )
    login_window_seconds: float = pydantic.Field(default=900.0, ge=60, le=86400)
    login_backoff_max_seconds: float = pydantic.Field(
        default=3600.0,
        ge=60,
        le=7 * 86400,
        description="The longest a client key is locked out: each lock window of one client "
        "key in a row lasts twice the one before (the first one window), up to this. An "
        "account's own lock never grows: it ends with its window. Everyone behind one client "
        "key (an office's NAT, a proxy) shares its lock, so raise it only with client keys "
        "that are one client's.",
    )
    session_idle_minutes: float = pydantic.Field(
        default=30.0,
        ge=1,
        le=30 * 24 * 60,
        description="A session unused for this long ends (ASVS 7.3.1; 30 minutes is what "
        "NIST SP 800-63B asks at AAL2). Counted from the last request recorded, which moves "
        "at most every PORTALKIT_SESSION_TOUCH_SECONDS.",
    )
    session_absolute_hours: float = pydantic.Field(
        default=12.0,
        gt=0,
        le=90 * 24,
        description="A session ends this long after its log-in, used or not (ASVS 7.3.2; "
        "12 hours: one working day). A switch of customer or a password change keeps it.",
    )
    session_touch_seconds: float = pydantic.Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How often, at most, a request records that its session was seen: one "
        "write per session in this time, not one per request. 0 writes on every request.",
    )
    request_max_per_hour: int = pydantic.Field(
        default=5,
        ge=1,
        le=100,
        description="Reset and registration requests per e-mail "
        "address (and per client key), and e-mail change requests per account, in an hour.",
    )

    secret_key: pydantic.SecretStr = pydantic.Field(
        default=pydantic.SecretStr(""),
        description="A long random secret, the same on every server: it keys the HMAC under "
        "which throttle counters are stored, so their table reveals no typed logins. Make one "
        "with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
    )
    registration_profile: str = pydantic.Field(
        default="",
        max_length=100,
        description="Name of the permission profile an approved self-registration gets "
        "unless staff choose another (least privilege: make it a small one).",
    )

    order_number_pattern: str = pydantic.Field(
        default="{customer_code}-{seq:06d}",
        min_length=1,
        max_length=80,
        description="How order numbers are made: {customer_code}, {seq} (the counter, with "
        "an optional format such as {seq:06d}) and {year}; {seq} is required. The counter "
        "runs per customer when the pattern holds {customer_code}, per year when it holds "
        "{year}, else once for the whole vendor.",
    )
    quote_number_pattern: str = pydantic.Field(
        default="{customer_code}-Q{seq:05d}",
        min_length=1,
        max_length=80,
        description="How quote numbers are made; the same placeholders as order numbers.",
    )

    @pydantic.field_validator("order_number_pattern", "quote_number_pattern")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        check_number_pattern(value)
        return value

    @pydantic.model_validator(mode="after")
    def _at_most_100_guesses_an_hour(self) -> PortalSettings:
        # ASVS 2.2.1 / security.md A7: whatever the window, never more than 100 an hour.
        per_hour = self.login_max_failures * 3600 / self.login_window_seconds
        if per_hour > 100:
            raise ValueError(
                f"PORTALKIT_LOGIN_MAX_FAILURES per PORTALKIT_LOGIN_WINDOW_SECONDS allows "
                f"{per_hour:.0f} failed logins an hour; at most 100 are allowed (widen the "
                "window or lower the count)"
            )
        return self

    asset_store: str = pydantic.Field(
        default="filesystem",
        description="Where uploaded files (documents, attachments, logos) are kept: "
        "'filesystem', 'memory', or a dotted path to an AssetStore class with a "
        "from_settings() method.",
        min_length=1,
    )
    asset_dir: str = pydantic.Field(
        default="",
        description="The folder of the filesystem asset store. Default: 'assets' beside the "
        "SQLite file, or 'portalkit-assets' in the working directory for other databases.",
        max_length=1000,
    )
    asset_max_bytes: int = pydantic.Field(
        default=20 * 1024 * 1024,
        ge=1,
        le=1024 * 1024 * 1024,
        description="The largest file portalkit stores, in bytes (20 MiB by default).",
    )
    branding_max_bytes: int = pydantic.Field(
        default=5 * 1024 * 1024,
        ge=1,
        le=1024 * 1024 * 1024,
        description="The largest logo or size-instruction file portal.branding takes (5 MiB).",
    )
    document_link_minutes: int = pydantic.Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="How long a document's download link works for the member it was made for.",
    )
    retention_token_days: int = pydantic.Field(
        default=30,
        ge=1,
        le=3650,
        description="Days a used, revoked or expired one-time link is kept before "
        "`portalkit db prune` removes it.",
    )
    retention_session_days: int = pydantic.Field(
        default=30,
        ge=1,
        le=3650,
        description="Days an ended session's record (or one unused past its time-outs) is "
        "kept before `portalkit db prune` removes it.",
    )
    retention_throttle_days: int = pydantic.Field(
        default=1,
        ge=1,
        le=3650,
        description="Days a failed-login counter is kept after its window began (a window "
        "lasts a day at most, so a pruned counter would have started again anyway).",
    )
    retention_outbox_days: int = pydantic.Field(
        default=30,
        ge=1,
        le=3650,
        description="Days the body of a delivered or given-up mail is kept; then it is "
        "emptied (the message's address, subject and status stay).",
    )

    mail_backend: str = pydantic.Field(
        default="console",
        description="'console', 'smtp', 'file', 'memory', or a dotted path to a Mailer class "
        "with a from_settings() method.",
        min_length=1,
    )
    mail_from: str = pydantic.Field(
        default="portal@portalkit.invalid",
        description="The From address of every message; its domain also names Message-IDs.",
        pattern=r"^[^@\s<>]+@[^@\s<>]+$",
    )
    mail_send_after_commit: bool = pydantic.Field(
        default=True, description="Deliver right after the transaction that queued the mail."
    )
    mail_max_attempts: int = pydantic.Field(
        default=12,
        ge=1,
        le=100,
        description="Attempts before a message is given up (about a day with the defaults).",
    )
    mail_retry_seconds: float = pydantic.Field(
        default=60.0, gt=0, description="Wait before the first retry; doubled each time."
    )
    mail_retry_max_seconds: float = pydantic.Field(default=6 * 3600.0, gt=0)
    mail_lease_seconds: float = pydantic.Field(
        default=300.0,
        gt=0,
        description="How long a worker holds a claimed message before another may take it.",
    )
    mail_encryption_key: pydantic.SecretStr = pydantic.Field(
        default=pydantic.SecretStr(""),
        description="Fernet key that encrypts mail carrying a secret (links, passwords) while "
        "it waits in the outbox; make one with `portalkit mail new-key`.",
    )
    mail_templates: str = pydantic.Field(
        default="", description="A folder whose templates override portalkit's own."
    )
    mail_file_dir: str = pydantic.Field(default="mail", description="Folder of the file backend.")
    smtp_host: str = "localhost"
    smtp_port: int = pydantic.Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str = ""
    smtp_password: pydantic.SecretStr = pydantic.SecretStr("")
    smtp_timeout: float = pydantic.Field(default=30.0, gt=0)
    access_token_max_days: int = pydantic.Field(
        default=365,
        ge=1,
        le=3650,
        description="The longest an integration's access token may be made to last.",
    )
    access_token_use_seconds: float = pydantic.Field(
        default=300.0,
        ge=1,
        le=86400,
        description="How fresh an access token's 'last used' is kept: written at most once "
        "in this many seconds per token, not on every request.",
    )
    sso_timeout_seconds: float = pydantic.Field(
        default=10.0,
        gt=0,
        le=60,
        description="How long a single sign-on waits for the customer's OpenID provider "
        "(discovery, keys, token endpoint) before it gives up.",
    )
    sso_attempt_seconds: int = pydantic.Field(
        default=600,
        ge=60,
        le=3600,
        description="How long a single sign-on begun may take before the provider sends the "
        "person back; its state works once, within this time.",
    )
    sso_begin_max: int = pydantic.Field(
        default=30,
        ge=3,
        le=1000,
        description="Single sign-ins one client key may begin in one log-in window "
        "(PORTALKIT_LOGIN_WINDOW_SECONDS) before it is refused until the window ends. Each "
        "one begun asks the customer's provider and stores a row; everyone behind one client "
        "key (an office's NAT) shares the count.",
    )
    sso_allow_http_loopback: bool = pydantic.Field(
        default=False,
        description="Accept an http:// issuer on 127.0.0.1 (tests with a local provider "
        "only); every other issuer must use https://.",
    )

    passkey_rp_id: str = pydantic.Field(
        default="",
        max_length=253,
        description="The WebAuthn relying-party id passkeys are bound to: the host of "
        "PORTALKIT_BASE_URL when empty, or a domain it ends with (a passkey made for "
        "'vendor.example' works on 'portal.vendor.example'). Changing it makes every "
        "registered passkey stop working.",
    )
    passkey_origins: list[str] = pydantic.Field(
        default_factory=list,
        max_length=20,
        description="The origins (https://host[:port]) passkey ceremonies may come from: "
        "the origin of PORTALKIT_BASE_URL when empty. Each must be the relying-party id or "
        "below it; plain http only for localhost.",
    )

    @pydantic.model_validator(mode="after")
    def _touch_within_idle(self) -> PortalSettings:
        # A touch interval past the idle time-out would end sessions in use.
        if self.session_touch_seconds * 2 > self.session_idle_minutes * 60:
            raise ValueError(
                "PORTALKIT_SESSION_TOUCH_SECONDS must be at most half of "
                "PORTALKIT_SESSION_IDLE_MINUTES (a session in use would end)"
            )
        return self

    @pydantic.model_validator(mode="after")
    def _passkey_origins_fit(self) -> PortalSettings:
        # Checked at start-up only when set explicitly: a derived value is checked when a
        # ceremony starts, so an http:// base URL keeps working for everything but passkeys.
        if self.passkey_rp_id or self.passkey_origins:
            passkey_relying_party(self)
        return self


NUMBER_PLACEHOLDERS = frozenset({"customer_code", "seq", "year"})
"""The placeholders an order or quote number pattern may use."""


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_ORIGIN_RE = re.compile(r"^(https?)://([^/:?#\s]+)(:[0-9]{1,5})?$")


def passkey_relying_party(settings: PortalSettings) -> tuple[str, tuple[str, ...]]:
    """The relying-party id and the allowed origins of passkey ceremonies, from
    ``PORTALKIT_PASSKEY_RP_ID`` and ``PORTALKIT_PASSKEY_ORIGINS`` or else from
    ``PORTALKIT_BASE_URL``; ValueError saying what does not fit."""
    # The base URL's pattern already refuses paths without a host and query strings.
    base = _ORIGIN_RE.fullmatch("/".join(settings.base_url.split("/", 3)[:3]))
    host = base.group(2).lower() if base else ""
    rp_id = settings.passkey_rp_id or host
    origins = tuple(settings.passkey_origins) or (
        (f"{base.group(1)}://{host}{base.group(3) or ''}",) if base else ()
    )
    if not _HOST_RE.fullmatch(rp_id) or rp_id.replace(".", "").isdigit():
        raise ValueError(
            f"PORTALKIT_PASSKEY_RP_ID: {rp_id!r} is not a domain name (lower case, no port, "
            "no IP address)"
        )
    if not origins:
        raise ValueError("PORTALKIT_PASSKEY_ORIGINS: no origin for passkey ceremonies")
    for origin in origins:
        found = _ORIGIN_RE.fullmatch(origin)
        host = found.group(2) if found else ""
        if found is None or host != host.lower():
            raise ValueError(
                f"PORTALKIT_PASSKEY_ORIGINS: {origin!r} is not an origin like "
                "https://portal.vendor.example (lower case, no path)"
            )
        if found.group(1) == "http" and host != "localhost":
            raise ValueError(
                f"PORTALKIT_PASSKEY_ORIGINS: {origin!r} uses plain http; browsers allow "
                "passkeys over http only on localhost"
            )
        if host != rp_id and not host.endswith("." + rp_id):
            raise ValueError(
                f"PORTALKIT_PASSKEY_ORIGINS: {origin!r} is not on the relying-party id "
                f"{rp_id!r} or below it (set PORTALKIT_PASSKEY_RP_ID)"
            )
    return rp_id, origins


def check_number_pattern(pattern: str) -> None:
    """Refuse a number pattern with an unknown placeholder, a conversion, a bad format, or
    without ``{seq}`` (ValueError saying which)."""
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"not a valid pattern ({exc})") from None
    names = set()
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in NUMBER_PLACEHOLDERS:
            known = ", ".join(sorted(NUMBER_PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")
        if conversion or (spec and "{" in spec):
            raise ValueError(f"placeholder {{{name}}} may have a format, nothing else")
        names.add(name)
    if "seq" not in names:
        raise ValueError("the pattern must hold {seq}, or numbers would repeat")
    try:
        pattern.format(customer_code="C", seq=1, year=2026)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a valid pattern ({exc})") from None


def load_settings(**overrides: Any) -> PortalSettings:
    """Read the settings; a wrong value raises ConfigurationError naming the variable."""
    try:
        return PortalSettings(**overrides)
    except pydantic.ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = "_".join(str(p) for p in error["loc"]).upper()
            name = f"PORTALKIT_{where}" if where else "PORTALKIT_* settings"
            lines.append(f"{name}: {error['msg']}")
        raise ConfigurationError("; ".join(lines)) from None
