"""Money: exact minor-unit conversion for every ISO 4217 currency, and provider rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import Money
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import (
    ISO_4217_EXPONENTS,
    ISO_4217_RULES,
    CurrencyRule,
    CurrencyRules,
    currency_exponent,
)

CURRENCIES = sorted(ISO_4217_EXPONENTS)

#: Stripe's documented deviations (provider-facts.md), expressed with the core mechanism.
STRIPE = CurrencyRules(
    "stripe",
    {
        "ISK": CurrencyRule(2, 100),
        "UGX": CurrencyRule(2, 100),
        "MGA": 0,
        "BHD": CurrencyRule(3, 10),
        "JOD": CurrencyRule(3, 10),
        "KWD": CurrencyRule(3, 10),
        "OMR": CurrencyRule(3, 10),
        "TND": CurrencyRule(3, 10),
    },
)
#: PayPal: HUF, JPY and TWD without decimals.
PAYPAL = CurrencyRules("paypal", {"HUF": 0, "JPY": 0, "TWD": 0})


@st.composite
def money(draw: st.DrawFn) -> Money:
    """Any valid Money in any ISO currency, with up to the currency's decimals."""
    code = draw(st.sampled_from(CURRENCIES))
    units = draw(st.integers(min_value=-(10**15), max_value=10**15))
    return Money(Decimal(units).scaleb(-ISO_4217_EXPONENTS[code]), code)


# -- the table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("CLP", 0),
        ("ISK", 0),
        ("UGX", 0),
        ("VND", 0),
        ("XOF", 0),
        ("BHD", 3),
        ("IQD", 3),
        ("JOD", 3),
        ("KWD", 3),
        ("LYD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
        ("HUF", 2),
        ("TWD", 2),
        ("MGA", 2),
    ],
)
def test_iso_exponents(code: str, exponent: int) -> None:
    """The table holds ISO 4217's minor units, including 0-, 3- and 4-decimal currencies."""
    assert ISO_4217_EXPONENTS[code] == exponent
    assert currency_exponent(code.lower()) == exponent


@pytest.mark.parametrize("code", ["XAU", "XAG", "XDR", "XTS", "XXX", "HRK", "ANG", "ZWL", "SLL"])
def test_codes_without_minor_units_or_withdrawn_are_unknown(code: str) -> None:
    """Codes with no minor unit (metals, XDR, XXX) and withdrawn codes are rejected."""
    assert code not in ISO_4217_EXPONENTS
    with pytest.raises(MoneyError, match=code):
        Money("1", code)


def test_table_is_read_only() -> None:
    """The exponent table cannot be modified at runtime."""
    with pytest.raises(TypeError):
        ISO_4217_EXPONENTS["USD"] = 3  # type: ignore[index]


# -- identity ------------------------------------------------------------------------


@given(money())
def test_money_to_minor_units_and_back_is_identity(value: Money) -> None:
    """For every currency, Money -> minor units -> Money gives the same Money."""
    assert Money.from_minor_units(value.to_minor_units(), value.currency) == value


@given(st.sampled_from(CURRENCIES), st.integers(min_value=-(10**18), max_value=10**18))
def test_minor_units_to_money_and_back_is_identity(code: str, units: int) -> None:
    """For every currency, minor units -> Money -> minor units gives the same integer."""
    assert Money.from_minor_units(units, code).to_minor_units() == units


@given(money())
def test_decimal_string_has_exactly_the_currency_decimals(value: Money) -> None:
    """to_decimal_string shows exactly the exponent's decimals and parses back exactly."""
    text = value.to_decimal_string()
    assert Decimal(text) == value.amount
    decimals = len(text.partition(".")[2])
    assert decimals == value.exponent


@pytest.mark.parametrize(
    ("amount", "code", "text", "units"),
    [
        ("10", "USD", "10.00", 1000),
        ("10.5", "USD", "10.50", 1050),
        ("1000", "JPY", "1000", 1000),
        ("10.5", "BHD", "10.500", 10500),
        ("1.2345", "CLF", "1.2345", 12345),
        ("100.00", "JPY", "100", 100),
    ],
)
def test_examples(amount: str, code: str, text: str, units: int) -> None:
    """Worked examples: decimal strings and minor units per currency."""
    value = Money(amount, code)
    assert value.to_decimal_string() == text
    assert value.to_minor_units() == units


# -- rejections ------------------------------------------------------------------------


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(CURRENCIES))
def test_floats_are_rejected(amount: float, code: str) -> None:
    """A float amount raises MoneyError naming the value, whatever its value."""
    with pytest.raises(MoneyError, match="float"):
        Money(amount, code)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [True, False, None, [1], b"1"])
