"""`relance import`: contacts, orders, items and events from CSV or JSON Lines into the store.

Streaming (one batch in memory), upsert by id (importing twice changes nothing), every bad row
reported with its file, line and reason, none silently dropped; `strict` refuses the whole
import at the first bad row (one transaction).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Table, delete, insert

from relance.engine.data import types as T
from relance.engine.data.context import coerce_attribute, explain_validation
from relance.engine.data.models import UTC, Contact, Event, Order
from relance.engine.store.connection import dialect_insert
from relance.engine.store.migrate import create_schema
from relance.engine.store.records import contact_row, event_row, order_rows
from relance.engine.store.tables import contacts, events, order_items, orders

BATCH = 5000
TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass(frozen=True, slots=True)
class BadRow:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    rows: dict[str, int] = field(default_factory=dict)
    bad: list[BadRow] = field(default_factory=list)
    ignored: dict[str, set[str]] = field(default_factory=dict)
    """Columns present in a file that the data model does not have, per file (said once)."""


class ImportRefused(Exception):
    """`strict` import stopped at a bad row; nothing was written."""

    def __init__(self, bad: BadRow):
        super().__init__(str(bad))
        self.bad = bad


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) from a CSV file (with a header) or a JSON Lines file."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    yield number, {"__error__": f"invalid JSON: {error.msg} (column {error.colno})"}
                    continue
                yield number, value if isinstance(value, dict) else {"__error__": "each line must be a JSON object"}
        return
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if None in row:
                yield reader.line_num, {"__error__": "more values than columns in the header"}
                continue
            yield reader.line_num, {k.strip(): v for k, v in row.items() if k is not None}


def _blank_to_none(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, str) and v.strip() == "" else v) for k, v in row.items()}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _contact(row: dict[str, Any], custom: dict[str, T.Type], tz: dt.tzinfo) -> Contact:
    data = _blank_to_none(row)
    if "contact_id" in data and "id" not in data:
        data["id"] = data.pop("contact_id")
    consents = dict(data.pop("consents", None) or {})
    for channel in ("email", "sms", "push"):
        key = f"consent_{channel}"
        if key in data:
            consents[channel] = _boolean(data.pop(key))
    data["consents"] = consents
    if isinstance(data.get("tags"), str):
        data["tags"] = [t for t in data["tags"].split("|") if t]
    elif data.get("tags") is None:
        data.pop("tags", None)
    for name, typ in custom.items():
        if name in data:
            data[name] = coerce_attribute(_from_text(data[name], typ), typ, tz)
    return Contact.model_validate(data, context={"tz": tz})


def _from_text(value: Any, typ: T.Type) -> Any:
    """A CSV cell (text) as the attribute's kind: `true`/`false` for a bool, `a|b` for a list,
    as the consents and tags columns are written."""
    if not isinstance(value, str):
        return value
    if typ.kind == "bool":
        return _boolean(value)
    if typ.kind == "list":
        return [v for v in value.split("|") if v]
    return value


def _order(row: dict[str, Any], tz: dt.tzinfo) -> Order:
    data = _blank_to_none(row)
    if "order_id" in data and "id" not in data:
        data["id"] = data.pop("order_id")
    if isinstance(data.get("codes"), str):
        data["codes"] = [c for c in data["codes"].split("|") if c]
    elif data.get("codes") is None:
        data.pop("codes", None)
    return Order.model_validate(data, context={"tz": tz})


def _event(row: dict[str, Any], tz: dt.tzinfo) -> Event:
    data = _blank_to_none(row)
    if not data.get("id"):  # a stable id, so that importing the same file twice changes nothing
        digest = hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:20]
        data["id"] = f"e{digest}"
    return Event.model_validate(data, context={"tz": tz})


def upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert or replace by primary key, in one statement per batch."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    stmt = dialect_insert(conn, table)
    update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), rows)


Progress = Callable[[str, int], None]


class Importer:
    def __init__(self, engine: Engine, tz: dt.tzinfo = UTC, custom: dict[str, T.Type] | None = None,
                 strict: bool = False, progress: Progress | None = None):
        self.engine = engine
        self.tz = tz
        self.custom = custom or {}
        self.strict = strict
        self.progress = progress
        self.report = ImportReport()

    def bad(self, path: Path, line: int, reason: str) -> None:
        problem = BadRow(str(path), line, reason)
        if self.strict:
            raise ImportRefused(problem)
        self.report.bad.append(problem)

    def _known(self, kind: str) -> set[str]:
        if kind == "contact":
            return {*Contact.model_fields, "contact_id", "consent_email", "consent_sms", "consent_push", *self.custom}
        if kind == "order":
            return {*Order.model_fields, "order_id"}
        return set(Event.model_fields)

    def _rows(self, path: Path, kind: str, convert: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
        seen = 0
        known = self._known(kind)
        for line, row in read_rows(path):
            if "__error__" in row:
                self.bad(path, line, row["__error__"])
                continue
            unknown = set(row) - known
            if unknown:
                self.report.ignored.setdefault(str(path), set()).update(unknown)
                row = {k: v for k, v in row.items() if k in known}
            try:
                item = convert(row)
            except ValidationError as error:
                self.bad(path, line, explain_validation(error, kind))
                continue
            except (ValueError, TypeError, ArithmeticError) as error:
                self.bad(path, line, f"{kind}: {error}")
                continue
            seen += 1
            if self.progress and seen % 1000 == 0:
                self.progress(kind, 1000)
            yield item
        self.report.rows[kind] = self.report.rows.get(kind, 0) + seen

    def run(self, contacts_file: Path | None = None, orders_file: Path | None = None,
            events_file: Path | None = None) -> ImportReport:
        """Import the given files in one transaction."""
        create_schema(self.engine)
        with self.engine.begin() as conn:
            if contacts_file is not None:
                self._batches(conn, contacts, self._rows(contacts_file, "contact",
                                                         lambda r: _contact(r, self.custom, self.tz)), contact_row)
            if orders_file is not None:
                self._orders(conn, self._rows(orders_file, "order", lambda r: _order(r, self.tz)))
            if events_file is not None:
                self._batches(conn, events, self._rows(events_file, "event", lambda r: _event(r, self.tz)),
                              lambda e: event_row(e, None))
        return self.report

    def _batches(self, conn: Connection, table: Table, items: Iterator[Any], to_row: Callable[[Any], Any]) -> None:
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append(to_row(item))
            if len(batch) >= BATCH:
                upsert(conn, table, _unique(batch))
                batch = []
        upsert(conn, table, _unique(batch))

    def _orders(self, conn: Connection, items: Iterator[Order]) -> None:
        batch: list[Order] = []

        def flush() -> None:
            rows, lines = [], []
            for order in batch:
                row, order_lines = order_rows(order, None)
                rows.append(row)
                lines.extend(order_lines)
            rows = _unique(rows)
            upsert(conn, orders, rows)
            ids = [r["id"] for r in rows]
            conn.execute(delete(order_items).where(order_items.c.order_id.in_(ids)))
            if lines:
                conn.execute(insert(order_items), _unique(lines, ("order_id", "line")))

        for order in items:
            batch.append(order)
            if len(batch) >= BATCH:
                flush()
                batch = []
        if batch:
            flush()


def _unique(rows: list[dict[str, Any]], keys: tuple[str, ...] = ("id",)) -> list[dict[str, Any]]:
    """The last row for each key wins, as if the rows had been upserted one by one."""
    by_key = {tuple(r[k] for k in keys): r for r in rows}
    return list(by_key.values())
