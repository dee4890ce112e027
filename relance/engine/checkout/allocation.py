"""Splitting a discount over cart lines, in minor units, so that the parts sum exactly.

Everything here is integer arithmetic on minor units (cents): a discount allocated to lines
must add up to the discount to the cent, which floats and per-line rounding cannot promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal


def allocate(amount: int, weights: Sequence[int], keys: Sequence[object] | None = None) -> list[int]:
    """`amount` split in proportion to `weights` by the largest remainder method.

    Each share is floor(amount x weight / total); the cents left over go one each to the largest
    remainders, ties broken by `keys` (then position), so the result does not depend on how the
    cart lists its lines. With 0 <= amount <= sum(weights), no share exceeds its weight.
    """
    total = sum(weights)
    if amount < 0 or (weights and min(weights) < 0):
        raise ValueError("amounts and weights must not be negative")
    if total == 0:
        if amount:
            raise ValueError("cannot allocate an amount over zero weights")
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    left = amount - sum(shares)
    if left:
        remainders = [-(amount * w % total) for w in weights]  # negated: the largest come first
        ranked = sorted(zip(remainders, keys or [0] * len(weights), range(len(weights)), strict=True))
        for _, _, i in ranked[:left]:
            shares[i] += 1
    return shares


def percent_of(base: int, fraction: Decimal) -> int:
    """A percentage of an amount in minor units, rounded half up (the receipt rule)."""
    return int((Decimal(base) * fraction).to_integral_value(rounding=ROUND_HALF_UP))


def unit_prices(net: int, quantity: int) -> list[int]:
    """A line's net amount spread over its units: equal parts, the odd cents on the first units."""
    if quantity <= 0:
        return []
    base, extra = divmod(net, quantity)
    return [base + 1 if i < extra else base for i in range(quantity)]
