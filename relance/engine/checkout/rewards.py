"""The amount of one reward on the lines it matches: percentages and amounts off, caps, fixed
prices, buy X get Y, and the exact spreading of an amount over lines (largest remainder)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from relance.engine.checkout.allocation import allocate, percent_of, unit_prices
from relance.engine.checkout.results import Refused
from relance.engine.checkout.views import State
from relance.engine.data.context import Context
from relance.engine.data.errors import EvaluationError
from relance.engine.data.models import Item
from relance.engine.data.money import Money


class RewardAmounts:
    """The reward arithmetic of a checkout (mixed into `Checkout`): it reads the cart's currency,
    items, gross line amounts and line ranks, and returns discounts per line in minor units."""

    currency: str
    items: Sequence[Item]
    gross: list[int]
    rank: list[int]

    def value(self, fn: Any, ctx: Context) -> Decimal | Money | None:
        try:
            value = fn(ctx)
        except (ArithmeticError, TypeError, ValueError, AttributeError) as error:
            raise EvaluationError(str(error)) from None
        if isinstance(value, Money) and value.currency != self.currency:
            raise Refused("wrong_currency")
        return value  # type: ignore[no-any-return]

    def off(self, value: Decimal | Money | None, base: int, reward: Any, ctx: Context) -> int:
        """A percentage or an amount off `base`, capped by `up to` and by the base itself."""
        if value is None:
            return 0
        if isinstance(value, Money):
            amount = value.minor_units()
        else:
            amount = percent_of(base, value)
            if reward.cap is not None:
                cap = self.value(reward.cap, ctx)
                if isinstance(cap, Money):
                    amount = min(amount, cap.minor_units())
        return max(0, min(amount, base))

    def items_reward(self, reward: Any, ctx: Context, visible: list[int], state: State,
                     taken: Mapping[int, int], before: bool) -> tuple[dict[int, int], int]:
        """Discounts per line for an items or order reward, never more than what is left of a line."""
        test = reward.items
        matching = visible if test is None else [i for i in visible if test(ctx, self.items[i]) is True]
        net = state.net
        left = {i: net[i] - taken.get(i, 0) for i in matching} if taken else {i: net[i] for i in matching}
        basis = left if not before and not taken else {i: (self.gross[i] if before else net[i]) for i in matching}
        base = sum(basis.values())
        if reward.kind in ("off_order", "off_items"):
            amount = min(self.off(self.value(reward.amount, ctx), base, reward, ctx), sum(left.values()))
            return spread(amount, matching, left, self.rank), base
        if reward.kind == "off_each":
            value = self.value(reward.amount, ctx)
            if not isinstance(value, Money):
                amount = min(self.off(value, base, reward, ctx), sum(left.values()))
                return spread(amount, matching, left, self.rank), base
            each = value.minor_units()
            out = {i: min(each * self.items[i].quantity, left[i]) for i in matching}
            cap = self.value(reward.cap, ctx) if reward.cap is not None else None
            if isinstance(cap, Money):
                out = shrink(out, min(sum(out.values()), cap.minor_units()), self.rank)
            return out, base
        if reward.kind == "fixed_price":
            price = self.value(reward.amount, ctx)
            if not isinstance(price, Money):
                return {}, base
            each = price.minor_units()
            return {i: min(max(0, basis[i] - each * self.items[i].quantity), left[i]) for i in matching}, base
        assert reward.kind == "bxgy"
        return self.bxgy(reward, ctx, matching, left, basis), base

    def bxgy(self, reward: Any, ctx: Context, matching: list[int], left: Mapping[int, int],
             basis: Mapping[int, int]) -> dict[int, int]:
        """Buy X get Y: in groups of X+Y units, the cheapest units are the ones given; the order of
        the cart lines never matters (units are ranked by price, then sku)."""
        units = [(price, self.rank[i], i) for i in matching
                 for price in unit_prices(basis[i], self.items[i].quantity)]
        groups = len(units) // (reward.buy + reward.get)
        if reward.times is not None:
            groups = min(groups, reward.times)
        if groups == 0:
            return {}
        units.sort()
        value = self.value(reward.amount, ctx) if reward.amount is not None else None
        out: dict[int, int] = {}
        for price, _, index in units[: groups * reward.get]:
            if value is None:
                off = price
            elif isinstance(value, Money):
                off = min(price, value.minor_units())
            else:
                off = percent_of(price, value)
            out[index] = out.get(index, 0) + off
        return {i: min(a, left[i]) for i, a in out.items()}


def ranks(keys: Sequence[Any]) -> list[int]:
    """Each line's place among the lines sorted by content (then position, for equal lines):
    allocations break their ties on it, with one comparison of integers."""
    rank = [0] * len(keys)
    for position, index in enumerate(sorted(range(len(keys)), key=keys.__getitem__)):
        rank[index] = position
    return rank


def spread(amount: int, matching: Sequence[int], left: Mapping[int, int], rank: Sequence[int]) -> dict[int, int]:
    """An amount over lines in proportion to what is left of each (largest remainder)."""
    if amount <= 0 or not matching:
        return {}
    shares = allocate(amount, [left[i] for i in matching], [rank[i] for i in matching])
    return dict(zip(matching, shares, strict=True))


def shrink(lines: Mapping[int, int], room: int, rank: Sequence[int]) -> dict[int, int]:
    """Lines' discounts scaled down to `room` in total, exactly."""
    if room <= 0:
        return {}
    if sum(lines.values()) <= room:
        return dict(lines)
    order = sorted(lines)
    shares = allocate(room, [lines[i] for i in order], [rank[i] for i in order])
    return {i: s for i, s in zip(order, shares, strict=True) if s}


def guard_minor(guard: Any, subtotal: int, currency: str) -> int | None:
    """`max_discount` (a percentage of the subtotal, or an amount) in minor units."""
    if guard is None:
        return None
    if isinstance(guard, Money):
        return guard.minor_units() if guard.currency == currency else None
    return percent_of(subtotal, guard)
