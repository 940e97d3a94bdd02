"""portalkit's settings: one class, read from ``PORTALKIT_*`` environment variables or ``.env``.

Example::

    PORTALKIT_DATABASE_URL=postgresql://portal@db/portal python app.py

Nothing else in portalkit reads the environment.
"""

from __future__ import annotations

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


def load_settings(**overrides: Any) -> PortalSettings:
    """Read the settings; a wrong value raises ConfigurationError naming the variable."""
    try:
        return PortalSettings(**overrides)
    except pydantic.ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "PORTALKIT_" + "_".join(str(p) for p in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise ConfigurationError("; ".join(lines)) from None
