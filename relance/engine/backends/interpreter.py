"""The reference interpreter: a direct walk over the checked AST.

It is the oracle of the property tests (compiled == interpreted == SQL), so it favours being
obviously right over being fast; `relance eval` uses it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from relance.engine.data import values as R
from relance.engine.data.context import Context, zone
from relance.engine.data.money import Money
from relance.engine.language.annotations import Annotations
from relance.grammar import ast as A

SegmentLookup = Callable[[str, Context], bool]


class Interpreter:
    def __init__(self, annotations: Annotations, currency: str, segments: SegmentLookup | None = None):
        self.ann = annotations
        self.currency = currency
        self.segments = segments

    def evaluate(self, node: A.Expr, ctx: Context) -> Any:
        return self._eval(node, ctx, [])

    def trace(self, node: A.Expr, ctx: Context, depth: int = 0) -> list[tuple[int, A.Expr, Any]]:
        """Why a condition has its value: each `and`/`or`/`not` part with its own value, and the
        values compared at the leaves (for `relance eval --explain` and refusal reasons)."""
        lines = [(depth, node, self.evaluate(node, ctx))]
        if isinstance(node, A.Logic):
            lines += self.trace(node.left, ctx, depth + 1) + self.trace(node.right, ctx, depth + 1)
        elif isinstance(node, A.Not):
            lines += self.trace(node.operand, ctx, depth + 1)
        elif isinstance(node, A.Compare):
            for side in (node.left, node.right):
                if id(side) not in self.ann.constant or isinstance(side, A.Name):
                    lines.append((depth + 1, side, self.evaluate(side, ctx)))
        return lines

    def _eval(self, node: A.Expr, ctx: Context, elements: list[Any]) -> Any:
        return getattr(self, "_" + type(node).__name__)(node, ctx, elements)

    def _truth(self, node: A.Expr, ctx: Context, elements: list[Any]) -> bool:
        return self._eval(node, ctx, elements) is True

    # literals
    def _Number(self, node: A.Number, ctx: Context, el: list[Any]) -> Any:
        return node.value

    def _Percent(self, node: A.Percent, ctx: Context, el: list[Any]) -> Any:
        return node.value / 100

    def _MoneyLit(self, node: A.MoneyLit, ctx: Context, el: list[Any]) -> Any:
        return Money(node.amount, node.currency)

    def _DurationLit(self, node: A.DurationLit, ctx: Context, el: list[Any]) -> Any:
        return R.Duration(node.amount, node.unit)

    def _DateLit(self, node: A.DateLit, ctx: Context, el: list[Any]) -> Any:
        return node.value

    def _DateTimeLit(self, node: A.DateTimeLit, ctx: Context, el: list[Any]) -> Any:
        return datetime_literal(node, ctx.tz)

    def _String(self, node: A.String, ctx: Context, el: list[Any]) -> Any:
        return node.value

    def _Bool(self, node: A.Bool, ctx: Context, el: list[Any]) -> Any:
        return node.value

    def _Null(self, node: A.Null, ctx: Context, el: list[Any]) -> Any:
        return None

    def _ListLit(self, node: A.ListLit, ctx: Context, el: list[Any]) -> Any:
        return tuple(self._eval(item, ctx, el) for item in node.items)

    # names
    def _Name(self, node: A.Name, ctx: Context, el: list[Any]) -> Any:
        kind, level, name = self.ann.names[id(node)]
        if kind == "element":
            return read_field(el[level], name, id(node) in self.ann.custom)
        return getattr(ctx, name)

    def _Attribute(self, node: A.Attribute, ctx: Context, el: list[Any]) -> Any:
        base = self._eval(node.obj, ctx, el)
        custom = id(node) in self.ann.custom
        if self.ann.type(node.obj).kind == "list":
            values = tuple(read_field(item, node.name, custom) for item in base)
            if id(node) in self.ann.flatten:
                return tuple(v for value in values for v in value)
            return values
        if self.ann.type(node).kind == "list":
            return R.list_field(base, node.name, custom)
        return read_field(base, node.name, custom)

    # calls
    def _Call(self, node: A.Call, ctx: Context, el: list[Any]) -> Any:
        args = [self._eval(a, ctx, el) for a in node.args]
        value = args[0]
        func = node.func
        if func == "days_since":
            return R.days_since(value, ctx.now, ctx.tz)
        if func == "days_until":
            return R.days_until(value, ctx.now, ctx.tz)
        if value is None:
            return None
        if func == "lower":
            return value.lower()
        if func == "upper":
            return value.upper()
        if func == "length":
            return len(value)
        percent = self.ann.type(node.args[0]).kind == "percent"
        if func == "round":
            return R.round_percent(value) if percent else R.round_value(value)
        if func == "floor":
            return R.floor_percent(value) if percent else R.floor_value(value)
        if func == "abs":
            return R.abs_value(value)
        if func in ("year", "month", "day", "weekday"):
            return R.part(func, value, ctx.tz)
        if func == "date":
            return R.local_date(value, ctx.tz)
        if func == "anniversary":
            return R.anniversary(value, ctx.today, ctx.tz)
        raise AssertionError(func)

    def _Aggregate(self, node: A.Aggregate, ctx: Context, el: list[Any]) -> Any:
        info = self.ann.aggregates[id(node)]
        collection = self._eval(info.collection, ctx, el) or ()
        if node.where is not None:
            collection = tuple(x for x in collection if self._truth(node.where, ctx, [*el, x]))
        values: tuple[Any, ...] = collection
        for name in info.projection:
            values = tuple(read_field(v, name, False) for v in values)
        func = node.func
        if func == "count":
            return len(values)
        if func == "any":
            return len(values) > 0
        if func == "all":
            if node.where is None:
                return all(v is True for v in values)
            original = self._eval(info.collection, ctx, el) or ()
            return len(collection) == len(original)
        if func == "first":
            return values[0] if values else None
        if func == "last":
            return values[-1] if values else None
        present = [v for v in values if v is not None]
        element_kind = self.ann.type(node).kind
        if func == "sum":
            if element_kind == "money":
                return R.money_sum(present, self.currency)
            return sum(present, Decimal(0))
        if func == "avg":
            if not present:
                return None
            if element_kind == "money":
                total = R.money_sum(present, self.currency)
                return None if total is None else Money(total.amount / len(present), total.currency)
            return Decimal(sum(present, Decimal(0))) / len(present)
        if element_kind == "money":
            return R.money_extreme(present, func == "max")
        if not present:
            return None
        return max(present) if func == "max" else min(present)

    # operators
    def _Negate(self, node: A.Negate, ctx: Context, el: list[Any]) -> Any:
        value = self._eval(node.operand, ctx, el)
        if value is None:
            return None
        if isinstance(value, Money):
            return Money(-value.amount, value.currency)
        return -value

    def _Not(self, node: A.Not, ctx: Context, el: list[Any]) -> Any:
        return not self._truth(node.operand, ctx, el)

    def _Logic(self, node: A.Logic, ctx: Context, el: list[Any]) -> Any:
        if node.op == "and":
            return self._truth(node.left, ctx, el) and self._truth(node.right, ctx, el)
        return self._truth(node.left, ctx, el) or self._truth(node.right, ctx, el)

    def _Binary(self, node: A.Binary, ctx: Context, el: list[Any]) -> Any:
        left = self._eval(node.left, ctx, el)
        right = self._eval(node.right, ctx, el)
        lt, rt = self.ann.type(node.left).kind, self.ann.type(node.right).kind
        if rt == "duration" and lt != "duration":
            if right is None:
                return None
            return R.shift(left, right.amount if node.op == "+" else -right.amount, right.unit, ctx.tz)
        if lt == "duration":
            if left is None:
                return None
            return R.shift(right, left.amount, left.unit, ctx.tz)
        if lt == rt == "string":
            return None if left is None or right is None else left + right
        return R.arith(node.op, left, right)

    def _Compare(self, node: A.Compare, ctx: Context, el: list[Any]) -> Any:
        left = self._eval(node.left, ctx, el)
        right = self._eval(node.right, ctx, el)
        op = node.op
        lt, rt = self.ann.type(node.left), self.ann.type(node.right)
        if op in ("in", "not in"):
            found = left is not None and any(R.equal(left, _align(v, lt.kind, ctx)) for v in (right or ()))
            return found if op == "in" else not found
        if op in ("contains", "starts with", "ends with"):
            if left is None or right is None:
                return False
            if lt.kind == "list":
                return any(R.equal(v, right) for v in left)
            texts = right if rt.kind == "list" else (right,)
            test = {"contains": lambda t: t in left, "starts with": left.startswith, "ends with": left.endswith}[op]
            return any(t is not None and test(t) for t in texts)
        if {lt.kind, rt.kind} == {"date", "datetime"}:
            left = None if left is None else R.as_datetime(left, ctx.tz)
            right = None if right is None else R.as_datetime(right, ctx.tz)
        if op == "==":
            return R.equal(left, right)
        if op == "!=":
            return not R.equal(left, right)
        return R.order(op, left, right)

    def _InSegment(self, node: A.InSegment, ctx: Context, el: list[Any]) -> Any:
        assert self.segments is not None
        inside = self.segments(node.segment, ctx)
        return not inside if node.negated else inside


def _align(value: Any, kind: str, ctx: Context) -> Any:
    if kind == "datetime" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return R.as_datetime(value, ctx.tz)
    return value


def datetime_literal(node: A.DateTimeLit, tz: dt.tzinfo) -> dt.datetime:

    return node.value.replace(tzinfo=zone(node.zone) if node.zone else tz).astimezone(dt.UTC)


def read_field(obj: Any, name: str, custom: bool) -> Any:
    """One field of a runtime record; custom contact attributes live in `attributes`."""
    if obj is None:
        return None
    if custom:
        return obj.attributes.get(name)
    return getattr(obj, name)
