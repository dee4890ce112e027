"""`relance.Engine`: what a shop embeds to evaluate carts and redeem promotions in-process.

One object per process holds the current rule set and the store. `evaluate` and `qualify` never
write; `redeem`, `reserve`, `release` and `rollback` each write in one transaction. A new rule set
replaces the current one only if it loads whole (`reload`): the previous one keeps serving.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy.pool import StaticPool

from relance.engine.checkout import pools as codes
from relance.engine.checkout.evaluation import Checkout, evaluate
from relance.engine.checkout.explain import Missing, excluded_items, missing, to_add, upsell
from relance.engine.checkout.ledger import Ledger, Receipt, RedemptionError
from relance.engine.checkout.results import Evaluation
from relance.engine.data.context import Context
from relance.engine.data.errors import DataError
from relance.engine.data.models import CLOCK_YEARS, Cart, Contact, amount_in, to_aware
from relance.engine.data.money import Money
from relance.engine.data.values import shift
from relance.engine.ruleset.load import load
from relance.engine.ruleset.promotion import normalize_code
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.store import migrate
from relance.engine.store.connection import connect
from relance.engine.store.migrate import create_schema
from relance.engine.store.records import stored_history
from relance.grammar.diagnostics import did_you_mean

UTC = dt.UTC


class StoreError(ValueError):
    """A store that cannot be used: not there, not relance's, or not a database URL."""


