"""sessions: log-in sessions as records (secret's digest, stamps, created and last seen)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 19:20:00

Several rows per account; a session value names its row and carries a secret whose SHA-256
alone is stored. An ended session keeps its row, with ``ended_at`` set, until pruned.
Session values made before this migration (without a row) no longer hold: members log in
once more.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    when = portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True)
    op.create_table(
        p("sessions"),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("last_seen_at", when, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("stamps", sa.String(length=64), nullable=False),
        sa.Column("client_key", sa.String(length=200), nullable=False),
        sa.Column("user_agent", sa.String(length=500), nullable=False),
        sa.Column("ended_at", when, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], [p("accounts.id")], name=op.f(p("fk_sessions_account_id_accounts"))
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_sessions_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_sessions_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_sessions"))),
    )
    with op.batch_alter_table(p("sessions"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_sessions_account")), ["vendor_id", "account_id"], unique=False
        )
        batch_op.create_index(batch_op.f(p("ix_sessions_vendor_id")), ["vendor_id"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("sessions"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_sessions_vendor_id")))
        batch_op.drop_index(batch_op.f(p("ix_sessions_account")))
    op.drop_table(p("sessions"))
