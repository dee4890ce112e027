"""What an evaluation returns: the promotions applied with their amounts and allocations, the
refusals with stable reasons, the lines after discounts. Frozen records, JSON-ready."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

from relance.engine.data.money import Money
from relance.engine.ruleset.promotion import normalize_code

REASONS: dict[str, str] = {
    "unknown_code": "this code does not exist",
    "expired": "this promotion has ended",
    "code_expired": "this code has expired",
    "code_voided": "this code was cancelled",
    "not_started": "this promotion has not started yet",
    "outside_days": "this promotion is not valid on this day of the week",
    "outside_hours": "this promotion is not valid at this time of day",
    "disabled": "this promotion has been stopped",
    "wrong_country": "this promotion is not available in this country",
    "wrong_language": "this promotion is not available in this language",
    "wrong_channel": "this promotion is not available on this channel",
    "wrong_contact": "this code belongs to another customer",
    "wrong_currency": "this promotion is not available in this currency",
    "not_in_segment": "this promotion is reserved to other customers",
    "not_first_order": "this promotion is for a first order only",
    "contact_required": "sign in to use this promotion",
    "condition_not_met": "the cart does not meet the conditions of this promotion",
    "usage_limit_reached": "this promotion has been used as many times as allowed",
    "budget_exhausted": "this promotion's budget is spent",
    "not_combinable": "this promotion cannot be combined with another one in the cart",
    "max_discount_reached": "the cart already has the largest discount allowed",
    "nothing_to_discount": "no item of the cart can have this discount",
    "already_applied": "this promotion is already applied",
}
"""Stable reason codes (shops switch on them) and the default message shown to a customer."""



class Allocation(NamedTuple):
    """The part of a discount taken from one cart line (`line` is its position in the cart).
    A named tuple, as `Line`: as immutable as a frozen dataclass, and an evaluation makes tens
    of them, which a tuple builds several times faster."""

    line: int
    sku: str
    amount: Money


@dataclass(frozen=True, slots=True)
class Applied:
    """A promotion applied to the cart. `base` is the amount its discount was computed on (the
    matching lines, or the shipping, as its `base` clause saw them)."""

    promotion: str
    title: str | None
    code: str | None
    classes: tuple[str, ...]
    base: Money
    discount: Money
    """Off the items (allocated to lines) plus off the shipping."""
    shipping_discount: Money
    allocations: tuple[Allocation, ...]
    gifts: tuple[str, ...] = ()
    capped_by: str | None = None
    """`max_discount` or `budget` when a guard made the discount smaller than the reward."""
    code_key: str | None = None


@dataclass(frozen=True, slots=True)
class FailedCondition:
    """The part of a `when` condition that is false, where it is written, and the values it saw."""

    text: str
    path: str
    line: int
    column: int
    values: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        seen = ", ".join(f"{k} is {v}" for k, v in self.values)
        return f"{self.text} ({seen})" if seen else self.text


@dataclass(frozen=True, slots=True)
class Refusal:
    """A code refused, or a promotion that did not apply, with a stable reason and a message."""

    reason: str
    message: str
    promotion: str | None = None
    code: str | None = None
    condition: FailedCondition | None = None


class Line(NamedTuple):
    """A cart line after the discounts: its total, the discount taken from it, and what is left."""

    index: int
    sku: str
    quantity: int
    total: Money
    discount: Money
    net: Money


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a cart gets. Redeem it (`Engine.redeem`) at payment; evaluating never writes."""

    now: dt.datetime
    currency: str
    contact_id: str | None
    subtotal: Money
    shipping: Money
    discount: Money
    """Off the items and the order (not the shipping)."""
    shipping_discount: Money
    total: Money
    applied: tuple[Applied, ...]
    refused: tuple[Refusal, ...]
    lines: tuple[Line, ...]
    codes: tuple[str, ...] = ()

    @property
    def gifts(self) -> tuple[str, ...]:
        return tuple(g for a in self.applied for g in a.gifts)

    def refusal(self, code_or_promotion: str) -> Refusal | None:
        """The refusal of a code (any case) or of a promotion, if any."""
        key = normalize_code(code_or_promotion)
        for refusal in self.refused:
            if refusal.promotion == code_or_promotion or (refusal.code and normalize_code(refusal.code) == key):
                return refusal
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (amounts as strings, so no float ever touches them), `gifts` included."""
        return {**_jsonable(self), "gifts": list(self.gifts)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # Allocation, Line
        return {name: _jsonable(v) for name, v in value._asdict().items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


class Refused(Exception):
    def __init__(self, reason: str, message: str | None = None, condition: FailedCondition | None = None):
        super().__init__(reason)
        self.reason, self.message, self.condition = reason, message or REASONS[reason], condition


@functools.lru_cache(maxsize=65536)
def money_of(minor: int, currency: str) -> Money:
    """Amounts recur from cart to cart (prices, totals): made once (Money is immutable)."""
    return Money.from_minor(minor, currency)
