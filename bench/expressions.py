"""Time relance compiled expressions against hand-written Python and peer engines.

Usage: python bench/expressions.py [--quick]

Every engine evaluates the same suite of conditions over one deterministic
fixture (random.Random(42)); results must agree before anything is timed.
The last line printed is machine-readable:

    ratio_vs_handwritten=X ratio_vs_fastest_peer=Y

X is the median over the suite of relance µs / hand-written µs, Y the median of
relance µs / fastest peer µs (peers that cannot express a condition are left
out of that condition's fastest peer).

Fairness rules:
- relance gets ``relance.Context.from_mapping(fixture)`` built once; the
  hand-written Python reads that very same context object.
- Peers compile/parse once and get their input data built once, outside the
  timing loop. Money is a plain number with the currency checked as a separate
  string equality (relance only compares money of the same currency). The cart
  subtotal is precomputed for peers (relance computes it when converting the
  context, also outside the loop).
- rule-engine gets Decimal amounts and aware datetimes (its native types);
  cel-python gets its celtypes activation (converted once) and its
  CompiledRunner (the faster of its two runners); zen-engine and JsonLogic get
  floats and dates as epoch seconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import celpy
import json_logic
import rule_engine
import zen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/expressions.py` from a checkout
import relance  # noqa: E402

JsonLogicRule = dict[str, Any]
Thunk = Callable[[], Any]

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CART_SIZE = 20
SHOES_PAIR_INDEX = 17  # the only item matching case 3: 18th of 20
ORDER_COUNT = 50


def build_fixture(seed: int = 42) -> dict[str, Any]:
    """Return the JSON-like context shared by every engine."""
    rng = random.Random(seed)
    contact = {
        "id": "c1",
        "email": f"user{rng.randint(1000, 9999)}@gmail.com",
        "country": "FR",
        "created_at": (NOW - timedelta(days=12, hours=rng.randint(1, 23))).isoformat(),
        "consents": {"email": True, "sms": False, "push": False},
        "tags": [],
    }
    orders = [
        {
            "id": f"o{i}",
            "created_at": (NOW - timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1439))).isoformat(),
            "status": rng.choice(["paid", "paid", "refunded", "pending", "cancelled"]),
            "total": f"{rng.uniform(5, 80):.2f}",
            "currency": "EUR",
            "items": [],
        }
        for i in range(ORDER_COUNT)
    ]
    items = []
    for i in range(CART_SIZE):
        category = rng.choice(["shirts", "hats", "bags", "socks", "shoes"])
        quantity = rng.randint(1, 4)
        if i == SHOES_PAIR_INDEX:
            category, quantity = "shoes", 2
        elif category == "shoes":
            quantity = 1
        items.append({"sku": f"S{i}", "category": category, "quantity": quantity, "unit_price": f"{rng.uniform(3, 60):.2f}"})
    return {
        "now": NOW.isoformat(),
        "contact": contact,
        "orders": orders,
        "cart": {"currency": "EUR", "country": "FR", "items": items},
    }


def peer_data(fixture: dict[str, Any], money: Callable[[Decimal], Any], time: Callable[[datetime], Any]) -> dict[str, Any]:
    """Convert the fixture for a peer: amounts via `money`, timestamps via `time`, subtotal precomputed."""
    contact, cart = fixture["contact"], fixture["cart"]
    subtotal = sum((Decimal(i["unit_price"]) * i["quantity"] for i in cart["items"]), Decimal(0))
    return {
        "now": time(datetime.fromisoformat(fixture["now"])),
        "contact": {**contact, "created_at": time(datetime.fromisoformat(contact["created_at"]))},
        "orders": [
            {**o, "created_at": time(datetime.fromisoformat(o["created_at"])), "total": money(Decimal(o["total"]))}
            for o in fixture["orders"]
        ],
        "cart": {
            **cart,
            "subtotal": money(subtotal),
            "items": [{**i, "unit_price": money(Decimal(i["unit_price"]))} for i in cart["items"]],
        },
    }


# Hand-written Python: reads the relance runtime context through attributes.
# timedelta.days is floor(total_seconds / 86400), i.e. relance's days_since.


def py_cart_fr(ctx: Any) -> bool:
    """Case 1."""
    subtotal = ctx.cart.subtotal
    return subtotal.currency == "EUR" and subtotal.amount >= 50 and ctx.contact.country == "FR"


def py_recent_gmail(ctx: Any) -> bool:
    """Case 2."""
    contact = ctx.contact
    return (ctx.now - contact.created_at).days <= 30 and contact.email.endswith("@gmail.com") and len(ctx.orders) >= 3


def py_shoes_pair(ctx: Any) -> bool:
    """Case 3."""
    return any(i.category == "shoes" and i.quantity >= 2 for i in ctx.cart.items)


def py_paid_total(ctx: Any) -> bool:
    """Case 4."""
    return sum(o.total.amount for o in ctx.orders if o.status == "paid" and o.total.currency == "EUR") >= 500


def py_country_optin(ctx: Any) -> bool:
    """Case 5."""
    contact = ctx.contact
    return contact.country in ("FR", "BE", "LU") and contact.consents.email


def var(path: str) -> JsonLogicRule:
    """JsonLogic variable reference."""
    return {"var": path}


@dataclass(frozen=True)
class Case:
    """One condition, written once per engine (None: the engine cannot express it)."""

    name: str
    relance: str
    python: Callable[[Any], bool]
    rule_engine: str
    cel: str | None
    zen: str
    json_logic: JsonLogicRule


# Peer notes: CEL has no sum/fold, so case 4 is n/a for cel-python. CEL int
# division truncates and JsonLogic has no floor: both equal floor for the past
# dates used here (JsonLogic uses floor(x) <= 30  <=>  x < 31). For peers,
# case 4 checks each paid order's currency, as relance's money sum does.
SUITE = [
    Case(
        name="1 subtotal>=50EUR & FR",
        relance='cart.subtotal >= 50 EUR and contact.country == "FR"',
        python=py_cart_fr,
        rule_engine='cart.currency == "EUR" and cart.subtotal >= 50 and contact.country == "FR"',
        cel='cart.currency == "EUR" && cart.subtotal >= 50.0 && contact.country == "FR"',
        zen='cart.currency == "EUR" and cart.subtotal >= 50 and contact.country == "FR"',
        json_logic={
            "and": [
                {"==": [var("cart.currency"), "EUR"]},
                {">=": [var("cart.subtotal"), 50]},
                {"==": [var("contact.country"), "FR"]},
            ]
        },
    ),
    Case(
        name="2 recent gmail 3+ orders",
        relance='days_since(contact.created_at) <= 30 and contact.email ends with "@gmail.com" and count(orders) >= 3',
        python=py_recent_gmail,
        rule_engine='(now - contact.created_at).days <= 30 and contact.email.ends_with("@gmail.com") and orders.length >= 3',
        cel='(now - contact.created_at).getSeconds() / 86400 <= 30 && contact.email.endsWith("@gmail.com") && size(orders) >= 3',
        zen='floor((now - contact.created_at) / 86400) <= 30 and endsWith(contact.email, "@gmail.com") and len(orders) >= 3',
        json_logic={
            "and": [
                {"<": [{"/": [{"-": [var("now"), var("contact.created_at")]}, 86400]}, 31]},
                {"==": [{"substr": [var("contact.email"), -len("@gmail.com")]}, "@gmail.com"]},
                {">=": [var("orders.length"), 3]},
            ]
        },
    ),
    Case(
        name="3 any shoes qty>=2 (20)",
        relance='any(cart.items where category == "shoes" and quantity >= 2)',
        python=py_shoes_pair,
        rule_engine='$any([i.category == "shoes" and i.quantity >= 2 for i in cart.items])',
        cel='cart.items.exists(i, i.category == "shoes" && i.quantity >= 2)',
        zen='some(cart.items, #.category == "shoes" and #.quantity >= 2)',
        json_logic={
            "some": [var("cart.items"), {"and": [{"==": [var("category"), "shoes"]}, {">=": [var("quantity"), 2]}]}]
        },
    ),
    Case(
        name="4 sum paid>=500EUR (50)",
        relance='sum(orders.total where status == "paid") >= 500 EUR',
        python=py_paid_total,
        rule_engine='$sum([o.total for o in orders if o.status == "paid" and o.currency == "EUR"]) >= 500',
        cel=None,
        zen='sum(map(filter(orders, #.status == "paid" and #.currency == "EUR"), #.total)) >= 500',
        json_logic={
            ">=": [
                {
                    "reduce": [
                        {"filter": [var("orders"), {"and": [{"==": [var("status"), "paid"]}, {"==": [var("currency"), "EUR"]}]}]},
                        {"+": [var("accumulator"), var("current.total")]},
                        0,
                    ]
                },
                500,
            ]
        },
    ),
    Case(
        name="5 country in list & optin",
        relance='contact.country in ["FR", "BE", "LU"] and contact.consents.email',
        python=py_country_optin,
        rule_engine='contact.country in ["FR", "BE", "LU"] and contact.consents.email',
        cel='contact.country in ["FR", "BE", "LU"] && contact.consents.email',
        zen='contact.country in ["FR", "BE", "LU"] and contact.consents.email',
        json_logic={"and": [{"in": [var("contact.country"), ["FR", "BE", "LU"]]}, var("contact.consents.email")]},
    ),
]


@dataclass(frozen=True)
class Engine:
    """An engine: which Case field it reads and how to turn that source into a zero-argument evaluator."""

    name: str
    field: str
    bind: Callable[[Any], Thunk]
    peer: bool = True


def build_engines(fixture: dict[str, Any]) -> list[Engine]:
    """Prepare every engine's input data once and return the engines."""
    ctx = relance.Context.from_mapping(fixture)
    rule_data = peer_data(fixture, money=lambda d: d, time=lambda t: t)
    cel_data = peer_data(fixture, money=float, time=lambda t: t)
    cel_activation = {key: celpy.json_to_cel(value) for key, value in cel_data.items()}
    cel_env = celpy.Environment(runner_class=celpy.CompiledRunner)
    plain_data = peer_data(fixture, money=float, time=lambda t: t.timestamp())
    return [
        Engine("relance", "relance", lambda src: partial(relance.compile_expression(src).evaluate, ctx), peer=False),
        Engine("python", "python", lambda fn: partial(fn, ctx), peer=False),
        Engine("rule-engine", "rule_engine", lambda src: partial(rule_engine.Rule(src).evaluate, rule_data)),
        Engine("cel-python", "cel", lambda src: partial(cel_env.program(cel_env.compile(src)).evaluate, cel_activation)),
        Engine("zen-engine", "zen", lambda src: partial(zen.compile_expression(src).evaluate, plain_data)),
        Engine("json-logic", "json_logic", lambda rule: partial(json_logic.jsonLogic, rule, plain_data)),
    ]


