"""`relance test` and its test files: data the engine would refuse, errors shown like the rule
files' (line, caret, hint), errors apart from failed cases, and every failure of a case at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

import relance
from relance.cli import cli
from relance.engine.data.context import Context
from relance.engine.data.errors import DataError
from relance.engine.testing import runner as testing

PROJECT = """\
relance: 1
currency: EUR
timezone: Europe/Paris
attributes:
  credit: money
  score: number
  newsletter: bool
"""

RULES = """\
segment buyers:
    count(orders) >= 1

promotion social:
    code "SOCIAL"
    reward 10% off order

promotion free_ship:
    when cart.subtotal >= 50 EUR
    reward free shipping
"""

CART = """\
    cart:
      currency: EUR
      shipping: "4.90"
      items:
        - {sku: T1, quantity: 1, unit_price: "60.00"}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "relance.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "shop.rules").write_text(RULES, encoding="utf-8")
    return tmp_path


def run_file(folder: Path, name: str, text: str) -> tuple[list[testing.CaseResult], list[relance.Diagnostic]]:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    done = testing.run_one(relance.load(folder), path, name)
    return done.results, done.diagnostics


def value_at(text: str, key: str, value: str) -> tuple[int, int]:
    """Line and column of `value` written after `key` (e.g. `applied: ` then `socail`)."""
    line, column = line_of(text, key + value)
    return line, column + len(key)


def line_of(text: str, fragment: str) -> tuple[int, int]:
    """Line and column (from 1) where `fragment` is written in `text`."""
    for number, line in enumerate(text.splitlines(), 1):
        if fragment in line:
            return number, line.index(fragment) + 1
    raise AssertionError(fragment)


# ---- 1. floats where the engine wants exact amounts ----

FLOAT_CART = """\
now: 2026-11-23T10:00
tests:
  - name: a price written as a float
    cart:
      currency: EUR
      items:
        - {sku: T1, quantity: 1, unit_price: 12.5}
    expect:
      - total: 12.50 EUR

  - name: whole amounts are exact
    cart:
      currency: EUR
      shipping: 5
      items:
        - {sku: T1, quantity: 2, unit_price: 12}
    expect:
      - total: 29 EUR

  - name: amounts as text
    cart:
      currency: EUR
      shipping: "4.90"
      items:
        - {sku: T1, quantity: 1, unit_price: "12.5"}
    expect:
      - total: 17.40 EUR
"""


def test_a_float_amount_in_a_test_cart_is_an_error_of_the_file(folder: Path) -> None:
    rules = relance.load(folder)
    with pytest.raises(DataError, match="amounts must be exact"):  # what production says of the same cart
        Context.from_mapping({"cart": {"currency": "EUR", "items": [{"sku": "T1", "unit_price": 12.5}]}}, rules,
                             dt.datetime.now(dt.UTC))
    results, diagnostics = run_file(folder, "floats.test.yaml", FLOAT_CART)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("E032", *line_of(FLOAT_CART, "12.5}"))]
    assert "12.5" in diagnostics[0].message and "exact" in diagnostics[0].message
    assert diagnostics[0].hint is not None and 'unit_price: "12.5"' in diagnostics[0].hint
    # the float case does not run; integers and text are exact, as the engine accepts them
    assert [(r.name, r.passed) for r in results] == [("whole amounts are exact", True), ("amounts as text", True)]


