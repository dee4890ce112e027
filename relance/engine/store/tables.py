"""Stored contacts, orders and events (SQLAlchemy Core), for segments over the whole base.

Amounts are stored in minor units (integer cents) so that sums are exact on every database;
date-times are stored as UTC without zone and come back aware. SQLite gets a few functions
(time zone conversion, calendar shifts) registered from `runtime.py`, so that it computes
exactly what the Python backend computes; PostgreSQL uses its own equivalents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from relance.engine.data import values as R
from relance.engine.data.context import Context, zone
from relance.engine.data.models import Contact, Event, Order

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


# ---- SQLite functions: the exact Python semantics, for what SQLite cannot say itself ----


def _parse_stored(value: str | None) -> dt.datetime | dt.date | None:
    if value is None:
        return None
    if len(value) <= 10:
        return dt.date.fromisoformat(value)
    return dt.datetime.fromisoformat(value).replace(tzinfo=UTC)


def _sqlite_local_date(value: str | None, tz: str) -> str | None:
    parsed = _parse_stored(value)
    return None if parsed is None else R.local_date(parsed, zone(tz)).isoformat()


def _sqlite_shift(value: str | None, amount: int, unit: str, tz: str) -> str | None:
    parsed = _parse_stored(value)
    if parsed is None:
        return None
    moved = R.shift(parsed, amount, unit, zone(tz))
    return stored_text(moved)


def _sqlite_midnight(value: str | None, tz: str) -> str | None:
    parsed = _parse_stored(value)
    return None if parsed is None else stored_text(R.as_datetime(parsed, zone(tz)))


def stored_text(value: dt.date | dt.datetime) -> str:
    """How SQLAlchemy stores a value in SQLite (so that text order is time order)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value.isoformat()


def _sqlite_anniversary(value: str | None, today: str, tz: str) -> str | None:
    parsed = _parse_stored(value)
    if parsed is None:
        return None
    return R.anniversary(parsed, dt.date.fromisoformat(today), zone(tz)).isoformat()  # type: ignore[union-attr]


def _sqlite_lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _sqlite_upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


SQLITE_FUNCTIONS = {
    "relance_local_date": (2, _sqlite_local_date),
    "relance_shift": (4, _sqlite_shift),
    "relance_anniversary": (3, _sqlite_anniversary),
    "relance_midnight": (2, _sqlite_midnight),
    "relance_lower": (1, _sqlite_lower),
    "relance_upper": (1, _sqlite_upper),
}


