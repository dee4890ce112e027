"""Why a promotion's condition is false, and what the cart lacks to meet it.

Runs only on refusals (never on the hot path of an applying promotion), with the reference
interpreter, so that the part it names is the part of the rule text that is false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from relance.engine import ast as A
from relance.engine.formatter import format_expr
from relance.engine.interpreter import Interpreter
from relance.engine.money import Money, quantum

if TYPE_CHECKING:
    from relance.engine.checkout import FailedCondition
    from relance.engine.context import Context
    from relance.engine.ruleset import RuleSet


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
    from relance.engine.checkout import FailedCondition
    from relance.engine.testing import show

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
    the rules (`category == "shoes"`), and `message` says it all for a shopper ("add 80.00 EUR of
    items where category is \"shoes\""). When adding cannot make it true (the contact's country, a
    date, the customer's history, an amount the cart must stay under), `amount`, `units` and
    `message` are None and `reachable` is False."""

    text: str
    amount: Money | None = None
    units: int | None = None
    where: str | None = None
    message: str | None = None

    @property
    def reachable(self) -> bool:
        """Whether adding to the cart can make this part true (then `amount` or `units` says how much)."""
        return self.amount is not None or self.units is not None


def missing(rules: RuleSet, node: A.Expr, ctx: Context) -> list[Missing]:
    """For each false part: how much more the cart needs, when the part is a threshold on an
    amount or a count that grows as the customer adds to the cart (`cart.subtotal >= 50 EUR`,
    `count(cart.items where category == "shoes") >= 2`) or asks for an item the cart does not
    have (`any(cart.items where category == "shoes")`, `"shoes" in cart.items.category`); any other
    false part is not reachable."""
    interpreter = _interpreter(rules)
    return [_missing(part, interpreter, ctx, rules) for part in false_parts(rules, node, ctx) or [node]]


def upsell(title: str, gaps: Sequence[Missing]) -> str:
    """The shopper's message for a promotion whose false parts are all reachable: "add 12.00 EUR
    for Free shipping", "add 80.00 EUR of items where category is \"shoes\" for ...". Of the gaps
    of one kind (an amount, a number of items) on the same items, the largest covers the others;
    an amount on the whole cart includes the smaller amounts of some items. With a part that is
    not reachable, the parts as written in the rules."""
    if not gaps or not all(g.reachable for g in gaps):
        return f"{title}: " + "; ".join(g.text for g in gaps)
    largest: dict[tuple[bool, str | None], Missing] = {}
    for gap in gaps:
        key = (gap.amount is not None, gap.where)
        kept = largest.get(key)
        if kept is None or _size(gap) > _size(kept):
            largest[key] = gap
    whole = largest.pop((True, None), None)
    amounts = [_told(g) for (is_amount, _), g in largest.items() if is_amount]
    if whole is not None and all(_size(g) < _size(whole) for (is_amount, _), g in largest.items() if is_amount):
        # items of some kind added count towards the whole cart too: the total, and what it includes
        amounts = [_told(whole) + "".join(f"{' including ' if i == 0 else ', '}{t.removeprefix('add ')}"
                                          for i, t in enumerate(amounts))]
    texts = amounts + [_told(g) for (is_amount, _), g in largest.items() if not is_amount]
    return " and ".join([texts[0], *(t.removeprefix("add ") for t in texts[1:])]) + f" for {title}"


def _size(gap: Missing) -> Decimal:
    return gap.amount.amount if gap.amount is not None else Decimal(gap.units or 0)


def _told(gap: Missing) -> str:
    return gap.message or _says(gap.amount, gap.units, gap.where) or gap.text


def _missing(part: A.Expr, interpreter: Interpreter, ctx: Context, rules: RuleSet) -> Missing:
    text = format_expr(part)
    if isinstance(part, A.Logic) and part.op == "or":
        # reachable when one side is: the first one, as written, says what to add
        for side in (part.left, part.right):
            gaps = missing(rules, side, ctx)
            if len(gaps) == 1 and gaps[0].reachable:
                gap = gaps[0]
                return Missing(text, gap.amount, gap.units, gap.where, gap.message)
        return Missing(text)
    found = _gap(part, interpreter, ctx)
    if found is None:
        return Missing(text)
    amount, units, where = found
    return Missing(text, amount, units, None if where is None else format_expr(where),
                   _says(amount, units, None if where is None else _readable(where)))


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
    if amount is not None:
        return f"add {amount}" + ("" if where is None else f" of items where {where}")
    if units is not None:
        noun = "item" if units == 1 else "items"
        return f"add {units} more {noun}" if where is None else f"add {units} {noun} where {where}"
    return None


_READ = {"==": "is", "!=": "is not", "in": "is one of", "not in": "is not one of", ">=": "is at least",
         ">": "is more than", "<=": "is at most", "<": "is less than"}
"""How a shopper reads the comparisons of a filter (`category == "shoes"`: category is "shoes")."""


def _readable(node: A.Expr) -> str:
    """A filter of items as a shopper reads it; what has no plain words stays as written."""
    if isinstance(node, A.Compare) and node.op in _READ:
        return f"{format_expr(node.left)} {_READ[node.op]} {format_expr(node.right)}"
    if isinstance(node, A.Logic):
        sides = []
        for side in (node.left, node.right):
            text = _readable(side)
            sides.append(f"({text})" if isinstance(side, A.Logic) and side.op != node.op else text)
        return f" {node.op} ".join(sides)
    return format_expr(node)
