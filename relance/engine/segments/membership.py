"""Segment membership two ways with one answer: in-process (compiled) and over the store (SQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Engine

from relance.engine.data.context import Context
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.ruleset.sql_check import sql_compiler


def members_sql(ruleset: RuleSet, engine: Engine, name: str, now: dt.datetime) -> set[str]:
    """Ids of the stored contacts in segment `name` at `now`: one query, no Python loop."""
    compiler = sql_compiler(ruleset, engine.dialect.name, now)
    query = compiler.members_query(ruleset.segments[name].condition)
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(query)}


def members_python(ruleset: RuleSet, name: str, contexts: Iterable[Context]) -> set[str]:
    """Ids of the contacts (one context each) in segment `name`, by the compiled predicate."""
    return {ctx.contact.id for ctx in contexts if ctx.contact is not None and ruleset.in_segment(name, ctx)}
