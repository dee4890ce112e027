"""Compiled == interpreted == SQL (SQLite and PostgreSQL), on random data and random conditions."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import text

import relance
from relance.engine.store import connect, create_schema, insert_contexts
from relance.engine.sqlbackend import SqlCompiler

from strategies import NOW, conditions, datasets, random_base


def contexts_of(rules: relance.RuleSet, data: list[dict[str, Any]]) -> list[relance.Context]:
    return [relance.Context.from_mapping(d, rules, NOW) for d in data]


def python_members(compiled: relance.CompiledExpression, contexts: list[relance.Context]) -> tuple[set[str], set[str]]:
    by_code = {c.contact.id for c in contexts if compiled.evaluate(c) is True}
    by_oracle = {c.contact.id for c in contexts if compiled.interpret(c) is True}
    return by_code, by_oracle


def sql_members(rules: relance.RuleSet, compiled: relance.CompiledExpression, engine: Any) -> set[str]:
    compiler = SqlCompiler(compiled.annotations, engine.dialect.name, NOW, rules.timezone, rules.currency,
                           {n: s.condition for n, s in rules.segments.items()}, rules.annotations)
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(compiler.members_query(compiled.tree))}


@settings(max_examples=int(os.environ.get("RELANCE_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(), condition=conditions())
def test_compiled_interpreted_and_sqlite_agree(paris_rules: relance.RuleSet, data: list[dict[str, Any]],
                                               condition: str) -> None:
    compiled = relance.compile_expression(condition, paris_rules, scope="segment")
    contexts = contexts_of(paris_rules, data)
    by_code, by_oracle = python_members(compiled, contexts)
    assert by_code == by_oracle, condition
    engine = connect("sqlite://")
    create_schema(engine)
    insert_contexts(engine, contexts)
    assert sql_members(paris_rules, compiled, engine) == by_code, condition


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(), condition=conditions())
def test_segment_references_agree(paris_rules: relance.RuleSet, data: list[dict[str, Any]], condition: str) -> None:
    """`contact in segment x` is inlined in SQL and memoised in Python: same members."""
    wrapped = f"contact in segment french_buyers or ({condition})"
    compiled = relance.compile_expression(wrapped, paris_rules, scope="segment")
    contexts = contexts_of(paris_rules, data)
    by_code, by_oracle = python_members(compiled, contexts)
    assert by_code == by_oracle
    engine = connect("sqlite://")
    create_schema(engine)
    insert_contexts(engine, contexts)
    assert sql_members(paris_rules, compiled, engine) == by_code, wrapped


@pytest.fixture(scope="module")
def pg_store(pg_url: str, paris_rules: relance.RuleSet) -> Any:
    """One random base of 80 contacts in PostgreSQL (inserting per example would be slow)."""
    engine = connect(pg_url)
    create_schema(engine)
    flat = random_base(seed=20261123, size=80)
    contexts = contexts_of(paris_rules, flat)
    insert_contexts(engine, contexts)
    yield engine, contexts
    engine.dispose()


@settings(max_examples=int(os.environ.get("RELANCE_EXAMPLES", "120")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(condition=conditions())
def test_postgresql_agrees(pg_store: Any, paris_rules: relance.RuleSet, condition: str) -> None:
    engine, contexts = pg_store
    compiled = relance.compile_expression(condition, paris_rules, scope="segment")
    by_code, by_oracle = python_members(compiled, contexts)
    assert by_code == by_oracle
    assert sql_members(paris_rules, compiled, engine) == by_code, condition


def test_postgresql_server_is_really_used(pg_store: Any) -> None:
    engine, contexts = pg_store
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from contacts")).scalar() == len(contexts)
