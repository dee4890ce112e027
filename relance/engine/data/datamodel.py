"""What rules can read: the records, their fields and types, and the names at the root.

This table is the whole surface of the language: a name that is not here cannot be read, so
rule text never reaches a Python object. The checker, both backends and the docs use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from relance.engine.data import types as T


@dataclass(frozen=True, slots=True)
class Field:
    type: T.Type
    nullable: bool = False
    doc: str = ""
    custom: bool = False
    """A custom contact attribute, declared in the project file (stored in `attributes`)."""


def _item_fields() -> dict[str, Field]:
    return {
        "sku": Field(T.STRING, doc="stock keeping unit"),
        "product": Field(T.STRING, True, "product name"),
        "category": Field(T.STRING, True, "product category"),
        "tags": Field(T.list_of(T.STRING), doc="product tags"),
        "quantity": Field(T.NUMBER, doc="number of units"),
        "unit_price": Field(T.MONEY, doc="price of one unit"),
        "total": Field(T.MONEY, doc="quantity x unit price"),
    }


RECORDS: dict[str, dict[str, Field]] = {
    "contact": {
        "id": Field(T.STRING),
        "email": Field(T.STRING, True),
        "phone": Field(T.STRING, True),
        "first_name": Field(T.STRING, True),
        "last_name": Field(T.STRING, True),
        "country": Field(T.STRING, True, "ISO country code, e.g. FR"),
        "language": Field(T.STRING, True, "ISO language code, e.g. fr"),
        "birthdate": Field(T.DATE, True),
        "created_at": Field(T.DATETIME, doc="when the contact was created (sign-up)"),
        "consents": Field(T.record("consents"), doc="consent per channel"),
        "tags": Field(T.list_of(T.STRING)),
        "tier": Field(T.STRING, True, "loyalty tier"),
        "points": Field(T.NUMBER, doc="loyalty points balance"),
    },
    "consents": {
        "email": Field(T.BOOL), "sms": Field(T.BOOL), "push": Field(T.BOOL),
    },
    "order": {
        "id": Field(T.STRING),
        "created_at": Field(T.DATETIME),
        "status": Field(T.STRING, doc="paid, partially_paid, pending, cancelled, refunded..."),
        "total": Field(T.MONEY, doc="amount paid for the order"),
        "shipping": Field(T.MONEY, doc="shipping cost"),
        "currency": Field(T.STRING),
        "channel": Field(T.STRING, True, "web, app, store..."),
        "country": Field(T.STRING, True),
        "items": Field(T.list_of(T.record("item"))),
        "codes": Field(T.list_of(T.STRING), doc="promotion codes used"),
    },
    "item": _item_fields(),
    "event": {
        "id": Field(T.STRING),
        "type": Field(T.STRING, doc="email_opened, email_clicked, page_viewed, ..."),
        "at": Field(T.DATETIME),
        "channel": Field(T.STRING, True),
        "campaign": Field(T.STRING, True),
    },
    "rfm": {
        "recency_days": Field(T.NUMBER, doc="whole days since the last eligible order"),
        "frequency": Field(T.NUMBER, doc="number of eligible orders (paid or partly paid, last 10 years)"),
        "monetary": Field(T.MONEY, doc="total of the eligible orders"),
        "r": Field(T.NUMBER, doc="recency score, 1 (long ago) to 5 (recent)"),
        "f": Field(T.NUMBER, doc="frequency score, 1 to 5"),
        "m": Field(T.NUMBER, doc="monetary score, 1 to 5"),
        "score": Field(T.STRING, doc='the three scores, e.g. "545"'),
    },
    "cart": {
        "items": Field(T.list_of(T.record("item"))),
        "subtotal": Field(T.MONEY, doc="sum of the items' totals"),
        "shipping": Field(T.MONEY),
        "total": Field(T.MONEY, doc="subtotal + shipping"),
        "currency": Field(T.STRING),
        "country": Field(T.STRING, True, "delivery country"),
        "channel": Field(T.STRING, True),
        "codes": Field(T.list_of(T.STRING), doc="codes typed by the customer"),
    },
}

ROOTS: dict[str, Field] = {
    "contact": Field(T.record("contact"), True, "the contact (null for a guest checkout)"),
    "orders": Field(T.list_of(T.record("order")), doc="the contact's past orders, oldest first"),
    "events": Field(T.list_of(T.record("event")), doc="the contact's events, oldest first"),
    "cart": Field(T.record("cart"), True, "the cart being checked out"),
    "order": Field(T.record("order"), True, "the order being processed"),
    "event": Field(T.record("event"), True, "the event being processed"),
    "rfm": Field(T.record("rfm"), True, "the contact's RFM scores (null without an eligible order)"),
    "now": Field(T.DATETIME, doc="the clock of the evaluation"),
    "today": Field(T.DATE, doc="today's date in the rule set's time zone"),
}

SCOPES: dict[str, tuple[str, ...]] = {
    "segment": ("contact", "orders", "events", "rfm", "now", "today"),
    "checkout": ("contact", "orders", "events", "rfm", "cart", "now", "today"),
    "any": tuple(ROOTS),
}
"""Which root names each kind of rule may read: segments run over stored data, with no cart."""

TIME_FIELDS = {"order": "created_at", "event": "at"}
"""Collections of these records are kept in this field's order; `first`/`last` follow it."""


def record_fields(record: str, custom: Mapping[str, T.Type]) -> dict[str, Field]:
    """The fields of a record; contacts gain the rule set's declared custom attributes."""
    fields = RECORDS[record]
    if record == "contact" and custom:
        fields = dict(fields)
        for name, typ in custom.items():
            fields.setdefault(name, Field(typ, True, "custom attribute", custom=True))
    return fields
