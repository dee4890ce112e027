"""Hypothesis strategies: random histories and random well-typed segment conditions.

The conditions are drawn from typed templates over the whole data model, so that the property
tests exercise nulls, currencies, calendars, aggregates, projections and nesting together.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)

countries = st.sampled_from(["FR", "BE", "DE", "GB", None])
statuses = st.sampled_from(["paid", "partially_paid", "pending", "cancelled"])
categories = st.sampled_from(["shoes", "socks", "low-margin", None])
event_types = st.sampled_from(["email_opened", "email_clicked", "page_viewed"])


@st.composite
def moments(draw: Any, days_back: int = 900) -> str:
    """An instant within `days_back` days before NOW, whole seconds (the clock's resolution)."""
    seconds = draw(st.integers(min_value=-5 * 86400, max_value=days_back * 86400))
    # land exactly on day boundaries now and then, where floor() and calendars bite
    if draw(st.booleans()):
        seconds -= seconds % 86400
    return (NOW - dt.timedelta(seconds=seconds)).isoformat()


@st.composite
def amounts(draw: Any) -> str:
    cents = draw(st.integers(min_value=0, max_value=40000))
    return str(Decimal(cents) / 100)


@st.composite
def contact_data(draw: Any, index: int) -> dict[str, Any]:
    cid = f"c{index}"
    orders = []
    for j in range(draw(st.integers(0, 4))):
        currency = draw(st.sampled_from(["EUR", "EUR", "EUR", "USD"]))
        items = [{"sku": f"S{k}", "category": draw(categories), "quantity": draw(st.integers(1, 3)),
                  "unit_price": draw(amounts())} for k in range(draw(st.integers(0, 2)))]
        orders.append({"id": f"{cid}o{j}", "created_at": draw(moments()), "status": draw(statuses),
                       "currency": currency, "total": draw(amounts()), "items": items,
                       "channel": draw(st.sampled_from(["web", "app", None]))})
    events = [{"id": f"{cid}e{j}", "type": draw(event_types), "at": draw(moments(400))}
              for j in range(draw(st.integers(0, 3)))]
    email = draw(st.sampled_from([f"{cid}@gmail.com", f"{cid}@yopmail.com", f"{cid}@Example.fr", None]))
    birth = draw(st.one_of(st.none(), st.dates(dt.date(1950, 1, 1), dt.date(2008, 12, 31))))
    contact = {
        "id": cid, "email": email, "country": draw(countries), "language": draw(st.sampled_from(["fr", "en", None])),
        "created_at": draw(moments(1500)), "birthdate": birth.isoformat() if birth else None,
        "consents": {"email": draw(st.booleans()), "sms": draw(st.booleans())},
        "tags": draw(st.lists(st.sampled_from(["vip", "b2b", "press"]), max_size=2, unique=True)),
        "points": draw(st.integers(0, 500)),
        "skin_type": draw(st.sampled_from(["dry", "oily", None])),
        "score": draw(st.one_of(st.none(), st.integers(0, 100))),
    }
    return {"contact": contact, "orders": orders, "events": events}


@st.composite
def datasets(draw: Any, size: int = 6) -> list[dict[str, Any]]:
    return [draw(contact_data(i)) for i in range(draw(st.integers(1, size)))]


# ---- conditions ----

ORDER_CONDS = [
    'status == "paid"', 'status in ["paid", "partially_paid"]', "total >= {m} EUR", "total < {m} USD",
    "created_at > now - {n} days", "created_at <= now - {k} months", 'channel == "web"', "channel == null",
    'any(items where category == "shoes")', "count(items) >= 1", 'not (status == "cancelled")',
    "days_since(created_at) <= {n}", "sum(items.quantity) >= 2", 'currency == "EUR"',
    "created_at + {k} hours > now - {n} days", "created_at + 1 month >= today", "date(created_at) == today - {k} days",
]
EVENT_CONDS = ['type == "email_opened"', "at > now - {n} days", 'type != "page_viewed"',
               "days_since(at) > {k}", "weekday(at) >= 6", "at >= today - {k} weeks",
               "at + {k} days < now", "at - 90 minutes > 2026-06-01"]
NUMBERS = ["count(orders)", "count(orders where {o})", "count(events where {e})", "days_since(contact.created_at)",
           "days_since(last(orders).created_at)", "days_since(first(orders where {o}).created_at)",
           "sum(orders.items.quantity)", "contact.points", "contact.score", "{n}", "month(contact.birthdate)",
           "year(contact.created_at)", "day(contact.created_at)", "days_until(anniversary(contact.birthdate))",
           "length(contact.email)", "count(contact.tags)", "floor(contact.points / 7)", "days_since(contact.birthdate)",
           "rfm.r", "rfm.f + rfm.m", "rfm.recency_days", "rfm.frequency"]
MONEYS = ["sum(orders.total)", "sum(orders.total where {o})", "avg(orders.total)", "max(orders.total where {o})",
          "min(orders.total)", "last(orders).total", "first(orders where {o}).total", "{m} EUR", "sum(orders.items.total)",
          "rfm.monetary"]
STRINGS = ["contact.country", "contact.email", "lower(contact.email)", "contact.language", "contact.skin_type",
           "upper(contact.country)", "last(orders).status", "rfm.score"]


@st.composite
def filled(draw: Any, template: str, depth: int) -> str:
    out = template
    while "{" in out:
        if "{o}" in out:
            out = out.replace("{o}", draw(order_condition(depth + 1)), 1)
        elif "{e}" in out:
            out = out.replace("{e}", draw(st.sampled_from(EVENT_CONDS)), 1)
        elif "{n}" in out:
            out = out.replace("{n}", str(draw(st.integers(0, 400))), 1)
        elif "{k}" in out:
            out = out.replace("{k}", str(draw(st.integers(0, 30))), 1)
        elif "{m}" in out:
            out = out.replace("{m}", draw(amounts()), 1)
        else:
            raise AssertionError(out)
    return out


@st.composite
def order_condition(draw: Any, depth: int = 0) -> str:
    base = draw(filled(draw(st.sampled_from(ORDER_CONDS)), depth + 2))
    if depth < 1 and draw(st.booleans()):
        other = draw(filled(draw(st.sampled_from(ORDER_CONDS)), depth + 2))
        return f"{base} {draw(st.sampled_from(['and', 'or']))} {other}"
    return base


@st.composite
def atom(draw: Any, depth: int) -> str:
    kind = draw(st.sampled_from(["number", "money", "string", "bool", "date"]))
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    if kind == "number":
        left = draw(filled(draw(st.sampled_from(NUMBERS)), depth))
        right = draw(filled(draw(st.sampled_from(NUMBERS)), depth))
        if draw(st.booleans()):
            left = f"{left} {draw(st.sampled_from(['+', '-', '*']))} {draw(st.integers(0, 9))}"
        return f"{left} {op} {right}"
    if kind == "money":
        left = draw(filled(draw(st.sampled_from(MONEYS)), depth))
        right = draw(filled(draw(st.sampled_from(MONEYS)), depth))
        if draw(st.booleans()):
            left = f"{left} * {draw(st.sampled_from(['2', '10%', '0.5']))}"
        return f"{left} {op} {right}"
    if kind == "string":
        left = draw(st.sampled_from(STRINGS))
        choice = draw(st.integers(0, 5))
        if choice == 0:
            return f'{left} in ["FR", "BE", "fr", "paid"]'
        if choice == 1:
            if draw(st.booleans()):
                return f'{left} ends with ["gmail.com", "R", "@example.fr"]'
            return f'{left} ends with "{draw(st.sampled_from(["gmail.com", "yopmail.com", "R", ""]))}"'
        if choice == 2:
            return f'{left} starts with "{draw(st.sampled_from(["c1", "F", "p"]))}"'
        if choice == 3:
            return f'{left} contains "{draw(st.sampled_from(["@", "mail", "o"]))}"'
        if choice == 4:
            return f"{left} == null" if draw(st.booleans()) else f"last(orders where {draw(order_condition(depth + 1))}) != null"
        return f'{left} {op} "{draw(st.sampled_from(["FR", "dry", "paid", "m"]))}"'
    if kind == "date":
        left = draw(st.sampled_from(["contact.created_at", "contact.birthdate", "last(orders).created_at",
                                     "contact.birthdate + 18 years", "contact.created_at + {k} months",
                                     "first(orders where {o}).created_at", "last(events where {e}).at",
                                     "max(events.at)", "anniversary(contact.birthdate)", "date(contact.created_at)"]))
        right = draw(st.sampled_from(["now - {k} months", "today - {n} days", "2026-01-01", "2025-06-15T12:00",
                                      "now", "today", "2026-03-29T02:30 Europe/Paris", "now + {k} hours"]))
        return f"{draw(filled(left, depth))} {op} {draw(filled(right, depth))}"
    options = ['"vip" in contact.tags', "contact.consents.email", "not contact.consents.sms",
               "any(orders where {o})", "all(orders where {o})", "any(events where {e})",
               'contact.tags contains "b2b"', '"b2b" not in contact.tags', "any(orders.items where category == null)",
               "rfm == null", "rfm.score in [\"555\", \"111\", \"345\"]"]
    return draw(filled(draw(st.sampled_from(options)), depth))


@st.composite
def conditions(draw: Any, depth: int = 0) -> str:
    if depth >= 2 or draw(st.integers(0, 2)) == 0:
        return draw(atom(depth))
    left = draw(conditions(depth + 1))
    right = draw(conditions(depth + 1))
    shape = draw(st.integers(0, 2))
    if shape == 0:
        return f"({left}) and ({right})"
    if shape == 1:
        return f"({left}) or ({right})"
    return f"not ({left})"


def random_base(seed: int, size: int) -> list[dict[str, Any]]:
    """A reproducible random base (for stores filled once per session, e.g. PostgreSQL)."""
    import random

    rng = random.Random(seed)

    def moment(days_back: int) -> str:
        seconds = rng.randint(-5 * 86400, days_back * 86400)
        if rng.random() < 0.5:
            seconds -= seconds % 86400
        return (NOW - dt.timedelta(seconds=seconds)).isoformat()

    def amount() -> str:
        return str(Decimal(rng.randint(0, 40000)) / 100)

    base = []
    for i in range(size):
        cid = f"p{i}"
        orders = [{"id": f"{cid}o{j}", "created_at": moment(900), "status": rng.choice(["paid", "partially_paid",
                   "pending", "cancelled"]), "currency": rng.choice(["EUR", "EUR", "EUR", "USD"]), "total": amount(),
                   "channel": rng.choice(["web", "app", None]),
                   "items": [{"sku": f"S{k}", "category": rng.choice(["shoes", "socks", "low-margin", None]),
                              "quantity": rng.randint(1, 3), "unit_price": amount()} for k in range(rng.randint(0, 2))]}
                  for j in range(rng.randint(0, 4))]
        events = [{"id": f"{cid}e{j}", "type": rng.choice(["email_opened", "email_clicked", "page_viewed"]),
                   "at": moment(400)} for j in range(rng.randint(0, 3))]
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 21000)) if rng.random() < 0.7 else None
        contact = {"id": cid, "email": rng.choice([f"{cid}@gmail.com", f"{cid}@yopmail.com", f"{cid}@Example.fr", None]),
                   "country": rng.choice(["FR", "BE", "DE", "GB", None]), "language": rng.choice(["fr", "en", None]),
                   "created_at": moment(1500), "birthdate": birth.isoformat() if birth else None,
                   "consents": {"email": rng.random() < 0.5, "sms": rng.random() < 0.5},
                   "tags": rng.sample(["vip", "b2b", "press"], rng.randint(0, 2)), "points": rng.randint(0, 500),
                   "skin_type": rng.choice(["dry", "oily", None]), "score": rng.choice([None, rng.randint(0, 100)])}
        base.append({"contact": contact, "orders": orders, "events": events})
    return base
