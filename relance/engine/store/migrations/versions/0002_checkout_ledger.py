"""checkout ledger: promotion states, codes, redemptions and their batches

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:28:43.002712
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relance.engine.store

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotion_states",
        sa.Column("promotion", sa.String(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", relance.engine.store.UTCDateTime(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("promotion"),
    )

    op.create_table(
        "codes",
        sa.Column("code_key", sa.String(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("promotion", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=True),
        sa.Column("issued_at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("expires_at", relance.engine.store.UTCDateTime(), nullable=True),
        sa.Column("batch", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("code_key"),
    )
    op.create_index(op.f("ix_codes_promotion"), "codes", ["promotion"], unique=False)

    op.create_table(
        "redemption_batches",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("created_at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_redemption_batches_order_id"), "redemption_batches", ["order_id"], unique=False)

    op.create_table(
        "redemptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_key", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("promotion", sa.String(), nullable=False),
        sa.Column("code_key", sa.String(), nullable=True),
        sa.Column("contact_id", sa.String(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("at", relance.engine.store.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("expires_at", relance.engine.store.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["batch_key"], ["redemption_batches.key"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_redemptions_batch_key"), "redemptions", ["batch_key"], unique=False)
    op.create_index(op.f("ix_redemptions_order_id"), "redemptions", ["order_id"], unique=False)
    op.create_index("ix_redemptions_promotion_at", "redemptions", ["promotion", "at"], unique=False)
    op.create_index("ix_redemptions_promotion_contact", "redemptions", ["promotion", "contact_id"], unique=False)
    op.create_index("ix_redemptions_code", "redemptions", ["code_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_redemptions_code", table_name="redemptions")
    op.drop_index("ix_redemptions_promotion_contact", table_name="redemptions")
    op.drop_index("ix_redemptions_promotion_at", table_name="redemptions")
    op.drop_index(op.f("ix_redemptions_order_id"), table_name="redemptions")
    op.drop_index(op.f("ix_redemptions_batch_key"), table_name="redemptions")
    op.drop_table("redemptions")
    op.drop_index(op.f("ix_redemption_batches_order_id"), table_name="redemption_batches")
    op.drop_table("redemption_batches")
    op.drop_index(op.f("ix_codes_promotion"), table_name="codes")
    op.drop_table("codes")
    op.drop_table("promotion_states")
