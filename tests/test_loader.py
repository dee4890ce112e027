"""Loading a rule set: files, YAML positions, project file, names, cycles, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import relance


def problems(root: Path) -> list[relance.Diagnostic]:
    with pytest.raises(relance.RuleSetError) as caught:
        relance.load(root)
    return caught.value.diagnostics


def test_yaml_dsl_errors_point_inside_the_yaml_value(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "segments:\n"
        "  french:\n"
        "    title: French\n"
        "    when: contact.country == \"FR\" and contact.emial != null\n"
        "  block:\n"
        "    when: |\n"
        "      count(orders) >= 1\n"
        "      and contact.contry == \"FR\"\n")
    found = problems(tmp_path)
    assert [(d.path, d.line, d.column, d.code) for d in found] == [
        ("r.yaml", 4, 39, "E223"), ("r.yaml", 8, 11, "E223")]
    assert found[0].hint == "did you mean `email`? (other contact attributes must be declared in relance.yaml under `attributes`)"


def test_yaml_structure_errors_are_positioned_with_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("segments:\n  a:\n    titel: A\n    when: true\nsegmets: {}\n")
    found = problems(tmp_path)
    assert [(d.line, d.column, d.code, d.hint) for d in found] == [
        (3, 5, "E030", "did you mean `title`?"), (5, 1, "E030", "did you mean `segments`?")]


def test_invalid_yaml_is_positioned(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("segments:\n  a:\n    when: [unclosed\n")
    found = problems(tmp_path)
    assert found[0].code == "E010" and found[0].line >= 3


def test_project_file_is_checked(tmp_path: Path) -> None:
    (tmp_path / "relance.yaml").write_text(
        "relance: 1\ncurrency: EUX\ntimezone: Europe/Pariss\nattributes:\n  email: string\n  shoe_size: nmber\n"
        "colour: red\n")
    found = {d.code: d for d in problems(tmp_path)}
    assert found["E201"].hint == "did you mean `EUR`?"
    assert found["E203"].hint == "did you mean `Europe/Paris`?"
    assert found["E022"].line == 5 and found["E023"].line == 6 and found["E030"].line == 7


def test_custom_attributes_are_typed(tmp_path: Path) -> None:
    (tmp_path / "relance.yaml").write_text("attributes:\n  shoe_size: number\n  vip_since: date\n  labels: list of string\n")
    (tmp_path / "s.rules").write_text('segment big_feet:\n    contact.shoe_size >= 45 and contact.vip_since < today\n'
                                      '    and "x" in contact.labels\n')
    rules = relance.load(tmp_path)
    ctx = rules.context({"now": "2026-01-01T00:00:00Z", "contact": {
        "id": "a", "created_at": "2025-01-01", "shoe_size": 46, "vip_since": "2025-06-01", "labels": ["x"]}})
    assert rules.in_segment("big_feet", ctx)
    (tmp_path / "t.rules").write_text('segment wrong:\n    contact.shoe_size == "45"\n')
    assert problems(tmp_path)[0].code == "E273"


def test_names_are_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text("segment vip:\n    true\n")
    (tmp_path / "b.yaml").write_text("segments:\n  vip:\n    when: false\n")
    found = problems(tmp_path)
    assert found[0].code == "E300" and "a.rules:1" in found[0].message


def test_segment_cycles_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text("segment a:\n    contact in segment b\n\nsegment b:\n    contact in segment c\n\n"
                                      "segment c:\n    contact in segment a\n\nsegment d:\n    contact in segment d\n")
    found = [d for d in problems(tmp_path) if d.code == "E282"]
    assert len(found) == 2
    assert any("a -> b -> c -> a" in d.message for d in found)


def test_unknown_segment_has_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text("segment sleepers:\n    true\n\nsegment x:\n    contact in segment sleeper\n")
    found = problems(tmp_path)
    assert found[0].code == "E281" and found[0].hint == "did you mean `sleepers`?"


def test_a_lone_file_checks_with_defaults(tmp_path: Path) -> None:
    file = tmp_path / "one.rules"
    file.write_text('segment fr:\n    contact.country == "FR"\n')
    rules = relance.load(file)
    assert rules.currency == "EUR" and rules.timezone_name == "UTC" and list(rules.segments) == ["fr"]


def test_segment_dependency_order(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text("segment top:\n    contact in segment mid\n\nsegment mid:\n"
                                      "    contact in segment base\n\nsegment base:\n    true\n")
    assert relance.load(tmp_path).segment_order == ("base", "mid", "top")


def test_promotions_are_checked(tmp_path: Path) -> None:
    (tmp_path / "p.rules").write_text(
        'promotion p "P":\n    code unique pattern "ABC"\n    when cart.subtotal >= 30 EUR\n'
        '    reward 150% off order\n    limit 0 total\n    valid 2026-12-31 to 2026-01-01, days fri-mon\n\n'
        'promotion q:\n    when true\n')
    codes = sorted(d.code for d in problems(tmp_path))
    assert codes == ["E310", "E320", "E331", "E341", "E350", "E351"]


def test_yaml_promotion_clauses_keep_positions(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "promotions:\n  welcome:\n    when: cart.subtotal >= 30 EUR\n    reward: 10% off order up to 20 EUR\n"
        "    limit: 1 per contact, 0 total\n")
    found = problems(tmp_path)
    assert [(d.line, d.column, d.code) for d in found] == [(5, 27, "E341")]


def test_not_utf8_and_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_bytes(b"segment a:\n    \xff\xfe\n")
    assert problems(tmp_path)[0].code == "E003"


def test_test_files_and_hidden_folders_are_not_rules(tmp_path: Path) -> None:
    (tmp_path / "a.test.yaml").write_text("tests: []\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("not: [rules\n")
    assert relance.load(tmp_path).segments == {}
