"""A promotion ready to run: its checked declaration turned into plain data and compiled functions.

Everything that can be decided when the rules load is decided here (validity windows as aware
instants, restrictions as sets, item filters and amounts as compiled functions), so that the
checkout (`checkout.py`) runs no parsing, no look-up by name and no pydantic per cart.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from relance.engine.backends.codegen import compile_function
from relance.engine.backends.interpreter import datetime_literal
from relance.engine.data.money import Money
from relance.engine.data.values import shift
from relance.engine.language.annotations import Annotations
from relance.grammar import ast as A

CLASSES = ("order", "items", "shipping")
"""Promotion classes for stacking: what part of the cart a reward takes its discount from."""

_RANK = {"items": 0, "order": 1, "shipping": 2}

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Fn = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Window:
    """When a promotion may apply: aware bounds (a date end includes its whole day), weekdays and
    hours of the day, all read in the rule set's time zone."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    days: frozenset[int] | None = None
    hours: tuple[dt.time, dt.time] | None = None

    def refusal(self, now: dt.datetime, tz: dt.tzinfo) -> str | None:
        """None when open at `now`, else the reason: not_started, expired, outside_days or outside_hours."""
        if self.start is not None and now < self.start:
            return "not_started"
        if self.end is not None and now >= self.end:
            return "expired"
        if self.days is None and self.hours is None:
            return None
        local = now.astimezone(tz)
        if self.days is not None and local.weekday() not in self.days:
            return "outside_days"
        if self.hours is not None:
            start, end = self.hours
            clock = local.time().replace(tzinfo=None)
            inside = start <= clock < end if start < end else (clock >= start or clock < end)
            if not inside:
                return "outside_hours"
        return None


@dataclass(frozen=True, slots=True)
class Restrictions:
    """`only ...`: who may have the promotion; each unmet one is its own refusal reason."""

    countries: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    emails: frozenset[str] | None = None
    contacts: frozenset[str] | None = None
    segment: str | None = None
    first_order: bool = False

    def admits(self, country: str | None, channel: str | None, language: str | None) -> bool:
        """Country, channel and language (as `place` gives them) allowed; the rest is per cart."""
        return self.refusal_of_place(country, channel, language) is None

    def refusal_of_place(self, country: str | None, channel: str | None, language: str | None) -> str | None:
        """`wrong_country`, `wrong_channel` or `wrong_language` for a place from `place`, or None."""
        if self.countries is not None and country not in self.countries:
            return "wrong_country"
        if self.channels is not None and channel not in self.channels:
            return "wrong_channel"
        if self.languages is not None and language not in self.languages:
            return "wrong_language"
        return None


def place(country: str | None, channel: str | None, language: str | None) -> tuple[str | None, ...]:
    """Where a cart is, as restrictions compare it: `fr` country codes upper-cased, `fr_FR` and
    `fr-BE` read as the language `fr`. The rule set's index and the checkout both use it."""
    return (country.strip().upper() if country else None, channel,
            language_code(language) if language else None)


