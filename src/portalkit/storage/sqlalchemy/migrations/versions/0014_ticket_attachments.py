"""files added to service-desk tickets

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 22:40:00

An attachment's bytes live in the asset store (a private key); this table keeps which ticket
it belongs to, what it is and who added it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("ticket_attachments"),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("asset_key", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
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
            name=op.f(p("fk_ticket_attachments_customer_id_customers")),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            [p("tickets.id")],
            name=op.f(p("fk_ticket_attachments_ticket_id_tickets")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            [p("vendors.id")],
            name=op.f(p("fk_ticket_attachments_vendor_id_vendors")),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_ticket_attachments"))),
    )
    with op.batch_alter_table(p("ticket_attachments"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_ticket_attachments_ticket"), ["vendor_id", "ticket_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f(p("ix_ticket_attachments_vendor_id")), ["vendor_id"], unique=False
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("ticket_attachments"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_ticket_attachments_vendor_id")))
        batch_op.drop_index(p("ix_ticket_attachments_ticket"))
    op.drop_table(p("ticket_attachments"))
