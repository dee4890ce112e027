"""Usage counts read from the redemption rows (never from counters that could drift): a row counts
while it is `redeemed`, or `reserved` and not expired. Prebuilt text SQL, run at the driver level on
the hot path, where building the query each time cost more than running it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, text

from relance.engine.checkout.usage import Usage
from relance.engine.store import tables as S

UTC = dt.UTC


def period_starts(now: dt.datetime, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """The start of today, of this week (Monday) and of this month, in the rule set's zone, as UTC."""
    today = now.astimezone(tz).date()

    def start(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(UTC)

    return start(today), start(today - dt.timedelta(days=today.weekday())), start(today.replace(day=1))


_COUNTING = "(state = 'redeemed' OR (state = 'reserved' AND expires_at > :now)) AND batch_key <> :exclude"
_IN_PERIODS = """coalesce(sum(CASE WHEN at >= :day THEN 1 ELSE 0 END), 0),
       coalesce(sum(CASE WHEN at >= :week THEN 1 ELSE 0 END), 0),
       coalesce(sum(CASE WHEN at >= :month THEN 1 ELSE 0 END), 0)"""
_USAGE = text(f"""
SELECT currency, count(*), coalesce(sum(amount_minor), 0), {_IN_PERIODS}
FROM redemptions WHERE promotion = :promotion AND {_COUNTING} GROUP BY currency""").bindparams(
    *(bindparam(name, type_=S.UTCDateTime) for name in ("now", "day", "week", "month")))
_USAGES = text(f"""
SELECT promotion, currency, count(*), coalesce(sum(amount_minor), 0), {_IN_PERIODS}
FROM redemptions WHERE promotion IN :promotions AND {_COUNTING} GROUP BY promotion, currency""").bindparams(
    bindparam("promotions", expanding=True), *(bindparam(name, type_=S.UTCDateTime) for name in ("now", "day", "week", "month")))
"""The same counts for several promotions at once (redemption counts all of an order's in one read)."""
_CONTACT_USAGE = text(f"""
SELECT promotion, count(*), {_IN_PERIODS}
FROM redemptions WHERE contact_id = :contact AND {_COUNTING} GROUP BY promotion""").bindparams(
    *(bindparam(name, type_=S.UTCDateTime) for name in ("now", "day", "week", "month")))
_CODE_USAGE = text(f"SELECT count(*) FROM redemptions WHERE code_key = :code AND {_COUNTING}").bindparams(
    bindparam("now", type_=S.UTCDateTime))
"""Written once as text: evaluation reads usage on the hot path, where building the query with
the expression language each time cost more than running it."""


class _DriverRead:
    """A count of the hot path, compiled once per dialect and run at the driver level, its instants
    converted as the column type converts them. Executing a `text()` statement through
    SQLAlchemy cost several times the query itself (about 100 µs against 30 on SQLite); these
    reads return only numbers and currency codes, so nothing needs converting on the way back."""

    def __init__(self, statement: Any):
        self.statement = statement
        self.compiled: dict[str, tuple[str, Sequence[str] | None, Callable[[Any], Any] | None]] = {}

    def rows(self, conn: Any, params: dict[str, Any]) -> list[Any]:
        found = self.compiled.get(conn.dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            found = self.compiled[conn.dialect.name] = (compiled.string, compiled.positiontup,
                                                         S.UTCDateTime().bind_processor(conn.dialect))
        sql, order, instant = found
        values = {k: instant(v) if instant is not None and isinstance(v, dt.datetime) else v
                  for k, v in params.items()}
        return conn.exec_driver_sql(sql, tuple(values[k] for k in order) if order else values).fetchall()


_USAGE_READ, _CONTACT_READ, _CODE_READ = _DriverRead(_USAGE), _DriverRead(_CONTACT_USAGE), _DriverRead(_CODE_USAGE)


def usage_of(conn: Any, names: Mapping[str, str | None], contact_id: str | None, code_keys: Sequence[str], now: dt.datetime,
           tz: dt.tzinfo, exclude_batch: str | None) -> dict[str, Usage]:
    """Counts of the redemptions that count now, per promotion (`names` maps each to its budget's
    currency: a budget adds up amounts in that currency only)."""
    exclude = exclude_batch or ""
    codes = {key: code_usage(conn, key, now, exclude) for key in code_keys}
    contact = contact_counts(conn, contact_id, now, tz, exclude) if contact_id is not None else {}
    day, week, month = period_starts(now, tz)
    rows: dict[str, list[Any]] = {name: [] for name in names}
    for promotion, *row in conn.execute(_USAGES, {"promotions": list(names), "now": now, "exclude": exclude,
                                                   "day": day, "week": week, "month": month}):
        rows[promotion].append(row)
    return {name: dataclasses.replace(_counted(rows[name], budget_currency), codes=codes,
                                      **own_counts(contact.get(name, NOTHING_OF_MINE)))
            for name, budget_currency in names.items()}


def shared_usage(conn: Any, name: str, budget_currency: str | None, now: dt.datetime, tz: dt.tzinfo,
                  exclude: str) -> Usage:
    """A promotion's counts that are the same for every customer: in all, today, this week, this
    month, and the budget spent (in its currency)."""
    day, week, month = period_starts(now, tz)
    return _counted(_USAGE_READ.rows(conn, {"promotion": name, "now": now, "exclude": exclude, "day": day,
                                            "week": week, "month": month}), budget_currency)


def _counted(rows: Iterable[Sequence[Any]], budget_currency: str | None) -> Usage:
    """A promotion's Usage from its rows by currency (currency, count, amount, today, this week,
    this month): the counts of every currency, the amount of its budget's only."""
    row = [0, 0, 0, 0, 0]
    for currency, total, spent, in_day, in_week, in_month in rows:
        for i, value in enumerate((total, in_day, in_week, in_month)):
            row[i] += int(value)
        if currency == budget_currency:
            row[4] += int(spent)
    return Usage(total=row[0], day=row[1], week=row[2], month=row[3], spent_minor=row[4])


def contact_counts(conn: Any, contact_id: str, now: dt.datetime, tz: dt.tzinfo,
                    exclude: str) -> dict[str, tuple[int, int, int, int]]:
    """How many times this customer has had each promotion: in all, today, this week, this month
    (a customer has few redemptions)."""
    day, week, month = period_starts(now, tz)
    return {promotion: (int(total), int(in_day), int(in_week), int(in_month))
            for promotion, total, in_day, in_week, in_month in _CONTACT_READ.rows(conn, {
                "contact": contact_id, "now": now, "exclude": exclude, "day": day, "week": week, "month": month})}


NOTHING_OF_MINE = (0, 0, 0, 0)


def own_counts(counts: tuple[int, int, int, int]) -> dict[str, int]:
    """A customer's own counts as the fields of their Usage."""
    return dict(zip(("contact", "contact_day", "contact_week", "contact_month"), counts, strict=True))


def code_usage(conn: Any, key: str, now: dt.datetime, exclude: str) -> int:
    return int(_CODE_READ.rows(conn, {"code": key, "now": now, "exclude": exclude})[0][0] or 0)
