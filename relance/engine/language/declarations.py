"""Checking declarations as one rule set: promotions' clauses (rewards, limits, validity, restrictions), segment references and their loops, names broken by a syntax error."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from relance.engine.data import types as T
from relance.engine.data.money import Money
from relance.engine.data.types import describe
from relance.engine.language.annotations import Annotations
from relance.engine.language.checker import Checker, Environment
from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic

NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


def check_declarations(declarations: Iterable[A.Declaration], env: Environment, ann: Annotations,
                       diagnostics: list[Diagnostic]) -> dict[str, tuple[str, ...]]:
    """Type every declaration; returns each segment's segment dependencies."""
    checker = Checker(env, ann, diagnostics)
    depends: dict[str, tuple[str, ...]] = {}
    for decl in declarations:
        checker.segment_refs = []
        if isinstance(decl, A.SegmentDecl):
            checker.check_condition(decl.condition, "segment", "a segment's condition")
            depends[decl.name] = tuple(dict.fromkeys(name for name, _ in checker.segment_refs))
        elif isinstance(decl, A.PromotionDecl):
            _check_promotion(decl, checker)
    return depends


def _check_promotion(decl: A.PromotionDecl, checker: Checker) -> None:
    seen: dict[type, A.Clause] = {}
    for clause in decl.clauses:
        single = not isinstance(clause, A.RewardClause)
        if single and type(clause) in seen:
            checker.error(clause, "E311", "this clause is given twice in the same promotion",
                          "merge them into one (join conditions with `and`, limits with `,`)")
        seen.setdefault(type(clause), clause)
        if isinstance(clause, A.WhenClause):
            checker.check_condition(clause.condition, "checkout", "a promotion's condition")
        elif isinstance(clause, A.RewardClause):
            _check_reward(clause.reward, checker)
        elif isinstance(clause, A.ExcludeClause):
            _check_items(clause.items, checker)
        elif isinstance(clause, A.CodeClause) and clause.unique and clause.value:
            if clause.expires_after is not None and clause.expires_after.amount < 1:
                checker.error(clause.expires_after, "E321", "codes must last at least 1 unit of time")
            if not any(ch in clause.value for ch in "#?*"):
                checker.error(clause, "E320", f"the pattern \"{clause.value}\" has no random part",
                              "use # for a digit, ? for a letter, * for either: \"WELC-####-????\"")
        elif isinstance(clause, A.LimitClause):
            _check_limits(clause, checker)
        elif isinstance(clause, A.ValidClause):
            _check_validity(clause, checker)
        elif isinstance(clause, A.OnlyClause):
            _check_only(clause, checker)
        elif isinstance(clause, A.CombinesClause):
            if "nothing" in clause.classes and len(clause.classes) > 1:
                checker.error(clause, "E361", "`nothing` cannot be combined with other classes",
                              "write `combines with nothing`, or list the classes it stacks with")
        elif isinstance(clause, A.CodeClause) and clause.expires_after is not None and \
                clause.expires_after.amount < 1:  # `code imported expires after ...`
            checker.error(clause.expires_after, "E321", "codes must last at least 1 unit of time")
    if A.ExclusiveClause in seen and A.CombinesClause in seen:
        checker.error(seen[A.CombinesClause], "E360", "an exclusive promotion combines with nothing",
                      "remove `exclusive`, or remove `combines with ...`")
    code = seen.get(A.CodeClause)
    limits = seen.get(A.LimitClause)
    if isinstance(limits, A.LimitClause):
        for limit in limits.limits:
            if limit.unit == "code" and not (isinstance(code, A.CodeClause) and code.unique):
                checker.error(limit, "E342", "`per code` limits the uses of each code of a pool, "
                              "but this promotion has no pool of codes",
                              "write `N total` for a public code, or `code unique pattern \"...\"`")
    from_yaml = decl.span is not None and decl.span.path.endswith((".yaml", ".yml"))
    if A.RewardClause not in seen and not from_yaml:  # YAML requires `reward:`; a bad one is reported
        checker.error(decl, "E310", f"promotion `{decl.name}` has no reward",
                      "add a line such as `reward 10% off order`")


