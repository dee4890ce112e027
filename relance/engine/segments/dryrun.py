"""`relance dry-run`: who would be in each segment, over real data, before anything is sent.

Everything runs inside one transaction that is rolled back: a dry-run over a production store
computes RFM and every segment's members and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.ruleset.sql_check import sql_compiler
from relance.engine.segments.rfm import compute_in
from relance.engine.store.migrate import create_schema
from relance.engine.store.tables import contacts, rfm, segment_members, segment_refreshes
from relance.grammar import ast as A


@dataclass(frozen=True, slots=True)
class SegmentReport:
    name: str
    title: str | None
    size: int
    share: float
    sample: list[str]
    would_enter: int | None = None
    would_leave: int | None = None
    reads_rfm: bool = False


@dataclass(slots=True)
class Report:
    at: str
    contacts: int
    buyers: int
    segments: list[SegmentReport] = field(default_factory=list)
    rfm_grid: list[list[int]] = field(default_factory=list)
    """Counts per recency score (rows r = 5 down to 1) and frequency score (columns f = 1 to 5)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reads_rfm(condition: A.Expr) -> bool:
    return any(isinstance(node, A.Name) and node.name == "rfm" for node in A.walk(condition))


def dry_run(engine: Engine, ruleset: RuleSet, now: dt.datetime, sample: int = 5) -> Report:
    create_schema(engine)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            return _report(conn, ruleset, now, sample)
        finally:
            transaction.rollback()


def _report(conn: Connection, ruleset: RuleSet, now: dt.datetime, sample: int) -> Report:
    buyers = compute_in(conn, now, ruleset.timezone, ruleset.currency)
    total = int(conn.execute(select(func.count()).select_from(contacts)).scalar_one())
    report = Report(at=now.astimezone(ruleset.timezone).isoformat(), contacts=total, buyers=buyers)
    compiler = sql_compiler(ruleset, conn.dialect.name, now)
    history = {row[0] for row in conn.execute(select(segment_refreshes.c.segment).distinct())}
    for name in ruleset.segment_order:
        segment = ruleset.segments[name]
        query = compiler.members_query(segment.condition)
        members = query.subquery()
        size = int(conn.execute(select(func.count()).select_from(members)).scalar_one())
        ids = [row[0] for row in conn.execute(query.order_by(contacts.c.id).limit(sample))]
        enter = leave = None
        if name in history:
            stored = select(segment_members.c.contact_id).where(segment_members.c.segment == name).subquery()
            enter = int(conn.execute(select(func.count()).select_from(members).where(
                members.c.id.not_in(select(stored.c.contact_id)))).scalar_one())
            leave = int(conn.execute(select(func.count()).select_from(stored).where(
                stored.c.contact_id.not_in(select(members.c.id)))).scalar_one())
        report.segments.append(SegmentReport(name, segment.title, size, size / total if total else 0.0, ids,
                                             enter, leave, reads_rfm(segment.condition)))
    counts = {(r, f): n for r, f, n in conn.execute(select(rfm.c.r, rfm.c.f, func.count()).group_by(rfm.c.r, rfm.c.f))}
    report.rfm_grid = [[int(counts.get((r, f), 0)) for f in range(1, 6)] for r in range(5, 0, -1)]
    return report
