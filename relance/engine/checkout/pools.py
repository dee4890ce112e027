"""Code pools in the store: issuing generated codes, importing a shop's own, looking one up, voiding one.

Issuing stages the candidates in a temporary table (executemany on SQLite, COPY on PostgreSQL),
inserts them with ON CONFLICT DO NOTHING and tops up the codes that collided with stored ones,
all in one transaction: it issues exactly `count` codes, or nothing. A code is stored under its
key (`normalize`), unique across all promotions, so a code names one promotion.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, String, bindparam, column, literal, select, table, text, true

from relance.engine.checkout.codes import (
    COLUMNS,
    MAX_ROUNDS,
    CodeError,
    Pattern,
    as_pattern,
    check_room,
    draw_fresh,
    normalize,
)
from relance.engine.checkout.usage import CodeRow
from relance.engine.store import tables as store
from relance.engine.store.connection import dialect_insert
from relance.engine.store.tables import UTCDateTime

UTC = dt.UTC


_STAGE = "relance_codes_stage"
_stage = table(_STAGE, column("code_key", String), column("code", String), column("contact_id", String),
               column("expires_at", UTCDateTime))
"""Candidates before they join `codes` (a temporary table: each connection has its own)."""

StageRow = tuple[str, str, str | None, dt.datetime | None]


def _aware(value: dt.datetime, name: str) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (the store keeps UTC), got {value!r}")


def _open_stage(conn: Connection) -> None:
    """An empty staging table (PostgreSQL drops it at commit; SQLite keeps it for the connection)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (code_key text NOT NULL, code text NOT NULL, "
                             "contact_id text, expires_at timestamp) ON COMMIT DROP")
        conn.exec_driver_sql(f"TRUNCATE {_STAGE}")
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (code_key VARCHAR NOT NULL, "
                             "code VARCHAR NOT NULL, contact_id VARCHAR, expires_at DATETIME)")
        conn.exec_driver_sql(f"DELETE FROM temp.{_STAGE}")
    else:
        raise ValueError(f"codes cannot be issued on {conn.dialect.name}: use SQLite or PostgreSQL")


def _close_stage(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DELETE FROM temp.{_STAGE}")


def _stage_pairs(conn: Connection, pairs: Iterable[tuple[str, str]], copy_safe: bool) -> None:
    """Bulk-load generated candidates (key, code), bypassing SQLAlchemy's per-row work so that a
    million rows take a second or two: executemany on SQLite, COPY on PostgreSQL (as text when
    no code has a character COPY would escape)."""
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO temp.{_STAGE} (code_key, code) VALUES (?, ?)", pairs)
        finally:
            cursor.close()
        return
    with driver.cursor() as cursor, cursor.copy(f"COPY {_STAGE} (code_key, code) FROM STDIN") as copy:
        if not copy_safe:
            for pair in pairs:
                copy.write_row(pair)
            return
        rest = iter(pairs)
        while chunk := list(itertools.islice(rest, 50_000)):
            copy.write("".join(f"{k}\t{c}\n" for k, c in chunk))


def _stage_rows(conn: Connection, rows: Sequence[StageRow]) -> None:
    """Bulk-load imported rows, datetimes as the store keeps them (what UTCDateTime binds)."""
    driver: Any = conn.connection.driver_connection
    to_db = UTCDateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert to_db is not None
    converted = ((k, c, who, None if until is None else to_db(until)) for k, c, who, until in rows)
    if conn.dialect.name == "sqlite":
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO temp.{_STAGE} (code_key, code, contact_id, expires_at) "
                               "VALUES (?, ?, ?, ?)", converted)
        finally:
            cursor.close()
        return
    with driver.cursor() as cursor, cursor.copy(
            f"COPY {_STAGE} (code_key, code, contact_id, expires_at) FROM STDIN") as copy:
        for row in converted:
            copy.write_row(row)


def _copy_safe(text: str) -> bool:
    """Whether `text` goes into COPY's text format as it is (no backslash, no control character)."""
    return "\\" not in text and not any(unicodedata.category(ch) == "Cc" for ch in text)


