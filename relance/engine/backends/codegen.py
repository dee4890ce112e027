"""The Python backend: each checked expression becomes the source of one plain Python function.

As Jinja2 does for templates, the AST is turned into Python source once, compiled to a code
object, and called per evaluation: no tree walk, no name look-up by string, no validation on
the hot path. Types known at check time pick the cheapest code (an int comparison, an inlined
currency test, a `for` loop that stops at the first match); the rest calls `runtime.py`, which
the interpreter shares, so both paths have one meaning. Generated code reads only attributes
that the data model table names, never user text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from relance.engine.backends.interpreter import datetime_literal
from relance.engine.data import values as R
from relance.engine.data.money import Money
from relance.engine.language.annotations import Annotations
from relance.grammar import ast as A

SegmentCheck = Callable[[str, Any], bool]


class _Writer:
    """Source of one module: helper functions first, then the entry function."""

    def __init__(self, ann: Annotations, currency: str, tz: dt.tzinfo, optimistic: bool = False,
                 prefix: str = "", constants: dict[str, Any] | None = None):
        """`optimistic` code omits null guards: it raises AttributeError/TypeError where a null
        would flow, and the caller then runs the guarded code. Where it does not raise, both
        compute the same value, because every guarded operation maps null to what Python's own
        operation gives or to an exception."""
        self.ann = ann
        self.currency = currency
        self.tz = tz
        self.optimistic = optimistic
        self.prefix = prefix
        self.constants: dict[str, Any] = constants if constants is not None else {}
        self.helpers: list[str] = []
        self.temps = 0

    # ---- small tools ----

    def const(self, value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return repr(value)
        if isinstance(value, int):
            return repr(value)
        if isinstance(value, str):
            return repr(value)
        for name, existing in self.constants.items():
            if type(existing) is type(value) and existing == value:
                return name
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def nullable(self, node: A.Node) -> bool:
        return self.ann.is_nullable(node)

    def may_be_null(self, node: A.Node) -> bool:
        """Whether to guard this value against null in the code being written."""
        return not self.optimistic and self.ann.is_nullable(node)

    def kind(self, node: A.Node) -> str:
        return self.ann.type(node).kind

    def number(self, value: Decimal) -> str:
        if value == value.to_integral_value():
            return repr(int(value))
        return self.const(value)

    # ---- expressions ----

    def cond(self, node: A.Expr, el: int) -> str:
        """Code that is exactly True or False (null reads as false)."""
        code = self.expr(node, el)
        if self.kind(node) == "bool" and not self.nullable(node):
            return code
        return f"({code} is True)"

    def expr(self, node: A.Expr, el: int) -> str:
        return getattr(self, "_" + type(node).__name__)(node, el)  # type: ignore[no-any-return]

    def _Number(self, node: A.Number, el: int) -> str:
        return self.number(node.value)

    def _Percent(self, node: A.Percent, el: int) -> str:
        return self.const(node.value / 100)

    def _MoneyLit(self, node: A.MoneyLit, el: int) -> str:
        return self.const(Money(node.amount, node.currency))

    def _DurationLit(self, node: A.DurationLit, el: int) -> str:
        return self.const(R.Duration(node.amount, node.unit))

    def _DateLit(self, node: A.DateLit, el: int) -> str:
        return self.const(node.value)

    def _DateTimeLit(self, node: A.DateTimeLit, el: int) -> str:
        return self.const(datetime_literal(node, self.tz))

    def _String(self, node: A.String, el: int) -> str:
        return repr(node.value)

    def _Bool(self, node: A.Bool, el: int) -> str:
        return repr(node.value)

    def _Null(self, node: A.Null, el: int) -> str:
        return "None"

    def _ListLit(self, node: A.ListLit, el: int) -> str:
        items = ", ".join(self.expr(item, el) for item in node.items)
        return f"({items},)" if node.items else "()"

    def _Name(self, node: A.Name, el: int) -> str:
        kind, level, name = self.ann.names[id(node)]
        if kind == "element":
            if id(node) in self.ann.custom:
                return f"_e{level}.attributes.get({name!r})"
            return f"_e{level}.{name}"
        return f"_c.{name}"

    def _Attribute(self, node: A.Attribute, el: int) -> str:
        base = self.expr(node.obj, el)
        custom = id(node) in self.ann.custom
        read = f".attributes.get({node.name!r})" if custom else f".{node.name}"
        if self.ann.type(node.obj).kind == "list":
            if id(node) in self.ann.flatten:
                return f"tuple(_y for _x in {base} for _y in _x{read})"
            return f"tuple(_x{read} for _x in {base})"
        if self.may_be_null(node.obj):
            if self.kind(node) == "list":
                return f"_R.list_field({base}, {node.name!r}, {custom})"
            return self._guard(base, lambda t: f"{t}{read}")
        return f"{base}{read}"

    def _Call(self, node: A.Call, el: int) -> str:
        arg = self.expr(node.args[0], el)
        func = node.func
        arg_kind = self.kind(node.args[0])
        if func == "days_since" and arg_kind == "datetime" and not self.may_be_null(node.args[0]):
            return f"(_c.now - {arg}).days"
        if func in ("days_since", "days_until"):
            return f"_R.{func}({arg}, _c.now, _c.tz)"
        if func in ("year", "month", "day", "weekday"):
            return f"_R.part({func!r}, {arg}, _c.tz)"
        if func == "date":
            return f"_R.local_date({arg}, _c.tz)" if not self.may_be_null(node.args[0]) else \
                self._guard(arg, lambda t: f"_R.local_date({t}, _c.tz)")
        if func == "anniversary":
            return f"_R.anniversary({arg}, _c.today, _c.tz)"
        if func in ("round", "floor") and arg_kind == "percent":
            return f"_R.{func}_percent({arg})"
        if func in ("round", "floor", "abs"):
            return f"_R.{func}_value({arg})"
        method = {"lower": "{}.lower()", "upper": "{}.upper()", "length": "len({})"}[func]
        if self.may_be_null(node.args[0]):
            return self._guard(arg, method.format)
        return method.format(arg)

    def _guard(self, code: str, use: Callable[[str], str]) -> str:
        t = self.temp()
        return f"(None if ({t} := {code}) is None else {use(t)})"

    def _Negate(self, node: A.Negate, el: int) -> str:
        inner = self.expr(node.operand, el)
        if self.kind(node) == "money":
            return self._guard(inner, lambda t: f"_Money(-{t}.amount, {t}.currency)")
        if self.may_be_null(node.operand):
            return self._guard(inner, lambda t: f"-{t}")
        return f"(-{inner})"

    def _Not(self, node: A.Not, el: int) -> str:
        return f"(not {self.cond(node.operand, el)})"

    def _Logic(self, node: A.Logic, el: int) -> str:
        return f"({self.cond(node.left, el)} {node.op} {self.cond(node.right, el)})"

    def _Binary(self, node: A.Binary, el: int) -> str:
        lk, rk = self.kind(node.left), self.kind(node.right)
        if rk == "duration" or lk == "duration":
            moving, duration = (node.left, node.right) if rk == "duration" else (node.right, node.left)
            assert isinstance(duration, A.DurationLit)
            amount = duration.amount if node.op == "+" else -duration.amount
            if isinstance(moving, A.Name) and moving.name in ("now", "today") and \
                    self.ann.names.get(id(moving), ("",))[0] != "element":
                return f"_R.shift_clock(_c, {moving.name!r}, {amount}, {duration.unit!r})"
            return f"_R.shift({self.expr(moving, el)}, {amount}, {duration.unit!r}, _c.tz)"
        left, right = self.expr(node.left, el), self.expr(node.right, el)
        plain = lk in ("number", "percent") and rk in ("number", "percent") and node.op != "/"
        if lk == rk == "string":
            plain = True
        if plain and not self.may_be_null(node.left) and not self.may_be_null(node.right):
            return f"({left} {node.op} {right})"
        if plain:
            a, b = self.temp(), self.temp()
            return f"(None if ({a} := {left}) is None or ({b} := {right}) is None else {a} {node.op} {b})"
        return f"_R.arith({node.op!r}, {left}, {right})"

    def _Compare(self, node: A.Compare, el: int) -> str:
        op = node.op
        lt, rt = self.ann.type(node.left), self.ann.type(node.right)
        if op in ("in", "not in"):
            code = self._membership(node, el)
            return code if op == "in" else f"(not {code})"
        left, right = self.expr(node.left, el), self.expr(node.right, el)
        ln, rn = self.may_be_null(node.left), self.may_be_null(node.right)
        if op in ("contains", "starts with", "ends with") and lt.kind != "list" and rt.kind == "list":
            method = {"contains": "__contains__", "starts with": "startswith", "ends with": "endswith"}[op]
            if op != "contains" and isinstance(node.right, A.ListLit) and id(node.right) in self.ann.constant:
                texts = tuple(item.value for item in node.right.items if isinstance(item, A.String))
                return self._both(left, self.const(texts), ln, False, lambda a, b: f"{a}.{method}({b})")
            return self._both(left, right, ln, rn, lambda a, b: f"any(_t is not None and {a}.{method}(_t) for _t in {b})")
        if op == "contains":
            if lt.kind == "list":
                if rt.kind == "money":
                    return f"any(_R.equal(_v, {right}) for _v in {left})"
                return self._both(left, right, ln, rn, lambda a, b: f"{b} in {a}")
            return self._both(left, right, ln, rn, lambda a, b: f"{b} in {a}")
        if op in ("starts with", "ends with"):
            method = "startswith" if op == "starts with" else "endswith"
            return self._both(left, right, ln, rn, lambda a, b: f"{a}.{method}({b})")
        if {lt.kind, rt.kind} == {"date", "datetime"}:
            left = self._as_datetime(node.left, left)
            right = self._as_datetime(node.right, right)
        if "money" in (lt.kind, rt.kind):
            literal = node.right if isinstance(node.right, A.MoneyLit) else None
            if literal is not None and lt.kind == "money":
                amount = self.number(literal.amount)
                test = "==" if op == "==" else ("!=" if op == "!=" else op)
                t = self.temp()
                if op == "!=":
                    return f"(not (({t} := {left}) is not None and {t}.currency == {literal.currency!r} and {t}.amount == {amount}))"
                if ln:
                    return f"(({t} := {left}) is not None and {t}.currency == {literal.currency!r} and {t}.amount {test} {amount})"
                return f"(({t} := {left}).currency == {literal.currency!r} and {t}.amount {test} {amount})"
            if op == "==":
                return f"_R.equal({left}, {right})"
            if op == "!=":
                return f"(not _R.equal({left}, {right}))"
            return f"_R.order({op!r}, {left}, {right})"
        if op in ("==", "!="):
            return f"({left} {op} {right})"
        return self._both(left, right, ln, rn, lambda a, b: f"{a} {op} {b}")

    def _both(self, left: str, right: str, ln: bool, rn: bool, test: Callable[[str, str], str]) -> str:
        """`test` on both sides, false when either is null."""
        parts = []
        if ln:
            a = self.temp()
            parts.append(f"({a} := {left}) is not None")
            left = a
        if rn:
            b = self.temp()
            parts.append(f"({b} := {right}) is not None")
            right = b
        parts.append(test(left, right))
        return "(" + " and ".join(parts) + ")"

    def _as_datetime(self, node: A.Expr, code: str) -> str:
        if self.kind(node) != "date":
            return code
        if isinstance(node, A.DateLit):
            return self.const(R.as_datetime(node.value, self.tz))
        return self._guard(code, lambda t: f"_R.as_datetime({t}, _c.tz)")

    def _membership(self, node: A.Compare, el: int) -> str:
        left = self.expr(node.left, el)
        lt = self.ann.type(node.left)
        right = node.right
        if isinstance(right, A.ListLit) and id(right) in self.ann.constant and lt.kind in ("string", "number", "bool"):
            values = frozenset(self._literal(item) for item in right.items)
            return f"({left} in {self.const(values)})"
        if lt.kind == "money":
            return f"any(_R.equal({left}, _v) for _v in {self.expr(right, el)})"
        return f"({left} in {self.expr(right, el)})"

    def _literal(self, node: A.Expr) -> Any:
        if isinstance(node, A.Number):
            return node.value
        if isinstance(node, A.Percent):
            return node.value / 100
        if isinstance(node, (A.String, A.Bool)):
            return node.value
        raise AssertionError(type(node))

    def _InSegment(self, node: A.InSegment, el: int) -> str:
        code = f"_segment({node.segment!r}, _c)"
        return f"(not {code})" if node.negated else code

    # ---- aggregates become helper functions with a plain loop ----

    def _Aggregate(self, node: A.Aggregate, el: int) -> str:
        info = self.ann.aggregates[id(node)]
        if node.where is None and node.func in ("count", "any"):
            size = f"len({self.expr(info.collection, el)})"
            return size if node.func == "count" else f"({size} > 0)"
        name = f"_agg{self.prefix}{len(self.helpers)}"
        self.helpers.append("")  # reserve the slot: nested aggregates get later numbers
        slot = len(self.helpers) - 1
        level = info.depth
        outer = "".join(f", _e{i}" for i in range(level))
        collection = self.expr(info.collection, el)
        var = f"_e{level}"
        saved = self.temps
        where = self.cond(node.where, level + 1) if node.where is not None else None
        value = var
        for field_name in info.projection:
            value = f"{value}.{field_name}"
        body = self._aggregate_body(node, var, value, where, collection)
        self.temps = max(self.temps, saved)
        self.helpers[slot] = f"def {name}(_c{outer}):\n" + "\n".join("    " + line for line in body)
        return f"{name}(_c{outer})"

    def _aggregate_body(self, node: A.Aggregate, var: str, value: str, where: str | None,
                        collection: str) -> list[str]:
        func = node.func
        kind = self.kind(node)
        loop = [f"for {var} in {collection}:"]
        test = [f"    if {where}:"] if where else ["    if True:"]
        if func == "count":
            if where is None:
                return [f"return len({collection})"]
            return ["_n = 0", *loop, *test, "        _n += 1", "return _n"]
        if func == "any":
            if where is None:
                return [f"return len({collection}) > 0"]
            return [*loop, *test, "        return True", "return False"]
        if func == "all":
            if where is None:
                return [*loop, f"    if {var} is not True:", "        return False", "return True"]
            return [*loop, f"    if not {where}:", "        return False", "return True"]
        if func in ("first", "last"):
            source = collection if func == "first" else f"reversed({collection})"
            return [f"for {var} in {source}:", *test, f"        return {value}", "return None"]
        if func == "sum" and kind == "money":
            return ["_s = 0", "_cur = None", *loop, *test, f"        _m = {value}",
                    "        if _m is None:", "            continue",
                    "        if _cur is None:", "            _cur = _m.currency",
                    "        elif _m.currency != _cur:", "            return None",
                    "        _s += _m.amount", f"return _Money(_D(_s), _cur or {self.currency!r})"]
        if func == "sum":
            return ["_s = _D(0)", *loop, *test, f"        _v = {value}", "        if _v is not None:",
                    "            _s += _v", "return _s"]
        collect = ["_vs = []", *loop, *test, f"        _v = {value}", "        if _v is not None:",
                   "            _vs.append(_v)"]
        if func == "avg":
            if kind == "money":
                return [*collect, f"_t = _R.money_sum(_vs, {self.currency!r}) if _vs else None",
                        "return None if _t is None else _Money(_t.amount / len(_vs), _t.currency)"]
            return [*collect, "return _D(sum(_vs, _D(0))) / len(_vs) if _vs else None"]
        if kind == "money":
            return [*collect, f"return _R.money_extreme(_vs, {func == 'max'})"]
        return [*collect, f"return {func}(_vs) if _vs else None"]


_GLOBALS = {"_R": R, "_Money": Money, "_D": Decimal, "_floor": math.floor, "AttributeError": AttributeError,
            "TypeError": TypeError, "__builtins__": {
    "len": len, "tuple": tuple, "any": any, "all": all, "reversed": reversed, "sum": sum, "min": min,
    "max": max, "frozenset": frozenset, "True": True, "False": False, "None": None}}


def compile_function(node: A.Expr, ann: Annotations, currency: str, tz: dt.tzinfo,
                     segment: SegmentCheck | None, label: str, as_condition: bool = False) -> Callable[[Any], Any]:
    """Python source for one expression, compiled to a function of the context."""
    safe = _Writer(ann, currency, tz)
    safe_body = safe.cond(node, 0) if as_condition else safe.expr(node, 0)
    fast = _Writer(ann, currency, tz, optimistic=True, prefix="f", constants=safe.constants)
    fast_body = fast.cond(node, 0) if as_condition else fast.expr(node, 0)
    # `_e0` is the element an items filter (`items where ...`) reads; other rules ignore it
    if fast_body == safe_body and fast.helpers == [h.replace("_agg", "_aggf") for h in safe.helpers]:
        rule = f"def _rule(_c, _e0=None):\n    return {safe_body}"
        helpers = safe.helpers
    else:  # complete data takes the unguarded path; a null met on the way takes the guarded one
        rule = (f"def _guarded(_c, _e0=None):\n    return {safe_body}\n\n"
                f"def _rule(_c, _e0=None):\n    try:\n        return {fast_body}\n"
                f"    except (AttributeError, TypeError):\n        return _guarded(_c, _e0)")
        helpers = [*safe.helpers, *fast.helpers]
    source = "\n\n".join([*helpers, rule]) + "\n"
    namespace: dict[str, Any] = dict(_GLOBALS)
    namespace.update(safe.constants)
    namespace["_segment"] = segment
    code = compile(source, f"<relance {label}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated source, built from the checked AST only
    function = namespace["_rule"]
    function.__relance_source__ = source
    return function  # type: ignore[no-any-return]