def _check_items(target: A.ItemsTarget, checker: Checker) -> None:
    if target.where is None:
        return
    checker.scope = "checkout"
    checker.elements = ["item"]
    typ = checker.visit(target.where)
    checker.elements = []
    if typ is not None and typ.kind not in ("bool", "null"):
        checker.error(target.where, "E210", "an items filter must be true or false")


def _check_reward(reward: A.Reward, checker: Checker) -> None:
    def value(node: A.Expr, kinds: tuple[str, ...], what: str) -> T.Type | None:
        typ = checker.check(node, "checkout")
        if typ is not None and typ.kind not in kinds:
            checker.error(node, "E330", f"{what} must be {' or '.join(_KIND_WORDS[k] for k in kinds)}, "
                          f"not {describe(typ)}")
            return None
        return typ

    if isinstance(reward, A.RewardOff):
        typ = value(reward.amount, ("percent", "money"), "a discount")
        if isinstance(reward.amount, A.Percent) and not 0 < reward.amount.value <= 100:
            checker.error(reward.amount, "E331", "a percentage discount must be above 0% and at most 100%")
        if reward.cap is not None:
            cap = value(reward.cap, ("money",), "a cap (`up to`)")
            if cap is not None and typ is not None and typ.kind == "money":
                checker.error(reward.cap, "E332", "`up to` caps a percentage; an amount is already fixed",
                              "remove `up to ...`")
        if isinstance(reward.target, A.ItemsTarget):
            _check_items(reward.target, checker)
    elif isinstance(reward, A.BuyXGetY):
        if reward.buy < 1 or reward.get < 1:
            checker.error(reward, "E333", "buy and get need at least 1 unit each")
        if reward.discount is not None:
            value(reward.discount, ("percent", "money"), "a discount")
        if reward.items is not None:
            _check_items(reward.items, checker)
        if reward.times is not None and reward.times < 1:
            checker.error(reward, "E334", "`up to N times` needs N of at least 1")
    elif isinstance(reward, A.FixedPrice):
        value(reward.price, ("money",), "a fixed price")
        _check_items(reward.items, checker)


_KIND_WORDS = {"percent": "a percentage such as `10%`", "money": "an amount such as `5 EUR`"}


def _check_limits(clause: A.LimitClause, checker: Checker) -> None:
    seen: set[tuple[str, str | None, str | None]] = set()
    for limit in clause.limits:
        key = (limit.kind, limit.unit, limit.period)
        if key in seen:
            checker.error(limit, "E340", "this limit is given twice")
        seen.add(key)
        if limit.period is not None and (limit.unit != "contact" or limit.period not in ("day", "week", "month")):
            swapped = limit.period == "contact" and limit.unit in ("day", "week", "month")
            checker.error(limit, "E343", f"`per {limit.unit} per {limit.period}` is not a limit",
                          f"write `{limit.count} per contact per {limit.unit}`" if swapped else
                          f"a customer's uses per period: `{limit.count} per contact per day` (or `week`, `month`)")
        if limit.kind in ("per", "total") and limit.count < 1:
            checker.error(limit, "E341", "a limit must be at least 1",
                          "to stop a promotion, end its period with `valid until ...` or remove it")
        if limit.budget is not None:
            checker.check_currency(limit.budget)


def guard_value(text: str) -> Any:
    """`50%` -> Decimal("0.5"); `100 EUR` -> Money; anything else -> None."""
    from decimal import Decimal, InvalidOperation


    text = str(text).strip()
    try:
        if text.endswith("%"):
            value = Decimal(text[:-1]) / 100
            return value if 0 <= value <= 1 else None
        return Money.parse(text)
    except (ValueError, InvalidOperation):
        return None