@dataclass(frozen=True, slots=True)
class Limits:
    """`limit ...`: counts of redemptions (per contact, per code, per period, in total) and a budget."""

    total: int | None = None
    per_contact: int | None = None
    per_code: int | None = None
    per_day: int | None = None
    per_week: int | None = None
    per_month: int | None = None
    per_contact_day: int | None = None
    per_contact_week: int | None = None
    per_contact_month: int | None = None
    budget_minor: int | None = None
    budget_currency: str | None = None
    any: bool = field(init=False, compare=False)
    """Some limit is set (the checkout reads the store only then)."""
    by_contact: bool = field(init=False, compare=False)
    """Some limit counts a customer's own uses (a guest is refused; their counts are read)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "any", any(getattr(self, name) is not None for name in _LIMIT_FIELDS))
        object.__setattr__(self, "by_contact", any(getattr(self, name) is not None for name in _CONTACT_LIMITS))


@dataclass(frozen=True, slots=True)
class Reward:
    """One compiled reward. `kind`: off_order, off_items, off_each, off_shipping, free_shipping,
    bxgy, fixed_price, gift. `amount` computes the percentage (a Decimal fraction) or the amount
    (Money) from the context; `items` tests one item."""

    kind: str
    node: A.Reward
    amount: Fn | None = None
    cap: Fn | None = None
    items: Fn | None = None
    buy: int = 0
    get: int = 0
    times: int | None = None
    sku: str | None = None
    klass: str = field(init=False, compare=False)
    """The class it takes its discount from: order, items or shipping."""

    def __post_init__(self) -> None:
        klass = "order" if self.kind == "off_order" else \
            "shipping" if self.kind in ("off_shipping", "free_shipping") else "items"
        object.__setattr__(self, "klass", klass)


@dataclass(frozen=True, slots=True)
class Promotion:
    """A promotion as the checkout runs it; `declaration` keeps the source (spans, text)."""

    declaration: A.PromotionDecl
    condition: Fn | None
    rewards: tuple[Reward, ...] = ()
    priority: int = 0
    exclusive: bool = False
    combines: frozenset[str] = frozenset(CLASSES)
    base_before: bool = False
    window: Window = field(default_factory=Window)
    restrictions: Restrictions = field(default_factory=Restrictions)
    limits: Limits = field(default_factory=Limits)
    excluded: Fn | None = None
    public_code: str | None = None
    """The normalised public code, or None."""
    pool: bool = False
    """Codes are generated or imported into the store (`code unique pattern`, `code imported`)."""
    pattern: str | None = None
    code_lifetime: A.DurationLit | None = None
    currencies: frozenset[str] = frozenset()
    """Currencies of the amounts its condition and rewards name (`5 EUR off`, `cart.subtotal >= 40 EUR`):
    a cart in another one is refused (`wrong_currency`), never compared across currencies."""
    classes: frozenset[str] = frozenset()
    """What its rewards take their discount from: order, items, shipping (for `combines with`)."""
    name: str = ""
    """The declaration's name (kept as a field: the checkout reads it for every candidate)."""
    order: tuple[int, int, str] = (0, 0, "")
    """Where it comes in the walk: priority, then items before order before shipping and gifts
    (perks whose thresholds should see the money discounts), then name."""
    class_bits: int = field(init=False, compare=False)
    combine_bits: int = field(init=False, compare=False)
    """`classes` and `combines` as bit sets: the walk checks a candidate against the whole stack at once."""
    class_names: tuple[str, ...] = field(init=False, compare=False)
    """`classes` sorted, as an applied promotion shows them."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(sorted(self.classes)))
        object.__setattr__(self, "class_bits", class_bits(self.classes))
        object.__setattr__(self, "combine_bits", class_bits(self.combines))

    @property
    def title(self) -> str | None:
        return self.declaration.title

    @property
    def automatic(self) -> bool:
        return self.public_code is None and not self.pool


    def code_expiry(self, issued_at: dt.datetime | None, stored: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
        """When a pool code stops working: its own date, else its issue plus `expires after`."""
        if stored is not None or self.code_lifetime is None or issued_at is None:
            return stored

        return shift(issued_at, self.code_lifetime.amount, self.code_lifetime.unit, tz)  # type: ignore[no-any-return]

    def code_refusal(self, row: Any, contact_id: str | None, now: dt.datetime, tz: dt.tzinfo) -> str | None:
        """Why a pool code of this promotion cannot serve now (`code_voided`, `code_expired`,
        `wrong_contact`), checked at evaluation and again when redeeming."""
        if row.voided_at is not None and now >= row.voided_at:
            return "code_voided"
        expiry = self.code_expiry(row.issued_at, row.expires_at, tz)
        if expiry is not None and now >= expiry:
            return "code_expired"
        if row.contact_id is not None and row.contact_id != contact_id:
            return "wrong_contact"
        return None

    @property
    def when(self) -> A.Expr | None:
        return next((c.condition for c in self.declaration.clauses if isinstance(c, A.WhenClause)), None)

    def stacks_with(self, other: Promotion) -> bool:
        """Both must accept each other's classes (as Shopify's combinations do)."""
        return self.classes <= other.combines and other.classes <= self.combines


def class_bits(classes: frozenset[str]) -> int:
    return sum(1 << CLASSES.index(c) for c in classes if c in CLASSES)


ALL_CLASSES = (1 << len(CLASSES)) - 1


def language_code(code: str) -> str:
    """`fr`, `FR`, `fr-BE` and `fr_FR` all read as `fr`: a language restriction is on the language."""
    return code.strip().replace("_", "-").split("-")[0].lower()


def normalize_code(code: str) -> str:
    """The look-up key of a code: a customer's case, spaces and full-width forms do not matter.

    NFKC first (full-width letters, non-breaking spaces), then no white space and no invisible
    format character (a zero-width space pasted from an e-mail) and upper case, then NFKC again
    since upper-casing may decompose a character (`ΐ`): the key of a key is itself."""
    if code.isascii():
        return "".join(code.split()).upper()
    text = "".join(ch for ch in unicodedata.normalize("NFKC", code) if not ch.isspace()
                   and unicodedata.category(ch) != "Cf").upper()
    return unicodedata.normalize("NFKC", text)


def compile_promotion(decl: A.PromotionDecl, ann: Annotations, currency: str, tz: dt.tzinfo,
                      segment: Callable[[str, Any], bool], condition: Fn | None) -> Promotion:
    """Turn a checked declaration into a Promotion (runs once, when the rule set loads)."""
    label = f"promotion {decl.name}"

    def fn(node: A.Expr | None, as_condition: bool = False) -> Fn | None:
        if node is None:
            return None
        return compile_function(node, ann, currency, tz, segment, label, as_condition=as_condition)

    options: dict[str, Any] = {}
    rewards: list[Reward] = []
    for clause in decl.clauses:
        if isinstance(clause, A.RewardClause):
            rewards.append(_reward(clause.reward, fn))
        elif isinstance(clause, A.PriorityClause):
            options["priority"] = clause.value
        elif isinstance(clause, A.ExclusiveClause):
            options["exclusive"] = True
            options["combines"] = frozenset()
        elif isinstance(clause, A.CombinesClause):
            options["combines"] = frozenset(c for c in clause.classes if c != "nothing")
        elif isinstance(clause, A.BaseClause):
            options["base_before"] = clause.before
        elif isinstance(clause, A.ValidClause):
            options["window"] = _window(clause, tz)
        elif isinstance(clause, A.OnlyClause):
            options["restrictions"] = _restrictions(clause)
        elif isinstance(clause, A.LimitClause):
            options["limits"] = _limits(clause, currency)
        elif isinstance(clause, A.ExcludeClause):
            options["excluded"] = fn(clause.items.where, True) if clause.items.where is not None else _every
        elif isinstance(clause, A.CodeClause):
            if clause.unique:
                options.update(pool=True, pattern=clause.value or None, code_lifetime=clause.expires_after)
            else:
                options["public_code"] = normalize_code(clause.value)
    limits = options.get("limits")
    if options.get("pool") and (limits is None or limits.per_code is None):
        options["limits"] = Limits(**{**_fields(limits or Limits()), "per_code": 1})  # a pool code serves once
    currencies = frozenset(node.currency for clause in decl.clauses if isinstance(clause, A.RewardClause | A.WhenClause)
                           for node in A.walk(clause) if isinstance(node, A.MoneyLit))
    rank = min((2 if r.kind == "gift" else _RANK[r.klass] for r in rewards), default=0)
    return Promotion(decl, condition, tuple(rewards), currencies=currencies, name=decl.name,
                     classes=frozenset(r.klass for r in rewards), order=(-options.get("priority", 0), rank, decl.name),
                     **options)


def _every(ctx: Any, item: Any = None) -> bool:
    return True


def _fields(limits: Limits) -> dict[str, Any]:
    return {name: getattr(limits, name) for name in _LIMIT_FIELDS}


_LIMIT_FIELDS = tuple(f.name for f in fields(Limits) if f.init)
_CONTACT_LIMITS = ("per_contact", "per_contact_day", "per_contact_week", "per_contact_month")


def _items_fn(target: A.ItemsTarget | None, fn: Callable[..., Fn | None]) -> Fn | None:
    if target is None or target.where is None:
        return None
    return fn(target.where, True)


def _reward(node: A.Reward, fn: Callable[..., Fn | None]) -> Reward:
    if isinstance(node, A.RewardOff):
        target = node.target
        if isinstance(target, A.OrderTarget):
            kind = "off_order"
        elif isinstance(target, A.ShippingTarget):
            kind = "off_shipping"
        else:
            assert isinstance(target, A.ItemsTarget)
            kind = "off_each" if target.each else "off_items"
        items = _items_fn(target, fn) if isinstance(target, A.ItemsTarget) else None
        return Reward(kind, node, amount=fn(node.amount), cap=fn(node.cap), items=items)
    if isinstance(node, A.FreeShipping):
        return Reward("free_shipping", node)
    if isinstance(node, A.BuyXGetY):
        return Reward("bxgy", node, amount=fn(node.discount), items=_items_fn(node.items, fn),
                      buy=node.buy, get=node.get, times=node.times)
    if isinstance(node, A.FixedPrice):
        return Reward("fixed_price", node, amount=fn(node.price), items=_items_fn(node.items, fn))
    assert isinstance(node, A.Gift)
    return Reward("gift", node, sku=node.sku)


def _moment(node: A.DateLit | A.DateTimeLit, tz: dt.tzinfo, end: bool) -> dt.datetime:
    if isinstance(node, A.DateTimeLit):
        return datetime_literal(node, tz)
    day = node.value + dt.timedelta(days=1) if end else node.value
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _window(clause: A.ValidClause, tz: dt.tzinfo) -> Window:
    start = end = None
    days: set[int] | None = None
    hours = None
    for item in clause.items:
        if item.start is not None:
            start = _moment(item.start, tz, end=False)
        if item.end is not None:
            end = _moment(item.end, tz, end=True)
        if item.kind == "days":
            days = days or set()
            for first, last in item.days:
                days.update(range(DAYS.index(first), DAYS.index(last) + 1))
        if item.kind == "hours":
            hours = item.hours
    return Window(start, end, frozenset(days) if days is not None else None, hours)


def _restrictions(clause: A.OnlyClause) -> Restrictions:
    values: dict[str, Any] = {}
    plural = {"country": "countries", "language": "languages", "channel": "channels", "email": "emails",
              "contact": "contacts"}
    for item in clause.restrictions:
        if item.kind == "segment":
            values["segment"] = item.segment
        elif item.kind == "first_order":
            values["first_order"] = True
        elif item.kind == "email":
            values["emails"] = frozenset(v.strip().lower() for v in item.values)
        else:
            values[plural[item.kind]] = frozenset(language_code(v) for v in item.values) \
                if item.kind == "language" else frozenset(item.values)
    return Restrictions(**values)


def _limits(clause: A.LimitClause, currency: str) -> Limits:
    values: dict[str, Any] = {}
    for limit in clause.limits:
        if limit.kind == "total":
            values["total"] = limit.count
        elif limit.kind == "per":
            values[f"per_{limit.unit}" + (f"_{limit.period}" if limit.period else "")] = limit.count
        elif limit.budget is not None:
            values["budget_minor"] = Money(limit.budget.amount, limit.budget.currency).minor_units()
            values["budget_currency"] = limit.budget.currency
    return Limits(**values)


def by_code(promotions: Mapping[str, Promotion]) -> dict[str, Promotion]:
    """Public codes, normalised, to their promotion (the checkout's O(1) code look-up)."""
    return {p.public_code: p for p in promotions.values() if p.public_code is not None}
