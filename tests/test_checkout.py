"""Checkout semantics, one rule at a time: amounts worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

import relance
from relance.engine.store import tables as S
from relance.engine.store.records import insert_contexts

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Paris
CONTACT = {"id": "c1", "email": "Anna@Example.fr", "country": "FR", "language": "fr",
           "created_at": "2026-01-01T00:00:00Z"}


def engine(tmp_path: Path, rules: str, project: str = "") -> relance.Engine:
    (tmp_path / "relance.yaml").write_text("currency: EUR\ntimezone: Europe/Paris\n" + project, encoding="utf-8")
    (tmp_path / "promos.rules").write_text(rules, encoding="utf-8")
    return relance.Engine(tmp_path)


def cart(*lines: tuple[str, str, int, str], shipping: str = "0", country: str | None = "FR") -> dict:
    return {"currency": "EUR", "shipping": shipping, "country": country,
            "items": [{"sku": sku, "category": cat, "quantity": qty, "unit_price": price}
                      for sku, cat, qty, price in lines]}


def eur(text: str) -> relance.Money:
    return relance.Money(Decimal(text), "EUR")


def applied(evaluation: relance.Evaluation, name: str) -> relance.Applied:
    return next(a for a in evaluation.applied if a.promotion == name)


def test_percent_off_order_is_capped_excludes_items_and_allocates_exactly(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion ten "10% up to 5 EUR":
    reward 10% off order up to 5 EUR
    exclude items where category == "gift-cards"
''')
    result = e.evaluate(cart(("A", "x", 1, "10.00"), ("B", "x", 2, "10.01"), ("G", "gift-cards", 1, "50.00")), now=NOW)
    ten = applied(result, "ten")
    # base 10.00 + 20.02 = 30.02 (the gift card is not counted); 10% = 3.002 -> 3.00, under the 5 EUR cap
    assert ten.base == eur("30.02") and ten.discount == eur("3.00")
    # in proportion, in cents: A 300 x 1000/3002 = 99.93, B 300 x 2002/3002 = 200.07; the cent left
    # goes to the larger remainder (A): A 1.00, B 2.00
    assert {a.sku: a.amount for a in ten.allocations} == {"A": eur("1.00"), "B": eur("2.00")}
    assert result.total == eur("77.02")  # 80.02 - 3.00
    big = e.evaluate(cart(("A", "x", 1, "100.00")), now=NOW)
    assert applied(big, "ten").discount == eur("5.00")  # 10.00 capped at 5


def test_amount_off_each_item_and_fixed_price(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion each "2 EUR off each shoe":
    reward 2 EUR off each item where category == "shoes"

promotion boot "The boot at 99":
    reward fixed price 99 EUR items where sku == "BOOT"
''')
    result = e.evaluate(cart(("S", "shoes", 3, "1.50"), ("T", "shoes", 2, "40.00"), ("BOOT", "boots", 2, "120.00")),
                        now=NOW)
    # 2 EUR per unit, never more than the line: S 3 x 1.50 = 4.50 -> 4.50 (not 6); T 2 x 2 = 4.00
    assert {a.sku: a.amount for a in applied(result, "each").allocations} == {"S": eur("4.50"), "T": eur("4.00")}
    # two boots at 120 sell at 99 each: 42.00 off
    assert applied(result, "boot").discount == eur("42.00")


def test_buy_two_get_one_gives_the_cheapest_units_and_ignores_line_order(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion socks "3 for 2":
    reward buy 2 get 1 free items where category == "socks" up to 2 times
''')
    lines = [("A", "socks", 2, "5.00"), ("B", "socks", 3, "3.00"), ("C", "socks", 2, "8.00")]
    result = e.evaluate(cart(*lines), now=NOW)
    # 7 units -> 2 groups (capped at 2 times) -> the 2 cheapest units (two B at 3.00) are free
    assert applied(result, "socks").discount == eur("6.00")
    assert {a.sku: a.amount for a in applied(result, "socks").allocations} == {"B": eur("6.00")}
    shuffled = e.evaluate(cart(*reversed(lines)), now=NOW)
    assert applied(shuffled, "socks").discount == eur("6.00")


def test_a_threshold_sees_the_cart_after_earlier_discounts_unless_base_before(tmp_path: Path) -> None:
    rules = '''
promotion shoes "20% off shoes":
    reward 20% off items where category == "shoes"

promotion ship "Free shipping from 50 EUR":
    when cart.subtotal >= 50 EUR
    reward free shipping
'''
    e = engine(tmp_path, rules)
    result = e.evaluate(cart(("S", "shoes", 1, "55.00"), shipping="4.90"), now=NOW)
    # 55.00 - 11.00 = 44.00 < 50: the customer does not get free shipping (the Saleor bug avoided)
    refusal = result.refusal("ship")
    assert refusal is not None and refusal.reason == "condition_not_met"
    assert refusal.condition is not None and refusal.condition.text == "cart.subtotal >= 50 EUR"
    assert refusal.condition.line == 6 and refusal.condition.path.endswith("promos.rules")
    assert ("cart.subtotal", "44.00 EUR") in refusal.condition.values
    assert result.total == eur("48.90")
    before = engine(tmp_path, rules.replace("reward free shipping", "reward free shipping\n    base before discounts"))
    assert before.evaluate(cart(("S", "shoes", 1, "55.00"), shipping="4.90"), now=NOW).total == eur("44.00")


def test_exclusive_promotions_follow_the_declared_policy(tmp_path: Path) -> None:
    rules = '''
promotion small "5 EUR off":
    priority 10
    reward 5 EUR off order

promotion big "30% off, alone":
    exclusive
    reward 30% off order
'''
    e = engine(tmp_path, rules)
    result = e.evaluate(cart(("A", "x", 1, "100.00")), now=NOW, explain=True)
    # policy priority: `small` comes first, so the exclusive one cannot apply
    assert [a.promotion for a in result.applied] == ["small"]
    assert result.refusal("big").reason == "not_combinable"
    # without `explain`, an automatic promotion that does not combine is not listed (a code would be)
    assert e.evaluate(cart(("A", "x", 1, "100.00")), now=NOW).refusal("big") is None
    best = engine(tmp_path, rules, "guards:\n  exclusive: best\n")
    result = best.evaluate(cart(("A", "x", 1, "100.00")), now=NOW)
    assert [a.promotion for a in result.applied] == ["big"]  # 30.00 beats 5.00
    assert result.refusal("small").reason == "not_combinable"


def test_combines_with_is_checked_both_ways(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion ten:
    reward 10% off order
    combines with shipping

promotion socks:
    reward 1 EUR off items where category == "socks"

promotion ship:
    reward free shipping
''')
    result = e.evaluate(cart(("A", "socks", 1, "10.00"), shipping="3.00"), now=NOW, explain=True)
    # items go first: socks applies; ten (order) does not combine with items; ship stacks with both
    assert sorted(a.promotion for a in result.applied) == ["ship", "socks"]
    assert result.refusal("ten").reason == "not_combinable"


def test_max_discount_guard_caps_the_sum(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion a:
    reward 40% off order

promotion b:
    reward 20 EUR off order
''', "guards:\n  max_discount: 50%\n")
    result = e.evaluate(cart(("A", "x", 1, "100.00")), now=NOW)
    # a: 40.00; b: 20.00 would make 60.00 > 50% of 100 -> capped at 10.00
    assert applied(result, "b").discount == eur("10.00") and applied(result, "b").capped_by == "max_discount"
    assert result.discount == eur("50.00")


def test_validity_reasons_in_the_rule_set_time_zone(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion xmas:
    code "XMAS"
    reward 10% off order
    valid 2026-12-20 to 2026-12-26, days mon-fri, hours 09:00-18:00
''')
    c = cart(("A", "x", 1, "10.00"))

    def reason(at: dt.datetime) -> str | None:
        refusal = e.evaluate(c, codes=["xmas"], now=at).refusal("XMAS")
        return refusal.reason if refusal else None

    assert reason(dt.datetime(2026, 12, 19, 12, tzinfo=UTC)) == "not_started"
    assert reason(dt.datetime(2026, 12, 21, 12, tzinfo=UTC)) is None  # Monday 13:00 in Paris
    assert reason(dt.datetime(2026, 12, 21, 17, 30, tzinfo=UTC)) == "outside_hours"  # 18:30 in Paris
    assert reason(dt.datetime(2026, 12, 26, 12, tzinfo=UTC)) == "outside_days"  # Saturday
    assert reason(dt.datetime(2026, 12, 26, 23, 30, tzinfo=UTC)) == "expired"  # the 27th in Paris


def test_restrictions_have_their_own_reasons(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion en:
    code "HELLO"
    reward 10% off order
    only language "en"

promotion de:
    code "HALLO"
    reward 10% off order
    only country "DE"

promotion anna:
    code "SORRY-ANNA"
    reward 100% off items where sku == "MUG"
    only email "anna@example.fr"

promotion first:
    code "FIRST"
    reward 5 EUR off order
    only first order
''')
    c = cart(("MUG", "x", 1, "12.00"), ("A", "x", 1, "10.00"))
    result = e.evaluate(c, CONTACT, codes=["hello", "hallo", "sorry-anna", "first"], now=NOW,
                        orders=[{"id": "o1", "created_at": "2026-02-01T00:00:00Z", "status": "paid",
                                 "total": "20.00", "currency": "EUR"}])
    assert result.refusal("HELLO").reason == "wrong_language"
    assert result.refusal("HALLO").reason == "wrong_country"
    assert result.refusal("FIRST").reason == "not_first_order"
    assert applied(result, "anna").discount == eur("12.00")  # her email, any case; the mug only
    other = e.evaluate(c, {**CONTACT, "id": "c2", "email": "bob@example.fr"}, codes=["SORRY-ANNA"], now=NOW)
    assert other.refusal("sorry-anna").reason == "wrong_contact"
    guest = e.evaluate(c, None, codes=["SORRY-ANNA"], now=NOW)
    assert guest.refusal("SORRY-ANNA").reason == "contact_required"


def test_pool_codes_expire_and_can_be_bound_to_a_contact(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion welcome:
    code unique pattern "WELC-####" expires after 30 days
    reward 10% off order
''')
    with e.store.engine.begin() as conn:
        conn.execute(S.codes.insert(), [
            {"code_key": "WELC-2345", "code": "WELC-2345", "promotion": "welcome", "issued_at": NOW,
             "expires_at": NOW + dt.timedelta(days=30), "contact_id": None},
            {"code_key": "WELC-6789", "code": "WELC-6789", "promotion": "welcome", "issued_at": NOW,
             "expires_at": None, "contact_id": "c1"}])
    c = cart(("A", "x", 1, "10.00"))
    assert applied(e.evaluate(c, codes=["welc-2345"], now=NOW), "welcome").discount == eur("1.00")
    late = e.evaluate(c, codes=["WELC-2345"], now=NOW + dt.timedelta(days=31))
    assert late.refusal("WELC-2345").reason == "code_expired"
    assert e.evaluate(c, CONTACT, codes=["WELC-6789"], now=NOW).applied
    stranger = e.evaluate(c, {**CONTACT, "id": "c9"}, codes=["WELC-6789"], now=NOW)
    assert stranger.refusal("WELC-6789").reason == "wrong_contact"
    used = e.evaluate(c, codes=["WELC-2345"], now=NOW)
    e.redeem(used, "o1", now=NOW)
    assert e.evaluate(c, codes=["WELC-2345"], now=NOW).refusal("WELC-2345").reason == "usage_limit_reached"


def test_one_pool_code_can_be_voided_while_its_pool_serves(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion welcome:
    code unique pattern "WELC-####"
    reward 10% off order
promotion social:
    code "SOCIAL"
    reward 1 EUR off order
''')
    leaked, other = e.issue_codes("welcome", 2, now=NOW)
    c = cart(("A", "x", 1, "10.00"))
    before = e.evaluate(c, codes=[leaked], now=NOW)
    assert before.applied
    e.void_code(leaked.lower(), note="posted on a forum", now=NOW + dt.timedelta(minutes=1))
    later = NOW + dt.timedelta(minutes=2)
    refused = e.evaluate(c, codes=[leaked], now=later).refusal(leaked)
    assert (refused.reason, refused.message) == ("code_voided", "this code was cancelled")
    assert e.evaluate(c, codes=[leaked], now=NOW).applied  # a dry-run before the void still sees it
    assert e.evaluate(c, codes=[other], now=later).applied  # the rest of the pool serves
    with pytest.raises(relance.RedemptionError) as stopped:  # evaluated before the void, paid after
        e.redeem(before, "o1", now=later)
    assert [r.reason for r in stopped.value.refusals] == ["code_voided"]
    with e.store.engine.connect() as conn:
        assert conn.execute(select(S.codes.c.void_note).where(S.codes.c.code == leaked)).scalar() == "posted on a forum"
    assert e.void_code(leaked, note="again", now=later) is False  # voided already: the first note stays
    with pytest.raises(relance.DataError, match="note: expected text, not 123"):
        e.void_code(other, note=123)  # type: ignore[arg-type]
    with pytest.raises(relance.DataError, match=r"note: expected text, not \['x'\]"):
        e.disable("welcome", note=["x"])  # type: ignore[arg-type]
    assert e.restore_code(leaked, now=later) is True and e.restore_code(leaked, now=later) is False
    assert e.redeem(e.evaluate(c, codes=[leaked], now=later), "o1", now=later).redemptions
    with pytest.raises(KeyError, match="no code 'WELC-0000' in the store"):
        e.void_code("WELC-0000")
    with pytest.raises(KeyError, match="public code of `social`, written in the rules"):
        e.void_code("social")


def test_a_customer_s_uses_per_period(tmp_path: Path) -> None:
    """`N per contact per week` (or day, month): a customer's uses in a calendar period of the rule
    set's zone, however many other customers use the promotion."""
    e = engine(tmp_path, '''
promotion perk "Members' free shipping":
    reward free shipping
    limit 1 per contact per week, 2 per contact per month
''')
    c = cart(("A", "x", 1, "10.00"), shipping="4.90")

    def refusal(now: dt.datetime, contact: dict | None = CONTACT) -> str | None:
        found = e.evaluate(c, contact, now=now).refusal("perk")
        return None if found is None else found.message

    week = "this promotion cannot be used again this week: you have already used it this week"
    month = "this promotion cannot be used again this month: you have already used it this month"
    first, second = NOW - dt.timedelta(days=14), NOW - dt.timedelta(days=7)  # Mondays 9 and 16 November
    e.redeem(e.evaluate(c, CONTACT, now=first), "o1", now=first)
    assert refusal(first + dt.timedelta(days=2)) == week
    assert refusal(first, {**CONTACT, "id": "c2"}) is None  # another customer
    assert refusal(first, None) == "sign in to use this promotion (it is limited per customer)"
    e.redeem(e.evaluate(c, CONTACT, now=second), "o2", now=second)
    assert refusal(NOW) == month  # a new week, but the second use of November
    december = dt.datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # Tuesday 1 December, 00:00 in Paris
    assert refusal(december - dt.timedelta(seconds=1)) == month and refusal(december) is None


