"""The SQL backend: a segment condition becomes one SQLAlchemy Core query over the store.

Each aggregate is a correlated subquery; sub-expressions that do not read a row (literals,
`now - 3 months`) are computed once in Python and bound as parameters, so calendar arithmetic
has one implementation. The null, currency and rounding rules are those of `runtime.py`:
comparisons with null are false (`coalesce(..., false)`), `==` is null-safe, money is compared
only within one currency, in integer minor units.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

from relance.engine.backends.interpreter import Interpreter
from relance.engine.data import values as R
from relance.engine.data.context import Context
from relance.engine.data.datamodel import TIME_FIELDS
from relance.engine.data.money import MINOR_UNITS, Money
from relance.engine.language.annotations import Annotations
from relance.engine.store.connection import zone_name
from relance.engine.store.tables import UTCDateTime, contacts, events, order_items, orders, rfm
from relance.grammar import ast as A


class SqlUnsupported(Exception):
    """A construct the SQL backend cannot express (yet); reported with the node's span."""

    def __init__(self, node: A.Node, message: str):
        super().__init__(message)
        self.node = node


@dataclass(slots=True)
class Record:
    """A row a name refers to: the contact, an element of a `where`, or `last(orders)`."""

    kind: str
    table: Any


@dataclass(slots=True)
class Collection:
    """Rows of `kind` from `source`, restricted by `correlate` to the current contact/order."""

    kind: str
    source: FromClause
    element: Any
    correlate: list[ColumnElement[Any]]


@dataclass(slots=True)
class JsonList:
    """A list stored as a JSON array column (tags, codes)."""

    column: ColumnElement[Any]


@dataclass(slots=True)
class Value:
    sql: ColumnElement[Any]
    currency: ColumnElement[Any] | None = None
    """Money only: the currency expression beside the minor-unit amount."""


@dataclass(slots=True)
class Const:
    value: Any


@dataclass(slots=True)
class Scope:
    frames: list[Record] = field(default_factory=list)


