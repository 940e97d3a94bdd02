"""single sign-on per customer: set-ups, their e-mail domains and sign-ins under way

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 18:30:00

A domain is unique per vendor (it belongs to one customer's single sign-on at most); a sign-in
under way is found by its state's digest.
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = portalkit.storage.sqlalchemy.rows.UTCDateTime


def _scoped(name: Callable[[str], str], table: str) -> list[Any]:
    """The columns and constraints every vendor-scoped table has."""
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _WHEN(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [name("vendors.id")], name=op.f(name(f"fk_{table}_vendor_id_vendors"))
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            [name("customers.id")],
            name=op.f(name(f"fk_{table}_customer_id_customers")),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(name(f"pk_{table}"))),
    ]


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("sso_configs"),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=500), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("allow_new_accounts", sa.Boolean(), nullable=False),
        sa.Column("default_profile_id", sa.Uuid(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _WHEN(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_scoped(p, "sso_configs"),
        sa.ForeignKeyConstraint(
            ["default_profile_id"],
            [p("profiles.id")],
            name=op.f(p("fk_sso_configs_default_profile_id_profiles")),
        ),
        sa.UniqueConstraint("vendor_id", "customer_id", name=op.f(p("uq_sso_configs_customer"))),
    )
    op.create_table(
        p("sso_domains"),
        sa.Column("domain", sa.String(length=253), nullable=False),
        *_scoped(p, "sso_domains"),
        sa.UniqueConstraint("vendor_id", "domain", name=op.f(p("uq_sso_domains_domain"))),
    )
    op.create_table(
        p("sso_attempts"),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("expires_at", _WHEN(timezone=True), nullable=False),
        sa.Column("used_at", _WHEN(timezone=True), nullable=True),
        *_scoped(p, "sso_attempts"),
        sa.UniqueConstraint("vendor_id", "digest", name=op.f(p("uq_sso_attempts_digest"))),
    )
    for table in ("sso_configs", "sso_domains", "sso_attempts"):
        with op.batch_alter_table(p(table), schema=s) as batch_op:
            batch_op.create_index(batch_op.f(p(f"ix_{table}_vendor_id")), ["vendor_id"])


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    for table in ("sso_attempts", "sso_domains", "sso_configs"):
        with op.batch_alter_table(p(table), schema=s) as batch_op:
            batch_op.drop_index(batch_op.f(p(f"ix_{table}_vendor_id")))
        op.drop_table(p(table))
