"""Hypothesis strategies for checkout: random carts and random promotions written as rule text.

Promotions are drawn as clauses, written as `.rules` declarations or YAML entries, so a test can
write the same set in another order, over other files, in either syntax. Carts mostly keep the
attributes of a sku the same on every line that repeats it (as a shop's catalogue does), repeat
whole lines, and let quantities and prices differ per line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml
from hypothesis import strategies as st

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
SKUS = ("A", "B", "C", "D", "E")
CATEGORIES = ("shoes", "socks", "gift-cards", None)
TAGS = ("winter", "sale")


def euros(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


# ---- carts ----

prices = st.one_of(st.just(1), st.integers(1, 99), st.integers(100, 20_000), st.integers(10**6, 10**11))
"""Unit prices in cents: the smallest, small, ordinary and very large."""


@st.composite
def carts(draw: Any, max_lines: int = 8) -> dict[str, Any]:
    catalogue = {sku: {"category": draw(st.sampled_from(CATEGORIES)),
                       "tags": draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))} for sku in SKUS}
    consistent = draw(st.integers(0, 3)) > 0  # now and then, a messy catalogue: one sku, several categories
    lines = []
    first: dict[str, dict[str, Any]] = {}
    for _ in range(draw(st.integers(1, max_lines))):
        sku = draw(st.sampled_from(SKUS))  # five skus for up to eight lines: repeats are common
        if sku in first and draw(st.booleans()):
            line = dict(first[sku])  # the same line again (a product added twice)
        else:
            attributes = catalogue[sku] if consistent else {"category": draw(st.sampled_from(CATEGORIES)),
                                                            "tags": draw(st.lists(st.sampled_from(TAGS), max_size=2,
                                                                                  unique=True))}
            line = {"sku": sku, **attributes, "quantity": draw(st.integers(1, 5)), "unit_price": euros(draw(prices))}
        first.setdefault(sku, line)
        lines.append(line)
    cart: dict[str, Any] = {"currency": "EUR", "items": lines}
    shipping = draw(st.one_of(st.none(), st.just(0), st.integers(1, 3000), st.integers(1, 10**7)))
    if shipping is not None:
        cart["shipping"] = euros(shipping)
    return cart


def interchangeable(cart: dict[str, Any]) -> bool:
    """Whether the lines of each sku are all alike (same quantity and price), so that nothing but
    their position tells them apart."""
    seen: dict[str, tuple[Any, Any]] = {}
    for line in cart["items"]:
        if seen.setdefault(line["sku"], (line["quantity"], line["unit_price"])) != (line["quantity"],
                                                                                   line["unit_price"]):
            return False
    return True


# ---- promotions ----

percents = st.one_of(st.sampled_from(["1%", "10%", "12.5%", "33.33%", "50%", "99.99%", "100%"]),
                     st.integers(1, 100).map(lambda n: f"{n}%"))
amounts = st.one_of(st.sampled_from(["0.01 EUR", "1 EUR", "5 EUR", "9.99 EUR", "20 EUR", "1000 EUR"]),
                    st.integers(1, 50_000).map(lambda c: f"{euros(c)} EUR"))
item_filters = st.sampled_from([
    "", ' where category == "shoes"', ' where category != "socks"', ' where sku == "A"', ' where sku in ["A", "C"]',
    " where quantity >= 2", " where unit_price >= 10 EUR", ' where "winter" in tags', " where category == null",
])
conditions = st.one_of(
    amounts.map(lambda a: f"cart.subtotal >= {a}"),
    st.sampled_from(['any(cart.items where category == "shoes")', "count(cart.items) >= 2",
                     "sum(cart.items.quantity) >= 4", 'not any(cart.items where sku == "E")']),
)


@st.composite
def capped(draw: Any) -> str:
    return f" up to {draw(amounts)}" if draw(st.booleans()) else ""


@st.composite
def rewards(draw: Any) -> str:
    kind = draw(st.sampled_from(["off_order", "off_items", "off_each", "off_shipping", "free_shipping", "bxgy",
                                 "fixed_price", "gift"]))
    where = draw(item_filters)
    percent = draw(st.booleans())
    value = draw(percents) if percent else draw(amounts)
    cap = draw(capped()) if percent else ""
    if kind == "off_order":
        return f"{value} off order{cap}"
    if kind == "off_items":
        return f"{value} off items{where}{cap}"
    if kind == "off_each":
        return f"{value} off each item{where}{cap}"
    if kind == "off_shipping":
        return f"{value} off shipping{cap}"
    if kind == "free_shipping":
        return "free shipping"
    if kind == "bxgy":
        gift = draw(st.sampled_from(["free", f"{draw(percents)} off", f"{draw(amounts)} off"]))
        times = f" up to {draw(st.integers(1, 3))} times" if draw(st.booleans()) else ""
        items = f" items{where}" if where or draw(st.booleans()) else ""
        return f"buy {draw(st.integers(1, 3))} get {draw(st.integers(1, 2))} {gift}{items}{times}"
    if kind == "fixed_price":
        return f"fixed price {draw(amounts)} items{where}"
    return 'gift "TOTE"'


@dataclass(frozen=True)
class PromotionText:
    """A drawn promotion: its clauses as (keyword, text), written as a `.rules` declaration
    (`text`) or as a YAML entry (`yaml_entry`)."""

    name: str
    clauses: tuple[tuple[str, str], ...]
    code: str | None = None
    budget_minor: int | None = None

    @property
    def rewards(self) -> tuple[str, ...]:
        return tuple(value for key, value in self.clauses if key == "reward")

    @property
    def text(self) -> str:
        lines = [f"promotion {self.name}:"]
        for key, value in self.clauses:
            if key == "code":
                lines.append(f'    code "{value}"')
            elif key == "base":
                lines.append(f"    base {value}")
            elif key == "exclusive":
                lines.append("    exclusive")
            elif key == "combines_with":
                lines.append(f"    combines with {value}")
            else:
                lines.append(f"    {key} {value}")
        return "\n".join(lines) + "\n"

    def yaml_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        for key, value in self.clauses:
            if key == "reward":
                entry.setdefault("reward", []).append(value)
            elif key == "priority":
                entry["priority"] = int(value)
            elif key == "exclusive":
                entry["exclusive"] = True
            else:
                entry[key] = value
        return entry


def yaml_file(promos: Sequence[PromotionText]) -> str:
    """The promotions as a YAML rule file (`promotions:` mapping names to their clauses)."""
    return yaml.safe_dump({"promotions": {p.name: p.yaml_entry() for p in promos}}, sort_keys=False)


@st.composite
def promotions(draw: Any, name: str) -> PromotionText:
    clauses: list[tuple[str, str]] = []
    code = None
    if draw(st.integers(0, 4)) == 0:
        code = name.upper() + "CODE"
        clauses.append(("code", code))
    if draw(st.integers(0, 3)) == 0:
        clauses.append(("when", draw(conditions)))
    clauses += [("reward", r) for r in draw(st.lists(rewards(), min_size=1, max_size=2))]
    if draw(st.integers(0, 3)) == 0:
        clauses.append(("exclude", "items where " + draw(st.sampled_from(['category == "gift-cards"', 'sku == "E"']))))
    base = draw(st.sampled_from([None, "before", "after"]))
    if base:
        clauses.append(("base", f"{base} discounts"))
    if draw(st.booleans()):
        clauses.append(("priority", str(draw(st.integers(0, 3)))))
    stacking = draw(st.sampled_from(["", "", "", "exclusive", "combines"]))
    if stacking == "exclusive":
        clauses.append(("exclusive", ""))
    elif stacking == "combines":
        classes = draw(st.lists(st.sampled_from(["order", "items", "shipping"]), max_size=3, unique=True))
        clauses.append(("combines_with", ", ".join(classes) if classes else "nothing"))
    budget = None
    if draw(st.integers(0, 4)) == 0:
        budget = draw(st.integers(1, 100_000))
        clauses.append(("limit", f"budget {euros(budget)} EUR"))
    return PromotionText(name, tuple(clauses), code, budget)


@st.composite
def promotion_sets(draw: Any, max_size: int = 5) -> tuple[PromotionText, ...]:
    count = draw(st.integers(1, max_size))
    return tuple(draw(promotions(f"p{i}")) for i in range(count))


max_discounts = st.sampled_from([None, None, "30%", "0%", "12.5%", "100%", "25 EUR", "0.01 EUR"])
guards = st.fixed_dictionaries({"exclusive": st.sampled_from(["priority", "best"]), "max_discount": max_discounts})
"""`guards:` of relance.yaml: how exclusive promotions compete, and an optional `max_discount`."""


def project_file(guard: dict[str, Any]) -> str:
    text = "relance: 1\ncurrency: EUR\ntimezone: Europe/Paris\nguards:\n"
    return text + "".join(f"  {key}: {value}\n" for key, value in guard.items() if value is not None)
