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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relance.engine.checkout.explain import failing_part
from relance.engine.checkout.results import (
    REASONS,
    Allocation,
    Applied,
    Evaluation,
    FailedCondition,
    Line,
    Refusal,
    Refused,
    money_of,
)
from relance.engine.checkout.rewards import RewardAmounts, guard_minor, ranks, shrink
from relance.engine.checkout.usage import NO_USAGE, StoreView, Usage, over_limit
from relance.engine.checkout.views import CartView, State
from relance.engine.data.context import Context
from relance.engine.data.errors import EvaluationError
from relance.engine.ruleset.promotion import Promotion, normalize_code, place
from relance.engine.ruleset.ruleset import RuleSet


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


class Checkout(RewardAmounts):
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
        self.rank = ranks([(i.sku, i.unit_price.amount, i.quantity, i.category or "", i.product or "", i.tags)
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
        self.max_discount = guard_minor(rules.guards.get("max_discount"), self.subtotal, self.currency)

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
            except Refused as refused:
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
            raise Refused("disabled")
        window = promotion.window
        if indexed:
            now = self.ctx.now
            if window.start is not None and now < window.start:
                raise Refused("not_started")
            if window.end is not None and now >= window.end:
                raise Refused("expired")
        elif (reason := window.refusal(self.ctx.now, self.rules.timezone)) is not None:
            raise Refused(reason)
        if (promotion.currencies and self.currency not in promotion.currencies) or \
                (promotion.limits.budget_currency is not None and self.currency != promotion.limits.budget_currency):
            raise Refused("wrong_currency")
        only = promotion.restrictions
        if not indexed and (reason := only.refusal_of_place(*self.place)) is not None:
            raise Refused(reason)
        if only.contacts is not None or only.emails is not None:
            if self.contact is None:
                raise Refused("contact_required")
            email = (self.contact.email or "").strip().lower()
            if (only.contacts is not None and self.contact.id not in only.contacts) or \
                    (only.emails is not None and email not in only.emails):
                raise Refused("wrong_contact", "this promotion is reserved to another customer")
        if only.first_order:
            if self.contact is None:
                raise Refused("contact_required")
            if any(o.status in ("paid", "partially_paid") for o in self.ctx.orders):
                raise Refused("not_first_order")
        if only.segment is not None:
            if self.contact is None:
                raise Refused("contact_required")
            if not self.rules.in_segment(only.segment, self.ctx):
                raise Refused("not_in_segment")

    def refuse(self, promotion: Promotion | None, code: str | None, reason: str, message: str | None = None,
               condition: FailedCondition | None = None) -> None:
        self.refused.append(Refusal(reason, message or REASONS[reason], promotion.name if promotion else None,
                                    code, condition))

    # -- the walk --

    def run(self, codes: Sequence[str]) -> Evaluation:
        candidates = self.candidates(codes)
        policy = self.rules.guards.get("exclusive", "priority")
        state = State(list(self.gross), self.shipping)
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

    def walk(self, candidates: Sequence[_Candidate], state: State) -> list[Refusal]:
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
            except Refused as refused:
                if candidate.code is not None or self.explain or refused.reason not in _QUIET:
                    refusals.append(Refusal(refused.reason, refused.message, promotion.name, candidate.code,
                                            refused.condition))
                continue
            state.add(applied, promotion)
            if promotion.exclusive:
                closed_by = promotion
        return refusals

    def best(self, candidates: Sequence[_Candidate]) -> tuple[State, list[Refusal]]:
        """Policy `best`: the stack of combinable promotions, or one exclusive alone, whichever
        gives the customer more (ties: the higher priority, then the name)."""
        options: list[tuple[int, int, str, State, list[Refusal]]] = []
        stack = [c for c in candidates if not c.promotion.exclusive]
        state = State(list(self.gross), self.shipping)
        options.append((0, 0, "", state, self.walk(stack, state)))
        for candidate in candidates:
            if candidate.promotion.exclusive:
                state = State(list(self.gross), self.shipping)
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

    def view(self, promotion: Promotion, state: State) -> tuple[Context, list[int], int]:
        """The context the promotion sees, its visible lines, and the shipping it sees; shared by
        the promotions that see the same thing (same exclusions, same base, same stack so far)."""
        key = (promotion.excluded, promotion.base_before, 0 if promotion.base_before else (id(state), len(state.applied)))
        found = self.views.get(key)
        if found is None:
            found = self.views[key] = self._view(promotion, state)
        return found

    def _view(self, promotion: Promotion, state: State) -> tuple[Context, list[int], int]:
        excluded = promotion.excluded
        visible = self.visible.get(excluded)
        if visible is None:
            visible = self.visible[excluded] = list(range(len(self.items))) if excluded is None else \
                [i for i, item in enumerate(self.items) if excluded(self.ctx, item) is not True]
        amounts = self.gross if promotion.base_before else state.net
        shipping = self.shipping if promotion.base_before else state.shipping
        if len(visible) == len(self.items) and (promotion.base_before or not state.applied):
            return self.ctx, visible, shipping
        cart = CartView(self.cart, [self.items[i] for i in visible], [amounts[i] for i in visible],
                         [self.gross[i] for i in visible], shipping)
        return self.ctx.with_cart(cart), visible, shipping

    def apply(self, candidate: _Candidate, state: State) -> Applied:
        promotion = candidate.promotion
        ctx, visible, shipping_base = self.view(promotion, state)
        if promotion.condition is not None and promotion.condition(ctx) is not True:
            self.unmet[promotion.name] = ctx
            raise Refused("condition_not_met", condition=self.failing(promotion, ctx))
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
            lines, capped_by = shrink(lines, room, self.rank), "max_discount"
            line_total = room
        if budget_left is not None and line_total + shipping_off > budget_left:
            room = max(budget_left - shipping_off, 0)
            shipping_off = min(shipping_off, budget_left)
            lines, capped_by = shrink(lines, min(room, line_total), self.rank), "budget"
            line_total = sum(lines.values())
        if line_total == 0 and shipping_off == 0 and not gifts:
            raise Refused("max_discount_reached" if capped_by == "max_discount" else "nothing_to_discount")
        for index, amount in lines.items():
            state.net[index] -= amount
        state.shipping -= shipping_off
        state.line_discount += line_total
        currency, items = self.currency, self.items
        allocations = tuple([Allocation(i, items[i].sku, money_of(a, currency)) for i, a in sorted(lines.items())])
        return Applied(promotion.name, promotion.title, candidate.code, promotion.class_names,
                       money_of(base, currency), money_of(line_total + shipping_off, currency),
                       money_of(shipping_off, currency), allocations, tuple(gifts), capped_by, candidate.code_key)

    def check_limits(self, promotion: Promotion, candidate: _Candidate) -> int | None:
        """Refuses a promotion whose limits are reached; returns the budget left (None: no budget)."""
        limits = promotion.limits
        if not limits.any:
            return None
        used = self.usage(candidate)
        refused = over_limit(promotion, used, self.contact.id if self.contact else None, candidate.code_key, 1)
        if refused is not None:
            raise Refused(*refused)
        return None if limits.budget_minor is None else limits.budget_minor - used.spent_minor

    def limit_refusal(self, promotion: Promotion, code: str | None) -> str | None:
        """Why the promotion's limits or budget keep it from this customer now, or None: `qualify`
        offers only what adding to the cart can get (the condition is checked before the limits)."""
        try:
            self.check_limits(promotion, _Candidate(promotion, code, normalize_code(code) if code else None))
        except Refused as refused:
            return refused.reason
        return None

    def failing(self, promotion: Promotion, ctx: Context) -> FailedCondition | None:
        when = promotion.when
        if when is None:
            return None

        return failing_part(self.rules, when, ctx)

    # -- the result --

    def result(self, state: State, codes: Sequence[str]) -> Evaluation:
        currency = self.currency
        lines = tuple([Line(i, item.sku, item.quantity, money_of(gross, currency), money_of(gross - net, currency),
                            money_of(net, currency))
                       for i, (item, gross, net) in enumerate(zip(self.items, self.gross, state.net, strict=True))])
        discount = self.subtotal - sum(state.net)
        shipping_off = self.shipping - state.shipping
        total = self.subtotal - discount + state.shipping
        return Evaluation(self.ctx.now, currency, self.contact.id if self.contact else None,
                          money_of(self.subtotal, currency), money_of(self.shipping, currency),
                          money_of(discount, currency), money_of(shipping_off, currency), money_of(total, currency),
                          tuple(state.applied), tuple(self.refused), lines, tuple(codes))


_QUIET = frozenset({"not_started", "expired", "outside_days", "outside_hours", "disabled", "wrong_country",
                    "wrong_language", "wrong_channel", "wrong_currency", "nothing_to_discount", "not_combinable"})
"""Automatic promotions refused for these reasons are not listed unless asked (`explain`): a shop
with a thousand past campaigns does not want a thousand lines per cart. A typed code is always
told why it was refused."""


def _walk_order(candidate: _Candidate) -> tuple[int, int, str]:
    return candidate.promotion.order


def _label(promotion: Promotion) -> str:
    return f"`{promotion.name}`"


def _why_not_combinable(promotion: Promotion, state: State, closed_by: Promotion | None) -> str:
    if closed_by is not None:
        return f"{_label(closed_by)} applies alone"
    if promotion.exclusive:
        return f"it applies alone, and {_label(state.applied_promotions[0])} is already applied"
    blocker = next(other for other in state.applied_promotions if not promotion.stacks_with(other))
    return f"it does not combine with {_label(blocker)}"


def _saving(state: State) -> int:
    return sum(a.discount.minor_units() for a in state.applied)


def evaluate(rules: RuleSet, ctx: Context, codes: Sequence[str] = (), store: StoreView | None = None,
             explain: bool = False, reservation: str | None = None) -> Evaluation:
    """The promotions of the context's cart (see the module docstring)."""
    return Checkout(rules, ctx, store, explain, reservation).run(codes)

