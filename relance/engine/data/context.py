"""The evaluation context: what one evaluation can read, validated once, then read as attributes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from relance.engine.data import types as T
from relance.engine.data.errors import DataError
from relance.engine.data.models import UTC, Cart, Contact, Event, Order, Rfm, _money, in_currency, to_aware
from relance.grammar.diagnostics import did_you_mean


class Declared(Protocol):
    """What validation needs of a rule set (a `RuleSet` is one): its time zone, for times written
    without one, and the custom contact attributes it declares, with their types."""

    @property
    def timezone(self) -> dt.tzinfo: ...

    @property
    def attributes(self) -> Mapping[str, T.Type]: ...


@dataclass(frozen=True, slots=True)
class Context:
    """One contact's world at one instant. Build it with `from_mapping` (validates once)."""

    now: dt.datetime
    tz: dt.tzinfo = UTC
    contact: Contact | None = None
    orders: tuple[Order, ...] = ()
    events: tuple[Event, ...] = ()
    cart: Cart | None = None
    order: Order | None = None
    event: Event | None = None
    rfm: Rfm | None = None
    today: dt.date = field(init=False)
    segments: dict[str, bool] = field(default_factory=dict, compare=False)
    """Memo of segment membership for this context (`contact in segment x` costs one check)."""
    clock: dict[tuple[Any, int, str], Any] = field(default_factory=dict, compare=False)
    """Memo of `now - 30 days` and the like: computed once per context, whichever rule asks."""

    def with_cart(self, cart: Any) -> Context:
        """The same world around another cart (what one promotion sees); the memos are shared."""
        copy = object.__new__(Context)
        for name in _SLOTS:
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "cart", cart)
        return copy

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        object.__setattr__(self, "now", self.now.replace(microsecond=0).astimezone(UTC))
        object.__setattr__(self, "today", self.now.astimezone(self.tz).date())

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], ruleset: Declared | None = None,
                     now: dt.datetime | None = None) -> Context:
        """Validate JSON-like data (contact, orders, events, cart, order, event, rfm, now) once.

        Orders and events are sorted by time (then id): `first` and `last` follow that order.
        """
        if not isinstance(data, Mapping):
            raise DataError(f"expected a mapping with now, contact, orders..., not {type(data).__name__}")
        tz: dt.tzinfo = ruleset.timezone if ruleset is not None else UTC
        if now is not None and now.tzinfo is None:
            raise DataError("now must be timezone-aware, e.g. datetime.now(timezone.utc)")
        custom = ruleset.attributes if ruleset is not None else {}
        extra = set(data) - {"now", "contact", "orders", "events", "cart", "order", "event", "rfm"}
        if extra:
            raise DataError(f"unknown key(s) {sorted(extra)}: expected now, contact, orders, events, cart, order, "
                            "event, rfm")
        ctx = {"tz": tz}

        def part(key: str, validate: Any) -> Any:
            try:
                return validate()
            except ValidationError as error:
                raise DataError(explain_validation(error, key)) from None
            except (TypeError, ValueError) as error:
                if isinstance(error, DataError):
                    raise
                raise DataError(f"{key}: {error}") from None

        when = now or part("now", lambda: to_aware(data["now"], tz) if data.get("now") else None)
        if when is None:
            raise DataError("no clock: give `now` in the data or as an argument")
        contact = part("contact", lambda: Contact.model_validate(data["contact"], context=ctx)
                       if data.get("contact") else None)
        if contact is not None:
            contact = _typed_attributes(contact, custom, tz)
        orders = tuple(sorted((part(f"orders[{i}]", lambda o=o: Order.model_validate(o, context=in_currency(ctx, o)))
                               for i, o in enumerate(data.get("orders") or ())), key=lambda o: (o.created_at, o.id)))
        events = tuple(sorted((part(f"events[{i}]", lambda e=e: Event.model_validate(e, context=ctx))
                               for i, e in enumerate(data.get("events") or ())), key=lambda e: (e.at, e.id)))
        cart = part("cart", lambda: Cart.model_validate(data["cart"], context=in_currency(ctx, data["cart"]))
                    if data.get("cart") else None)
        order = part("order", lambda: Order.model_validate(data["order"], context=in_currency(ctx, data["order"]))
                     if data.get("order") else None)
        event = part("event", lambda: Event.model_validate(data["event"], context=ctx) if data.get("event") else None)
        rfm = part("rfm", lambda: Rfm.model_validate(data["rfm"]) if data.get("rfm") else None)
        return cls(now=when, tz=tz, contact=contact, orders=orders, events=events, cart=cart,
                   order=order, event=event, rfm=rfm)


_SLOTS = tuple(Context.__slots__)


def explain_validation(error: ValidationError, prefix: str) -> str:
    """A pydantic error in one line: `contact.created_at: invalid date; ...`."""
    parts = []
    for item in error.errors()[:5]:
        where = ".".join([prefix, *(str(p) for p in item["loc"])])
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def coerce_attribute(value: Any, typ: T.Type, tz: dt.tzinfo) -> Any:
    """A custom attribute value as the declared type (JSON gives strings for dates and amounts)."""
    if value is None:
        return None
    kind = typ.kind
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind in ("number", "percent"):
        if isinstance(value, (bool, float)):
            raise ValueError(f"expected an exact number (write it as a string or integer), got {value!r}")
        text = str(value).strip()
        if kind == "percent" and not text.endswith("%"):
            raise ValueError(f"write a percentage with its % sign, e.g. \"{text}%\" (got {value!r})")
        try:
            number = Decimal(text[:-1]) / 100 if kind == "percent" else Decimal(text)
        except ArithmeticError:
            number = Decimal("NaN")
        if not number.is_finite():
            raise ValueError(f"expected a number{' or a percentage like 10%' if kind == 'percent' else ''}, "
                             f"got {value!r}")
        return number
    if kind == "money":
        return _money(value)
    if kind == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if kind == "datetime":
        return to_aware(value, tz)
    if kind == "list":
        assert typ.element is not None
        return tuple(coerce_attribute(v, typ.element, tz) for v in value)
    raise ValueError(f"unsupported attribute type {typ}")


def _typed_attributes(contact: Contact, custom: Mapping[str, T.Type], tz: dt.tzinfo) -> Contact:
    """Custom attributes as their declared types; an undeclared one is a typo or a missing
    declaration, never silently kept."""
    if not contact.attributes:
        return contact
    attributes = dict(contact.attributes)
    for name in attributes:
        if name not in custom:
            known = [*Contact.model_fields, *custom]
            hint = did_you_mean(name, known)
            raise DataError(f"contact.{name}: not a contact field" + (f"; {hint}" if hint else
                            "; declare custom attributes in relance.yaml under `attributes`"))
    for name, typ in custom.items():
        if name in attributes:
            try:
                attributes[name] = coerce_attribute(attributes[name], typ, tz)
            except (TypeError, ValueError) as error:
                raise DataError(f"contact.{name}: {error}") from None
    return contact.model_copy(update={"attributes": attributes})


def zone(name: str) -> dt.tzinfo:
    """An IANA time zone (ZoneInfo), `UTC`, or a fixed offset like `+02:00`."""
    if name in ("UTC", "Z"):
        return UTC
    if name[:1] in "+-" and len(name) == 6:
        sign = 1 if name[0] == "+" else -1
        hours, minutes = int(name[1:3]), int(name[4:6])
        return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    return ZoneInfo(name)
