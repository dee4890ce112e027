"""The data model at the boundary: pydantic validates once, the hot path reads plain attributes.

Amounts become `Money` (a bare amount takes its order's or cart's currency), date-times become
timezone-aware (a naive value is read in the rule set's time zone), unknown contact keys become
custom attributes. Collections are tuples, histories are sorted by time, so `first`/`last` and
both backends agree.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from relance.engine.data.money import MINOR_UNITS, Money, is_currency

UTC = dt.UTC


def _zone(info: ValidationInfo) -> dt.tzinfo:
    context = info.context or {}
    return context.get("tz") or UTC  # type: ignore[no-any-return]


def _aware(value: Any, info: ValidationInfo) -> dt.datetime:
    return to_aware(value, _zone(info))


def to_aware(value: Any, zone: dt.tzinfo) -> dt.datetime:
    """A date-time with a zone: naive values and bare dates are read in `zone`.

    Instants are kept in UTC inside relance (Python subtracts two times of one zone on the wall
    clock, which is wrong across a daylight-saving change), and the clock ticks in whole seconds:
    sub-second parts are dropped here, so that every backend computes elapsed days alike.
    """
    try:
        if isinstance(value, str):
            return _instant(str(value), zone)
        if isinstance(value, dt.datetime):
            value = value.replace(microsecond=0)
            aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
            return aware.astimezone(UTC)
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)
    except OverflowError:  # 0001-01-01 in a zone east of UTC: before the first instant Python counts
        raise ValueError(f"date out of range: {value}") from None
    raise ValueError("expected a date and time such as 2026-11-23T10:00:00+01:00")


CLOCK_YEARS = range(1900, 9000)
"""Years a clock (`now`) may be in: rules compute dates around it (`now - 10 years`), which
must stay within what Python counts (years 1 to 9999)."""


@functools.lru_cache(maxsize=8192)
def _instant(value: str, zone: dt.tzinfo) -> dt.datetime:
    """An ISO text read once: a customer's orders come back at every change of their cart."""
    text = value.strip().replace(" ", "T", 1) if "T" not in value and len(value) > 10 else value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text) if len(text) > 10 else dt.date.fromisoformat(text)
    return to_aware(parsed, zone)


def _money(value: Any) -> Money:
    if isinstance(value, Money):
        return value
    if type(value) is str:  # the common case, "12.50 EUR", without the detours below
        parts = value.split()
        if len(parts) == 2 and (money := _plain(parts[0], parts[1])) is not None:
            return money
    return _parse_money(value)


@functools.lru_cache(maxsize=8192)
def _plain(number: str, currency: str) -> Money | None:
    """`12.50` in EUR when it is plain decimal digits within the currency's decimals and below
    MAX_AMOUNT (exact, so no Decimal round trip is needed); None sends it to `_parse_money`.
    Kept in a bounded cache (Money is immutable): a shop's prices recur from cart to cart."""
    digits = MINOR_UNITS.get(currency)
    whole, _, fraction = number.lstrip("-").partition(".")
    if digits is not None and 0 < len(whole) <= 15 and len(fraction) <= digits and \
            (whole + fraction).isdecimal() and number.count("-") <= 1:
        return Money(Decimal(number), currency)
    return None


def _parse_money(value: Any) -> Money:
    """Every accepted spelling of an amount, and the refusals (the fast path above agrees)."""
    if isinstance(value, dict):
        amount, currency = value.get("amount"), value.get("currency")
        if amount is None or not isinstance(currency, str):
            raise ValueError("expected {amount, currency}")
        value = f"{amount} {currency}"
    if isinstance(value, float):
        raise ValueError("amounts must be exact: write them as strings such as \"12.50\", not floats")
    money = Money.parse(str(value))
    try:
        in_range = money.amount.is_finite() and abs(money.amount) < MAX_AMOUNT
    except ArithmeticError:  # `1e1000000`: beyond what Decimal computes with
        in_range = False
    if not in_range:
        raise ValueError(f"amount out of range: {value} (at most {MAX_AMOUNT - 1:,})")
    if money.amount != money.rounded().amount:
        raise ValueError(f"{money.currency} amounts have at most {MINOR_UNITS[money.currency]} decimals: {value}")
    return money


