"""Segments over the store: the SQL compiler of a rule set, and the check at load that every
segment can run there (E290), so a refresh never meets an unsupported condition."""

from __future__ import annotations

import datetime as dt

from relance.engine.backends.sql import SqlCompiler, SqlUnsupported
from relance.engine.ruleset.ruleset import RuleSet
from relance.grammar.diagnostics import Diagnostic


def sql_compiler(ruleset: RuleSet, dialect: str, now: dt.datetime) -> SqlCompiler:
    conditions = {name: seg.condition for name, seg in ruleset.segments.items()}
    return SqlCompiler(ruleset.annotations, dialect, now, ruleset.timezone, ruleset.currency, conditions)


def sql_diagnostics(ruleset: RuleSet) -> list[Diagnostic]:
    """Segments whose condition cannot run over the store, found by compiling each once."""
    problems: list[Diagnostic] = []
    now = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    compiler = sql_compiler(ruleset, "sqlite", now)  # what is unsupported does not depend on the dialect
    for segment in ruleset.segments.values():
        try:
            compiler.condition(segment.condition)
        except SqlUnsupported as error:
            problems.append(Diagnostic.at(error.node.span, "E290",
                                          f"segment `{segment.name}` cannot run over the stored contacts: {error}",
                                          "segments run in the database; rewrite this part, or ask for it"))
    return problems
