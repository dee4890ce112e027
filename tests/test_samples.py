"""The shipped sample shop is what its seeded generator makes, byte for byte, and it imports cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import EXAMPLES

from relance.cli import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_the_generator_reproduces_the_shipped_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SAMPLES / "generate.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("contacts.csv", "orders.jsonl", "events.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / "shop" / name).read_bytes(), name


def test_the_sample_shop_imports_without_a_bad_row(tmp_path: Path) -> None:
    shop = SAMPLES / "shop"
    result = CliRunner().invoke(cli, ["import", "--store", f"sqlite:///{tmp_path / 's.db'}", "--strict",
                                      "--rules", str(EXAMPLES), "--contacts", str(shop / "contacts.csv"),
                                      "--orders", str(shop / "orders.jsonl"), "--events", str(shop / "events.csv")])
    assert result.exit_code == 0, result.output
    assert "imported 3,000 contacts, 8,465 orders, 30,173 events; 0 bad rows skipped" in result.output
