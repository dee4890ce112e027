"""Segment refresh: store who is in each segment, and record only who moved, set-wise in SQL.

Per segment, in dependency order, in one transaction: the current members are selected into a
scratch table by the segment's query, then `segment_entered` events and new memberships are
inserted for the newcomers, `segment_exited` events for the leavers (in `segment_events`), whose memberships are
deleted. No contact is looped over in Python and nothing is rewritten wholesale, so a refresh
costs the segment's query plus the difference; running it twice at one clock records nothing new.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, String, and_, delete, exists, func, insert, literal, select

from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.ruleset.sql_check import sql_compiler
from relance.engine.segments.rfm import compute_sql
from relance.engine.store.connection import dialect_insert
from relance.engine.store.migrate import create_schema
from relance.engine.store.tables import UTCDateTime, segment_events, segment_members, segment_refreshes, segment_scratch


@dataclass(frozen=True, slots=True)
class Moves:
    segment: str
    members: int
    entered: int
    exited: int


def refresh(engine: Engine, ruleset: RuleSet, now: dt.datetime, segments: list[str] | None = None,
            with_rfm: bool = True) -> list[Moves]:
    """Refresh the given segments (all by default) at `now`; RFM first, since rules may read it."""
    create_schema(engine)
    if with_rfm:
        compute_sql(engine, now, ruleset.timezone, ruleset.currency)
    names = [n for n in ruleset.segment_order if segments is None or n in segments]
    compiler = sql_compiler(ruleset, engine.dialect.name, now)
    out = []
    for name in names:
        with engine.begin() as conn:
            out.append(_refresh_one(conn, name, compiler.members_query(ruleset.segments[name].condition), now))
    return out


def _refresh_one(conn: Connection, name: str, members_query: Any, now: dt.datetime) -> Moves:
    scratch, stored = segment_scratch, segment_members
    conn.execute(delete(scratch).where(scratch.c.segment == name))
    current = members_query.subquery()
    conn.execute(insert(scratch).from_select(["segment", "contact_id"],
                                             select(literal(name, String), current.c.id)))
    is_member = exists().where(stored.c.segment == name, stored.c.contact_id == scratch.c.contact_id)
    still_in = exists().where(scratch.c.segment == name, scratch.c.contact_id == stored.c.contact_id)
    newcomers = and_(scratch.c.segment == name, ~is_member)
    leavers = and_(stored.c.segment == name, ~still_in)
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    at = literal(now, UTCDateTime)

    def event(kind: str, column: Any) -> Any:
        event_id = literal(f"{kind}:{name}:{stamp}:", String) + column
        return select(event_id, column, literal(kind, String), at, literal(name, String))

    columns = ["id", "contact_id", "type", "at", "segment"]
    # counted, not read from rowcount: drivers do not all report it for INSERT ... SELECT
    entered = conn.execute(select(func.count()).select_from(scratch).where(newcomers)).scalar_one()
    exited = conn.execute(select(func.count()).select_from(stored).where(leavers)).scalar_one()
    if entered:
        conn.execute(insert(segment_events).from_select(
            columns, event("segment_entered", scratch.c.contact_id).where(newcomers)))
        # not a NOT EXISTS on the table being filled: PostgreSQL may plan that as a nested loop
        # over it (quadratic); the primary key skips the members already stored
        conn.execute(dialect_insert(conn, stored).from_select(
            ["segment", "contact_id", "entered_at"],
            select(scratch.c.segment, scratch.c.contact_id, at).where(scratch.c.segment == name),
        ).on_conflict_do_nothing())
    if exited:
        conn.execute(insert(segment_events).from_select(
            columns, event("segment_exited", stored.c.contact_id).where(leavers)))
        conn.execute(delete(stored).where(leavers))
    members = conn.execute(select(func.count()).select_from(scratch).where(scratch.c.segment == name)).scalar_one()
    conn.execute(delete(scratch).where(scratch.c.segment == name))
    first = not conn.execute(select(func.count()).select_from(segment_refreshes)
                             .where(segment_refreshes.c.segment == name)).scalar_one()
    if entered or exited or first:
        conn.execute(delete(segment_refreshes).where(segment_refreshes.c.segment == name,
                                                     segment_refreshes.c.at == at))
        conn.execute(insert(segment_refreshes).values(segment=name, at=now, members=members, entered=entered,
                                                      exited=exited))
    return Moves(name, int(members), int(entered), int(exited))


def pending_moves(engine: Engine, ruleset: RuleSet, now: dt.datetime, name: str) -> tuple[int, int] | None:
    """(would enter, would leave) for a segment with a stored history, without writing; else None."""
    stored = segment_members
    with engine.connect() as conn:
        has_history = conn.execute(select(func.count()).select_from(segment_refreshes)
                                   .where(segment_refreshes.c.segment == name)).scalar_one()
        if not has_history:
            return None
        current = sql_compiler(ruleset, engine.dialect.name, now).members_query(
            ruleset.segments[name].condition).subquery()
        enter = conn.execute(select(func.count()).select_from(current).where(
            ~exists().where(stored.c.segment == name, stored.c.contact_id == current.c.id))).scalar_one()
        leave = conn.execute(select(func.count()).select_from(stored).where(
            stored.c.segment == name,
            ~exists(select(current.c.id).where(current.c.id == stored.c.contact_id)))).scalar_one()
        return int(enter), int(leave)
