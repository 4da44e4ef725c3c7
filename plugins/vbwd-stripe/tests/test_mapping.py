"""Status maps, error mapping and Stripe's currency rules, as tables."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
import requests
import stripe
from hypothesis import given
from hypothesis import strategies as st
from vbwd_stripe._currency import STRIPE_CURRENCY_RULES, iso_units, stripe_units, to_money
from vbwd_stripe._error_map import error_code_for, failure_from_stripe_error
from vbwd_stripe._status import INTENT_STATUSES, REFUND_STATUSES, intent_status, refund_status

from vbwd_plugins import (
    Money,
    PaymentErrorCode,
    PaymentStatus,
)
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import ISO_4217_EXPONENTS

#: Every PaymentIntent status in stripe 16 (provider facts) and what it means for a host.
INTENT_CASES = {
    "requires_payment_method": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.AUTHORIZED,
    "canceled": PaymentStatus.CANCELLED,
    "succeeded": PaymentStatus.COMPLETED,
}
REFUND_CASES = {
    "pending": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "succeeded": PaymentStatus.REFUNDED,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELLED,
}


@pytest.mark.parametrize(("status", "expected"), INTENT_CASES.items())
def test_every_intent_status_maps(status: str, expected: PaymentStatus) -> None:
    """Each PaymentIntent status has its PaymentStatus."""
    assert intent_status({"status": status}) is expected


def test_intent_table_covers_exactly_stripes_statuses() -> None:
    """The table has no missing and no invented statuses."""
    assert set(INTENT_STATUSES) == set(INTENT_CASES)
    assert set(REFUND_STATUSES) == set(REFUND_CASES)


@pytest.mark.parametrize(("status", "expected"), REFUND_CASES.items())
def test_every_refund_status_maps(status: str, expected: PaymentStatus) -> None:
    """Each Refund status has its PaymentStatus."""
    assert refund_status({"status": status}) is expected


def test_declined_intent_is_failed() -> None:
    """requires_payment_method after a failed attempt is FAILED, not PENDING."""
    intent = {"status": "requires_payment_method", "last_payment_error": {"type": "card_error"}}
    assert intent_status(intent) is PaymentStatus.FAILED


@pytest.mark.parametrize(
    ("refunded", "expected"),
    [
        (0, PaymentStatus.COMPLETED),
        (300, PaymentStatus.PARTIALLY_REFUNDED),
        (1000, PaymentStatus.REFUNDED),
    ],
)
def test_refunds_show_in_a_succeeded_intent(refunded: int, expected: PaymentStatus) -> None:
    """An expanded latest_charge tells refunded and partially refunded payments apart."""
    charge = {"amount": 1000, "amount_captured": 1000, "amount_refunded": refunded}
    assert intent_status({"status": "succeeded", "latest_charge": charge}) is expected


def test_unknown_status_is_pending_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A status Stripe adds later does not fail the payment; it is logged."""
    with caplog.at_level(logging.WARNING):
        assert intent_status({"status": "requires_teleportation"}) is PaymentStatus.PENDING
    assert "requires_teleportation" in caplog.text


# -- errors ---------------------------------------------------------------------------------


def _api_error(cls: Any, status: int, error: dict[str, Any]) -> stripe.StripeError:
    """An SDK exception as the SDK builds it from an HTTP answer."""
    body = {"error": error}
    headers = {"request-id": "req_123"}
    message, param, code = error.get("message"), error.get("param"), error.get("code")
    if cls in (stripe.CardError, stripe.InvalidRequestError):
        exc = cls(message, param, code, None, status, body, headers)
    else:
        exc = cls(message, None, status, body, headers)
    assert isinstance(exc, stripe.StripeError)
    return exc


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            _api_error(stripe.CardError, 402, {"type": "card_error", "code": "card_declined"}),
            PaymentErrorCode.DECLINED,
        ),
        (
            _api_error(
                stripe.CardError,
                402,
                {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                },
            ),
            PaymentErrorCode.INSUFFICIENT_FUNDS,
        ),
        (
            _api_error(
                stripe.CardError, 402, {"type": "card_error", "code": "authentication_required"}
            ),
            PaymentErrorCode.PAYER_ACTION_REQUIRED,
        ),
        (
            _api_error(stripe.InvalidRequestError, 400, {"type": "invalid_request_error"}),
            PaymentErrorCode.INVALID_REQUEST,
        ),
        (
            _api_error(
                stripe.InvalidRequestError,
                404,
                {"type": "invalid_request_error", "code": "resource_missing"},
            ),
            PaymentErrorCode.NOT_FOUND,
        ),
        (
            _api_error(stripe.IdempotencyError, 400, {"type": "idempotency_error"}),
            PaymentErrorCode.IDEMPOTENCY_CONFLICT,
        ),
        (_api_error(stripe.AuthenticationError, 401, {}), PaymentErrorCode.AUTHENTICATION_FAILED),
        (_api_error(stripe.PermissionError, 403, {}), PaymentErrorCode.PERMISSION_DENIED),
        (_api_error(stripe.RateLimitError, 429, {}), PaymentErrorCode.RATE_LIMITED),
        (
            _api_error(stripe.APIError, 500, {"type": "api_error"}),
            PaymentErrorCode.PROVIDER_UNAVAILABLE,
        ),
        (
            _api_error(stripe.APIError, 409, {"type": "api_error"}),
            PaymentErrorCode.PROVIDER_UNAVAILABLE,
        ),
        (_api_error(stripe.APIError, 200, {}), PaymentErrorCode.PROVIDER_ERROR),
        (stripe.StripeError("something new"), PaymentErrorCode.PROVIDER_ERROR),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_every_stripe_error_has_a_code(exc: stripe.StripeError, code: PaymentErrorCode) -> None:
    """Each SDK exception class (and status) maps to its standard code."""
    assert error_code_for(exc) is code
    result = failure_from_stripe_error(exc)
    assert not result.success and result.status is PaymentStatus.FAILED
    assert result.error_code is code and result.error_message


