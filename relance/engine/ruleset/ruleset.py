"""A checked, compiled rule set: what `relance.load` returns and every runtime part reads.

It is immutable once built: a new version of the rules is a new RuleSet, so a shop keeps
serving the previous one until the new one has checked whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relance.engine.data import types as T
from relance.engine.data.context import Context
from relance.engine.data.errors import EvaluationError
from relance.engine.language.annotations import Annotations
from relance.engine.ruleset.promotion import Promotion, by_code, place
from relance.grammar import ast as A
from relance.grammar.diagnostics import did_you_mean


@dataclass(frozen=True, slots=True)
class Segment:
    """A named condition on a contact and its history."""

    name: str
    title: str | None
    condition: A.Expr
    predicate: Callable[[Context], bool]
    depends_on: tuple[str, ...]

    @property
    def source(self) -> str:
        return self.condition.span.path if self.condition.span else "<rules>"


@dataclass(frozen=True)
class RuleSet:
    root: Path | None
    name: str | None
    currency: str
    timezone_name: str
    timezone: dt.tzinfo
    attributes: Mapping[str, T.Type]
    guards: Mapping[str, Any]
    channels: tuple[str, ...]
    segments: Mapping[str, Segment]
    promotions: Mapping[str, Promotion]
    annotations: Annotations = field(repr=False)
    sources: Mapping[str, str] = field(repr=False)
    segment_order: tuple[str, ...] = ()
    """Segments sorted so that each comes after the segments it refers to."""
    public_codes: Mapping[str, Promotion] = field(default_factory=dict, repr=False)
    """Normalised public code -> promotion: a typed code is found in one look-up."""
    _active: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.public_codes:
            object.__setattr__(self, "public_codes", by_code(self.promotions))

    def automatic_at(self, now: dt.datetime) -> tuple[Promotion, ...]:
        """Automatic promotions open during the minute of `now`, in walk order: dates, days and hours (all
        written to the minute) are decided once per minute of the clock and kept a few minutes, so
        a cart does not scan the campaigns of past years."""
        return self._minute(now)[0]

    def automatic_for(self, now: dt.datetime, country: str | None, channel: str | None,
                      language: str | None) -> tuple[Promotion, ...]:
        """`automatic_at`, without the promotions whose `only country/channel/language` exclude
        this cart (kept per minute and per such triple: a shop has few of them)."""
        open_now, by_place = self._minute(now)
        key = place(country, channel, language)
        found = by_place.get(key)
        if found is None:
            found = by_place[key] = tuple(p for p in open_now if p.restrictions.admits(*key))
        return found

    def _minute(self, now: dt.datetime) -> tuple[tuple[Promotion, ...], dict[Any, tuple[Promotion, ...]]]:
        minute = int(now.timestamp()) // 60
        found = self._active.get(minute)
        if found is None:
            if len(self._active) > 16:
                self._active.clear()
            start = dt.datetime.fromtimestamp(minute * 60, dt.UTC)
            last = start + dt.timedelta(seconds=59)
            found = (tuple(sorted((p for p in self.promotions.values() if p.automatic and (
                p.window.refusal(start, self.timezone) is None or p.window.refusal(last, self.timezone) is None)),
                key=lambda p: p.order)), {})
            self._active[minute] = found
        return found

    def in_segment(self, name: str, ctx: Context | Mapping[str, Any]) -> bool:
        """Membership of the context's contact, computed once per context (data is validated first)."""
        if not isinstance(ctx, Context):
            ctx = self.context(ctx)
        memo = ctx.segments
        if name not in memo:
            segment = self.segments.get(name)
            if segment is None:
                hint = did_you_mean(name, self.segments)
                raise KeyError(f"no segment {name!r} in this rule set" + (f"; {hint}" if hint else ""))
            try:
                memo[name] = segment.predicate(ctx) is True
            except (ArithmeticError, TypeError, ValueError, AttributeError) as error:
                raise EvaluationError(f"segment {name}: {error}") from None
        return memo[name]

    def context(self, data: Mapping[str, Any], now: dt.datetime | None = None) -> Context:
        """Validate JSON-like data against this rule set (its time zone and attributes)."""
        return Context.from_mapping(data, self, now)

    def members(self, ctx: Context) -> list[str]:
        """Names of the segments the context's contact is in, in dependency order."""
        return [name for name in self.segment_order if self.in_segment(name, ctx)]
