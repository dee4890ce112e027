"""The checkout's ledger: codes, redemptions, reservations and the one-click stop, in the store.

Limits are counted from the redemption rows themselves (never from a separate counter that could
drift): a row counts while it is `redeemed`, or `reserved` and not expired. Redeeming locks the
promotions it touches (one row each in `promotion_states`, locked in name order so two checkouts
never wait on each other in a circle), counts again inside the transaction, and writes all rows
of the order or none. On SQLite the first statement of the transaction is a write, so the
database lock is taken before anything is counted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from relance.engine.checkout.counts import (
    NOTHING_OF_MINE,
    code_usage,
    contact_counts,
    own_counts,
    shared_usage,
    usage_of,
)
from relance.engine.checkout.pools import find_code, void_code
from relance.engine.checkout.results import REASONS, Evaluation, Refusal
from relance.engine.checkout.usage import NO_USAGE, CodeRow, Usage, over_limit
from relance.engine.data.money import Money
from relance.engine.ruleset.promotion import Promotion, normalize_code
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.store import tables as S
from relance.engine.store.connection import dialect_insert

UTC = dt.UTC


class RedemptionError(Exception):
    """A redemption that cannot be recorded; `refusals` say why, one per promotion."""

    def __init__(self, message: str, refusals: Sequence[Refusal] = ()):
        super().__init__(message)
        self.refusals = tuple(refusals)


@dataclass(frozen=True, slots=True)
class Redemption:
    promotion: str
    code: str | None
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one `redeem` (or `reserve`) recorded. `replayed` is true when the same key was seen
    before: nothing new was written and this is the first call's receipt."""

    key: str
    order_id: str
    kind: str
    redemptions: tuple[Redemption, ...]
    at: dt.datetime
    expires_at: dt.datetime | None = None
    replayed: bool = False


