"""second factors: an account's sealed TOTP secret, last step used and recovery digests

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:50:00

One row per account at most; the throttle table also holds the growing back-off's lock
counts (no new column: a count and the start of the latest lock).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("second_factors"),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column(
            "confirmed_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("last_step", sa.Integer(), nullable=True),
        sa.Column("recovery_digests", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            [p("accounts.id")],
            name=op.f(p("fk_second_factors_account_id_accounts")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            [p("vendors.id")],
            name=op.f(p("fk_second_factors_vendor_id_vendors")),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_second_factors"))),
        sa.UniqueConstraint("vendor_id", "account_id", name=op.f(p("uq_second_factors_account"))),
    )
    with op.batch_alter_table(p("second_factors"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_second_factors_vendor_id")), ["vendor_id"], unique=False
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("second_factors"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_second_factors_vendor_id")))
    op.drop_table(p("second_factors"))
