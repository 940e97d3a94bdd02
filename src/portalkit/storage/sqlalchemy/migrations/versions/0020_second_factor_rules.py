"""second_factor_rules: which logins of a vendor must have a second factor

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 19:10:00

One row per vendor: the capabilities and the profiles (JSON lists) whose logins enrol a
second factor at their next log-in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    when = portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True)
    op.create_table(
        p("second_factor_rules"),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("profile_ids", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            [p("vendors.id")],
            name=op.f(p("fk_second_factor_rules_vendor_id_vendors")),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_second_factor_rules"))),
        sa.UniqueConstraint("vendor_id", name=op.f(p("uq_second_factor_rules_vendor"))),
    )
    with op.batch_alter_table(p("second_factor_rules"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_second_factor_rules_vendor_id")), ["vendor_id"], unique=False
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("second_factor_rules"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_second_factor_rules_vendor_id")))
    op.drop_table(p("second_factor_rules"))
