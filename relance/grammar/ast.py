"""The typed AST: frozen dataclasses, each node with its source span.

Spans are excluded from equality so that `parse(format(tree)) == tree` compares meaning, not
layout. Nodes carry no behaviour: the checker, the backends and the formatter dispatch on type.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node stands in its file: 1-based lines and columns, end exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False, kw_only=True)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Node:
    span: Span | None = _span()


# ---- expressions ----


@dataclass(frozen=True, slots=True)
class Expr(Node):
    pass


@dataclass(frozen=True, slots=True)
class Number(Expr):
    value: Decimal


@dataclass(frozen=True, slots=True)
class Percent(Expr):
    """`10%`: `value` is the number written (10), its meaning is value / 100."""

    value: Decimal


@dataclass(frozen=True, slots=True)
class MoneyLit(Expr):
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class DurationLit(Expr):
    """`3 months`; unit is singular: minute, hour, day, week, month, year."""

    amount: int
    unit: str


@dataclass(frozen=True, slots=True)
class DateLit(Expr):
    value: dt.date


@dataclass(frozen=True, slots=True)
class DateTimeLit(Expr):
    """A wall-clock time; `zone` is an IANA name, `Z` or `+02:00`, or None for the rule set's."""

    value: dt.datetime
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class String(Expr):
    value: str


@dataclass(frozen=True, slots=True)
class Bool(Expr):
    value: bool


@dataclass(frozen=True, slots=True)
class Null(Expr):
    pass


@dataclass(frozen=True, slots=True)
class ListLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Name(Expr):
    name: str


@dataclass(frozen=True, slots=True)
class Attribute(Expr):
    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A named function from the fixed library (`days_since`, `lower`...)."""

    func: str
    args: tuple[Expr, ...]


AGGREGATES = ("count", "sum", "avg", "min", "max", "first", "last", "any", "all")


@dataclass(frozen=True, slots=True)
class Aggregate(Expr):
    """`count(orders where status == "paid")`: `where` sees the fields of each element."""

    func: str
    source: Expr
    where: Expr | None = None


@dataclass(frozen=True, slots=True)
class Negate(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """Arithmetic: + - * /."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Logic(Expr):
    """`and` / `or`."""

    op: str
    left: Expr
    right: Expr


COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "starts with", "ends with", "contains")


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InSegment(Expr):
    """`contact in segment sleepers` (or `not in segment`)."""

    subject: Expr
    segment: str
    negated: bool = False


# ---- rewards ----


@dataclass(frozen=True, slots=True)
class Target(Node):
    pass


@dataclass(frozen=True, slots=True)
class OrderTarget(Target):
    pass


@dataclass(frozen=True, slots=True)
class ShippingTarget(Target):
    pass


@dataclass(frozen=True, slots=True)
class ItemsTarget(Target):
    """`items where category == "shoes"`; no filter means every item. `each item where ...`
    (each) gives an amount off every matching unit rather than off the matching items together."""

    where: Expr | None = None
    each: bool = False


@dataclass(frozen=True, slots=True)
class Reward(Node):
    pass


@dataclass(frozen=True, slots=True)
class RewardOff(Reward):
    """`10% off order up to 20 EUR`, `5 EUR off items where ...`."""

    amount: Expr
    target: Target
    cap: Expr | None = None


@dataclass(frozen=True, slots=True)
class FreeShipping(Reward):
    pass


@dataclass(frozen=True, slots=True)
class BuyXGetY(Reward):
    """`buy 2 get 1 free items where ...`; `discount` None means the units are free."""

    buy: int
    get: int
    discount: Expr | None = None
    items: ItemsTarget | None = None
    times: int | None = None
    """`up to 3 times`: at most this many groups per cart (None: as many as the cart holds)."""


@dataclass(frozen=True, slots=True)
class FixedPrice(Reward):
    price: Expr
    items: ItemsTarget


@dataclass(frozen=True, slots=True)
class Gift(Reward):
    sku: str


# ---- promotion clauses ----


