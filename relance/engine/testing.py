"""`relance test`: the YAML test files beside the rules, run against both backends.

A test file gives a clock and data; each case says what must follow (an expression's value,
a segment's members). Segment membership is computed in-process AND over an in-memory SQLite
store, so a rule proven by a test is proven for the database path too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from relance.engine import ast as A
from relance.engine import runtime as R
from relance.engine import types as T
from relance.engine.context import Context, DataError
from relance.engine.diagnostics import Diagnostic, EvaluationError, RuleSetError
from relance.engine.expression import compile_expression
from relance.engine.forms import TestCase, TestFile
from relance.engine.loader import TEST_SUFFIXES, _form_diagnostic
from relance.engine.models import to_aware
from relance.engine.money import Money
from relance.engine.parser import ParseFailure, parse_expression
from relance.engine.rfm import compute_sql, with_rfm
from relance.engine.ruleset import RuleSet
from relance.engine.segments import members_python, members_sql
from relance.engine.store import connect, create_schema, insert_contexts
from relance.engine.testing_checkout import is_cart_expectation
from relance.engine.testing_checkout import run as run_checkout
from relance.engine.yamlsource import YamlFailure, load_located


@dataclass(frozen=True, slots=True)
class Failure:
    what: str
    expected: str
    actual: str
    details: tuple[str, ...] = ()


@dataclass(slots=True)
class CaseResult:
    file: str
    line: int
    name: str
    failures: list[Failure] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "name": self.name, "passed": self.passed,
                "error": self.error,
                "failures": [{"what": f.what, "expected": f.expected, "actual": f.actual, "details": list(f.details)}
                             for f in self.failures]}


def test_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.name.endswith(TEST_SUFFIXES) else []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(TEST_SUFFIXES)
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def run_file(ruleset: RuleSet, path: Path, shown: str) -> tuple[list[CaseResult], list[Diagnostic]]:
    """Run one test file; structural problems come back as diagnostics."""
    try:
        located = load_located(path.read_text(encoding="utf-8"), shown)
    except YamlFailure as failure:
        return [], [failure.diagnostic]
    except (OSError, UnicodeDecodeError) as error:
        return [], [Diagnostic(shown, 1, 1, 1, 1, "E004", f"cannot read this test file: {error}")]
    try:
        spec = TestFile.model_validate(located.data or {})
    except Exception as error:  # pydantic ValidationError: positioned below
        errors = getattr(error, "errors", list)()
        return [], [_form_diagnostic(located, item, TestFile, "a test file") for item in errors]
    results = []
    for index, case in enumerate(spec.tests):
        line = located.span(("tests", index)).line
        result = CaseResult(shown, line, case.name)
        try:
            _run_case(ruleset, spec, case, result, located.path)
        except (DataError, ValueError, KeyError) as error:
            result.error = f"bad test data: {error}"
        except RuleSetError as error:
            result.error = "; ".join(d.render() for d in error.diagnostics)
        except EvaluationError as error:
            result.error = f"could not evaluate: {error}"
        results.append(result)
    return results, []


def _contexts(ruleset: RuleSet, spec: TestFile, case: TestCase, now: dt.datetime) -> dict[str, Context]:
    contacts = [*spec.contacts, *case.contacts]
    orders = [*spec.orders, *case.orders]
    events = [*spec.events, *case.events]
    by_contact: dict[str, dict[str, Any]] = {}
    for contact in contacts:
        cid = str(contact.get("id"))
        if cid in by_contact:
            raise DataError(f"contact {cid} is given twice")
        by_contact[cid] = {"contact": contact, "orders": [], "events": []}
    for kind, rows in (("orders", orders), ("events", events)):
        for row in rows:
            cid = str(row.get("contact_id"))
            if cid not in by_contact:
                raise DataError(f"{kind[:-1]} {row.get('id')} belongs to unknown contact {cid}")
            by_contact[cid][kind].append(row)
    out = {}
    for cid, data in by_contact.items():
        if case.cart is not None and case.contact == cid:
            data = {**data, "cart": case.cart}
        out[cid] = Context.from_mapping(data, ruleset, now)
    scored = with_rfm(list(out.values()), now, ruleset.timezone, ruleset.currency)
    return {ctx.contact.id: ctx for ctx in scored if ctx.contact is not None}


def _run_case(ruleset: RuleSet, spec: TestFile, case: TestCase, result: CaseResult, path: str) -> None:
    clock = case.now or spec.now
    if clock is None:
        raise DataError("no clock: give `now:` in the file or in the case")
    now = to_aware(clock, ruleset.timezone)
    contexts = _contexts(ruleset, spec, case, now)
    stored = None
    carts = [e for e in case.expect if is_cart_expectation(e)]
    if carts:
        for what, expected, actual in run_checkout(ruleset, case, contexts, now, carts):
            result.failures.append(Failure(what, expected, actual))
    for number, expect in enumerate(case.expect):
        if is_cart_expectation(expect):
            continue
        if expect.segment is not None:
            if expect.segment not in ruleset.segments:
                result.failures.append(Failure(f"segment {expect.segment}", "a declared segment", "no such segment"))
                continue
            expected = set(expect.members or [])
            actual = members_python(ruleset, expect.segment, _fresh(contexts.values()))
            if stored is None:
                stored = connect("sqlite://")
                create_schema(stored)
                insert_contexts(stored, list(contexts.values()))
                compute_sql(stored, now, ruleset.timezone, ruleset.currency)
            in_sql = members_sql(ruleset, stored, expect.segment, now)
            if actual != expected:
                result.failures.append(Failure(
                    f"segment {expect.segment}", _ids(expected), _ids(actual),
                    tuple(x for x in (f"missing:    {_ids(expected - actual)}" if expected - actual else "",
                                      f"unexpected: {_ids(actual - expected)}" if actual - expected else "") if x)))
            elif in_sql != actual:
                result.failures.append(Failure(f"segment {expect.segment} in the database", _ids(actual), _ids(in_sql),
                                               ("the SQL backend disagrees with the in-process one: please report",)))
        elif expect.expression is not None and "equals" not in expect.model_fields_set:
            result.failures.append(Failure(expect.expression, "an `equals:` value (write `equals: null` for none)",
                                           "no `equals:`"))
        elif expect.expression is not None:
            compiled = compile_expression(expect.expression, ruleset, path=path)
            if case.contact is None and len(contexts) != 1:
                raise DataError("say which contact the expression is for: `contact: ID` in the case")
            ctx = contexts[case.contact] if case.contact else next(iter(contexts.values()))
            actual_value = compiled.evaluate(_fresh([ctx])[0])
            wanted = _expected_value(expect.equals, ruleset, compiled.type)
            if not _same(actual_value, wanted):
                tz = ruleset.timezone
                result.failures.append(Failure(expect.expression, show(wanted, tz, compiled.type),
                                               show(actual_value, tz, compiled.type)))
        else:
            result.failures.append(Failure(f"expectation {number + 1}", "`segment:`, `expression:`, `applied:`, "
                                           "`not_applied:`, `refused:`, `qualify:`, `total:` or `discount:`", "none"))


def _fresh(contexts: Iterable[Context]) -> list[Context]:
    """Contexts with an empty segment memo, so each check computes membership anew."""
    out = []
    for ctx in contexts:
        ctx.segments.clear()
        out.append(ctx)
    return out


def _expected_value(text: Any, ruleset: RuleSet, typ: T.Type | None = None) -> Any:
    """`equals:` is read as a relance literal (`50 EUR`, `true`, `3`, `2026-01-01`), else as text;
    for an expression that gives text, the value is the text itself (`equals: "545"` or `545`)."""
    if text is None:
        return None
    if isinstance(text, list):
        element = typ.element if typ is not None and typ.kind == "list" else None
        return tuple(_expected_value(t, ruleset, element) for t in text)
    if typ is not None and typ.kind == "money":
        try:
            return Money.parse(str(text))  # as written: `4.9500 EUR` is a valid expected amount
        except ValueError:
            pass
    if typ is not None and typ.kind == "string" and str(text) != "null":
        quoted = str(text)
        return quoted[1:-1] if len(quoted) >= 2 and quoted[0] == quoted[-1] == '"' else quoted
    try:
        tree = parse_expression(str(text))
    except ParseFailure:
        return str(text)
    if isinstance(tree, (A.Name, A.Attribute)):
        return str(text)
    try:
        return compile_expression(str(text), ruleset).evaluate(Context(now=dt.datetime.now(dt.UTC),
                                                                       tz=ruleset.timezone))
    except RuleSetError:
        return str(text)


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, tuple) and isinstance(expected, tuple):
        return len(actual) == len(expected) and all(_same(a, b) for a, b in zip(actual, expected, strict=True))
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return R.equal(actual, expected)


def show(value: Any, tz: dt.tzinfo | None = None, typ: T.Type | None = None) -> str:
    """A value as a marketer would write it in a rule: times in the rule set's zone,
    percentages as `10%`, records as their fields."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    if isinstance(value, Decimal) and typ is not None and typ.kind == "percent":
        return f"{_plain((value * 100).normalize())}%"
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        element = typ.element if typ is not None and typ.kind == "list" else None
        return "[" + ", ".join(show(v, tz, element) for v in value) + "]"
    if isinstance(value, R.Duration):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).isoformat() if tz is not None else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        fields = {k: v for k, v in value.__dict__.items() if v not in (None, (), {}) and k != "contact_id"}
        return "{" + ", ".join(f"{k}: {show(v, tz)}" for k, v in fields.items()) + "}"
    return str(value)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")


def _ids(ids: set[str]) -> str:
    return ", ".join(sorted(ids)) if ids else "(none)"
