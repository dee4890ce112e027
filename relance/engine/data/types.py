"""The types the checker gives every expression, and how they read in messages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Type:
    """kind: number, percent, money, string, bool, date, datetime, duration, null, list, record.

    Money carries its currency when it is known at check time (literals) and None when it is
    only known at run time (an order's total). A list has an element type; a record a name.
    """

    kind: str
    currency: str | None = None
    element: Type | None = None
    record: str | None = None

    def __str__(self) -> str:
        if self.kind == "money":
            return f"amount in {self.currency}" if self.currency else "amount"
        if self.kind == "list":
            assert self.element is not None
            if self.element.kind == "record":
                return f"a collection of {self.element.record}s"
            return f"a list of {self.element}"
        if self.kind == "record":
            return f"{'an' if (self.record or 'x')[0] in 'aeiou' else 'a'} {self.record}"
        return WORDS.get(self.kind, self.kind)


WORDS = {
    "number": "number", "percent": "percentage", "string": "text", "bool": "yes/no (true or false)",
    "date": "date", "datetime": "date and time", "duration": "duration", "null": "null",
}

NUMBER = Type("number")
PERCENT = Type("percent")
MONEY = Type("money")
STRING = Type("string")
BOOL = Type("bool")
DATE = Type("date")
DATETIME = Type("datetime")
DURATION = Type("duration")
NULL = Type("null")


def money(currency: str | None) -> Type:
    return Type("money", currency=currency)


def list_of(element: Type) -> Type:
    return Type("list", element=element)


def record(name: str) -> Type:
    return Type("record", record=name)


NUMERIC = {"number", "percent"}
ORDERED = {"number", "percent", "money", "string", "date", "datetime"}
SCALAR_TYPES = {"number": NUMBER, "percent": PERCENT, "money": MONEY, "string": STRING, "text": STRING,
                "bool": BOOL, "date": DATE, "datetime": DATETIME, "duration": DURATION}


def compatible(a: Type, b: Type) -> bool:
    """Whether two values may be compared for equality or order (null goes with anything)."""
    if a.kind == "null" or b.kind == "null":
        return True
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return True
    if {a.kind, b.kind} == {"date", "datetime"}:
        return True
    if a.kind != b.kind:
        return False
    if a.kind == "money":
        return a.currency is None or b.currency is None or a.currency == b.currency
    if a.kind == "list":
        assert a.element is not None and b.element is not None
        return compatible(a.element, b.element)
    if a.kind == "record":
        return a.record == b.record
    return True


def unify(a: Type, b: Type) -> Type:
    """The common type of two compatible values (for list literals)."""
    if a.kind == "null":
        return b
    if b.kind == "null":
        return a
    if a.kind == "money" and a.currency != b.currency:
        return money(None)
    if a.kind in NUMERIC and b.kind != a.kind:
        return NUMBER
    if {a.kind, b.kind} == {"date", "datetime"}:
        return DATETIME
    return a


def describe(typ: Type) -> str:
    """`a number`, `an amount in EUR`, `a collection of orders`: a type in a sentence."""
    return with_article(typ)


def with_article(typ: Type) -> str:
    text = str(typ)
    if text.startswith(("a ", "an ")):
        return text
    return ("an " if text[:1] in "aeiou" else "a ") + text


def kinds_in_words(kinds: frozenset[str]) -> str:
    names = sorted(WORDS.get(k, "list" if k == "list" else k) for k in kinds)
    return " or ".join(with_article(Type(k)) if k != "list" else "a list" for k in sorted(kinds)) if names else "?"
