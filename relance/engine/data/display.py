"""A value shown as a marketer would write it in a rule (`relance eval`, test failures, explanations)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from relance.engine.data import types as T
from relance.engine.data import values as R
from relance.engine.data.money import Money


def show(value: Any, tz: dt.tzinfo | None = None, typ: T.Type | None = None) -> str:
    """A value as a marketer would write it in a rule: times in the rule set's zone,
    percentages as `10%`, records as their fields."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    if isinstance(value, Decimal) and typ is not None and typ.kind == "percent":
        return f"{_plain((value * 100).normalize())}%"
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        element = typ.element if typ is not None and typ.kind == "list" else None
        return "[" + ", ".join(show(v, tz, element) for v in value) + "]"
    if isinstance(value, R.Duration):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).isoformat() if tz is not None else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        fields = {k: v for k, v in value.__dict__.items() if v not in (None, (), {}) and k != "contact_id"}
        return "{" + ", ".join(f"{k}: {show(v, tz)}" for k, v in fields.items()) + "}"
    return str(value)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
