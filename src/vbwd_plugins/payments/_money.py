"""Money: a Decimal amount in an ISO 4217 currency, and exact conversion to minor units.

Nothing here rounds. An amount that cannot be represented exactly in a currency (or in a
provider's version of it) is rejected with :class:`~vbwd_plugins.errors.MoneyError` naming the
value, because a silently rounded charge is a wrong charge.

Provider deviations from ISO 4217 are expressed with one mechanism, :class:`CurrencyRules`:
per currency, the exponent the provider's API uses and the multiple its minor-unit amount
must be divisible by. For example Stripe sends ISK with two decimals and requires a
multiple of 100; PayPal sends HUF without decimals.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final, final

from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments._currencies import ISO_4217_EXPONENTS

__all__ = ["ISO_4217_RULES", "CurrencyRule", "CurrencyRules", "Money", "currency_exponent"]

#: Enough precision for any amount a payment API accepts (and far beyond), so that
#: quantize/scaleb never round or raise on legitimate input.
_CONTEXT: Final = decimal.Context(
    prec=80, traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow]
)
#: Amounts with more digits (either side of the point) are refused rather than computed.
_MAX_DIGITS: Final = 30
#: Minor-unit integers below this (in magnitude) convert with exact integer arithmetic: even
#: scaled by 10**8 they stay far inside ``_MAX_DIGITS`` and ``_CONTEXT``'s precision.
_EXACT_UNITS: Final = 10**18


def _normalize_code(currency: object) -> str:
    if not isinstance(currency, str):
        raise MoneyError(f"Currency code must be a string, got {currency!r}")
    code = currency.upper()
    if code not in ISO_4217_EXPONENTS:
        raise MoneyError(
            f"Unknown currency code {currency!r}: not an ISO 4217 code with minor units"
        )
    return code


def currency_exponent(currency: str) -> int:
    """The ISO 4217 number of decimal places of ``currency`` (case-insensitive)."""
    return ISO_4217_EXPONENTS[_normalize_code(currency)]


@final
@dataclass(frozen=True, slots=True)
class CurrencyRule:
    """How one provider represents one currency.

    ``exponent`` is the number of decimal places the provider's minor unit has (which may
    differ from ISO); ``multiple_of`` is what the provider's minor-unit integer must be
    divisible by (Stripe: 100 for ISK, 10 for three-decimal currencies).
    """

    exponent: int
    multiple_of: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.exponent, bool) or not isinstance(self.exponent, int):
            raise MoneyError(f"CurrencyRule exponent must be an int, got {self.exponent!r}")
        if not 0 <= self.exponent <= 8:
            raise MoneyError(f"CurrencyRule exponent must be 0..8, got {self.exponent!r}")
        if (
            isinstance(self.multiple_of, bool)
            or not isinstance(self.multiple_of, int)
            or self.multiple_of < 1
        ):
            raise MoneyError(
                f"CurrencyRule multiple_of must be a positive int, got {self.multiple_of!r}"
            )


#: The ISO 4217 rule of every currency, built once (rules are frozen, so shared).
_ISO_RULE: Final[Mapping[str, CurrencyRule]] = MappingProxyType(
    {code: CurrencyRule(exponent) for code, exponent in ISO_4217_EXPONENTS.items()}
)


@final
class CurrencyRules:
    """A provider's currency table: ISO 4217 plus its overrides.

    ``overrides`` maps currency codes to a :class:`CurrencyRule` (or a bare exponent int);
    every other currency follows ISO 4217. ``supported`` optionally restricts the
    currencies the provider accepts at all; ``None`` means every ISO currency.
    """

    __slots__ = ("_overrides", "_supported", "name")

    def __init__(
        self,
        name: str,
        overrides: Mapping[str, CurrencyRule | int] | None = None,
        *,
        supported: frozenset[str] | set[str] | None = None,
    ) -> None:
        self.name: Final = name
        table: dict[str, CurrencyRule] = {}
        for code, rule in (overrides or {}).items():
            table[_normalize_code(code)] = (
                rule if isinstance(rule, CurrencyRule) else CurrencyRule(rule)
            )
        self._overrides: Final[Mapping[str, CurrencyRule]] = MappingProxyType(table)
        self._supported: Final[frozenset[str] | None] = (
            None if supported is None else frozenset(_normalize_code(c) for c in supported)
        )

    @property
    def overrides(self) -> Mapping[str, CurrencyRule]:
        """The currencies that differ from ISO 4217."""
        return self._overrides

    @property
    def supported(self) -> frozenset[str] | None:
        """The accepted currencies, or ``None`` for every ISO 4217 currency."""
        return self._supported

    def rule_for(self, currency: str) -> CurrencyRule:
        """The rule for ``currency``; raises :class:`MoneyError` if it is not accepted."""
        code = _normalize_code(currency)
        if self._supported is not None and code not in self._supported:
            raise MoneyError(f"Currency {code} is not supported by {self.name}")
        rule = self._overrides.get(code)
        return rule if rule is not None else _ISO_RULE[code]

    def __repr__(self) -> str:
        return f"CurrencyRules({self.name!r}, {len(self._overrides)} overrides)"


#: Plain ISO 4217: the default for :class:`Money` and for providers that follow ISO.
ISO_4217_RULES: Final = CurrencyRules("ISO 4217")


def _to_decimal(amount: object) -> Decimal:
    # bool is an int subclass and float is inexact: both are refused, never coerced.
    if isinstance(amount, bool):
        raise MoneyError(f"Amount must be a Decimal, int or str, got bool {amount!r}")
    if isinstance(amount, float):
        raise MoneyError(
            f"Amount must not be a float, got {amount!r}: use Decimal({str(amount)!r}) "
            "or a string, so the value is exact"
        )
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, str):
        try:
            value = Decimal(amount.strip())
        except decimal.InvalidOperation:
            raise MoneyError(f"Amount {amount!r} is not a decimal number") from None
    else:
        raise MoneyError(
            f"Amount must be a Decimal, int or str, got {type(amount).__name__} {amount!r}"
        )
    if not value.is_finite():
        raise MoneyError(f"Amount must be a finite number, got {amount!r}")
    if value and not -_MAX_DIGITS <= value.adjusted() <= _MAX_DIGITS:
        raise MoneyError(f"Amount {amount!r} is out of range (more than {_MAX_DIGITS} digits)")
    if len(value.as_tuple().digits) > _MAX_DIGITS:
        raise MoneyError(f"Amount {amount!r} has more than {_MAX_DIGITS} significant digits")
    return value


def _scaled(value: Decimal, exponent: int) -> Decimal:
    return value.scaleb(exponent, _CONTEXT)


@final
@dataclass(frozen=True, slots=True, init=False)
class Money:
    """An exact amount of money in an ISO 4217 currency.

    ``Money("10.50", "usd")`` accepts a ``Decimal``, ``int`` or ``str`` amount and a
    case-insensitive code; the stored ``amount`` is a ``Decimal`` and ``currency`` is upper
    case. Rejected with :class:`MoneyError`: ``float`` and ``bool`` amounts, NaN and
    infinities, more significant decimal places than the currency has (``Money("1.5",
    "JPY")``; trailing zeros such as ``"100.00"`` JPY are fine), and codes that are not in
    ISO 4217 with minor units.

    Zero and negative values are valid ``Money`` (balances, differences); amounts that
    are charged, captured or refunded must be positive, which :meth:`require_positive`
    checks and :class:`~vbwd_plugins.PaymentProviderPlugin` enforces.
    """

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        code = _normalize_code(currency)
        value = _to_decimal(amount)
        exponent = ISO_4217_EXPONENTS[code]
        if _scaled(value, exponent) != _scaled(value, exponent).to_integral_value():
            raise MoneyError(
                f"Amount {value} has more decimal places than {code} allows ({exponent}); "
                "it is never rounded"
            )
        object.__setattr__(self, "currency", code)
        object.__setattr__(self, "amount", value)

    # -- minor units ---------------------------------------------------------

    @classmethod
    def from_minor_units(
        cls, units: int, currency: str, *, rules: CurrencyRules = ISO_4217_RULES
    ) -> Money:
        """The amount ``units`` minor units of ``currency`` make, under ``rules``.

        ``Money.from_minor_units(1050, "USD") == Money("10.50", "USD")``. With provider
        rules the units are the provider's (Stripe's ``1000`` ISK is ``Money("10", "ISK")``).
        """
        if isinstance(units, bool) or not isinstance(units, int):
            raise MoneyError(f"Minor units must be an int, got {type(units).__name__} {units!r}")
        rule = rules.rule_for(currency)
        if units % rule.multiple_of:
            raise MoneyError(
                f"{units} minor units of {currency.upper()} are not a multiple of "
                f"{rule.multiple_of}, as {rules.name} requires"
            )
        code = currency.upper()  # rule_for accepted it
        iso = ISO_4217_EXPONENTS[code]
        if -_EXACT_UNITS < units < _EXACT_UNITS:
            # Integer arithmetic, exact: the generic path below gives the same Decimal (same
            # digits and exponent) and only its range checks, which this size always passes.
            shift = rule.exponent - iso
            iso_units, rest = divmod(units, 10**shift) if shift > 0 else (units * 10**-shift, 0)
            if not rest:
                return cls._checked(Decimal(iso_units).scaleb(-iso, _CONTEXT), code)
        checked = cls(_scaled(Decimal(units), -rule.exponent), currency)
        # Present the amount with the currency's own decimals (Stripe's 1000 ISK -> 10).
        iso_places = Decimal(1).scaleb(-checked.exponent)
        return cls(checked.amount.quantize(iso_places, context=_CONTEXT), checked.currency)

    @classmethod
    def _checked(cls, amount: Decimal, code: str) -> Money:
        """A ``Money`` of values already validated (skips ``__init__``'s checks)."""
        money = object.__new__(cls)
        object.__setattr__(money, "amount", amount)
        object.__setattr__(money, "currency", code)
        return money

    def to_minor_units(self, rules: CurrencyRules = ISO_4217_RULES) -> int:
        """This amount as an integer of minor units (under ``rules``; ISO by default).

        Raises :class:`MoneyError` if the amount needs more decimals than the rule's
        exponent or is not a multiple the provider requires.
        """
        rule = rules.rule_for(self.currency)
        scaled = _scaled(self.amount, rule.exponent)
        if scaled != scaled.to_integral_value():
            raise MoneyError(
                f"{self} has more decimal places than {rules.name} allows for "
                f"{self.currency} ({rule.exponent}); it is never rounded"
            )
        units = int(scaled)
        if units % rule.multiple_of:
            raise MoneyError(
                f"{self} is {units} minor units on {rules.name}, which must be a multiple "
                f"of {rule.multiple_of} for {self.currency}"
            )
        return units

    def to_decimal_string(self, rules: CurrencyRules = ISO_4217_RULES) -> str:
        """The amount as a plain decimal string with exactly the rule's decimals.

        ``"10.00"`` for USD, ``"1000"`` for JPY, ``"10.500"`` for BHD; what PayPal's
        ``value`` field wants. Applies the same checks as :meth:`to_minor_units`.
        """
        exponent = rules.rule_for(self.currency).exponent
        units = self.to_minor_units(rules)
        return f"{_scaled(Decimal(units), -exponent):f}"

    # -- checks and helpers ---------------------------------------------------

    @property
    def exponent(self) -> int:
        """ISO 4217 decimal places of this currency."""
        return ISO_4217_EXPONENTS[self.currency]

    def require_positive(self, what: str = "amount") -> Money:
        """Return self, or raise :class:`MoneyError` if the amount is zero or negative."""
        if self.amount <= 0:
            raise MoneyError(f"{what.capitalize()} must be positive, got {self}")
        return self

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"
