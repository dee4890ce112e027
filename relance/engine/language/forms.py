"""The YAML forms: the project file, rule files and test files, as pydantic models.

They validate structure only; DSL strings inside them are parsed and checked by the language
pipeline. `relance schema` prints their JSON Schema for editors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relance.engine.data import types as T

LANGUAGE_VERSION = 1
PROJECT_FILES = ("relance.yaml", "relance.yml")


@dataclass(frozen=True, slots=True)
class AmountMark:
    """Marks a text field of a form as an amount (`12.50`, `12.50 EUR`). `data` amounts are put
    in the store as a shop would send them, so a test refuses them as floats (`12.5` unquoted);
    expected amounts are only read as amounts. `relance test` finds its amounts by this mark."""

    data: bool


DataAmount = Annotated[str, AmountMark(data=True)]
ExpectedAmount = Annotated[str, AmountMark(data=False)]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Guards(_Form):
    """Rule-set-wide guards on what the promotions of one cart may add up to."""

    max_discount: str | None = Field(None, description="the most all promotions together take off the items: "
                                                       "`50%` of the subtotal, or an amount such as `100 EUR`")
    exclusive: Literal["priority", "best"] = Field(
        "priority", description="when exclusive promotions compete: `priority` (the first in priority order "
                                "applies alone) or `best` (whichever gives the customer more)")


class ProjectFile(_Form):
    """`relance.yaml` at the root of a rule set (all keys optional)."""

    relance: int = Field(LANGUAGE_VERSION, description="language version of the rule files")
    name: str | None = Field(None, description="name of the rule set")
    currency: str = Field("EUR", description="default currency (ISO 4217): empty sums are zero in it")
    timezone: str = Field("UTC", description="IANA time zone for dates, `today` and calendar arithmetic")
    attributes: dict[str, str] = Field(default_factory=dict,
                                       description="custom contact attributes and their types "
                                                   "(string, number, money, bool, date, datetime, list of X)")
    channels: list[str] = Field(default_factory=lambda: ["email", "sms", "push"],
                                description="message channels")
    guards: Guards = Field(default_factory=Guards, description="rule-set-wide guards, e.g. max_discount: 50%")


class SegmentForm(_Form):
    title: str | None = None
    description: str | None = None
    when: str = Field(description="the condition a contact meets to be in the segment")


class PromotionForm(_Form):
    title: str | None = None
    description: str | None = None
    code: str | None = Field(None, description="a public code, e.g. SOCIAL500")
    code_pattern: str | None = Field(None, description="a pool of unique codes, e.g. WELC-####-????")
    code_imported: bool | None = Field(None, description="a pool of codes imported from a file")
    code_expires_after: str | None = Field(None, description="each pool code's lifetime from its issue, e.g. "
                                                             "`30 days`")
    when: str | None = Field(None, description="condition on cart, contact and history")
    reward: str | list[str] = Field(description="e.g. `10% off order up to 20 EUR`")
    exclude: str | None = Field(None, description="items never discounted nor counted, e.g. "
                                                   "`items where category == \"low-margin\"`")
    limit: str | None = Field(None, description="e.g. `1 per contact, 5000 total, budget 20000 EUR`")
    valid: str | None = Field(None, description="e.g. `2026-01-01 to 2026-12-31, days mon-fri, hours 08:00-20:00`")
    only: str | None = Field(None, description="e.g. `country \"FR\" or \"BE\", first order`")
    priority: int | None = Field(None, description="higher goes first (default 0)")
    exclusive: bool | None = Field(None, description="applies alone, or not at all")
    combines_with: str | None = Field(None, description="e.g. `order, shipping`, or `nothing`")
    base: Literal["before discounts", "after discounts"] | None = Field(
        None, description="whether the condition and reward see the cart before or after earlier discounts")


class RulesForm(_Form):
    """A YAML rule file: declarations as data, DSL strings in their condition and reward fields."""

    segments: dict[str, SegmentForm] = Field(default_factory=dict)
    promotions: dict[str, PromotionForm] = Field(default_factory=dict)


class Expectation(_Form):
    """One check of a test case: an expression's value, a segment's members, or what a cart gets."""

    expression: str | None = None
    equals: Any = None
    segment: str | None = None
    members: list[str] | None = None
    applied: str | None = Field(None, description="a promotion the cart must get")
    not_applied: str | None = Field(None, description="a promotion the cart must not get")
    refused: str | None = Field(None, description="a code (or promotion) that must be refused")
    reason: str | None = Field(None, description="with `refused`: the reason, e.g. usage_limit_reached")
    discount: ExpectedAmount | None = Field(None, description="with `applied`: its discount; alone: the cart's")
    base: ExpectedAmount | None = Field(None, description="with `applied`: the amount its discount was computed on")
    shipping_discount: ExpectedAmount | None = None
    allocations: dict[str, ExpectedAmount] | None = Field(None, description="with `applied`: discount per sku")
    gifts: list[str] | None = None
    total: ExpectedAmount | None = Field(None, description="the cart's total after discounts")
    qualify: str | None = Field(None, description="a promotion the cart could get (`qualify`)")
    missing: ExpectedAmount | None = Field(None, description="with `qualify`: the amount to add")


class Redeemed(_Form):
    """Redemptions already in the store when the case runs (to test limits and budgets)."""

    promotion: str
    count: int = Field(1, ge=1)
    contact: str | None = None
    code: str | None = None
    amount: DataAmount = "0"
    at: str | None = Field(None, description="default: the case's clock")


class Issued(_Form):
    """A pool code already issued into the store."""

    code: str
    promotion: str
    contact: str | None = None
    expires_at: str | None = None


class TestCase(_Form):
    name: str
    now: str | None = Field(None, description="the clock of this case (else the file's)")
    contacts: list[dict[str, Any]] = Field(default_factory=list)
    orders: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    cart: dict[str, Any] | None = None
    codes: list[str] = Field(default_factory=list, description="codes typed at checkout")
    redeemed: list[Redeemed] = Field(default_factory=list)
    issued: list[Issued] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list, description="promotions stopped in the store")
    contact: str | None = Field(None, description="id of the contact that expressions are evaluated for")
    expect: list[Expectation]


class TestFile(_Form):
    """`*.test.yaml` beside the rules: a clock, data, and what must follow."""

    now: str | None = None
    contacts: list[dict[str, Any]] = Field(default_factory=list)
    orders: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    tests: list[TestCase]


def attribute_type(text: str) -> T.Type | None:
    """`string`, `date`, `list of string`... or None if unknown."""
    text = text.strip()
    if text.startswith("list of "):
        element = attribute_type(text[len("list of "):])
        return T.list_of(element) if element is not None and element.kind != "list" else None
    typ = T.SCALAR_TYPES.get(text)
    return None if typ is None or typ.kind == "duration" else typ


def schemas() -> dict[str, Any]:
    """JSON Schemas of the three YAML forms: project (relance.yaml), rules (*.yaml), tests (*.test.yaml)."""
    return {
        "project": ProjectFile.model_json_schema(),
        "rules": RulesForm.model_json_schema(),
        "tests": TestFile.model_json_schema(),
    }