def test_float_amounts_of_orders_and_contacts_are_errors_too(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
contacts:
  - {id: ana, created_at: 2024-01-10, credit: 12.5, score: 3}
  - {id: bob, created_at: 2024-01-10, credit: "7.5", score: 2.5}
orders:
  - {id: a1, contact_id: ana, created_at: 2026-03-01, total: 30.10, currency: EUR}
  - {id: a2, contact_id: ana, created_at: 2026-03-02, total: 30, currency: EUR,
     items: [{sku: T1, unit_price: 30.0}]}
tests:
  - name: ana bought
    contact: ana
    expect:
      - expression: count(orders)
        equals: 2
"""
    results, diagnostics = run_file(folder, "data.test.yaml", text)
    assert sorted((d.code, d.line, d.column) for d in diagnostics) == [
        ("E032", *line_of(text, "12.5,")), ("E032", *line_of(text, '"7.5"')), ("E032", *line_of(text, "2.5}")),
        ("E032", *line_of(text, "30.10")), ("E032", *line_of(text, "30.0}"))]
    # a money attribute needs its currency; the float `12.5` is said once, as a float
    assert [d.message for d in diagnostics if d.line == 4 and d.column < 60] == [
        "`contacts.1.credit`: not an amount with a currency: '7.5'"]
    assert results == []  # the file's own data is wrong: none of its cases can run


def test_test_data_has_the_types_a_shop_sends(folder: Path) -> None:
    """Whole numbers and true/false are given to the engine as numbers and booleans where a
    record wants one (a custom bool attribute, a quantity), as JSON gives them."""
    text = """\
now: 2026-11-23T10:00
contacts:
  - {id: ana, created_at: 2024-01-10, newsletter: true, consents: {email: yes}}
tests:
  - name: ana's cart
    contact: ana
    cart:
      currency: EUR
      items:
        - {sku: T1, quantity: 2, unit_price: "30.00"}
    expect:
      - expression: contact.newsletter and contact.consents.email
        equals: true
      - expression: first(cart.items).quantity
        equals: 2
      - total: 60.00 EUR
"""
    results, diagnostics = run_file(folder, "types.test.yaml", text)
    assert diagnostics == []
    assert [(r.name, r.error, r.failures) for r in results] == [("ana's cart", None, [])]


# ---- 2. errors of a test file shown like those of a rule file ----

TYPO = """\
now: 2026-11-23T10:00
tests:
  - name: social code
    codes: [SOCIAL]
""" + CART + """\
    expect:
      - applyed: social
"""


def test_an_unknown_key_of_a_test_file_suggests_the_right_one(folder: Path) -> None:
    _, diagnostics = run_file(folder, "typo.test.yaml", TYPO)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("E030", *line_of(TYPO, "applyed"))]
    assert diagnostics[0].hint == "did you mean `applied`?"


def test_test_file_errors_show_the_line_and_a_caret(folder: Path) -> None:
    (folder / "typo.test.yaml").write_text(TYPO, encoding="utf-8")
    run = testing.run_tests(relance.load(folder), [folder / "typo.test.yaml"])
    line, column = line_of(TYPO, "applyed")
    lines = run.render().splitlines()
    assert lines[0] == f"{folder / 'typo.test.yaml'}:{line}:{column}: error[E030]: unknown key `applyed` in a test file"
    assert lines[1] == f"  {line:>4} | {TYPO.splitlines()[line - 1]}"
    assert lines[2] == "       | " + " " * (column - 1) + "^" * len("applyed")
    assert lines[3] == "  hint: did you mean `applied`?"


def test_the_command_shows_the_hint_of_a_test_file_error(folder: Path) -> None:
    (folder / "typo.test.yaml").write_text(TYPO, encoding="utf-8")
    result = CliRunner().invoke(cli, ["test", str(folder)])
    assert result.exit_code == 2, result.output
    assert "error[E030]: unknown key `applyed`" in result.output
    assert "hint: did you mean `applied`?" in result.output


# ---- 3. errors apart from failed cases ----

def _seven_cases(broken: dict[int, str]) -> str:
    """Seven passing cases; those numbered in `broken` get that line instead of their expectation."""
    cases = []
    for number in range(7):
        expectation = broken.get(number, "      - applied: free_ship\n        shipping_discount: 4.90 EUR\n")
        cases.append(f"  - name: case {number}\n" + CART + "    expect:\n" + expectation)
    return "now: 2026-11-23T10:00\ntests:\n" + "\n".join(cases)


def test_errors_of_a_test_file_are_not_counted_as_failed_cases(folder: Path) -> None:
    (folder / "errors.test.yaml").write_text(_seven_cases({2: "      - applyed: free_ship\n",
                                                           5: "      - total: 64.90 EUR\n        member: [a]\n"}))
    (folder / "good.test.yaml").write_text(_seven_cases({}))
    (folder / "bad.test.yaml").write_text(_seven_cases({0: "      - total: 1 EUR\n"}))
    rules = relance.load(folder)

    run = testing.run_tests(rules, [folder / "errors.test.yaml"])
    assert (run.passed, run.failed, run.files_with_errors, run.not_run) == (5, 0, 1, 2)
    assert len(run.diagnostics) == 2
    assert run.summary() == "5 passed, 0 failed; 1 test file has errors (2 cases not run)"
    assert run.render().splitlines()[-1] == run.summary()
    assert run.exit_code == 2  # errors are not a pass
    data = run.to_dict()
    assert (data["passed"], data["failed"], data["files_with_errors"], len(data["diagnostics"])) == (5, 0, 1, 2)

    # the other files still run, and their failures are counted as such
    run = testing.run_tests(rules, [folder / "bad.test.yaml", folder / "errors.test.yaml", folder / "good.test.yaml"])
    assert (run.passed, run.failed, run.files_with_errors) == (18, 1, 1)
    assert run.summary() == "18 passed, 1 failed; 1 test file has errors (2 cases not run)"
    assert run.exit_code == 2

    run = testing.run_tests(rules, [folder / "good.test.yaml"])
    assert (run.summary(), run.exit_code) == ("7 passed, 0 failed", 0)
    run = testing.run_tests(rules, [folder / "bad.test.yaml"])
    assert (run.summary(), run.exit_code) == ("6 passed, 1 failed", 2)


def test_an_error_outside_the_cases_keeps_them_all_from_running(folder: Path) -> None:
    (folder / "top.test.yaml").write_text(_seven_cases({}).replace("now:", "nwo:"))
    run = testing.run_tests(relance.load(folder), [folder / "top.test.yaml"])
    assert (run.passed, run.failed, run.not_run) == (0, 0, 7)
    assert [d.hint for d in run.diagnostics] == ["did you mean `now`?"]
    assert run.summary() == "0 passed, 0 failed; 1 test file has errors (7 cases not run)"
    assert run.exit_code == 2


# ---- 4. every failure of a case at once ----

def test_every_failure_of_a_case_shows_at_once(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
contacts:
  - {id: ana, created_at: 2024-01-10}
tests:
  - name: several wrong expectations
    contact: ana
    codes: [SOCIAL]
""" + CART + """\
    expect:
      - applied: social
        discount: 1.00 EUR
      - not_applied: free_ship
      - total: 1 EUR
      - segment: buyers
        members: [ana]
      - expression: count(orders)
        equals: 3
"""
    results, diagnostics = run_file(folder, "several.test.yaml", text)
    assert diagnostics == []
    [result] = results
    assert result.error is None
    assert [(f.what, f.expected, f.actual) for f in result.failures] == [
        ("social discount", "1.00 EUR", "6.00 EUR"),
        ("promotion free_ship", "not applied", "applied: 4.90 EUR"),
        ("total", "1 EUR", "54.00 EUR"),
        ("segment buyers", "ana", "(none)", ),
        ("count(orders)", "3", "0"),
    ]


# ---- 5. mistakes of a case are errors of the file, all at once, each at its place ----

def _codes(diagnostics: list[relance.Diagnostic]) -> list[tuple[str, int, int]]:
    return sorted((d.code, d.line, d.column) for d in diagnostics)


def test_unknown_names_in_a_case_are_errors_of_the_file_with_a_suggestion(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
contacts:
  - {id: ana, created_at: 2024-01-10}
tests:
  - name: names that do not exist
    contact: nobody
    redeemed: [{promotion: socail}]
    issued: [{code: W-1, promotion: fre_ship}]
    disabled: [fre_shipping]
""" + CART + """\
    expect:
      - applied: socail
      - not_applied: fre_ship
      - qualify: free_shipping
      - segment: buyer
        members: [ana]
  - name: a good case still runs
    contact: ana
    expect:
      - expression: count(orders)
        equals: 0
"""
    (folder / "names.test.yaml").write_text(text, encoding="utf-8")
    run = testing.run_tests(relance.load(folder), [folder / "names.test.yaml"])
    assert (run.passed, run.failed, run.not_run) == (1, 0, 1)  # not a failed case: not run
    assert _codes(run.diagnostics) == sorted([
        ("E220", *line_of(text, "nobody")), ("E220", *line_of(text, "socail}")),
        ("E220", *line_of(text, "fre_ship}")), ("E220", *line_of(text, "fre_shipping]")),
        ("E220", *value_at(text, "applied: ", "socail")), ("E220", *value_at(text, "not_applied: ", "fre_ship")),
        ("E220", *value_at(text, "qualify: ", "free_shipping")), ("E281", *value_at(text, "segment: ", "buyer"))])
    hints = {(d.line, d.message, d.hint) for d in run.diagnostics}
    assert (line_of(text, "nobody")[0], "no contact `nobody` among the test's contacts",
            "the contacts are: ana") in hints
    assert (line_of(text, "socail}")[0], "no promotion `socail` in the rule set", "did you mean `social`?") in hints
    assert (line_of(text, "fre_shipping]")[0], "no promotion `fre_shipping` in the rule set",
            "did you mean `free_ship`?") in hints
    assert (line_of(text, "segment: buyer")[0], "no segment `buyer` in the rule set", "did you mean `buyers`?") in hints
    assert "FAIL" not in run.render()


def test_clocks_and_item_data_are_checked_where_they_are_written(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
tests:
  - name: a bad clock and a bad quantity
    now: 2026-13-45
    redeemed: [{promotion: social, at: yesterday}]
    cart:
      currency: EUR
      items:
        - {sku: T1, quantity: 1.5, unit_price: "60.00", colour: red}
    expect:
      - total: 60.00 EUR
"""
    results, diagnostics = run_file(folder, "clock.test.yaml", text)
    assert results == []
    assert _codes(diagnostics) == sorted([
        ("E032", *line_of(text, "2026-13-45")), ("E032", *line_of(text, "yesterday")),
        ("E032", *line_of(text, "1.5")), ("E030", *line_of(text, "colour"))])
    by_place = {(d.line, d.column): d for d in diagnostics}
    clock = by_place[line_of(text, "2026-13-45")]
    assert "2026-13-45" in clock.message and "month must be in 1..12" in clock.message and clock.hint
    quantity = by_place[line_of(text, "1.5")]
    assert quantity.message == "`tests.0.cart.items.0.quantity`: expected a whole number, and `1.5` is not one"
    assert "string" not in quantity.message


def test_a_float_amount_of_a_redemption_is_an_error_of_the_file(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
tests:
  - name: a redemption amount written as a float
    redeemed: [{promotion: social, amount: 8.02}]
""" + CART + """\
    expect:
      - total: 64.90 EUR
"""
    results, diagnostics = run_file(folder, "redeemed.test.yaml", text)
    assert results == []
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("E032", *line_of(text, "8.02"))]
    assert diagnostics[0].hint is not None and 'amount: "8.02"' in diagnostics[0].hint


def test_amounts_are_found_from_the_models_and_forms() -> None:
    from relance.engine.data.models import Cart, Item, Order
    from relance.engine.language.forms import Redeemed
    from relance.engine.testing.validate import _amounts_of

    assert _amounts_of(Cart)[0] == ["shipping", "subtotal", "total"]
    assert _amounts_of(Item)[0] == ["unit_price", "total"]
    assert _amounts_of(Order)[0] == ["total", "shipping"]
    assert _amounts_of(Redeemed)[0] == ["amount"]


def test_a_case_that_checks_nothing_is_an_error_of_the_file(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
tests:
  - name: nothing expected
""" + CART + """\
    expect: []
"""
    results, diagnostics = run_file(folder, "empty.test.yaml", text)
    assert results == []
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("E031", *line_of(text, "expect:"))]
    assert "checks nothing" in diagnostics[0].message


def test_an_expression_error_is_placed_in_the_test_file(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
contacts:
  - {id: ana, created_at: 2024-01-10}
tests:
  - name: broken expressions
    contact: ana
    expect:
      - expression: count(orders) >=
        equals: 1
      - expression: count(ordres)
        equals: 1
      - expression: contact.created_at + 1
        equals: 1
      - expression: count(orders)
"""
    (folder / "f.test.yaml").write_text(text, encoding="utf-8")
    run = testing.run_tests(relance.load(folder), [folder / "f.test.yaml"])
    assert (run.passed, run.failed, run.not_run) == (0, 0, 1)
    ends = len(text.splitlines()[7]) + 1
    assert [(d.line, d.column) for d in run.diagnostics][:2] == [(8, ends), line_of(text, "ordres")]
    assert [d.code for d in run.diagnostics] == ["E101", "E220", run.diagnostics[2].code, "E031"]
    assert run.diagnostics[2].line == line_of(text, "created_at + 1")[0]
    assert all(d.path == str(folder / "f.test.yaml") for d in run.diagnostics)
    assert run.diagnostics[3].message == "`equals` is missing"
    rendered = run.render()
    assert f"{folder / 'f.test.yaml'}:8:{ends}: error[E101]" in rendered
    assert "      - expression: count(orders) >=" in rendered  # the line of the file is shown


def test_a_cart_expectation_without_a_cart_is_an_error_of_the_file(folder: Path) -> None:
    text = """\
now: 2026-11-23T10:00
contacts:
  - {id: ana, created_at: 2024-01-10}
  - {id: bob, created_at: 2024-01-10}
tests:
  - name: no cart, no contact
    expect:
      - total: 1 EUR
        discount: some
      - expression: count(orders)
        equals: 0
"""
    results, diagnostics = run_file(folder, "nocart.test.yaml", text)
    assert results == []
    assert _codes(diagnostics) == sorted([("E031", *line_of(text, "total")), ("E032", *line_of(text, "some")),
                                          ("E031", *line_of(text, "name: no cart"))])
    assert {d.hint for d in diagnostics} >= {"add `contact: ID` to the case"}