class Ledger:
    """Reads for evaluation (the `StoreView` of `checkout.py`) and the writes of redemption."""

    def __init__(self, engine: Engine, cache_ttl: float = 1.0, lock: Any = None):
        self.engine = engine
        self.cache_ttl = cache_ttl
        self.lock = lock if lock is not None else nullcontext()
        """Held around every use of the database: a lock for a store whose one connection threads
        would otherwise share (the in-memory one), nothing for real databases."""
        self._disabled: tuple[float, frozenset[str]] | None = None
        self._usage: dict[Any, tuple[float, Any]] = {}
        self._codes: dict[str, tuple[float, CodeRow | None]] = {}
        self._local = threading.local()

    def forget(self) -> None:
        """Drop what evaluation remembers of the store (after a write through this ledger)."""
        self._disabled = None
        self._usage = {}
        self._codes = {}

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One connection for all the reads of one evaluation (per thread), opened only if one is
        needed (what the caches hold needs none)."""
        local = self._local
        if getattr(local, "reading", False):
            yield
            return
        local.reading, local.conn, local.opened = True, None, None
        try:
            yield
        finally:
            opened = local.opened
            local.reading, local.conn, local.opened = False, None, None
            if opened is not None:
                opened.__exit__(None, None, None)

    def read(self, read: Callable[[Any], Any]) -> Any:
        """`read(connection)` under the store's lock (the in-memory store has one connection)."""
        with self._reader() as conn:
            return read(conn)

    def _reader(self) -> Any:
        local = self._local
        if getattr(local, "reading", False):
            if local.conn is None:
                local.opened = self._locked()
                local.conn = local.opened.__enter__()
            return nullcontext(local.conn)
        return self._locked()

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with self.lock, self.engine.connect() as conn:
            yield conn

    # ---- reads ----

    def disabled(self) -> frozenset[str]:
        """Stopped promotions, re-read at most every `cache_ttl` seconds (redeem always re-reads)."""
        cached = self._disabled
        if cached is not None and time.monotonic() - cached[0] < self.cache_ttl:
            return cached[1]
        with self._reader() as conn:
            names = frozenset(conn.scalars(select(S.promotion_states.c.promotion)
                                           .where(S.promotion_states.c.disabled.is_(True))))
        self._disabled = (time.monotonic(), names)
        return names

    def find_code(self, code_key: str) -> CodeRow | None:
        """A pool code by key, asked again after `cache_ttl` seconds: it may be issued, or
        voided, meanwhile (redemption always reads it afresh)."""
        cached = self._codes.get(code_key)
        if cached is not None and time.monotonic() - cached[0] < self.cache_ttl:
            return cached[1]
        with self._reader() as conn:
            row = find_code(conn, code_key)
        if self.cache_ttl > 0:
            if len(self._codes) > 100_000:
                self._codes = {}
            self._codes[code_key] = (time.monotonic(), row)
        return row

    def usage(self, promotions: Sequence[Promotion], contact_id: str | None, code_keys: Iterable[str],
              now: dt.datetime, tz: dt.tzinfo, exclude_batch: str | None = None) -> Mapping[str, Usage]:
        """Counts for evaluation, each part remembered for `cache_ttl` seconds and the minute of the
        clock: a promotion's totals (shared by every customer: one scan of its redemptions a
        second at most, however many customers check out), a customer's own counts (one indexed
        look-up for all promotions, made only for a `per contact` limit), a code's count. A write
        through this ledger forgets them at once, so only other processes' redemptions can be seen
        that late (redemption itself always counts afresh, inside its transaction)."""
        code_keys = tuple(code_keys)
        if len(promotions) != 1 or self.cache_ttl <= 0:
            return self._fresh_usage(promotions, contact_id, code_keys, now, tz, exclude_batch)
        promotion = promotions[0]
        name, minute, exclude = promotion.name, int(now.timestamp()) // 60, exclude_batch or ""
        shared = self._cached(("promotion", name, minute, exclude), lambda conn: shared_usage(
            conn, name, promotion.limits.budget_currency, now, tz, exclude))
        mine = NOTHING_OF_MINE if contact_id is None or not promotion.limits.by_contact else self._cached(
            ("contact", contact_id, minute, exclude), lambda conn: contact_counts(conn, contact_id, now, tz, exclude)
        ).get(name, NOTHING_OF_MINE)
        codes = {key: self._cached(("code", key, minute, exclude), lambda conn, key=key: code_usage(
            conn, key, now, exclude)) for key in code_keys}
        return {name: dataclasses.replace(shared, **own_counts(mine), codes=codes) if mine[0] or codes else shared}

    def _cached(self, key: tuple[Any, ...], read: Callable[[Any], Any]) -> Any:
        cached = self._usage.get(key)
        if cached is None or time.monotonic() - cached[0] >= self.cache_ttl:
            if len(self._usage) > 50_000:
                self._usage = {}
            with self._reader() as conn:
                cached = self._usage[key] = (time.monotonic(), read(conn))
        return cached[1]

    def _fresh_usage(self, promotions: Sequence[Promotion], contact_id: str | None, code_keys: Iterable[str],
                     now: dt.datetime, tz: dt.tzinfo, exclude_batch: str | None) -> Mapping[str, Usage]:
        with self._reader() as conn:
            return usage_of(conn, {p.name: p.limits.budget_currency for p in promotions}, contact_id, list(code_keys), now, tz, exclude_batch)

    # ---- writes ----

    def record(self, rules: RuleSet, evaluation: Evaluation, order_id: str, key: str, now: dt.datetime,
               expires_at: dt.datetime | None = None, reservation: str | None = None) -> Receipt:
        """Redeem (or reserve, with `expires_at`) every promotion applied by `evaluation`, in one
        transaction, after counting the limits again; idempotent by `key`."""
        kind = "reserve" if expires_at is not None else "redeem"
        rows = [Redemption(a.promotion, a.code, a.discount.minor_units(), evaluation.currency) for a in evaluation.applied]
        receipt = Receipt(key, order_id, kind, tuple(rows), now, expires_at)
        with self.lock, self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.execute(S.redemption_batches.insert().values(
                    key=key, order_id=order_id, kind=kind, state="reserved" if expires_at else "redeemed",
                    created_at=now, result=_receipt_json(receipt)))
            except IntegrityError:
                transaction.rollback()
                transaction = conn.begin()
                batches = S.redemption_batches
                if kind == "reserve":  # a cart's own key again (its cart changed, its hold ran out): a new hold
                    _release(conn, key, cart_id=order_id)
                claimed = conn.execute(update(batches).where(  # an order rolled back may be redeemed again
                    batches.c.key == key, batches.c.order_id == order_id, batches.c.kind == kind,
                    batches.c.state.in_(("rolled_back", "released"))).values(
                    state="reserved" if expires_at else "redeemed", created_at=now, result=_receipt_json(receipt)))
                if not claimed.rowcount:
                    transaction.rollback()
                    return self._replay(key, order_id, kind, receipt.redemptions)
            try:
                # a cart holds once: its new hold replaces the earlier ones, and redeeming it drops
                # them all (whichever of its keys is given); counted after, in this transaction
                if reservation is not None:
                    held = _held_cart(conn, reservation)
                    if held is None:
                        raise RedemptionError(f"no reservation has the key {reservation!r} (give the `key` of the "
                                              "receipt `reserve` returned)")
                    _release_cart(conn, held)
                if expires_at is not None:
                    _release_cart(conn, order_id, keep=key)
                refusals = self._check(conn, rules, evaluation, now, reservation)
                if refusals:
                    transaction.rollback()
                    raise RedemptionError("; ".join(f"{r.promotion}: {r.message}" for r in refusals), refusals)
                if rows:
                    conn.execute(S.redemptions.insert(), [{
                        "batch_key": key, "order_id": order_id, "promotion": a.promotion, "code_key": a.code_key,
                        "contact_id": evaluation.contact_id, "amount_minor": a.discount.minor_units(),
                        "currency": evaluation.currency, "at": now,
                        "state": "reserved" if expires_at else "redeemed", "expires_at": expires_at,
                    } for a in evaluation.applied])
                transaction.commit()
                self.forget()
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
        return receipt

    def _replay(self, key: str, order_id: str, kind: str, asked: Sequence[Redemption]) -> Receipt:
        """The first receipt of a key used again, if it is asked for the same thing: a retry.
        Another order, or other promotions or amounts under the same key, is refused, never
        answered with the first receipt (the second cart's promotions would silently go unrecorded)."""
        with self._locked() as conn:
            row = conn.execute(select(S.redemption_batches).where(S.redemption_batches.c.key == key)).one()
        if row.order_id != order_id or row.kind != kind:
            what = "the hold of cart" if row.kind == "reserve" else "the redemption of order"
            raise RedemptionError(f"the key {key!r} was already used for {what} {row.order_id!r}")
        data = row.result
        first = tuple(Redemption(**r) for r in data["redemptions"])
        if sorted(map(_same_as, first)) != sorted(map(_same_as, asked)):
            raise RedemptionError(f"order {order_id!r} was already recorded with other promotions or amounts "
                                  f"({_listed(first)}; asked now: {_listed(asked)}): to record the order as it is "
                                  "now, roll it back first")
        return Receipt(key, order_id, kind, first,
                       dt.datetime.fromisoformat(data["at"]),
                       dt.datetime.fromisoformat(data["expires_at"]) if data.get("expires_at") else None,
                       replayed=True)

    def _check(self, conn: Any, rules: RuleSet, evaluation: Evaluation, now: dt.datetime,
               reservation: str | None) -> list[Refusal]:
        names = sorted({a.promotion for a in evaluation.applied})
        if not names:
            return []
        states = S.promotion_states
        conn.execute(dialect_insert(conn, states).values(
            [{"promotion": n, "disabled": False, "version": 0} for n in names]).on_conflict_do_nothing())
        # the lock: the promotions' rows, taken in name order (PostgreSQL locks the rows of a
        # sorted SELECT ... FOR UPDATE as it returns them), so two checkouts never wait on each
        # other in a circle; on SQLite the transaction's first write holds the database already
        disabled = {name for name, off in conn.execute(
            select(states.c.promotion, states.c.disabled).where(states.c.promotion.in_(names))
            .order_by(states.c.promotion).with_for_update()) if off}
        keys = [a.code_key for a in evaluation.applied if a.code_key is not None and a.promotion in rules.promotions
                and rules.promotions[a.promotion].limits.per_code is not None]
        budgets = {n: rules.promotions[n].limits.budget_currency if n in rules.promotions else None for n in names}
        usage = usage_of(conn, budgets, evaluation.contact_id, keys, now, rules.timezone, reservation)
        refusals = []
        for applied in evaluation.applied:
            promotion = rules.promotions.get(applied.promotion)
            reason = None
            if promotion is None:
                refusals.append(Refusal("unknown_code", "this promotion is no longer in the rules",
                                        applied.promotion, applied.code))
                continue
            if applied.promotion in disabled:
                reason = "disabled"
            elif (window := promotion.window.refusal(now, rules.timezone)) is not None:
                reason = window
            elif applied.code_key is not None and promotion.pool:
                row = find_code(conn, applied.code_key)
                reason = "unknown_code" if row is None or row.promotion != promotion.name else \
                    promotion.code_refusal(row, evaluation.contact_id, now, rules.timezone)
            elif applied.code_key is not None and rules.public_codes.get(applied.code_key) is not promotion:
                reason = "unknown_code"  # the rules were reloaded since, without this code
            refused = (reason, REASONS[reason]) if reason is not None else over_limit(
                promotion, usage.get(applied.promotion, NO_USAGE), evaluation.contact_id, applied.code_key,
                applied.discount.minor_units())
            if refused is not None:
                refusals.append(Refusal(*refused, applied.promotion, applied.code))
        return refusals

    def release(self, key: str) -> int:
        """Give back a reservation's units before it expires (the cart was abandoned)."""
        with self.lock, self.engine.begin() as conn:
            released = _release(conn, key)
        self.forget()
        return released

    def rollback(self, order_id: str, promotions: Sequence[str] | None = None) -> int:
        """Undo an order's redemptions (cancel, refund), or those of some of its promotions (a
        partial return): they stop counting, so every limit and budget is back where it was.
        Returns how many were undone; a second call undoes none."""
        live = [S.redemptions.c.order_id == order_id, S.redemptions.c.state.in_(("redeemed", "reserved"))]
        with self.lock, self.engine.begin() as conn:
            chosen = [S.redemptions.c.promotion.in_(list(promotions))] if promotions is not None else []
            result = conn.execute(update(S.redemptions).where(*live, *chosen).values(state="rolled_back"))
            if promotions is None or not conn.scalar(select(func.count()).select_from(S.redemptions).where(*live)):
                conn.execute(update(S.redemption_batches).where(S.redemption_batches.c.order_id == order_id)
                             .values(state="rolled_back"))
        self.forget()
        return int(result.rowcount or 0)

    def void_code(self, code: str, voided: bool, now: dt.datetime, note: str | None = None) -> bool | None:
        """Cancel one pool code from `now` (or restore it): whether that changed it, None if no
        such code is stored."""
        with self.lock, self.engine.begin() as conn:
            found = void_code(conn, code, now if voided else None, note if voided else None)
        self.forget()
        return found

    def set_disabled(self, promotion: str, disabled: bool, now: dt.datetime, note: str | None = None) -> None:
        """The one-click stop (and restart), without a rule change."""
        states = S.promotion_states
        with self.lock, self.engine.begin() as conn:
            insert = dialect_insert(conn, states).values(promotion=promotion, disabled=disabled, changed_at=now,
                                                            note=note, version=0)
            conn.execute(insert.on_conflict_do_update(index_elements=[states.c.promotion],
                                                      set_={"disabled": disabled, "changed_at": now, "note": note}))
        self.forget()