MAX_AMOUNT = Decimal(10) ** 15
"""Amounts are below a quadrillion: beyond, they are data errors, not numbers to compute with."""
MAX_QUANTITY = 100_000
"""Units of one line, at most: evaluation looks at units one by one (buy X get Y), so a line of
10**20 units is refused as data, not computed with."""

MoneyField = Annotated[Money, BeforeValidator(_money)]
AwareDateTime = Annotated[dt.datetime, BeforeValidator(_aware)]
Currency = Annotated[str, BeforeValidator(lambda v: _currency(v))]


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not is_currency(value):
        raise ValueError(f"unknown currency {value!r} (ISO 4217 code such as EUR)")
    return value


def _with_currency(data: Any, fields: tuple[str, ...], info: ValidationInfo) -> Any:
    """Give bare amounts (`"12.50"`, `12`) the currency of the order or cart they belong to.

    Its items' bare amounts read that currency from the validation context (`in_currency`), which
    `Context.from_mapping` sets for each cart and order; validated without it, the items are
    rewritten here instead (one copy of each), with the same result."""
    if not isinstance(data, dict):
        return data
    currency = data.get("currency")
    if not isinstance(currency, str):
        return data
    out = _with_bare(data, fields, currency)
    items = out.get("items")
    if isinstance(items, list) and (info.context or {}).get("currency") != currency:
        out["items"] = [_with_bare(i, ("unit_price", "total"), currency) if isinstance(i, dict) else i for i in items]
    return out


def in_currency(context: dict[str, Any], record: Any) -> dict[str, Any]:
    """The validation context of a cart or order: its items' bare amounts are in its currency."""
    currency = record.get("currency") if isinstance(record, dict) and record.get("items") else None
    return {**context, "currency": currency} if isinstance(currency, str) else context


def _with_bare(record: dict[str, Any], fields: tuple[str, ...], currency: str) -> dict[str, Any]:
    """A copy of a record whose bare amounts in `fields` are given `currency`."""
    out = dict(record)
    for name in fields:
        value = out.get(name)
        if value is not None and not isinstance(value, Money):
            out[name] = _bare(value, currency)
    return out


def _bare(value: Any, currency: str) -> Any:
    """A bare amount as Money (or as text with its currency, for `_money` to check)."""
    if type(value) is str and (money := _plain(value, currency)) is not None:
        return money
    if isinstance(value, (str, int, Decimal)) and len(str(value).split()) == 1:
        return f"{value} {currency}"
    return value


def amount_in(value: Any, currency: str) -> Money:
    """An amount as a shop gives it (`"12.50"`, `12`, `"12.50 EUR"`), a bare one in `currency`."""
    return value if isinstance(value, Money) else _money(_bare(value, currency))


def _item_money(value: Any, info: ValidationInfo) -> Money:
    """An item's amount: a bare one is in the currency of its cart or order (validation context)."""
    currency = None if isinstance(value, Money) else (info.context or {}).get("currency")
    return _money(value) if currency is None else amount_in(value, currency)


ItemMoney = Annotated[Money, BeforeValidator(_item_money)]


def _line_total(unit_price: Money, quantity: int) -> Money:
    """Quantity x unit price; a line of one unit is its unit price. Not cached: `19.5` and `19.50`
    are equal keys, and a cache would hand one line the other's way of writing its total."""
    return unit_price if quantity == 1 else Money(unit_price.amount * quantity, unit_price.currency)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Consents(_Model):
    email: bool = False
    sms: bool = False
    push: bool = False


class Item(_Model):
    """A line of a cart or an order."""

    sku: str
    product: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    quantity: int = Field(1, ge=0, le=MAX_QUANTITY)
    """Units of the line: a whole number (`"2"`, as YAML and some JSON give it, is 2; `2.5` is refused)."""
    unit_price: ItemMoney
    total: ItemMoney | None = None
    currency: str | None = None
    """The currency of its prices, if the line states it (a cart refuses a line in another currency)."""

    @model_validator(mode="after")
    def _total(self) -> Item:
        computed = _line_total(self.unit_price, self.quantity)
        if abs(computed.amount) >= MAX_AMOUNT:
            raise ValueError(f"total: {self.quantity} x {self.unit_price} is out of range (at most {MAX_AMOUNT - 1:,})")
        if self.total is not None and self.total != computed:
            raise ValueError(f"total {self.total} is not quantity x unit price ({computed})")
        object.__setattr__(self, "total", computed)
        return self


