"""Stripe's currency rules, where its API differs from ISO 4217.

Source: Stripe's "Supported currencies" documentation (zero-decimal, three-decimal and
special cases), as summarised in the project's provider facts:

* zero-decimal on Stripe although ISO has two decimals: ``MGA``;
* ``ISK`` and ``UGX`` are sent as two-decimal amounts that must be divisible by 100
  (ISO has no decimals for them), so ``Money("10", "ISK")`` is ``1000`` on the wire;
* three-decimal currencies (``BHD JOD KWD OMR TND``) must end in 0: ``Money("1.005",
  "KWD")`` cannot be charged on Stripe and is refused before any request is made.

Every other currency follows ISO 4217 (``JPY`` ``KRW`` ``CLP`` ... have no decimals in
both). ``HUF`` and ``TWD`` are charged with decimals; only their *payouts* must be
divisible by 100, which is not a charge rule.
"""

from __future__ import annotations

from typing import Final

from vbwd_plugins import Money
from vbwd_plugins.payments import (
    CurrencyRule,
    CurrencyRules,
)

__all__ = ["STRIPE_CURRENCY_RULES", "iso_units", "stripe_units", "to_money"]

STRIPE_CURRENCY_RULES: Final = CurrencyRules(
    "Stripe",
    {
        "MGA": CurrencyRule(0),
        "ISK": CurrencyRule(2, multiple_of=100),
        "UGX": CurrencyRule(2, multiple_of=100),
        "BHD": CurrencyRule(3, multiple_of=10),
        "JOD": CurrencyRule(3, multiple_of=10),
        "KWD": CurrencyRule(3, multiple_of=10),
        "OMR": CurrencyRule(3, multiple_of=10),
        "TND": CurrencyRule(3, multiple_of=10),
    },
)


def stripe_units(money: Money) -> int:
    """``money`` as the integer Stripe's ``amount`` parameter wants."""
    return money.to_minor_units(STRIPE_CURRENCY_RULES)


def to_money(units: int, currency: str) -> Money:
    """A Stripe ``amount``/``currency`` pair (lower-case code) as :class:`Money`."""
    return Money.from_minor_units(units, currency, rules=STRIPE_CURRENCY_RULES)


def iso_units(units: int, currency: str) -> int:
    """A Stripe amount converted to ISO 4217 minor units (what results and events carry)."""
    return to_money(units, currency).to_minor_units()
