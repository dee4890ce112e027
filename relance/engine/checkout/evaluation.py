"""Checkout evaluation: which promotions a cart gets, by how much, on which lines, and why not.

A pure function of the rules, the validated context (cart, contact, history, clock), the codes
typed and a read-only view of the store (usage counts, code pool, disabled promotions): it never
writes. Amounts are integers in minor units from the first line to the last; `allocation.py`
splits them exactly.

The walk: candidates (automatic promotions open now, and the promotions of the codes typed) are
checked cheapest first (disabled, window, restrictions), then taken in priority order; equal
priorities go items first, then order, then shipping (a threshold on the order sees the item
discounts), then by name, never by file order. Each one sees the cart as its `base` declares (before or
after the discounts already applied, without its excluded items), must stack with those applied,
meet its condition and its limits, and then takes its discount from what is left of each line,
so no line and no total goes below zero.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from relance.engine.checkout.allocation import allocate, percent_of, unit_prices
from relance.grammar.diagnostics import EvaluationError
from relance.engine.data.models import Cart, Item
from relance.engine.data.money import Money
from relance.engine.ruleset.promotion import ALL_CLASSES, Promotion, normalize_code, place

if TYPE_CHECKING:
    from relance.engine.data.context import Context
    from relance.engine.ruleset.ruleset import RuleSet

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


@dataclass(frozen=True, slots=True)
class CodeRow:
    """A code from the store's pool (generated or imported)."""

    code: str
    code_key: str
    promotion: str
    contact_id: str | None = None
    issued_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    voided_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Redemptions that count towards a promotion's limits now (redeemed, or reserved and not expired)."""

    total: int = 0
    contact: int = 0
    contact_day: int = 0
    contact_week: int = 0
    contact_month: int = 0
    day: int = 0
    week: int = 0
    month: int = 0
    spent_minor: int = 0
    codes: Mapping[str, int] = field(default_factory=dict)


NO_USAGE = Usage()
"""A promotion nobody has used yet."""


class StoreView(Protocol):
    """What evaluation reads from the store (the ledger implements it)."""

    def disabled(self) -> frozenset[str]: ...

    def find_code(self, code_key: str) -> CodeRow | None: ...

    def usage(self, promotions: Sequence[Promotion], contact_id: str | None, code_keys: Iterable[str],
              now: dt.datetime, tz: dt.tzinfo, exclude_batch: str | None = None) -> Mapping[str, Usage]: ...


# ---- the result ----


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


# ---- the walk ----


class _Refused(Exception):
    def __init__(self, reason: str, message: str | None = None, condition: FailedCondition | None = None):
        super().__init__(reason)
        self.reason, self.message, self.condition = reason, message or REASONS[reason], condition


@dataclass(frozen=True, slots=True)
class _Candidate:
    promotion: Promotion
    code: str | None = None
    code_key: str | None = None
    indexed: bool = False


_INDEXED: dict[int, tuple[Sequence[Promotion], tuple[_Candidate, ...]]] = {}


def _indexed(automatic: Sequence[Promotion]) -> tuple[_Candidate, ...]:
    """The candidates of one entry of the rule set's index, made once (they hold nothing of one
    cart); the entry is kept with them, so its id is not reused while they live."""
    found = _INDEXED.get(id(automatic))
    if found is None or found[0] is not automatic:
        if len(_INDEXED) > 512:  # the index changes every minute: keep a few minutes of it
            _INDEXED.clear()
        found = _INDEXED[id(automatic)] = (automatic, tuple(_Candidate(p, indexed=True) for p in automatic))
    return found[1]


