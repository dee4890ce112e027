"""Stored contacts, orders and events (SQLAlchemy Core), for segments over the whole base.

Amounts are stored in minor units (integer cents) so that sums are exact on every database;
date-times are stored as UTC without zone and come back aware. SQLite gets a few functions
(time zone conversion, calendar shifts) registered from `runtime.py`, so that it computes
exactly what the Python backend computes; PostgreSQL uses its own equivalents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
)

UTC = dt.UTC


class UTCDateTime(TypeDecorator):  # type: ignore[type-arg]
    """Aware in Python, naive UTC in the database (same text order on SQLite, same on PG)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

contacts = Table(
    "contacts", metadata,
    Column("id", String, primary_key=True),
    Column("email", String), Column("phone", String),
    Column("first_name", String), Column("last_name", String),
    Column("country", String), Column("language", String),
    Column("birthdate", Date),
    Column("created_at", UTCDateTime, nullable=False),
    Column("consent_email", Boolean, nullable=False, default=False),
    Column("consent_sms", Boolean, nullable=False, default=False),
    Column("consent_push", Boolean, nullable=False, default=False),
    Column("tags", JSON, nullable=False, default=list),
    Column("tier", String),
    Column("points", Numeric(18, 4), nullable=False, default=0),
    Column("attributes", JSON, nullable=False, default=dict),
)

orders = Table(
    "orders", metadata,
    Column("id", String, primary_key=True),
    Column("contact_id", String, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("shipping_minor", BigInteger, nullable=False, default=0),
    Column("channel", String), Column("country", String),
    Column("codes", JSON, nullable=False, default=list),
)
Index("ix_orders_contact_time", orders.c.contact_id, orders.c.created_at)

order_items = Table(
    "order_items", metadata,
    Column("order_id", String, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("sku", String, nullable=False),
    Column("product", String), Column("category", String),
    Column("tags", JSON, nullable=False, default=list),
    Column("quantity", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", String, primary_key=True),
    Column("contact_id", String, index=True),
    Column("type", String, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("channel", String), Column("campaign", String),
)
Index("ix_events_contact_type_at", events.c.contact_id, events.c.type, events.c.at)

segment_members = Table(
    "segment_members", metadata,
    Column("segment", String, primary_key=True),
    Column("contact_id", String, primary_key=True),
    Column("entered_at", UTCDateTime, nullable=False),
)

segment_events = Table(
    "segment_events", metadata,
    Column("id", String, primary_key=True),
    Column("contact_id", String, nullable=False, index=True),
    Column("type", String, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("segment", String, nullable=False),
)
"""`segment_entered` / `segment_exited`: what the engine saw, kept apart from what contacts did
(`events`), so that a refresh never changes the segments that read the contacts' events."""

segment_scratch = Table(
    "segment_scratch", metadata,
    Column("segment", String, primary_key=True),
    Column("contact_id", String, primary_key=True),
)
"""The members found by a refresh, before they are compared with the stored ones (set-wise)."""

segment_refreshes = Table(
    "segment_refreshes", metadata,
    Column("segment", String, primary_key=True),
    Column("at", UTCDateTime, primary_key=True),
    Column("members", Integer, nullable=False),
    Column("entered", Integer, nullable=False),
    Column("exited", Integer, nullable=False),
)


rfm = Table(
    "rfm", metadata,
    Column("contact_id", String, primary_key=True),
    Column("recency_days", Integer, nullable=False),
    Column("frequency", Integer, nullable=False),
    Column("monetary_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("r", Integer, nullable=False), Column("f", Integer, nullable=False), Column("m", Integer, nullable=False),
    Column("score", String(3), nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
)


# ---- checkout ledger: codes, redemptions, promotion states ----

promotion_states = Table(
    "promotion_states", metadata,
    Column("promotion", String, primary_key=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("changed_at", UTCDateTime),
    Column("note", String),
    Column("version", Integer, nullable=False, default=0),
)
"""One row per promotion that was ever redeemed or switched: the one-click stop (`disabled`), and
the row a redemption locks (`SELECT ... FOR UPDATE` on PostgreSQL) so that limits are counted one
checkout at a time. `version` is no longer written (rows were once locked by bumping it); it stays,
as dropping a column is a migration for nothing."""

codes = Table(
    "codes", metadata,
    Column("code_key", String, primary_key=True),
    Column("code", String, nullable=False),
    Column("promotion", String, nullable=False, index=True),
    Column("contact_id", String),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("batch", String),
    Column("voided_at", UTCDateTime),
    Column("void_note", String),
)
"""Unique and imported codes. `code_key` is the normalised code (upper case, no spaces) so that
look-up ignores case; `contact_id` binds a code to one contact (a support code); `voided_at`
cancels one code (leaked, sent by mistake) while the rest of its pool keeps serving."""

redemptions = Table(
    "redemptions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_key", String, ForeignKey("redemption_batches.key"), nullable=False, index=True),
    Column("order_id", String, nullable=False, index=True),
    Column("promotion", String, nullable=False),
    Column("code_key", String),
    Column("contact_id", String),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("state", String, nullable=False),
    Column("expires_at", UTCDateTime),
)
"""One row per promotion applied to an order. It counts towards the limits while `state` is
`redeemed`, or `reserved` before `expires_at`; `rolled_back` and `released` rows count for nothing,
so undoing a redemption restores every count and budget exactly."""
Index("ix_redemptions_promotion_at", redemptions.c.promotion, redemptions.c.at)
Index("ix_redemptions_promotion_contact", redemptions.c.promotion, redemptions.c.contact_id)
Index("ix_redemptions_code", redemptions.c.code_key)
Index("ix_redemptions_contact", redemptions.c.contact_id)

redemption_batches = Table(
    "redemption_batches", metadata,
    Column("key", String, primary_key=True),
    Column("order_id", String, nullable=False, index=True),
    Column("kind", String, nullable=False),
    Column("state", String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("result", JSON, nullable=False),
)
"""All the redemptions (or reservations) of one call, under its idempotency key: a repeated call
finds the batch and returns what the first one recorded."""
