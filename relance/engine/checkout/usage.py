"""What evaluation reads from the store (codes of the pool, usage counts, stopped promotions), and
the rule that says whether one more use breaks a limit (evaluation asks it, redemption asks again)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from relance.engine.checkout.results import REASONS
from relance.engine.ruleset.promotion import Promotion


@dataclass(frozen=True, slots=True)
class CodeRow:
    """A code from the store's pool (generated or imported)."""

    code: str
    code_key: str
    promotion: str
    contact_id: str | None = None
    issued_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    voided_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Redemptions that count towards a promotion's limits now (redeemed, or reserved and not expired)."""

    total: int = 0
    contact: int = 0
    contact_day: int = 0
    contact_week: int = 0
    contact_month: int = 0
    day: int = 0
    week: int = 0
    month: int = 0
    spent_minor: int = 0
    codes: Mapping[str, int] = field(default_factory=dict)


NO_USAGE = Usage()
"""A promotion nobody has used yet."""


class StoreView(Protocol):
    """What evaluation reads from the store (the ledger implements it)."""

    def disabled(self) -> frozenset[str]: ...

    def find_code(self, code_key: str) -> CodeRow | None: ...

    def usage(self, promotions: Sequence[Promotion], contact_id: str | None, code_keys: Iterable[str],
              now: dt.datetime, tz: dt.tzinfo, exclude_batch: str | None = None) -> Mapping[str, Usage]: ...


def over_limit(promotion: Promotion, used: Usage, contact_id: str | None, code_key: str | None,
               amount: int) -> tuple[str, str] | None:
    """Reason and message if one more redemption (of `amount` minor units) would break a limit.
    Evaluation asks with the smallest amount (1); redemption asks again with the real one."""
    limits = promotion.limits
    if limits.by_contact and contact_id is None:
        return "contact_required", "sign in to use this promotion (it is limited per customer)"
    checks = ((limits.total, used.total, "any more: all its uses are taken"),
              (limits.per_contact, used.contact, "any more: you have already used it"),
              (limits.per_contact_day, used.contact_day, "again today: you have already used it today"),
              (limits.per_contact_week, used.contact_week, "again this week: you have already used it this week"),
              (limits.per_contact_month, used.contact_month, "again this month: you have already used it this month"),
              (limits.per_day, used.day, "again today: today's uses are all taken"),
              (limits.per_week, used.week, "again this week: this week's uses are all taken"),
              (limits.per_month, used.month, "again this month: this month's uses are all taken"))
    for limit, count, why in checks:
        if limit is not None and count + 1 > limit:
            return "usage_limit_reached", f"this promotion cannot be used {why}"
    if limits.per_code is not None and code_key is not None and used.codes.get(code_key, 0) + 1 > limits.per_code:
        return "usage_limit_reached", "this code has already been used"
    if limits.budget_minor is not None and used.spent_minor + amount > limits.budget_minor:
        return "budget_exhausted", REASONS["budget_exhausted"]
    return None
