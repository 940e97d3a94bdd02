"""tokens name the membership an invitation is for

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:45:00

An invitation to join a customer activates that one membership when it is accepted, not every
invited membership of the account (a second customer's invitation is accepted by its own link).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("tokens"), schema=s) as batch:
        batch.add_column(sa.Column("membership_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f(p("fk_tokens_membership_id_memberships")),
            p("memberships"),
            ["membership_id"],
            ["id"],
        )


def downgrade() -> None:
    """Undo this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("tokens"), schema=s) as batch:
        batch.drop_constraint(op.f(p("fk_tokens_membership_id_memberships")), type_="foreignkey")
        batch.drop_column("membership_id")
