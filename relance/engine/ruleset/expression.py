"""`relance.compile_expression`: one expression, checked and compiled, for embedding and `eval`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relance.engine.backends.codegen import compile_function
from relance.engine.backends.interpreter import Interpreter
from relance.engine.data import types as T
from relance.engine.data.context import UTC, Context
from relance.engine.data.errors import EvaluationError
from relance.engine.language.annotations import Annotations
from relance.engine.language.checker import Checker, Environment
from relance.engine.ruleset.ruleset import RuleSet
from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic, RuleSetError
from relance.grammar.formatter import format_expr
from relance.grammar.parser import ParseFailure, parse_expression

SCOPE_NAMES = ("any", "segment", "checkout")


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression: `.evaluate(ctx)` runs the compiled code, `.interpret(ctx)` the oracle."""

    text: str
    tree: A.Expr
    type: T.Type
    function: Callable[[Context], Any] = field(repr=False)
    ruleset: RuleSet | None = field(repr=False)
    annotations: Annotations = field(repr=False)

    def _context(self, ctx: Context | Mapping[str, Any]) -> Context:
        if isinstance(ctx, Context):
            return ctx
        return Context.from_mapping(ctx, self.ruleset)

    def evaluate(self, ctx: Context | Mapping[str, Any]) -> Any:
        """The value for one context; a mapping of JSON-like data is validated first."""
        if type(ctx) is not Context:
            ctx = self._context(ctx)
        try:
            return self.function(ctx)
        except (ArithmeticError, TypeError, ValueError, AttributeError) as error:
            raise EvaluationError(f"{self.text}: {error}") from None

    def interpret(self, ctx: Context | Mapping[str, Any]) -> Any:
        """The same value by the reference interpreter (slow; for tests and explanations)."""
        ctx = self._context(ctx)
        interpreter = Interpreter(self.annotations, self.ruleset.currency if self.ruleset else "EUR",
                                  self.ruleset.in_segment if self.ruleset else None)
        try:
            return interpreter.evaluate(self.tree, ctx)
        except (ArithmeticError, TypeError, ValueError, AttributeError) as error:
            raise EvaluationError(f"{self.text}: {error}") from None

    def explain(self, ctx: Context | Mapping[str, Any]) -> list[tuple[int, str, Any, T.Type]]:
        """(depth, text, value, type) for each part of the expression, outermost first."""

        ctx = self._context(ctx)
        interpreter = Interpreter(self.annotations, self.ruleset.currency if self.ruleset else "EUR",
                                  self.ruleset.in_segment if self.ruleset else None)
        return [(depth, format_expr(node), value, self.annotations.type(node))
                for depth, node, value in interpreter.trace(self.tree, ctx)]

    @property
    def source(self) -> str:
        """The generated Python (for the curious and for debugging the backend)."""
        return getattr(self.function, "__relance_source__", "")


def compile_expression(text: str, ruleset: RuleSet | None = None, scope: str = "any",
                       path: str = "<expression>", line: int = 1, column: int = 1) -> CompiledExpression:
    """Parse, check and compile `text`; raises `RuleSetError` with positioned diagnostics
    (`line`/`column` place the text inside a larger file, such as a YAML value)."""
    if scope not in SCOPE_NAMES:
        raise ValueError(f"scope must be one of {SCOPE_NAMES}")
    try:
        tree = parse_expression(text, path, line, column)
    except ParseFailure as failure:
        raise RuleSetError(failure.diagnostics, {path: text}) from None
    diagnostics: list[Diagnostic] = []
    ann = Annotations()
    segments = {name: seg_decl(ruleset, name) for name in ruleset.segments} if ruleset else {}
    env = Environment(ruleset.attributes if ruleset else {}, segments, ruleset.currency if ruleset else "EUR")
    checker = Checker(env, ann, diagnostics)
    typ = checker.check(tree, scope)
    if diagnostics or typ is None:
        raise RuleSetError(diagnostics, {path: text})
    tz = ruleset.timezone if ruleset else UTC
    lookup = ruleset.in_segment if ruleset else None
    function = compile_function(tree, ann, env.currency, tz, lookup, path)
    return CompiledExpression(text, tree, typ, function, ruleset, ann)


def seg_decl(ruleset: RuleSet, name: str) -> A.SegmentDecl:
    segment = ruleset.segments[name]
    return A.SegmentDecl(name, segment.title, segment.condition)
