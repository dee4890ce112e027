"""`relance test` for carts: what a cart gets (applied promotions, amounts, allocations, refusals),
evaluated by the real engine over a private in-memory store holding the case's redemptions,
issued codes and stopped promotions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from relance.engine.checkout.evaluation import evaluate
from relance.engine.checkout.ledger import Ledger
from relance.engine.checkout.results import Evaluation
from relance.engine.data.context import Context
from relance.engine.data.errors import DataError
from relance.engine.data.models import to_aware
from relance.engine.data.money import Money
from relance.engine.language.forms import Expectation, TestCase
from relance.engine.ruleset.promotion import normalize_code
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.service import Store, opportunities
from relance.engine.store import tables as S

CART_KEYS = ("applied", "not_applied", "refused", "total", "discount", "shipping_discount", "qualify")


def is_cart_expectation(expect: Expectation) -> bool:
    return any(getattr(expect, key) is not None for key in CART_KEYS) and expect.segment is None \
        and expect.expression is None


def checkout_context(rules: RuleSet, case: TestCase, contexts: Mapping[str, Context], now: dt.datetime) -> Context:
    if case.cart is None:
        raise DataError("a cart expectation needs a `cart:` in the case")
    if case.contact is not None:
        if case.contact not in contexts:
            raise DataError(f"contact {case.contact} is not among the test's contacts")
        return contexts[case.contact]
    return Context.from_mapping({"cart": case.cart}, rules, now)


def store_for(rules: RuleSet, case: TestCase, now: dt.datetime) -> Ledger:
    """A private store with the case's history of redemptions, codes and stopped promotions."""

    store = Store.memory()
    ledger = Ledger(store.engine, cache_ttl=0)
    with store.engine.begin() as conn:
        for index, done in enumerate(case.redeemed):
            if done.promotion not in rules.promotions:
                raise DataError(f"redeemed: no promotion {done.promotion!r}")
            at = to_aware(done.at, rules.timezone) if done.at else now - dt.timedelta(seconds=1)
            amount = Money.parse(done.amount, rules.currency)
            key = f"test:{index}"
            conn.execute(S.redemption_batches.insert().values(key=key, order_id=key, kind="redeem", state="redeemed",
                                                              created_at=at, result={}))
            conn.execute(S.redemptions.insert(), [{
                "batch_key": key, "order_id": f"{key}:{n}", "promotion": done.promotion,
                "code_key": normalize_code(done.code) if done.code else None, "contact_id": done.contact,
                "amount_minor": amount.minor_units(), "currency": amount.currency, "at": at, "state": "redeemed",
            } for n in range(done.count)])
        for code in case.issued:
            if code.promotion not in rules.promotions:
                raise DataError(f"issued: no promotion {code.promotion!r}")
            conn.execute(S.codes.insert().values(
                code_key=normalize_code(code.code), code=code.code, promotion=code.promotion,
                contact_id=code.contact, issued_at=now,
                expires_at=to_aware(code.expires_at, rules.timezone) if code.expires_at else None))
    for name in case.disabled:
        if name not in rules.promotions:
            raise DataError(f"disabled: no promotion {name!r}")
        ledger.set_disabled(name, True, now)
    return ledger