@dataclass(frozen=True, slots=True)
class Clause(Node):
    pass


@dataclass(frozen=True, slots=True)
class CodeClause(Clause):
    """`code "SOCIAL500"` (public), `code unique pattern "WELC-####"` (a generated pool) or
    `code imported` (a pool loaded from a file); a pool's codes may expire after their issue."""

    unique: bool
    value: str
    expires_after: DurationLit | None = None

    @property
    def pool(self) -> bool:
        """Codes live in the store (generated or imported), not in the rule text."""
        return self.unique


@dataclass(frozen=True, slots=True)
class WhenClause(Clause):
    condition: Expr


@dataclass(frozen=True, slots=True)
class RewardClause(Clause):
    reward: Reward


@dataclass(frozen=True, slots=True)
class ExcludeClause(Clause):
    items: ItemsTarget


@dataclass(frozen=True, slots=True)
class Limit(Node):
    """`1 per contact` (kind "per", unit contact), `1 per contact per month` (period month),
    `5000 total`, `budget 20000 EUR`."""

    kind: str
    count: int = 0
    unit: str | None = None
    budget: MoneyLit | None = None
    period: str | None = None


@dataclass(frozen=True, slots=True)
class LimitClause(Clause):
    limits: tuple[Limit, ...]


@dataclass(frozen=True, slots=True)
class Validity(Node):
    """One item of `valid`: kind is between, from, until, days or hours."""

    kind: str
    start: DateLit | DateTimeLit | None = None
    end: DateLit | DateTimeLit | None = None
    days: tuple[tuple[str, str], ...] = ()
    hours: tuple[dt.time, dt.time] | None = None


@dataclass(frozen=True, slots=True)
class ValidClause(Clause):
    items: tuple[Validity, ...]


@dataclass(frozen=True, slots=True)
class Restriction(Node):
    """One item of `only`: kind is country, language, channel, email, contact (with `values`),
    segment (with `segment`) or first_order."""

    kind: str
    values: tuple[str, ...] = ()
    segment: str | None = None


@dataclass(frozen=True, slots=True)
class OnlyClause(Clause):
    """`only country "FR" or "BE", first order`: who may have the promotion, each refusal with
    its own reason (wrong_country...), unlike a `when` condition."""

    restrictions: tuple[Restriction, ...]


@dataclass(frozen=True, slots=True)
class PriorityClause(Clause):
    """`priority 10`: higher goes first; equal priorities are ordered by name."""

    value: int


@dataclass(frozen=True, slots=True)
class ExclusiveClause(Clause):
    """`exclusive`: applies alone, or not at all."""


@dataclass(frozen=True, slots=True)
class CombinesClause(Clause):
    """`combines with order, shipping`: the classes of promotions this one may stack with."""

    classes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BaseClause(Clause):
    """`base before discounts`: the condition and the reward see the cart as it was before the
    promotions applied ahead of this one (the default is after)."""

    before: bool


# ---- declarations ----


@dataclass(frozen=True, slots=True)
class Declaration(Node):
    name: str
    title: str | None

    @property
    def kind(self) -> str:
        return type(self).__name__.removesuffix("Decl").lower()


@dataclass(frozen=True, slots=True)
class SegmentDecl(Declaration):
    condition: Expr


@dataclass(frozen=True, slots=True)
class PromotionDecl(Declaration):
    clauses: tuple[Clause, ...]


@dataclass(frozen=True, slots=True)
class RulesFile(Node):
    declarations: tuple[Declaration, ...]


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of a node, in source order (for generic walks)."""
    out: list[Node] = []
    for name in node.__dataclass_fields__:  # type: ignore[attr-defined]
        if name == "span":
            continue
        value = getattr(node, name)
        if isinstance(value, Node):
            out.append(value)
        elif isinstance(value, tuple):
            out.extend(v for v in value if isinstance(v, Node))
    return tuple(out)


def walk(node: Node):  # type: ignore[no-untyped-def]
    """Every node below and including `node`, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))
