"""Contacts, orders and events as rows, both ways: written for tests and samples (the bulk importer
streams through the same rows), and one stored customer read back for checkout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select

from relance.engine.data.context import Context
from relance.engine.data.models import Contact, Event, Order
from relance.engine.data.money import Money
from relance.engine.store.connection import stored_text
from relance.engine.store.tables import contacts, events, order_items, orders, rfm


def contact_row(contact: Contact) -> dict[str, Any]:
    attributes = {k: _jsonable(v) for k, v in contact.attributes.items()}
    return {
        "id": contact.id, "email": contact.email, "phone": contact.phone, "first_name": contact.first_name,
        "last_name": contact.last_name, "country": contact.country, "language": contact.language,
        "birthdate": contact.birthdate, "created_at": contact.created_at,
        "consent_email": contact.consents.email, "consent_sms": contact.consents.sms,
        "consent_push": contact.consents.push, "tags": list(contact.tags), "tier": contact.tier,
        "points": contact.points, "attributes": attributes,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Money):  # `7.50 EUR`, as written in data
        return str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return stored_text(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def order_rows(order: Order, contact_id: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = {
        "id": order.id, "contact_id": contact_id or order.contact_id, "created_at": order.created_at,
        "status": order.status, "currency": order.currency, "total_minor": order.total.minor_units(),
        "shipping_minor": order.shipping.minor_units() if order.shipping else 0,  # type: ignore[union-attr]
        "channel": order.channel, "country": order.country, "codes": list(order.codes),
    }
    items = [{"order_id": order.id, "line": i, "sku": item.sku, "product": item.product, "category": item.category,
              "tags": list(item.tags), "quantity": item.quantity, "currency": item.unit_price.currency,
              "unit_price_minor": item.unit_price.minor_units()} for i, item in enumerate(order.items)]
    return row, items


def event_row(event_: Event, contact_id: str | None) -> dict[str, Any]:
    return {"id": event_.id, "contact_id": contact_id or event_.contact_id, "type": event_.type, "at": event_.at,
            "channel": event_.channel, "campaign": event_.campaign}


def insert_contexts(engine: Engine, contexts: Sequence[Context]) -> None:
    """Store each context's contact with its orders and events (ids must be unique)."""
    contact_rows, order_list, item_list, event_list = [], [], [], []
    for ctx in contexts:
        assert ctx.contact is not None
        contact_rows.append(contact_row(ctx.contact))
        for order in ctx.orders:
            row, items = order_rows(order, ctx.contact.id)
            order_list.append(row)
            item_list.extend(items)
        event_list.extend(event_row(e, ctx.contact.id) for e in ctx.events)
    with engine.begin() as conn:
        for table, rows in ((contacts, contact_rows), (orders, order_list), (order_items, item_list),
                            (events, event_list)):
            if rows:
                conn.execute(insert(table), rows)


def chunks(rows: Iterable[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---- reading one contact back (checkout: a customer the store knows) ----


def stored_history(conn: Any, contact_id: str) -> dict[str, Any] | None:
    """A stored contact with their orders, events and RFM scores, as the JSON-like data that
    `Context.from_mapping` validates (amounts as exact text, never floats), or None if the store
    has no such contact. Four indexed reads: one customer's rows."""
    row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().first()
    if row is None:
        return None
    contact = {key: row[key] for key in ("id", "email", "phone", "first_name", "last_name", "country", "language",
                                         "birthdate", "created_at", "tier") if row[key] is not None}
    contact.update(consents={"email": row["consent_email"], "sms": row["consent_sms"], "push": row["consent_push"]},
                   tags=list(row["tags"] or ()), points=str(row["points"]), attributes=_exact(row["attributes"] or {}))
    items: dict[str, list[dict[str, Any]]] = {}
    for item in conn.execute(select(order_items).join(orders, orders.c.id == order_items.c.order_id)
                             .where(orders.c.contact_id == contact_id).order_by(order_items.c.line)).mappings():
        items.setdefault(item["order_id"], []).append({
            "sku": item["sku"], "product": item["product"], "category": item["category"], "tags": list(item["tags"]),
            "quantity": item["quantity"], "unit_price": _amount(item["unit_price_minor"], item["currency"])})
    history = [{"id": o["id"], "contact_id": contact_id, "created_at": o["created_at"], "status": o["status"],
                "currency": o["currency"], "total": _amount(o["total_minor"], o["currency"]),
                "shipping": _amount(o["shipping_minor"], o["currency"]), "channel": o["channel"],
                "country": o["country"], "codes": list(o["codes"] or ()), "items": items.get(o["id"], [])}
               for o in conn.execute(select(orders).where(orders.c.contact_id == contact_id)).mappings()]
    happened = [dict(e) for e in conn.execute(select(events).where(events.c.contact_id == contact_id)).mappings()]
    scores = conn.execute(select(rfm).where(rfm.c.contact_id == contact_id)).mappings().first()
    data: dict[str, Any] = {"contact": contact, "orders": history, "events": happened}
    if scores is not None:
        data["rfm"] = {"recency_days": scores["recency_days"], "frequency": scores["frequency"],
                       "monetary": _amount(scores["monetary_minor"], scores["currency"]),
                       "r": scores["r"], "f": scores["f"], "m": scores["m"]}
    return data


def _amount(minor: int, currency: str) -> str:
    return str(Money.from_minor(minor, currency))


def _exact(value: Any) -> Any:
    """Custom attributes as stored (JSON), with numbers as exact text: JSON keeps `12.5` as a
    float, which the attribute's declared type would refuse."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value
