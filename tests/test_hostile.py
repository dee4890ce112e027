"""Rule text is untrusted: any input gives diagnostics quickly, never a crash, hang or escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relance
from relance.grammar.parser import ParseFailure, parse_expression, parse_rules


def diagnostics_of(text: str) -> list[relance.Diagnostic]:
    try:
        relance.compile_expression(text)
    except relance.RuleSetError as error:
        return error.diagnostics
    return []


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The grammar must not run: the input is refused by a linear check before it (so the
    refusal costs one pass over the text, however large; bench/load.py times loading)."""
    from relance.grammar import parser
    def refuse() -> None:
        raise AssertionError("the parser ran on input that should have been refused before parsing")

    monkeypatch.setattr(parser, "lark_parser", refuse)


@pytest.mark.parametrize("text", [
    "(" * 10_000 + "1" + ")" * 10_000,
    "[" * 10_000,
    "not " * 10_000 + "true",
    "-" * 10_000 + "1",
    " + ".join(["1"] * 10_000) + " == 1",
    "a" + ".b" * 10_000,
    " and ".join(["true"] * 5_000),
])
def test_deep_or_long_input_is_refused_cleanly(text: str) -> None:
    problems = diagnostics_of(text)  # no RecursionError, no crash: a diagnostic
    assert problems and problems[0].code == "E002"


@pytest.mark.parametrize("text", ["(" * 10_000 + "1" + ")" * 10_000, "[" * 10_000])
def test_deep_brackets_are_refused_before_parsing(text: str, no_parsing: None) -> None:
    assert diagnostics_of(text)[0].code == "E002"


def test_five_megabyte_file_is_refused_before_parsing(tmp_path: Path, no_parsing: None) -> None:
    big = tmp_path / "big.rules"
    big.write_text('segment s:\n    contact.country == "FR"\n' * 130_000)
    assert big.stat().st_size > 5_000_000
    with pytest.raises(relance.RuleSetError) as caught:
        relance.load(tmp_path)
    assert caught.value.diagnostics[0].code == "E001"


def test_five_megabyte_expression_is_refused_before_parsing(no_parsing: None) -> None:
    problems = diagnostics_of("x " * 2_600_000)
    assert problems[0].code == "E001"


@pytest.mark.parametrize("text", [
    "contact.__class__", "contact.__dict__", "__import__('os')", "contact.attributes", "contact.model_dump",
    "orders.__len__", "contact.email.__class__", "lower.__globals__", "cart.items.__getitem__",
    'eval("1")', "open(\"/etc/passwd\")", "contact._private",
])
def test_nothing_outside_the_data_model_is_reachable(text: str) -> None:
    problems = diagnostics_of(text)
    assert problems, f"{text} compiled"
    assert all(p.code in {"E100", "E220", "E223", "E222", "E231"} for p in problems), problems


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_diagnostics_or_a_value(text: str) -> None:
    try:
        relance.compile_expression(text)
    except relance.RuleSetError as error:
        assert error.diagnostics
        for d in error.diagnostics:
            assert d.line >= 1 and d.column >= 1 and d.code.startswith("E") and d.message


TOKENS = ["(", ")", "[", "]", ",", ".", "and", "or", "not", "in", "segment", "where", "==", ">=", "+", "-", "*",
          "/", "count", "sum", "orders", "contact", "email", "3", "2.5", "10%", "5 EUR", '"x"', "now", "3 days",
          "2026-01-01", "true", "null", "items", "starts with", "contains", "promotion", "reward", ":", "off", "#"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_token_soup_gives_diagnostics_or_a_value(tokens: list[str]) -> None:
    text = " ".join(tokens)
    try:
        relance.compile_expression(text)
    except relance.RuleSetError as error:
        assert error.diagnostics
    tree, problems = parse_rules("segment s:\n    " + text)
    assert tree is not None and isinstance(problems, list)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_in_a_rule_folder(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "a.rules").write_bytes(data)
    (root / "b.yaml").write_bytes(data)
    try:
        relance.load(root)
    except relance.RuleSetError as error:
        assert error.diagnostics


def test_parse_failure_is_not_a_python_error() -> None:
    with pytest.raises(ParseFailure):
        parse_expression("1 +")


@pytest.mark.parametrize("text", [
    '"\'); __import__(\\"os\\").system(\\"echo pwned\\"); (\'" == contact.email',
    'contact.email == "\\"\\"\\"; raise SystemExit; \\"\\"\\""',
    'contact.email ends with "\\\\" and contact.country in ["\\n", "\\u0000", "}{"]',
])
def test_strings_never_become_code(text: str, capfd: pytest.CaptureFixture[str]) -> None:
    compiled = relance.compile_expression(text)
    ctx = {"now": "2026-01-01T00:00:00Z", "contact": {"id": "x", "created_at": "2025-01-01", "email": "a@b"}}
    assert compiled.evaluate(ctx) is False
    assert "pwned" not in capfd.readouterr().out