@pytest.mark.parametrize("limit, hint", [
    ("1 per month per contact", "write `1 per contact per month`"),
    ("1 per code per day", "a customer's uses per period: `1 per contact per day` (or `week`, `month`)"),
])
def test_a_limit_per_period_is_a_customer_s(tmp_path: Path, limit: str, hint: str) -> None:
    with pytest.raises(relance.RuleSetError) as refused:
        engine(tmp_path, f"promotion p:\n    reward free shipping\n    limit {limit}\n")
    [problem] = [d for d in refused.value.diagnostics if d.code == "E343"]
    assert (problem.line, problem.hint) == (3, hint)


def test_budget_caps_the_last_discount_then_refuses(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion b:
    reward 10 EUR off order
    limit budget 25 EUR
''')
    c = cart(("A", "x", 1, "50.00"))
    for order in ("o1", "o2"):
        e.redeem(e.evaluate(c, now=NOW), order, now=NOW)
    third = e.evaluate(c, now=NOW)
    assert applied(third, "b").discount == eur("5.00") and applied(third, "b").capped_by == "budget"
    e.redeem(third, "o3", now=NOW)
    assert e.evaluate(c, now=NOW).refusal("b").reason == "budget_exhausted"
    e.rollback("o2")
    assert applied(e.evaluate(c, now=NOW), "b").discount == eur("10.00")


def test_a_partial_return_rolls_back_some_promotions_of_an_order(tmp_path: Path) -> None:
    """The customer returns the shoes: the shoes promotion's use and amount go back, the order's
    other promotions still count, and the order is undone only when nothing of it is left."""
    e = engine(tmp_path, '''
promotion shoes "5 EUR off shoes":
    reward 5 EUR off items where category == "shoes"
    limit 1 total
promotion once "1 EUR, once":
    reward 1 EUR off order
    limit 1 total
''')
    c = cart(("A", "shoes", 1, "50.00"), ("B", "socks", 1, "10.00"))
    e.redeem(e.evaluate(c, now=NOW), "o1", now=NOW)
    assert {r.promotion for r in e.evaluate(c, now=NOW).refused} == {"shoes", "once"}
    assert e.rollback("o1", promotions=["shoes"]) == 1 and e.rollback("o1", promotions=["shoes"]) == 0
    assert [a.promotion for a in e.evaluate(c, now=NOW).applied] == ["shoes"]  # `once` still counts
    with e.store.engine.connect() as conn:
        assert conn.scalar(select(S.redemption_batches.c.state)) == "redeemed"
    assert e.rollback("o1", promotions=["once"]) == 1
    with e.store.engine.connect() as conn:
        assert conn.scalar(select(S.redemption_batches.c.state)) == "rolled_back"  # nothing of it is left
    with pytest.raises(relance.DataError, match="promotions: expected a list of promotion names"):
        e.rollback("o1", promotions="shoes")  # type: ignore[arg-type]


def test_evaluate_never_writes_and_redeem_is_idempotent(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion social:
    code "SOCIAL"
    reward 10% off order
    limit 1 total
''')
    c = cart(("A", "x", 1, "10.00"))
    result = e.evaluate(c, codes=["SOCIAL"], now=NOW)

    def rows() -> int:
        with e.store.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(S.redemptions)) or 0

    assert rows() == 0
    first = e.redeem(result, "o1", now=NOW)
    again = e.redeem(result, "o1", now=NOW)
    assert rows() == 1 and again.replayed and not first.replayed and again.redemptions == first.redemptions
    with pytest.raises(relance.RedemptionError) as refused:
        e.redeem(result, "o2", now=NOW)
    assert refused.value.refusals[0].reason == "usage_limit_reached"
    with pytest.raises(relance.RedemptionError):
        e.redeem(result, "o3", idempotency_key="order:o1", now=NOW)  # a key is for one order
    assert e.rollback("o1") == 1 and e.rollback("o1") == 0
    assert e.redeem(result, "o2", now=NOW).redemptions


