"""customer notification defaults

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:00:00

The notification kinds a customer's new logins start subscribed to (a JSON list); customers
stored before have none, which is what they had.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("customers"), schema=s) as batch_op:
        batch_op.add_column(
            sa.Column(
                "notification_defaults", sa.JSON(), server_default=sa.text("'[]'"), nullable=False
            )
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("customers"), schema=s) as batch_op:
        batch_op.drop_column("notification_defaults")
