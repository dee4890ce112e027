"""Concurrent checkouts on a shared store: limits, budgets, per-contact caps, idempotency, rollback
and reservations hold when many threads (or processes) redeem at once, on a SQLite file and on
PostgreSQL.

Every racer evaluates first (so each one believes the promotion is still available), then all
redeem together behind a barrier: the limits are enforced only by the ledger's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import pg_database
from sqlalchemy import func, select

import relance
from relance.engine.store import tables as S
from relance.engine.store.connection import connect

UTC = dt.UTC
THREADS = 12
PROCESSES = 6

PROJECT = "relance: 1\ncurrency: EUR\ntimezone: Europe/Paris\n"
PROMOTIONS = """\
promotion capped "Five uses in all":
    code "CAPPED"
    reward 10 EUR off order
    limit 5 total

promotion budgeted "Fifty euros to give":
    code "BUDGET"
    reward 10 EUR off order
    limit budget 50 EUR

promotion budgeted15 "Fifty euros, fifteen at a time":
    code "BUDGET15"
    reward 15 EUR off order
    limit budget 50 EUR

promotion once "Once per customer":
    code "ONCE"
    reward 10 EUR off order
    limit 1 per contact

promotion capped3 "Three uses in all":
    code "CAPPED3"
    reward 10 EUR off order
    limit 3 total

promotion welcome "One-time codes":
    code unique pattern "WELC-####"
    reward 5 EUR off order

promotion last_one "The last unit":
    code "LAST"
    reward 10 EUR off order
    limit 1 total
"""

CART = {"currency": "EUR", "items": [{"sku": "BOOT", "category": "shoes", "unit_price": "30.00", "quantity": 1}]}


def contact(cid: str) -> dict[str, Any]:
    return {"id": cid, "created_at": "2025-01-01T00:00:00Z"}


# ---- fixtures ----


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("concurrency_rules")
    (root / "relance.yaml").write_text(PROJECT)
    (root / "promotions.rules").write_text(PROMOTIONS)
    return root


@pytest.fixture(scope="module")
def rules(rules_dir: Path) -> relance.RuleSet:
    return relance.load(rules_dir)


@pytest.fixture(scope="module")
def shared_pg() -> Iterator[str]:
    """One PostgreSQL database for the module (creating one per test costs more than the test)."""
    with pg_database() as url:
        relance.Store(url).engine.dispose()
        yield url


def wipe(url: str) -> None:
    """An empty ledger: no redemption, no batch, no promotion state, no code."""
    engine = connect(url)
    try:
        with engine.begin() as conn:
            for table in (S.redemptions, S.redemption_batches, S.promotion_states, S.codes):
                conn.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store: a new SQLite file in tmp_path, or the module's PostgreSQL database wiped."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("shared_pg")
    wipe(url)
    return url


@pytest.fixture
def engine(rules: relance.RuleSet, store_url: str) -> Iterator[relance.Engine]:
    engine = relance.Engine(rules, store_url)
    try:
        yield engine
    finally:
        engine.store.engine.dispose()


# ---- helpers ----


def race(n: int, prepare: Callable[[int], Any], act: Callable[[int, Any], Any]) -> list[Any]:
    """`prepare(i)` in n threads, then `act(i, prepared)` in all of them at once. Returns the
    results in thread order, a RedemptionError standing for a refused redemption."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        try:
            prepared = prepare(i)
        except BaseException:
            barrier.abort()
            raise
        barrier.wait(timeout=60)
        try:
            return act(i, prepared)
        except relance.RedemptionError as error:
            return error

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def recorded(engine: relance.Engine, promotion: str, state: str = "redeemed") -> tuple[int, int]:
    """(rows, amount in cents) of a promotion's redemptions in `state`, read from the table itself."""
    r = S.redemptions
    with engine.store.engine.connect() as conn:
        count, amount = conn.execute(select(func.count(), func.coalesce(func.sum(r.c.amount_minor), 0))
                                     .where(r.c.promotion == promotion, r.c.state == state)).one()
    return int(count), int(amount)


def split(results: list[Any]) -> tuple[list[relance.Receipt], list[relance.RedemptionError]]:
    receipts = [r for r in results if isinstance(r, relance.Receipt)]
    errors = [r for r in results if isinstance(r, relance.RedemptionError)]
    assert len(receipts) + len(errors) == len(results), results
    return receipts, errors


def reasons(error: relance.RedemptionError) -> list[tuple[str | None, str]]:
    return [(r.promotion, r.reason) for r in error.refusals]


