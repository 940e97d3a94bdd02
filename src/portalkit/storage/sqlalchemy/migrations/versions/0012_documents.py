"""documents the vendor shares with its customers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 15:00:00

A document's bytes live in the asset store; this table keeps what it is, whose it is and who
may see it (the whole customer, a location, or chosen memberships).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("documents"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("asset_key", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            [p("customers.id")],
            name=op.f(p("fk_documents_customer_id_customers")),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            [p("locations.id")],
            name=op.f(p("fk_documents_location_id_locations")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_documents_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_documents"))),
    )
    with op.batch_alter_table(p("documents"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_documents_vendor_customer"),
            ["vendor_id", "customer_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f(p("ix_documents_vendor_id")), ["vendor_id"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("documents"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_documents_vendor_id")))
        batch_op.drop_index(p("ix_documents_vendor_customer"))
    op.drop_table(p("documents"))
