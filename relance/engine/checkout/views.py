"""The cart as each promotion sees it while the walk stacks them: amounts left per line (minor
units), the classes stacked so far, and views of the cart and items after earlier discounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relance.engine.checkout.results import Applied, money_of
from relance.engine.data.models import Cart, Item
from relance.engine.data.money import Money
from relance.engine.ruleset.promotion import ALL_CLASSES, Promotion


@dataclass(slots=True)
class State:
    """The cart's amounts while promotions are applied (minor units), copied to try alternatives."""

    net: list[int]
    shipping: int
    applied: list[Applied] = field(default_factory=list)
    applied_promotions: list[Promotion] = field(default_factory=list)
    line_discount: int = 0
    allowed: int = ALL_CLASSES
    """The classes every applied promotion combines with (bits, as `Promotion.class_bits`)."""
    present: int = 0
    """The classes of the applied promotions."""

    def admits(self, promotion: Promotion) -> bool:
        """It stacks with every applied promotion (both ways), and is not exclusive among others."""
        if promotion.exclusive:
            return not self.applied_promotions
        return not (promotion.class_bits & ~self.allowed or self.present & ~promotion.combine_bits)

    def add(self, applied: Applied, promotion: Promotion) -> None:
        self.applied.append(applied)
        self.applied_promotions.append(promotion)
        self.allowed &= promotion.combine_bits
        self.present |= promotion.class_bits


class ItemView:
    """An item as a promotion sees it after earlier discounts: the item's fields, a smaller total
    (made into Money only if a rule reads it). Views hold no reference to the checkout, so an
    evaluation's objects form no cycle and are freed at once, not by the garbage collector."""

    __slots__ = ("_currency", "_item", "_total")

    def __init__(self, item: Item, total: int, currency: str):
        self._item, self._total, self._currency = item, total, currency

    @property
    def total(self) -> Money:
        return money_of(self._total, self._currency)

    def __getattr__(self, name: str) -> Any:  # the other fields: the item's own
        return getattr(self._item, name)


class CartView:
    """The cart as a promotion sees it: without its excluded items, after earlier discounts.
    Its items are made only if a rule reads them (most conditions read the subtotal)."""

    __slots__ = ("_amounts", "_cart", "_currency", "_gross", "_items", "_lines", "_shipping", "_subtotal")

    def __init__(self, cart: Cart, lines: list[Item], amounts: list[int], gross: list[int], shipping: int):
        self._cart, self._lines, self._amounts, self._gross, self._shipping = cart, lines, amounts, gross, shipping
        self._subtotal = sum(amounts)
        self._currency = cart.currency
        self._items: tuple[Any, ...] | None = None

    @property
    def items(self) -> tuple[Any, ...]:
        if self._items is None:
            self._items = tuple(item if amount == gross else ItemView(item, amount, self._currency)
                                for item, amount, gross in zip(self._lines, self._amounts, self._gross, strict=True))
        return self._items

    @property
    def subtotal(self) -> Money:
        return money_of(self._subtotal, self._currency)

    @property
    def shipping(self) -> Money:
        return money_of(self._shipping, self._currency)

    @property
    def total(self) -> Money:
        return money_of(self._subtotal + self._shipping, self._currency)

    def __getattr__(self, name: str) -> Any:  # currency, country, channel, codes: the cart's own
        return getattr(self._cart, name)
