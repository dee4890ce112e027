"""The command line as CI and marketers use it: output formats and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from relance.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(EXAMPLES, target)
    return target


def test_check_examples_is_clean() -> None:
    code, out = run("check", str(EXAMPLES))
    assert code == 0 and "ok" in out


def test_check_reports_every_problem_with_position_and_exit_1(rules: Path) -> None:
    (rules / "broken.rules").write_text('segment broken:\n    contact.contry == "FR" and count(order) > 1\n')
    code, out = run("check", str(rules))
    assert code == 1
    assert "broken.rules:2:5: error[E223]: a contact has no field `contry`" in out
    assert "hint: did you mean `country`?" in out
    assert "E221" in out and "2 errors found" in out


def test_check_json(rules: Path) -> None:
    (rules / "broken.rules").write_text("segment broken:\n    contact.contry\n")
    code, out = run("check", str(rules), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    first = data["diagnostics"][0]
    assert {"path", "line", "column", "end_line", "end_column", "code", "message", "hint"} <= set(first)


def test_check_missing_path_is_a_usage_error() -> None:
    assert run("check", "/no/such/folder")[0] == 2


def test_test_passes_on_examples() -> None:
    code, out = run("test", str(EXAMPLES))
    assert code == 0
    last = out.strip().splitlines()[-1]
    passed = int(last.split()[0])
    assert last == f"{passed} passed, 0 failed" and passed >= 10


def test_test_failure_shows_a_diff_and_exits_2(rules: Path) -> None:
    (rules / "extra.test.yaml").write_text(
        "now: 2026-11-23T10:00\ncontacts:\n  - {id: zoe, created_at: 2026-11-01}\n"
        "tests:\n  - name: zoe is a prospect\n    expect:\n      - segment: new_customers\n        members: [zoe]\n")
    code, out = run("test", str(rules))
    assert code == 2
    assert "FAIL" in out and "zoe is a prospect" in out
    assert "expected: zoe" in out and "actual:   (none)" in out and "missing:    zoe" in out
    assert out.strip().splitlines()[-1].endswith("1 failed")


def test_test_exits_1_when_rules_do_not_load(rules: Path) -> None:
    (rules / "broken.rules").write_text("segment broken:\n    (\n")
    assert run("test", str(rules))[0] == 1


def test_test_json(rules: Path) -> None:
    code, out = run("test", str(rules), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["failed"] == 0 and data["passed"] == len(data["cases"])


def test_fmt_check_and_rewrite(tmp_path: Path) -> None:
    file = tmp_path / "a.rules"
    file.write_text("# keep me\nsegment  s :   count( orders )>=1   and contact.country==\"FR\"\n")
    assert run("fmt", str(tmp_path), "--check")[0] == 1
    assert file.read_text().startswith("# keep me\n")  # --check changed nothing
    code, out = run("fmt", str(tmp_path))
    assert code == 0 and "reformatted" in out
    assert file.read_text() == '# keep me\nsegment s:\n    count(orders) >= 1 and contact.country == "FR"\n'
    assert run("fmt", str(tmp_path), "--check")[0] == 0


def test_fmt_refuses_files_that_do_not_parse(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text("segment s:\n    1 +\n")
    code, out = run("fmt", str(tmp_path))
    assert code == 1 and "E101" in out


def test_eval_with_a_context_file(tmp_path: Path) -> None:
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"now": "2026-11-23T10:00:00+00:00", "cart": {"currency": "EUR", "items": [
        {"sku": "A", "quantity": 2, "unit_price": "30.00"}]}}))
    assert run("eval", "cart.subtotal", "--context", str(context)) == (0, "60.00 EUR\n")
    assert run("eval", "cart.subtotal >= 50 EUR", "--context", str(context)) == (0, "true\n")
    code, out = run("eval", "cart.subtotl", "--context", str(context))
    assert code == 1 and "did you mean `subtotal`?" in out


def test_eval_with_rules_and_clock() -> None:
    code, out = run("eval", "today", "--rules", str(EXAMPLES), "--at", "2026-11-23T23:30")
    assert (code, out) == (0, "2026-11-23\n")


def test_eval_bad_context_is_a_clean_error(tmp_path: Path) -> None:
    context = tmp_path / "ctx.json"
    context.write_text('{"now": "2026-11-23T10:00:00Z", "contact": {"id": "x"}}')
    code, out = run("eval", "1", "--context", str(context))
    assert code == 2


def test_schema_is_json_schema_of_the_three_forms() -> None:
    code, out = run("schema")
    data = json.loads(out)
    assert code == 0 and len(data) == 3
    assert all("properties" in schema for schema in data.values())


def test_eval_explain_shows_each_part(tmp_path: Path) -> None:
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"now": "2026-11-23T10:00:00+00:00", "contact": {
        "id": "c1", "country": "BE", "created_at": "2026-01-01"}}))
    code, out = run("eval", "--explain", 'contact.country == "FR" or count(orders) >= 1', "--context", str(context))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("false") and lines[1].strip().startswith("false")
    assert any(line.strip().startswith('"BE"') and line.strip().endswith("contact.country") for line in lines)
    assert any(line.strip().startswith("0") and line.strip().endswith("count(orders)") for line in lines)


def test_explain_a_cart_and_its_bad_data(tmp_path: Path) -> None:
    cart = tmp_path / "cart.json"
    cart.write_text(json.dumps({"currency": "EUR", "country": "FR", "items": [
        {"sku": "S1", "category": "socks", "quantity": 3, "unit_price": "4.00"}]}))
    code, out = run("explain", str(EXAMPLES), "--cart", str(cart), "--code", "nope", "--at", "2026-11-23T10:00",
                    "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["total"]["amount"] == "8.00"  # 3 socks at 4.00, the third one free
    assert {"reason": "unknown_code", "code": "nope"}.items() <= data["refused"][0].items()
    cart.write_text(json.dumps({"currency": "EUR", "items": [{"sku": "A", "unit_price": 12.5}]}))
    code, out = run("explain", str(EXAMPLES), "--cart", str(cart))
    assert code == 2 and "not floats" in out and "Traceback" not in out


def test_codes_generate_and_the_one_click_stop(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert run("db", "upgrade", "--store", store)[0] == 0
    out_file = tmp_path / "codes.csv"
    code, out = run("codes", "generate", "welcome_coupon", "--count", "25", "--rules", str(EXAMPLES), "--store", store,
                    "--out", str(out_file), "--at", "2026-11-23T10:00")
    assert code == 0 and "25 codes issued" in out and "valid until 2026-12-23" in out
    assert len(out_file.read_text().split()) == 26  # header + 25 codes
    assert run("codes", "generate", "socks_3_for_2", "--count", "1", "--rules", str(EXAMPLES), "--store", store)[0] == 2
    code, out = run("promotions", "disable", "welcome_cupon", "--rules", str(EXAMPLES), "--store", store)
    assert code == 2 and "did you mean `welcome_coupon`" in out
    assert run("promotions", "disable", "welcome_coupon", "--rules", str(EXAMPLES), "--store", store)[0] == 0
    first = out_file.read_text().split()[1]
    assert run("codes", "void", first.lower(), "--note", "leaked", "--rules", str(EXAMPLES),
               "--store", store) == (0, f"{first.lower()}: voided\n")
    assert run("codes", "restore", first, "--rules", str(EXAMPLES), "--store", store) == (0, f"{first}: restored\n")
    code, out = run("codes", "void", "NOPE-1", "--rules", str(EXAMPLES), "--store", store)
    assert code == 2 and "no code 'NOPE-1' in the store" in out


def test_checkout_commands_open_an_existing_store_only(tmp_path: Path) -> None:
    """A typo in a store's path must not stop a promotion (or issue codes) in a new, empty store
    while the real one keeps serving: only `db upgrade` creates a store."""
    typo = tmp_path / "shop-typo.db"
    for args in (("promotions", "disable", "welcome_coupon"), ("codes", "generate", "welcome_coupon", "--count", "2")):
        code, out = run(*args, "--rules", str(EXAMPLES), "--store", f"sqlite:///{typo}")
        assert code == 2 and f"no store at sqlite:///{typo}" in out and "relance db upgrade" in out, out
        assert not typo.exists()
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE users (id INTEGER)").connection.commit()
    code, out = run("promotions", "disable", "welcome_coupon", "--rules", str(EXAMPLES), "--store", f"sqlite:///{foreign}")
    assert code == 2 and "has no relance tables" in out
    with sqlite3.connect(foreign) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["users"]
    empty, text = tmp_path / "empty.db", tmp_path / "notes.db"
    empty.touch()
    text.write_text("hello\n")
    for path, why in ((empty, "has no relance tables"), (text, "is not a store: file is not a database")):
        code, out = run("promotions", "disable", "welcome_coupon", "--rules", str(EXAMPLES), "--store", f"sqlite:///{path}")
        assert code == 2 and why in out, out
    assert empty.read_bytes() == b"" and text.read_text() == "hello\n"  # opened read-only, left as they were
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("empty", "notes"))) == ["empty.db", "notes.db"]


def test_codes_generate_writes_its_file_or_issues_nothing(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert run("db", "upgrade", "--store", store)[0] == 0

    def stored() -> int:
        with sqlite3.connect(tmp_path / "store.db") as conn:
            return int(conn.execute("SELECT count(*) FROM codes").fetchone()[0])

    generate = ("codes", "generate", "welcome_coupon", "--count", "5", "--rules", str(EXAMPLES), "--store", store)
    code, out = run(*generate, "--out", str(tmp_path / "missing" / "codes.csv"))
    assert code == 2 and "--out: cannot write" in out and "no code was issued" in out and stored() == 0
    earlier = tmp_path / "codes.csv"
    earlier.write_text("code\nOLD-1\n")
    code, out = run("codes", "generate", "nope", "--count", "5", "--rules", str(EXAMPLES), "--store", store,
                    "--out", str(earlier))
    assert code == 2 and earlier.read_text() == "code\nOLD-1\n" and stored() == 0  # kept: nothing replaced it
    assert run(*generate, "--contact", " ")[0] == 2 and stored() == 0
    assert run(*generate, "--out", str(earlier))[0] == 0 and stored() == 5
    assert len(earlier.read_text().split()) == 6 and list(tmp_path.glob("*.part")) == []
    umask = os.umask(0o022)
    try:
        assert run(*generate, "--out", str(tmp_path / "mailing.csv"))[0] == 0
    finally:
        os.umask(umask)
    assert (tmp_path / "mailing.csv").stat().st_mode & 0o777 == 0o644  # readable by the mailing tool, as any new file


def test_test_file_errors_are_not_failed_cases(rules: Path) -> None:
    (rules / "typo.test.yaml").write_text(
        "now: 2026-11-23T10:00\ncontacts:\n  - {id: zoe, created_at: 2026-11-01}\ntests:\n"
        "  - name: a typo\n    expect:\n      - segmnt: new_customers\n        members: [zoe]\n"
        "  - name: zoe has not bought\n    expect:\n      - expression: count(orders)\n        equals: 0\n")
    code, out = run("test", str(rules))
    assert code == 2
    assert f"{rules / 'typo.test.yaml'}:7:9: error[E030]: unknown key `segmnt` in a test file" in out
    assert "     7 |       - segmnt: new_customers\n       |         ^^^^^^" in out
    assert "  hint: did you mean `segment`?" in out
    last = out.strip().splitlines()[-1]
    assert last.endswith(" passed, 0 failed; 1 test file has errors (1 case not run)"), last
    code, out = run("test", str(rules), "--format", "json")
    data = json.loads(out)
    assert code == 2 and data["failed"] == 0 and data["files_with_errors"] == 1 and data["not_run"] == 1
    assert data["diagnostics"][0]["hint"] == "did you mean `segment`?"


def test_a_cart_test_naming_no_promotion_suggests_one(tmp_path: Path) -> None:
    (tmp_path / "p.rules").write_text("promotion free_ship:\n    when cart.subtotal >= 50 EUR\n    reward free shipping\n")
    (tmp_path / "p.test.yaml").write_text(
        "now: 2026-11-23T10:00:00Z\ntests:\n  - name: typo\n"
        "    cart: {currency: EUR, items: [{sku: T1, quantity: 1, unit_price: \"19.99\"}]}\n"
        "    expect:\n      - applied: free_shp\n")
    code, out = run("test", str(tmp_path))
    assert code == 2 and "did you mean `free_ship`?" in out
