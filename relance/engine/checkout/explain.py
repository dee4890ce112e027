"""Why a promotion's condition is false, and what the cart lacks to meet it.

Runs only on refusals (never on the hot path of an applying promotion), with the reference
interpreter, so that the part it names is the part of the rule text that is false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from relance.engine.backends.interpreter import Interpreter
from relance.engine.checkout.results import FailedCondition
from relance.engine.data.context import Context
from relance.engine.data.display import show
from relance.engine.data.money import Money, quantum
from relance.engine.ruleset.promotion import Promotion
from relance.engine.ruleset.ruleset import RuleSet
from relance.grammar import ast as A
from relance.grammar.formatter import format_expr
from relance.grammar.parser import ParseFailure, parse_expression


def _interpreter(rules: RuleSet) -> Interpreter:
    return Interpreter(rules.annotations, rules.currency, rules.in_segment)


def false_parts(rules: RuleSet, node: A.Expr, ctx: Context) -> list[A.Expr]:
    """The smallest parts that make `node` false: every false side of an `and`, an `or` whole."""
    interpreter = _interpreter(rules)
    out: list[A.Expr] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, A.Logic) and current.op == "and":
            for side in (current.right, current.left):
                if interpreter.evaluate(side, ctx) is not True:
                    stack.append(side)
        else:
            out.append(current)
    return out


def failing_part(rules: RuleSet, node: A.Expr, ctx: Context) -> FailedCondition:
    """The first false part of a condition, with its place in the rule file and its values."""

    parts = false_parts(rules, node, ctx) or [node]
    part = parts[0]
    interpreter = _interpreter(rules)
    values: list[tuple[str, str]] = []
    sides = (part.left, part.right) if isinstance(part, A.Compare) else ()
    for side in sides:
        if id(side) in rules.annotations.constant and not isinstance(side, A.Name):
            continue
        value = interpreter.evaluate(side, ctx)
        values.append((format_expr(side), show(value, rules.timezone, rules.annotations.type(side))))
    span = part.span
    return FailedCondition(format_expr(part), span.path if span else "<rules>", span.line if span else 0,
                           span.column if span else 0, tuple(values))


@dataclass(frozen=True, slots=True)
class Missing:
    """What a cart lacks for one false part of a condition.

    `text` is the part as written in the rules (`cart.subtotal >= 50 EUR`). When adding to the
    cart can make it true, `amount` (an amount to add) or `units` (a number of items to add) says
    how much; `where`, when only some items count, is the filter they must pass, as written in
    the rules (`category == "shoes"`, and `not (...)` of what the promotion excludes), and
    `message` says it all for a shopper ("add 80.00 EUR of items where category is \"shoes\"").
    `any_item` is True when the part counts every item the promotion sees (`cart.subtotal`): then
    `where` is None, or only says what the promotion excludes. When adding cannot make it true
    (the contact's country, a date, the customer's history, an amount the cart must stay under),
    `amount`, `units` and `message` are None and `reachable` is False."""

    text: str
    amount: Money | None = None
    units: int | None = None
    where: str | None = None
    message: str | None = None
    any_item: bool | None = None
    """Defaults to `where is None`: a gap built by hand without a filter is on any item."""

    def __post_init__(self) -> None:
        if self.any_item is None:
            object.__setattr__(self, "any_item", self.where is None)

    @property
    def reachable(self) -> bool:
        """Whether adding to the cart can make this part true (then `amount` or `units` says how much)."""
        return self.amount is not None or self.units is not None


EVERY_ITEM = A.Bool(True)
"""The exclusion of a bare `exclude items`: every item, so that nothing added counts."""


def excluded_items(promotion: Promotion) -> A.Expr | None:
    """The filter of the promotion's `exclude items where ...` (EVERY_ITEM for a bare `exclude
    items`), or None: what it excludes does not count towards its condition."""
    for clause in promotion.declaration.clauses:
        if isinstance(clause, A.ExcludeClause):
            return clause.items.where or EVERY_ITEM
    return None


def missing(rules: RuleSet, node: A.Expr, ctx: Context, excluded: A.Expr | None = None) -> list[Missing]:
    """For each false part: how much more the cart needs, when the part is a threshold on an
    amount or a count that grows as the customer adds to the cart (`cart.subtotal >= 50 EUR`,
    `count(cart.items where category == "shoes") >= 2`) or asks for an item the cart does not
    have (`any(cart.items where category == "shoes")`, `"shoes" in cart.items.category`); any other
    false part is not reachable. `excluded` is the promotion's exclusion (`excluded_items`): items
    it excludes count for nothing, so every filter to add says they must not be excluded."""
    interpreter = _interpreter(rules)
    return [_missing(part, interpreter, ctx, rules, excluded) for part in false_parts(rules, node, ctx) or [node]]


def to_add(gaps: Sequence[Missing]) -> tuple[Money | None, int | None]:
    """How much to add to meet every gap at once: the amount and the number of items (None for
    one that no gap asks for, both None when a gap is not reachable).

    Of gaps on the same items the largest covers the others. Gaps on different filters add up:
    an item may pass only one of them (when it passes several, the sum is more than needed, never
    less). Items of any filter count towards a gap on any item, which asks for at least its own."""
    if not gaps or not all(g.reachable for g in gaps):
        return None, None
    amount = _total(gaps, amounts=True)
    units = _total(gaps, amounts=False)
    return (None if amount is None else Money(amount, _currency(gaps)),
            None if units is None else int(units))


def upsell(title: str, gaps: Sequence[Missing]) -> str:
    """The shopper's message for a promotion whose false parts are all reachable: "add 12.00 EUR
    for Free shipping", "add 80.00 EUR of items where category is \"shoes\" for ...", "add 60.00
    EUR including 30.00 EUR of items where ..., 30.00 EUR of items where ... for ...": the figures
    of `to_add`, then the parts of them that some items must make up. With a part that is not
    reachable, the parts as written in the rules."""
    if not gaps or not all(g.reachable for g in gaps):
        return f"{title}: " + "; ".join(g.text for g in gaps)
    amount, units = to_add(gaps)
    told = [_told(gaps, Missing("", amount=amount)) if amount is not None else None,
            _told(gaps, Missing("", units=units)) if units is not None else None]
    return "add " + " and ".join(t for t in told if t) + f" for {title}"


def _size(gap: Missing) -> Decimal:
    return gap.amount.amount if gap.amount is not None else Decimal(gap.units or 0)


def _largest(gaps: Sequence[Missing], amounts: bool) -> tuple[Missing | None, list[Missing]]:
    """Of the gaps of one kind (amounts, or numbers of items): the largest on any item, and the
    largest on each filter."""
    whole: Missing | None = None
    by_filter: dict[str | None, Missing] = {}
    for gap in gaps:
        if (gap.amount is not None) != amounts or not gap.reachable:
            continue
        if gap.any_item:
            whole = gap if whole is None or _size(gap) > _size(whole) else whole
        elif gap.where not in by_filter or _size(gap) > _size(by_filter[gap.where]):
            by_filter[gap.where] = gap
    return whole, list(by_filter.values())


def _total(gaps: Sequence[Missing], amounts: bool) -> Decimal | None:
    """What meets every gap of one kind: at least the one on any item, at least the sum of the others."""
    whole, filtered = _largest(gaps, amounts)
    if whole is None and not filtered:
        return None
    return max(_size(whole) if whole is not None else Decimal(0), sum((_size(g) for g in filtered), Decimal(0)))


def _currency(gaps: Sequence[Missing]) -> str:
    return next(g.amount.currency for g in gaps if g.amount is not None)


def _told(gaps: Sequence[Missing], total: Missing) -> str:
    """One figure of `to_add` in words (`total` holds it), with the parts of it some items must
    make up; a single part that is the whole figure is told alone."""
    whole, filtered = _largest(gaps, total.amount is not None)
    parts = [_what(g) for g in filtered]
    if len(filtered) == 1 and _size(filtered[0]) == _size(total):
        return parts[0]
    head = _what(replace(total, where=whole.where if whole is not None else None))
    return head + (" including " + ", ".join(parts) if parts else "")


def _what(gap: Missing) -> str:
    """A gap's figure and items in words, from its numbers (`80.00 EUR of items where ...`)."""
    return _quantity(gap.amount, gap.units, _words(gap.where)) or gap.text


def _words(where: str | None) -> str | None:
    """A filter written as in the rules, as a shopper reads it (as written if it does not parse)."""

    if where is None:
        return None
    try:
        return _readable(parse_expression(where))
    except ParseFailure:
        return where


def _missing(part: A.Expr, interpreter: Interpreter, ctx: Context, rules: RuleSet,
             excluded: A.Expr | None) -> Missing:
    text = format_expr(part)
    if isinstance(part, A.Logic) and part.op == "or":
        # reachable when one side is: the smaller of two amounts (or of two numbers of items), else
        # the first side as written, says what to add
        sides = [gaps[0] for side in (part.left, part.right)
                 if len(gaps := missing(rules, side, ctx, excluded)) == 1 and gaps[0].reachable]
        if not sides:
            return Missing(text)
        best = sides[0]
        if len(sides) == 2 and (sides[1].amount is None) == (best.amount is None) and _size(sides[1]) < _size(best):
            best = sides[1]
        return replace(best, text=text)
    found = _gap(part, interpreter, ctx)
    if found is None or excluded == EVERY_ITEM:
        return Missing(text)
    amount, units, own = found
    where = _allowed(own, excluded)
    return Missing(text, amount, units, None if where is None else format_expr(where),
                   _says(amount, units, None if where is None else _readable(where)), any_item=own is None)


def _allowed(own: A.Expr | None, excluded: A.Expr | None) -> A.Expr | None:
    """The filter added items must pass: the part's own, and not excluded by the promotion
    (excluded items are not in the cart it sees, so adding them counts for nothing)."""
    if excluded is None:
        return own
    kept = A.Not(excluded)
    return kept if own is None else A.Logic("and", own, kept)


def _gap(part: A.Expr, interpreter: Interpreter, ctx: Context) -> tuple[Money | None, int | None, A.Expr | None] | None:
    """(amount, units, filter) to add for `part` to become true, or None when adding cannot."""
    if isinstance(part, A.Aggregate) and part.func == "any" and _cart_items(part.source):
        return None, 1, part.where  # `any(cart.items where ...)`: one such item
    if not isinstance(part, A.Compare):
        return None
    if part.op == "in" and isinstance(part.right, A.Attribute) and _cart_items(part.right.obj) \
            and part.right.name in ("sku", "product", "category") and id(part.left) in interpreter.ann.constant:
        # `"shoes" in cart.items.category`: one item with that field
        return None, 1, A.Compare("==", A.Name(part.right.name), part.left)
    op, grows, bound = part.op, part.left, part.right
    if op in ("<=", "<"):  # `50 EUR <= cart.subtotal`
        op, grows, bound = {"<=": ">=", "<": ">"}[op], part.right, part.left
    if op not in (">=", ">") or not _grows(grows):
        return None  # a maximum (`cart.subtotal < 30 EUR`) would need fewer items, not more
    have: Any = interpreter.evaluate(grows, ctx)
    need: Any = interpreter.evaluate(bound, ctx)
    where = grows.where if isinstance(grows, A.Aggregate) else None
    if isinstance(have, Money) and isinstance(need, Money) and have.currency == need.currency:
        gap = need.amount - have.amount + (quantum(need.currency) if op == ">" else 0)
        # rounded up: an amount rounded down would leave the cart a cent short
        amount = Money(max(gap, Decimal(0)).quantize(quantum(need.currency), rounding=ROUND_CEILING), need.currency)
        return (amount, None, where) if amount.amount > 0 else None
    if isinstance(have, Decimal | int) and not isinstance(have, bool) \
            and isinstance(need, Decimal | int) and not isinstance(need, bool):
        gap = Decimal(need) - Decimal(have)
        count = int(gap.to_integral_value(rounding=ROUND_FLOOR)) + 1 if op == ">" else \
            int(gap.to_integral_value(rounding=ROUND_CEILING))
        return (None, count, where) if count > 0 else None
    return None


def _cart_items(node: A.Expr) -> bool:
    return isinstance(node, A.Attribute) and node.name == "items" \
        and isinstance(node.obj, A.Name) and node.obj.name == "cart"


def _items(node: A.Expr) -> bool:
    """`cart.items`, or one of its fields (`cart.items.total`)."""
    return _cart_items(node) or (isinstance(node, A.Attribute) and _cart_items(node.obj))


def _grows(node: A.Expr) -> bool:
    """An amount or count of the cart that adding items makes larger: `cart.subtotal`,
    `cart.total`, a count of its items, a sum of their quantities, totals or prices (not of the
    past orders, even when a filter reads the cart)."""
    if isinstance(node, A.Attribute) and isinstance(node.obj, A.Name) and node.obj.name == "cart":
        return node.name in ("subtotal", "total")
    if isinstance(node, A.Aggregate) and node.func == "count":
        return _items(node.source)
    if isinstance(node, A.Aggregate) and node.func == "sum":
        return isinstance(node.source, A.Attribute) and node.source.name in ("quantity", "total", "unit_price") \
            and _items(node.source)
    return False


def _says(amount: Money | None, units: int | None, where: str | None) -> str | None:
    """What to add, for a shopper: `add 12.00 EUR`, `add 80.00 EUR of items where ...`, `add 2 more
    items`, `add 1 item where ...`."""
    quantity = _quantity(amount, units, where)
    return None if quantity is None else f"add {quantity}"


def _quantity(amount: Money | None, units: int | None, where: str | None) -> str | None:
    """How much of which items: `12.00 EUR`, `80.00 EUR of items where ...`, `2 more items`, `1 item where ...`."""
    if amount is not None:
        return f"{amount}" + ("" if where is None else f" of items where {where}")
    if units is not None:
        noun = "item" if units == 1 else "items"
        return f"{units} more {noun}" if where is None else f"{units} {noun} where {where}"
    return None


_READ = {"==": "is", "!=": "is not", "in": "is one of", "not in": "is not one of", ">=": "is at least",
         ">": "is more than", "<=": "is at most", "<": "is less than"}
"""How a shopper reads the comparisons of a filter (`category == "shoes"`: category is "shoes")."""

_OPPOSITE = {"==": "!=", "!=": "==", "in": "not in", "not in": "in"}
"""`not (a == b)` reads as `a != b` (not the orders: `not (price >= 5)` is also true of no price)."""


def _readable(node: A.Expr) -> str:
    """A filter of items as a shopper reads it; what has no plain words stays as written."""
    if isinstance(node, A.Compare) and node.op in _READ:
        return f"{format_expr(node.left)} {_READ[node.op]} {format_expr(node.right)}"
    if isinstance(node, A.Not) and isinstance(node.operand, A.Compare) and node.operand.op in _OPPOSITE:
        return _readable(A.Compare(_OPPOSITE[node.operand.op], node.operand.left, node.operand.right))
    if isinstance(node, A.Not) and isinstance(node.operand, A.Logic):
        return f"not ({_readable(node.operand)})"
    if isinstance(node, A.Logic):
        sides = []
        for side in (node.left, node.right):
            text = _readable(side)
            sides.append(f"({text})" if isinstance(side, A.Logic) and side.op != node.op else text)
        return f" {node.op} ".join(sides)
    return format_expr(node)
