"""The checker's typing of literals: numbers, percentages, amounts (a known currency, no more
decimals than it has), durations, dates and times (a known zone), texts, lists of one kind."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relance.engine.data import types as T
from relance.engine.data.money import MINOR_UNITS, is_currency
from relance.engine.data.types import with_article
from relance.engine.language.annotations import Annotations
from relance.grammar import ast as A
from relance.grammar.diagnostics import did_you_mean


class LiteralChecks:
    """Mixed into `Checker`: it provides `ann`, `visit`, `error` and the `_set`/`_const` helpers."""

    ann: Annotations

    def visit(self, node: A.Expr) -> T.Type | None:
        raise NotImplementedError

    def error(self, node: A.Node | None, code: str, message: str, hint: str | None = None) -> None:
        raise NotImplementedError

    def _set(self, node: A.Node, typ: T.Type, nullable: bool = False, constant: bool = False) -> T.Type:
        raise NotImplementedError

    def _const(self, *nodes: A.Node) -> bool:
        raise NotImplementedError

    def _Number(self, node: A.Number) -> T.Type:
        return self._set(node, T.NUMBER, constant=True)

    def _Percent(self, node: A.Percent) -> T.Type:
        return self._set(node, T.PERCENT, constant=True)

    def _MoneyLit(self, node: A.MoneyLit) -> T.Type:
        self.check_currency(node)
        return self._set(node, T.money(node.currency), constant=True)

    def check_currency(self, node: A.MoneyLit) -> None:
        if not is_currency(node.currency):
            self.error(node, "E201", f"`{node.currency}` is not a currency code",
                       did_you_mean(node.currency, MINOR_UNITS) or "use an ISO 4217 code such as EUR, USD or GBP")
        elif node.amount.as_tuple().exponent < -MINOR_UNITS[node.currency]:  # type: ignore[operator]
            digits = MINOR_UNITS[node.currency]
            self.error(node, "E202", f"{node.currency} amounts have {digits} decimal{'s' if digits != 1 else ''}, "
                       f"`{node.amount}` has more", f"round it, e.g. `{node.amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)} {node.currency}`")

    def _DurationLit(self, node: A.DurationLit) -> T.Type:
        return self._set(node, T.DURATION, constant=True)

    def _DateLit(self, node: A.DateLit) -> T.Type:
        return self._set(node, T.DATE, constant=True)

    def _DateTimeLit(self, node: A.DateTimeLit) -> T.Type:
        zone = node.zone
        if zone and zone != "Z" and zone[:1] not in "+-":
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                self.error(node, "E203", f"`{zone}` is not a known time zone",
                           "use an IANA name such as Europe/Paris or America/New_York")
        return self._set(node, T.DATETIME, constant=True)

    def _String(self, node: A.String) -> T.Type:
        return self._set(node, T.STRING, constant=True)

    def _Bool(self, node: A.Bool) -> T.Type:
        return self._set(node, T.BOOL, constant=True)

    def _Null(self, node: A.Null) -> T.Type:
        return self._set(node, T.NULL, nullable=True, constant=True)

    def _ListLit(self, node: A.ListLit) -> T.Type | None:
        element: T.Type = T.NULL
        ok = True
        for item in node.items:
            typ = self.visit(item)
            if typ is None:
                ok = False
                continue
            if typ.kind == "null":
                self.error(item, "E213", "a list cannot hold `null`", "test for a missing value with `== null`")
                ok = False
            elif typ.kind in ("list", "record"):
                self.error(item, "E211", f"a list can hold numbers, amounts, texts or dates, not {with_article(typ)}")
                ok = False
            elif not T.compatible(element, typ):
                self.error(item, "E212", f"a list must hold values of one kind: this is {with_article(typ)}, "
                           f"the ones before it are {with_article(element)}")
                ok = False
            else:
                element = T.unify(element, typ)
        if not ok:
            return None
        return self._set(node, T.list_of(element), constant=self._const(*node.items))