def evaluate(engine: relance.Engine, code: str, cid: str | None = None, **kwargs: Any) -> relance.Evaluation:
    return engine.evaluate(CART, contact(cid) if cid else None, codes=[code], **kwargs)


def applied(evaluation: relance.Evaluation) -> list[str]:
    return [a.promotion for a in evaluation.applied]


def redeem_race(engine: relance.Engine, code: str, n: int, order: Callable[[int], str] = lambda i: f"o{i}",
                cid: Callable[[int], str | None] = lambda i: None) -> list[Any]:
    def prepare(i: int) -> relance.Evaluation:
        evaluation = evaluate(engine, code, cid(i))
        assert evaluation.applied, evaluation.refused  # everybody believes the promotion is available
        return evaluation

    return race(n, prepare, lambda i, evaluation: engine.redeem(evaluation, order(i)))


# ---- limits under threads ----


def test_a_code_limited_to_n_uses_is_redeemed_exactly_n_times(engine: relance.Engine) -> None:
    receipts, errors = split(redeem_race(engine, "CAPPED", THREADS))
    assert len(receipts) == 5 and len(errors) == THREADS - 5
    assert all(reasons(e) == [("capped", "usage_limit_reached")] for e in errors)
    assert all(not r.replayed and [x.amount_minor for x in r.redemptions] == [1000] for r in receipts)
    assert recorded(engine, "capped") == (5, 5000)
    assert evaluate(engine, "CAPPED").refusal("CAPPED").reason == "usage_limit_reached"  # type: ignore[union-attr]


@pytest.mark.parametrize(("code", "promotion", "winners", "left"), [("BUDGET", "budgeted", 5, 0),
                                                                     ("BUDGET15", "budgeted15", 3, 500)])
def test_a_budget_is_never_exceeded(engine: relance.Engine, code: str, promotion: str, winners: int,
                                    left: int) -> None:
    receipts, errors = split(redeem_race(engine, code, THREADS))
    assert len(receipts) == winners
    assert all(reasons(e) == [(promotion, "budget_exhausted")] for e in errors)
    assert recorded(engine, promotion)[1] == 5000 - left
    if left:  # what remains is given capped, to one racer only
        evaluation = evaluate(engine, code)
        assert evaluation.applied[0].capped_by == "budget"
        assert evaluation.applied[0].discount.minor_units() == left
        receipts, errors = split(redeem_race(engine, code, 6, order=lambda i: f"late{i}"))
        assert len(receipts) == 1 and len(errors) == 5
        assert all(reasons(e) == [(promotion, "budget_exhausted")] for e in errors)
    assert recorded(engine, promotion) == (winners + (1 if left else 0), 5000)
    assert evaluate(engine, code).refusal(code).reason == "budget_exhausted"  # type: ignore[union-attr]


def test_one_per_contact_under_concurrent_checkouts(engine: relance.Engine) -> None:
    receipts, errors = split(redeem_race(engine, "ONCE", 8, cid=lambda i: "ana"))
    assert len(receipts) == 1 and len(errors) == 7
    assert all(reasons(e) == [("once", "usage_limit_reached")] for e in errors)
    # three other customers racing three times each: one each
    receipts, errors = split(redeem_race(engine, "ONCE", 9, order=lambda i: f"p{i}", cid=lambda i: f"c{i % 3}"))
    assert len(receipts) == 3 and len(errors) == 6
    r = S.redemptions
    with engine.store.engine.connect() as conn:
        per_contact = dict(conn.execute(select(r.c.contact_id, func.count()).where(
            r.c.promotion == "once", r.c.state == "redeemed").group_by(r.c.contact_id)).all())
    assert per_contact == {"ana": 1, "c0": 1, "c1": 1, "c2": 1}
    assert evaluate(engine, "ONCE", "ana").refusal("ONCE").reason == "usage_limit_reached"  # type: ignore[union-attr]