class Contact(_Model):
    model_config = ConfigDict(frozen=True, extra="allow", arbitrary_types_allowed=True)
    id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    country: str | None = None
    language: str | None = None
    birthdate: dt.date | None = None
    created_at: AwareDateTime
    consents: Consents = Consents()
    tags: tuple[str, ...] = ()
    tier: str | None = None
    points: Decimal = Decimal(0)
    attributes: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _extra_to_attributes(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.keys() <= _CONTACT_FIELDS:
            extra = {k: v for k, v in data.items() if k not in _CONTACT_FIELDS}
            data = {k: v for k, v in data.items() if k in _CONTACT_FIELDS}
            data["attributes"] = {**dict(data.get("attributes") or {}), **extra}
        return data


_CONTACT_FIELDS = frozenset(Contact.model_fields)


class Order(_Model):
    id: str
    contact_id: str | None = None
    created_at: AwareDateTime
    status: str = "paid"
    currency: Currency
    total: MoneyField
    shipping: MoneyField | None = None
    channel: str | None = None
    country: str | None = None
    items: tuple[Item, ...] = ()
    codes: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any, info: ValidationInfo) -> Any:
        return _with_currency(data, ("total", "shipping"), info)

    @model_validator(mode="after")
    def _defaults(self) -> Order:
        if self.shipping is None:
            object.__setattr__(self, "shipping", Money(Decimal(0), self.currency))
        return self


class Event(_Model):
    id: str = ""
    contact_id: str | None = None
    type: str
    at: AwareDateTime
    channel: str | None = None
    campaign: str | None = None


class Cart(_Model):
    """A cart at checkout. `subtotal` is computed from the items; one given must match them
    (given alone, without items, it stands for a cart summarised by the shop)."""
    currency: Currency
    items: tuple[Item, ...] = ()
    shipping: MoneyField | None = None
    country: str | None = None
    channel: str | None = None
    codes: tuple[str, ...] = ()
    subtotal: MoneyField | None = None
    total: MoneyField | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any, info: ValidationInfo) -> Any:
        return _with_currency(data, ("shipping", "subtotal", "total"), info)

    @model_validator(mode="after")
    def _sums(self) -> Cart:
        for index, item in enumerate(self.items):
            if item.unit_price.amount < 0:
                raise ValueError(f"items.{index}.unit_price: a price cannot be negative ({item.unit_price}); "
                                 "give a discount as a promotion, not as a line")
            if item.unit_price.currency != self.currency or (item.currency or self.currency) != self.currency:
                raise ValueError(f"item {item.sku} is priced in {item.currency or item.unit_price.currency}, "
                                 f"the cart in {self.currency}")
        subtotal = Money(sum((i.total.amount for i in self.items), Decimal(0)), self.currency)  # type: ignore[union-attr]
        if self.subtotal is not None and (self.items or self.subtotal.currency != self.currency):
            if self.subtotal != subtotal:
                raise ValueError(f"subtotal {self.subtotal} does not match the items ({subtotal})")
        elif self.subtotal is not None:
            subtotal = self.subtotal
        shipping = self.shipping or Money(Decimal(0), self.currency)
        if shipping.amount < 0:
            raise ValueError(f"shipping cannot be negative ({shipping})")
        object.__setattr__(self, "subtotal", subtotal)
        object.__setattr__(self, "shipping", shipping)
        if self.total is not None and self.total != subtotal + shipping:
            raise ValueError(f"total {self.total} is not subtotal + shipping ({subtotal + shipping})")
        if subtotal.amount + shipping.amount >= MAX_AMOUNT:
            raise ValueError(f"total: {subtotal + shipping} is out of range (at most {MAX_AMOUNT - 1:,})")
        object.__setattr__(self, "total", subtotal + shipping)
        return self


class Rfm(_Model):
    """A contact's RFM: raw values and 1-5 scores among the shop's buyers (see `rfm.py`)."""

    recency_days: int
    frequency: int
    monetary: MoneyField
    r: int = Field(ge=1, le=5)
    f: int = Field(ge=1, le=5)
    m: int = Field(ge=1, le=5)

    @property
    def score(self) -> str:
        return f"{self.r}{self.f}{self.m}"
