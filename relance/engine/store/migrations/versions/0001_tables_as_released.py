"""tables as released: contacts, orders, events, segments, RFM

The schema `metadata.create_all` made before migrations existed, so that such stores are stamped
with this revision (see `PRE_MIGRATION_REVISIONS` in relance/engine/migrate.py) and upgraded.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:28:43.002712
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relance.engine.store

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("first_name", sa.String(), nullable=True),
        sa.Column("last_name", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("language", sa.String(), nullable=True),
        sa.Column("birthdate", sa.Date(), nullable=True),
        sa.Column("created_at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("consent_email", sa.Boolean(), nullable=False),
        sa.Column("consent_sms", sa.Boolean(), nullable=False),
        sa.Column("consent_push", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("tier", sa.String(), nullable=True),
        sa.Column("points", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=True),
        sa.Column("created_at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("shipping_minor", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_orders_contact_id"), "orders", ["contact_id"], unique=False)
    op.create_index("ix_orders_contact_time", "orders", ["contact_id", "created_at"], unique=False)

    op.create_table(
        "order_items",
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("product", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("order_id", "line"),
    )

    op.create_table(
        "events",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=True),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("campaign", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_events_contact_id"), "events", ["contact_id"], unique=False)
    op.create_index("ix_events_contact_type_at", "events", ["contact_id", "type", "at"], unique=False)

    op.create_table(
        "segment_members",
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("entered_at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("segment", "contact_id"),
    )

    op.create_table(
        "segment_events",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("segment", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_segment_events_contact_id"), "segment_events", ["contact_id"], unique=False)

    op.create_table(
        "segment_scratch",
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("segment", "contact_id"),
    )

    op.create_table(
        "segment_refreshes",
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("entered", sa.Integer(), nullable=False),
        sa.Column("exited", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("segment", "at"),
    )

    op.create_table(
        "rfm",
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("r", sa.Integer(), nullable=False),
        sa.Column("f", sa.Integer(), nullable=False),
        sa.Column("m", sa.Integer(), nullable=False),
        sa.Column("score", sa.String(length=3), nullable=False),
        sa.Column("computed_at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id"),
    )


def downgrade() -> None:
    op.drop_table("rfm")
    op.drop_table("segment_refreshes")
    op.drop_table("segment_scratch")
    op.drop_index(op.f("ix_segment_events_contact_id"), table_name="segment_events")
    op.drop_table("segment_events")
    op.drop_table("segment_members")
    op.drop_index("ix_events_contact_type_at", table_name="events")
    op.drop_index(op.f("ix_events_contact_id"), table_name="events")
    op.drop_table("events")
    op.drop_table("order_items")
    op.drop_index("ix_orders_contact_time", table_name="orders")
    op.drop_index(op.f("ix_orders_contact_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("contacts")