def test_the_same_order_redeemed_concurrently_records_once(engine: relance.Engine) -> None:
    evaluation = evaluate(engine, "CAPPED")
    results = race(10, lambda i: None, lambda i, _: engine.redeem(evaluation, "same-order"))
    receipts, errors = split(results)
    assert errors == []
    assert sorted(r.replayed for r in receipts) == [False] + [True] * 9
    first = next(r for r in receipts if not r.replayed)
    assert all(dataclasses.replace(r, replayed=False) == first for r in receipts)
    assert first.key == "order:same-order" and [x.promotion for x in first.redemptions] == ["capped"]
    assert recorded(engine, "capped") == (1, 1000)
    # an explicit key, shared by racers of one order; the key cannot be reused for another order
    results = race(6, lambda i: None, lambda i, _: engine.redeem(evaluation, "order-2", idempotency_key="k-2"))
    receipts, errors = split(results)
    assert errors == [] and sorted(r.replayed for r in receipts) == [False] + [True] * 5
    assert recorded(engine, "capped") == (2, 2000)
    with pytest.raises(relance.RedemptionError, match="already used"):
        engine.redeem(evaluation, "order-3", idempotency_key="k-2")
    assert recorded(engine, "capped") == (2, 2000)


@pytest.mark.parametrize(("code", "promotion", "reason"), [("CAPPED", "capped", "usage_limit_reached"),
                                                            ("BUDGET", "budgeted", "budget_exhausted")])
def test_rollback_gives_back_exactly_what_it_undoes(engine: relance.Engine, code: str, promotion: str,
                                                    reason: str) -> None:
    for i in range(5):
        engine.redeem(evaluate(engine, code), f"o{i}")
    assert evaluate(engine, code).refusal(code).reason == reason  # type: ignore[union-attr]
    assert [engine.rollback("o1"), engine.rollback("o3"), engine.rollback("o1")] == [1, 1, 0]
    assert engine.rollback("no-such-order") == 0
    assert recorded(engine, promotion) == (3, 3000) and recorded(engine, promotion, "rolled_back") == (2, 2000)
    receipts, errors = split(redeem_race(engine, code, 8, order=lambda i: f"again{i}"))
    assert len(receipts) == 2 and len(errors) == 6
    assert all(reasons(e) == [(promotion, reason)] for e in errors)
    assert recorded(engine, promotion) == (5, 5000)
    # one order rolled back by several callers at once (a refund racing a cancel): undone once
    undone = race(6, lambda i: None, lambda i, _: engine.rollback(receipts[0].order_id))
    assert sorted(undone) == [0] * 5 + [1]
    assert recorded(engine, promotion) == (4, 4000)
    receipts, errors = split(redeem_race(engine, code, 4, order=lambda i: f"third{i}"))
    assert len(receipts) == 1 and len(errors) == 3 and recorded(engine, promotion) == (5, 5000)


def test_an_order_is_recorded_whole_or_not_at_all(engine: relance.Engine) -> None:
    """Two limited promotions in one order: the racers refused for one record neither; half of
    them type the codes the other way round (locks are taken in name order: no deadlock)."""

    def prepare(i: int) -> relance.Evaluation:
        codes = ["CAPPED3", "BUDGET"] if i % 2 else ["BUDGET", "CAPPED3"]
        evaluation = engine.evaluate(CART, codes=codes)
        assert sorted(applied(evaluation)) == ["budgeted", "capped3"]
        return evaluation

    receipts, errors = split(race(10, prepare, lambda i, evaluation: engine.redeem(evaluation, f"o{i}")))
    assert len(receipts) == 3 and len(errors) == 7
    assert all(reasons(e) == [("capped3", "usage_limit_reached")] for e in errors)
    assert recorded(engine, "capped3") == (3, 3000) and recorded(engine, "budgeted") == (3, 3000)
    r = S.redemptions
    with engine.store.engine.connect() as conn:
        orders = conn.execute(select(r.c.order_id, func.count()).group_by(r.c.order_id)).all()
        batches = conn.execute(select(func.count()).select_from(S.redemption_batches)).scalar_one()
    assert sorted(n for _, n in orders) == [2, 2, 2] and batches == 3  # nothing left of the refused orders


def test_a_one_time_code_is_redeemed_once(engine: relance.Engine) -> None:
    with engine.store.engine.begin() as conn:
        conn.execute(S.codes.insert(), [{"code_key": f"WELC-000{n}", "code": f"WELC-000{n}", "promotion": "welcome",
                                          "issued_at": dt.datetime(2026, 1, 1, tzinfo=UTC)} for n in (1, 2)])

    def prepare(i: int) -> relance.Evaluation:
        evaluation = engine.evaluate(CART, codes=[f"welc-000{1 + i % 2}"])  # any case: the same code
        assert applied(evaluation) == ["welcome"], evaluation.refused
        return evaluation

    receipts, errors = split(race(THREADS, prepare, lambda i, evaluation: engine.redeem(evaluation, f"o{i}")))
    assert sorted(r.redemptions[0].code.upper() for r in receipts) == ["WELC-0001", "WELC-0002"]  # type: ignore[union-attr]
    assert all(reasons(e) == [("welcome", "usage_limit_reached")] for e in errors)
    assert recorded(engine, "welcome") == (2, 1000)
    assert engine.evaluate(CART, codes=["WELC-0001"]).refusal("WELC-0001").reason == "usage_limit_reached"  # type: ignore[union-attr]


