"""RFM, exactly as defined, computed two ways with one answer (SQL over the store, Python in memory).

Eligible orders have a contact, are `paid` or `partially_paid` (so not cancelled), and were
created in the 10 years before now (and not after it). Per contact with at least one:
`recency_days` = whole days from the (local) date of the last eligible order to today,
`frequency` = their number, `monetary` = the sum of their totals. Among the N such contacts, the
score of a value x is `1 + floor(5 * (rank - 1) / N)` with `rank = 1 + (number of contacts whose
value is smaller)`; recency is scored on `-recency_days`, so recent buyers score 5. Contacts
without an eligible order have no RFM.

Money: the shop's currency is the one of its eligible orders when they share one, else the rule
set's; `monetary` adds the orders in that currency (others still count for R and F).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, Date, Engine, Integer, String, case, cast, delete, func, insert, literal, select

from relance.engine.data import values as R
from relance.engine.data.context import Context
from relance.engine.data.models import Rfm
from relance.engine.data.money import Money
from relance.engine.store.connection import zone_name
from relance.engine.store.tables import UTCDateTime, orders, rfm

ELIGIBLE_STATUSES = ("paid", "partially_paid")
YEARS = 10


@dataclass(frozen=True, slots=True)
class Window:
    now: dt.datetime
    tz: dt.tzinfo

    @property
    def since(self) -> dt.datetime:
        return R.shift(self.now, -YEARS, "year", self.tz)  # type: ignore[no-any-return]

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    def eligible(self, created_at: dt.datetime, status: str) -> bool:
        return status in ELIGIBLE_STATUSES and self.since <= created_at <= self.now


def scores(values: Sequence[Decimal | int]) -> list[int]:
    """1 + floor(5 (rank - 1) / N), rank = 1 + count of smaller values (ties share a rank)."""
    ordered = sorted(values)
    n = len(values)
    return [1 + (5 * bisect.bisect_left(ordered, v)) // n for v in values]


def compute_python(contexts: Iterable[Context], now: dt.datetime, tz: dt.tzinfo, currency: str) -> dict[str, Rfm]:
    """RFM of each context's contact, from the orders in the contexts."""
    window = Window(now, tz)
    per: dict[str, list[tuple[dt.datetime, Money]]] = {}
    for ctx in contexts:
        if ctx.contact is None:
            continue
        eligible = [(o.created_at, o.total) for o in ctx.orders if window.eligible(o.created_at, o.status)]
        if eligible:
            per[ctx.contact.id] = eligible
    shop = _shop_currency({m.currency for rows in per.values() for _, m in rows}, currency)
    ids = sorted(per)
    recency = [(window.today - max(t for t, _ in per[i]).astimezone(tz).date()).days for i in ids]
    frequency = [len(per[i]) for i in ids]
    monetary = [sum((m.amount for _, m in per[i] if m.currency == shop), Decimal(0)) for i in ids]
    r_scores = scores([-d for d in recency])
    f_scores = scores(frequency)
    m_scores = scores(monetary)
    return {i: Rfm(recency_days=recency[k], frequency=frequency[k], monetary=Money(monetary[k], shop),
                   r=r_scores[k], f=f_scores[k], m=m_scores[k]) for k, i in enumerate(ids)}


def with_rfm(contexts: Sequence[Context], now: dt.datetime, tz: dt.tzinfo, currency: str) -> list[Context]:
    """The contexts, each given its contact's RFM among all of them (for in-memory populations)."""
    import dataclasses

    table = compute_python(contexts, now, tz, currency)
    return [dataclasses.replace(ctx, rfm=table.get(ctx.contact.id) if ctx.contact else None) for ctx in contexts]


def _shop_currency(found: set[str], default: str) -> str:
    return next(iter(found)) if len(found) == 1 else default


def compute_sql(engine: Engine, now: dt.datetime, tz: dt.tzinfo, currency: str) -> int:
    """Recompute the `rfm` table in one transaction, set-wise; returns the number of contacts."""
    with engine.begin() as conn:
        return compute_in(conn, now, tz, currency)


def compute_in(conn: Connection, now: dt.datetime, tz: dt.tzinfo, currency: str) -> int:
    """The same inside the caller's transaction (a dry-run rolls it back)."""
    window = Window(now, tz)
    pg = conn.dialect.name == "postgresql"
    eligible = [orders.c.contact_id.is_not(None), orders.c.status.in_(ELIGIBLE_STATUSES),
                orders.c.created_at >= literal(window.since, UTCDateTime),
                orders.c.created_at <= literal(window.now, UTCDateTime)]
    found = [row[0] for row in conn.execute(select(orders.c.currency).where(*eligible).distinct().limit(2))]
    shop = _shop_currency(set(found), currency)
    last = func.max(orders.c.created_at)
    if pg:
        last_day = cast(func.timezone(zone_name(tz), func.timezone("UTC", last)), Date)
        recency = cast(literal(window.today, Date) - last_day, Integer)
    else:
        day = func.relance_local_date(last, zone_name(tz))
        recency = cast(func.round(func.julianday(literal(window.today.isoformat(), String)) - func.julianday(day)),
                       Integer)
    per = (select(orders.c.contact_id.label("contact_id"), recency.label("recency_days"),
                  func.count().label("frequency"),
                  func.coalesce(func.sum(case((orders.c.currency == shop, orders.c.total_minor), else_=0)), 0)
                  .label("monetary_minor"))
           .where(*eligible).group_by(orders.c.contact_id).subquery())
    n = func.count().over()

    def score(order_by: object) -> object:
        return 1 + (5 * (func.rank().over(order_by=order_by) - 1)) // n

    ranked = select(per.c.contact_id, per.c.recency_days, per.c.frequency, per.c.monetary_minor,
                    score(per.c.recency_days.desc()).label("r"), score(per.c.frequency).label("f"),
                    score(per.c.monetary_minor).label("m")).subquery()
    score_text = (cast(ranked.c.r, String) + cast(ranked.c.f, String) + cast(ranked.c.m, String)) if not pg else \
        func.concat(ranked.c.r, ranked.c.f, ranked.c.m)
    rows = select(ranked.c.contact_id, ranked.c.recency_days, ranked.c.frequency, ranked.c.monetary_minor,
                  literal(shop, String), ranked.c.r, ranked.c.f, ranked.c.m, score_text,
                  literal(window.now, UTCDateTime))
    conn.execute(delete(rfm))
    conn.execute(insert(rfm).from_select(
        ["contact_id", "recency_days", "frequency", "monetary_minor", "currency", "r", "f", "m", "score",
         "computed_at"], rows))
    return int(conn.execute(select(func.count()).select_from(rfm)).scalar_one())


def read_sql(engine: Engine) -> dict[str, Rfm]:
    with engine.connect() as conn:
        return {row.contact_id: Rfm(recency_days=row.recency_days, frequency=row.frequency,
                                    monetary=Money.from_minor(row.monetary_minor, row.currency),
                                    r=row.r, f=row.f, m=row.m)
                for row in conn.execute(select(rfm))}
