"""Canonical text for the AST (`relance fmt`): minimal brackets, one layout, stable diffs.

Its contract, proved by a property test: `parse(format(tree)) == tree` for every tree.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from relance.grammar import ast as A

WIDTH = 88

PREC_OR, PREC_AND, PREC_NOT, PREC_CMP, PREC_SUM, PREC_PRODUCT, PREC_UNARY, PREC_POSTFIX, PREC_ATOM = range(1, 10)


def number(value: Decimal) -> str:
    text = format(value, "f")
    return text


def string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _precedence(node: A.Expr) -> int:
    if isinstance(node, A.Logic):
        return PREC_OR if node.op == "or" else PREC_AND
    if isinstance(node, A.Not):
        return PREC_NOT
    if isinstance(node, (A.Compare, A.InSegment)):
        return PREC_CMP
    if isinstance(node, A.Binary):
        return PREC_SUM if node.op in "+-" else PREC_PRODUCT
    if isinstance(node, A.Negate):
        return PREC_UNARY
    if isinstance(node, (A.Attribute, A.Call, A.Aggregate)):
        return PREC_POSTFIX
    return PREC_ATOM


def format_expr(node: A.Expr, minimum: int = 0) -> str:
    """One-line text of an expression, bracketed if its precedence is below `minimum`."""
    text = _expr(node)
    if _precedence(node) < minimum:
        return f"({text})"
    return text


def _expr(node: A.Expr) -> str:
    if isinstance(node, A.Number):
        return number(node.value)
    if isinstance(node, A.Percent):
        return f"{number(node.value)}%"
    if isinstance(node, A.MoneyLit):
        return f"{number(node.amount)} {node.currency}"
    if isinstance(node, A.DurationLit):
        return f"{node.amount} {node.unit}{'' if node.amount == 1 else 's'}"
    if isinstance(node, A.DateLit):
        return node.value.isoformat()
    if isinstance(node, A.DateTimeLit):
        return datetime_text(node)
    if isinstance(node, A.String):
        return string(node.value)
    if isinstance(node, A.Bool):
        return "true" if node.value else "false"
    if isinstance(node, A.Null):
        return "null"
    if isinstance(node, A.ListLit):
        return "[" + ", ".join(format_expr(i) for i in node.items) + "]"
    if isinstance(node, A.Name):
        return node.name
    if isinstance(node, A.Attribute):
        return f"{format_expr(node.obj, PREC_POSTFIX)}.{node.name}"
    if isinstance(node, A.Call):
        return f"{node.func}(" + ", ".join(format_expr(a) for a in node.args) + ")"
    if isinstance(node, A.Aggregate):
        inner = format_expr(node.source)
        if node.where is not None:
            inner += f" where {format_expr(node.where)}"
        return f"{node.func}({inner})"
    if isinstance(node, A.Negate):
        return f"-{format_expr(node.operand, PREC_UNARY)}"
    if isinstance(node, A.Not):
        # `not (a contains b)` keeps its brackets: `not a contains b` reads as `(not a) contains b`
        return f"not {format_expr(node.operand, PREC_UNARY)}"
    if isinstance(node, A.Logic):
        return f"{_logic_side(node.left, node.op, True)} {node.op} {_logic_side(node.right, node.op, False)}"
    if isinstance(node, A.Binary):
        prec = _precedence(node)
        return f"{format_expr(node.left, prec)} {node.op} {format_expr(node.right, prec + 1)}"
    if isinstance(node, A.Compare):
        return f"{format_expr(node.left, PREC_SUM)} {node.op} {format_expr(node.right, PREC_SUM)}"
    if isinstance(node, A.InSegment):
        word = "not in" if node.negated else "in"
        return f"{format_expr(node.subject, PREC_SUM)} {word} segment {node.segment}"
    raise TypeError(f"cannot format {type(node).__name__}")


def _logic_side(child: A.Expr, op: str, left: bool) -> str:
    """Chains of one operator stay flat; a mix of `and` and `or` is always bracketed, so that
    readers never need precedence rules."""
    if isinstance(child, A.Logic):
        if left and child.op == op:
            return _expr(child)
        return f"({_expr(child)})"
    return format_expr(child, PREC_NOT)


def datetime_text(node: A.DateTimeLit) -> str:
    value = node.value
    text = value.strftime("%Y-%m-%dT%H:%M")
    if value.second:
        text += f":{value.second:02d}"
    if node.zone in (None, ""):
        return text
    if node.zone == "Z" or node.zone.startswith(("+", "-")):  # type: ignore[union-attr]
        return text + node.zone  # type: ignore[operator]
    return f"{text} {node.zone}"


def _wrapped(node: A.Expr, indent: str) -> str:
    """A condition on one line, or broken before each `and`/`or` of its top chain if too long."""
    flat = format_expr(node)
    if len(indent) + len(flat) <= WIDTH or not isinstance(node, A.Logic):
        return flat
    op = node.op
    parts: list[A.Expr] = []
    current: A.Expr = node
    while isinstance(current, A.Logic) and current.op == op:
        parts.append(current.right)
        current = current.left
    parts.append(current)
    parts.reverse()
    lines = [_logic_side(parts[0], op, True)]
    lines += [f"{op} {_logic_side(p, op, False)}" for p in parts[1:]]
    return ("\n" + indent).join(lines)


def format_reward(node: A.Reward) -> str:
    if isinstance(node, A.RewardOff):
        text = f"{format_expr(node.amount, PREC_SUM)} off {_target(node.target)}"
        if node.cap is not None:
            text += f" up to {format_expr(node.cap, PREC_SUM)}"
        return text
    if isinstance(node, A.FreeShipping):
        return "free shipping"
    if isinstance(node, A.BuyXGetY):
        gift = "free" if node.discount is None else f"{format_expr(node.discount, PREC_SUM)} off"
        text = f"buy {node.buy} get {node.get} {gift}"
        if node.items is not None:
            text += f" {_target(node.items)}"
        if node.times is not None:
            text += f" up to {node.times} times"
        return text
    if isinstance(node, A.FixedPrice):
        return f"fixed price {format_expr(node.price, PREC_SUM)} {_target(node.items)}"
    if isinstance(node, A.Gift):
        return f"gift {string(node.sku)}"
    raise TypeError(type(node).__name__)


def _target(node: A.Target) -> str:
    if isinstance(node, A.OrderTarget):
        return "order"
    if isinstance(node, A.ShippingTarget):
        return "shipping"
    assert isinstance(node, A.ItemsTarget)
    head = "each item" if node.each else "items"
    if node.where is None:
        return head
    return f"{head} where {format_expr(node.where)}"


def _clause(node: A.Clause, indent: str) -> str:
    if isinstance(node, A.CodeClause):
        if not node.unique:
            return f"code {string(node.value)}"
        text = f"code unique pattern {string(node.value)}" if node.value else "code imported"
        if node.expires_after is not None:
            text += f" expires after {_expr(node.expires_after)}"
        return text
    if isinstance(node, A.OnlyClause):
        return "only " + ", ".join(_restriction(r) for r in node.restrictions)
    if isinstance(node, A.PriorityClause):
        return f"priority {node.value}"
    if isinstance(node, A.ExclusiveClause):
        return "exclusive"
    if isinstance(node, A.CombinesClause):
        return "combines with " + ", ".join(node.classes)
    if isinstance(node, A.BaseClause):
        return f"base {'before' if node.before else 'after'} discounts"
    if isinstance(node, A.WhenClause):
        return "when " + _wrapped(node.condition, indent + "    ")
    if isinstance(node, A.RewardClause):
        return "reward " + format_reward(node.reward)
    if isinstance(node, A.ExcludeClause):
        return "exclude " + _target(node.items)
    if isinstance(node, A.LimitClause):
        return "limit " + ", ".join(_limit(x) for x in node.limits)
    if isinstance(node, A.ValidClause):
        return "valid " + ", ".join(_validity(x) for x in node.items)
    raise TypeError(type(node).__name__)


def _restriction(node: A.Restriction) -> str:
    if node.kind == "segment":
        return f"segment {node.segment}"
    if node.kind == "first_order":
        return "first order"
    return f"{node.kind} " + " or ".join(string(v) for v in node.values)


def _limit(node: A.Limit) -> str:
    if node.kind == "per":
        return f"{node.count} per {node.unit}" + (f" per {node.period}" if node.period else "")
    if node.kind == "total":
        return f"{node.count} total"
    assert node.budget is not None
    return f"budget {_expr(node.budget)}"


def _validity(node: A.Validity) -> str:
    if node.kind == "between":
        return f"{_expr(node.start)} to {_expr(node.end)}"  # type: ignore[arg-type]
    if node.kind == "from":
        return f"from {_expr(node.start)}"  # type: ignore[arg-type]
    if node.kind == "until":
        return f"until {_expr(node.end)}"  # type: ignore[arg-type]
    if node.kind == "days":
        return "days " + " ".join(a if a == b else f"{a}-{b}" for a, b in node.days)
    assert node.hours is not None
    start, end = node.hours
    return f"hours {start.strftime('%H:%M')}-{end.strftime('%H:%M')}"


def format_declaration(node: A.Declaration) -> str:
    title = f" {string(node.title)}" if node.title is not None else ""
    head = f"{node.kind} {node.name}{title}:"
    if isinstance(node, A.SegmentDecl):
        return f"{head}\n    {_wrapped(node.condition, '    ')}"
    assert isinstance(node, A.PromotionDecl)
    return head + "".join(f"\n    {_clause(c, '    ')}" for c in node.clauses)


def format_file(node: A.RulesFile) -> str:
    return "\n\n".join(format_declaration(d) for d in node.declarations) + "\n"


_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)')


def comments_of(text: str) -> list[str]:
    """The comments in a piece of rule text (strings skipped); a blank line still separates
    groups of comments that were apart (a file header from the first declaration's note)."""
    out: list[str] = []
    last_line = None
    for number, line in enumerate(text.splitlines()):
        for match in _COMMENT.finditer(line):
            if match.group(1):
                if last_line is not None and number - last_line > 1:
                    out.append("")
                out.append(match.group(1).rstrip())
                last_line = number
    return out


def format_source(text: str, declarations: tuple[A.Declaration, ...]) -> str:
    """Canonical text of a whole file, keeping its comments: each comment is placed above the
    declaration it was written in or before (comments inside a declaration move above it)."""
    lines = text.splitlines()
    blocks: list[str] = []
    for index, decl in enumerate(declarations):
        begin = 1 if index == 0 else _end_line(declarations[index - 1]) + 1
        own_end = _end_line(decl)
        notes = comments_of("\n".join(lines[begin - 1: own_end]))
        blocks.append("\n".join([*notes, format_declaration(decl)]))
    tail_start = _end_line(declarations[-1]) + 1 if declarations else 1
    tail = comments_of("\n".join(lines[tail_start - 1:]))
    if tail:
        blocks.append("\n".join(tail))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _end_line(decl: A.Declaration) -> int:
    return decl.span.end_line if decl.span is not None else 1