@dataclass(slots=True)
class _State:
    """The cart's amounts while promotions are applied (minor units), copied to try alternatives."""

    net: list[int]
    shipping: int
    applied: list[Applied] = field(default_factory=list)
    applied_promotions: list[Promotion] = field(default_factory=list)
    line_discount: int = 0
    allowed: int = ALL_CLASSES
    """The classes every applied promotion combines with (bits, as `Promotion.class_bits`)."""
    present: int = 0
    """The classes of the applied promotions."""

    def admits(self, promotion: Promotion) -> bool:
        """It stacks with every applied promotion (both ways), and is not exclusive among others."""
        if promotion.exclusive:
            return not self.applied_promotions
        return not (promotion.class_bits & ~self.allowed or self.present & ~promotion.combine_bits)

    def add(self, applied: Applied, promotion: Promotion) -> None:
        self.applied.append(applied)
        self.applied_promotions.append(promotion)
        self.allowed &= promotion.combine_bits
        self.present |= promotion.class_bits


class _ItemView:
    """An item as a promotion sees it after earlier discounts: the item's fields, a smaller total
    (made into Money only if a rule reads it). Views hold no reference to the checkout, so an
    evaluation's objects form no cycle and are freed at once, not by the garbage collector."""

    __slots__ = ("_currency", "_item", "_total")

    def __init__(self, item: Item, total: int, currency: str):
        self._item, self._total, self._currency = item, total, currency

    @property
    def total(self) -> Money:
        return _money_of(self._total, self._currency)

    def __getattr__(self, name: str) -> Any:  # the other fields: the item's own
        return getattr(self._item, name)


class _CartView:
    """The cart as a promotion sees it: without its excluded items, after earlier discounts.
    Its items are made only if a rule reads them (most conditions read the subtotal)."""

    __slots__ = ("_amounts", "_cart", "_currency", "_gross", "_items", "_lines", "_shipping", "_subtotal")

    def __init__(self, cart: Cart, lines: list[Item], amounts: list[int], gross: list[int], shipping: int):
        self._cart, self._lines, self._amounts, self._gross, self._shipping = cart, lines, amounts, gross, shipping
        self._subtotal = sum(amounts)
        self._currency = cart.currency
        self._items: tuple[Any, ...] | None = None

    @property
    def items(self) -> tuple[Any, ...]:
        if self._items is None:
            self._items = tuple(item if amount == gross else _ItemView(item, amount, self._currency)
                                for item, amount, gross in zip(self._lines, self._amounts, self._gross, strict=True))
        return self._items

    @property
    def subtotal(self) -> Money:
        return _money_of(self._subtotal, self._currency)

    @property
    def shipping(self) -> Money:
        return _money_of(self._shipping, self._currency)

    @property
    def total(self) -> Money:
        return _money_of(self._subtotal + self._shipping, self._currency)

    def __getattr__(self, name: str) -> Any:  # currency, country, channel, codes: the cart's own
        return getattr(self._cart, name)