def _connection_error(cause: Exception) -> stripe.APIConnectionError:
    try:
        try:
            raise cause
        except Exception as inner:
            message = "Unexpected error communicating with Stripe."
            raise stripe.APIConnectionError(message) from inner  # type: ignore[no-untyped-call]
    except stripe.APIConnectionError as exc:
        return exc


def test_connection_errors_distinguish_timeouts() -> None:
    """A read timeout (outcome unknown) is TIMEOUT; refused or connect-timeout is UNAVAILABLE."""
    assert (
        error_code_for(_connection_error(requests.exceptions.ReadTimeout()))
        is PaymentErrorCode.TIMEOUT
    )
    assert (
        error_code_for(_connection_error(requests.exceptions.ConnectTimeout()))
        is PaymentErrorCode.PROVIDER_UNAVAILABLE
    )
    assert (
        error_code_for(_connection_error(requests.exceptions.ConnectionError()))
        is PaymentErrorCode.PROVIDER_UNAVAILABLE
    )


def test_request_id_and_details_are_kept() -> None:
    """Stripe's request id and codes land in metadata for support tickets."""
    exc = _api_error(
        stripe.CardError,
        402,
        {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "fraudulent",
            "message": "Declined",
        },
    )
    result = failure_from_stripe_error(exc, transaction_id="pi_1")
    assert result.transaction_id == "pi_1"
    assert result.error_message == "Declined"
    assert result.metadata == {
        "request_id": "req_123",
        "http_status": 402,
        "stripe_error_type": "card_error",
        "stripe_code": "card_declined",
        "decline_code": "fraudulent",
    }


# -- currencies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "units"),
    [
        (Money("10", "ISK"), 1000),
        (Money("10", "UGX"), 1000),
        (Money("1000", "JPY"), 1000),
        (Money("1000", "KRW"), 1000),
        (Money("1.230", "BHD"), 1230),
        (Money("12.34", "HUF"), 1234),
        (Money("12.34", "TWD"), 1234),
        (Money("500", "MGA"), 500),
        (Money("0.50", "USD"), 50),
    ],
)
def test_stripe_units(money: Money, units: int) -> None:
    """Stripe's minor units per its currency list."""
    assert stripe_units(money) == units
    assert to_money(units, money.currency.lower()) == money


@pytest.mark.parametrize(
    "money", [Money("1.005", "KWD"), Money("0.001", "OMR"), Money("10.50", "MGA")]
)
def test_amounts_stripe_cannot_represent(money: Money) -> None:
    """Three-decimal amounts not ending in 0, and decimals in zero-decimal MGA, are refused."""
    with pytest.raises(MoneyError):
        stripe_units(money)


def test_stripe_isk_amount_not_divisible_by_100_is_refused() -> None:
    """Stripe's ISK amounts are multiples of 100; anything else is a MoneyError."""
    with pytest.raises(MoneyError):
        iso_units(1050, "isk")


@given(
    currency=st.sampled_from(sorted(ISO_4217_EXPONENTS)),
    units=st.integers(min_value=1, max_value=99_999_999),
)
def test_round_trip_through_stripe_units(currency: str, units: int) -> None:
    """Money -> Stripe units -> Money is the identity for every amount Stripe accepts."""
    rule = STRIPE_CURRENCY_RULES.rule_for(currency)
    units -= units % rule.multiple_of
    if units == 0:
        return
    money = to_money(units, currency)
    assert stripe_units(money) == units
    assert Money.from_minor_units(iso_units(units, currency), currency) == money
    assert money.amount > Decimal(0)
