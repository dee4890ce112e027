"""Time the checkout: `Engine.evaluate` latency by rule-set size, redemptions per second, code issuing.

Usage: python bench/checkout.py [--quick] [--no-postgres] [--postgres ADMIN_URL]

1. `evaluate` latency of one realistic 20-line cart (shipping, country FR, channel web, a contact
   with a few past orders, one public code and one pool code typed) against generated rule sets
   of 10, 100 and 1,000 promotions over an in-memory SQLite store, with a fixed clock. The rule
   sets are built from blocks of 10 promotions, each block the same mix: 4 public codes, 2 pools
   of unique codes, 4 automatic promotions (one open now, two from past campaigns, one to come,
   rotating through the block; restrictions on country, channel, language and segment, half of
   the open ones matching the cart), conditions on the subtotal, item categories, order history
   and segments, every kind of reward, limits and budgets on most (so the store is read; it holds
   a few redemptions per promotion). The size-10 set is the first block, so every size has the
   same proportions. Evaluations of all sizes are interleaved in rounds (same machine state) and
   timed one by one with perf_counter_ns (and the thread's CPU time, shown beside: it tells the
   engine's own cost from waiting for a CPU on a busy machine), the cart and contact given as
   JSON-like mappings as a shop would (validation included); every result must equal the first.
   One more row evaluates the same cart at 1,000 promotions with the contact and its orders
   validated once beforehand (what a shop keeping them for the session pays), and one more with
   another customer at each evaluation (whose own counts the store is asked for). A fixed
   pure-Python loop is timed before and after, to read the absolute figures against the speed
   of the machine at that moment.
2. Redemptions per second (`Engine.redeem`, one order after another, then 4 threads) on a SQLite
   file and on a throwaway PostgreSQL database (created on the server, dropped at the end; skipped
   with a note when unreachable or with --no-postgres), each order a distinct contact and pool code.
3. Seconds to issue 1,000,000 unique codes into the store (100,000 with --quick), SQLite and
   PostgreSQL, when `relance.engine.checkout.pools.issue_codes` exists (else `codes_1m_s=n/a`).

The last line printed is machine-readable:

    p99_us_1000=X p99_ratio_1000_vs_10=Y

X is the p99 of `evaluate` in µs against 1,000 promotions, Y that p99 over the p99 against 10
(targets: X < 1000 on the project's machine and Y < 3). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/checkout.py` from a checkout
import relance
from relance.engine.ruleset.promotion import normalize_code
from relance.engine.store import tables as S

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday, 10:30 in Paris
SIZES = (10, 100, 1000)
BLOCK = 10
PG_DEFAULT = "postgresql://root@127.0.0.1:5432/postgres"
CART_LINES = 20
CATEGORIES = ("shirts", "shoes", "socks", "hats", "bags", "trousers", "gift-cards", "jackets")

PROJECT = """\
relance: 1
name: checkout-bench
currency: EUR
timezone: Europe/Paris
guards:
  max_discount: 60%
"""

SEGMENTS = """\
segment new_customers "New customers":
    count(orders where status == "paid") <= 1

segment loyal "Loyal customers":
    count(orders where status == "paid" and created_at > now - 12 months) >= 3

segment big_spenders "Big spenders":
    sum(orders.total where status == "paid" and created_at > now - 12 months) >= 300 EUR

segment vip "VIP":
    "vip" in contact.tags or contact.tier == "gold"

segment email_fans "Email fans":
    contact.consents.email and count(events where type == "email_opened" and at > now - 3 months) >= 2

segment sleepers "Sleepers":
    count(orders) > 0 and days_since(last(orders).created_at) > 180
