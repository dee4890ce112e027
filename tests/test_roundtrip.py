"""The formatter's contract: parse(format(tree)) == tree, for random trees (hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from relance.grammar import ast as A
from relance.grammar.formatter import format_expr, format_file, format_reward
from relance.grammar.parser import parse_expression, parse_reward, parse_rules

KEYWORDS = {"and", "or", "not", "in", "where", "true", "false", "null", "segment", "starts", "ends", "with", "contains", "off", "up", "to", "buy", "get", "free", "fixed", "price", "gift", "order", "shipping", "items", "promotion", "code", "when", "reward", "exclude", "limit", "valid", "unique", "pattern", "per", "total", "budget", "from", "until", "days", "hours", "contact", "day", "week", "month", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}

names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
decimals = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
zones = st.sampled_from([None, "Z", "+02:00", "-05:30", "Europe/Paris", "America/New_York"])

literals = st.one_of(
    decimals.map(A.Number),
    decimals.map(A.Percent),
    st.builds(A.MoneyLit, decimals, st.sampled_from(["EUR", "USD", "JPY", "XYZ"])),
    st.builds(A.DurationLit, st.integers(0, 999), st.sampled_from(["minute", "hour", "day", "week", "month", "year"])),
    st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)).map(A.DateLit),
    st.builds(A.DateTimeLit, st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)).map(
        lambda d: d.replace(microsecond=0)), zones),
    texts.map(A.String),
    st.booleans().map(A.Bool),
    st.just(A.Null()),
    names.map(A.Name),
)


def _extend(inner: Any) -> Any:
    return st.one_of(
        st.builds(A.Attribute, inner, names),
        st.builds(A.Call, names.filter(lambda n: n not in A.AGGREGATES), st.lists(inner, max_size=3).map(tuple)),
        st.builds(A.Aggregate, st.sampled_from(A.AGGREGATES), inner, st.one_of(st.none(), inner)),
        st.builds(A.Negate, inner),
        st.builds(A.Not, inner),
        st.builds(A.Binary, st.sampled_from(["+", "-", "*", "/"]), inner, inner),
        st.builds(A.Logic, st.sampled_from(["and", "or"]), inner, inner),
        st.builds(A.Compare, st.sampled_from(A.COMPARISONS), inner, inner),
        st.builds(A.InSegment, inner, names, st.booleans()),
        st.lists(inner, max_size=3).map(lambda items: A.ListLit(tuple(items))),
    )


expressions = st.recursive(literals, _extend, max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(expressions)
def test_expression_round_trip(tree: A.Expr) -> None:
    text = format_expr(tree)
    assert parse_expression(text) == tree, text


items = st.one_of(st.none(), expressions).map(A.ItemsTarget)
rewards = st.one_of(
    st.builds(A.RewardOff, expressions, st.one_of(st.just(A.OrderTarget()), st.just(A.ShippingTarget()), items),
              st.one_of(st.none(), expressions)),
    st.just(A.FreeShipping()),
    st.builds(A.BuyXGetY, st.integers(1, 9), st.integers(1, 9), st.one_of(st.none(), expressions),
              st.one_of(st.none(), items)),
    st.builds(A.FixedPrice, expressions, items),
    texts.map(A.Gift),
)


@settings(max_examples=200, deadline=None)
@given(rewards)
def test_reward_round_trip(tree: A.Reward) -> None:
    text = format_reward(tree)
    assert parse_reward(text) == tree, text


dates = st.one_of(st.dates(dt.date(2000, 1, 1), dt.date(2099, 1, 1)).map(A.DateLit),
                  st.builds(A.DateTimeLit, st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 1, 1)).map(
                      lambda d: d.replace(microsecond=0)), zones))
days = st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
clauses = st.one_of(
    st.builds(A.CodeClause, st.booleans(), texts),
    st.builds(A.WhenClause, expressions),
    st.builds(A.RewardClause, rewards),
    st.builds(A.ExcludeClause, items),
    st.lists(st.one_of(
        st.builds(A.Limit, st.just("per"), st.integers(0, 10**6), st.sampled_from(["contact", "code", "day", "week", "month"])),
        st.builds(lambda n, p: A.Limit("per", n, "contact", period=p), st.integers(0, 10**6),
                  st.sampled_from(["day", "week", "month"])),
        st.builds(A.Limit, st.just("total"), st.integers(0, 10**6)),
        st.builds(lambda m: A.Limit("budget", budget=m), st.builds(A.MoneyLit, decimals, st.just("EUR")))),
        min_size=1, max_size=3).map(lambda ls: A.LimitClause(tuple(ls))),
    st.lists(st.one_of(
        st.builds(lambda a, b: A.Validity("between", a, b), dates, dates),
        st.builds(lambda a: A.Validity("from", a), dates),
        st.builds(lambda b: A.Validity("until", None, b), dates),
        st.lists(st.tuples(days, days), min_size=1, max_size=3).map(lambda d: A.Validity("days", days=tuple(d))),
        st.tuples(st.times().map(lambda t: t.replace(second=0, microsecond=0)),
                  st.times().map(lambda t: t.replace(second=0, microsecond=0))).map(
            lambda h: A.Validity("hours", hours=h))),
        min_size=1, max_size=3).map(lambda vs: A.ValidClause(tuple(vs))),
)
declarations = st.one_of(
    st.builds(A.SegmentDecl, names, st.one_of(st.none(), texts), expressions),
    st.builds(A.PromotionDecl, names, st.one_of(st.none(), texts), st.lists(clauses, min_size=1, max_size=5).map(tuple)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(declarations, max_size=4))
def test_file_round_trip(decls: list[A.Declaration]) -> None:
    text = format_file(A.RulesFile(tuple(decls)))
    tree, problems = parse_rules(text)
    assert problems == [], text
    assert tree.declarations == tuple(decls), text


def test_decimal_formatting_never_uses_exponents() -> None:
    assert format_expr(A.Number(Decimal("1E+3"))) == "1000"
    assert parse_expression(format_expr(A.Number(Decimal("1E+3")))) == A.Number(Decimal(1000))
