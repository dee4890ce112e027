"""The static checker: binds names, gives every node a type, and collects every problem.

It is one pass over the AST driven by the data model table (`datamodel.py`) and the function
function table (`functions.py`). Its results (`Annotations`) are what both backends compile from, so a rule that
checks never meets an unknown name or a currency mix at run time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from relance.engine.data import types as T
from relance.engine.data.datamodel import ROOTS, SCOPES, Field, record_fields
from relance.engine.data.types import kinds_in_words, with_article
from relance.engine.language.annotations import AggInfo, Annotations
from relance.engine.language.functions import FUNCTIONS
from relance.engine.language.literals import LiteralChecks
from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic, did_you_mean, one_of
from relance.grammar.formatter import format_expr


@dataclass(slots=True)
class Environment:
    """What names mean in a rule set: custom attributes, segments, defaults."""

    attributes: Mapping[str, T.Type] = field(default_factory=dict)
    segments: Mapping[str, A.SegmentDecl] = field(default_factory=dict)
    currency: str = "EUR"


class Checker(LiteralChecks):
    """Types expressions into shared `Annotations`, appending diagnostics instead of raising."""

    def __init__(self, env: Environment, annotations: Annotations, diagnostics: list[Diagnostic]):
        self.env = env
        self.ann = annotations
        self.diagnostics = diagnostics
        self.scope = "any"
        self.elements: list[str] = []
        self.segment_refs: list[tuple[str, A.Span | None]] = []

    # ---- entry points ----

    def check_condition(self, expr: A.Expr, scope: str, what: str = "a condition") -> None:
        """A rule condition must be yes/no."""
        typ = self.check(expr, scope)
        if typ is not None and typ.kind not in ("bool", "null"):
            self.error(expr, "E210", f"{what} must be true or false, but this is {with_article(typ)}",
                       "compare it with something, for example `... >= 10`")

    def check(self, expr: A.Expr, scope: str) -> T.Type | None:
        self.scope = scope
        self.elements = []
        return self.visit(expr)

    def error(self, node: A.Node | None, code: str, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic.at(node.span if node else None, code, message, hint))

    # ---- dispatch ----

    def visit(self, node: A.Expr) -> T.Type | None:
        method = getattr(self, "_" + type(node).__name__)
        typ: T.Type | None = method(node)
        if typ is not None:
            self.ann.types[id(node)] = typ
        return typ

    def _set(self, node: A.Node, typ: T.Type, nullable: bool = False, constant: bool = False) -> T.Type:
        if nullable:
            self.ann.nullable.add(id(node))
        if constant:
            self.ann.constant.add(id(node))
        return typ

    def _const(self, *nodes: A.Node) -> bool:
        return all(id(n) in self.ann.constant for n in nodes)

    def _null(self, *nodes: A.Node) -> bool:
        return any(id(n) in self.ann.nullable for n in nodes)

    # names and fields
    def _Name(self, node: A.Name) -> T.Type | None:
        for level in range(len(self.elements) - 1, -1, -1):
            fields = record_fields(self.elements[level], self.env.attributes)
            if node.name in fields:
                spec = fields[node.name]
                self.ann.names[id(node)] = ("element", level, node.name)
                if spec.custom:
                    self.ann.custom[id(node)] = node.name
                return self._set(node, spec.type, nullable=spec.nullable)
        allowed = SCOPES[self.scope]
        if node.name in allowed:
            spec = ROOTS[node.name]
            self.ann.names[id(node)] = ("root", 0, node.name)
            constant = node.name in ("now", "today")
            return self._set(node, spec.type, nullable=spec.nullable, constant=constant)
        if node.name in ROOTS:
            where = {"cart": "at checkout", "order": "when an order event is processed",
                     "event": "when an event is processed"}.get(node.name, "elsewhere")
            hint = ("segments run over stored contacts, orders and events" if self.scope == "segment"
                    else f"{_scope_word(self.scope)} can read {one_of(allowed)}")
            self.error(node, "E221", f"{_scope_word(self.scope)} cannot read `{node.name}`: it is only known {where}",
                       hint)
            return None
        visible = list(allowed)
        for level in self.elements:
            visible.extend(record_fields(level, self.env.attributes))
        hint = did_you_mean(node.name, visible)
        if node.name in FUNCTIONS or node.name in A.AGGREGATES:
            hint = f"`{node.name}` is a function: write `{node.name}(...)`"
        elif hint is None and (node.name.isupper() or node.name[:1].isupper()):
            hint = f'if this is a text, put it in double quotes: "{node.name}"'
        elif hint is None and self.elements:
            hint = f"inside `where`, the fields of each {self.elements[-1]} can be named directly: {one_of(record_fields(self.elements[-1], self.env.attributes))}"
        elif hint is None:
            hint = f"the names you can start from are {one_of(allowed)}"
        self.error(node, "E220", f"unknown name `{node.name}`", hint)
        return None

    def _Attribute(self, node: A.Attribute) -> T.Type | None:
        base = self.visit(node.obj)
        if base is None:
            return None
        if base.kind == "record":
            spec = self._field(node, base.record or "")
            if spec is None:
                return None
            if spec.custom:
                self.ann.custom[id(node)] = node.name
            if spec.type.kind == "list":
                return self._set(node, spec.type)
            return self._set(node, spec.type, nullable=spec.nullable or self._null(node.obj))
        if base.kind == "list" and base.element is not None and base.element.kind == "record":
            spec = self._field(node, base.element.record or "")
            if spec is None:
                return None
            if spec.custom:
                self.ann.custom[id(node)] = node.name
            if spec.type.kind == "list":
                self.ann.flatten.add(id(node))
                return self._set(node, spec.type)
            return self._set(node, T.list_of(spec.type))
        self.error(node, "E222", f"{with_article(base)} has no fields, so `.{node.name}` cannot be read",
                   "remove the dot, or start from a record such as `contact` or `cart`")
        return None

    def _field(self, node: A.Attribute, record: str) -> Field | None:
        fields = record_fields(record, self.env.attributes)
        if node.name in fields:
            return fields[node.name]
        hint = did_you_mean(node.name, fields) or f"a {record} has {one_of(fields)}"
        if record == "contact":
            hint += " (other contact attributes must be declared in relance.yaml under `attributes`)"
        self.error(node, "E223", f"a {record} has no field `{node.name}`", hint)
        return None

    # calls
    def _Call(self, node: A.Call) -> T.Type | None:
        spec = FUNCTIONS.get(node.func)
        if spec is None:
            if node.func in A.AGGREGATES:
                self.error(node, "E230", f"`{node.func}` takes one collection, like `{node.func}(orders.total)`")
            else:
                self.error(node, "E231", f"unknown function `{node.func}`",
                           did_you_mean(node.func, [*FUNCTIONS, *A.AGGREGATES]) or
                           f"the functions are {one_of([*FUNCTIONS, *A.AGGREGATES], 30)}")
            for arg in node.args:
                self.visit(arg)
            return None
        types = [self.visit(arg) for arg in node.args]
        if len(node.args) != len(spec.params):
            self.error(node, "E232", f"`{node.func}` takes {len(spec.params)} value{'s' if len(spec.params) != 1 else ''}, "
                       f"not {len(node.args)}")
            return None
        if any(t is None for t in types):
            return None
        for arg, typ, kinds in zip(node.args, types, spec.params, strict=True):
            assert typ is not None
            if typ.kind != "null" and typ.kind not in kinds:
                self.error(arg, "E233", f"`{node.func}` needs {kinds_in_words(kinds)}, not {with_article(typ)}")
                return None
        first = types[0]
        assert first is not None
        result = first if spec.result is None else T.SCALAR_TYPES[spec.result]
        if node.func in ("round", "floor") and first.kind == "percent":
            result = T.PERCENT  # to a whole percent: round(15.5%) is 16%
        return self._set(node, result, nullable=spec.always_nullable or self._null(*node.args),
                         constant=self._const(*node.args))

    def _Aggregate(self, node: A.Aggregate) -> T.Type | None:
        source = self.visit(node.source)
        if source is None:
            if node.where is not None:
                self.visit_detached(node.where)
            return None
        if source.kind != "list" or source.element is None:
            self.error(node.source, "E240", f"`{node.func}` needs a collection such as `orders` or `cart.items`, "
                       f"not {with_article(source)}")
            return None
        collection, projection = self._split(node.source)
        coll_type = self.ann.types.get(id(collection))
        element_record = coll_type.element.record if coll_type and coll_type.element and coll_type.element.kind == "record" else None
        if node.where is not None:
            if element_record is None:
                self.error(node.where, "E241", "`where` filters a collection of records such as `orders`; "
                           f"{with_article(source)} has no fields to filter on")
                return None
            self.elements.append(element_record)
            try:
                cond = self.visit(node.where)
            finally:
                self.elements.pop()
            if cond is None:
                return None
            if cond.kind not in ("bool", "null"):
                self.error(node.where, "E210", f"the `where` filter must be true or false, but this is {with_article(cond)}")
                return None
        info = AggInfo(collection, element_record or "", projection, len(self.elements))
        self.ann.aggregates[id(node)] = info
        element = source.element
        func = node.func
        if func == "count":
            return self._set(node, T.NUMBER)
        if func in ("any", "all"):
            if node.where is None and func == "all" and element.kind != "bool":
                self.error(node, "E242", "`all` needs a condition: `all(cart.items where quantity >= 2)`")
                return None
            return self._set(node, T.BOOL)
        if func in ("first", "last"):
            return self._set(node, element, nullable=True)
        if element.kind == "record":
            self.error(node.source, "E243", f"`{func}` needs values, not whole {element.record}s",
                       f"name a field, e.g. `{func}({_text(node.source)}.total)`" if element.record in ("order", "item")
                       else "name one of their fields")
            return None
        if element.kind == "null":
            self.error(node.source, "E244", f"`{func}` of an empty list has nothing to work on")
            return None
        if func in ("sum", "avg"):
            if element.kind not in ("number", "percent", "money"):
                self.error(node.source, "E244", f"`{func}` adds numbers or amounts, not {element}s")
                return None
            return self._set(node, element, nullable=func == "avg" or element.kind == "money")
        if element.kind not in T.ORDERED:
            self.error(node.source, "E244", f"`{func}` compares numbers, amounts, texts or dates, not {element}s")
            return None
        return self._set(node, element, nullable=True)

    def _split(self, source: A.Expr) -> tuple[A.Expr, tuple[str, ...]]:
        """`orders.items.price` -> (`orders.items`, ("price",)): the last collection of records."""
        projection: list[str] = []
        node = source
        while True:
            typ = self.ann.types.get(id(node))
            if typ is not None and typ.kind == "list" and typ.element is not None and typ.element.kind == "record":
                return node, tuple(reversed(projection))
            if not isinstance(node, A.Attribute) or id(node) in self.ann.flatten:
                return source, ()
            projection.append(node.name)
            node = node.obj

    def visit_detached(self, node: A.Expr) -> None:
        """Check a sub-expression whose context is broken, without cascading errors."""
        count = len(self.diagnostics)
        with contextlib.suppress(KeyError):
            self.visit(node)
        del self.diagnostics[count:]

    # operators
    def _Negate(self, node: A.Negate) -> T.Type | None:
        typ = self.visit(node.operand)
        if typ is None:
            return None
        if typ.kind not in ("number", "percent", "money", "null"):
            self.error(node, "E250", f"only numbers and amounts can be negative, not {with_article(typ)}")
            return None
        return self._set(node, typ, nullable=self._null(node.operand), constant=self._const(node.operand))

    def _Not(self, node: A.Not) -> T.Type | None:
        typ = self.visit(node.operand)
        if typ is None:
            return None
        if typ.kind not in ("bool", "null"):
            self.error(node.operand, "E210", f"`not` needs a condition, but this is {with_article(typ)}")
            return None
        return self._set(node, T.BOOL, constant=self._const(node.operand))

    def _Logic(self, node: A.Logic) -> T.Type | None:
        left, right = self.visit(node.left), self.visit(node.right)
        if left is None or right is None:
            return None
        for side, typ in ((node.left, left), (node.right, right)):
            if typ.kind not in ("bool", "null"):
                self.error(side, "E210", f"`{node.op}` joins conditions, but this is {with_article(typ)}",
                           "compare it with something, for example `cart.subtotal >= 50 EUR`")
                return None
        return self._set(node, T.BOOL, constant=self._const(node.left, node.right))

    def _Binary(self, node: A.Binary) -> T.Type | None:
        left, right = self.visit(node.left), self.visit(node.right)
        if left is None or right is None:
            return None
        result = self._arith(node, left, right)
        if result is None:
            return None
        runtime_currency = result.kind == "money" and (left.currency is None or right.currency is None) \
            and left.kind == right.kind == "money"
        nullable = self._null(node.left, node.right) or node.op == "/" or runtime_currency
        return self._set(node, result, nullable=nullable, constant=self._const(node.left, node.right))

    def _arith(self, node: A.Binary, left: T.Type, right: T.Type) -> T.Type | None:
        op, lk, rk = node.op, left.kind, right.kind
        if "null" in (lk, rk):
            return right if lk == "null" else left
        num = T.NUMERIC
        if lk in num and rk in num:
            return T.PERCENT if lk == rk == "percent" and op in "+-" else T.NUMBER
        if lk == rk == "money":
            if left.currency and right.currency and left.currency != right.currency:
                self.error(node, "E260", f"cannot {_VERB[op]} {left.currency} and {right.currency} amounts",
                           f"amounts in {left.currency} and {right.currency} never mix; convert one of them or write two rules")
                return None
            if op in "+-":
                return T.money(left.currency or right.currency)
            if op == "/":
                return T.NUMBER
        if op in "*" and {lk, rk} <= {"money", "number", "percent"} and "money" in (lk, rk) and lk != rk:
            return left if lk == "money" else right
        if op == "/" and lk == "money" and rk in num:
            return left
        if op in "+-" and lk in ("date", "datetime") and rk == "duration":
            if lk == "date" and _sub_day_duration(node.right):
                self.error(node.right, "E261", "a date moves by days, weeks, months or years, not hours",
                           "use a date and time such as `now` instead of `today`")
                return None
            return left
        if op == "+" and lk == "duration" and rk in ("date", "datetime"):
            return right
        if op == "+" and lk == rk == "string":
            return T.STRING
        hint = None
        if lk in ("date", "datetime") and rk in ("date", "datetime") and op == "-":
            hint = "to count the days between dates use `days_since(...)` or `days_until(...)`"
        elif "money" in (lk, rk) and {lk, rk} & num and op in "+-":
            hint = "write the number as an amount with its currency, e.g. `5 EUR`"
        self.error(node, "E262", f"cannot {_VERB[op]} {with_article(left)} and {with_article(right)}", hint)
        return None

    def _Compare(self, node: A.Compare) -> T.Type | None:
        left, right = self.visit(node.left), self.visit(node.right)
        if left is None or right is None:
            return None
        op = node.op
        constant = self._const(node.left, node.right)
        if op in ("in", "not in"):
            if right.kind == "string" and left.kind == "string":
                self.error(node, "E270", f"`{op}` looks for a value in a list", "to look inside a text use `contains`")
                return None
            if right.kind != "list":
                self.error(node.right, "E270", f"`{op}` needs a list after it, such as `[\"FR\", \"BE\"]`, not {with_article(right)}")
                return None
            assert right.element is not None
            if not T.compatible(left, right.element):
                self.error(node, "E271", f"{with_article(left)} is never in {with_article(right)}")
                return None
            return self._set(node, T.BOOL, constant=constant)
        if op in ("starts with", "ends with", "contains") and left.kind in ("string", "null") \
                and right.kind == "list" and right.element is not None and right.element.kind in ("string", "null"):
            return self._set(node, T.BOOL, constant=constant)  # any of the texts in the list
        if op in ("starts with", "ends with"):
            for side, typ in ((node.left, left), (node.right, right)):
                if typ.kind not in ("string", "null"):
                    self.error(side, "E272", f"`{op}` compares texts, not {with_article(typ)}")
                    return None
            return self._set(node, T.BOOL, constant=constant)
        if op == "contains":
            if left.kind == "list":
                assert left.element is not None
                if not T.compatible(left.element, right):
                    self.error(node, "E271", f"{with_article(left)} never contains {with_article(right)}")
                    return None
                return self._set(node, T.BOOL, constant=constant)
            for side, typ in ((node.left, left), (node.right, right)):
                if typ.kind not in ("string", "null"):
                    self.error(side, "E272", f"`contains` looks in a text or a list, not in {with_article(typ)}")
                    return None
            return self._set(node, T.BOOL, constant=constant)
        if not T.compatible(left, right):
            hint = None
            if left.kind == "money" and right.kind in T.NUMERIC:
                hint = f"write the number as an amount with its currency, e.g. `{_text(node.right)} {left.currency or self.env.currency}`"
            elif left.kind == right.kind == "money":
                hint = f"amounts in {left.currency} and {right.currency} never compare"
            elif {left.kind, right.kind} == {"string", "number"}:
                hint = "put quotes around the text, or remove them around the number"
            self.error(node, "E273", f"cannot compare {with_article(left)} with {with_article(right)}", hint)
            return None
        if op not in ("==", "!=") and not (left.kind in T.ORDERED or left.kind == "null") \
                or op not in ("==", "!=") and not (right.kind in T.ORDERED or right.kind == "null"):
            self.error(node, "E274", f"`{op}` orders numbers, amounts, texts and dates, not {with_article(left)}")
            return None
        if op in ("==", "!=") and "null" in (left.kind, right.kind):
            return self._set(node, T.BOOL, constant=constant)
        if "list" in (left.kind, right.kind) or "record" in (left.kind, right.kind):
            self.error(node, "E274", f"`{op}` compares single values, not {with_article(left if left.kind in ('list', 'record') else right)}",
                       "use `count(...)`, `any(...)` or `contains`")
            return None
        return self._set(node, T.BOOL, constant=constant)

    def _InSegment(self, node: A.InSegment) -> T.Type | None:
        subject = self.visit(node.subject)
        if subject is None:
            return None
        if not (isinstance(node.subject, A.Name) and node.subject.name == "contact"):
            self.error(node.subject, "E280", "only `contact` can be in a segment",
                       f"write `contact in segment {node.segment}`")
            return None
        if node.segment not in self.env.segments:
            self.error(node, "E281", f"there is no segment `{node.segment}`",
                       did_you_mean(node.segment, self.env.segments) or
                       (f"the segments are {one_of(self.env.segments)}" if self.env.segments else "declare it with `segment NAME:`"))
            return None
        self.segment_refs.append((node.segment, node.span))
        return self._set(node, T.BOOL)


_VERB = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}


def _sub_day_duration(node: A.Expr) -> bool:
    return isinstance(node, A.DurationLit) and node.unit in ("hour", "minute")


def _scope_word(scope: str) -> str:
    return {"segment": "a segment", "checkout": "a promotion"}.get(scope, "this rule")


def _text(node: A.Expr) -> str:
    return format_expr(node)
