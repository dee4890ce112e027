"""Dry-run: sizes, samples, RFM grid and pending moves, over data, writing nothing."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES
from sqlalchemy import func, select
from strategies import NOW, random_base
from test_rfm import CDNOW

import relance
from relance.cli import cli
from relance.engine.segments.dryrun import dry_run
from relance.engine.segments.membership import members_python
from relance.engine.segments.refresh import refresh
from relance.engine.segments.rfm import with_rfm
from relance.engine.store.connection import connect
from relance.engine.store.migrate import create_schema
from relance.engine.store.records import insert_contexts
from relance.engine.store.tables import rfm, segment_members


@pytest.fixture
def setup() -> tuple[relance.RuleSet, list[relance.Context], Any]:
    rules = relance.load(EXAMPLES)
    base = random_base(seed=3, size=120)
    for item in base:
        item["contact"].pop("score")
        item["contact"].pop("skin_type")
    contexts = with_rfm([relance.Context.from_mapping(d, rules, NOW) for d in base], NOW, rules.timezone, "EUR")
    engine = connect("sqlite://")
    create_schema(engine)
    insert_contexts(engine, contexts)
    return rules, contexts, engine


def test_dry_run_reports_true_sizes_and_writes_nothing(setup: Any) -> None:
    rules, contexts, engine = setup
    report = dry_run(engine, rules, NOW)
    assert report.contacts == len(contexts)
    assert report.buyers == sum(1 for c in contexts if c.rfm)
    assert sum(map(sum, report.rfm_grid)) == report.buyers
    for segment in report.segments:
        members = members_python(rules, segment.name, contexts)
        assert segment.size == len(members), segment.name
        assert set(segment.sample) <= members and len(segment.sample) == min(5, len(members))
        assert segment.would_enter is None  # no history yet
    with engine.connect() as conn:  # rolled back: no RFM, no membership stored
        assert conn.execute(select(func.count()).select_from(rfm)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(segment_members)).scalar_one() == 0


def test_dry_run_after_a_refresh_shows_pending_moves(setup: Any) -> None:
    rules, contexts, engine = setup
    refresh(engine, rules, NOW)
    later = NOW + dt.timedelta(days=40)
    report = dry_run(engine, rules, later)
    moved = with_rfm([relance.Context(now=later, tz=c.tz, contact=c.contact, orders=c.orders, events=c.events)
                      for c in contexts], later, rules.timezone, "EUR")
    assert any(s.would_enter or s.would_leave for s in report.segments)
    for segment in report.segments:
        before = members_python(rules, segment.name, contexts)
        after = members_python(rules, segment.name, moved)
        assert (segment.would_enter, segment.would_leave) == (len(after - before), len(before - after)), segment.name


@pytest.mark.skipif(not CDNOW.exists(), reason="the shared CDNOW data is not beside the repository")
def test_dry_run_cli_on_cdnow_in_three_formats(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["dry-run", str(EXAMPLES), "--data", str(CDNOW), "--at", "1998-07-01"]
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "23,570 contacts" in table.output and "r=5" in table.output
    data = json.loads(runner.invoke(cli, [*args, "--format", "json"]).output)
    groups = [s for s in data["segments"] if s["name"].startswith("rfm_")]
    assert len(groups) == 6 and sum(s["size"] for s in groups) == data["buyers"] == 23570
    html = tmp_path / "report.html"
    assert runner.invoke(cli, [*args, "--format", "html", "--out", str(html)]).exit_code == 0
    text = html.read_text()
    assert text.startswith("<!doctype html>") and text.count("<svg") == 2
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # self-contained
