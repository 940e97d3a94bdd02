"""the shop's catalogue and pricing: categories, items, customer groups, assortments, price
lists and their rules, device models and installed devices

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:00:00

Amounts are stored as exact decimal text (``DecimalText``), never as floats.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portalkit.storage.sqlalchemy.rows
from portalkit.storage.sqlalchemy.rows import migration_names, migration_schema

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    p = migration_names()
    s = migration_schema()
    op.create_table(
        p("category_tree"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            [p("category_tree.id")],
            name=op.f(p("fk_category_tree_parent_id_category_tree")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_category_tree_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_category_tree"))),
    )
    with op.batch_alter_table(p("category_tree"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_category_tree_vendor_id")), ["vendor_id"], unique=False
        )

    op.create_table(
        p("customer_groups"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("customer_ids", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_customer_groups_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_customer_groups"))),
        sa.UniqueConstraint("vendor_id", "name_key", name=p("uq_customer_groups_name")),
    )
    with op.batch_alter_table(p("customer_groups"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_customer_groups_vendor_id")), ["vendor_id"], unique=False
        )

    op.create_table(
        p("device_models"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("accessory_ids", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_device_models_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_device_models"))),
        sa.UniqueConstraint("vendor_id", "name_key", name=p("uq_device_models_name")),
    )
    with op.batch_alter_table(p("device_models"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_device_models_vendor_id")), ["vendor_id"], unique=False
        )

    op.create_table(
        p("price_lists"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("customer_ids", sa.JSON(), nullable=False),
        sa.Column("group_ids", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_price_lists_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_price_lists"))),
        sa.UniqueConstraint("vendor_id", "name_key", name=p("uq_price_lists_name")),
    )
    with op.batch_alter_table(p("price_lists"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_price_lists_vendor_id")), ["vendor_id"], unique=False
        )

    op.create_table(
        p("assortments"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("category_ids", sa.JSON(), nullable=False),
        sa.Column("item_ids", sa.JSON(), nullable=False),
        sa.Column("excluded_ids", sa.JSON(), nullable=False),
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
            name=op.f(p("fk_assortments_customer_id_customers")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_assortments_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_assortments"))),
        sa.UniqueConstraint("customer_id", name=p("uq_assortments_customer")),
    )
    with op.batch_alter_table(p("assortments"), schema=s) as batch_op:
        batch_op.create_index(
            batch_op.f(p("ix_assortments_vendor_id")), ["vendor_id"], unique=False
        )

    op.create_table(
        p("catalogue_items"),
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("sku_key", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("description_key", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("list_price", portalkit.storage.sqlalchemy.rows.DecimalText(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            [p("category_tree.id")],
            name=op.f(p("fk_catalogue_items_category")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_catalogue_items_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_catalogue_items"))),
        sa.UniqueConstraint("vendor_id", "sku_key", name=p("uq_catalogue_items_sku")),
    )
    with op.batch_alter_table(p("catalogue_items"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_catalogue_items_vendor_category"), ["vendor_id", "category_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f(p("ix_catalogue_items_vendor_id")), ["vendor_id"], unique=False
        )

    op.create_table(
        p("devices"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("model_id", sa.Uuid(), nullable=False),
        sa.Column("serial", sa.String(length=100), nullable=False),
        sa.Column("serial_key", sa.String(length=100), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], [p("customers.id")], name=op.f(p("fk_devices_customer_id_customers"))
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], [p("locations.id")], name=op.f(p("fk_devices_location_id_locations"))
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], [p("device_models.id")], name=op.f(p("fk_devices_model_id_device_models"))
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_devices_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_devices"))),
        sa.UniqueConstraint("model_id", "serial_key", name=p("uq_devices_serial")),
    )
    with op.batch_alter_table(p("devices"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_devices_vendor_customer"), ["vendor_id", "customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f(p("ix_devices_vendor_id")), ["vendor_id"], unique=False)

    op.create_table(
        p("price_rules"),
        sa.Column("price_list_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", portalkit.storage.sqlalchemy.rows.DecimalText(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=True),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column(
            "valid_from",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "valid_until",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            portalkit.storage.sqlalchemy.rows.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            [p("category_tree.id")],
            name=op.f(p("fk_price_rules_category_id_category_tree")),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            [p("catalogue_items.id")],
            name=op.f(p("fk_price_rules_item_id_catalogue_items")),
        ),
        sa.ForeignKeyConstraint(
            ["price_list_id"],
            [p("price_lists.id")],
            name=op.f(p("fk_price_rules_price_list_id_price_lists")),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], [p("vendors.id")], name=op.f(p("fk_price_rules_vendor_id_vendors"))
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(p("pk_price_rules"))),
    )
    with op.batch_alter_table(p("price_rules"), schema=s) as batch_op:
        batch_op.create_index(
            p("ix_price_rules_list_category"), ["price_list_id", "category_id"], unique=False
        )
        batch_op.create_index(
            p("ix_price_rules_list_item"), ["price_list_id", "item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f(p("ix_price_rules_vendor_id")), ["vendor_id"], unique=False
        )


def downgrade() -> None:
    """Revert this migration."""
    p = migration_names()
    s = migration_schema()
    with op.batch_alter_table(p("price_rules"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_price_rules_list_category"))
        batch_op.drop_index(p("ix_price_rules_list_item"))
        batch_op.drop_index(batch_op.f(p("ix_price_rules_vendor_id")))
    op.drop_table(p("price_rules"))
    with op.batch_alter_table(p("devices"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_devices_vendor_customer"))
        batch_op.drop_index(batch_op.f(p("ix_devices_vendor_id")))
    op.drop_table(p("devices"))
    with op.batch_alter_table(p("catalogue_items"), schema=s) as batch_op:
        batch_op.drop_index(p("ix_catalogue_items_vendor_category"))
        batch_op.drop_index(batch_op.f(p("ix_catalogue_items_vendor_id")))
    op.drop_table(p("catalogue_items"))
    with op.batch_alter_table(p("assortments"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_assortments_vendor_id")))
    op.drop_table(p("assortments"))
    with op.batch_alter_table(p("price_lists"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_price_lists_vendor_id")))
    op.drop_table(p("price_lists"))
    with op.batch_alter_table(p("device_models"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_device_models_vendor_id")))
    op.drop_table(p("device_models"))
    with op.batch_alter_table(p("customer_groups"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_customer_groups_vendor_id")))
    op.drop_table(p("customer_groups"))
    with op.batch_alter_table(p("category_tree"), schema=s) as batch_op:
        batch_op.drop_index(batch_op.f(p("ix_category_tree_vendor_id")))
    op.drop_table(p("category_tree"))
