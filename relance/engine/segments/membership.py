"""Segment membership two ways with one answer: in-process (compiled) and over the store (SQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Engine

from relance.engine.data.context import Context
from relance.grammar.diagnostics import Diagnostic
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.backends.sql import SqlCompiler, SqlUnsupported


def sql_compiler(ruleset: RuleSet, dialect: str, now: dt.datetime) -> SqlCompiler:
    conditions = {name: seg.condition for name, seg in ruleset.segments.items()}
    return SqlCompiler(ruleset.annotations, dialect, now, ruleset.timezone, ruleset.currency, conditions)


def members_sql(ruleset: RuleSet, engine: Engine, name: str, now: dt.datetime) -> set[str]:
    """Ids of the stored contacts in segment `name` at `now`: one query, no Python loop."""
    compiler = sql_compiler(ruleset, engine.dialect.name, now)
    query = compiler.members_query(ruleset.segments[name].condition)
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(query)}


def members_python(ruleset: RuleSet, name: str, contexts: Iterable[Context]) -> set[str]:
    """Ids of the contacts (one context each) in segment `name`, by the compiled predicate."""
    return {ctx.contact.id for ctx in contexts if ctx.contact is not None and ruleset.in_segment(name, ctx)}


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