def test_redeem_refuses_an_evaluation_that_does_not_total_what_the_order_is_paid(tmp_path: Path) -> None:
    """The cart changed after it was evaluated: the discounts of the old cart are not recorded."""
    e = engine(tmp_path, 'promotion flash:\n    code "FLASH"\n    reward 10% off order\n')
    stale = e.evaluate(cart(("A", "x", 1, "10.00")), codes=["FLASH"], now=NOW)
    with pytest.raises(relance.RedemptionError, match=r"the order is paid 19\.00 EUR, its evaluation totals 9\.00 EUR"):
        e.redeem(stale, "o1", now=NOW, total="19.00")
    with pytest.raises(relance.DataError, match="total: "):
        e.redeem(stale, "o1", now=NOW, total=9.0)  # type: ignore[arg-type]
    assert e.redeem(stale, "o1", now=NOW, total="9.00 EUR").redemptions


def test_an_order_redeemed_again_with_other_promotions_is_refused_not_replayed(tmp_path: Path) -> None:
    """A retry is answered with the first receipt; another cart under the same order id is an
    error, else its promotions would silently go unrecorded."""
    e = engine(tmp_path, '''
promotion flash:
    code "FLASH"
    reward 10% off order
promotion social:
    code "SOCIAL"
    reward 2 EUR off order
''')
    c = cart(("A", "x", 1, "10.00"))
    first = e.redeem(e.evaluate(c, codes=["FLASH"], now=NOW), "same", now=NOW)
    retry = e.redeem(e.evaluate(c, codes=["flash"], now=NOW), "same", now=NOW)  # typed again, in lower case
    assert retry.replayed and retry.redemptions == first.redemptions
    with pytest.raises(relance.RedemptionError, match=r"already recorded with other promotions.*flash 1\.00 EUR"
                                                     r".*asked now: social 2\.00 EUR"):
        e.redeem(e.evaluate(c, codes=["SOCIAL"], now=NOW), "same", now=NOW)
    with pytest.raises(relance.RedemptionError, match="other promotions or amounts"):
        e.redeem(e.evaluate(cart(("A", "x", 2, "10.00")), codes=["FLASH"], now=NOW), "same", now=NOW)