def _insert_staged(conn: Connection, promotion: str, now: dt.datetime, batch: str | None,
                   contact_id: str | None = None, expires_at: dt.datetime | None = None,
                   per_row: bool = False, skip_stored: bool = True) -> set[str]:
    """Move the staged codes into `codes`; the keys actually inserted (a key stored meanwhile, for
    any promotion, is skipped when `skip_stored`)."""
    c = store.codes.c
    who: Any = _stage.c.contact_id if per_row else literal(contact_id, String)
    until: Any = _stage.c.expires_at if per_row else literal(expires_at, UTCDateTime)
    rows = select(_stage.c.code_key, _stage.c.code, literal(promotion, String), who, literal(now, UTCDateTime),
                  until, literal(batch, String)).where(true())  # WHERE: SQLite reads ON CONFLICT after it
    # in key order: the primary key index is then filled page after page, not at random (2-3x faster)
    key = _stage.c.code_key.collate("C") if conn.dialect.name == "postgresql" else _stage.c.code_key
    rows = rows.order_by(key)
    stmt = dialect_insert(conn, store.codes).from_select(
        [c.code_key, c.code, c.promotion, c.contact_id, c.issued_at, c.expires_at, c.batch], rows)
    if skip_stored:
        stmt = stmt.on_conflict_do_nothing(index_elements=[c.code_key])
    return set(conn.execute(stmt.returning(c.code_key)).scalars())


def issue_codes(engine: Engine, promotion: str, pattern: Pattern | str, count: int, now: dt.datetime, *,
                expires_at: dt.datetime | None = None, contact_id: str | None = None, batch: str | None = None,
                rng: random.Random | None = None) -> list[str]:
    """Generate and store `count` new codes of `promotion`; the codes issued, in draw order.

    All or nothing, in one transaction. Codes are unique across promotions, so candidates that
    collide with a stored code (of any promotion) are replaced by fresh ones until `count` are
    stored; ValueError when the pattern has no room for them."""
    _aware(now, "now")
    if expires_at is not None:
        _aware(expires_at, "expires_at")
        if expires_at <= now:
            raise ValueError(f"the codes would expire ({expires_at.isoformat()}) before they are issued "
                             f"({now.isoformat()})")
    if not promotion:
        raise ValueError("codes need a promotion")
    pattern = as_pattern(pattern)
    rng = rng or secrets.SystemRandom()
    check_room(pattern, count, 0)
    if count == 0:
        return []
    copy_safe = pattern.simple and _copy_safe(pattern.text)
    tried: set[str] = set()
    issued: list[str] = []
    # the promotion's codes already issued (of this pattern, as a pool has one) take room too; read
    # before the transaction, whose first statement must be a write (a SQLite transaction that
    # reads first cannot write once another connection has written meanwhile). Two issuers at once
    # may both pass this check: harmless, the draws below are bounded and refuse a crowded pattern.
    with engine.connect() as conn:
        check_room(pattern, count, conn.execute(_ISSUED, {"promotion": promotion}).scalar_one())
    with engine.begin() as conn:
        for _ in range(MAX_ROUNDS):
            missing = count - len(issued)
            try:
                fresh = draw_fresh(pattern, missing, rng, tried, len(tried))
            except ValueError as error:
                raise ValueError(_crowded(pattern, count, missing, len(tried) - len(issued), len(tried))) from error
            tried.update(fresh)
            _open_stage(conn)
            _stage_pairs(conn, fresh.items(), copy_safe)
            inserted = _insert_staged(conn, promotion, now, batch, contact_id, expires_at)
            if len(inserted) == len(fresh):
                issued.extend(fresh.values())
            else:
                issued.extend(c for k, c in fresh.items() if k in inserted)
            if len(issued) == count:
                _close_stage(conn)
                return issued
        raise ValueError(_crowded(pattern, count, count - len(issued), len(tried) - len(issued), len(tried)))


def _crowded(pattern: Pattern, count: int, missing: int, stored: int, tried: int) -> str:
    return (f"the stored codes leave too little room in \"{pattern.text}\" ({pattern.space:,} codes): {stored:,} of "
            f"the {tried:,} codes drawn were already stored (for some promotion) and {missing:,} of the {count:,} "
            "codes are still missing; nothing was issued: use a longer pattern")


