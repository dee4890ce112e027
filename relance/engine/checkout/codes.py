"""Promotion codes: patterns, unique generation, issuing into the store, imports and look-up.

A code is stored under its key (`normalize`: NFKC, no spaces, upper case), so a customer may type
it in any case and with spaces; keys are unique across all promotions, so a code names one
promotion. Patterns such as `WELC-####-????` draw from alphabets without look-alike characters
(no 0/O, no 1/I/L) by default, since codes are read from screens and paper and typed again.

Generation is fast enough for a million codes in pure Python: random bytes are drawn in bulk,
mapped onto each alphabet by `bytes.translate` (rejecting the few bytes that would bias it) and
laid out into the codes by strided slice assignment, so no Python code runs per character.
Issuing stages the candidates in a temporary table (executemany on SQLite, COPY on PostgreSQL),
inserts them with ON CONFLICT DO NOTHING and tops up the codes that collided with stored ones,
all in one transaction: it issues exactly `count` codes, or nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import math
import os
import random
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from sqlalchemy import Connection, Engine, String, bindparam, column, literal, select, table, text, true

from relance.engine.checkout.usage import CodeRow
from relance.engine.ruleset.promotion import normalize_code as normalize
from relance.engine.store import tables as store
from relance.engine.store.connection import dialect_insert
from relance.engine.store.tables import UTCDateTime

__all__ = [
    "CHARSETS", "FULL_DIGITS", "FULL_LETTERS", "UNAMBIGUOUS_DIGITS", "UNAMBIGUOUS_LETTERS",
    "CodeError", "CodeRow", "Pattern", "find_code", "generate", "import_codes", "issue_codes", "normalize",
    "read_csv", "void_code", "write_csv",
]

UTC = dt.UTC

UNAMBIGUOUS_DIGITS = "23456789"
"""`#` by default: no 0 (read as O) and no 1 (read as I or L)."""
UNAMBIGUOUS_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
"""`?` by default: the 26 capitals without I, L (read as 1) and O (read as 0): 23 letters."""
FULL_DIGITS = "0123456789"
FULL_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

Charset = Literal["unambiguous", "full"]
CHARSETS: dict[str, tuple[str, str]] = {
    "unambiguous": (UNAMBIGUOUS_DIGITS, UNAMBIGUOUS_LETTERS),
    "full": (FULL_DIGITS, FULL_LETTERS),
}
"""Digits and letters of each charset; `*` draws from both (31 characters unambiguous, 36 full)."""

SLOTS = "#?*"
"""Pattern characters drawn at random: `#` a digit, `?` a letter, `*` either; all others are literal."""

MAX_ROUNDS = 64
"""Top-up rounds of `issue_codes` before giving up. Each round redraws only the codes that
collided with stored ones, so a pattern that is mostly free needs one or two rounds; needing 64
means the stored codes crowd the pattern."""

MAX_ERRORS_SHOWN = 10
COLUMNS = ("code", "contact_id", "expires_at")
"""The columns of an imported CSV file (`code` required)."""


class CodeError(ValueError):
    """Imported codes were refused: `problems` names every bad line (the message the first 10)."""

    def __init__(self, problems: Sequence[str], summary: str = "nothing was imported") -> None:
        self.problems = tuple(problems)
        shown = "\n  ".join(self.problems[:MAX_ERRORS_SHOWN])
        more = len(self.problems) - MAX_ERRORS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{len(self.problems)} {noun}, {summary}:\n  {shown}{tail}")


# ---- patterns ----


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed code pattern: per character of `text`, the alphabet it is drawn from (None: literal)."""

    text: str
    charset: str
    alphabets: tuple[str | None, ...]

    @classmethod
    def parse(cls, text: str, charset: Charset | str = "unambiguous") -> Pattern:
        """Check a pattern once, so that generation never meets a pattern it cannot honour."""
        if charset not in CHARSETS:
            raise ValueError(f"unknown charset {charset!r}: use one of {', '.join(sorted(CHARSETS))}")
        digits, letters = CHARSETS[charset]
        by_slot = {"#": digits, "?": letters, "*": digits + letters}
        if not any(ch in SLOTS for ch in text):
            raise ValueError(f"the pattern {text!r} has no random part: every code would be the same; "
                             f"use # for a digit, ? for a letter, * for either, e.g. \"WELC-####-????\"")
        bad = [ch for ch in text if unicodedata.category(ch).startswith("C")]
        if bad:
            raise ValueError(f"the pattern {text!r} contains a control or invisible character ({bad[0]!r})")
        return cls(text, charset, tuple(by_slot.get(ch) for ch in text))

    @property
    def space(self) -> int:
        """How many distinct codes the pattern can make."""
        return math.prod(len(a) for a in self.alphabets if a is not None)

    @property
    def regex(self) -> re.Pattern[str]:
        """Matches the codes of the pattern as generated (and their keys, when `simple`)."""
        return re.compile("".join(re.escape(ch) if a is None else f"[{a}]" for ch, a in zip(self.text, self.alphabets, strict=True)))

    @property
    def simple(self) -> bool:
        """Whether every code is its own key (ASCII literals, no spaces, no lower case): no
        normalisation is needed then, which keeps a million codes fast."""
        literals = "".join(ch for ch, a in zip(self.text, self.alphabets, strict=True) if a is None)
        return literals.isascii() and normalize(literals) == literals

    def random(self, rng: random.Random | None = None) -> str:
        """One code (possibly one already issued: `generate` is what makes them distinct)."""
        rng = rng or secrets.SystemRandom()
        return "".join(ch if a is None else rng.choice(a) for ch, a in zip(self.text, self.alphabets, strict=True))

    def __str__(self) -> str:
        return self.text


