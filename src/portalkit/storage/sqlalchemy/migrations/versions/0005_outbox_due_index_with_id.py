"""outbox due index with id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:05:00

Claims take due messages ordered by (next_attempt_at, id); with id in the index the database
reads them in order instead of sorting every pending message for each batch.
"""

from collections.abc import Sequence

from alembic import op

from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("outbox_messages"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_outbox_messages_due"))
        batch_op.create_index(
            p("ix_outbox_messages_due"), ["status", "next_attempt_at", "id"], unique=False
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("outbox_messages"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_outbox_messages_due"))
        batch_op.create_index(
            p("ix_outbox_messages_due"), ["status", "next_attempt_at"], unique=False
        )
