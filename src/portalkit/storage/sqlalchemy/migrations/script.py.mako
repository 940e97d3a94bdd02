"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    """Apply this migration."""
    # Wrap every table, index and constraint name in p(): the tables may carry a prefix;
    # pass schema=s to batch_alter_table: they may live in a PostgreSQL schema.
    p = migration_names()
    s = migration_schema()
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    ${downgrades if downgrades else "pass"}
