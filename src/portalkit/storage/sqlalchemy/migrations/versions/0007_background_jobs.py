"""background jobs: reset and registration requests are stored before they are handled

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00

A request writes one row; the portal's background thread, ``portalkit mail worker`` or the
next process handles it, so a process that stops loses no request.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("jobs"),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column(
            "due_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_jobs_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_jobs"))),
    )
    with op.batch_alter_table(p("jobs"), schema=s) as batch_op:
        batch_op.create_index(p("ix_jobs_due"), ["due_at", "id"], unique=False)
        batch_op.create_index(batch_op.f(p("ix_jobs_vendor_id")), ["vendor_id"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("jobs"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_jobs_vendor_id")))
        batch_op.drop_index(p("ix_jobs_due"))
    op.drop_table(p("jobs"))