def test_non_numeric_amounts_are_rejected(amount: object) -> None:
    """Bools, None and other types raise MoneyError."""
    with pytest.raises(MoneyError):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["abc", "", "NaN", "Infinity", "-inf", Decimal("NaN"), "1e40"])
def test_non_finite_or_absurd_amounts_are_rejected(amount: object) -> None:
    """Unparseable, NaN, infinite and absurdly large amounts raise MoneyError."""
    with pytest.raises(MoneyError):
        Money(amount, "USD")  # type: ignore[arg-type]


@given(
    st.sampled_from(CURRENCIES),
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=1, max_value=9),
)
def test_extra_decimal_places_are_rejected_not_rounded(code: str, units: int, digit: int) -> None:
    """One significant decimal more than the currency allows raises MoneyError naming it."""
    exponent = ISO_4217_EXPONENTS[code]
    amount = Decimal(units * 10 + digit).scaleb(-(exponent + 1))
    with pytest.raises(MoneyError, match=str(amount)):
        Money(amount, code)


@given(st.text(min_size=0, max_size=5))
def test_unknown_currency_codes_are_rejected(code: str) -> None:
    """Any string that is not an ISO code with minor units raises MoneyError."""
    if code.upper() in ISO_4217_EXPONENTS:
        return
    with pytest.raises(MoneyError, match="currency"):
        Money("1", code)


@pytest.mark.parametrize("code", [None, 840, b"USD"])
def test_non_string_currency_is_rejected(code: object) -> None:
    """A currency that is not a string raises MoneyError."""
    with pytest.raises(MoneyError):
        Money("1", code)  # type: ignore[arg-type]


@given(st.sampled_from(CURRENCIES), st.integers(min_value=-(10**18), max_value=0))
def test_require_positive_rejects_zero_and_negative(code: str, units: int) -> None:
    """Zero and negative amounts are valid Money but not valid charge amounts."""
    value = Money.from_minor_units(units, code)
    with pytest.raises(MoneyError, match="positive"):
        value.require_positive("charge amount")


def test_from_minor_units_rejects_non_int() -> None:
    """Minor units must be an int (not a float, bool or Decimal)."""
    for units in (10.0, True, Decimal(10)):
        with pytest.raises(MoneyError):
            Money.from_minor_units(units, "USD")  # type: ignore[arg-type]


# -- value semantics ---------------------------------------------------------------------


def test_money_is_normalized_and_frozen() -> None:
    """The code is upper-cased, equal amounts compare equal, and Money is immutable."""
    value = Money("10.5", "usd")
    assert value.currency == "USD"
    assert value == Money(Decimal("10.50"), "USD")
    assert hash(value) == hash(Money("10.50", "USD"))
    assert str(value) == "10.5 USD"
    with pytest.raises(AttributeError):
        value.amount = Decimal(1)  # type: ignore[misc]


def test_int_amounts_are_accepted() -> None:
    """An int amount is major units."""
    assert Money(10, "EUR").to_minor_units() == 1000


# -- provider rules ------------------------------------------------------------------------


def test_stripe_sends_isk_with_two_decimals_divisible_by_100() -> None:
    """Stripe ISK: 10 ISK is 1000 on the wire; 1050 cannot be represented."""
    assert Money("10", "ISK").to_minor_units(STRIPE) == 1000
    assert Money.from_minor_units(1000, "ISK", rules=STRIPE) == Money("10", "ISK")
    assert str(Money.from_minor_units(1000, "ISK", rules=STRIPE)) == "10 ISK"
    with pytest.raises(MoneyError, match="multiple of 100"):
        Money.from_minor_units(1050, "ISK", rules=STRIPE)


def test_stripe_three_decimal_amounts_must_end_in_zero() -> None:
    """Stripe BHD: 1.010 is 1010; 1.005 is refused, never rounded."""
    assert Money("1.01", "BHD").to_minor_units(STRIPE) == 1010
    with pytest.raises(MoneyError, match=r"1\.005 BHD"):
        Money("1.005", "BHD").to_minor_units(STRIPE)


def test_stripe_zero_decimal_override() -> None:
    """A currency ISO gives decimals can be zero-decimal on a provider (Stripe MGA)."""
    assert Money("100", "MGA").to_minor_units(STRIPE) == 100
    with pytest.raises(MoneyError, match="stripe"):
        Money("100.50", "MGA").to_minor_units(STRIPE)


