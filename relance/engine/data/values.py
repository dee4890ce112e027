"""The value semantics both Python paths share: calendar arithmetic, money, nulls.

The interpreter calls these directly; generated code calls them for the non-trivial cases and
inlines the rest. Rules: null in arithmetic gives null; a comparison with null is false (but
`null == null` is true); money of different currencies never compares equal or ordered and never
adds (null); an empty sum is zero.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from relance.engine.data.money import Money


@dataclass(frozen=True, slots=True)
class Duration:
    """`3 months`: kept symbolic, because a month has no fixed length."""

    amount: int
    unit: str

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}{'' if self.amount == 1 else 's'}"


def as_datetime(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A date is its midnight in the rule set's time zone."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day, tzinfo=tz).astimezone(dt.UTC)


def local_date(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).date()
    return value


def days_since(value: dt.date | dt.datetime | None, now: dt.datetime, tz: dt.tzinfo) -> int | None:
    """Whole days elapsed: calendar days for dates, floor(elapsed / 24 h) for times."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (now - value).days  # timedelta.days is the floor of whole days; both are UTC
    return (now.astimezone(tz).date() - value).days


def days_until(value: dt.date | dt.datetime | None, now: dt.datetime, tz: dt.tzinfo) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value - now).days
    return (value - now.astimezone(tz).date()).days


@functools.lru_cache(maxsize=4096)
def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months, the day clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def shift_clock(ctx: Any, name: str, amount: int, unit: str) -> Any:
    """`now - 30 days` or `today + 1 month` for one context, computed once for all its rules."""
    value = getattr(ctx, name)
    key = (value, amount, unit)  # the instant itself is in the key: a memo shared by mistake stays right
    memo = ctx.clock
    if key not in memo:
        memo[key] = shift(value, amount, unit, ctx.tz)
    return memo[key]


def shift(value: dt.date | dt.datetime | None, amount: int, unit: str, tz: dt.tzinfo) -> Any:
    """`value + amount unit`: hours and minutes are exact; days and longer follow the calendar.
    Beyond the calendar (before year 1, after 9999) the result is null, not an error."""
    if value is None:
        return None
    try:
        return _shift(value, amount, unit, tz)
    except (OverflowError, ValueError):
        return None


def _shift(value: dt.date | dt.datetime, amount: int, unit: str, tz: dt.tzinfo) -> Any:
    if unit in ("hour", "minute"):
        assert isinstance(value, dt.datetime)
        delta = dt.timedelta(hours=amount) if unit == "hour" else dt.timedelta(minutes=amount)
        # elapsed time, not wall-clock time: Python adds to the wall clock within one tzinfo
        return (value.astimezone(dt.UTC) + delta).astimezone(value.tzinfo)
    if isinstance(value, dt.datetime):
        local = value.astimezone(tz)
        moved = _shift(local.date(), amount, unit, tz)
        wall = dt.datetime.combine(moved, local.time().replace(tzinfo=None))
        return wall.replace(tzinfo=tz).astimezone(value.tzinfo)
    if unit == "day":
        return value + dt.timedelta(days=amount)
    if unit == "week":
        return value + dt.timedelta(weeks=amount)
    if unit == "month":
        return add_months(value, amount)
    if unit == "year":
        return add_months(value, 12 * amount)
    raise ValueError(f"unknown unit {unit}")


def anniversary(value: dt.date | dt.datetime | None, today: dt.date, tz: dt.tzinfo) -> dt.date | None:
    """This year's anniversary; 29 February falls on 28 February in other years."""
    if value is None:
        return None
    day = local_date(value, tz)
    last = calendar.monthrange(today.year, day.month)[1]
    return dt.date(today.year, day.month, min(day.day, last))


def part(name: str, value: dt.date | dt.datetime | None, tz: dt.tzinfo) -> int | None:
    """year, month, day or weekday (1 = Monday) of a date, in the rule set's time zone."""
    if value is None:
        return None
    day = local_date(value, tz)
    if name == "weekday":
        return day.isoweekday()
    return int(getattr(day, name))


def list_field(obj: Any, name: str, custom: bool) -> tuple[Any, ...]:
    """A list field of a record that may be absent (a guest has no tags): empty, not null."""
    if obj is None:
        return ()
    value = obj.attributes.get(name) if custom else getattr(obj, name)
    return () if value is None else tuple(value)


def round_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Money):
        return value.rounded()
    return Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP)


def round_percent(value: Any) -> Any:
    return None if value is None else round_value(Decimal(value) * 100) / 100


def floor_percent(value: Any) -> Any:
    return None if value is None else floor_value(Decimal(value) * 100) / 100


def floor_value(value: Any) -> Any:
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(1), rounding=ROUND_FLOOR)


def abs_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Money):
        return Money(abs(value.amount), value.currency)
    return abs(value)


def arith(op: str, left: Any, right: Any) -> Any:
    """+ - * / on numbers and money, null-propagating; a currency clash or x/0 gives null."""
    if left is None or right is None:
        return None
    lm, rm = isinstance(left, Money), isinstance(right, Money)
    if lm and rm:
        if left.currency != right.currency:
            return None
        if op == "+":
            return Money(left.amount + right.amount, left.currency)
        if op == "-":
            return Money(left.amount - right.amount, left.currency)
        if op == "/":
            return None if right.amount == 0 else left.amount / right.amount
        raise TypeError("money * money")
    if lm:
        if op == "*":
            return Money(left.amount * right, left.currency)
        if op == "/":
            return None if right == 0 else Money(left.amount / right, left.currency)
        raise TypeError(f"money {op} number")
    if rm:
        if op == "*":
            return Money(left * right.amount, right.currency)
        raise TypeError(f"number {op} money")
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    return None if right == 0 else Decimal(left) / Decimal(right)


def order(op: str, left: Any, right: Any) -> bool:
    """< <= > >= with the null and currency rules; dates were aligned by the caller."""
    if left is None or right is None:
        return False
    if isinstance(left, Money):
        if not isinstance(right, Money) or left.currency != right.currency:
            return False
        left, right = left.amount, right.amount
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, Money) and isinstance(right, Money):
        return left.currency == right.currency and left.amount == right.amount
    return bool(left == right)


def money_sum(values: Any, default_currency: str) -> Money | None:
    """Sum of amounts: zero in the default currency when empty, null when currencies mix."""
    total = Decimal(0)
    currency = None
    for value in values:
        if value is None:
            continue
        if currency is None:
            currency = value.currency
        elif value.currency != currency:
            return None
        total += value.amount
    return Money(total, currency or default_currency)


def money_extreme(values: Any, largest: bool) -> Money | None:
    present = [v for v in values if v is not None]
    if not present or len({v.currency for v in present}) > 1:
        return None
    pick = max if largest else min
    return pick(present, key=lambda m: m.amount)
