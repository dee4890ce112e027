"""Time segment refreshes over a large synthetic store, and relance's SQL against hand-written SQL.

Usage:
    python bench/segments.py [--quick] [--contacts N] [--orders-per-contact K] [--events-per-contact E]
                             [--postgres ADMIN_URL | --no-postgres] [--pg-contacts N] [--repeat R]

1. A seeded (random.Random(1)) synthetic base is written straight into a fresh SQLite file in a
   temporary folder (executemany on the raw sqlite3 connection, batches of ~50k rows), after
   `store.create_schema` made the tables and their indexes. Generating it is timed apart.
2. Measured in the same run:
   (a) the wall time of `refresh(engine, ruleset, now)`: RFM then every example segment (the
       first refresh of the base: every member enters), with the time of each segment's members
       query inside it (read from the statements the refresh sends);
   (b) for three representative segments (`new_customers`: first paid order,
       `sleepers`: last paid order, `email_unopened_3_months`: exists / not exists over events
       and orders), relance's `members_query` against the membership query written by hand in
       plain SQL, both executed on one connection with every id fetched, alternately, `--repeat`
       times each after one warm-up run; the two id sets must be identical (else the run fails).
       The ratio is the median over the three of (relance median time / hand-written median time).
3. Peak memory of the process (`ru_maxrss`).
4. The same on PostgreSQL when `--postgres ADMIN_URL` is given or a server answers at
   postgresql+psycopg://root@127.0.0.1:5432/postgres (a throwaway database is created, then
   dropped), on a base of `--pg-contacts` contacts (the first contacts of the SQLite base).

The last line printed is machine-readable (SQLite figures):

    refresh_s=X ratio_vs_handwritten_sql=Y
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import math
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/segments.py` from a checkout

import relance
from relance.engine.ruleset.sql_check import sql_compiler
from relance.engine.segments.refresh import refresh
from relance.engine.store.connection import connect
from relance.engine.store.migrate import create_schema

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
NOW_UTC = NOW.astimezone(UTC).replace(tzinfo=None)
RULES = Path(__file__).resolve().parents[1] / "rules" / "examples"
PG_DEFAULT = "postgresql+psycopg://root@127.0.0.1:5432/postgres"
BATCH = 50_000
DAY = 86_400
HISTORY_DAYS = 3 * 365  # contacts signed up over the 3 years before now
PAID = ("paid", "partially_paid")

console = Console(width=120)


# ---------------------------------------------------------------------------------------------
# Synthetic base
# ---------------------------------------------------------------------------------------------


class Pick:
    """A weighted choice with one random() call (rng.choices is slower)."""

    def __init__(self, weighted: dict[Any, float]):
        self.values = list(weighted)
        total = 0.0
        self.cumulative = []
        for w in weighted.values():
            total += w
            self.cumulative.append(total)
        self.total = total

    def __call__(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


COUNTRY = Pick({"FR": 60, "BE": 15, "DE": 15, "GB": 10})
LANGUAGE = {
    "FR": Pick({"fr": 93, "en": 5, "fr-FR": 2}),
    "BE": Pick({"fr-BE": 50, "nl-BE": 45, "en": 5}),
    "DE": Pick({"de": 88, "en": 10, "de-DE": 2}),
    "GB": Pick({"en-GB": 85, "en": 15}),
}
DOMAIN = Pick({
    "gmail.com": 40, "hotmail.fr": 10, "orange.fr": 9, "yahoo.fr": 6, "outlook.com": 8, "free.fr": 5,
    "gmx.de": 6, "web.de": 4, "laposte.net": 4, "skynet.be": 3, "btinternet.com": 3,
    "yopmail.com": 0.8, "yopmail.fr": 0.1, "mailinator.com": 0.1, "jetable.org": 0.05, "trashmail.com": 0.05,
    "gmial.com": 0.2, "gmail.con": 0.2, "hotmial.com": 0.1, "wanadoo.fe": 0.05,
})
FIRST = ["marie", "jean", "camille", "lucas", "emma", "louis", "lea", "hugo", "chloe", "paul", "anna", "max",
         "sophie", "thomas", "julia", "noah", "olivia", "leon", "mia", "jack"]
LAST = ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy", "moreau",
        "peeters", "janssens", "muller", "schmidt", "schneider", "smith", "jones", "taylor", "brown", "wilson"]
FAVOURITE = Pick({None: 40, "shoes": 20, "socks": 10, "skincare": 20, "bags": 10})
SKIN = Pick({None: 50, "dry": 20, "oily": 15, "normal": 15})
TAGS = Pick({"[]": 85, '["vip"]': 5, '["newsletter"]': 8, '["vip", "newsletter"]': 2})
TIER = Pick({None: 70, "silver": 20, "gold": 8, "platinum": 2})
STATUS = Pick({"paid": 76, "partially_paid": 3, "pending": 4, "cancelled": 10, "refunded": 7})
CHANNEL = Pick({"web": 70, "app": 20, "store": 10})
CATEGORY = Pick({"shoes": 30, "socks": 20, "skincare": 25, "bags": 10, "accessories": 10, "low-margin": 5})
PRICE = {"shoes": (4900, 14900), "socks": (500, 1900), "skincare": (1200, 6900), "bags": (2900, 19900),
         "accessories": (900, 4900), "low-margin": (200, 1500)}
CAMPAIGN = Pick({"newsletter": 55, "promo_black_friday": 15, "welcome": 10, "requalification": 10,
                 "last_warning": 5, "birthday": 5})
CODES = Pick({"[]": 88, '["WELCOME10"]': 6, '["BF2026"]': 4, '["VIP20", "FREESHIP"]': 2})


def _attributes_json(favourite: str | None, skin: str | None) -> str:
    parts = []
    if favourite is not None:
        parts.append(f'"favourite_category": "{favourite}"')
    if skin is not None:
        parts.append(f'"skin_type": "{skin}"')
    return "{" + ", ".join(parts) + "}"


ATTRIBUTES = {(f, s): _attributes_json(f, s) for f in FAVOURITE.values for s in SKIN.values}
EPOCH_ORDINAL = dt.date(1950, 1, 1).toordinal()
BIRTH_SPAN = dt.date(2008, 1, 1).toordinal() - EPOCH_ORDINAL

CONTACT_COLUMNS = ("id", "email", "phone", "first_name", "last_name", "country", "language", "birthdate",
                   "created_at", "consent_email", "consent_sms", "consent_push", "tags", "tier", "points",
                   "attributes")
ORDER_COLUMNS = ("id", "contact_id", "created_at", "status", "currency", "total_minor", "shipping_minor",
                 "channel", "country", "codes")
ITEM_COLUMNS = ("order_id", "line", "sku", "product", "category", "tags", "quantity", "currency",
                "unit_price_minor")
EVENT_COLUMNS = ("id", "contact_id", "type", "at", "channel", "campaign")
TABLES = {"contacts": CONTACT_COLUMNS, "orders": ORDER_COLUMNS, "order_items": ITEM_COLUMNS,
          "events": EVENT_COLUMNS}


def stamp(seconds_before_now: float) -> str:
    """The stored text of the instant `seconds_before_now` before NOW (naive UTC, as UTCDateTime)."""
    moment = NOW_UTC - dt.timedelta(seconds=seconds_before_now)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _geometric_rate(mean: float) -> float:
    """lambda such that floor(Exp(lambda)) has the given mean."""
    return math.log(1 + 1 / mean)


@dataclass
class Counts:
    contacts: int = 0
    orders: int = 0
    items: int = 0
    events: int = 0


def generate(contacts: int, orders_per_contact: float, events_per_contact: float,
             flush: Callable[[dict[str, list[tuple[Any, ...]]]], None], seed: int = 1) -> Counts:
    """Write the base through `flush` (one call per ~BATCH rows); the same seed gives the same
    base, and a smaller base is a prefix of a larger one (contacts are generated one by one)."""
    rng = random.Random(seed)
    rand, randint, expo = rng.random, rng.randint, rng.expovariate
    buyers_share = 0.75  # a quarter of the contacts never ordered (prospects)
    extra_orders = _geometric_rate(max(orders_per_contact / buyers_share - 1, 0.01))
    sends_rate = _geometric_rate(max(events_per_contact / 1.65, 0.01))  # each send brings ~0.65 other events
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
    c_rows, o_rows, i_rows, e_rows = rows["contacts"], rows["orders"], rows["order_items"], rows["events"]
    counts = Counts()
    order_seq = event_seq = 0
    for n in range(contacts):
        cid = f"c{n:08d}"
        country = COUNTRY(rng)
        first, last = FIRST[randint(0, 19)], LAST[randint(0, 19)]
        r = rand()
        if r < 0.03:
            email = None
        else:
            domain = DOMAIN(rng)
            email = f"{first}.{last}{n}@{domain}"
            if r < 0.033:
                email = email.replace("@", "")  # no @
            elif r < 0.05:
                email = email.upper()  # upper case: the disposable and typo tests lower it
        # sign-up: 1% in the last 10 days (welcome series), the rest over 3 years
        age = rand() * 10 * DAY if rand() < 0.01 else rand() * HISTORY_DAYS * DAY
        birthdate = None if rand() < 0.08 else dt.date.fromordinal(EPOCH_ORDINAL + randint(0, BIRTH_SPAN)).isoformat()
        c_rows.append((
            cid, email, None if rand() < 0.4 else f"+33{randint(600000000, 799999999)}", first.title(),
            last.title(), country, LANGUAGE[country](rng), birthdate, stamp(age),
            1 if rand() < 0.7 else 0, 1 if rand() < 0.3 else 0, 1 if rand() < 0.2 else 0,
            TAGS(rng), TIER(rng), randint(0, 2000) if rand() < 0.5 else 0,
            ATTRIBUTES[(FAVOURITE(rng), SKIN(rng))]))
        counts.contacts += 1
        # orders: none for a quarter, else 1 + geometric, spread over the contact's life
        n_orders = 1 + min(int(expo(extra_orders)), 300) if rand() < buyers_share else 0
        for _ in range(n_orders):
            order_seq += 1
            oid = f"o{order_seq:09d}"
            created = stamp(rand() * age)
            currency = "GBP" if country == "GB" and rand() < 0.8 else "EUR"
            shipping = 0 if rand() < 0.4 else 490
            if rand() < 0.35:  # detailed orders: 1 to 3 lines
                total = shipping
                for line in range(randint(1, 3)):
                    category = CATEGORY(rng)
                    low, high = PRICE[category]
                    price = randint(low, high) // 100 * 100 + 90
                    quantity = 1 if rand() < 0.8 else randint(2, 4)
                    total += price * quantity
                    i_rows.append((oid, line, f"{category[:3].upper()}-{randint(1, 400):04d}",
                                   f"{category} {randint(1, 400)}", category, "[]", quantity, currency, price))
                    counts.items += 1
            else:
                total = int(math.exp(rng.gauss(8.4, 0.7)))  # median ~45 EUR
            o_rows.append((oid, cid, created, STATUS(rng), currency, total, shipping,
                           CHANNEL(rng), country, CODES(rng)))
            counts.orders += 1
        if n_orders and rand() < 0.01:
            order_seq += 1  # a guest order: no contact
            o_rows.append((f"o{order_seq:09d}", None, stamp(rand() * HISTORY_DAYS * DAY), STATUS(rng), "EUR",
                           int(math.exp(rng.gauss(8.4, 0.7))), 490, "web", country, "[]"))
            counts.orders += 1
        # events: campaign emails (sent, then maybe opened and clicked) and page views, mostly recent
        for _ in range(int(expo(sends_rate))):
            when = min(expo(1 / (120 * DAY)), age)
            campaign = CAMPAIGN(rng)
            event_seq += 1
            e_rows.append((f"e{event_seq:09d}", cid, "email_sent", stamp(when), "email", campaign))
            if rand() < 0.35:
                opened = max(when - rand() * 3 * DAY, 0)
                event_seq += 1
                e_rows.append((f"e{event_seq:09d}", cid, "email_opened", stamp(opened), "email", campaign))
                if rand() < 0.3:
                    event_seq += 1
                    e_rows.append((f"e{event_seq:09d}", cid, "email_clicked", stamp(max(opened - 60, 0)), "email",
                                   campaign))
            if rand() < 0.2:
                event_seq += 1
                e_rows.append((f"e{event_seq:09d}", cid, "page_viewed", stamp(min(expo(1 / (60 * DAY)), age)),
                               "web", None))
        counts.events = event_seq
        if len(c_rows) + len(o_rows) + len(i_rows) + len(e_rows) >= BATCH:
            flush(rows)
            for bucket in rows.values():
                bucket.clear()
    flush(rows)
    return counts


# ---------------------------------------------------------------------------------------------
# Loading: SQLite (executemany) and PostgreSQL (COPY)
# ---------------------------------------------------------------------------------------------


def load_sqlite(path: Path, args: argparse.Namespace) -> tuple[Engine, Counts, float]:
    url = f"sqlite:///{path}"
    engine = connect(url)
    create_schema(engine)  # tables and their indexes, as relance makes them
    engine.dispose()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode=OFF")  # loading only: this connection is closed before measuring
    raw.execute("PRAGMA synchronous=OFF")
    raw.execute("PRAGMA cache_size=-131072")  # 128 MB while loading
    statements = {name: f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                  for name, cols in TABLES.items()}

    def flush(rows: dict[str, list[tuple[Any, ...]]]) -> None:
        raw.execute("BEGIN")
        for name, batch in rows.items():
            if batch:
                raw.executemany(statements[name], batch)
        raw.execute("COMMIT")

    start = time.perf_counter()
    counts = generate(args.contacts, args.orders_per_contact, args.events_per_contact, flush)
    raw.close()
    return connect(url), counts, time.perf_counter() - start


def load_postgres(url: str, contacts: int, args: argparse.Namespace) -> tuple[Counts, float]:
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = connect(url)
    create_schema(engine)
    engine.dispose()
    start = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        def flush(rows: dict[str, list[tuple[Any, ...]]]) -> None:
            with conn.cursor() as cur:
                for name, batch in rows.items():
                    if not batch:
                        continue
                    cols = TABLES[name]
                    with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in batch:
                            copy.write_row(row)
            conn.commit()

        counts = generate(contacts, args.orders_per_contact, args.events_per_contact, flush)
        # what autovacuum does after a bulk load: the loaded tables get statistics; the empty segment
        # tables do not (analysing them while empty makes relance's first refresh quadratic, see the report)
        for name in TABLES:
            conn.execute(f"ANALYZE {name}")
        conn.commit()
    return counts, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Hand-written SQL for three segments
# ---------------------------------------------------------------------------------------------


def local_midnight(days_back: int = 0, months_back: int = 0) -> dt.datetime:
    """Midnight (Paris) of today minus whole days or calendar months, as an aware instant."""
    today = NOW.date()
    if months_back:
        month = today.month - months_back
        year = today.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        day = dt.date(year, month, min(today.day, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31))
    else:
        day = today - dt.timedelta(days=days_back)
    return dt.datetime(day.year, day.month, day.day, tzinfo=PARIS)


@dataclass(frozen=True)
class Handwritten:
    """The membership query as one would write it by hand; `postgresql` when the best form differs."""

    sql: str
    params: dict[str, dt.datetime]
    postgresql: str | None = None

    def for_dialect(self, dialect: str) -> str:
        return self.postgresql if dialect == "postgresql" and self.postgresql else self.sql


# On PostgreSQL, a parallel hash aggregate over the paid orders beats per-contact probes (0.8 s
# against 1.1 s and 3.3 s at 1M contacts); on SQLite it is the other way round (1.6-1.8 s for
# the GROUP BY, 0.8-0.9 s for the probes), so each engine gets its best form.
_FIRST_PAID_GROUPED = """
        SELECT contact_id FROM orders
        WHERE contact_id IS NOT NULL AND status IN ('paid', 'partially_paid')
        GROUP BY contact_id
        HAVING min(created_at) >= :since
