"""passkeys: accounts' WebAuthn credentials (id, public key, signature counter, name)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 18:10:00

Several rows per account; a credential id is unique per vendor. A removed passkey keeps its
row with ``removed_at`` set.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    when = portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True)
    op.create_table(
        p("passkeys"),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("user_handle", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("last_used_at", when, nullable=True),
        sa.Column("removed_at", when, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], [p("accounts.id")], name=op.f(p("fk_passkeys_account_id_accounts"))
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_passkeys_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_passkeys"))),
        sa.UniqueConstraint("vendor_id", "credential_id", name=op.f(p("uq_passkeys_credential"))),
    )
    with op.batch_alter_table(p("passkeys"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_passkeys_account")), ["vendor_id", "account_id"], unique=False
        )
        batch_op.create_index(batch_op.f(p("ix_passkeys_vendor_id")), ["vendor_id"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("passkeys"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_passkeys_vendor_id")))
        batch_op.drop_index(batch_op.f(p("ix_passkeys_account")))
    op.drop_table(p("passkeys"))
