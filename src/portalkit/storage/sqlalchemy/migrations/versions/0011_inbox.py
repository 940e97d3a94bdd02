"""the vendor inbox: staff directory, inbox items, comments, events, work requests, tickets

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:00:00

One vendor queue of orders, quote requests, registrations, work requests and tickets, with the
events the host's ERP reads (stored in the transaction that changes an item).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portalkit.storage.sqlalchemy.rows import UTCDateTime, migration_names, migration_schema

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = UTCDateTime(timezone=True)


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("staff_members"),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_staff_members_vendor_id_vendors"))
        ),
        sa.UniqueConstraint(*["vendor_id", "user_id"], name=op.f(p("uq_staff_members_user"))),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_staff_members"))),
    )
    with op.batch_alter_table(p("staff_members"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_staff_members_vendor_id")), ["vendor_id"], unique=False
        )
    op.create_table(
        p("inbox_settings"),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_inbox_settings_vendor_id_vendors"))
        ),
        sa.UniqueConstraint(*["vendor_id"], name=op.f(p("uq_inbox_settings_vendor"))),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_inbox_settings"))),
    )
    with op.batch_alter_table(p("inbox_settings"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_inbox_settings_vendor_id")), ["vendor_id"], unique=False
        )
    op.create_table(
        p("inbox_items"),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("reference", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("membership_id", sa.Uuid(), nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_inbox_items_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_inbox_items_vendor_id_vendors"))
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            [p("customers.id")],
            name=op.f(p("fk_inbox_items_customer_id_customers")),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], [p("accounts.id")], name=op.f(p("fk_inbox_items_account_id_accounts"))
        ),
        sa.UniqueConstraint(
            *["reference", "kind", "vendor_id"], name=op.f(p("uq_inbox_items_reference"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_inbox_items"))),
    )
    with op.batch_alter_table(p("inbox_items"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_inbox_items_newest")), ["vendor_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f(p("ix_inbox_items_page")),
            ["vendor_id", "kind", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f(p("ix_inbox_items_vendor_id")), ["vendor_id"], unique=False
        )
    op.create_table(
        p("inbox_comments"),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("author", sa.String(length=250), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            [p("inbox_items.id")],
            name=op.f(p("fk_inbox_comments_item_id_inbox_items")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_inbox_comments_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_inbox_comments"))),
    )
    with op.batch_alter_table(p("inbox_comments"), schema=s) as batch_op:
        batch_op.create_index(batch_op.f(p("ix_inbox_comments_item_id")), ["item_id"], unique=False)
        batch_op.create_index(
            batch_op.f(p("ix_inbox_comments_vendor_id")), ["vendor_id"], unique=False
        )
    op.create_table(
        p("inbox_events"),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], [p("inbox_items.id")], name=op.f(p("fk_inbox_events_item_id_inbox_items"))
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_inbox_events_vendor_id_vendors"))
        ),
        sa.UniqueConstraint(*["item_id", "sequence"], name=op.f(p("uq_inbox_events_sequence"))),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_inbox_events"))),
    )
    with op.batch_alter_table(p("inbox_events"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_inbox_events_due")),
            ["delivered_at", "next_attempt_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f(p("ix_inbox_events_vendor_id")), ["vendor_id"], unique=False
        )
    op.create_table(
        p("work_requests"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("wished_at", UTC, nullable=True),
        sa.Column("scheduled_at", UTC, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_work_requests_vendor_id_vendors"))
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            [p("locations.id")],
            name=op.f(p("fk_work_requests_location_id_locations")),
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_work_requests_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], [p("inbox_items.id")], name=op.f(p("fk_work_requests_item_id_inbox_items"))
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], [p("accounts.id")], name=op.f(p("fk_work_requests_account_id_accounts"))
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            [p("customers.id")],
            name=op.f(p("fk_work_requests_customer_id_customers")),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_work_requests"))),
    )
    with op.batch_alter_table(p("work_requests"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_work_requests_customer")), ["vendor_id", "customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f(p("ix_work_requests_vendor_id")), ["vendor_id"], unique=False
        )
    op.create_table(
        p("tickets"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("followers", sa.JSON(), nullable=False),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], [p("inbox_items.id")], name=op.f(p("fk_tickets_item_id_inbox_items"))
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], [p("customers.id")], name=op.f(p("fk_tickets_customer_id_customers"))
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            [p("memberships.id")],
            name=op.f(p("fk_tickets_membership_id_memberships")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_tickets_vendor_id_vendors"))
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], [p("accounts.id")], name=op.f(p("fk_tickets_account_id_accounts"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_tickets"))),
    )
    with op.batch_alter_table(p("tickets"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_tickets_customer")), ["vendor_id", "customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f(p("ix_tickets_vendor_id")), ["vendor_id"], unique=False)


def downgrade() -> None:
    """Undo this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("staff_members"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_staff_members_vendor_id")))
    with op.batch_alter_table(p("inbox_settings"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_inbox_settings_vendor_id")))
    with op.batch_alter_table(p("inbox_items"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_inbox_items_newest")))
        batch_op.drop_index(batch_op.f(p("ix_inbox_items_page")))
        batch_op.drop_index(batch_op.f(p("ix_inbox_items_vendor_id")))
    with op.batch_alter_table(p("inbox_comments"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_inbox_comments_item_id")))
        batch_op.drop_index(batch_op.f(p("ix_inbox_comments_vendor_id")))
    with op.batch_alter_table(p("inbox_events"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_inbox_events_due")))
        batch_op.drop_index(batch_op.f(p("ix_inbox_events_vendor_id")))
    with op.batch_alter_table(p("work_requests"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_work_requests_customer")))
        batch_op.drop_index(batch_op.f(p("ix_work_requests_vendor_id")))
    with op.batch_alter_table(p("tickets"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_tickets_customer")))
        batch_op.drop_index(batch_op.f(p("ix_tickets_vendor_id")))
    op.drop_table(p("tickets"))
    op.drop_table(p("work_requests"))
    op.drop_table(p("inbox_events"))
    op.drop_table(p("inbox_comments"))
    op.drop_table(p("inbox_items"))
    op.drop_table(p("inbox_settings"))
    op.drop_table(p("staff_members"))