"""
_LAST_PAID_GROUPED = _FIRST_PAID_GROUPED.replace("min(created_at) >=", "max(created_at) <")

HANDWRITTEN: dict[str, Handwritten] = {
    # first paid order in the last 30 days: a paid order since, and none before (the EXISTS is an
    # index range that is empty for most contacts, so the NOT EXISTS runs for few)
    "new_customers": Handwritten("""
        SELECT c.id FROM contacts c
        WHERE EXISTS (SELECT 1 FROM orders o
                      WHERE o.contact_id = c.id AND o.created_at >= :since
                        AND o.status IN ('paid', 'partially_paid'))
          AND NOT EXISTS (SELECT 1 FROM orders o
                          WHERE o.contact_id = c.id AND o.created_at < :since
                            AND o.status IN ('paid', 'partially_paid'))
    """, {"since": local_midnight(days_back=30)}, _FIRST_PAID_GROUPED),
    # last paid order more than 365 days ago: no paid order since, and a paid order at all
    "sleepers": Handwritten("""
        SELECT c.id FROM contacts c
        WHERE NOT EXISTS (SELECT 1 FROM orders o
                          WHERE o.contact_id = c.id AND o.created_at >= :since
                            AND o.status IN ('paid', 'partially_paid'))
          AND EXISTS (SELECT 1 FROM orders o
                      WHERE o.contact_id = c.id AND o.status IN ('paid', 'partially_paid'))
    """, {"since": local_midnight(days_back=365)}, _LAST_PAID_GROUPED),
    # signed up 3+ months ago, emailed in the last 3 months, opened nothing and ordered nothing since
    "email_unopened_3_months": Handwritten("""
        SELECT c.id FROM contacts c
        WHERE c.created_at < :since
          AND EXISTS (SELECT 1 FROM events e
                      WHERE e.contact_id = c.id AND e.type = 'email_sent' AND e.at >= :since)
          AND NOT EXISTS (SELECT 1 FROM events e
                          WHERE e.contact_id = c.id AND e.type = 'email_opened' AND e.at >= :since)
          AND NOT EXISTS (SELECT 1 FROM orders o
                          WHERE o.contact_id = c.id AND o.created_at >= :since)
    """, {"since": local_midnight(months_back=3)}),
}


def handwritten_params(params: dict[str, dt.datetime], dialect: str) -> dict[str, Any]:
    """Instants as the column stores them: text on SQLite, naive UTC timestamps on PostgreSQL."""
    if dialect == "sqlite":
        return {k: utc_text(v) for k, v in params.items()}
    return {k: v.astimezone(UTC).replace(tzinfo=None) for k, v in params.items()}


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


@dataclass
class StatementClock:
    """Times every statement the engine sends, attributed to the segment being refreshed."""

    per_segment: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    members_query: dict[str, float] = field(default_factory=dict)
    current: str = "(rfm)"
    started: float = 0.0

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def detach(self, engine: Engine) -> None:
        event.remove(engine, "before_cursor_execute", self.before)
        event.remove(engine, "after_cursor_execute", self.after)

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM SEGMENT_SCRATCH") and not many:
            values = list(parameters.values()) if isinstance(parameters, dict) else list(parameters or ())
            if values and isinstance(values[0], str):
                self.current = values[0]
        self.started = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        spent = time.perf_counter() - self.started
        self.per_segment[self.current] += spent
        if statement.lstrip().upper().startswith("INSERT INTO SEGMENT_SCRATCH"):
            self.members_query[self.current] = self.members_query.get(self.current, 0.0) + spent


def fetch_ids(engine: Engine, query: Any, params: dict[str, Any] | None = None) -> tuple[float, list[str]]:
    with engine.connect() as conn:
        start = time.perf_counter()
        result = conn.execute(query, params or {})
        ids = [row[0] for row in result]
        return time.perf_counter() - start, ids


@dataclass
class Comparison:
    segment: str
    members: int
    relance_s: float
    handwritten_s: float

    @property
    def ratio(self) -> float:
        return self.relance_s / self.handwritten_s


@dataclass
class RunResult:
    dialect: str
    counts: Counts
    load_s: float
    refresh_s: float
    second_refresh_s: float | None
    moves: list[Any]
    clock: StatementClock
    comparisons: list[Comparison]
    plans: dict[str, tuple[str, str]]

    @property
    def ratio(self) -> float:
        return statistics.median(c.ratio for c in self.comparisons)


def explain(engine: Engine, query: Any, params: dict[str, Any] | None = None) -> str:
    """The plan of a query as it is really sent (statement and processed parameters captured from
    one execution): EXPLAIN QUERY PLAN on SQLite, EXPLAIN (COSTS OFF) on PostgreSQL."""
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, parameters))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        conn.execute(query, params or {}).fetchall()
        event.remove(conn, "before_cursor_execute", capture)
        statement, parameters = sent[-1]
        if engine.dialect.name != "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, parameters).fetchall()
            return "\n".join(row[0] for row in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    depth_of: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth_of[node] = depth_of.get(parent, -1) + 1
        lines.append("  " * depth_of[node] + detail)
    return "\n".join(lines)


def measure(engine: Engine, rules: relance.RuleSet, counts: Counts, load_s: float, repeat: int,
            second_refresh: bool) -> RunResult:
    dialect = engine.dialect.name
    clock = StatementClock()
    clock.attach(engine)
    start = time.perf_counter()
    moves = refresh(engine, rules, NOW)
    refresh_s = time.perf_counter() - start
    clock.detach(engine)
    console.print(f"{dialect}: first refresh (RFM + {len(moves)} segments): {refresh_s:.1f} s")
    second_s = None
    if second_refresh:
        start = time.perf_counter()
        refresh(engine, rules, NOW + dt.timedelta(days=1))
        second_s = time.perf_counter() - start
        console.print(f"{dialect}: next-day refresh: {second_s:.1f} s")

    compiler = sql_compiler(rules, dialect, NOW)
    comparisons, plans = [], {}
    for name, written in HANDWRITTEN.items():
        generated = compiler.members_query(rules.segments[name].condition)
        params = handwritten_params(written.params, dialect)
        hand = text(written.for_dialect(dialect))
        _, relance_ids = fetch_ids(engine, generated)  # warm-up, and the answers to compare
        _, hand_ids = fetch_ids(engine, hand, params)
        if len(relance_ids) != len(set(relance_ids)) or set(relance_ids) != set(hand_ids) \
                or len(hand_ids) != len(set(hand_ids)):
            only_r = sorted(set(relance_ids) - set(hand_ids))[:5]
            only_h = sorted(set(hand_ids) - set(relance_ids))[:5]
            raise SystemExit(f"DISAGREEMENT on {dialect} for {name}: relance {len(relance_ids)} rows, "
                             f"hand-written {len(hand_ids)} rows; only relance: {only_r}; only hand: {only_h}")
        r_times, h_times = [], []
        for _ in range(repeat):  # alternate, so that both see the same cache state
            r_times.append(fetch_ids(engine, generated)[0])
            h_times.append(fetch_ids(engine, hand, params)[0])
        comparison = Comparison(name, len(relance_ids), statistics.median(r_times), statistics.median(h_times))
        comparisons.append(comparison)
        console.print(f"{dialect}: {name}: {comparison.members} members, relance {comparison.relance_s:.3f} s "
                      f"vs hand-written {comparison.handwritten_s:.3f} s (x{comparison.ratio:.2f})")
        plans[name] = (explain(engine, generated), explain(engine, hand, params))
    slowest = max(clock.members_query, key=clock.members_query.__getitem__)
    if slowest not in plans:
        plans[slowest] = (explain(engine, compiler.members_query(rules.segments[slowest].condition)), "")
    return RunResult(dialect, counts, load_s, refresh_s, second_s, moves, clock, comparisons, plans)


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def report(result: RunResult, top: int = 12) -> None:
    c = result.counts
    console.print(f"\n[bold]{result.dialect}[/bold]: {c.contacts:,} contacts, {c.orders:,} orders, "
                  f"{c.items:,} order items, {c.events:,} events; generated and loaded in {result.load_s:.1f} s")
    members = {m.segment: m.members for m in result.moves}
    table = Table(title=f"{result.dialect}: slowest segments in the first refresh")
    for col in ("segment", "members", "members query s", "whole segment s"):
        table.add_column(col, justify="left" if col == "segment" else "right")
    clock = result.clock
    ranked = sorted(clock.per_segment, key=clock.per_segment.__getitem__, reverse=True)
    for name in ranked[:top]:
        table.add_row(name, f"{members[name]:,}" if name in members else "",
                      f"{clock.members_query[name]:.2f}" if name in clock.members_query else "",
                      f"{clock.per_segment[name]:.2f}")
    rest = ranked[top:]
    if rest:
        table.add_row(f"({len(rest)} others)", "", f"{sum(clock.members_query.get(n, 0) for n in rest):.2f}",
                      f"{sum(clock.per_segment[n] for n in rest):.2f}")
    table.add_row("(all statements)", "", f"{sum(clock.members_query.values()):.2f}",
                  f"{sum(clock.per_segment.values()):.2f}")
    console.print(table)
    table = Table(title=f"{result.dialect}: relance members_query vs hand-written SQL (median of runs, all ids)")
    for col in ("segment", "members", "relance s", "hand-written s", "ratio"):
        table.add_column(col, justify="left" if col == "segment" else "right")
    for comp in result.comparisons:
        table.add_row(comp.segment, f"{comp.members:,}", f"{comp.relance_s:.3f}", f"{comp.handwritten_s:.3f}",
                      f"{comp.ratio:.2f}")
    console.print(table)
    summary = Table(title=f"{result.dialect}: summary")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("refresh (RFM + all segments, first) s", f"{result.refresh_s:.1f}")
    if result.second_refresh_s is not None:
        summary.add_row("refresh next day s", f"{result.second_refresh_s:.1f}")
    summary.add_row("ratio vs hand-written SQL (median)", f"{result.ratio:.2f}")
    summary.add_row("peak memory of the process MB", f"{peak_mb():.0f}")
    console.print(summary)


def print_plans(result: RunResult) -> None:
    for name, (generated, hand) in result.plans.items():
        console.print(f"\n[bold]{result.dialect} plan, relance {name}:[/bold]", markup=True)
        console.print(generated, markup=False, highlight=False)
        if hand:
            console.print(f"[bold]{result.dialect} plan, hand-written {name}:[/bold]")
            console.print(hand, markup=False, highlight=False)


def postgres_admin(args: argparse.Namespace) -> str | None:
    if args.no_postgres:
        return None
    url = args.postgres or PG_DEFAULT
    try:
        import psycopg

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, connect_timeout=2):
            return url
    except Exception as error:
        if args.postgres:
            raise SystemExit(f"cannot reach PostgreSQL at {url}: {error}") from error
        console.print(f"no PostgreSQL server at {url}: PostgreSQL skipped")
        return None


def run_postgres(admin_url: str, rules: relance.RuleSet, args: argparse.Namespace) -> RunResult:
    import psycopg

    admin = make_url(admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"relance_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        counts, load_s = load_postgres(url, args.pg_contacts, args)
        engine = connect(url)
        try:
            return measure(engine, rules, counts, load_s, args.repeat, args.second_refresh)
        finally:
            engine.dispose()
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders-per-contact", type=float, default=5.0)
    parser.add_argument("--events-per-contact", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="20,000 contacts")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="a PostgreSQL server (a database is created there)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-contacts", type=int, help="contacts in the PostgreSQL base (default: as SQLite)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query (median)")
    parser.add_argument("--second-refresh", action="store_true", help="also time a next-day refresh")
    parser.add_argument("--keep", metavar="FILE", help="keep the SQLite file at this path")
    args = parser.parse_args()
    if args.quick:
        args.contacts = 20_000
    if args.pg_contacts is None:
        args.pg_contacts = args.contacts
    rules = relance.load(RULES)
    console.print(f"relance bench: now = {NOW.isoformat()} ({NOW.tzinfo}), {len(rules.segments)} segments, "
                  f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="relance-bench-") as folder:
        path = Path(args.keep) if args.keep else Path(folder) / "store.db"
        if path.exists():
            path.unlink()
        engine, counts, load_s = load_sqlite(path, args)
        console.print(f"sqlite: data generated and loaded in {load_s:.1f} s (not measured); "
                      f"file {path.stat().st_size / 2**20:.0f} MB; peak memory so far {peak_mb():.0f} MB")
        sqlite_result = measure(engine, rules, counts, load_s, args.repeat, args.second_refresh)
        engine.dispose()
        report(sqlite_result)
        sqlite_peak = peak_mb()

    pg_result = None
    admin = postgres_admin(args)
    if admin:
        if args.pg_contacts != args.contacts:
            console.print(f"PostgreSQL runs on a smaller base: the first {args.pg_contacts:,} contacts "
                          f"(of {args.contacts:,}) of the same generated data")
        pg_result = run_postgres(admin, rules, args)
        report(pg_result)

    print_plans(sqlite_result)
    if pg_result:
        print_plans(pg_result)
    console.print(f"\npeak memory of the process: {sqlite_peak:.0f} MB after SQLite, {peak_mb():.0f} MB at the end")
    print(f"refresh_s={sqlite_result.refresh_s:.1f} ratio_vs_handwritten_sql={sqlite_result.ratio:.2f}")


if __name__ == "__main__":
    main()