class Checkout:
    """One evaluation (one cart, one clock): built, run once, then dropped."""

    def __init__(self, rules: RuleSet, ctx: Context, store: StoreView | None, explain: bool = True,
                 reservation: str | None = None):
        self.rules, self.ctx, self.store, self.explain = rules, ctx, store, explain
        self.reservation = reservation
        """The key of this cart's own hold: it does not count against the cart that holds it."""
        cart = ctx.cart
        if cart is None:
            raise EvaluationError("a checkout needs a cart")
        self.cart = cart
        self.currency = cart.currency
        self.items = cart.items
        self.gross = [i.total.minor_units() for i in cart.items]  # type: ignore[union-attr]
        self.rank = _ranks([(i.sku, i.unit_price.amount, i.quantity, i.category or "", i.product or "", i.tags)
                            for i in cart.items])
        """What ranks lines when cents or free units are shared: their content, never their position
        (lines that are equal in every field are interchangeable, so their order cannot matter)."""
        self.shipping = cart.shipping.minor_units() if cart.shipping is not None else 0
        self.subtotal = sum(self.gross)
        self.refused: list[Refusal] = []
        self.disabled: frozenset[str] = frozenset()
        self.usages: dict[tuple[str, str | None], Usage] = {}
        self.views: dict[tuple[Any, bool, Any], tuple[Context, list[int], int]] = {}
        self.visible: dict[Any, list[int]] = {}
        """The lines left once a promotion's excluded items are set aside, by its exclusion."""
        self.unmet: dict[str, Context] = {}
        """The context each promotion whose condition was false saw (for `qualify`)."""
        self.contact = ctx.contact
        self.place = place(cart.country or (ctx.contact.country if ctx.contact else None), cart.channel,
                           ctx.contact.language if ctx.contact else None)
        """Country (the delivery's, else the contact's), channel and language, as restrictions read them."""
        self.max_discount = _guard_minor(rules.guards.get("max_discount"), self.subtotal, self.currency)

    # -- candidates --

    def candidates(self, codes: Sequence[str]) -> list[_Candidate]:
        now, tz = self.ctx.now, self.rules.timezone
        if self.explain:
            automatic: Sequence[Promotion] = tuple(p for p in self.rules.promotions.values() if p.automatic)
        else:
            automatic = self.rules.automatic_for(now, *self.place)
        kept: list[_Candidate] = [] if self.explain else list(_indexed(automatic))  # in walk order already
        found = [_Candidate(p) for p in automatic] if self.explain else []
        by_name: set[str] = set()  # promotions already reached by a code (automatic ones have none)
        for raw in dict.fromkeys(c for c in codes if c and c.strip()):
            key = normalize_code(raw)
            promotion = self.rules.public_codes.get(key)
            row = None
            if promotion is None and self.store is not None:
                row = self.store.find_code(key)
                if row is not None:
                    promotion = self.rules.promotions.get(row.promotion)
            if promotion is None:
                self.refuse(None, raw, "unknown_code")
                continue
            if promotion.name in by_name:
                self.refuse(promotion, raw, "already_applied")
                continue
            reason = promotion.code_refusal(row, self.contact.id if self.contact else None, now, tz) \
                if row is not None else None
            if reason is not None:
                expiry = promotion.code_expiry(row.issued_at, row.expires_at, tz)  # type: ignore[union-attr]
                self.refuse(promotion, raw, reason, f"this code expired on {expiry.astimezone(tz):%Y-%m-%d %H:%M}"
                            if reason == "code_expired" and expiry is not None else None)
                continue
            by_name.add(promotion.name)
            found.append(_Candidate(promotion, raw, key))
        disabled = self.disabled = self.store.disabled() if self.store is not None else frozenset()
        for candidate in found:  # the indexed ones are prechecked in the walk, if the stack leaves them a chance
            try:
                self.precheck(candidate.promotion, disabled)
            except _Refused as refused:
                if candidate.code is not None or self.explain or refused.reason not in _QUIET:
                    self.refuse(candidate.promotion, candidate.code, refused.reason, refused.message)
                continue
            bisect.insort(kept, candidate, key=_walk_order)
        return kept

    def precheck(self, promotion: Promotion, disabled: frozenset[str], indexed: bool = False) -> None:
        """The checks that need no cart arithmetic, cheapest first. `indexed`: the promotion comes
        from the rule set's index for this minute, country, channel and language, so only the exact
        instant of its start and end is left to check."""
        if promotion.name in disabled:
            raise _Refused("disabled")
        window = promotion.window
        if indexed:
            now = self.ctx.now
            if window.start is not None and now < window.start:
                raise _Refused("not_started")
            if window.end is not None and now >= window.end:
                raise _Refused("expired")
        elif (reason := window.refusal(self.ctx.now, self.rules.timezone)) is not None:
            raise _Refused(reason)
        if (promotion.currencies and self.currency not in promotion.currencies) or \
                (promotion.limits.budget_currency is not None and self.currency != promotion.limits.budget_currency):
            raise _Refused("wrong_currency")
        only = promotion.restrictions
        if not indexed and (reason := only.refusal_of_place(*self.place)) is not None:
            raise _Refused(reason)
        if only.contacts is not None or only.emails is not None:
            if self.contact is None:
                raise _Refused("contact_required")
            email = (self.contact.email or "").strip().lower()
            if (only.contacts is not None and self.contact.id not in only.contacts) or \
                    (only.emails is not None and email not in only.emails):
                raise _Refused("wrong_contact", "this promotion is reserved to another customer")
        if only.first_order:
            if self.contact is None:
                raise _Refused("contact_required")
            if any(o.status in ("paid", "partially_paid") for o in self.ctx.orders):
                raise _Refused("not_first_order")
        if only.segment is not None:
            if self.contact is None:
                raise _Refused("contact_required")
            if not self.rules.in_segment(only.segment, self.ctx):
                raise _Refused("not_in_segment")

    def refuse(self, promotion: Promotion | None, code: str | None, reason: str, message: str | None = None,
               condition: FailedCondition | None = None) -> None:
        self.refused.append(Refusal(reason, message or REASONS[reason], promotion.name if promotion else None,
                                    code, condition))

    # -- the walk --

    def run(self, codes: Sequence[str]) -> Evaluation:
        candidates = self.candidates(codes)
        policy = self.rules.guards.get("exclusive", "priority")
        state = _State(list(self.gross), self.shipping)
        if policy == "best" and any(c.promotion.exclusive for c in candidates):
            state, refusals = self.best(candidates)
        else:
            refusals = self.walk(candidates, state)
        self.refused.extend(refusals)
        return self.result(state, codes)

    def usage(self, candidate: _Candidate) -> Usage:
        """The promotion's counts, read from the store only when it reaches its limit check (most
        candidates are refused before), once per evaluation."""
        promotion = candidate.promotion
        key = (promotion.name, candidate.code_key)
        found = self.usages.get(key)
        if found is None:
            if self.store is None:
                found = NO_USAGE
            else:
                keys = [candidate.code_key] if candidate.code_key is not None and promotion.limits.per_code else []
                found = self.store.usage([promotion], self.contact.id if self.contact else None, keys,
                                         self.ctx.now, self.rules.timezone, self.reservation).get(promotion.name,
                                                                                                  NO_USAGE)
            self.usages[key] = found
        return found

    def walk(self, candidates: Sequence[_Candidate], state: _State) -> list[Refusal]:
        refusals: list[Refusal] = []
        closed_by: Promotion | None = None
        for candidate in candidates:
            promotion = candidate.promotion
            if closed_by is not None or not state.admits(promotion):
                if candidate.code is not None or self.explain:  # quiet for automatic ones, as in _QUIET
                    refusals.append(Refusal("not_combinable", _why_not_combinable(promotion, state, closed_by),
                                            promotion.name, candidate.code))
                continue
            try:
                if candidate.indexed:
                    self.precheck(promotion, self.disabled, True)
                applied = self.apply(candidate, state)
            except _Refused as refused:
                if candidate.code is not None or self.explain or refused.reason not in _QUIET:
                    refusals.append(Refusal(refused.reason, refused.message, promotion.name, candidate.code,
                                            refused.condition))
                continue
            state.add(applied, promotion)
            if promotion.exclusive:
                closed_by = promotion
        return refusals

    def best(self, candidates: Sequence[_Candidate]) -> tuple[_State, list[Refusal]]:
        """Policy `best`: the stack of combinable promotions, or one exclusive alone, whichever
        gives the customer more (ties: the higher priority, then the name)."""
        options: list[tuple[int, int, str, _State, list[Refusal]]] = []
        stack = [c for c in candidates if not c.promotion.exclusive]
        state = _State(list(self.gross), self.shipping)
        options.append((0, 0, "", state, self.walk(stack, state)))
        for candidate in candidates:
            if candidate.promotion.exclusive:
                state = _State(list(self.gross), self.shipping)
                options.append((0, -candidate.promotion.priority, candidate.promotion.name, state,
                                self.walk([candidate], state)))
        scored = [(-(_saving(s)), prio, name, s, r) for _, prio, name, s, r in options]
        scored.sort(key=lambda o: (o[0], o[1], o[2]))
        winner = scored[0]
        refusals = list(winner[4])
        chosen = {a.promotion for a in winner[3].applied}
        for _, _, _, other, other_refusals in scored[1:]:
            for applied in other.applied:
                if applied.promotion not in chosen:
                    refusals.append(Refusal("not_combinable", "another combination gives the customer more",
                                            applied.promotion, applied.code))
            refusals.extend(r for r in other_refusals if r.promotion not in chosen and
                            all(x.promotion != r.promotion for x in refusals))
        return winner[3], refusals

    # -- one promotion --

    def view(self, promotion: Promotion, state: _State) -> tuple[Context, list[int], int]:
        """The context the promotion sees, its visible lines, and the shipping it sees; shared by
        the promotions that see the same thing (same exclusions, same base, same stack so far)."""
        key = (promotion.excluded, promotion.base_before, 0 if promotion.base_before else (id(state), len(state.applied)))
        found = self.views.get(key)
        if found is None:
            found = self.views[key] = self._view(promotion, state)
        return found

    def _view(self, promotion: Promotion, state: _State) -> tuple[Context, list[int], int]:
        excluded = promotion.excluded
        visible = self.visible.get(excluded)
        if visible is None:
            visible = self.visible[excluded] = list(range(len(self.items))) if excluded is None else \
                [i for i, item in enumerate(self.items) if excluded(self.ctx, item) is not True]
        amounts = self.gross if promotion.base_before else state.net
        shipping = self.shipping if promotion.base_before else state.shipping
        if len(visible) == len(self.items) and (promotion.base_before or not state.applied):
            return self.ctx, visible, shipping
        cart = _CartView(self.cart, [self.items[i] for i in visible], [amounts[i] for i in visible],
                         [self.gross[i] for i in visible], shipping)
        return self.ctx.with_cart(cart), visible, shipping

    def apply(self, candidate: _Candidate, state: _State) -> Applied:
        promotion = candidate.promotion
        ctx, visible, shipping_base = self.view(promotion, state)
        if promotion.condition is not None and promotion.condition(ctx) is not True:
            self.unmet[promotion.name] = ctx
            raise _Refused("condition_not_met", condition=self.failing(promotion, ctx))
        budget_left = self.check_limits(promotion, candidate)
        lines: dict[int, int] = {}
        shipping_off = 0
        base = 0
        gifts: list[str] = []
        for reward in promotion.rewards:
            if reward.kind == "gift":
                gifts.append(reward.sku or "")
                continue
            if reward.klass == "shipping":
                value = self.value(reward.amount, ctx) if reward.amount is not None else None
                left = state.shipping - shipping_off
                amount = left if reward.kind == "free_shipping" else self.off(value, shipping_base, reward, ctx)
                shipping_off += min(amount, left)
                base += shipping_base
                continue
            part, part_base = self.items_reward(reward, ctx, visible, state, lines, promotion.base_before)
            base += part_base
            if not lines:
                lines = part
                continue
            for index, amount in part.items():
                lines[index] = lines.get(index, 0) + amount
        lines = {i: a for i, a in lines.items() if a}
        capped_by = None
        line_total = sum(lines.values())
        if self.max_discount is not None and state.line_discount + line_total > self.max_discount:
            room = max(self.max_discount - state.line_discount, 0)
            lines, capped_by = _shrink(lines, room, self.rank), "max_discount"
            line_total = room
        if budget_left is not None and line_total + shipping_off > budget_left:
            room = max(budget_left - shipping_off, 0)
            shipping_off = min(shipping_off, budget_left)
            lines, capped_by = _shrink(lines, min(room, line_total), self.rank), "budget"
            line_total = sum(lines.values())
        if line_total == 0 and shipping_off == 0 and not gifts:
            raise _Refused("max_discount_reached" if capped_by == "max_discount" else "nothing_to_discount")
        for index, amount in lines.items():
            state.net[index] -= amount
        state.shipping -= shipping_off
        state.line_discount += line_total
        currency, items = self.currency, self.items
        allocations = tuple([Allocation(i, items[i].sku, _money_of(a, currency)) for i, a in sorted(lines.items())])
        return Applied(promotion.name, promotion.title, candidate.code, promotion.class_names,
                       _money_of(base, currency), _money_of(line_total + shipping_off, currency),
                       _money_of(shipping_off, currency), allocations, tuple(gifts), capped_by, candidate.code_key)

    def value(self, fn: Any, ctx: Context) -> Decimal | Money | None:
        try:
            value = fn(ctx)
        except (ArithmeticError, TypeError, ValueError, AttributeError) as error:
            raise EvaluationError(str(error)) from None
        if isinstance(value, Money) and value.currency != self.currency:
            raise _Refused("wrong_currency")
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

    def items_reward(self, reward: Any, ctx: Context, visible: list[int], state: _State,
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
            return _spread(amount, matching, left, self.rank), base
        if reward.kind == "off_each":
            value = self.value(reward.amount, ctx)
            if not isinstance(value, Money):
                amount = min(self.off(value, base, reward, ctx), sum(left.values()))
                return _spread(amount, matching, left, self.rank), base
            each = value.minor_units()
            out = {i: min(each * self.items[i].quantity, left[i]) for i in matching}
            cap = self.value(reward.cap, ctx) if reward.cap is not None else None
            if isinstance(cap, Money):
                out = _shrink(out, min(sum(out.values()), cap.minor_units()), self.rank)
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

    def check_limits(self, promotion: Promotion, candidate: _Candidate) -> int | None:
        """Refuses a promotion whose limits are reached; returns the budget left (None: no budget)."""
        limits = promotion.limits
        if not limits.any:
            return None
        used = self.usage(candidate)
        refused = over_limit(promotion, used, self.contact.id if self.contact else None, candidate.code_key, 1)
        if refused is not None:
            raise _Refused(*refused)
        return None if limits.budget_minor is None else limits.budget_minor - used.spent_minor

    def limit_refusal(self, promotion: Promotion, code: str | None) -> str | None:
        """Why the promotion's limits or budget keep it from this customer now, or None: `qualify`
        offers only what adding to the cart can get (the condition is checked before the limits)."""
        try:
            self.check_limits(promotion, _Candidate(promotion, code, normalize_code(code) if code else None))
        except _Refused as refused:
            return refused.reason
        return None

    def failing(self, promotion: Promotion, ctx: Context) -> FailedCondition | None:
        when = promotion.when
        if when is None:
            return None
        from relance.engine.checkout.explain import failing_part

        return failing_part(self.rules, when, ctx)

    # -- the result --

    def result(self, state: _State, codes: Sequence[str]) -> Evaluation:
        currency = self.currency
        lines = tuple([Line(i, item.sku, item.quantity, _money_of(gross, currency), _money_of(gross - net, currency),
                            _money_of(net, currency))
                       for i, (item, gross, net) in enumerate(zip(self.items, self.gross, state.net, strict=True))])
        discount = self.subtotal - sum(state.net)
        shipping_off = self.shipping - state.shipping
        total = self.subtotal - discount + state.shipping
        return Evaluation(self.ctx.now, currency, self.contact.id if self.contact else None,
                          _money_of(self.subtotal, currency), _money_of(self.shipping, currency),
                          _money_of(discount, currency), _money_of(shipping_off, currency), _money_of(total, currency),
                          tuple(state.applied), tuple(self.refused), lines, tuple(codes))


def over_limit(promotion: Promotion, used: Usage, contact_id: str | None, code_key: str | None,
               amount: int) -> tuple[str, str] | None:
    """Reason and message if one more redemption (of `amount` minor units) would break a limit.
    Evaluation asks with the smallest amount (1); redemption asks again with the real one."""
    limits = promotion.limits
    if limits.by_contact and contact_id is None:
        return "contact_required", "sign in to use this promotion (it is limited per customer)"
    checks = ((limits.total, used.total, "any more: all its uses are taken"),
              (limits.per_contact, used.contact, "any more: you have already used it"),
              (limits.per_contact_day, used.contact_day, "again today: you have already used it today"),
              (limits.per_contact_week, used.contact_week, "again this week: you have already used it this week"),
              (limits.per_contact_month, used.contact_month, "again this month: you have already used it this month"),
              (limits.per_day, used.day, "again today: today's uses are all taken"),
              (limits.per_week, used.week, "again this week: this week's uses are all taken"),
              (limits.per_month, used.month, "again this month: this month's uses are all taken"))
    for limit, count, why in checks:
        if limit is not None and count + 1 > limit:
            return "usage_limit_reached", f"this promotion cannot be used {why}"
    if limits.per_code is not None and code_key is not None and used.codes.get(code_key, 0) + 1 > limits.per_code:
        return "usage_limit_reached", "this code has already been used"
    if limits.budget_minor is not None and used.spent_minor + amount > limits.budget_minor:
        return "budget_exhausted", REASONS["budget_exhausted"]
    return None


_QUIET = frozenset({"not_started", "expired", "outside_days", "outside_hours", "disabled", "wrong_country",
                    "wrong_language", "wrong_channel", "wrong_currency", "nothing_to_discount", "not_combinable"})
"""Automatic promotions refused for these reasons are not listed unless asked (`explain`): a shop
with a thousand past campaigns does not want a thousand lines per cart. A typed code is always
told why it was refused."""


@functools.lru_cache(maxsize=65536)
def _money_of(minor: int, currency: str) -> Money:
    """Amounts recur from cart to cart (prices, totals): made once (Money is immutable)."""
    return Money.from_minor(minor, currency)


def _walk_order(candidate: _Candidate) -> tuple[int, int, str]:
    return candidate.promotion.order


def _label(promotion: Promotion) -> str:
    return f"`{promotion.name}`"


def _why_not_combinable(promotion: Promotion, state: _State, closed_by: Promotion | None) -> str:
    if closed_by is not None:
        return f"{_label(closed_by)} applies alone"
    if promotion.exclusive:
        return f"it applies alone, and {_label(state.applied_promotions[0])} is already applied"
    blocker = next(other for other in state.applied_promotions if not promotion.stacks_with(other))
    return f"it does not combine with {_label(blocker)}"


def _saving(state: _State) -> int:
    return sum(a.discount.minor_units() for a in state.applied)


def _ranks(keys: Sequence[Any]) -> list[int]:
    """Each line's place among the lines sorted by content (then position, for equal lines):
    allocations break their ties on it, with one comparison of integers."""
    rank = [0] * len(keys)
    for position, index in enumerate(sorted(range(len(keys)), key=keys.__getitem__)):
        rank[index] = position
    return rank


def _spread(amount: int, matching: Sequence[int], left: Mapping[int, int], rank: Sequence[int]) -> dict[int, int]:
    """An amount over lines in proportion to what is left of each (largest remainder)."""
    if amount <= 0 or not matching:
        return {}
    shares = allocate(amount, [left[i] for i in matching], [rank[i] for i in matching])
    return dict(zip(matching, shares, strict=True))


def _shrink(lines: Mapping[int, int], room: int, rank: Sequence[int]) -> dict[int, int]:
    """Lines' discounts scaled down to `room` in total, exactly."""
    if room <= 0:
        return {}
    if sum(lines.values()) <= room:
        return dict(lines)
    order = sorted(lines)
    shares = allocate(room, [lines[i] for i in order], [rank[i] for i in order])
    return {i: s for i, s in zip(order, shares, strict=True) if s}


def _guard_minor(guard: Any, subtotal: int, currency: str) -> int | None:
    """`max_discount` (a percentage of the subtotal, or an amount) in minor units."""
    if guard is None:
        return None
    if isinstance(guard, Money):
        return guard.minor_units() if guard.currency == currency else None
    return percent_of(subtotal, guard)


def evaluate(rules: RuleSet, ctx: Context, codes: Sequence[str] = (), store: StoreView | None = None,
             explain: bool = False, reservation: str | None = None) -> Evaluation:
    """The promotions of the context's cart (see the module docstring)."""
    return Checkout(rules, ctx, store, explain, reservation).run(codes)

