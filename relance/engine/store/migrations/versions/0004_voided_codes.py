"""one pool code can be voided while the rest of its pool serves

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:05:54.130012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relance.engine.store

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # two nullable columns: SQLite adds them in place (ALTER TABLE), a million codes are not copied
    with op.batch_alter_table("codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", relance.engine.store.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("void_note", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("codes", schema=None) as batch_op:
        batch_op.drop_column("void_note")
        batch_op.drop_column("voided_at")
