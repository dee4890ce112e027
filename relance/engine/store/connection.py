"""Opening a store by URL: SQLAlchemy engines, the SQLite functions and pragmas, the schema brought to head.

SQLite gets a few functions (time zone conversion, calendar shifts, Unicode case) registered from
`engine/data/values.py`, so that it computes exactly what the Python backend computes; PostgreSQL
uses its own equivalents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from relance.engine.data import values as R
from relance.engine.data.context import zone

UTC = dt.UTC


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
