"""RFM on the real CDNOW data, recomputed here from the raw CSV straight from the definition."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from relance.cli import cli

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "data" / "cdnow"


def by_the_letter(at: dt.date) -> dict[str, tuple[int, int, Decimal, int, int, int]]:
    last: dict[str, dt.date] = {}
    count: dict[str, int] = defaultdict(int)
    total: dict[str, Decimal] = defaultdict(Decimal)
    with (CDNOW / "orders.csv").open() as handle:
        for row in csv.DictReader(handle):
            day = dt.date.fromisoformat(row["created_at"])
            if row["contact_id"] and row["status"] in ("paid", "partially_paid") and \
                    at.replace(year=at.year - 10) <= day <= at:
                last[row["contact_id"]] = max(last.get(row["contact_id"], day), day)
                count[row["contact_id"]] += 1
                total[row["contact_id"]] += Decimal(row["total"])
    ids = list(last)
    n = len(ids)

    def score(values: dict[str, object]) -> dict[str, int]:
        ordered = sorted(values.values())  # type: ignore[type-var]
        import bisect
        return {i: 1 + (5 * bisect.bisect_left(ordered, values[i])) // n for i in ids}

    recency = {i: (at - last[i]).days for i in ids}
    r = score({i: -recency[i] for i in ids})
    f = score(dict(count))
    m = score(dict(total))
    return {i: (recency[i], count[i], total[i], r[i], f[i], m[i]) for i in ids}


@pytest.mark.skipif(not CDNOW.exists(), reason="the shared CDNOW data is not beside the repository")
def test_relance_rfm_on_cdnow_follows_the_definition(tmp_path: Path) -> None:
    out = tmp_path / "rfm.csv"
    result = CliRunner().invoke(cli, ["rfm", "--data", str(CDNOW), "--at", "1998-07-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    got = {row["contact_id"]: (int(row["recency_days"]), int(row["frequency"]), Decimal(row["monetary"]),
                               int(row["r"]), int(row["f"]), int(row["m"])) for row in rows}
    expected = by_the_letter(dt.date(1998, 7, 1))
    assert len(got) == len(expected) == 23570
    assert got == expected