def time_per_call(fn: Thunk, target: float, repeat: int) -> float:
    """Best-of-`repeat` seconds per call, loops calibrated so one repeat takes about `target` seconds."""
    timer = timeit.Timer(fn)
    number = 1
    while (elapsed := timer.timeit(number)) < target / 10:
        number *= 10
    number = max(1, round(number * target / elapsed))
    return min(timer.repeat(repeat, number)) / number


def bind_suite(engines: list[Engine]) -> list[dict[str, Thunk | None]]:
    """Compile every case for every engine; None where the engine cannot express the case."""
    bound = []
    for case in SUITE:
        row: dict[str, Thunk | None] = {}
        for engine in engines:
            source = getattr(case, engine.field)
            row[engine.name] = None if source is None else engine.bind(source)
        bound.append(row)
    return bound


def check_agreement(bound: list[dict[str, Thunk | None]]) -> list[bool]:
    """Evaluate each case once per engine; exit with an error listing every disagreement."""
    expected, errors = [], []
    for case, row in zip(SUITE, bound, strict=True):
        results = {name: bool(fn()) for name, fn in row.items() if fn is not None}
        reference = results["python"]
        expected.append(reference)
        errors += [
            f"  case {case.name!r}: {name} -> {value}, hand-written python -> {reference}"
            for name, value in results.items()
            if value != reference
        ]
    if errors:
        sys.exit("ERROR: engines disagree:\n" + "\n".join(errors))
    return expected


