"""access tokens: integrations' tokens, bound to one membership, digests only

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    when = portalkit.storage.sqlalchemy.rows.UTCDateTime
    op.create_table(
        p("access_tokens"),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("stamps", sa.String(length=64), nullable=False),
        sa.Column("expires_at", when(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("granted_by", sa.Uuid(), nullable=True),
        sa.Column("last_used_at", when(timezone=True), nullable=True),
        sa.Column("revoked_at", when(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", when(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], [p("accounts.id")], name=op.f(p("fk_access_tokens_account_id_accounts"))
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            [p("customers.id")],
            name=op.f(p("fk_access_tokens_customer_id_customers")),
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_access_tokens_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_access_tokens_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_access_tokens"))),
    )
    with op.batch_alter_table(p("access_tokens"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_access_tokens_vendor_id")), ["vendor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f(p("ix_access_tokens_membership")),
            ["vendor_id", "membership_id"],
            unique=False,
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("access_tokens"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_access_tokens_membership")))
        batch_op.drop_index(batch_op.f(p("ix_access_tokens_vendor_id")))
    op.drop_table(p("access_tokens"))