def import_codes(engine: Engine, promotion: str, rows: Iterable[Mapping[str, str | None]], now: dt.datetime, *,
                 batch: str | None = None, tz: dt.tzinfo = UTC, first_line: int = 2) -> int:
    """Store the codes of a file (columns `code`, optional `contact_id` and `expires_at`); how many.

    All or nothing: an empty or repeated code (in the file, or already stored for any promotion,
    compared normalised), an unknown column or a bad `expires_at` refuses the whole file with a
    CodeError naming the lines (`first_line` is the line of the first row: 2 after a header). An
    `expires_at` without offset is read in `tz`. Rows with no value at all (blank lines) are skipped."""
    _aware(now, "now")
    if not promotion:
        raise ValueError("codes need a promotion")
    problems: list[str] = []
    lines: dict[str, int] = {}
    staged: list[StageRow] = []
    unknown: set[str | None] = set()
    for line, row in enumerate(rows, start=first_line):
        if not any(v and v.strip() for v in row.values() if isinstance(v, str)) and None not in row:
            continue
        for name in row:
            if name not in COLUMNS and name not in unknown:
                unknown.add(name)
                problems.append(f"line {line}: more values than columns" if name is None else
                                f"line {line}: unknown column {name!r} (expected {', '.join(COLUMNS)})")
        code = (row.get("code") or "").strip()
        if not code:
            problems.append(f"line {line}: no code")
            continue
        if any(unicodedata.category(ch) == "Cc" for ch in code):
            problems.append(f"line {line}: the code {code!r} contains a control character")
            continue
        key = normalize(code)
        if key in lines:
            problems.append(f"line {line}: {code} repeats line {lines[key]} (codes ignore case and spaces)")
            continue
        lines[key] = line
        expires = _expiry(row.get("expires_at"), tz, now, line, problems)
        contact = (row.get("contact_id") or "").strip() or None
        staged.append((key, code, contact, expires))
    if problems:
        raise CodeError(problems)
    if not staged:
        return 0
    with engine.begin() as conn:
        _open_stage(conn)
        _stage_rows(conn, staged)
        existing = conn.execute(
            select(_stage.c.code_key, _stage.c.code, store.codes.c.promotion)
            .join_from(_stage, store.codes, store.codes.c.code_key == _stage.c.code_key)).all()
        if existing:
            stored = sorted((lines[key], code, other) for key, code, other in existing)
            raise CodeError([f"line {line}: {code} is already stored (promotion {other})"
                             for line, code, other in stored])
        inserted = _insert_staged(conn, promotion, now, batch, per_row=True, skip_stored=False)
        _close_stage(conn)
    return len(inserted)


def _expiry(text: str | None, tz: dt.tzinfo, now: dt.datetime, line: int, problems: list[str]) -> dt.datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"line {line}: expires_at {text!r} is not an ISO date-time (2026-12-31T23:59:59+01:00)")
        return None
    if _is_date(text):
        problems.append(f"line {line}: expires_at {text!r} has no time of day: write {text}T23:59:59 "
                        "to keep the code until the end of that day")
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    if value <= now:
        problems.append(f"line {line}: expires_at {text} is already past")
        return None
    return value


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


_ISSUED = text("SELECT count(*) FROM codes WHERE promotion = :promotion")
_FIND = text("SELECT code, code_key, promotion, contact_id, issued_at, expires_at, voided_at FROM codes "
             "WHERE code_key = :key"
             ).columns(column("code"), column("code_key"), column("promotion"), column("contact_id"),
                       column("issued_at", UTCDateTime), column("expires_at", UTCDateTime),
                       column("voided_at", UTCDateTime))
"""Written once: a typed code is looked up on every cart evaluation."""


def find_code(conn: Connection, code: str) -> CodeRow | None:
    """The stored code a customer typed (any case, any spaces), or None."""
    key = normalize(code)
    if not key:
        return None
    row = conn.execute(_FIND, {"key": key}).first()
    if row is None:
        return None
    return CodeRow(code=row.code, code_key=row.code_key, promotion=row.promotion, contact_id=row.contact_id,
                   issued_at=row.issued_at, expires_at=row.expires_at, voided_at=row.voided_at)


_VOID = text("UPDATE codes SET voided_at = :at, void_note = :note WHERE code_key = :key AND voided_at IS NULL"
             ).bindparams(bindparam("at", type_=UTCDateTime))
_RESTORE = text("UPDATE codes SET voided_at = NULL, void_note = NULL WHERE code_key = :key AND voided_at IS NOT NULL")


def void_code(conn: Connection, code: str, at: dt.datetime | None, note: str | None = None) -> bool | None:
    """Cancel one stored code from `at` (None: restore it). True if that changed it, False if it
    was so already (a second void keeps the first time and note), None if no such code."""
    key = normalize(code)
    if not key:
        return None
    if conn.execute(_VOID if at is not None else _RESTORE, {"key": key, "at": at, "note": note}).rowcount:
        return True
    return False if find_code(conn, key) is not None else None