@pytest.mark.parametrize("code", ["HUF", "JPY", "TWD"])
def test_paypal_sends_huf_jpy_twd_without_decimals(code: str) -> None:
    """PayPal: whole amounts format without decimals; fractional ones are refused."""
    assert Money("1500", code).to_decimal_string(PAYPAL) == "1500"
    if ISO_4217_EXPONENTS[code]:
        with pytest.raises(MoneyError, match="paypal"):
            Money("10.50", code).to_decimal_string(PAYPAL)


def test_paypal_usd_follows_iso() -> None:
    """Currencies without an override follow ISO 4217."""
    assert Money("10", "USD").to_decimal_string(PAYPAL) == "10.00"


@given(money(), st.sampled_from([STRIPE, PAYPAL, ISO_4217_RULES]))
def test_provider_rules_round_trip_or_refuse(value: Money, rules: CurrencyRules) -> None:
    """Under any rules an amount converts exactly and back, or raises MoneyError."""
    try:
        units = value.to_minor_units(rules)
    except MoneyError:
        return
    assert Money.from_minor_units(units, value.currency, rules=rules) == value


def test_supported_currencies_restrict_rules() -> None:
    """A currency outside ``supported`` raises MoneyError naming provider and code."""
    rules = CurrencyRules("acme", supported={"usd", "EUR"})
    assert rules.supported == frozenset({"USD", "EUR"})
    assert Money("1", "EUR").to_minor_units(rules) == 100
    with pytest.raises(MoneyError, match="GBP is not supported by acme"):
        Money("1", "GBP").to_minor_units(rules)


@pytest.mark.parametrize(
    ("exponent", "multiple"), [(-1, 1), (9, 1), (2, 0), (True, 1), (2, False), ("2", 1)]
)
def test_invalid_currency_rules_are_rejected(exponent: object, multiple: object) -> None:
    """A CurrencyRule with an impossible exponent or multiple raises MoneyError."""
    with pytest.raises(MoneyError):
        CurrencyRule(exponent, multiple)  # type: ignore[arg-type]


def test_rules_reject_unknown_override_codes() -> None:
    """Overrides must name ISO codes."""
    with pytest.raises(MoneyError, match="XYZ"):
        CurrencyRules("acme", {"XYZ": 2})


def test_amounts_beyond_thirty_digits_are_refused() -> None:
    """Amounts with more than 30 digits are refused rather than computed."""
    with pytest.raises(MoneyError, match="digits"):
        Money.from_minor_units(10**31, "USD")


def _generic_from_minor_units(units: int, currency: str, rules: CurrencyRules) -> Money:
    """from_minor_units as the general Decimal computation (the reference for its fast path)."""
    import decimal

    context = decimal.Context(
        prec=80, traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow]
    )
    rule = rules.rule_for(currency)
    if units % rule.multiple_of:
        raise MoneyError("not a multiple")
    checked = Money(Decimal(units).scaleb(-rule.exponent, context), currency)
    places = Decimal(1).scaleb(-checked.exponent)
    return Money(checked.amount.quantize(places, context=context), checked.currency)


_UNITS = (
    st.integers(min_value=-(10**21), max_value=10**21)
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([10**18 - 1, 10**18, -(10**18) + 1, -(10**18), 0])
    | st.integers(min_value=-(10**4), max_value=10**4).map(lambda n: n * 100)
)


@given(
    units=_UNITS,
    currency=st.sampled_from(CURRENCIES).flatmap(lambda c: st.sampled_from([c, c.lower()])),
    rules=st.sampled_from([ISO_4217_RULES, STRIPE, PAYPAL]),
)
def test_from_minor_units_equals_the_general_decimal_computation(
    units: int, currency: str, rules: CurrencyRules
) -> None:
    """Same amount (digits and exponent) and currency, or a MoneyError, as the Decimal path."""
    try:
        expected = _generic_from_minor_units(units, currency, rules)
    except MoneyError:
        with pytest.raises(MoneyError):
            Money.from_minor_units(units, currency, rules=rules)
        return
    money = Money.from_minor_units(units, currency, rules=rules)
    assert money == expected
    assert money.amount.as_tuple() == expected.amount.as_tuple()
    assert money.currency == expected.currency


def test_iso_rules_are_the_currencys_exponent() -> None:
    """rule_for under plain ISO gives the currency's ISO exponent, whatever the case."""
    for code in CURRENCIES:
        assert ISO_4217_RULES.rule_for(code.lower()) == CurrencyRule(ISO_4217_EXPONENTS[code])