def test_a_stopped_promotion_is_not_redeemed(engine: relance.Engine, rules: relance.RuleSet) -> None:
    def fresh() -> relance.Engine:  # another process's engine: nothing cached yet
        return relance.Engine(rules, engine.store)

    other = fresh()
    evaluations = [evaluate(other, "CAPPED") for _ in range(THREADS)]
    engine.disable("capped", note="leaked on a forum")
    results = race(THREADS, lambda i: None, lambda i, _: other.redeem(evaluations[i], f"o{i}"))
    receipts, errors = split(results)
    assert receipts == [] and all(reasons(e) == [("capped", "disabled")] for e in errors)
    assert evaluate(fresh(), "CAPPED").refusal("CAPPED").reason == "disabled"  # type: ignore[union-attr]
    assert recorded(engine, "capped") == (0, 0)
    engine.enable("capped")
    assert applied(evaluate(fresh(), "CAPPED")) == ["capped"]
    receipts, errors = split(redeem_race(fresh(), "CAPPED", 8))
    assert len(receipts) == 5 and recorded(engine, "capped") == (5, 5000)


# ---- reservations ----


def test_a_reservation_holds_the_last_unit_until_released(engine: relance.Engine) -> None:
    t0 = dt.datetime.now(UTC).replace(microsecond=0)
    stale = evaluate(engine, "LAST", now=t0)  # B looked before A reserved
    hold = engine.reserve(evaluate(engine, "LAST", now=t0), "cart-a", ttl=dt.timedelta(minutes=15), now=t0)
    assert hold.kind == "reserve" and hold.expires_at == t0 + dt.timedelta(minutes=15)
    assert recorded(engine, "last_one", "reserved") == (1, 1000)
    later = t0 + dt.timedelta(minutes=1)
    refused = evaluate(engine, "LAST", now=later)
    assert applied(refused) == [] and refused.refusal("LAST").reason == "usage_limit_reached"  # type: ignore[union-attr]
    with pytest.raises(relance.RedemptionError) as caught:
        engine.redeem(stale, "order-b", now=later)
    assert reasons(caught.value) == [("last_one", "usage_limit_reached")]
    # A still sees it (its own hold does not count against it)
    assert applied(evaluate(engine, "LAST", now=later, reservation=hold.key)) == ["last_one"]
    assert engine.release(hold.key) == 1 and engine.release(hold.key) == 0
    assert recorded(engine, "last_one", "released") == (1, 1000)
    mine = evaluate(engine, "LAST", now=later)
    assert applied(mine) == ["last_one"]
    engine.redeem(mine, "order-b", now=later)
    assert recorded(engine, "last_one") == (1, 1000)
    # A comes back with its released reservation: nothing left for it
    assert applied(evaluate(engine, "LAST", now=later, reservation=hold.key)) == []
    with pytest.raises(relance.RedemptionError) as caught:
        engine.redeem(stale, "order-a", now=later, reservation=hold.key)
    assert reasons(caught.value) == [("last_one", "usage_limit_reached")]
    assert recorded(engine, "last_one") == (1, 1000)


def test_a_reservation_lapses_after_its_ttl(engine: relance.Engine) -> None:
    t0 = dt.datetime.now(UTC).replace(microsecond=0)
    hold = engine.reserve(evaluate(engine, "LAST", now=t0), "cart-a", ttl=dt.timedelta(minutes=10), now=t0)
    before = t0 + dt.timedelta(minutes=9)  # minutes apart: evaluation may reuse counts within a minute of the clock
    assert evaluate(engine, "LAST", now=before).refusal("LAST").reason == "usage_limit_reached"  # type: ignore[union-attr]
    ours = evaluate(engine, "LAST", now=before, reservation=hold.key)
    assert applied(ours) == ["last_one"]
    after = t0 + dt.timedelta(minutes=11)
    mine = evaluate(engine, "LAST", now=after)
    assert applied(mine) == ["last_one"]
    engine.redeem(mine, "order-b", now=after)
    with pytest.raises(relance.RedemptionError) as caught:  # A, too late
        engine.redeem(ours, "order-a", now=after, reservation=hold.key)
    assert reasons(caught.value) == [("last_one", "usage_limit_reached")]
    assert recorded(engine, "last_one") == (1, 1000)


