"""Money: an exact Decimal amount with an ISO 4217 currency, rounded per currency, explicitly."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

_TWO_DECIMALS = ["AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UZS", "VES", "WST", "XCD", "YER", "ZAR", "ZMW", "ZWL"]
_ZERO_DECIMALS = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
_THREE_DECIMALS = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS, 2), **dict.fromkeys(_ZERO_DECIMALS, 0), **dict.fromkeys(_THREE_DECIMALS, 3),
}
"""Digits after the decimal point for each ISO 4217 currency."""

ROUNDING = ROUND_HALF_UP
"""Commercial rounding (half away from zero), the rule shoppers expect on a receipt."""


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def quantum(currency: str) -> Decimal:
    """The smallest unit of a currency as a Decimal exponent: 0.01 for EUR, 1 for JPY."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


@functools.lru_cache(maxsize=65536)
def _minor_units(amount: Decimal, currency: str) -> int:
    """Most amounts are exact already (no rounding needed); prices recur, so each is computed once."""
    units = amount.scaleb(MINOR_UNITS.get(currency, 2))
    if units == units.to_integral_value():
        return int(units)
    return int(Money(amount, currency).rounded().amount.scaleb(MINOR_UNITS.get(currency, 2)))


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency. Arithmetic across currencies is an error, never a guess."""

    amount: Decimal
    currency: str

    def rounded(self) -> Money:
        """Rounded to the currency's minor unit (2 digits for EUR, 0 for JPY)."""
        return Money(self.amount.quantize(quantum(self.currency), rounding=ROUNDING), self.currency)

    def minor_units(self) -> int:
        """The amount in the currency's smallest unit (cents), rounded as `rounded` does."""
        return _minor_units(self.amount, self.currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        return cls(Decimal(units).scaleb(-MINOR_UNITS.get(currency, 2)), currency)

    @classmethod
    def parse(cls, text: str, default_currency: str | None = None) -> Money:
        """`"12.50 EUR"`, or `"12.50"` with a default currency."""
        parts = str(text).split()
        if len(parts) == 2:
            amount, currency = parts
        elif len(parts) == 1 and default_currency:
            amount, currency = parts[0], default_currency
        else:
            raise ValueError(f"not an amount with a currency: {text!r}")
        if not is_currency(currency):
            raise ValueError(f"unknown currency {currency!r}")
        try:
            return cls(Decimal(amount), currency)
        except ArithmeticError:
            raise ValueError(f"not an amount: {amount!r}") from None

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
