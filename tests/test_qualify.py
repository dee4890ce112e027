"""qualify: only what adding to the cart can reach is an upsell, and its message says what to add."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

import relance
from relance.engine.checkout.explain import Missing, excluded_items, missing, to_add, upsell

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)  # a Monday, 11:00 in Paris
DE = {"id": "c-de", "country": "DE", "created_at": "2026-01-01T00:00:00Z"}
FR = {"id": "c-fr", "country": "FR", "created_at": "2026-01-01T00:00:00Z"}

def engine(tmp_path: Path, rules: str) -> relance.Engine:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "relance.yaml").write_text("currency: EUR\ntimezone: Europe/Paris\n", encoding="utf-8")
    (tmp_path / "promos.rules").write_text(rules, encoding="utf-8")
    return relance.Engine(tmp_path)


def cart(*lines: tuple[str, int, str]) -> dict:
    return {"currency": "EUR", "country": "FR",
            "items": [{"sku": f"{cat}-{i}", "category": cat, "quantity": qty, "unit_price": price}
                      for i, (cat, qty, price) in enumerate(lines)]}


def eur(text: str) -> relance.Money:
    return relance.Money(Decimal(text), "EUR")


def gaps(tmp_path: Path, condition: str, basket: dict, contact: dict | None = None,
         exclude: str | None = None) -> list[Missing]:
    """What `missing` says of one condition, on a cart no other promotion changes (`exclude`:
    the filter of the promotion's `exclude items where`)."""
    clause = "" if exclude is None else f"    exclude items where {exclude}\n"
    e = engine(tmp_path, f"promotion p:\n    when {condition}\n{clause}    reward 1 EUR off order\n")
    promotion = e.rules.promotions["p"]
    return missing(e.rules, promotion.when, e.context(basket, contact, NOW), excluded_items(promotion))


SOCKS40 = cart(("socks", 1, "40.00"))


# ---- 1. a part the shopper cannot change by adding to the cart ----

def test_a_contact_field_is_not_reachable_by_adding_items(tmp_path: Path) -> None:
    subtotal, country = gaps(tmp_path, 'cart.subtotal >= 100 EUR and contact.country == "FR"', SOCKS40, DE)
    assert (subtotal.reachable, subtotal.amount, subtotal.message) == (True, eur("60.00"), "add 60.00 EUR")
    assert country.text == 'contact.country == "FR"'  # the part as written, as before
    assert (country.reachable, country.amount, country.units, country.message) == (False, None, None, None)


@pytest.mark.parametrize("condition", [
    "count(orders) >= 1",                                  # history
    "contact in segment regulars",                        # a segment
    "today >= 2026-12-01",                                 # a date
    'cart.country == "BE"',                                # a field of the cart that adding does not change
    "count(orders where country == cart.country) >= 2",    # past orders, even with a filter that reads the cart
    "max(cart.items.unit_price) >= 100 EUR",               # not a sum: adding does not say how much
])
def test_what_adding_items_cannot_change_is_not_reachable(tmp_path: Path, condition: str) -> None:
    (tmp_path / "segments.rules").write_text("segment regulars:\n    count(orders) >= 5\n",
                                             encoding="utf-8")
    [gap] = gaps(tmp_path, condition, SOCKS40, DE)
    assert not gap.reachable and gap.amount is None and gap.units is None and gap.message is None


def test_qualify_does_not_offer_what_the_contact_cannot_reach(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion fr100 "10 EUR off in France from 100 EUR":
    when cart.subtotal >= 100 EUR and contact.country == "FR"
    reward 10 EUR off order
''')
    assert e.qualify(SOCKS40, DE, now=NOW) == []
    [offer] = e.qualify(SOCKS40, FR, now=NOW)  # a French customer only lacks the amount
    assert (offer.promotion, offer.amount) == ("fr100", eur("60.00"))
    assert offer.message == "add 60.00 EUR for 10 EUR off in France from 100 EUR"


# ---- 2. a maximum the cart is over: removing items is no upsell ----

@pytest.mark.parametrize("condition", [
    "cart.subtotal < 30 EUR", "cart.subtotal <= 30 EUR", "30 EUR > cart.subtotal", "count(cart.items) < 1",
])
def test_a_maximum_the_cart_is_over_is_not_reachable(tmp_path: Path, condition: str) -> None:
    [gap] = gaps(tmp_path, condition, SOCKS40)
    assert not gap.reachable and gap.amount is None and gap.units is None


def test_a_minimum_written_the_other_way_round_is_reachable(tmp_path: Path) -> None:
    [gap] = gaps(tmp_path, "50 EUR <= cart.subtotal", SOCKS40)
    assert (gap.amount, gap.message) == (eur("10.00"), "add 10.00 EUR")


def test_qualify_does_not_offer_a_maximum(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion small "1 EUR off small carts":
    when cart.subtotal < 30 EUR
    reward 1 EUR off order
''')
    assert e.qualify(SOCKS40, now=NOW) == []


# ---- 3. a threshold on some items says which ----

def test_a_filtered_sum_says_which_items_to_add(tmp_path: Path) -> None:
    [gap] = gaps(tmp_path, 'sum(cart.items.total where category == "shoes") >= 80 EUR', SOCKS40)
    assert (gap.amount, gap.units, gap.where) == (eur("80.00"), None, 'category == "shoes"')
    assert gap.message == 'add 80.00 EUR of items where category is "shoes"'
    assert upsell("shoes 80", [gap]) == 'add 80.00 EUR of items where category is "shoes" for shoes 80'


def test_a_filtered_count_and_a_missing_item_say_which_items_to_add(tmp_path: Path) -> None:
    [count] = gaps(tmp_path, 'count(cart.items where category == "shoes" or category == "boots") >= 2', SOCKS40)
    assert (count.units, count.where) == (2, 'category == "shoes" or category == "boots"')
    assert count.message == 'add 2 items where category is "shoes" or category is "boots"'
    [one] = gaps(tmp_path / "any", 'any(cart.items where category == "shoes")', SOCKS40)
    [also] = gaps(tmp_path / "in", '"shoes" in cart.items.category', SOCKS40)
    assert (one.units, one.where, one.message) == (1, 'category == "shoes"', 'add 1 item where category is "shoes"')
    assert (also.units, also.where, also.message) == (one.units, one.where, one.message)


def test_qualify_says_which_items_to_add(tmp_path: Path) -> None:
    e = engine(tmp_path, '''
promotion shoes80 "5 EUR off from 80 EUR of shoes":
    when sum(cart.items.total where category == "shoes") >= 80 EUR
    reward 5 EUR off order
''')
    [offer] = e.qualify(SOCKS40, now=NOW)
    assert offer.amount == eur("80.00") and offer.missing[0].where == 'category == "shoes"'
    assert offer.message == 'add 80.00 EUR of items where category is "shoes" for 5 EUR off from 80 EUR of shoes'


# ---- how gaps are measured and told ----

def test_an_or_is_reachable_by_the_side_adding_items_can_meet(tmp_path: Path) -> None:
    [gap] = gaps(tmp_path, 'cart.subtotal >= 50 EUR or contact.tier == "gold"', SOCKS40, DE)
    assert gap.text == 'cart.subtotal >= 50 EUR or contact.tier == "gold"'
    assert (gap.reachable, gap.amount) == (True, eur("10.00"))
    [never] = gaps(tmp_path / "never", 'cart.subtotal < 30 EUR or contact.tier == "gold"', SOCKS40, DE)
    assert not never.reachable
    [smaller] = gaps(tmp_path / "smaller", 'cart.subtotal >= 100 EUR or sum(cart.items.total where category == "hats") '
                                           '>= 5 EUR', SOCKS40, DE)
    assert (smaller.amount, smaller.where) == (eur("5.00"), 'category == "hats"')  # the cheaper way there


def test_strictly_more_asks_for_the_next_cent_and_the_next_whole_item(tmp_path: Path) -> None:
    [amount] = gaps(tmp_path, "cart.subtotal > 50 EUR", SOCKS40)
    assert amount.amount == eur("10.01")
    [units] = gaps(tmp_path / "units", "count(cart.items) > 2.5", SOCKS40)
    assert units.units == 2  # 1 + 2 = 3 items, the first count over 2.5


def test_upsell_merges_gaps_into_one_message() -> None:
    whole = Missing("cart.subtotal >= 100 EUR", eur("70.00"), message="add 70.00 EUR")
    shoes = Missing('sum(cart.items.total where category == "shoes") >= 50 EUR', eur("50.00"),
                    where='category == "shoes"', message='add 50.00 EUR of items where category is "shoes"')
    items = Missing("count(cart.items) >= 3", units=2, message="add 2 more items")
    assert upsell("P", [whole, shoes]) == 'add 70.00 EUR including 50.00 EUR of items where category is "shoes" for P'
    assert upsell("P", [Missing("cart.total >= 40 EUR", eur("30.00")), shoes]) == \
        'add 50.00 EUR of items where category is "shoes" for P'  # 50 of shoes make the 30 too
    assert upsell("P", [Missing("cart.total >= 40 EUR", eur("30.00")), whole]) == "add 70.00 EUR for P"
    assert upsell("P", [whole, items]) == "add 70.00 EUR and 2 more items for P"
    # what qualify always said
    assert upsell("free shipping", [Missing("cart.subtotal >= 50 EUR", eur("12.00"))]) == \
        "add 12.00 EUR for free shipping"
    assert upsell("a third item", [items]) == "add 2 more items for a third item"
    assert upsell("one", [Missing("count(cart.items) >= 2", units=1)]) == "add 1 more item for one"


# ---- 4. gaps on different items add up ----

SHOES30_SOCKS30 = ('cart.subtotal >= 50 EUR and sum(cart.items.total where category == "shoes") >= 30 EUR'
                   ' and sum(cart.items.total where category == "socks") >= 30 EUR')
HAT10 = cart(("hats", 1, "10.00"))


def test_amounts_on_different_items_add_up(tmp_path: Path) -> None:
    found = gaps(tmp_path, SHOES30_SOCKS30, HAT10)
    assert [g.amount for g in found] == [eur("40.00"), eur("30.00"), eur("30.00")]
    assert to_add(found) == (eur("60.00"), None)  # 30 of shoes and 30 of socks, which make the 40 too
    assert upsell("P", found) == ('add 60.00 EUR including 30.00 EUR of items where category is "shoes", '
                                  '30.00 EUR of items where category is "socks" for P')


def test_the_amount_on_any_item_counts_when_it_is_more_than_the_sum() -> None:
    whole = Missing("cart.subtotal >= 100 EUR", eur("70.00"))
    shoes = Missing("s", eur("30.00"), where='category == "shoes"')
    socks = Missing("t", eur("20.00"), where='category == "socks"')
    assert to_add([whole, shoes, socks]) == (eur("70.00"), None)
    assert upsell("P", [whole, shoes, socks]) == ('add 70.00 EUR including 30.00 EUR of items where category is '
                                                  '"shoes", 20.00 EUR of items where category is "socks" for P')


def test_gaps_on_the_same_items_take_the_largest_and_overlapping_filters_the_sum() -> None:
    small = Missing("a", eur("30.00"), where='category == "shoes"')
    large = Missing("b", eur("50.00"), where='category == "shoes"')
    red = Missing("c", eur("20.00"), where='colour == "red"')  # red shoes pass both: the sum is safe
    assert to_add([small, large]) == (eur("50.00"), None)
    assert to_add([large, red]) == (eur("70.00"), None)


def test_numbers_of_items_add_up_like_amounts(tmp_path: Path) -> None:
    found = gaps(tmp_path, 'count(cart.items) >= 3 and count(cart.items where category == "shoes") >= 2'
                 ' and any(cart.items where category == "socks")', HAT10)
    assert [g.units for g in found] == [2, 2, 1]
    assert to_add(found) == (None, 3)
    assert upsell("P", found) == ('add 3 more items including 2 items where category is "shoes", '
                                  '1 item where category is "socks" for P')


def test_upsell_words_the_numbers_not_the_messages() -> None:
    # no message given: the words come from the amounts and filters alone
    whole = Missing("cart.subtotal >= 50 EUR", eur("40.00"))
    shoes = Missing("s", eur("45.00"), where='category == "shoes"')
    two = Missing("count(cart.items) >= 3", units=2)
    assert upsell("P", [whole, shoes, two]) == 'add 45.00 EUR of items where category is "shoes" and 2 more items for P'
    assert to_add([whole, shoes, two]) == (eur("45.00"), 2)


def test_nothing_to_add_counts_with_a_part_adding_cannot_meet() -> None:
    assert to_add([Missing("cart.subtotal >= 50 EUR", eur("40.00")), Missing('contact.country == "FR"')]) == \
        (None, None)


def test_qualify_asks_for_the_sum_of_amounts_on_different_items(tmp_path: Path) -> None:
    e = engine(tmp_path, f'promotion p "P":\n    when {SHOES30_SOCKS30}\n    reward 5 EUR off order\n')
    [offer] = e.qualify(HAT10, now=NOW)
    assert offer.message.startswith("add 60.00 EUR including ")
    assert offer.amount == eur("60.00")


# ---- 5. what the promotion excludes counts for nothing ----

GIFT = 'category == "gift-cards"'


def test_the_items_to_add_must_not_be_excluded(tmp_path: Path) -> None:
    [whole] = gaps(tmp_path, "cart.subtotal >= 50 EUR", cart(("socks", 1, "20.00")), exclude=GIFT)
    assert (whole.amount, whole.where) == (eur("30.00"), 'not (category == "gift-cards")')
    assert whole.message == 'add 30.00 EUR of items where category is not "gift-cards"'
    assert whole.any_item
    assert upsell("P", [whole]) == 'add 30.00 EUR of items where category is not "gift-cards" for P'


def test_a_filtered_gap_says_its_filter_and_the_exclusion(tmp_path: Path) -> None:
    [shoes] = gaps(tmp_path, 'sum(cart.items.total where category == "shoes") >= 80 EUR', SOCKS40, exclude=GIFT)
    assert shoes.where == 'category == "shoes" and not (category == "gift-cards")'
    assert shoes.message == 'add 80.00 EUR of items where category is "shoes" and category is not "gift-cards"'
    [one] = gaps(tmp_path / "any", 'any(cart.items where category == "shoes")', SOCKS40, exclude=GIFT)
    [also] = gaps(tmp_path / "in", '"shoes" in cart.items.category', SOCKS40, exclude=GIFT)
    assert one.where == also.where == shoes.where and (one.units, also.units) == (1, 1)
    [either] = gaps(tmp_path / "or", 'cart.subtotal >= 50 EUR or contact.tier == "gold"', SOCKS40, DE, exclude=GIFT)
    assert (either.amount, either.where) == (eur("10.00"), 'not (category == "gift-cards")')


def test_a_negated_filter_reads_naturally(tmp_path: Path) -> None:
    [gap] = gaps(tmp_path, "count(cart.items) >= 3", SOCKS40,
                 exclude='category in ["gift-cards", "vouchers"] or sku == "X"')
    assert gap.message == 'add 2 items where not (category is one of ["gift-cards", "vouchers"] or sku is "X")'
    [single] = gaps(tmp_path / "in", "count(cart.items) >= 3", SOCKS40, exclude='category in ["gift-cards"]')
    assert single.message == 'add 2 items where category is not one of ["gift-cards"]'


def test_the_exclusion_is_the_promotions_filter(tmp_path: Path) -> None:
    e = engine(tmp_path, f"""
promotion plain:
    when cart.subtotal >= 50 EUR
    reward 1 EUR off order
promotion some:
    when cart.subtotal >= 50 EUR
    exclude items where {GIFT}
    reward 1 EUR off order
promotion every:
    when cart.subtotal >= 50 EUR
    exclude items
    reward 1 EUR off order
""")
    plain, some, every = (e.rules.promotions[n] for n in ("plain", "some", "every"))
    assert excluded_items(plain) is None
    assert excluded_items(some) == e.rules.promotions["some"].declaration.clauses[1].items.where
    [gap] = missing(e.rules, every.when, e.context(SOCKS40, None, NOW), excluded_items(every))
    assert not gap.reachable  # every item is excluded: nothing added counts


def test_qualify_does_not_ask_for_excluded_items(tmp_path: Path) -> None:
    e = engine(tmp_path, f"""
promotion p "5 EUR off from 50 EUR":
    when cart.subtotal >= 50 EUR
    exclude items where {GIFT}
    reward 5 EUR off order
""")
    [offer] = e.qualify(cart(("socks", 1, "20.00"), ("gift-cards", 1, "20.00")), now=NOW)
    assert offer.amount == eur("30.00")  # the gift card does not count
    assert offer.missing[0].where == 'not (category == "gift-cards")'
    assert offer.message == 'add 30.00 EUR of items where category is not "gift-cards" for 5 EUR off from 50 EUR'