def check(rules: RuleSet, expect: Expectation, evaluation: Evaluation, ctx: Context) -> list[tuple[str, str, str]]:
    """Failures as (what, expected, actual)."""
    out: list[tuple[str, str, str]] = []

    def money(text: str) -> Money:
        return Money.parse(text, rules.currency)

    def compare(what: str, wanted: str | None, actual: Money) -> None:
        if wanted is not None and money(wanted) != actual:
            out.append((what, str(money(wanted)), str(actual)))

    applied = {a.promotion: a for a in evaluation.applied}
    if expect.applied is not None:
        found = applied.get(expect.applied)
        if found is None:
            refusal = evaluation.refusal(expect.applied)
            why = f"refused: {refusal.reason} ({refusal.message})" if refusal else "not a candidate"
            if refusal and refusal.condition:
                why += f"; false: {refusal.condition}"
            return [(f"promotion {expect.applied}", "applied", why)]
        compare(f"{expect.applied} discount", expect.discount, found.discount)
        compare(f"{expect.applied} base", expect.base, found.base)
        compare(f"{expect.applied} shipping discount", expect.shipping_discount, found.shipping_discount)
        if expect.allocations is not None:
            actual: dict[str, Money] = {}
            for part in found.allocations:
                actual[part.sku] = actual[part.sku] + part.amount if part.sku in actual else part.amount
            wanted = {sku: money(v) for sku, v in expect.allocations.items()}
            if wanted != actual:
                out.append((f"{expect.applied} allocations", _show(wanted), _show(actual)))
        if expect.gifts is not None and list(found.gifts) != expect.gifts:
            out.append((f"{expect.applied} gifts", str(expect.gifts), str(list(found.gifts))))
        return out
    if expect.not_applied is not None:
        if expect.not_applied in applied:
            out.append((f"promotion {expect.not_applied}", "not applied", f"applied: {applied[expect.not_applied].discount}"))
        return out
    if expect.refused is not None:
        refusal = evaluation.refusal(expect.refused)
        if refusal is None:
            state = "applied" if expect.refused in applied or any(
                a.code and normalize_code(a.code) == normalize_code(expect.refused) for a in evaluation.applied) \
                else "not refused"
            return [(f"refusal of {expect.refused}", expect.reason or "a refusal", state)]
        if expect.reason is not None and refusal.reason != expect.reason:
            out.append((f"refusal of {expect.refused}", expect.reason, f"{refusal.reason} ({refusal.message})"))
        return out
    if expect.qualify is not None:
        return out  # checked by the caller, which has the opportunities
    compare("total", expect.total, evaluation.total)
    compare("discount", expect.discount, evaluation.discount)
    compare("shipping discount", expect.shipping_discount, evaluation.shipping_discount)
    return out


def check_qualify(expect: Expectation, evaluation: Evaluation, found: Mapping[str, Any],
                  currency: str) -> list[tuple[str, str, str]]:
    name = expect.qualify or ""
    opportunity = found.get(name)
    if opportunity is None:
        refusal = evaluation.refusal(name)
        state = "applied" if any(a.promotion == name for a in evaluation.applied) else \
            (refusal.reason if refusal else "not a candidate")
        return [(f"qualify {name}", "missing only its condition", state)]
    if expect.missing is None:
        return []
    wanted = Money.parse(expect.missing, currency)
    actual = opportunity.amount
    if actual is None or actual != wanted:
        return [(f"qualify {name}: missing", str(wanted), str(actual) if actual else opportunity.message)]
    return []


def run_each(rules: RuleSet, case: TestCase, contexts: Mapping[str, Context], now: dt.datetime,
             expectations: list[Expectation]) -> list[list[tuple[str, str, str]]]:
    """The failures of each expectation, in their order (the names they give were checked with
    the test file, so the cart is evaluated once for all of them)."""
    out: list[list[tuple[str, str, str]]] = [[] for _ in expectations]
    ctx = checkout_context(rules, case, contexts, now)
    ctx.segments.clear()
    ledger = store_for(rules, case, now)
    evaluation = evaluate(rules, ctx, case.codes, ledger, explain=True)
    found = {o.promotion: o for o in opportunities(rules, ctx, ledger, case.codes)} \
        if any(e.qualify is not None for e in expectations) else {}
    for index, expect in enumerate(expectations):
        if expect.qualify is not None:
            out[index] = check_qualify(expect, evaluation, found, rules.currency)
        else:
            out[index] = check(rules, expect, evaluation, ctx)
    return out


def _show(amounts: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(amounts.items())) + "}"