def _check_only(clause: A.OnlyClause, checker: Checker) -> None:
    seen: set[str] = set()
    for item in clause.restrictions:
        if item.kind in seen:
            checker.error(item, "E362", f"`{item.kind.replace('_', ' ')}` is given twice",
                          "join the values with `or`: `country \"FR\" or \"BE\"`")
        seen.add(item.kind)
        if item.kind == "segment" and item.segment is not None:
            checker.check(A.InSegment(A.Name("contact", span=item.span), item.segment, False, span=item.span),
                          "checkout")
        elif item.kind == "country":
            for value in item.values:
                if not re.fullmatch(r"[A-Z]{2}", value):
                    checker.error(item, "E363", f"\"{value}\" is not an ISO country code",
                                  f"write two capital letters, e.g. \"{value[:2].upper() or 'FR'}\"")
        elif item.kind == "language":
            for value in item.values:
                if not re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?", value):
                    checker.error(item, "E363", f"\"{value}\" is not an ISO language code",
                                  f"write two lowercase letters, e.g. \"{value[:2].lower() or 'fr'}\"")


def _check_validity(clause: A.ValidClause, checker: Checker) -> None:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for item in clause.items:
        if item.kind == "between" and item.start is not None and item.end is not None:
            for node in (item.start, item.end):
                checker.check(node, "checkout")
            start, end = item.start.value, item.end.value
            if _as_date(start) > _as_date(end):
                checker.error(item, "E350", "this period ends before it starts", "swap the two dates")
        elif item.kind == "days":
            for first, last in item.days:
                if days.index(first) > days.index(last):
                    checker.error(item, "E351", f"`{first}-{last}` goes backwards",
                                  f"write `{last}-{first}`, or list the days: `days sat sun`")
        elif item.kind == "hours" and item.hours is not None and item.hours[0] == item.hours[1]:
            checker.error(item, "E352", "these hours are empty", "write e.g. `hours 08:00-20:00`")


def _as_date(value: Any) -> Any:
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def cycles(depends: dict[str, tuple[str, ...]]) -> list[list[str]]:
    """Segment reference cycles, each as the loop of names (iterative DFS)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    for start in depends:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            name, index = stack.pop()
            if index == 0:
                state[name] = 1
                path.append(name)
            deps = depends.get(name, ())
            if index < len(deps):
                stack.append((name, index + 1))
                nxt = deps[index]
                if state.get(nxt) == 1:
                    found.append(path[path.index(nxt):] + [nxt])
                elif not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[name] = 2
                path.pop()
    return found


def topological(depends: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    order: list[str] = []
    done: set[str] = set()
    for start in depends:
        stack = [(start, iter(depends.get(start, ())))]
        if start in done:
            continue
        while stack:
            name, deps = stack[-1]
            nxt = next((d for d in deps if d not in done), None)
            if nxt is not None and nxt in depends:
                stack.append((nxt, iter(depends.get(nxt, ()))))
                continue
            stack.pop()
            if name not in done:
                done.add(name)
                order.append(name)
    return tuple(order)


def missing_segment(diagnostic: Diagnostic) -> str:
    match = re.search(r"there is no segment `([^`]+)`", diagnostic.message)
    return match.group(1) if match else ""


def broken_names(sources: dict[str, str], diagnostics: list[Diagnostic]) -> set[str]:
    """Names of declarations that failed to parse or validate (they exist, just broken)."""
    names: set[str] = set()
    for diagnostic in diagnostics:
        if diagnostic.code >= "E200":
            continue
        text = sources.get(diagnostic.path, "")
        lines = text.splitlines()[: diagnostic.line]
        for line in reversed(lines):  # the declaration this error sits in: .rules header or YAML key
            match = re.match(r"(?:segment|promotion)\s+([a-z_][a-z0-9_]*)", line) or \
                re.match(r"  ([A-Za-z_][A-Za-z0-9_]*)\s*:\s*$", line)
            if match:
                names.add(match.group(1))
                break
    return names