"""

# ---------------------------------------------------------------------------------------------
# The rule sets
# ---------------------------------------------------------------------------------------------

OPEN, PAST, FUTURE = "open", "past", "future"
AUTO_WINDOWS = (OPEN, PAST, PAST, FUTURE)  # rotated over the 4 automatic slots of a block
CODE_WINDOWS = (OPEN, OPEN, PAST, PAST, PAST, FUTURE)  # rotated over the 6 code slots of a block


def window(kind: str, v: int) -> str:
    """A `valid` clause (or none) of a campaign that is open now, over, or to come."""
    if kind == OPEN:
        return ("    valid 2026-11-01 to 2026-12-31\n", "", "    valid from 2026-10-15, days mon-sat\n",
                "    valid 2026-11-20 to 2026-11-30, hours 08:00-22:00\n")[v % 4]
    if kind == PAST:
        year, month = 2023 + (v // 12) % 4, 1 + v % 12
        if (year, month) >= (2026, 11):
            year = 2025
        return f"    valid {year}-{month:02d}-01 to {year}-{month:02d}-{10 + v % 18}\n"
    year, month = (2026, 12) if v % 3 == 0 else (2027, 1 + v % 12)
    return f"    valid {year}-{month:02d}-02 to {year}-{month:02d}-25\n"


def promotion(i: int) -> str:
    """The i-th promotion: slot i % 10 fixes its kind, block i // 10 rotates its window and values."""
    slot, v = i % BLOCK, i // BLOCK
    cat = CATEGORIES[(v + slot) % 6]  # never gift-cards
    name = f"p{i:04d}"
    if slot < 6:  # code-based: public codes (slots 0, 2, 4, 5) and pools (1, 3)
        valid = window(CODE_WINDOWS[(slot + v) % 6], v)
        if slot == 0:
            return (f'promotion {name}_welcome "Welcome {v}":\n    code "WELCOME{v}"\n'
                    f"    when cart.subtotal >= {30 + 5 * (v % 8)} EUR\n"
                    f"    reward {10 + v % 3 * 5}% off order up to 30 EUR\n"
                    '    exclude items where category == "gift-cards"\n'
                    f"    limit 1 per contact, 100000 total\n    priority 5\n{valid}")
        if slot == 1:
            return (f'promotion {name}_pool "Newsletter {v}":\n    code unique pattern "N{v}-####-????"\n'
                    f"    when contact in segment new_customers or cart.subtotal >= {40 + v % 5 * 10} EUR\n"
                    f"    reward {5 + v % 4} EUR off order\n"
                    f"    limit 1 per contact\n    priority 5\n{valid}")
        if slot == 2:
            return (f'promotion {name}_cat "{cat} week {v}":\n    code "{cat.upper()}{v}"\n'
                    f'    when count(cart.items where category == "{cat}") >= 1\n'
                    f'    reward 15% off items where category == "{cat}"\n'
                    f"    limit budget 500000 EUR\n{valid}")
        if slot == 3:
            return (f'promotion {name}_ship "Free shipping code {v}":\n    code unique pattern "S{v}-######" '
                    "expires after 60 days\n"
                    '    when count(orders where status == "paid") >= 1\n'
                    "    reward free shipping\n"
                    f"    limit budget 200000 EUR\n{valid}")
        if slot == 4:
            return (f'promotion {name}_b2g1 "3 for 2 on {cat} {v}":\n    code "TRIO{v}"\n'
                    f'    reward buy 2 get 1 free items where category == "{cat}" up to 2 times\n'
                    f"    limit 3 per contact\n{valid}")
        return (f'promotion {name}_fixed "Fixed price {v}":\n    code "DEAL{v}"\n'
                f'    reward fixed price {19 + v % 30} EUR items where sku == "SKU-{v % CART_LINES:03d}"\n'
                f"    priority {v % 3}\n{valid}")
    a = slot - 6
    valid = window(AUTO_WINDOWS[(a + v) % 4], v)
    match = (v // 4) % 2 == 0  # half the blocks' restrictions fit the cart (FR, web, fr)
    if slot == 6:
        only = '"FR" or "BE"' if match else ('"DE" or "AT"', '"ES"', '"IT"')[v % 3]
        return (f'promotion {name}_country "{cat} by country {v}":\n    only country {only}\n'
                f'    when sum(cart.items.total where category == "{cat}") >= {20 + v % 7 * 10} EUR\n'
                f'    reward {10 + v % 4 * 5}% off items where category == "{cat}"\n'
                f"    combines with order, shipping\n    limit {5000 + v * 10} total\n{valid}")
    if slot == 7:
        channel = '"web"' if match else ('"app"', '"store"')[v % 2]
        reward = ("free shipping", "50% off shipping", "3 EUR off shipping")[v % 3]
        return (f'promotion {name}_ship "Shipping by channel {v}":\n    only channel {channel}\n'
                f"    when cart.subtotal >= {50 + v % 6 * 20} EUR and count(orders) >= {v % 4}\n"
                f"    reward {reward}\n    combines with items, order\n{valid}")
    if slot == 8:
        language = '"fr"' if match else ('"de"', '"en"', '"es"')[v % 3]
        segment = ("loyal", "big_spenders", "email_fans", "vip", "sleepers", "new_customers")[v % 6]
        return (f'promotion {name}_gift "Gift for {segment}":\n    only language {language}\n'
                f"    when contact in segment {segment} and cart.subtotal >= {40 + v % 5 * 15} EUR\n"
                f'    reward gift "TOTE-{v % 5}"\n    reward 5% off order\n'
                f"    combines with shipping\n    limit 1 per contact\n{valid}")
    segment = ("loyal", "big_spenders", "vip", "email_fans")[v % 4] if match else ("vip", "sleepers")[v % 2]
    reward = (f'buy 1 get 1 50% off items where category == "{cat}"',
              f'2 EUR off each item where category == "{cat}" and quantity >= 2',
              f"{3 + v % 5} EUR off order")[v % 3]
    combines = "items, shipping" if v % 3 == 2 else "order, shipping"  # not with its own class
    return (f'promotion {name}_members "Members {v}":\n    only segment {segment}\n'
            f'    when count(orders where status == "paid" and created_at > now - 6 months) >= 1\n'
            f"    reward {reward}\n    base before discounts\n    combines with {combines}\n"
            f"    limit budget {100000 + v * 1000} EUR, 2 per contact\n    priority {v % 2}\n{valid}")


def write_rules(root: Path, size: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "relance.yaml").write_text(PROJECT)
    (root / "segments.rules").write_text(SEGMENTS)
    (root / "promotions.rules").write_text("\n".join(promotion(i) for i in range(size)))


# ---------------------------------------------------------------------------------------------
# The checkout data
# ---------------------------------------------------------------------------------------------

PUBLIC_CODE = "welcome0"  # typed in lower case: look-up normalises
POOL_PROMOTION = "p0001_pool"  # code unique pattern "N0-####-????"


def build_cart(rng: random.Random) -> dict[str, Any]:
    items = []
    for n in range(CART_LINES):
        category = CATEGORIES[n % len(CATEGORIES)] if n < len(CATEGORIES) else rng.choice(CATEGORIES)
        items.append({"sku": f"SKU-{n:03d}", "product": f"P{n}", "category": category,
                      "tags": ["winter"] if n % 3 == 0 else [], "quantity": rng.choice((1, 1, 1, 2, 2, 3, 4)),
                      "unit_price": f"{rng.uniform(4, 90):.2f}"})
    return {"currency": "EUR", "country": "FR", "channel": "web", "shipping": "4.90", "items": items}


def build_contact(contact_id: str) -> dict[str, Any]:
    return {"id": contact_id, "email": f"{contact_id}@example.fr", "country": "FR", "language": "fr-FR",
            "created_at": "2025-03-14T12:00:00+01:00", "consents": {"email": True}, "tags": ["newsletter"],
            "tier": "silver"}


def build_orders(contact_id: str, rng: random.Random) -> list[dict[str, Any]]:
    return [{"id": f"{contact_id}-o{n}", "contact_id": contact_id, "currency": "EUR",
             "created_at": (NOW - dt.timedelta(days=20 + 60 * n + rng.randint(0, 20))).isoformat(),
             "status": ("paid", "paid", "refunded", "paid", "paid")[n], "total": f"{rng.uniform(20, 150):.2f}",
             "channel": "web", "country": "FR"} for n in range(5)]


@dataclass
class Checkout:
    """One cart at checkout, as a shop would pass it to `evaluate`."""

    cart: dict[str, Any]
    contact: Any
    orders: list[Any]
    codes: tuple[str, ...]
    new_customers: bool = False
    """Each evaluation by another customer (another contact id, nothing of theirs in the caches)."""
    served: int = 0

    def evaluate(self, engine: relance.Engine) -> relance.Evaluation:
        contact = self.contact
        if self.new_customers:
            self.served += 1
            contact = {**contact, "id": f"{contact['id']}-{self.served}"}
        return engine.evaluate(self.cart, contact, self.codes, NOW, orders=self.orders)


def add_code(engine: relance.Engine, promotion: str, code: str) -> None:
    """One pool code in the store (what issuing or an import would have written)."""
    with engine.store.engine.begin() as conn:
        conn.execute(S.codes.insert().values(code_key=normalize_code(code), code=code, promotion=promotion,
                                             issued_at=NOW))


def seed_redemptions(engine: relance.Engine, rng: random.Random) -> int:
    """A few past redemptions per limited promotion, by other contacts (limits read real rows)."""
    batches, rows = [], []
    for promotion_ in engine.rules.promotions.values():
        if not promotion_.limits.any:
            continue
        for n in range(rng.randint(3, 12)):
            key = f"seed:{promotion_.name}:{n}"
            at = NOW - dt.timedelta(days=rng.randint(0, 400), seconds=rng.randint(0, 86399))
            batches.append({"key": key, "order_id": key, "kind": "redeem", "state": "redeemed", "created_at": at,
                            "result": {}})
            rows.append({"batch_key": key, "order_id": key, "promotion": promotion_.name, "code_key": None,
                         "contact_id": f"seed-{rng.randint(1, 5000)}", "amount_minor": rng.randint(100, 2000),
                         "currency": "EUR", "at": at, "state": "redeemed", "expires_at": None})
    with engine.store.engine.begin() as conn:
        if batches:
            conn.execute(S.redemption_batches.insert(), batches)
            conn.execute(S.redemptions.insert(), rows)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# 1. evaluate latency
# ---------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    index = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class Latency:
    size: int
    engine: relance.Engine
    reference: relance.Evaluation
    samples_ns: list[int]
    cpu_ns: list[int]
    differing: int = 0
    checkout: Checkout | None = None
    """The checkout this row evaluates (None: the one given to evaluate_bench)."""
    label: str = ""

    def us(self, q: float, cpu: bool = False) -> float:
        return percentile(sorted(self.cpu_ns if cpu else self.samples_ns), q) / 1000


def reference_ms() -> float:
    """A fixed pure-Python workload (a loop over a dict and integers), best of three, in ms: how
    fast this machine runs Python at this moment. Shared machines differ from one another and
    from hour to hour (twice as slow is common): the latency figures read against it."""
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        table: dict[int, int] = {}
        total = 0
        for i in range(300_000):
            table[i & 1023] = i
            total += table.get((i * 7) & 1023, 0)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def evaluate_bench(folder: Path, checkout: Checkout, runs: int, warmup: int, rounds: int) -> list[Latency]:
    rng = random.Random(7)
    results = []
    for size in SIZES:
        root = folder / f"rules{size}"
        write_rules(root, size)
        rules = relance.load(root)
        engine = relance.Engine(rules, store=None)
        add_code(engine, POOL_PROMOTION, checkout.codes[1])
        seeded = seed_redemptions(engine, rng)
        reference = checkout.evaluate(engine)
        auto = sum(1 for p in rules.promotions.values() if p.automatic)
        open_now = len(rules.automatic_at(NOW))
        print(f"{size:>5} promotions: {len(rules.public_codes)} public codes, "
              f"{sum(1 for p in rules.promotions.values() if p.pool)} pools, {auto} automatic "
              f"({open_now} open now), {seeded} seeded redemptions; the cart gets "
              f"{', '.join(a.promotion for a in reference.applied)}: discount {reference.discount.amount} + "
              f"shipping {reference.shipping_discount.amount} EUR, {len(reference.refused)} refusals")
        problems = [r for r in reference.refused if r.code is not None]
        if problems:
            sys.exit(f"ERROR: a typed code is refused at size {size}: {problems}")
        for _ in range(warmup):
            checkout.evaluate(engine)
        results.append(Latency(size, engine, reference, [], []))
    # the same cart at 1,000 promotions, the customer's record and orders validated once beforehand
    # (a shop can keep them for the session): what validating the history costs on every call
    known = Checkout(checkout.cart, relance.Contact.model_validate(checkout.contact),
                     [relance.Order.model_validate(o) for o in checkout.orders], checkout.codes)
    results.append(Latency(1000, results[-1].engine, results[-1].reference, [], [], checkout=known,
                           label="1000 *"))
    # the same cart at 1,000 promotions, each time by a customer the caches have not seen
    strangers = Checkout(checkout.cart, checkout.contact, checkout.orders, checkout.codes, new_customers=True)
    results.append(Latency(1000, results[-2].engine, results[-2].reference, [], [], checkout=strangers,
                           label="1000 **"))
    per_round = max(1, runs // rounds)
    for _ in range(rounds):  # interleaved, so every size sees the same machine state
        for latency in results:
            engine, samples, cpu = latency.engine, latency.samples_ns, latency.cpu_ns
            this = latency.checkout or checkout
            gc.collect()
            for _ in range(per_round):
                cpu_start = time.thread_time_ns()
                start = time.perf_counter_ns()
                outcome = this.evaluate(engine)
                samples.append(time.perf_counter_ns() - start)
                cpu.append(time.thread_time_ns() - cpu_start)
                # compared at once, not kept: a shop does not hold its evaluations, and hundreds kept
                # alive would make the garbage collector's full passes part of what is measured
                if this.new_customers:
                    outcome = dataclasses.replace(outcome, contact_id=latency.reference.contact_id)
                latency.differing += outcome != latency.reference
    return results


# ---------------------------------------------------------------------------------------------
# 2. redemptions per second
# ---------------------------------------------------------------------------------------------


@dataclass
class Order:
    """An order to redeem: its evaluation (computed once, outside the timing) and the pool code it typed."""

    evaluation: relance.Evaluation
    order_id: str
    code: str


def prepare_orders(rules: relance.RuleSet, cart: dict[str, Any], count: int, tag: str) -> list[Order]:
    """`count` evaluations, each of a distinct contact typing the public code and its own pool code
    (evaluated once over a private store holding the codes; each timed store gets the codes too)."""
    rng = random.Random(tag)
    engine = relance.Engine(rules, store=None)
    codes = [f"N0-{n:04d}-{tag}" for n in range(count)]
    insert_codes(engine.store.engine, codes)
    out = []
    for n, code in enumerate(codes):
        contact_id = f"{tag}-{n}"
        evaluation = engine.evaluate(cart, build_contact(contact_id), (PUBLIC_CODE, code), NOW,
                                     orders=build_orders(contact_id, rng))
        if len(evaluation.applied) < 3 or any(r.code for r in evaluation.refused):
            sys.exit(f"ERROR: order {contact_id} does not get its codes: {evaluation.refused}")
        out.append(Order(evaluation, f"order-{tag}-{n}", code))
    engine.store.engine.dispose()
    return out


def insert_codes(sql_engine: Any, codes: Sequence[str]) -> None:
    with sql_engine.begin() as conn:
        conn.execute(S.codes.insert(), [{"code_key": normalize_code(c), "code": c, "promotion": POOL_PROMOTION,
                                         "issued_at": NOW} for c in codes])


def redeem_all(engine: relance.Engine, orders: Sequence[Order], threads: int) -> float:
    """Seconds to redeem every order: one after another, or by `threads` threads from one queue."""

    def redeem(order: Order) -> None:
        receipt = engine.redeem(order.evaluation, order.order_id, now=NOW)
        if len(receipt.redemptions) != len(order.evaluation.applied) or receipt.replayed:
            raise AssertionError(f"{order.order_id}: {receipt}")

    start = time.perf_counter()
    if threads == 1:
        for order in orders:
            redeem(order)
    else:
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(redeem, orders):  # re-raises the first error
                pass
    return time.perf_counter() - start


@dataclass
class StoreResult:
    name: str
    sequential_per_s: float
    threaded_per_s: float
    rows_per_order: float
    codes_s: float | None


def store_bench(name: str, url: str, rules: relance.RuleSet, sequential: Sequence[Order],
                threaded: Sequence[Order], codes: int | None) -> StoreResult:
    engine = relance.Engine(rules, store=url)
    try:
        seed_redemptions(engine, random.Random(11))
        insert_codes(engine.store.engine, [o.code for o in (*sequential, *threaded)])
        warm, timed = sequential[:10], sequential[10:]
        redeem_all(engine, warm, 1)  # connections, statement caches
        seq_s = redeem_all(engine, timed, 1)
        thr_s = redeem_all(engine, threaded, 4)
        rows = statistics.fmean(len(o.evaluation.applied) for o in sequential)
        with engine.store.engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(S.redemptions).where(S.redemptions.c.order_id
                                                                                          .like("order-%")))
        expected = round(rows * len(sequential)) + sum(len(o.evaluation.applied) for o in threaded)
        if stored != expected:
            sys.exit(f"ERROR: {name}: {stored} redemption rows stored, {expected} expected")
        print(f"{name}: {len(timed)} orders one after another in {seq_s:.2f} s ({len(timed) / seq_s:.0f}/s, "
              f"{seq_s / len(timed) * 1000:.1f} ms each), {len(threaded)} with 4 threads in {thr_s:.2f} s "
              f"({len(threaded) / thr_s:.0f}/s); {rows:.1f} promotions (rows) per order")
        codes_s = issue(name, engine, codes) if codes is not None else None
        return StoreResult(name, len(timed) / seq_s, len(threaded) / thr_s, rows, codes_s)
    finally:
        engine.store.engine.dispose()


def issue(name: str, engine: relance.Engine, count: int) -> float | None:
    """Seconds to issue `count` unique codes of one pool into the store (None if issuing fails)."""
    from relance.engine.checkout.pools import issue_codes

    promotion_, pattern = "p0011_pool", "N1-####-????"
    start = time.perf_counter()
    try:
        issued = issue_codes(engine.store.engine, promotion_, pattern, count, NOW, rng=random.Random(3))
    except (TypeError, ValueError, SQLAlchemyError) as error:  # a young module: report, keep the other results
        print(f"{name}: issue_codes failed: {error!r}")
        return None
    elapsed = time.perf_counter() - start
    with engine.store.engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(S.codes).where(S.codes.c.promotion == promotion_))
    if len(set(issued)) != count or stored != count:
        sys.exit(f"ERROR: {name}: {len(set(issued))} distinct codes returned, {stored} stored, {count} asked")
    print(f"{name}: {count:,} unique codes of \"{pattern}\" issued in {elapsed:.2f} s ({count / elapsed:,.0f}/s)")
    return elapsed


