"""rights generations: one number per vendor that every change of its access facts moves on

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 15:00:00

A request checks the number (one small read) and reuses the access facts it read before while
the number has not moved, instead of reading them again (two queries, one recursive).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portalkit.storage.sqlalchemy.rows import migration_names

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    op.create_table(
        p("rights_generations"),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            [p("vendors.id")],
            name=op.f(p("fk_rights_generations_vendor_id_vendors")),
        ),
        sa.PrimaryKeyConstraint("vendor_id", name=op.f(p("pk_rights_generations"))),
    )


def downgrade() -> None:
    """Undo this migration."""
    p = migration_names()
    op.drop_table(p("rights_generations"))
