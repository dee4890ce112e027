"""`relance test`: the YAML test files beside the rules, run against both backends.

A test file gives a clock and data; each case says what must follow (an expression's value,
a segment's members). Segment membership is computed in-process AND over an in-memory SQLite
store, so a rule proven by a test is proven for the database path too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relance.engine.data import types as T
from relance.engine.data import values as R
from relance.engine.data.context import Context
from relance.engine.data.display import show
from relance.engine.data.errors import DataError, EvaluationError
from relance.engine.data.models import to_aware
from relance.engine.data.money import Money
from relance.engine.language.files import TEST_SUFFIXES
from relance.engine.language.forms import Expectation, TestCase, TestFile
from relance.engine.language.yamlsource import YamlFailure, load_located
from relance.engine.ruleset.expression import compile_expression
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.segments.membership import members_python, members_sql
from relance.engine.segments.rfm import compute_sql, with_rfm
from relance.engine.store.connection import connect
from relance.engine.store.migrate import create_schema
from relance.engine.store.records import insert_contexts
from relance.engine.testing.checkout import is_cart_expectation, run_each
from relance.engine.testing.validate import validate
from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic, RuleSetError
from relance.grammar.parser import ParseFailure, parse_expression


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


@dataclass(slots=True)
class FileRun:
    """One test file run: its cases' results, and the errors of the file itself (positioned).

    A case with an error in the file is not run (neither passed nor failed); the other cases
    of the file still run, unless the error is outside the cases (the file's clock or data)."""

    file: str
    results: list[CaseResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: str | None = None
    not_run: int = 0


@dataclass(slots=True)
class TestRun:
    """All the test files of a `relance test`: what the command prints and its exit code."""

    __test__ = False  # not a pytest test class
    files: list[FileRun] = field(default_factory=list)

    @property
    def results(self) -> list[CaseResult]:
        return [r for f in self.files for r in f.results]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.diagnostics]

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    @property
    def files_with_errors(self) -> int:
        return sum(1 for f in self.files if f.diagnostics)

    @property
    def not_run(self) -> int:
        return sum(f.not_run for f in self.files)

    @property
    def exit_code(self) -> int:
        """0 when every case passes; 2 when a case fails or a test file has errors."""
        return 2 if self.failed or self.files_with_errors else 0

    def summary(self) -> str:
        """`N passed, N failed`, then the test files with errors, which are not failed cases."""
        line = f"{self.passed} passed, {self.failed} failed"
        if self.files_with_errors:
            count = self.files_with_errors
            line += f"; {count} test file{'s have' if count != 1 else ' has'} errors"
            if self.not_run:
                line += f" ({self.not_run} case{'s' if self.not_run != 1 else ''} not run)"
        return line

    def render(self, verbose: bool = False) -> str:
        """The text report: the errors of the files (with their line and a caret), the failed
        cases (every passing one too when `verbose`), and the summary line."""
        out: list[str] = []
        diagnostics = sorted(((d, f.source) for f in self.files for d in f.diagnostics),
                             key=lambda pair: pair[0].sort_key())
        if diagnostics:
            out.append("\n\n".join(d.render(source) for d, source in diagnostics) + "\n")
        for result in self.results:
            if result.passed:
                if verbose:
                    out.append(f"PASS {result.file}:{result.line} {result.name}")
                continue
            out.append(f"FAIL {result.file}:{result.line} {result.name}")
            if result.error:
                out.append(f"  error: {result.error}")
            for failure in result.failures:
                out.append(f"  {failure.what}")
                out.append(f"    expected: {failure.expected}")
                out.append(f"    actual:   {failure.actual}")
                out.extend(f"    {line}" for line in failure.details)
        out.append(self.summary())
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """`relance test --format json`: `failed` counts failed cases; the files' errors are in
        `diagnostics`, and `files_with_errors` counts those files."""
        return {"passed": self.passed, "failed": self.failed, "files_with_errors": self.files_with_errors,
                "not_run": self.not_run, "cases": [r.to_dict() for r in self.results],
                "diagnostics": [d.to_dict() for d in sorted(self.diagnostics, key=Diagnostic.sort_key)]}


def run_tests(ruleset: RuleSet, files: Iterable[Path]) -> TestRun:
    """Run every test file (each shown by its path as given); a file with errors does not stop the others."""
    return TestRun([run_one(ruleset, path, str(path)) for path in files])


def run_one(ruleset: RuleSet, path: Path, shown: str) -> FileRun:
    """Run one test file: its errors (positioned, with the file's text to show them) and the
    results of the cases they leave runnable."""
    done = FileRun(shown)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        done.diagnostics.append(Diagnostic(shown, 1, 1, 1, 1, "E004", f"cannot read this test file: {error}"))
        return done
    done.source = text
    try:
        located = load_located(text, shown)
    except YamlFailure as failure:
        done.diagnostics.append(failure.diagnostic)
        return done
    spec, kept, done.diagnostics, done.not_run = validate(located, ruleset)
    if spec is None:
        return done
    for case, index in zip(spec.tests, kept, strict=True):
        line = located.span(("tests", index)).line
        result = CaseResult(shown, line, case.name)
        try:
            _run_case(ruleset, spec, case, result, located.path)
        except _CASE_ERRORS as error:
            result.error = _error_text(error)
        done.results.append(result)
    return done


_CASE_ERRORS = (DataError, ValueError, KeyError, RuleSetError, EvaluationError)


def _error_text(error: Exception) -> str:
    if isinstance(error, RuleSetError):
        return "; ".join(d.render() for d in error.diagnostics)
    if isinstance(error, EvaluationError):
        return f"could not evaluate: {error}"
    return f"bad test data: {error}"


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
    """Check every expectation of the case, each failure reported (one does not hide another)."""
    clock = case.now or spec.now
    if clock is None:
        raise DataError("no clock: give `now:` in the file or in the case")
    now = to_aware(clock, ruleset.timezone)
    contexts = _contexts(ruleset, spec, case, now)
    found: dict[int, list[Failure]] = {}
    carts = [(number, expect) for number, expect in enumerate(case.expect) if is_cart_expectation(expect)]
    if carts:
        expectations = [expect for _, expect in carts]
        try:
            per_expectation = run_each(ruleset, case, contexts, now, expectations)
        except _CASE_ERRORS as error:  # the cart cannot be evaluated: the other expectations still are
            result.error = _error_text(error)
            per_expectation = [[] for _ in expectations]
        for (number, _), failures in zip(carts, per_expectation, strict=True):
            found[number] = [Failure(*failure) for failure in failures]
    stored: list[Any] = []
    for number, expect in enumerate(case.expect):
        if is_cart_expectation(expect):
            continue
        try:
            found[number] = _check(ruleset, case, expect, contexts, now, stored, path)
        except _CASE_ERRORS as error:
            found[number] = [Failure(_label(expect, number), "a value", _error_text(error))]
    for number in sorted(found):
        result.failures.extend(found[number])


def _label(expect: Expectation, number: int) -> str:
    if expect.segment is not None:
        return f"segment {expect.segment}"
    return expect.expression if expect.expression is not None else f"expectation {number + 1}"


def _check(ruleset: RuleSet, case: TestCase, expect: Expectation, contexts: dict[str, Context],
           now: dt.datetime, stored: list[Any], path: str) -> list[Failure]:
    """The failures of one expectation about a segment or an expression (its names, its
    expression and its `contact:` were checked with the file: `_mistakes`)."""
    if expect.segment is not None:
        expected = set(expect.members or [])
        actual = members_python(ruleset, expect.segment, _fresh(contexts.values()))
        if not stored:  # the database of the case, made once for all its segments
            store = connect("sqlite://")
            create_schema(store)
            insert_contexts(store, list(contexts.values()))
            compute_sql(store, now, ruleset.timezone, ruleset.currency)
            stored.append(store)
        in_sql = members_sql(ruleset, stored[0], expect.segment, now)
        if actual != expected:
            return [Failure(
                f"segment {expect.segment}", _ids(expected), _ids(actual),
                tuple(x for x in (f"missing:    {_ids(expected - actual)}" if expected - actual else "",
                                  f"unexpected: {_ids(actual - expected)}" if actual - expected else "") if x))]
        if in_sql != actual:
            return [Failure(f"segment {expect.segment} in the database", _ids(actual), _ids(in_sql),
                            ("the SQL backend disagrees with the in-process one: please report",))]
        return []
    assert expect.expression is not None
    compiled = compile_expression(expect.expression, ruleset, path=path)
    ctx = contexts[case.contact] if case.contact else next(iter(contexts.values()))
    actual_value = compiled.evaluate(_fresh([ctx])[0])
    wanted = _expected_value(expect.equals, ruleset, compiled.type)
    if not _same(actual_value, wanted):
        tz = ruleset.timezone
        return [Failure(expect.expression, show(wanted, tz, compiled.type), show(actual_value, tz, compiled.type))]
    return []


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


def _ids(ids: set[str]) -> str:
    return ", ".join(sorted(ids)) if ids else "(none)"
