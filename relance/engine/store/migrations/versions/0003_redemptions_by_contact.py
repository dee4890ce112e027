"""redemptions by contact: evaluation reads a customer's own counts in one indexed look-up

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 05:33:37.512355
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a store made by `create_all` before migrations has the tables of 0002 and may have this index
    # already (indexes are not part of how such a store is recognised): create it only if missing
    op.create_index("ix_redemptions_contact", "redemptions", ["contact_id"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_redemptions_contact", table_name="redemptions")
