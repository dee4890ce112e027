"""Segment refresh records only the moves, set-wise, and agrees with in-process membership."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import EXAMPLES
from sqlalchemy import func, select
from strategies import NOW, random_base

import relance
from relance.engine.segments.membership import members_python
from relance.engine.segments.refresh import pending_moves, refresh
from relance.engine.segments.rfm import with_rfm
from relance.engine.store.connection import connect
from relance.engine.store.migrate import create_schema
from relance.engine.store.records import insert_contexts
from relance.engine.store.tables import segment_events, segment_members


@pytest.fixture
def rules() -> relance.RuleSet:
    return relance.load(EXAMPLES)


def stored_members(engine: Any, name: str) -> set[str]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(select(segment_members.c.contact_id).where(segment_members.c.segment == name))}


def count_events(engine: Any, kind: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(segment_events).where(segment_events.c.type == kind)).scalar_one()


def store(contexts: list[relance.Context], url: str = "sqlite://") -> Any:
    engine = connect(url)
    create_schema(engine)
    insert_contexts(engine, contexts)
    return engine


def test_refresh_agrees_with_in_process_membership_and_records_only_moves(rules: relance.RuleSet) -> None:
    base = random_base(seed=7, size=150)
    for item in base:  # the example rule set declares these attributes, not the test ones
        item["contact"].pop("score")
        item["contact"].pop("skin_type")
    contexts = with_rfm([relance.Context.from_mapping(d, rules, NOW) for d in base], NOW, rules.timezone, "EUR")
    engine = store(contexts)
    moves = {m.segment: m for m in refresh(engine, rules, NOW)}
    assert set(moves) == set(rules.segments)
    for name in rules.segments:
        expected = members_python(rules, name, contexts)
        assert stored_members(engine, name) == expected, name
        assert moves[name].members == moves[name].entered == len(expected)
    entered = count_events(engine, "segment_entered")
    assert entered == sum(m.entered for m in moves.values()) > 0
    again = refresh(engine, rules, NOW)
    assert all(m.entered == m.exited == 0 for m in again)
    assert count_events(engine, "segment_entered") == entered and count_events(engine, "segment_exited") == 0
    assert all(pending_moves(engine, rules, NOW, name) == (0, 0) for name in rules.segments)


def test_a_new_order_moves_one_contact(rules: relance.RuleSet) -> None:
    now = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    ana = relance.Context.from_mapping({"contact": {"id": "ana", "created_at": "2025-01-01"}}, rules, now)
    bob = relance.Context.from_mapping({"contact": {"id": "bob", "created_at": "2025-01-01"}}, rules, now)
    engine = store([ana, bob])
    refresh(engine, rules, now)
    assert stored_members(engine, "prospects") == {"ana", "bob"}
    later = now + dt.timedelta(days=1)
    with engine.begin() as conn:
        from relance.engine.store.tables import orders
        conn.execute(orders.insert().values(id="o1", contact_id="ana", created_at=later, status="paid",
                                            currency="EUR", total_minor=4200, shipping_minor=0, codes=[]))
    assert pending_moves(engine, rules, later, "prospects") == (0, 1)
    moves = {m.segment: m for m in refresh(engine, rules, later)}
    assert (moves["prospects"].entered, moves["prospects"].exited) == (0, 1)
    assert (moves["new_customers"].entered, moves["new_customers"].exited) == (1, 0)
    assert stored_members(engine, "prospects") == {"bob"}
    with engine.connect() as conn:
        exits = conn.execute(select(segment_events.c.contact_id, segment_events.c.segment).where(
            segment_events.c.type == "segment_exited")).all()
    assert ("ana", "prospects") in exits and all(contact == "ana" for contact, _ in exits)


def test_refresh_on_postgresql(pg_url: str, rules: relance.RuleSet) -> None:
    base = random_base(seed=8, size=60)
    for item in base:
        item["contact"].pop("score")
        item["contact"].pop("skin_type")
        item["contact"]["id"] = "r" + item["contact"]["id"]
        for order in item["orders"]:
            order["id"] = "r" + order["id"]
        for event in item["events"]:
            event["id"] = "r" + event["id"]
    contexts = with_rfm([relance.Context.from_mapping(d, rules, NOW) for d in base], NOW, rules.timezone, "EUR")
    engine = store(contexts, pg_url)
    refresh(engine, rules, NOW)
    for name in rules.segments:
        assert stored_members(engine, name) == members_python(rules, name, contexts), name
    again = refresh(engine, rules, NOW)
    assert [m for m in again if m.entered or m.exited] == []