def test_a_promotion_s_totals_are_shared_and_a_customer_s_own_counts_read_once(tmp_path: Path) -> None:
    """Evaluation keeps a promotion's totals (the same for every customer) apart from the
    customer's own counts, which it reads in one look-up for all promotions, and only for a
    `per contact` limit."""
    from sqlalchemy import event

    e = engine(tmp_path, '''
promotion once "Once per customer":
    reward 1 EUR off order
    limit 1 per contact

promotion twice "Twice per customer":
    reward 5% off order
    limit 2 per contact

promotion first "The first buyer only":
    reward free shipping
    limit 1 total
''')
    c = cart(("A", "x", 2, "20.00"), shipping="4.90")
    anna, bob = CONTACT, {**CONTACT, "id": "c2", "email": "bob@example.fr"}
    e.redeem(e.evaluate(c, anna, now=NOW), "o1", now=NOW)
    statements: list[str] = []
    event.listen(e.store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    again = e.evaluate(c, anna, now=NOW)
    assert {a.promotion for a in again.applied} == {"twice"}
    assert {r.promotion: r.reason for r in again.refused} == {"once": "usage_limit_reached",
                                                             "first": "usage_limit_reached"}
    new = e.evaluate(c, bob, now=NOW)
    assert {a.promotion for a in new.applied} == {"once", "twice"}  # free shipping went to the first buyer
    per_contact = [s for s in statements if "GROUP BY promotion" in s]
    assert len(per_contact) == 2  # one look-up for anna's counts, one for bob's: not one per promotion
    statements.clear()
    e.evaluate(c, bob, now=NOW)
    assert statements == []  # within cache_ttl, a customer's second cart reads nothing


def test_disable_stops_a_promotion_without_a_rule_change(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion social:
    code "SOCIAL"
    reward 10% off order
''')
    c = cart(("A", "x", 1, "10.00"))
    result = e.evaluate(c, codes=["SOCIAL"], now=NOW)
    e.disable("social", note="leaked on a forum")
    with pytest.raises(relance.RedemptionError):
        e.redeem(result, "o1", now=NOW)
    assert e.evaluate(c, codes=["SOCIAL"], now=NOW).refusal("SOCIAL").reason == "disabled"
    e.enable("social")
    assert e.evaluate(c, codes=["SOCIAL"], now=NOW).applied
    with pytest.raises(KeyError, match="did you mean"):
        e.disable("socail")


def test_a_reservation_holds_the_last_unit(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion last:
    code "LAST"
    reward 10% off order
    limit 1 total
''')
    c = cart(("A", "x", 1, "10.00"))
    mine = e.evaluate(c, codes=["LAST"], now=NOW)
    hold = e.reserve(mine, "cart-a", ttl=dt.timedelta(minutes=10), now=NOW)
    assert e.evaluate(c, codes=["LAST"], now=NOW).refusal("LAST").reason == "usage_limit_reached"
    assert e.evaluate(c, codes=["LAST"], now=NOW, reservation=hold.key).applied  # its own hold does not count
    later = NOW + dt.timedelta(minutes=11)
    assert e.evaluate(c, codes=["LAST"], now=later).applied  # the hold expired
    e.redeem(mine, "order-a", now=NOW + dt.timedelta(minutes=5), reservation=hold.key)
    assert e.evaluate(c, codes=["LAST"], now=later).refusal("LAST").reason == "usage_limit_reached"


def test_a_cart_reserving_again_replaces_its_hold(tmp_path: Path) -> None:
    """A shopper reloading the payment page reserves again: their cart keeps one hold, not one
    per reload, and redeeming with any of its keys drops them all."""
    e = engine(tmp_path, '''
promotion early:
    code "EARLY"
    reward 10% off order
    limit 2 total
''')
    c = cart(("A", "x", 1, "10.00"))
    ev = e.evaluate(c, codes=["EARLY"], now=NOW)
    first = e.reserve(ev, "cart-a", now=NOW)
    second = e.reserve(ev, "cart-a", now=NOW + dt.timedelta(minutes=1))
    assert first.key != second.key
    assert e.evaluate(c, codes=["EARLY"], now=NOW).applied  # one unit held, one left
    e.reserve(ev, "cart-b", now=NOW)
    assert e.evaluate(c, codes=["EARLY"], now=NOW).refusal("EARLY").reason == "usage_limit_reached"
    e.redeem(ev, "order-a", reservation=first.key, now=NOW + dt.timedelta(minutes=2))  # an older key of the cart
    with e.store.engine.connect() as conn:
        states = sorted(conn.scalars(select(S.redemptions.c.state)))
    assert states == ["redeemed", "released", "released", "reserved"]


def test_a_cart_s_own_reservation_key_makes_a_new_hold(tmp_path: Path) -> None:
    """`key=` chosen by the shop (the cart's id, say) and given again after the cart changed, or
    after its hold ran out: the cart holds anew, it is not answered with the old receipt."""
    e = engine(tmp_path, '''
promotion early:
    code "EARLY"
    reward 10% off order
    limit 1 total
''')
    small, big = cart(("A", "x", 1, "20.00")), cart(("A", "x", 1, "30.00"))
    e.reserve(e.evaluate(small, codes=["EARLY"], now=NOW), "cart-a", key="cart-a", now=NOW)
    changed = e.reserve(e.evaluate(big, codes=["EARLY"], now=NOW, reservation="cart-a"), "cart-a", key="cart-a", now=NOW)
    assert not changed.replayed and [r.amount_minor for r in changed.redemptions] == [300]
    later = NOW + dt.timedelta(minutes=20)  # the 15-minute hold ran out
    renewed = e.reserve(e.evaluate(big, codes=["EARLY"], now=later), "cart-a", key="cart-a", now=later)
    assert not renewed.replayed and renewed.expires_at == later + dt.timedelta(minutes=15)
    assert e.evaluate(big, codes=["EARLY"], now=later).refusal("EARLY").reason == "usage_limit_reached"
    with pytest.raises(relance.RedemptionError, match="already used for the hold of cart 'cart-a'"):
        e.reserve(e.evaluate(big, codes=["EARLY"], now=later), "cart-b", key="cart-a", now=later)
    with pytest.raises(relance.RedemptionError, match="no reservation has the key 'nope'"):
        e.redeem(e.evaluate(big, codes=["EARLY"], now=later), "o1", reservation="nope", now=later)
    with pytest.raises(relance.DataError, match="reservation: expected the key"):
        e.release(None)  # type: ignore[arg-type]
    e.redeem(e.evaluate(big, codes=["EARLY"], now=later, reservation="cart-a"), "o1", reservation="cart-a", now=later)


def test_qualify_says_what_is_missing(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion ship "free shipping":
    when cart.subtotal >= 50 EUR
    reward free shipping

promotion three "a third item":
    when count(cart.items) >= 3
    reward 5% off order
''')
    found = {o.promotion: o for o in e.qualify(cart(("A", "x", 1, "38.00")), now=NOW)}
    assert found["ship"].amount == eur("12.00") and found["ship"].message == "add 12.00 EUR for free shipping"
    assert found["three"].message == "add 2 more items for a third item"


def test_qualify_does_not_offer_a_promotion_its_limits_refuse(tmp_path: Path) -> None:
    """Sold out, or its budget spent: adding to the cart would not get it."""
    e = engine(tmp_path, '''
promotion once "5 off from 50, once":
    when cart.subtotal >= 50 EUR
    reward 5 EUR off order
    limit 1 total
promotion mine "2 off from 50, once per customer":
    when cart.subtotal >= 50 EUR
    reward 2 EUR off order
    limit 1 per contact
''')
    small, big = cart(("A", "x", 1, "9.00")), cart(("A", "x", 1, "60.00"))
    assert {o.promotion for o in e.qualify(small, CONTACT, now=NOW)} == {"once", "mine"}
    e.redeem(e.evaluate(big, CONTACT, now=NOW), "o1", now=NOW)
    assert e.qualify(small, CONTACT, now=NOW) == []
    assert [o.promotion for o in e.qualify(small, {**CONTACT, "id": "c2"}, now=NOW)] == ["mine"]


def test_a_contact_given_by_id_comes_from_the_store_with_their_history(tmp_path: Path) -> None:
    """A shop that keeps its customers in relance's store (`relance import`) gives their id: the
    contact, orders, events and attributes are read back exactly (no amount through a float)."""
    e = engine(tmp_path, '''
promotion loyal "10% for a third order":
    when count(orders where status == "paid") >= 2 and contact.discount_rate >= 12.5%
        and contact.shoe_size > 41.5
    reward 10% off order
''', project="attributes:\n  discount_rate: percent\n  shoe_size: number\n  credit: money\n  seen_at: datetime\n")
    stored = relance.Context.from_mapping({
        "now": NOW, "contact": {**CONTACT, "discount_rate": "12.5%", "shoe_size": "42.5",
                                 "credit": "7.50 EUR", "seen_at": "2026-03-01T10:00:00"},  # in Paris
        "orders": [{"id": f"o{n}", "created_at": f"2026-10-0{n}T10:00:00Z", "currency": "EUR", "total": "40.10",
                    "items": [{"sku": "A", "quantity": 2, "unit_price": "20.05"}]} for n in (1, 2)]}, e.rules)
    insert_contexts(e.store.engine, [stored])
    with e.store.engine.begin() as conn:  # kept for another rule set: left out, not refused
        conn.execute(S.contacts.update().values(attributes={**conn.scalar(select(S.contacts.c.attributes)),
                                                           "legacy": "x"}))
    c = cart(("A", "x", 1, "10.00"))
    result = e.evaluate(c, "c1", now=NOW)
    assert [a.promotion for a in result.applied] == ["loyal"]
    ctx = e.context(c, "c1", now=NOW)
    assert ctx.contact is not None and stored.contact is not None
    assert ctx.contact.model_dump() == stored.contact.model_dump()  # attributes exact: Decimal("0.125"), ("42.5")
    assert [o.model_dump(exclude={"contact_id"}) for o in ctx.orders] == \
        [o.model_dump(exclude={"contact_id"}) for o in stored.orders]
    assert not e.evaluate(c, "c1", now=NOW, orders=[stored.orders[0]]).applied  # given orders take their place
    assert not e.evaluate(c, "c1", now=NOW, orders=[]).applied  # none at all, too
    with pytest.raises(relance.DataError, match="no contact 'c9' in the store"):
        e.evaluate(c, "c9", now=NOW)


def test_a_line_total_is_written_as_its_own_price_whatever_was_validated_before() -> None:
    """`19.50` and `19.5` are equal amounts written differently: a line keeps its own writing
    (a cache keyed on equal amounts once gave one line the other's)."""
    def total(price: str, quantity: int) -> str:
        return str(relance.Cart.model_validate({"currency": "EUR", "items": [
            {"sku": "A", "quantity": quantity, "unit_price": price}]}).items[0].total)

    assert [total("19.50", 1), total("19.5", 1), total("9.75", 2), total("9.750", 2)] == \
        ["19.50 EUR", "19.5 EUR", "19.50 EUR", "19.500 EUR"]


def test_the_json_of_an_evaluation_has_its_gifts(tmp_path: Path) -> None:
    e = engine(tmp_path, 'promotion mug:\n    reward gift "MUG"\n')
    result = e.evaluate(cart(("A", "x", 1, "10.00")), now=NOW)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["gifts"] == ["MUG"] and data["applied"][0]["gifts"] == ["MUG"] and data["total"]["amount"] == "10.00"


def test_currency_and_bad_data(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion five:
    code "FIVE"
    reward 5 EUR off order
''')
    usd = {"currency": "USD", "items": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}]}
    assert e.evaluate(usd, codes=["FIVE"], now=NOW).refusal("FIVE").reason == "wrong_currency"
    with pytest.raises(relance.DataError, match="quantity"):
        e.evaluate({"currency": "EUR", "items": [{"sku": "A", "quantity": -1, "unit_price": "1"}]}, now=NOW)


