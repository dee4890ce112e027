"""The named functions of the language and the aggregates' one-line docs: the table the checker types
calls from (and `docs/language.md` lists); no other function exists for a rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Function:
    params: tuple[frozenset[str], ...]
    result: str | None
    """Result kind; None means "the type of the first argument"."""
    always_nullable: bool = False
    doc: str = ""


def kinds(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


TIMES = kinds("date", "datetime")
FUNCTIONS: dict[str, Function] = {
    "days_since": Function((TIMES,), "number", doc="whole days elapsed since a date or time (negative if future)"),
    "days_until": Function((TIMES,), "number", doc="whole days until a date or time (negative if past)"),
    "lower": Function((kinds("string"),), "string", doc="text in lowercase"),
    "upper": Function((kinds("string"),), "string", doc="text in uppercase"),
    "length": Function((kinds("string", "list"),), "number", doc="number of characters, or of list items"),
    "round": Function((kinds("number", "percent", "money"),), None,
                      doc="to the nearest whole number (or percent), money to its currency's cents (half up)"),
    "floor": Function((kinds("number", "percent"),), None, doc="the whole number (or percent) at or below"),
    "abs": Function((kinds("number", "percent", "money"),), None, doc="without its sign"),
    "year": Function((TIMES,), "number", doc="the year of a date"),
    "month": Function((TIMES,), "number", doc="the month of a date, 1 to 12"),
    "day": Function((TIMES,), "number", doc="the day of the month, 1 to 31"),
    "weekday": Function((TIMES,), "number", doc="the day of the week, 1 (Monday) to 7 (Sunday)"),
    "date": Function((TIMES,), "date", doc="the calendar date of a time, in the rule set's time zone"),
    "anniversary": Function((TIMES,), "date",
                            doc="this year's anniversary of a date (29 February falls on 28 February)"),
}

AGG_DOCS = {
    "count": "number of elements", "sum": "total of numbers or amounts", "avg": "average",
    "min": "smallest", "max": "largest", "first": "earliest element", "last": "latest element",
    "any": "whether at least one element matches", "all": "whether every element matches",
}