def test_the_holder_of_a_reservation_wins_against_concurrent_redemptions(engine: relance.Engine) -> None:
    t0 = dt.datetime.now(UTC).replace(microsecond=0)
    stale = evaluate(engine, "LAST", now=t0)  # evaluated by the racers before A reserved
    hold = engine.reserve(evaluate(engine, "LAST", now=t0), "cart-a", now=t0)
    later = t0 + dt.timedelta(minutes=2)
    ours = evaluate(engine, "LAST", now=later, reservation=hold.key)
    assert applied(ours) == ["last_one"]

    def act(i: int, _: Any) -> relance.Receipt:
        if i == 0:
            return engine.redeem(ours, "order-a", now=later, reservation=hold.key)
        return engine.redeem(stale, f"order-b{i}", now=later)

    results = race(8, lambda i: None, act)
    assert isinstance(results[0], relance.Receipt) and not results[0].replayed, results[0]
    assert all(isinstance(r, relance.RedemptionError) and reasons(r) == [("last_one", "usage_limit_reached")]
               for r in results[1:])
    assert recorded(engine, "last_one") == (1, 1000)
    assert recorded(engine, "last_one", "reserved") == (0, 0)  # the hold became the redemption
    r = S.redemptions
    with engine.store.engine.connect() as conn:
        assert conn.execute(select(r.c.order_id).where(r.c.state == "redeemed")).scalars().all() == ["order-a"]


def test_concurrent_reservations_of_the_last_unit(engine: relance.Engine) -> None:
    t0 = dt.datetime.now(UTC).replace(microsecond=0)
    results = race(10, lambda i: evaluate(engine, "LAST", now=t0),
                   lambda i, evaluation: engine.reserve(evaluation, f"cart{i}", now=t0))
    receipts, errors = split(results)
    assert len(receipts) == 1 and all(reasons(e) == [("last_one", "usage_limit_reached")] for e in errors)
    assert recorded(engine, "last_one", "reserved") == (1, 1000)


# ---- separate processes, each with its own Engine on the same store ----

_BARRIER: Any = None


def _init_worker(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier
    import relance  # noqa: F401 - warm the worker before the first race


def _redeem_in_process(task: tuple[str, str, str, str]) -> tuple[str, tuple[str, ...], int]:
    rules_dir, url, code, order_id = task
    engine = relance.Engine(rules_dir, url)
    try:
        try:
            evaluation = engine.evaluate(CART, codes=[code])
            assert evaluation.applied, evaluation.refused
        except BaseException:
            _BARRIER.abort()
            raise
        _BARRIER.wait(timeout=60)
        try:
            receipt = engine.redeem(evaluation, order_id)
        except relance.RedemptionError as error:
            return "refused", tuple(r.reason for r in error.refusals), os.getpid()
        return "redeemed", tuple(str(r.amount_minor) for r in receipt.redemptions), os.getpid()
    finally:
        engine.store.engine.dispose()


@pytest.fixture(scope="module")
def processes() -> Iterator[Any]:
    context = mp.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    pool = context.Pool(PROCESSES, initializer=_init_worker, initargs=(barrier,))
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


@pytest.mark.parametrize(("code", "promotion", "winners", "reason"),
                         [("CAPPED3", "capped3", 3, "usage_limit_reached"),
                          ("BUDGET15", "budgeted15", 3, "budget_exhausted")])
def test_limits_hold_across_processes(processes: Any, rules_dir: Path, store_url: str, rules: relance.RuleSet,
                                      code: str, promotion: str, winners: int, reason: str) -> None:
    relance.Store(store_url).engine.dispose()  # the schema first, so workers only open it
    tasks = [(str(rules_dir), store_url, code, f"proc{i}") for i in range(PROCESSES)]
    results = processes.map(_redeem_in_process, tasks, chunksize=1)
    assert len({pid for *_, pid in results}) == PROCESSES  # one racer per process, all at once
    redeemed = [r for r in results if r[0] == "redeemed"]
    assert len(redeemed) == winners, results
    assert all(r[:2] == ("refused", (reason,)) for r in results if r[0] != "redeemed"), results
    engine = relance.Engine(rules, store_url)
    try:
        count, amount = recorded(engine, promotion)
        assert count == winners and amount == winners * int(redeemed[0][1][0])
    finally:
        engine.store.engine.dispose()
