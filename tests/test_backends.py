"""Compiled == interpreted == SQL (SQLite and PostgreSQL), on random data and random conditions."""

from __future__ import annotations

import os
from typing import Any

import pytest
from conftest import EXAMPLES, pg_database
from hypothesis import HealthCheck, given, settings
from sqlalchemy import text
from strategies import NOW, conditions, datasets, random_base

import relance
from relance.engine.backends.sql import SqlCompiler
from relance.engine.segments.rfm import compute_python, compute_sql, read_sql, with_rfm
from relance.engine.store.connection import connect
from relance.engine.store.migrate import create_schema
from relance.engine.store.records import insert_contexts

EXAMPLE_RULES = relance.load(EXAMPLES)


def contexts_of(rules: relance.RuleSet, data: list[dict[str, Any]]) -> list[relance.Context]:
    """Contexts with their RFM among the drawn population (as the store computes it)."""
    contexts = [relance.Context.from_mapping(d, rules, NOW) for d in data]
    return with_rfm(contexts, NOW, rules.timezone, rules.currency)


def store_of(contexts: list[relance.Context], rules: relance.RuleSet, url: str = "sqlite://") -> Any:
    engine = connect(url)
    create_schema(engine)
    insert_contexts(engine, contexts)
    compute_sql(engine, NOW, rules.timezone, rules.currency)
    return engine


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
    engine = store_of(contexts, paris_rules)
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
    engine = store_of(contexts, paris_rules)
    assert sql_members(paris_rules, compiled, engine) == by_code, wrapped


@pytest.fixture(scope="module")
def pg_store(paris_rules: relance.RuleSet) -> Any:
    """One random base of 80 contacts in PostgreSQL (inserting per example would be slow)."""
    with pg_database() as url:
        contexts = contexts_of(paris_rules, random_base(seed=20261123, size=80))
        engine = store_of(contexts, paris_rules, url)
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


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(size=12))
def test_rfm_in_sql_equals_rfm_in_python(paris_rules: relance.RuleSet, data: list[dict[str, Any]]) -> None:
    contexts = [relance.Context.from_mapping(d, paris_rules, NOW) for d in data]
    expected = compute_python(contexts, NOW, paris_rules.timezone, "EUR")
    engine = store_of(contexts, paris_rules)
    assert read_sql(engine) == expected


def test_rfm_in_postgresql_equals_rfm_in_python(pg_store: Any, paris_rules: relance.RuleSet) -> None:
    engine, contexts = pg_store
    assert read_sql(engine) == {c.contact.id: c.rfm for c in contexts if c.rfm}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(size=10))
def test_every_example_segment_agrees_in_sql_and_in_process(data: list[dict[str, Any]]) -> None:
    """The shipped rule sets (examples and the RFM library): one membership, two backends."""
    rules = EXAMPLE_RULES
    for item in data:
        item["contact"].pop("score", None)
        item["contact"].pop("skin_type", None)
    contexts = contexts_of(rules, data)
    engine = store_of(contexts, rules)
    compiler_now = NOW
    for name, segment in rules.segments.items():
        expected = {c.contact.id for c in contexts if rules.in_segment(name, c)}
        query = SqlCompiler(rules.annotations, "sqlite", compiler_now, rules.timezone, rules.currency,
                            {n: s.condition for n, s in rules.segments.items()}).members_query(segment.condition)
        with engine.connect() as conn:
            assert {row[0] for row in conn.execute(query)} == expected, name
