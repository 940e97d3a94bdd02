"""the shop's orders: carts, orders, quotes and their messages, the number counters, and the
customers' approval amount

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:10:00

Amounts are stored as exact decimal text (``DecimalText``), never as floats.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("number_counters"),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_number_counters_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("vendor_id", "scope", name=op.f(p("pk_number_counters"))),
    )

    op.create_table(
        p("carts"),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], [p("customers.id")], name=op.f(p("fk_carts_customer_id_customers"))
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_carts_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_carts_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_carts"))),
        sa.UniqueConstraint("membership_id", name=p("uq_carts_membership")),
    )

    op.create_table(
        p("quotes"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("number_key", sa.String(length=100), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", portalkit.storage.sqlalchemy.rows.DecimalText(length=40), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column(
            "sent_at", portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("sent_by", sa.String(length=200), nullable=False),
        sa.Column(
            "decided_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], [p("customers.id")], name=op.f(p("fk_quotes_customer_id_customers"))
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], [p("memberships.id")], name=op.f(p("fk_quotes_decided_by_memberships"))
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_quotes_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_quotes_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_quotes"))),
        sa.UniqueConstraint("vendor_id", "number_key", name=p("uq_quotes_number")),
    )

    op.create_table(
        p("orders"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("number_key", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column(
            "total", portalkit.storage.sqlalchemy.rows.DecimalText(length=40), nullable=False
        ),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("quote_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column(
            "decided_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], [p("customers.id")], name=op.f(p("fk_orders_customer_id_customers"))
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], [p("memberships.id")], name=op.f(p("fk_orders_decided_by_memberships"))
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_orders_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"], [p("quotes.id")], name=op.f(p("fk_orders_quote_id_quotes"))
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_orders_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_orders"))),
        sa.UniqueConstraint("vendor_id", "number_key", name=p("uq_orders_number")),
    )

    op.create_table(
        p("quote_messages"),
        sa.Column("quote_id", sa.Uuid(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_quote_messages_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"], [p("quotes.id")], name=op.f(p("fk_quote_messages_quote_id_quotes"))
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_quote_messages_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_quote_messages"))),
    )

    with op.batch_alter_table(p("carts"), schema=s) as batch_op:
        batch_op.create_index(batch_op.f(p("ix_carts_vendor_id")), ["vendor_id"], unique=False)
    with op.batch_alter_table(p("quotes"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_quotes_vendor_customer_status"),
            ["vendor_id", "customer_id", "status"],
            unique=False,
        )
        batch_op.create_index(batch_op.f(p("ix_quotes_vendor_id")), ["vendor_id"], unique=False)
    with op.batch_alter_table(p("orders"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_orders_vendor_customer_status"),
            ["vendor_id", "customer_id", "status"],
            unique=False,
        )
        batch_op.create_index(batch_op.f(p("ix_orders_vendor_id")), ["vendor_id"], unique=False)
    with op.batch_alter_table(p("quote_messages"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_quote_messages_quote"), ["quote_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f(p("ix_quote_messages_vendor_id")), ["vendor_id"], unique=False
        )
    with op.batch_alter_table(p("customers"), schema=s) as batch_op:
        batch_op.add_column(
            sa.Column(
                "approval_above",
                portalkit.storage.sqlalchemy.rows.DecimalText(length=40),
                nullable=True,
            )
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("customers"), schema=s) as batch_op:
        batch_op.drop_column("approval_above")
    with op.batch_alter_table(p("quote_messages"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_quote_messages_quote"))
        batch_op.drop_index(batch_op.f(p("ix_quote_messages_vendor_id")))
    op.drop_table(p("quote_messages"))
    with op.batch_alter_table(p("orders"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_orders_vendor_customer_status"))
        batch_op.drop_index(batch_op.f(p("ix_orders_vendor_id")))
    op.drop_table(p("orders"))
    with op.batch_alter_table(p("quotes"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_quotes_vendor_customer_status"))
        batch_op.drop_index(batch_op.f(p("ix_quotes_vendor_id")))
    op.drop_table(p("quotes"))
    with op.batch_alter_table(p("carts"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_carts_vendor_id")))
    op.drop_table(p("carts"))
    op.drop_table(p("number_counters"))
