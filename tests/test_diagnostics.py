"""Diagnostics that teach: position, code, business words and the fix, for typical mistakes."""

from __future__ import annotations

import pytest

import relance


def first(text: str, scope: str = "any", rules: relance.RuleSet | None = None) -> relance.Diagnostic:
    with pytest.raises(relance.RuleSetError) as caught:
        relance.compile_expression(text, rules, scope=scope)
    return caught.value.diagnostics[0]


@pytest.mark.parametrize("text, code, column, words, hint", [
    ("contact.contry == \"FR\"", "E223", 1, "no field `contry`", "did you mean `country`?"),
    ("cart.subtotl >= 50 EUR", "E223", 1, "no field `subtotl`", "`subtotal`"),
    ("contct.email", "E220", 1, "unknown name `contct`", "`contact`"),
    ("contact.country == FR", "E220", 20, "unknown name `FR`", 'double quotes: "FR"'),
    ("cart.subtotal >= 50 EUX", "E201", 18, "`EUX` is not a currency", None),
    ("cart.subtotal >= 50", "E273", 1, "cannot compare an amount with a number", "`50 EUR`"),
    ("50 EUR + 3 USD", "E260", 1, "cannot add EUR and USD", "EUR and USD"),
    ("contact.email = \"x\"", "E100", 15, "unexpected character `=`", "`==`"),
    ("cart.subtotal >= 50 eur", "E100", 21, "unexpected `eur`", "`EUR`"),
    ("contact.country == 'FR'", "E100", 20, "unexpected character `'`", "double quotes"),
    ("count(orders where status == \"paid\"", "E101", None, "ends too early", "left open"),
    ("contact.email && true", "E100", 15, "unexpected character `&`", "`and`"),
    ("days_sinse(contact.created_at) > 3", "E231", 1, "unknown function `days_sinse`", "`days_since`"),
    ("count(orders) >= 1 AND true", "E100", 20, "unexpected `AND`", "lowercase"),
    ("contact.email ends with 3", "E272", 25, "compares texts", None),
    ("sum(orders) > 3", "E243", 5, "needs values, not whole orders", "orders.total"),
    ("contact.email", None, None, None, None),
    ("12.345 EUR > cart.subtotal", "E202", 1, "EUR amounts have 2 decimals", "12.35 EUR"),
    ("not cart.subtotal", "E210", 5, "needs a condition", None),
    ("contact.country in \"FR\"", "E270", 1, "looks for a value in a list", "contains"),
    ("today - 3 hours", "E261", 9, "a date moves by days", "now"),
])
def test_typical_mistakes(text: str, code: str | None, column: int | None, words: str | None,
                          hint: str | None) -> None:
    if code is None:
        relance.compile_expression(text)
        return
    problem = first(text)
    assert problem.code == code, problem
    if column is not None:
        assert problem.column == column, problem
    assert words in problem.message, problem
    if hint is not None:
        assert problem.hint and hint in problem.hint, problem


def test_segments_cannot_read_the_cart() -> None:
    problem = first("cart.subtotal > 3 EUR", scope="segment")
    assert problem.code == "E221" and "checkout" in problem.message


def test_render_shows_the_line_with_a_caret_under_the_span() -> None:
    with pytest.raises(relance.RuleSetError) as caught:
        relance.compile_expression('contact.contry == "FR"', path="x.rules")
    text = caught.value.render()
    lines = text.splitlines()
    assert lines[0] == "x.rules:1:1: error[E223]: a contact has no field `contry`"
    assert lines[1].endswith('| contact.contry == "FR"')
    assert lines[2].endswith("| ^^^^^^^^^^^^^^")
    assert lines[3].startswith("  hint: did you mean `country`?")
    assert lines[-1] == "1 error found"


def test_all_errors_are_collected_not_only_the_first() -> None:
    with pytest.raises(relance.RuleSetError) as caught:
        relance.compile_expression('contact.contry == "FR" and cart.subtotl > 3 EUR and days_sinse(now) > 1')
    assert [d.code for d in caught.value.diagnostics] == ["E223", "E223", "E231"]


def test_no_python_names_in_messages() -> None:
    for text in ["sum(orders) > 3", "contact.country in 3", "1 + \"a\"", "count(3)", "(", "contact in segment x"]:
        with pytest.raises(relance.RuleSetError) as caught:
            relance.compile_expression(text)
        for d in caught.value.diagnostics:
            for word in ("Token", "Tree", "RPAR", "LPAR", "__ANON", "NoneType", "Decimal", "Traceback"):
                assert word not in d.message and word not in (d.hint or ""), d