def _release(conn: Any, key: str, cart_id: str | None = None) -> int:
    """Give back a hold (only if it is `cart_id`'s, when given); how many promotions it held.
    The batch is written first: a SQLite transaction must write before it reads."""
    batches = S.redemption_batches
    mine = [batches.c.order_id == cart_id, batches.c.kind == "reserve"] if cart_id is not None else []
    held = conn.execute(update(batches).where(batches.c.key == key, batches.c.state == "reserved", *mine)
                        .values(state="released"))
    if cart_id is not None and not held.rowcount:
        return 0
    result = conn.execute(update(S.redemptions).where(S.redemptions.c.batch_key == key,
                                                      S.redemptions.c.state == "reserved").values(state="released"))
    return int(result.rowcount or 0)


def _held_cart(conn: Any, key: str) -> str | None:
    """The cart a reservation key holds for (None: no such reservation)."""
    batches = S.redemption_batches
    return conn.scalar(select(batches.c.order_id).where(batches.c.key == key, batches.c.kind == "reserve"))


def _release_cart(conn: Any, cart_id: str | None, keep: str | None = None) -> None:
    """Give back every active hold of a cart (but the one being made)."""
    if cart_id is None:
        return
    batches = S.redemption_batches
    keys = [k for k in conn.scalars(select(batches.c.key).where(batches.c.order_id == cart_id,
                                                                   batches.c.kind == "reserve",
                                                                   batches.c.state == "reserved")) if k != keep]
    for key in keys:
        _release(conn, key)


def _same_as(r: Redemption) -> tuple[str, str, int, str]:
    """What a retry must ask again (a code typed in another case is the same code)."""
    return r.promotion, normalize_code(r.code) if r.code else "", r.amount_minor, r.currency


def _listed(redemptions: Sequence[Redemption]) -> str:
    return ", ".join(f"{r.promotion} {Money.from_minor(r.amount_minor, r.currency)}" for r in redemptions) or "none"


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {"redemptions": [{"promotion": r.promotion, "code": r.code, "amount_minor": r.amount_minor,
                             "currency": r.currency} for r in receipt.redemptions],
            "at": receipt.at.isoformat(), "expires_at": receipt.expires_at.isoformat() if receipt.expires_at else None}