class SqlCompiler:
    """Compiles checked expressions for one dialect, one clock and one time zone."""

    def __init__(self, ann: Annotations, dialect: str, now: dt.datetime, tz: dt.tzinfo, currency: str,
                 segments: dict[str, A.Expr] | None = None, segment_annotations: Annotations | None = None):
        """`segments` are inlined for `contact in segment x`; they were typed in `segment_annotations`
        (the rule set's), which may differ from `ann` when compiling a free-standing expression."""
        self.ann = ann
        self.segment_annotations = segment_annotations or ann
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        self.tz = tz
        self.zone = zone_name(tz)
        self.currency = currency
        self.segments = segments or {}
        self.ctx = Context(now=now, tz=tz)
        self.oracle = Interpreter(ann, currency)
        self.contact = contacts

    # ---- entry ----

    def condition(self, node: A.Expr) -> ColumnElement[bool]:
        return self.truth(node, [])

    def members_query(self, node: A.Expr) -> Any:
        return select(contacts.c.id).where(self.condition(node))

    # ---- helpers ----

    def truth(self, node: A.Expr, frames: list[Record]) -> ColumnElement[bool]:
        value = self.compile(node, frames)
        if isinstance(value, Const):
            return true() if value.value is True else false()
        assert isinstance(value, Value)
        if self.ann.is_nullable(node) or self.ann.type(node).kind == "null":
            return func.coalesce(value.sql, false())
        return value.sql

    def compile(self, node: A.Expr, frames: list[Record]) -> Any:
        if id(node) in self.ann.constant and not isinstance(node, A.DurationLit):
            return Const(self.oracle.evaluate(node, self.ctx))
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise SqlUnsupported(node, f"{type(node).__name__} cannot run in the database yet")
        return method(node, frames)

    def value(self, node: A.Expr, frames: list[Record]) -> Value:
        """A scalar SQL value (constants become bound parameters)."""
        result = self.compile(node, frames)
        if isinstance(result, Value):
            return result
        if isinstance(result, Const):
            return self.bind(result.value, node)
        raise SqlUnsupported(node, "this collection or record must be used inside count(...), any(...) or a field")

    def bind(self, value: Any, node: A.Node | None = None) -> Value:
        if value is None:
            return Value(null())
        if isinstance(value, bool):
            return Value(literal(value, Boolean))
        if isinstance(value, Money):  # exact: 0.001 EUR is 0.1 cent, not 0
            minor = value.amount.scaleb(MINOR_UNITS.get(value.currency, 2))
            return Value(self.bind(minor).sql, literal(value.currency, String))
        if isinstance(value, dt.datetime):
            return Value(literal(value, UTCDateTime))
        if isinstance(value, dt.date):
            return Value(literal(value, Date))
        if isinstance(value, int):
            return Value(literal(value, Integer))
        if isinstance(value, Decimal):
            if value == value.to_integral_value() and abs(value) < 2**62:
                return Value(literal(int(value), Integer))
            return Value(literal(value, Numeric(38, 10)) if self.pg else literal(float(value), Float))
        if isinstance(value, str):
            return Value(literal(value, String))
        raise SqlUnsupported(node or A.Null(), f"cannot bind {type(value).__name__}")

    # ---- names and fields ----

    def _Name(self, node: A.Name, frames: list[Record]) -> Any:
        kind, level, name = self.ann.names[id(node)]
        if kind == "element":
            return self.field(frames[level], name, node)
        if name == "contact":
            return Record("contact", self.contact)
        if name == "orders":
            return Collection("order", orders, orders, [orders.c.contact_id == self.contact.c.id])
        if name == "events":
            return Collection("event", events, events, [events.c.contact_id == self.contact.c.id])
        if name == "rfm":
            return Record("rfm", rfm)
        raise SqlUnsupported(node, f"`{name}` cannot be read in the database")

    def _Attribute(self, node: A.Attribute, frames: list[Record]) -> Any:
        base = self.compile(node.obj, frames)
        if isinstance(base, Record):
            return self.field(base, node.name, node)
        if isinstance(base, _Pick):
            value = self.field(Record(base.coll.kind, base.coll.element), node.name, node)
            if not isinstance(value, Value):
                raise SqlUnsupported(node, "only plain fields of first(...) and last(...) can run in the database")
            return self._pick_value(base, value)
        if isinstance(base, Collection) and node.name == "items" and base.kind == "order":
            items = order_items.alias()
            source = base.source.join(items, items.c.order_id == base.element.c.id)
            return Collection("item", source, items, base.correlate)
        raise SqlUnsupported(node, "reading a field of every element works inside an aggregate, "
                                   "e.g. `sum(orders.total)`, `count(orders.items)`")

    def field(self, record: Record, name: str, node: A.Node) -> Any:
        t = record.table
        kind = record.kind
        if kind == "contact":
            if name == "consents":
                return Record("consents", t)
            if name == "tags":
                return JsonList(t.c.tags)
            if id(node) in self.ann.custom:
                return self.custom(t, name, node)
            return Value(t.c[name])
        if kind == "consents":
            return Value(t.c[f"consent_{name}"])
        if kind == "order":
            if name in ("total", "shipping"):
                return Value(t.c[f"{name}_minor"], t.c.currency)
            if name == "items":
                items = order_items.alias()
                return Collection("item", items, items, [items.c.order_id == t.c.id])
            if name == "codes":
                return JsonList(t.c.codes)
            return Value(t.c[name])
        if kind == "item":
            if name == "unit_price":
                return Value(t.c.unit_price_minor, t.c.currency)
            if name == "total":
                return Value(t.c.unit_price_minor * t.c.quantity, t.c.currency)
            if name == "tags":
                return JsonList(t.c.tags)
            return Value(t.c[name])
        if kind == "event":
            return Value(t.c[name])
        if kind == "rfm":  # one row per contact with an RFM, read by correlated look-ups

            def look(column: Any) -> Any:
                return select(column).where(t.c.contact_id == self.contact.c.id).scalar_subquery()

            if name == "monetary":
                return Value(look(t.c.monetary_minor), look(t.c.currency))
            return Value(look(t.c[name]))
        raise SqlUnsupported(node, f"a {kind} cannot be read in the database")

    def custom(self, table: Any, name: str, node: A.Node) -> Any:
        typ = self.ann.type(node)
        element = table.c.attributes[name]
        if typ.kind == "string":
            return Value(element.as_string())
        if typ.kind == "bool":
            return Value(element.as_boolean())
        if typ.kind in ("number", "percent"):
            return Value(cast(element.as_string(), Numeric(38, 10)) if self.pg else element.as_float())
        if typ.kind == "date":
            return Value(cast(element.as_string(), Date) if self.pg else element.as_string())
        if typ.kind == "datetime":
            return Value(cast(element.as_string(), UTCDateTime) if self.pg else element.as_string())
        if typ.kind == "list":
            return JsonList(element)
        raise SqlUnsupported(node, f"custom attributes of type {typ} cannot be read in the database yet")

    # ---- aggregates ----

    def _Aggregate(self, node: A.Aggregate, frames: list[Record], info: Any = None) -> Any:
        info = info or self.ann.aggregates[id(node)]
        coll = self.compile(info.collection, frames)
        func_name = node.func
        if isinstance(coll, JsonList):
            if func_name in ("count", "any") and node.where is None:
                length = func.coalesce(func.jsonb_array_length(cast(coll.column, JSONB)) if self.pg
                                       else func.json_array_length(coll.column), 0)
                return Value(length if func_name == "count" else length > 0)
            raise SqlUnsupported(node, f"`{func_name}` over a stored list cannot run in the database yet")
        if not isinstance(coll, Collection):
            raise SqlUnsupported(node, "this collection cannot be read in the database")
        element = Record(coll.kind, coll.element)
        inner = [*frames, element]
        conditions = list(coll.correlate)
        if node.where is not None and func_name != "all":
            conditions.append(self.truth(node.where, inner))
        projected: Value | None = None
        if info.projection:
            current: Any = element
            for name in info.projection:
                current = self.field(current, name, node) if isinstance(current, Record) else None
            if not isinstance(current, Value):
                raise SqlUnsupported(node, "this projection cannot be read in the database")
            projected = current

        def sub(*columns: Any) -> Any:
            return select(*columns).select_from(coll.source).where(*conditions)

        if func_name == "count":
            return Value(sub(func.count()).scalar_subquery())
        if func_name == "any":
            return Value(exists(sub(literal_column("1"))))
        if func_name == "all":
            if node.where is None:
                raise SqlUnsupported(node, "`all` without `where` cannot run in the database")
            failing = [*conditions, not_(self.truth(node.where, inner))]
            return Value(not_(exists(select(literal_column("1")).select_from(coll.source).where(*failing))))
        if func_name in ("first", "last"):
            time_field = TIME_FIELDS.get(coll.kind)
            if time_field is None:
                raise SqlUnsupported(node, f"`{func_name}` of {coll.kind}s cannot run in the database")
            order = [coll.element.c[time_field], coll.element.c.id]
            if func_name == "last":
                order = [o.desc() for o in order]
            if projected is None:
                return _Pick(coll, conditions, order)
            if info.projection == (time_field,):  # the time itself: MIN/MAX, as one would write it
                edge = func.min if func_name == "first" else func.max
                return Value(select(edge(projected.sql)).select_from(coll.source).where(*conditions)
                             .scalar_subquery())
            return self._pick_value(_Pick(coll, conditions, order), projected)
        if projected is None:
            raise SqlUnsupported(node, f"`{func_name}` needs a field")
        kind = self.ann.type(node).kind
        if kind == "money":
            assert projected.currency is not None
            mixed = func.count(projected.currency.distinct()) > 1
            if func_name == "sum":
                amount = case((mixed, null()), else_=func.coalesce(func.sum(projected.sql), 0))
                currency = case((mixed, null()), else_=func.coalesce(func.min(projected.currency), self.currency))
            else:
                agg = {"avg": func.avg, "min": func.min, "max": func.max}[func_name]
                amount = case((mixed, null()), else_=agg(projected.sql))
                currency = case((mixed, null()), else_=func.min(projected.currency))
            return Value(sub(amount).scalar_subquery(), sub(currency).scalar_subquery())
        if func_name == "sum":
            return Value(sub(func.coalesce(func.sum(projected.sql), 0)).scalar_subquery())
        agg = {"avg": func.avg, "min": func.min, "max": func.max}[func_name]
        return Value(sub(agg(projected.sql)).scalar_subquery())

    def _pick_value(self, pick: _Pick, value: Value) -> Value:
        time_field = TIME_FIELDS.get(pick.coll.kind)
        if value.currency is None and time_field is not None and value.sql is pick.coll.element.c[time_field]:
            edge = func.min if pick.order[0] is pick.coll.element.c[time_field] else func.max
            return Value(select(edge(value.sql)).select_from(pick.coll.source).where(*pick.conditions)
                         .scalar_subquery())
        def one(column: Any) -> Any:
            return (select(column).select_from(pick.coll.source).where(*pick.conditions)
                    .order_by(*pick.order).limit(1).scalar_subquery())
        return Value(one(value.sql), one(value.currency) if value.currency is not None else None)

    # ---- operators ----

    def _Not(self, node: A.Not, frames: list[Record]) -> Any:
        return Value(not_(self.truth(node.operand, frames)))

    def _Logic(self, node: A.Logic, frames: list[Record]) -> Any:
        join = and_ if node.op == "and" else or_
        return Value(join(self.truth(node.left, frames), self.truth(node.right, frames)))

    def _Negate(self, node: A.Negate, frames: list[Record]) -> Any:
        inner = self.value(node.operand, frames)
        return Value(-inner.sql, inner.currency)

    def _Binary(self, node: A.Binary, frames: list[Record]) -> Any:
        lk, rk = self.ann.type(node.left).kind, self.ann.type(node.right).kind
        if "duration" in (lk, rk):
            moving, duration = (node.left, node.right) if rk == "duration" else (node.right, node.left)
            assert isinstance(duration, A.DurationLit)
            amount = duration.amount if node.op == "+" else -duration.amount
            return self.shift(self.value(moving, frames), self.ann.type(moving).kind, amount, duration.unit)
        left, right = self.value(node.left, frames), self.value(node.right, frames)
        op = node.op
        if lk == rk == "string":
            return Value(left.sql + right.sql if not self.pg else left.sql.concat(right.sql))
        if lk == rk == "money":
            same = left.currency == right.currency  # type: ignore[operator]
            if op in "+-":
                amount = left.sql + right.sql if op == "+" else left.sql - right.sql
                return Value(case((same, amount), else_=null()), case((same, left.currency), else_=null()))
            return Value(case((same, self.divide(left.sql, right.sql)), else_=null()))
        if lk == "money" or rk == "money":
            money, number = (left, right) if lk == "money" else (right, left)
            if op == "*":
                return Value(money.sql * number.sql, money.currency)
            return Value(self.divide(money.sql, number.sql), money.currency)
        if op == "/":
            return Value(self.divide(left.sql, right.sql))
        ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
        return Value(ops[op](left.sql, right.sql))

    def divide(self, a: Any, b: Any) -> Any:
        if self.pg:
            return cast(a, Numeric) / func.nullif(b, 0)
        return cast(a, Float) / func.nullif(b, 0)

    def shift(self, value: Value, kind: str, amount: int, unit: str) -> Value:
        if not self.pg:
            return Value(func.relance_shift(value.sql, amount, unit, self.zone))
        order = ("year", "month", "week", "day", "hour", "minute")
        interval = func.make_interval(*[amount if unit == u else 0 for u in order])
        if kind == "date":
            return Value(cast(value.sql + interval, Date))
        if unit in ("hour", "minute"):
            return Value(value.sql + interval)
        local = func.timezone(self.zone, func.timezone("UTC", value.sql))
        return Value(func.timezone("UTC", func.timezone(self.zone, local + interval)))

    def _exists_form(self, node: A.Compare, frames: list[Record]) -> Any:
        """`count(X where c) == 0` is NOT EXISTS, `>= 1` / `> 0` / `!= 0` is EXISTS: the query one
        would write by hand, which stops at the first row instead of counting them all."""
        count, bound, op = node.left, node.right, node.op
        if isinstance(count, A.Number) and isinstance(bound, A.Aggregate):
            count, bound = bound, count
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if not (isinstance(count, A.Aggregate) and count.func == "count" and isinstance(bound, A.Number)):
            return None
        info = self.ann.aggregates[id(count)]
        if info.projection or not info.element:
            return None
        some = {("==", 0): False, ("<=", 0): False, ("<", 1): False,
                ("!=", 0): True, (">", 0): True, (">=", 1): True}.get((op, bound.value))
        if some is None:
            return None
        found = self._Aggregate(A.Aggregate("any", count.source, count.where, span=count.span), frames, info)
        return Value(found.sql if some else not_(found.sql))

    def _edge_form(self, node: A.Compare, frames: list[Record]) -> Any:
        """`first(X where c).created_at >= K` (a minimum against a constant) as EXISTS / NOT EXISTS:
        `min(t) >= K` is "some row, and none with t < K"; `max(t) >= K` is "some row with t >= K"."""
        edge, bound, op = node.left, node.right, node.op
        if id(edge) in self.ann.constant:
            edge, bound = bound, edge
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if op not in ("<", "<=", ">", ">=") or id(bound) not in self.ann.constant:
            return None
        if not (isinstance(edge, A.Attribute) and isinstance(edge.obj, A.Aggregate)
                and edge.obj.func in ("first", "last") and id(edge.obj) in self.ann.aggregates):
            return None
        info = self.ann.aggregates[id(edge.obj)]
        if info.projection or TIME_FIELDS.get(info.element) != edge.name:
            return None
        picked = self.compile(edge.obj, frames)
        if not isinstance(picked, _Pick):
            return None
        value = self.oracle.evaluate(bound, self.ctx)
        if value is None:
            return Value(false())
        if self.ann.type(bound).kind == "date":
            value = R.as_datetime(value, self.tz)
        column = picked.coll.element.c[edge.name]
        limit = self.bind(value).sql

        def rows(*extra: Any) -> Any:
            return exists(select(literal_column("1")).select_from(picked.coll.source).where(*picked.conditions, *extra))

        lowest = edge.obj.func == "first"
        if (lowest and op in ("<", "<=")) or (not lowest and op in (">", ">=")):
            return Value(rows(_op(op, column, limit)))
        opposite = {">=": "<", ">": "<=", "<": ">=", "<=": ">"}[op]  # the selective test first
        return Value(and_(rows(_op(op, column, limit)), not_(rows(_op(opposite, column, limit)))))

    def _Compare(self, node: A.Compare, frames: list[Record]) -> Any:
        shortcut = self._exists_form(node, frames) or self._edge_form(node, frames)
        if shortcut is not None:
            return shortcut
        op = node.op
        lt, rt = self.ann.type(node.left), self.ann.type(node.right)
        if op in ("in", "not in"):
            found = self.membership(node, frames)
            return Value(found if op == "in" else not_(found))
        if op == "contains" and lt.kind == "list":
            return Value(self.json_contains(self.compile(node.left, frames), node.right, frames, node))
        if op in ("==", "!=") and "null" in (lt.kind, rt.kind) and "record" in (lt.kind, rt.kind):
            return Value(self.record_is_null(node.right if rt.kind == "record" else node.left, frames, op == "=="))
        if op in ("contains", "starts with", "ends with") and rt.kind == "list":
            texts = self.compile(node.right, frames)
            if not isinstance(texts, Const):
                raise SqlUnsupported(node, f"`{op}` a list works with a list of texts written in the rule")
            left = self.value(node.left, frames)
            tests = [self.text_test(op, left, self.bind(t), node.left) for t in texts.value if t is not None]
            return Value(or_(*tests) if tests else false())
        left, right = self.value(node.left, frames), self.value(node.right, frames)
        if op in ("contains", "starts with", "ends with"):
            return Value(self.text_test(op, left, right, node.left, node.right))

        if {lt.kind, rt.kind} == {"date", "datetime"}:
            left = self.as_datetime(node.left, left) if lt.kind == "date" else left
            right = self.as_datetime(node.right, right) if rt.kind == "date" else right
        if "money" in (lt.kind, rt.kind) and lt.kind == rt.kind:
            assert left.currency is not None and right.currency is not None
            if op in ("==", "!="):  # null-safe, as in Python: two missing amounts are equal
                same = and_(left.currency.is_not_distinct_from(right.currency),
                            left.sql.is_not_distinct_from(right.sql))
                return Value(same if op == "==" else not_(same))
            return Value(self.guard(and_(left.currency == right.currency, _op(op, left.sql, right.sql)),
                                    node.left, node.right))
        if op in ("==", "!="):
            if isinstance(node.left, A.Null) or isinstance(node.right, A.Null):
                other = right if isinstance(node.left, A.Null) else left
                return Value(other.sql.is_(None) if op == "==" else other.sql.is_not(None))
            if self._never_null(node.left, left) or self._never_null(node.right, right):
                test = self.guard(left.sql == right.sql, node.left, node.right)
                return Value(test if op == "==" else not_(test))
            return Value(left.sql.is_not_distinct_from(right.sql) if op == "==" else
                         left.sql.is_distinct_from(right.sql))
        return Value(self.guard(_op(op, left.sql, right.sql), node.left, node.right))

    def text_test(self, op: str, left: Value, right: Value, *nodes: A.Expr) -> Any:
        """contains / starts with / ends with, case-sensitive as in Python (LIKE is not)."""
        if op == "contains":
            position = func.strpos(left.sql, right.sql) if self.pg else func.instr(left.sql, right.sql)
            return self.guard(position > 0, *nodes)
        if op == "starts with":
            return self.guard(func.substr(left.sql, 1, func.length(right.sql)) == right.sql, *nodes)
        start = func.length(left.sql) - func.length(right.sql) + 1
        test = and_(func.length(left.sql) >= func.length(right.sql), func.substr(left.sql, start) == right.sql)
        return self.guard(test, *nodes)

    def record_is_null(self, node: A.Expr, frames: list[Record], is_null: bool) -> Any:
        """`contact == null` (a stored contact always exists), `last(orders) == null` (none)."""
        record = self.compile(node, frames)
        if isinstance(record, _Pick):
            found = exists(select(literal_column("1")).select_from(record.coll.source).where(*record.conditions))
            return not_(found) if is_null else found
        if isinstance(record, Record) and record.kind == "contact":
            return false() if is_null else true()
        if isinstance(record, Record) and record.kind == "rfm":
            found = exists(select(literal_column("1")).select_from(rfm).where(rfm.c.contact_id == self.contact.c.id))
            return not_(found) if is_null else found
        raise SqlUnsupported(node, "this record cannot be tested for null in the database")

    def guard(self, test: Any, *nodes: A.Expr) -> Any:
        """`coalesce(test, false)` only where a side can be null: a bare comparison on non-null
        columns keeps their indexes usable."""
        if any(self.ann.is_nullable(n) or self.ann.type(n).kind == "null" for n in nodes):
            return func.coalesce(test, false())
        return test

    def _never_null(self, node: A.Expr, value: Value) -> bool:
        return id(node) in self.ann.constant and not self.ann.is_nullable(node)

    def as_datetime(self, node: A.Expr, value: Value) -> Value:
        """A date as its midnight in the rule set's zone: computed once in Python for a constant."""
        if id(node) in self.ann.constant:
            day = self.oracle.evaluate(node, self.ctx)
            return self.bind(None if day is None else R.as_datetime(day, self.tz))
        return self.midnight(value)

    def midnight(self, value: Value) -> Value:
        if self.pg:
            return Value(func.timezone("UTC", func.timezone(self.zone, cast(value.sql, UTCDateTime))))
        return Value(func.relance_midnight(value.sql, self.zone))

    def membership(self, node: A.Compare, frames: list[Record]) -> ColumnElement[bool]:
        right = self.compile(node.right, frames)
        if isinstance(right, Const):
            left = self.value(node.left, frames)
            values = [v for v in right.value if v is not None]
            if not values:
                return false()
            if self.ann.type(node.left).kind == "money":
                tests = [and_(left.currency == v.currency, left.sql == self.bind(v).sql) for v in values]
                return func.coalesce(or_(*tests), false())
            bound = [self.bind(v).sql for v in values]
            return self.guard(left.sql.in_(bound), node.left)
        if isinstance(right, JsonList):
            return self.json_contains(right, node.left, frames, node)
        raise SqlUnsupported(node, "`in` needs a list of values or a stored list such as `contact.tags`")

    def json_contains(self, coll: Any, item: A.Expr, frames: list[Record], node: A.Node) -> ColumnElement[bool]:
        if not isinstance(coll, JsonList):
            raise SqlUnsupported(node, "`contains` on this collection cannot run in the database yet")
        value = self.value(item, frames)
        if self.pg:
            return func.coalesce(cast(coll.column, JSONB).contains(func.jsonb_build_array(value.sql)), false())
        each = func.json_each(coll.column).table_valued("value")
        return func.coalesce(exists(select(literal_column("1")).select_from(each).where(each.c.value == value.sql)), false())

    def _InSegment(self, node: A.InSegment, frames: list[Record]) -> Any:
        condition = self.segments.get(node.segment)
        if condition is None:
            raise SqlUnsupported(node, f"segment `{node.segment}` is unknown here")
        compiler = self
        if self.segment_annotations is not self.ann:
            compiler = SqlCompiler(self.segment_annotations, self.dialect, self.ctx.now, self.tz, self.currency,
                                   self.segments)
        inner = compiler.truth(condition, [])
        return Value(not_(inner) if node.negated else inner)

    # ---- functions ----

    def _Call(self, node: A.Call, frames: list[Record]) -> Any:
        arg = self.value(node.args[0], frames)
        kind = self.ann.type(node.args[0]).kind
        name = node.func
        if name in ("days_since", "days_until"):
            return Value(self.days(arg.sql, kind, name == "days_until"))
        if name in ("lower", "upper"):
            return Value(getattr(func, name)(arg.sql) if self.pg else getattr(func, f"relance_{name}")(arg.sql))
        if name == "length":
            if kind == "list":
                raise SqlUnsupported(node, "`length` of a list cannot run in the database yet; use count(...)")
            return Value(func.char_length(arg.sql) if self.pg else func.length(arg.sql))
        if name == "abs":
            return Value(func.abs(arg.sql), arg.currency)
        if name in ("round", "floor") and kind == "percent":
            raise SqlUnsupported(node, f"`{name}` of a percentage cannot run in the database yet")
        if name == "round":
            return Value(arg.sql, arg.currency) if kind == "money" else Value(func.round(arg.sql))
        if name == "floor":
            if self.pg:
                return Value(func.floor(arg.sql))
            truncated = cast(arg.sql, Integer)
            return Value(truncated - case((arg.sql < truncated, 1), else_=0))
        if name in ("year", "month", "day", "weekday", "date"):
            day = self.local_date(arg.sql, kind)
            if name == "date":
                return Value(day)
            return Value(self.part(name, day))
        if name == "anniversary":
            return Value(self.anniversary(self.local_date(arg.sql, kind)))
        raise SqlUnsupported(node, f"`{name}` cannot run in the database yet")

    def local_date(self, sql: Any, kind: str) -> Any:
        if kind == "date":
            return sql
        if self.pg:
            return cast(func.timezone(self.zone, func.timezone("UTC", sql)), Date)
        return func.relance_local_date(sql, self.zone)

    def part(self, name: str, day: Any) -> Any:
        if self.pg:
            field_name = {"weekday": "isodow"}.get(name, name)
            return cast(func.extract(field_name, day), Integer)
        if name == "weekday":
            return (cast(func.strftime("%w", day), Integer) + 6) % 7 + 1
        return cast(func.strftime({"year": "%Y", "month": "%m", "day": "%d"}[name], day), Integer)

    def anniversary(self, day: Any) -> Any:
        today = self.ctx.today
        if not self.pg:
            return func.relance_anniversary(day, today.isoformat(), self.zone)
        month = cast(func.extract("month", day), Integer)
        first = func.make_date(today.year, month, 1)
        last_day = cast(func.extract("day", first + func.make_interval(0, 1) - func.make_interval(0, 0, 0, 1)), Integer)
        return func.make_date(today.year, month, func.least(cast(func.extract("day", day), Integer), last_day))

    def days(self, sql: Any, kind: str, until: bool) -> Any:
        ctx = self.ctx
        if kind == "date":
            today = literal(ctx.today, Date)
            if self.pg:
                return sql - today if until else today - sql
            diff = func.julianday(sql) - func.julianday(today) if until else func.julianday(today) - func.julianday(sql)
            return cast(func.round(diff), Integer)
        now = literal(ctx.now, UTCDateTime)
        if self.pg:
            seconds = func.extract("epoch", sql - now if until else now - sql)
            return cast(func.floor(seconds / 86400), Integer)
        now_s = cast(func.strftime("%s", now), Integer)
        then_s = cast(func.strftime("%s", sql), Integer)
        seconds = then_s - now_s if until else now_s - then_s
        return case((seconds >= 0, seconds // 86400), else_=-((-seconds + 86399) // 86400))


@dataclass(slots=True)
class _Pick:
    """`first(...)`/`last(...)`: one row of a collection, read field by field."""

    coll: Collection
    conditions: list[Any]
    order: list[Any]


def _op(op: str, a: Any, b: Any) -> Any:
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