def _as_pattern(pattern: Pattern | str) -> Pattern:
    return pattern if isinstance(pattern, Pattern) else Pattern.parse(pattern)


@functools.lru_cache(maxsize=16)
def _translation(alphabet: str) -> tuple[bytes, bytes]:
    """A byte-to-character table and the bytes to drop: bytes >= 256 - 256 % n would favour the
    first characters of the alphabet, so they are rejected rather than folded."""
    n = len(alphabet)
    limit = 256 - 256 % n
    table_ = bytes(ord(alphabet[b % n]) for b in range(256))
    return table_, bytes(range(limit, 256))


def _characters(alphabet: str, k: int, rng: random.Random) -> bytes:
    """`k` characters of `alphabet`, uniformly and independently drawn, as ASCII bytes."""
    table_, rejected = _translation(alphabet)
    keep = 256 - len(rejected)
    parts: list[bytes] = []
    have = 0
    while have < k:
        need = k - have
        drawn = rng.randbytes(need * 256 // keep + 64).translate(table_, rejected)
        parts.append(drawn)
        have += len(drawn)
    return b"".join(parts)[:k]


def _draw(pattern: Pattern, n: int, rng: random.Random) -> list[str]:
    """`n` random codes (duplicates possible), a column of random characters at a time."""
    if n <= 0:
        return []
    template = bytearray()
    slots: dict[str, list[int]] = {}
    for ch, alphabet in zip(pattern.text, pattern.alphabets, strict=True):
        if alphabet is None:
            template += ch.encode()
        else:
            slots.setdefault(alphabet, []).append(len(template))
            template += b"_"
    template += b"\n"  # control characters are refused in patterns: a safe separator
    stride = len(template)
    out = template * n
    for alphabet, positions in slots.items():
        stream = memoryview(_characters(alphabet, n * len(positions), rng))
        for j, position in enumerate(positions):
            out[position::stride] = stream[j * n:(j + 1) * n]
    codes_ = out.decode().split("\n")
    codes_.pop()
    return codes_


def _check_room(pattern: Pattern, count: int, used: int) -> None:
    """Refuse to draw more than half of what is left, so that drawing ends quickly (each draw is
    then new at least one time in two) instead of looping on a full pattern."""
    if count < 0:
        raise ValueError(f"cannot generate a negative number of codes ({count})")
    limit = max(pattern.space - used, 0) // 2
    if count > limit:
        raise ValueError(f"cannot generate {count:,} codes from \"{pattern.text}\": it makes {pattern.space:,} codes, "
                         f"{used:,} of them already taken, and at most half of the rest ({limit:,}) can be drawn "
                         "safely; use a longer pattern")


def _fresh(pattern: Pattern, count: int, rng: random.Random, taken: Collection[str], used: int) -> dict[str, str]:
    """`count` new codes, key to code in draw order, whose keys are not in `taken` (`used` of the
    pattern's space, for the check and the batch sizes)."""
    _check_room(pattern, count, used)
    found: dict[str, str] = {}
    while len(found) < count:
        missing = count - len(found)
        free = pattern.space - used - len(found)
        size = min(math.ceil(missing * pattern.space / free * 1.05) + 16, 4 * missing + 1024)
        drawn = _draw(pattern, size, rng)
        keys = drawn if pattern.simple else [normalize(c) for c in drawn]
        batch = dict(zip(keys, drawn, strict=True))
        if taken or found:
            batch = {k: c for k, c in batch.items() if k not in taken and k not in found}
        found.update(itertools.islice(batch.items(), missing))
    return found


def generate(pattern: Pattern | str, count: int, rng: random.Random | None = None,
             taken: Iterable[str] = frozenset()) -> list[str]:
    """`count` distinct codes of `pattern`, none equal to a code of `taken` once normalised.

    Cryptographic randomness by default (codes are worth money and must not be guessed from one
    another); pass `random.Random(seed)` for reproducible codes. Refuses (ValueError) when `count`
    exceeds half of the codes left by `taken`."""
    pattern = _as_pattern(pattern)
    keys = {normalize(t) for t in taken}
    if pattern.simple:
        regex = pattern.regex
        used = sum(1 for k in keys if regex.fullmatch(k))
    else:
        used = len(keys)  # cannot tell cheaply which keys the pattern makes: count them all (safe side)
    return list(_fresh(pattern, count, rng or secrets.SystemRandom(), keys, used).values())


# ---- the store ----


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
    pattern = _as_pattern(pattern)
    rng = rng or secrets.SystemRandom()
    _check_room(pattern, count, 0)
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
        _check_room(pattern, count, conn.execute(_ISSUED, {"promotion": promotion}).scalar_one())
    with engine.begin() as conn:
        for _ in range(MAX_ROUNDS):
            missing = count - len(issued)
            try:
                fresh = _fresh(pattern, missing, rng, tried, len(tried))
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


# ---- files ----


def write_csv(codes: Iterable[str], path_or_file: str | os.PathLike[str] | TextIO) -> int:
    """Write codes as a CSV file with a `code` header (what `import_codes` and mailing tools read);
    how many were written."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "w", encoding="utf-8", newline="") as handle:
            return write_csv(codes, handle)
    writer = csv.writer(path_or_file, lineterminator="\n")
    writer.writerow(["code"])
    written = 0
    for chunk in _chunks(codes, 10_000):
        writer.writerows([c] for c in chunk)
        written += len(chunk)
    return written


def _chunks(values: Iterable[str], size: int) -> Iterator[tuple[str, ...]]:
    it = iter(values)
    while chunk := tuple(itertools.islice(it, size)):
        yield chunk


def read_csv(path_or_file: str | os.PathLike[str] | TextIO) -> Iterator[dict[str, str | None]]:
    """The rows of a CSV file of codes for `import_codes`, one per line after the header so that
    line numbers stay right (a blank line is an empty row); headers are trimmed and lower-cased,
    and a spreadsheet's byte order mark is dropped."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, encoding="utf-8-sig", newline="") as handle:
            yield from read_csv(handle)
        return
    reader = csv.reader(path_or_file)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:  # named on the header's line, not on the first row's
        raise CodeError([f"line 1: unknown column {n!r} (expected {', '.join(COLUMNS)})" for n in unknown])
    for record in reader:
        row: dict[str, str | None] = dict(itertools.zip_longest(names, record[:len(names)]))
        if len(record) > len(names):
            row[None] = ",".join(record[len(names):])  # type: ignore[index]
        yield row