@pytest.mark.parametrize("quantity, error", [
    (10**20, "less than or equal to 100000"),  # buy X get Y counts units: a bound, not a hang
    (2.5, "valid integer"), ("2.5", "valid integer"),
    (100_000, "out of range"),  # 100,000 x 99,999,999,999 EUR is above the amounts relance computes with
])
def test_a_line_s_quantity_is_a_bounded_whole_number(tmp_path: Path, quantity: object, error: str) -> None:
    e = engine(tmp_path, 'promotion five:\n    reward 5 EUR off order\n')
    line = {"sku": "A", "quantity": quantity, "unit_price": "99999999999.00"}
    with pytest.raises(relance.DataError, match=error):
        e.evaluate({"currency": "EUR", "items": [line]}, now=NOW)


def test_the_api_refuses_wrong_types_by_name(tmp_path: Path) -> None:
    """A shop's programming error gets a DataError or TypeError naming the argument, never an
    AttributeError from inside relance, nor a silent default."""
    e = engine(tmp_path, 'promotion five:\n    code "FIVE"\n    reward 5 EUR off order\n')
    c = cart(("A", "x", 1, "10.00"))
    for codes, error in (([123], "codes: expected strings, not 123"), ([None], "codes: expected strings, not None"),
                         (123, "codes: expected a list of strings, not int"),
                         (["X"] * 21, "codes: at most 20 codes per evaluation")):
        with pytest.raises(relance.DataError, match=error):
            e.evaluate(c, codes=codes, now=NOW)  # type: ignore[arg-type]
    assert e.evaluate(c, codes="five", now=NOW).applied  # one code alone
    with pytest.raises(relance.DataError, match="out of range"):
        e.evaluate(c, now=dt.datetime(1, 1, 2, tzinfo=dt.UTC))
    with pytest.raises(relance.DataError, match="order_id: expected a non-empty string, not None"):
        e.rollback(None)  # type: ignore[arg-type]
    with pytest.raises(relance.StoreError, match="a database URL or a SQLAlchemy engine, not int"):
        relance.Engine(e.rules, store=123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cache_ttl"):
        relance.Engine(e.rules, cache_ttl=-1)


def test_redeem_checks_that_a_public_code_is_still_in_the_reloaded_rules(tmp_path: Path) -> None:
    e = engine(tmp_path, 'promotion flash:\n    code "FLASH"\n    reward 10% off order\n')
    paying = e.evaluate(cart(("A", "x", 1, "10.00")), codes=["FLASH"], now=NOW)
    (tmp_path / "promos.rules").write_text('promotion flash:\n    code "FLASH2"\n    reward 10% off order\n',
                                           encoding="utf-8")
    e.reload(tmp_path)
    with pytest.raises(relance.RedemptionError) as refused:
        e.redeem(paying, "o1", now=NOW)
    assert [(r.promotion, r.reason, r.code) for r in refused.value.refusals] == [("flash", "unknown_code", "FLASH")]


def test_a_rule_set_that_does_not_load_leaves_the_current_one(tmp_path: Path) -> None:
    e = engine(tmp_path, "promotion a:\n    reward 5 EUR off order\n")
    (tmp_path / "promos.rules").write_text("promotion a:\n    reward 5 EUR of order\n", encoding="utf-8")
    with pytest.raises(relance.RuleSetError):
        e.reload(tmp_path)
    assert e.evaluate(cart(("A", "x", 1, "10.00")), now=NOW).applied


def test_the_in_memory_store_serialises_threads(tmp_path: Path) -> None:
    """`Engine()` without a store shares one SQLite connection: its lock keeps limits exact."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    e = engine(tmp_path, 'promotion capped:\n    code "CAPPED"\n    reward 10 EUR off order\n    limit 5 total\n')
    c = cart(("A", "x", 1, "30.00"))
    barrier = threading.Barrier(12)

    def race(i: int) -> str:
        result = e.evaluate(c, codes=["CAPPED"], now=NOW)
        barrier.wait()
        try:
            e.redeem(result, f"o{i}", now=NOW)
            return "ok"
        except relance.RedemptionError:
            return "refused"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(race, range(12)))
    assert outcomes.count("ok") == 5 and outcomes.count("refused") == 7


def test_what_a_shop_may_send_wrong_is_named(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion ship:
    when cart.subtotal >= 40 EUR
    reward free shipping

promotion social:
    code "SOCIAL"
    reward 10% off order
''')
    c = cart(("A", "x", 1, "50.00"))
    for bad, field in (({"now": "2026-07-10T12:00+02:00"}, "now"), ({"now": dt.date(2026, 7, 10)}, "now")):
        with pytest.raises(relance.DataError, match=f"^{field}: expected a timezone-aware datetime"):
            e.evaluate(c, **bad)
    with pytest.raises(relance.DataError, match="shipping cannot be negative"):
        e.evaluate({**c, "shipping": "-5.00"}, now=NOW)
    with pytest.raises(relance.DataError, match=r"items.0.unit_price: a price cannot be negative"):
        e.evaluate(cart(("A", "x", 1, "-5.00")), now=NOW)
    with pytest.raises(relance.DataError, match="cart: expected a mapping"):
        e.evaluate([c], now=NOW)  # type: ignore[arg-type]
    dollars = {**c, "items": [{**c["items"][0], "currency": "USD"}]}  # a line saying it is priced in USD
    with pytest.raises(relance.DataError, match="item A is priced in USD, the cart in EUR"):
        e.evaluate(dollars, now=NOW)
    result = e.evaluate(c, codes=["SOCIAL"], now=NOW)
    for order_id in (None, "", 123):
        with pytest.raises(relance.DataError, match="order_id: expected a non-empty string"):
            e.redeem(result, order_id, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(relance.DataError, match="evaluation: expected"):
        e.redeem({"applied": []}, "o1", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(relance.DataError, match="ttl: expected a positive"):
        e.reserve(result, "cart-1", ttl=900, now=NOW)  # type: ignore[arg-type]
    # an amount in another currency is never compared: the promotion is refused for the currency
    usd = {"currency": "USD", "items": [{"sku": "A", "unit_price": "80.00"}]}
    assert e.evaluate(usd, now=NOW, explain=True).refusal("ship").reason == "wrong_currency"
    assert e.qualify(usd, now=NOW) == []


def test_an_evaluation_leaves_no_garbage_cycle(tmp_path: Path) -> None:
    """Everything an evaluation makes is freed by reference counting as soon as the shop drops
    it: a cycle would leave the whole cart for the garbage collector, whose passes then land in
    the middle of later evaluations (the latency tail)."""
    import gc

    e = engine(tmp_path, '''
promotion shoes "20% off shoes":
    reward 20% off items where category == "shoes"

promotion big "5 EUR off big lines":
    when count(cart.items where total >= 20 EUR) >= 1 and cart.subtotal >= 30 EUR
    reward 5 EUR off order
    exclude items where category == "gift-cards"

promotion far "Free shipping from 500 EUR":
    when cart.subtotal >= 500 EUR
    reward free shipping
''')
    shop_cart = cart(("S", "shoes", 2, "30.00"), ("G", "gift-cards", 1, "50.00"), ("X", "socks", 3, "4.00"),
                     shipping="4.90")
    e.evaluate(shop_cart, CONTACT, now=NOW)  # caches filled once
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage, to be looked at
    try:
        result = e.evaluate(shop_cart, CONTACT, ("NOPE",), now=NOW, explain=True)
        assert {a.promotion for a in result.applied} == {"shoes", "big"}  # views were made and read
        assert e.qualify(shop_cart, CONTACT, now=NOW)
        del result
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith(("relance", "pydantic"))]
        assert ours == []  # (other garbage may come from threads of earlier tests in this process)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