class Store:
    """A database for codes and redemptions (and contacts, orders, segments): a SQLite file by
    default, PostgreSQL by URL. The schema is brought up to date (migrations) when it opens.

    `create=False` refuses a store that relance has not set up yet (a missing SQLite file, a
    database without relance's tables) instead of creating it: a typo in a path must not send
    a stop or new codes to a fresh, empty store while the real one keeps serving."""

    def __init__(self, url: str | SqlEngine = "sqlite:///relance.db", create: bool = True):
        self.lock: Any = None
        """Serialises threads on the in-memory store, whose single connection they would share."""
        if not isinstance(url, str | SqlEngine):
            raise StoreError(f"a store is a database URL or a SQLAlchemy engine, not {type(url).__name__}")
        if not create and isinstance(url, str):
            _set_up(url)
        if isinstance(url, SqlEngine):
            self.engine = url
        elif url in ("sqlite://", "sqlite:///:memory:"):
            self.engine = connect("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
            self.lock = threading.RLock()
        elif url.startswith("sqlite"):
            self.engine = connect(url, connect_args={"timeout": 30})
        else:
            self.engine = connect(url)
        if not create and migrate.current(self.engine) is None:
            self.engine.dispose()
            raise StoreError(f"{_shown(url)} has no relance tables: set it up with "
                             f"`relance db upgrade --store {_shown(url)}` first")
        create_schema(self.engine)

    @classmethod
    def memory(cls) -> Store:
        """A private in-memory store: counts and redemptions live as long as the process."""
        return cls("sqlite://")


def _shown(url: str | SqlEngine) -> str:
    """A store's URL for a message: its password hidden."""
    from sqlalchemy.engine import make_url

    return (make_url(url) if isinstance(url, str) else url.url).render_as_string(hide_password=True)


def _set_up(url: str) -> None:
    """A SQLite store named by the URL must be there and be relance's, checked read-only
    (connecting would create the file, or turn it to WAL mode)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a database URL: {url!r} (e.g. sqlite:///relance.db, "
                         "postgresql://user@host/db)") from None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if not path.exists():
        raise StoreError(f"no store at {url}: {path.resolve()} does not exist (set one up with "
                         f"`relance db upgrade --store {url}`)")
    try:  # read-only: a file that is not a store is left exactly as it was
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{url} is not a store: {error}") from None
    if "alembic_version" not in tables:
        raise StoreError(f"{url} has no relance tables: set it up with `relance db upgrade --store {url}` first")


@dataclass(frozen=True, slots=True)
class Opportunity:
    """A promotion the customer could get, and what the cart lacks for it."""

    promotion: str
    title: str | None
    missing: tuple[Missing, ...]
    message: str

    @property
    def amount(self) -> Money | None:
        """The amount to add to the cart, when that is all it lacks."""
        amount, units = to_add(self.missing)
        return amount if units is None else None


class Engine:
    """Evaluate carts and redeem promotions for one rule set (see docs/checkout.md).

    `cache_ttl`: for how many seconds evaluation may reuse what it read of the store (stopped
    promotions, usage counts); this engine's own writes are seen at once, other processes' within
    that delay. Redemption always counts afresh inside its transaction, so no limit is ever passed.
    """

    def __init__(self, rules: RuleSet | str | Path, store: Store | str | SqlEngine | None = None,
                 cache_ttl: float = 1.0):
        if not isinstance(rules, RuleSet):

            rules = load(rules)
        self.rules = rules
        if not isinstance(cache_ttl, int | float) or isinstance(cache_ttl, bool) or not cache_ttl >= 0:
            raise ValueError(f"cache_ttl: expected seconds, 0 or more (0: never reuse a read), not {cache_ttl!r}")
        if store is None:
            store = Store.memory()
        elif not isinstance(store, Store):
            store = Store(store)
        self.store = store
        self.ledger = Ledger(store.engine, cache_ttl, store.lock)

    def reload(self, path: str | Path) -> RuleSet:
        """Load the rule set again; on any error (RuleSetError) the current one stays in place."""

        rules = load(path)
        self.rules = rules
        return rules

    # ---- reads ----

    def context(self, cart: Cart | Mapping[str, Any], contact: Contact | Mapping[str, Any] | str | None = None,
                now: dt.datetime | None = None, orders: Sequence[Any] | None = None, events: Sequence[Any] | None = None,
                rfm: Mapping[str, Any] | None = None) -> Context:
        """The validated context of one checkout (raises DataError naming the bad field). A contact
        given by its id is read from the store, with their orders, events and RFM scores (those
        given here take their place)."""
        when = _clock(now)
        if not isinstance(cart, Cart | Mapping):
            raise DataError(f"cart: expected a mapping (currency, items, shipping...), not {type(cart).__name__}")
        if isinstance(contact, str):
            stored = self._stored(contact)
            contact = stored["contact"]
            orders = orders if orders is not None else stored["orders"]
            events = events if events is not None else stored["events"]
            rfm = rfm if rfm is not None else stored.get("rfm")
        if contact is not None and not isinstance(contact, Contact | Mapping):
            raise DataError(f"contact: expected a mapping (id, email...) or a stored contact's id, not "
                            f"{type(contact).__name__}")
        data: dict[str, Any] = {"orders": list(orders or ()), "events": list(events or ())}
        if isinstance(cart, Cart):
            validated_cart: Cart | None = cart
        else:
            validated_cart = None
            data["cart"] = cart
        if isinstance(contact, Contact):
            validated_contact: Contact | None = contact
        else:
            validated_contact = None
            data["contact"] = contact
        if rfm is not None:
            data["rfm"] = rfm
        ctx = Context.from_mapping(data, self.rules, when)
        if validated_cart is not None or validated_contact is not None:
            ctx = Context(ctx.now, ctx.tz, validated_contact or ctx.contact, ctx.orders, ctx.events,
                          validated_cart or ctx.cart, rfm=ctx.rfm)
        return ctx

    def _stored(self, contact_id: str) -> dict[str, Any]:
        """A stored contact's data, their custom attributes as this rule set declares them (the
        others, kept for another rule set, are left out)."""
        data = self.ledger.read(lambda conn: stored_history(conn, contact_id))
        if data is None:
            raise DataError(f"contact: no contact {contact_id!r} in the store (give the contact's data instead, "
                            "or import it with `relance import`)")
        declared = self.rules.attributes
        data["contact"]["attributes"] = {name: _as_written(value, declared[name])
                                         for name, value in data["contact"]["attributes"].items()
                                         if name in declared and value is not None}
        return data

    def evaluate(self, cart: Cart | Mapping[str, Any], contact: Contact | Mapping[str, Any] | str | None = None,
                 codes: Sequence[str] = (), now: dt.datetime | None = None, *, orders: Sequence[Any] | None = None,
                 events: Sequence[Any] | None = None, rfm: Mapping[str, Any] | None = None, explain: bool = False,
                 reservation: str | None = None) -> Evaluation:
        """The promotions this cart gets now; never writes. `explain` also lists the automatic
        promotions refused for their dates, country or channel (quiet otherwise)."""
        codes = _typed(codes)
        ctx = self.context(cart, contact, now, orders, events, rfm)
        with self.ledger.reading():
            return evaluate(self.rules, ctx, codes, self.ledger, explain, reservation)

    def qualify(self, cart: Cart | Mapping[str, Any], contact: Contact | Mapping[str, Any] | str | None = None,
                now: dt.datetime | None = None, *, codes: Sequence[str] = (), orders: Sequence[Any] | None = None,
                events: Sequence[Any] | None = None, rfm: Mapping[str, Any] | None = None) -> list[Opportunity]:
        """Promotions open now (automatic ones, and those of the codes typed) that this cart does
        not get only because of its condition, each with what is missing ("add 12.00 EUR for
        free shipping")."""
        ctx = self.context(cart, contact, now, orders, events, rfm)
        with self.ledger.reading():
            return opportunities(self.rules, ctx, self.ledger, _typed(codes))

    # ---- writes ----

    def redeem(self, evaluation: Evaluation, order_id: str, idempotency_key: str | None = None,
               now: dt.datetime | None = None, reservation: str | None = None,
               total: Money | str | None = None) -> Receipt:
        """Record every promotion of `evaluation` for this order, all or none, after counting the
        limits again inside the transaction. The same key (default: the order id) twice records
        once and returns the first receipt. `total`, the amount the order is paid, must be the
        evaluation's total (an evaluation made before the cart last changed is refused instead of
        recording discounts the order did not get). Raises RedemptionError with the refusals."""
        when = _clock(now)
        _check_redemption(evaluation, order_id, idempotency_key)
        if total is not None:
            paid = _paid(total, evaluation.currency)
            if paid != evaluation.total:
                raise RedemptionError(f"the order is paid {paid}, its evaluation totals {evaluation.total}: "
                                      "evaluate the order's final cart again, then redeem that evaluation")
        key = idempotency_key or f"order:{order_id}"
        return self.ledger.record(self.rules, evaluation, order_id, key, when, reservation=reservation)

    def reserve(self, evaluation: Evaluation, cart_id: str, ttl: dt.timedelta = dt.timedelta(minutes=15),
                key: str | None = None, now: dt.datetime | None = None) -> Receipt:
        """Hold the promotions of a cart for `ttl` (they count towards the limits meanwhile), so
        the last unit of a capped code is not promised to two carts. Redeem with `reservation=`."""
        when = _clock(now)
        _check_redemption(evaluation, cart_id, key, "cart_id")
        if not isinstance(ttl, dt.timedelta) or ttl <= dt.timedelta(0):
            raise DataError(f"ttl: expected a positive datetime.timedelta, not {ttl!r}")
        return self.ledger.record(self.rules, evaluation, cart_id, key or f"reserve:{cart_id}:{uuid.uuid4().hex}",
                                  when, expires_at=when + ttl)

    def release(self, reservation: str) -> int:
        """Give back a cart's hold now (the cart was abandoned); how many promotions it held."""
        if not isinstance(reservation, str) or not reservation.strip():
            raise DataError(f"reservation: expected the key of a reserve receipt, not {reservation!r}")
        return self.ledger.release(reservation)

    def rollback(self, order_id: str, promotions: Sequence[str] | None = None) -> int:
        """Undo an order's redemptions (cancel or refund), or only those of `promotions` (the
        customer returned the items a promotion was for); limits and budgets count them no more.
        How many were undone (0 the second time)."""
        if not isinstance(order_id, str) or not order_id.strip():
            raise DataError(f"order_id: expected a non-empty string, not {order_id!r}")
        if promotions is not None and (isinstance(promotions, str) or not all(isinstance(p, str) for p in promotions)):
            raise DataError(f"promotions: expected a list of promotion names, not {promotions!r}")
        return self.ledger.rollback(order_id, promotions)

    def disable(self, promotion: str, note: str | None = None, now: dt.datetime | None = None) -> None:
        """Stop a promotion now, without a rule change (evaluation sees it within `cache_ttl`;
        redemption at once)."""
        self._known(promotion)
        self.ledger.set_disabled(promotion, True, now or dt.datetime.now(UTC), _note(note))

    def enable(self, promotion: str, now: dt.datetime | None = None) -> None:
        self._known(promotion)
        self.ledger.set_disabled(promotion, False, now or dt.datetime.now(UTC))

    def void_code(self, code: str, note: str | None = None, now: dt.datetime | None = None) -> bool:
        """Cancel one pool code (leaked, sent by mistake) while the rest of its pool keeps
        serving: refused with `code_voided` from `now` (evaluation within `cache_ttl`, redemption
        at once). False if it was voided already (the first time and note are kept). Raises
        KeyError if no such code is stored (public codes live in the rules)."""
        return self._void(code, True, _note(note), now)

    def restore_code(self, code: str, now: dt.datetime | None = None) -> bool:
        """Undo `void_code`; False if the code was not voided."""
        return self._void(code, False, None, now)

    def _void(self, code: str, voided: bool, note: str | None, now: dt.datetime | None) -> bool:
        if not isinstance(code, str) or not code.strip():
            raise DataError(f"code: expected a non-empty string, not {code!r}")
        changed = self.ledger.void_code(code, voided, _clock(now), note)
        if changed is None:

            public = self.rules.public_codes.get(normalize_code(code))
            raise KeyError(f"no code {code!r} in the store" + (
                f"; it is the public code of `{public.name}`, written in the rules: stop the promotion "
                "(`disable`) or change its rule" if public is not None else ""))
        return changed

    def issue_codes(self, promotion: str, count: int, contact_id: str | None = None,
                    now: dt.datetime | None = None) -> list[str]:
        """New unique codes of a pool promotion (`code unique pattern`), stored at once; each
        expires after the lifetime its rule declares (`expires after 30 days`), if any."""
        declared = self._pool(promotion)
        if declared.pattern is None:
            raise ValueError(f"promotion {promotion!r} takes imported codes (`code imported`), not generated ones")
        when = now or dt.datetime.now(UTC)
        with self.ledger.lock:
            issued = codes.issue_codes(self.store.engine, promotion, declared.pattern, count, when,
                                       expires_at=self.code_expiry(promotion, when), contact_id=contact_id)
        self.ledger.forget()  # a code asked before it existed is not "unknown" any more
        return issued

    def import_codes(self, promotion: str, rows: Any, now: dt.datetime | None = None) -> int:
        """Codes from a file (rows with `code`, optional `contact_id` and `expires_at`) into a pool;
        all or none (CodeError names the bad lines)."""
        self._pool(promotion)
        when = now or dt.datetime.now(UTC)
        with self.ledger.lock:
            count = codes.import_codes(self.store.engine, promotion, rows, when, tz=self.rules.timezone)
        self.ledger.forget()
        return count

    def code_expiry(self, promotion: str, issued_at: dt.datetime) -> dt.datetime | None:
        lifetime = self._pool(promotion).code_lifetime
        if lifetime is None:
            return None
        return shift(issued_at, lifetime.amount, lifetime.unit, self.rules.timezone)  # type: ignore[no-any-return]

    def _pool(self, promotion: str) -> Any:
        self._known(promotion)
        declared = self.rules.promotions[promotion]
        if not declared.pool:
            raise ValueError(f"promotion {promotion!r} has no pool of codes (`code unique pattern \"...\"` or "
                             "`code imported`)")
        return declared

    def _known(self, promotion: str) -> None:
        if promotion not in self.rules.promotions:

            hint = did_you_mean(promotion, self.rules.promotions)
            raise KeyError(f"no promotion {promotion!r} in this rule set" + (f"; {hint}" if hint else ""))


def opportunities(rules: RuleSet, ctx: Context, store: Any, codes: Sequence[str] = ()) -> list[Opportunity]:
    """`qualify` on a validated context: each gap is measured on the cart the promotion saw
    (without its excluded items, after the discounts applied before it)."""
    checkout = Checkout(rules, ctx, store, explain=False)
    result = checkout.run(codes)
    out = []
    for refusal in result.refused:
        promotion = rules.promotions.get(refusal.promotion or "")
        seen = checkout.unmet.get(refusal.promotion or "")
        if refusal.reason != "condition_not_met" or promotion is None or promotion.when is None or seen is None \
                or checkout.limit_refusal(promotion, refusal.code) is not None:  # sold out, budget spent
            continue
        gaps = tuple(missing(rules, promotion.when, seen, excluded_items(promotion)))
        if not all(gap.reachable for gap in gaps):
            continue  # adding to the cart cannot meet it (the contact's country, a date, a maximum): no upsell
        out.append(Opportunity(promotion.name, promotion.title, gaps, upsell(promotion.title or promotion.name, gaps)))
    return out


def _clock(now: Any) -> dt.datetime:
    """`now` as given (aware), or the computer's clock."""
    if now is None:
        return dt.datetime.now(UTC)
    if not isinstance(now, dt.datetime) or now.tzinfo is None:
        raise DataError(f"now: expected a timezone-aware datetime, e.g. datetime.now(timezone.utc), not {now!r}")
    if now.year not in CLOCK_YEARS:
        raise DataError(f"now: {now} is out of range (years {CLOCK_YEARS.start} to {CLOCK_YEARS.stop - 1})")
    return now


def _as_written(stored: Any, typ: Any) -> Any:
    """A custom attribute as stored, as a shop writes it in data: a percentage is stored as its
    fraction (`0.1`: `10%`), a date-time as UTC text without its zone."""
    from decimal import Decimal, InvalidOperation


    if typ.kind == "list" and isinstance(stored, list):
        return [_as_written(v, typ.element) for v in stored]
    try:
        if typ.kind == "percent":
            return f"{(Decimal(str(stored)) * 100).normalize():f}%"
        if typ.kind == "datetime" and isinstance(stored, str):
            return to_aware(stored, UTC)
    except (InvalidOperation, ValueError):
        pass  # not as stored by relance: the attribute's check says what is wrong with it
    return stored


def _paid(total: Any, currency: str) -> Money:
    """The amount an order is paid, as Money (`"63.90"` is in the evaluation's currency)."""
    try:
        return amount_in(total, currency)
    except (TypeError, ValueError) as error:
        raise DataError(f"total: {error}") from None


def _note(note: Any) -> str | None:
    """A note kept in the store beside a stop or a void: text, or nothing."""
    if note is not None and not isinstance(note, str):
        raise DataError(f"note: expected text, not {note!r}")
    return note


MAX_CODES = 20
"""Codes one evaluation takes: more is a shop's bug or someone guessing codes, not a customer."""


def _typed(codes: Any) -> tuple[str, ...]:
    """The codes the customer typed, as text (one string alone is one code)."""
    if isinstance(codes, str):
        return (codes,)
    if not isinstance(codes, Sequence | set | frozenset):
        raise DataError(f"codes: expected a list of strings, not {type(codes).__name__}")
    if len(codes) > MAX_CODES:
        raise DataError(f"codes: at most {MAX_CODES} codes per evaluation, not {len(codes)}")
    wrong = next((c for c in codes if not isinstance(c, str)), _NONE)
    if wrong is not _NONE:
        raise DataError(f"codes: expected strings, not {wrong!r}")
    return tuple(codes)


_NONE = object()


def _check_redemption(evaluation: Any, order_id: Any, key: Any, what: str = "order_id") -> None:
    if not isinstance(evaluation, Evaluation):
        raise DataError(f"evaluation: expected what engine.evaluate returned, not {type(evaluation).__name__}")
    if not isinstance(order_id, str) or not order_id.strip():
        raise DataError(f"{what}: expected a non-empty string, not {order_id!r}")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise DataError(f"idempotency key: expected a non-empty string, not {key!r}")