def _register_sqlite(dbapi_connection: Any, _record: Any) -> None:
    for name, (arity, fn) in SQLITE_FUNCTIONS.items():
        dbapi_connection.create_function(name, arity, fn, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # see docs/architecture.md: one synced file per commit
    cursor.execute("PRAGMA synchronous=FULL")  # a committed redemption survives a power cut
    cursor.close()


def connect(url: str = "sqlite:///relance.db", **options: Any) -> Engine:
    """An engine for a store URL: SQLite gets relance's functions on every connection."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _register_sqlite)
    return engine


def dialect_insert(conn: Any, table: Table) -> Any:
    """An INSERT with ON CONFLICT clauses (SQLite and PostgreSQL spell them alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql_dialect.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite_dialect.insert(table)
    raise ValueError(f"upserts are not supported on {conn.dialect.name}")


def create_schema(engine: Engine) -> None:
    """Bring the store to the latest schema through the migrations (relance/engine/store/migrations/), never with
    `create_all`: a new store and an old one then have exactly the same tables."""
    from relance.engine.store import migrate  # imported here: migrate imports this module

    migrate.upgrade(engine)


# ---- writing data (tests, samples; the bulk importer streams through the same rows) ----


def contact_row(contact: Contact) -> dict[str, Any]:
    attributes = {k: _jsonable(v) for k, v in contact.attributes.items()}
    return {
        "id": contact.id, "email": contact.email, "phone": contact.phone, "first_name": contact.first_name,
        "last_name": contact.last_name, "country": contact.country, "language": contact.language,
        "birthdate": contact.birthdate, "created_at": contact.created_at,
        "consent_email": contact.consents.email, "consent_sms": contact.consents.sms,
        "consent_push": contact.consents.push, "tags": list(contact.tags), "tier": contact.tier,
        "points": contact.points, "attributes": attributes,
    }


def _jsonable(value: Any) -> Any:
    from relance.engine.data.money import Money

    if isinstance(value, Money):  # `7.50 EUR`, as written in data
        return str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return stored_text(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def order_rows(order: Order, contact_id: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = {
        "id": order.id, "contact_id": contact_id or order.contact_id, "created_at": order.created_at,
        "status": order.status, "currency": order.currency, "total_minor": order.total.minor_units(),
        "shipping_minor": order.shipping.minor_units() if order.shipping else 0,  # type: ignore[union-attr]
        "channel": order.channel, "country": order.country, "codes": list(order.codes),
    }
    items = [{"order_id": order.id, "line": i, "sku": item.sku, "product": item.product, "category": item.category,
              "tags": list(item.tags), "quantity": item.quantity, "currency": item.unit_price.currency,
              "unit_price_minor": item.unit_price.minor_units()} for i, item in enumerate(order.items)]
    return row, items


def event_row(event_: Event, contact_id: str | None) -> dict[str, Any]:
    return {"id": event_.id, "contact_id": contact_id or event_.contact_id, "type": event_.type, "at": event_.at,
            "channel": event_.channel, "campaign": event_.campaign}


def insert_contexts(engine: Engine, contexts: Sequence[Context]) -> None:
    """Store each context's contact with its orders and events (ids must be unique)."""
    contact_rows, order_list, item_list, event_list = [], [], [], []
    for ctx in contexts:
        assert ctx.contact is not None
        contact_rows.append(contact_row(ctx.contact))
        for order in ctx.orders:
            row, items = order_rows(order, ctx.contact.id)
            order_list.append(row)
            item_list.extend(items)
        event_list.extend(event_row(e, ctx.contact.id) for e in ctx.events)
    with engine.begin() as conn:
        for table, rows in ((contacts, contact_rows), (orders, order_list), (order_items, item_list),
                            (events, event_list)):
            if rows:
                conn.execute(insert(table), rows)


def zone_name(tz: dt.tzinfo) -> str:
    """The name SQL functions get for a zone (IANA key, or UTC)."""
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is UTC:
        return "UTC"
    offset = tz.utcoffset(None)
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def chunks(rows: Iterable[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---- reading one contact back (checkout: a customer the store knows) ----


def stored_history(conn: Any, contact_id: str) -> dict[str, Any] | None:
    """A stored contact with their orders, events and RFM scores, as the JSON-like data that
    `Context.from_mapping` validates (amounts as exact text, never floats), or None if the store
    has no such contact. Four indexed reads: one customer's rows."""
    row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().first()
    if row is None:
        return None
    contact = {key: row[key] for key in ("id", "email", "phone", "first_name", "last_name", "country", "language",
                                         "birthdate", "created_at", "tier") if row[key] is not None}
    contact.update(consents={"email": row["consent_email"], "sms": row["consent_sms"], "push": row["consent_push"]},
                   tags=list(row["tags"] or ()), points=str(row["points"]), attributes=_exact(row["attributes"] or {}))
    items: dict[str, list[dict[str, Any]]] = {}
    for item in conn.execute(select(order_items).join(orders, orders.c.id == order_items.c.order_id)
                             .where(orders.c.contact_id == contact_id).order_by(order_items.c.line)).mappings():
        items.setdefault(item["order_id"], []).append({
            "sku": item["sku"], "product": item["product"], "category": item["category"], "tags": list(item["tags"]),
            "quantity": item["quantity"], "unit_price": _amount(item["unit_price_minor"], item["currency"])})
    history = [{"id": o["id"], "contact_id": contact_id, "created_at": o["created_at"], "status": o["status"],
                "currency": o["currency"], "total": _amount(o["total_minor"], o["currency"]),
                "shipping": _amount(o["shipping_minor"], o["currency"]), "channel": o["channel"],
                "country": o["country"], "codes": list(o["codes"] or ()), "items": items.get(o["id"], [])}
               for o in conn.execute(select(orders).where(orders.c.contact_id == contact_id)).mappings()]
    happened = [dict(e) for e in conn.execute(select(events).where(events.c.contact_id == contact_id)).mappings()]
    scores = conn.execute(select(rfm).where(rfm.c.contact_id == contact_id)).mappings().first()
    data: dict[str, Any] = {"contact": contact, "orders": history, "events": happened}
    if scores is not None:
        data["rfm"] = {"recency_days": scores["recency_days"], "frequency": scores["frequency"],
                       "monetary": _amount(scores["monetary_minor"], scores["currency"]),
                       "r": scores["r"], "f": scores["f"], "m": scores["m"]}
    return data


def _amount(minor: int, currency: str) -> str:
    from relance.engine.data.money import Money

    return str(Money.from_minor(minor, currency))


def _exact(value: Any) -> Any:
    """Custom attributes as stored (JSON), with numbers as exact text: JSON keeps `12.5` as a
    float, which the attribute's declared type would refuse."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value
