"""What values mean: nulls, money, calendars, aggregates (checked on hand-made cases)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relance
from relance.engine.data import values as R
from relance.engine.data.money import Money

NOW = "2026-03-31T10:00:00+02:00"
DATA: dict[str, Any] = {
    "now": NOW,
    "contact": {"id": "c1", "email": "ana@gmail.com", "country": "FR", "created_at": "2025-03-31T09:00:00+02:00",
                "birthdate": "1990-02-28", "consents": {"email": True}, "tags": ["vip"]},
    "orders": [
        {"id": "o2", "created_at": "2026-03-01", "status": "paid", "total": "30.00", "currency": "EUR",
         "items": [{"sku": "A", "category": "shoes", "quantity": 2, "unit_price": "15.00"}]},
        {"id": "o1", "created_at": "2025-12-24", "status": "cancelled", "total": "10.00", "currency": "EUR"},
        {"id": "o3", "created_at": "2026-03-30", "status": "paid", "total": "12.50", "currency": "USD"},
    ],
    "cart": {"currency": "EUR", "items": [{"sku": "B", "category": "socks", "quantity": 3, "unit_price": "4.00"}]},
}


def value(text: str, data: dict[str, Any] = DATA) -> Any:
    compiled = relance.compile_expression(text)
    result = compiled.evaluate(data)
    assert compiled.interpret(data) == result, text
    return result


@pytest.mark.parametrize("text, expected", [
    ("count(orders)", 3),
    ('count(orders where status == "paid")', 2),
    ("first(orders).id", "o1"),
    ("last(orders).id", "o3"),
    ('sum(orders.total where currency == "EUR")', Money(Decimal("40.00"), "EUR")),
    ("sum(orders.total)", None),
    ("sum(orders.total) >= 0 EUR", False),
    ("sum(orders.items.quantity)", 2),
    ("cart.subtotal", Money(Decimal("12.00"), "EUR")),
    ("cart.subtotal * 10%", Money(Decimal("1.2000"), "EUR")),
    ("round(cart.subtotal / 7)", Money(Decimal("1.71"), "EUR")),
    ("any(cart.items where category == \"socks\" and quantity >= 2)", True),
    ("all(orders where status == \"paid\")", False),
    ("contact.phone == null", True),
    ("contact.phone != \"x\"", True),
    ("contact.phone starts with \"+33\"", False),
    ("not (contact.phone starts with \"+33\")", True),
    ("contact.phone > \"a\"", False),
    ("days_since(contact.created_at)", 365),
    ("days_since(last(orders).created_at)", 1),
    ("now - 1 month", dt.datetime(2026, 2, 28, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
    ("today", dt.date(2026, 3, 31)),
    ("anniversary(contact.birthdate)", dt.date(2026, 2, 28)),
    ("month(contact.birthdate) == 2", True),
    ("\"vip\" in contact.tags", True),
    ("contact.tags contains \"b2b\"", False),
    ("7 / 2", Decimal("3.5")),
    ("7 / 0", None),
    ("10% * 50", Decimal("5.0")),
    ("2026-03-31 < now", True),
    ("weekday(2026-03-30)", 1),
])
def test_values(text: str, expected: Any) -> None:
    result = value(text)
    if isinstance(expected, dt.datetime):
        assert result == expected
    else:
        assert result == expected and type(result) is type(expected) or result == expected


def test_daylight_saving_shift_keeps_the_wall_clock() -> None:
    paris = relance.engine.data.context.zone("Europe/Paris")
    before = dt.datetime(2026, 3, 28, 12, tzinfo=paris)
    after = R.shift(before, 1, "day", paris)
    assert after.astimezone(paris).hour == 12
    utc = dt.UTC
    assert after.astimezone(utc) - before.astimezone(utc) == dt.timedelta(hours=23)
    exact = R.shift(before, 24, "hour", paris)
    assert exact.astimezone(utc) - before.astimezone(utc) == dt.timedelta(hours=24)


def test_month_arithmetic_clamps_to_the_end_of_the_month() -> None:
    assert R.add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert R.add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert R.add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)


def test_money_is_exact_and_refuses_floats_and_excess_decimals() -> None:
    with pytest.raises(relance.DataError):
        relance.Context.from_mapping({"now": NOW, "cart": {"currency": "EUR", "items": [
            {"sku": "x", "unit_price": 1.1}]}})
    with pytest.raises(relance.DataError):
        relance.Context.from_mapping({"now": NOW, "cart": {"currency": "EUR", "items": [
            {"sku": "x", "unit_price": "1.001"}]}})
    assert Money(Decimal("2.675"), "EUR").rounded() == Money(Decimal("2.68"), "EUR")
    assert Money(Decimal("2.5"), "JPY").rounded() == Money(Decimal("3"), "JPY")
    assert Money(Decimal("1.0005"), "KWD").rounded().amount == Decimal("1.001")


def test_data_errors_name_the_field() -> None:
    with pytest.raises(relance.DataError, match="contact.created_at"):
        relance.Context.from_mapping({"now": NOW, "contact": {"id": "x", "created_at": "yesterday"}})
    with pytest.raises(relance.DataError, match="unknown key"):
        relance.Context.from_mapping({"now": NOW, "contacts": []})


def test_a_guest_checkout_has_no_contact() -> None:
    data = {"now": NOW, "cart": DATA["cart"]}
    assert value('contact.country == "FR"', data) is False
    assert value("contact.tags contains \"vip\"", data) is False
    assert value("count(orders)", data) == 0


def test_naive_times_are_read_in_the_rule_set_zone(paris_rules: relance.RuleSet) -> None:
    ctx = relance.Context.from_mapping({"now": "2026-07-01T00:30", "contact": {"id": "a", "created_at": "2026-06-30"}},
                                       paris_rules)
    assert ctx.now == dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)  # 00:30 in Paris
    assert ctx.today == dt.date(2026, 7, 1)
    compiled = relance.compile_expression("days_since(contact.created_at)", paris_rules)
    assert compiled.evaluate(ctx) == 1


def test_elapsed_days_across_daylight_saving_are_real_days(paris_rules: relance.RuleSet) -> None:
    """28 March 12:00 to 29 March 12:00 in Paris is 23 hours: not yet one day."""
    data = {"now": "2026-03-29T12:00", "contact": {"id": "a", "created_at": "2026-03-28T12:00"}}
    compiled = relance.compile_expression("days_since(contact.created_at)", paris_rules)
    ctx = paris_rules.context(data)
    assert compiled.evaluate(ctx) == 0 == compiled.interpret(ctx)
    later = paris_rules.context({**data, "now": "2026-03-29T13:00"})
    assert compiled.evaluate(later) == 1


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789.-e+٣² ", max_size=20), st.sampled_from(["EUR", "JPY", "KWD", "XXX"]))
def test_the_fast_path_for_amounts_agrees_with_the_full_parser(number: str, currency: str) -> None:
    from relance.engine.data.models import _money, _parse_money

    text = f"{number} {currency}"

    def outcome(parse: Any) -> Any:
        try:
            money = parse(text)
            return (money.amount, money.currency)
        except ValueError:
            return "refused"

    assert outcome(_money) == outcome(_parse_money)


amounts = st.one_of(st.text(alphabet="0123456789.-e ", min_size=1, max_size=8), st.integers(-5, 10**6),
                    st.sampled_from(["12.50 EUR", "3 USD", "1.005", "7"]), st.none())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["EUR", "JPY"]), st.lists(st.fixed_dictionaries(
    {"sku": st.sampled_from(["A", "B"]), "quantity": st.integers(0, 3), "unit_price": amounts},
    optional={"total": amounts, "currency": st.sampled_from(["EUR", "USD"])}), max_size=4),
    st.one_of(st.none(), amounts))
def test_a_cart_validates_alike_with_or_without_its_currency_in_the_context(
        currency: str, items: list[dict[str, Any]], shipping: Any) -> None:
    """`Context.from_mapping` hands item prices the cart's currency through the validation
    context; `Cart.model_validate` alone rewrites the items instead: same carts, same refusals."""
    from pydantic import ValidationError

    from relance.engine.data.models import Cart, in_currency

    cart = {"currency": currency, "items": [{k: v for k, v in i.items() if v is not None or k == "unit_price"}
                                            for i in items]}
    if shipping is not None:
        cart["shipping"] = shipping

    def outcome(context: dict[str, Any]) -> Any:
        try:
            return Cart.model_validate(cart, context=context)
        except ValidationError as error:
            return [(e["loc"], e["msg"]) for e in error.errors()]

    assert outcome(in_currency({"tz": dt.UTC}, cart)) == outcome({"tz": dt.UTC})