def postgres_admin(args: argparse.Namespace) -> str | None:
    if args.no_postgres:
        print("PostgreSQL skipped (--no-postgres)")
        return None
    url = args.postgres or PG_DEFAULT
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2):
            return url
    except Exception as error:
        if args.postgres:
            raise SystemExit(f"cannot reach PostgreSQL at {url}: {error}") from error
        print(f"no PostgreSQL server at {url} ({type(error).__name__}): PostgreSQL skipped")
        return None


def with_postgres(admin_url: str, run: Callable[[str], StoreResult]) -> StoreResult:
    """Run on a throwaway database created for the run and dropped after it."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"relance_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
        return run(url.render_as_string(hide_password=False))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def codes_available() -> bool:
    try:
        from relance.engine.checkout.pools import issue_codes  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run: fewer evaluations, orders and codes")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help=f"a PostgreSQL server (default {PG_DEFAULT})")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    runs, warmup, rounds = (400, 50, 4) if args.quick else (2000, 200, 10)
    orders = 200 if args.quick else 1000
    code_count = 100_000 if args.quick else 1_000_000
    codes = code_count if codes_available() else None

    rng = random.Random(42)
    contact_id = "c-bench"
    checkout = Checkout(build_cart(rng), build_contact(contact_id), build_orders(contact_id, rng),
                        (PUBLIC_CODE, "n0-2345-abcd"))
    print(f"relance checkout bench: now = {NOW.isoformat()}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}{', quick run' if args.quick else ''}")
    print(f"cart: {CART_LINES} lines, {sum(i['quantity'] for i in checkout.cart['items'])} units, shipping 4.90 EUR, "
          f"FR, web; contact with {len(checkout.orders)} past orders; codes typed: {', '.join(checkout.codes)}")

    with tempfile.TemporaryDirectory(prefix="relance-checkout-") as tmp:
        folder = Path(tmp)
        reference_before = reference_ms()
        latencies = evaluate_bench(folder, checkout, runs, warmup, rounds)
        reference_after = reference_ms()
        print(f"\nevaluate latency ({runs} timed evaluations per size, interleaved in {rounds} rounds, "
              f"after {warmup} warm-up):")
        print(f"{'promotions':>10} {'p50 µs':>8} {'p90 µs':>8} {'p99 µs':>8} {'max µs':>8} {'mean µs':>8} "
              f"{'cpu p50':>8} {'cpu p99':>8}  deterministic")
        for lat in latencies:
            mean = statistics.fmean(lat.samples_ns) / 1000
            print(f"{lat.label or lat.size:>10} {lat.us(50):>8.0f} {lat.us(90):>8.0f} {lat.us(99):>8.0f} {lat.us(100):>8.0f} "
                  f"{mean:>8.0f} {lat.us(50, cpu=True):>8.0f} {lat.us(99, cpu=True):>8.0f}  "
                  f"{'yes' if lat.differing == 0 else f'NO ({lat.differing} differ)'}")
        print("(wall-clock times; cpu: this thread's CPU time for the same calls, which other processes "
              "competing for the CPUs inflate much less)")
        print("* the same cart at 1,000 promotions, the contact and its 5 orders validated once beforehand")
        print("** the same cart at 1,000 promotions, each time by another customer (their own redemptions "
              "read from the store, the promotions' totals from the cache)")
        print(f"machine speed: a fixed pure-Python loop took {reference_before:.0f} ms before these "
              f"evaluations and {reference_after:.0f} ms after (lower is faster)")
        if any(lat.differing for lat in latencies):
            sys.exit("ERROR: evaluate is not deterministic")
        big = next(lat for lat in latencies if lat.size == 1000 and lat.checkout is None)
        small = next(lat for lat in latencies if lat.size == 10)
        p99_1000, p99_10 = big.us(99), small.us(99)

        rules = big.engine.rules
        print(f"\nredemptions against the 1,000-promotion rule set ({orders} orders one after another, "
              f"{orders} more with 4 threads, each order a distinct contact typing a public and a pool code)")
        if codes is None:
            print("then code issuing: relance.engine.checkout.pools.issue_codes does not exist, not measured")
        else:
            print(f"then code issuing: {code_count:,} codes per store"
                  + (" (--quick: 100,000, not 1,000,000)" if args.quick else ""))
        sequential = prepare_orders(rules, checkout.cart, orders, "seq")
        threaded = prepare_orders(rules, checkout.cart, orders, "thr")
        results = [store_bench("sqlite", f"sqlite:///{folder / 'store.db'}", rules, sequential, threaded, codes)]
        admin = postgres_admin(args)
        if admin:
            results.append(with_postgres(admin, lambda url: store_bench("postgresql", url, rules, sequential,
                                                                        threaded, codes)))

    print(f"\nsummary (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other processes "
          "competing for the CPUs inflate wall-clock times much more than the cpu columns)")
    print(f"  evaluate p99: {p99_1000:.0f} µs at 1,000 promotions (target < 1000), {p99_10:.0f} µs at 10: "
          f"x{p99_1000 / p99_10:.2f} (target < 3); median {big.us(50):.0f} µs; machine speed (reference loop) "
          f"{reference_before:.0f}-{reference_after:.0f} ms")
    for result in results:
        codes_text = "n/a" if result.codes_s is None else f"{result.codes_s:.2f} s"
        print(f"  {result.name}: {result.sequential_per_s:.0f} redemptions/s sequential, "
              f"{result.threaded_per_s:.0f}/s with 4 threads; {code_count:,} codes: {codes_text}")
    if codes is None:
        print("  codes_1m_s=n/a")
    else:
        scale = 1_000_000 / code_count
        keys = " ".join(f"codes_1m_s{'' if r.name == 'sqlite' else '_' + r.name}="
                        f"{'n/a' if r.codes_s is None else f'{r.codes_s * scale:.2f}'}" for r in results)
        print(f"  {keys}" + (" (extrapolated from 100,000 codes)" if args.quick else ""))
    print(f"p99_us_1000={p99_1000:.1f} p99_ratio_1000_vs_10={p99_1000 / p99_10:.2f}")


if __name__ == "__main__":
    main()
