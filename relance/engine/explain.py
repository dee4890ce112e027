"""Why a promotion's condition is false, and what the cart lacks to meet it.

Runs only on refusals (never on the hot path of an applying promotion), with the reference
interpreter, so that the part it names is the part of the rule text that is false.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
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
    """What a cart lacks for one false part: an amount to add, a number of units, or nothing
    countable (then `amount` and `units` are None and the text says what is false)."""

    text: str
    amount: Money | None = None
    units: int | None = None


def missing(rules: RuleSet, node: A.Expr, ctx: Context) -> list[Missing]:
    """For each false part: how much more the cart needs, when the part is a threshold on an
    amount or a count that grows as the customer adds to the cart (`cart.subtotal >= 50 EUR`)."""
    interpreter = _interpreter(rules)
    out = []
    for part in false_parts(rules, node, ctx):
        out.append(_gap(part, interpreter, ctx, rules.currency) or Missing(format_expr(part)))
    return out


def _gap(part: A.Expr, interpreter: Interpreter, ctx: Context, currency: str) -> Missing | None:
    if not isinstance(part, A.Compare) or part.op not in (">=", ">") or not _grows(part.left):
        return None
    have: Any = interpreter.evaluate(part.left, ctx)
    need: Any = interpreter.evaluate(part.right, ctx)
    text = format_expr(part)
    if isinstance(have, Money) and isinstance(need, Money) and have.currency == need.currency:
        gap = need.amount - have.amount
        if part.op == ">":
            gap += quantum(need.currency)
        return Missing(text, amount=Money(max(gap, Decimal(0)), need.currency).rounded())
    if isinstance(have, Decimal | int) and isinstance(need, Decimal | int):
        gap = Decimal(need) - Decimal(have) + (1 if part.op == ">" else 0)
        return Missing(text, units=max(int(gap.to_integral_value(rounding="ROUND_CEILING")), 0))
    return None


def _grows(node: A.Expr) -> bool:
    """An amount or count of the cart that adding items makes larger."""
    if isinstance(node, A.Attribute) and isinstance(node.obj, A.Name) and node.obj.name == "cart":
        return node.name in ("subtotal", "total")
    if isinstance(node, A.Aggregate) and node.func in ("count", "sum"):
        return any(isinstance(n, A.Name) and n.name == "cart" for n in A.walk(node))
    return False