def render(headers: list[str], rows: list[list[str]], title: str) -> None:
    """Print a table with rich if available, else as aligned plain text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
        print(title)
        for line in [headers, *rows]:
            print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))))
        return
    table = Table(title=title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def main() -> None:
    """Run the suite and print the table, notes and the final ratio line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~10x shorter smoke run")
    args = parser.parse_args()
    target = 0.0075 if args.quick else 0.075

    engines = build_engines(build_fixture())
    peers = [e.name for e in engines if e.peer]
    bound = bind_suite(engines)
    results = check_agreement(bound)

    rows, vs_python, vs_peer = [], [], []
    for case, row, result in zip(SUITE, bound, results, strict=True):
        micros = {name: time_per_call(fn, target, repeat=5) * 1e6 for name, fn in row.items() if fn is not None}
        fastest_peer = min(micros[name] for name in peers if name in micros)
        vs_python.append(micros["relance"] / micros["python"])
        vs_peer.append(micros["relance"] / fastest_peer)
        rows.append(
            [case.name, str(result)]
            + [f"{micros[e.name]:.2f}" if e.name in micros else "n/a" for e in engines]
            + [f"{vs_python[-1]:.2f}", f"{vs_peer[-1]:.2f}"]
        )

    print("Conditions (relance syntax):")
    for case in SUITE:
        print(f"  {case.name.split()[0]}. {case.relance}")
    render(
        ["condition", "result", *(e.name for e in engines), "rel/py", "rel/best peer"],
        rows,
        title=f"µs per evaluation (best of 5 repeats, ~{target * 1e3:g} ms each)",
    )
    print(f"Case 3: the only matching item is #{SHOES_PAIR_INDEX + 1} of {CART_SIZE}.")
    print("n/a: cel-python cannot express case 4 (standard CEL has no sum/fold); left out of that case's fastest peer.")
    print(
        f"ratio_vs_handwritten={statistics.median(vs_python):.2f} "
        f"ratio_vs_fastest_peer={statistics.median(vs_peer):.2f}"
    )


if __name__ == "__main__":
    main()
