"""Payment operations: the real stripe SDK over real HTTP against the fake Stripe API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import FakeStripe, Scripted

from vbwd_plugins import (
    Money,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)
from vbwd_plugins.errors import MoneyError

SUB = uuid.UUID("00000000-0000-4000-8000-000000000001")
USER = uuid.UUID("00000000-0000-4000-8000-000000000002")


def _create(
    plugin: StripePlugin, amount: str = "10.00", currency: str = "USD", **kw: Any
) -> PaymentResult:
    return plugin.create_payment_intent(Decimal(amount), currency, SUB, USER, **kw)


def _paid(plugin: StripePlugin, amount: str = "10.00", currency: str = "USD") -> str:
    created = _create(plugin, amount, currency)
    assert created.transaction_id is not None
    result = plugin.process_payment(created.transaction_id, "pm_card_visa")
    assert result.status is PaymentStatus.COMPLETED, result
    return created.transaction_id


# -- create ------------------------------------------------------------------------


def test_create_sends_minor_units_metadata_and_returns_pending(
    plugin: StripePlugin, fake: FakeStripe
) -> None:
    """create_payment_intent posts minor units, a lower-case currency and our metadata."""
    result = plugin.create_payment_intent(
        Decimal("10.50"), "usd", SUB, USER, {"plan": "pro", "seats": 3, "subscription_id": "x"}
    )
    assert result.success and result.status is PaymentStatus.PENDING
    assert result.transaction_id in fake.intents
    assert (result.amount, result.currency) == (1050, "USD")
    assert result.metadata["client_secret"].startswith(result.transaction_id)
    assert result.metadata["request_id"].startswith("req_")
    sent = fake.requests_to("/v1/payment_intents")[0].params
    assert sent["amount"] == "1050"
    assert sent["currency"] == "usd"
    assert sent["metadata[subscription_id]"] == str(SUB)  # ours win over the caller's
    assert sent["metadata[user_id]"] == str(USER)
    assert sent["metadata[plan]"] == "pro"
    assert sent["metadata[seats]"] == "3"
    assert "capture_method" not in sent


@pytest.mark.parametrize(
    ("amount", "currency", "wire", "iso"),
    [
        ("1000", "JPY", "1000", 1000),
        ("1000", "ISK", "100000", 1000),
        ("5000", "UGX", "500000", 5000),
        ("1.230", "KWD", "1230", 1230),
        ("12.50", "EUR", "1250", 1250),
        ("500", "MGA", "500", 50000),
    ],
)
def test_create_uses_stripe_currency_rules(
    plugin: StripePlugin, fake: FakeStripe, amount: str, currency: str, wire: str, iso: int
) -> None:
    """Amounts go out in Stripe's minor units and come back in ISO 4217 minor units."""
    result = _create(plugin, amount, currency)
    assert result.success, result
    assert fake.requests_to("/v1/payment_intents")[0].params["amount"] == wire
    assert (result.amount, result.currency) == (iso, currency)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.005", "KWD"), ("10.5", "MGA"), ("1.5", "JPY"), ("10.001", "USD"), ("0", "USD")],
)
def test_amounts_stripe_cannot_take_are_refused_before_any_request(
    plugin: StripePlugin, fake: FakeStripe, amount: str, currency: str
) -> None:
    """Amounts not representable on Stripe raise MoneyError and send nothing."""
    with pytest.raises(MoneyError):
        _create(plugin, amount, currency)
    assert fake.requests == []


def test_float_amount_is_refused(plugin: StripePlugin, fake: FakeStripe) -> None:
    """A float amount raises MoneyError, never silently converted."""
    with pytest.raises(MoneyError):
        plugin.create_payment_intent(10.5, "USD", SUB, USER)  # type: ignore[arg-type]
    assert fake.requests == []


# -- confirm, capture, cancel ---------------------------------------------------------


def test_process_payment_confirms_and_completes(plugin: StripePlugin, fake: FakeStripe) -> None:
    """process_payment confirms the intent with the payment method: COMPLETED."""
    created = _create(plugin)
    assert created.transaction_id is not None
    result = plugin.process_payment(created.transaction_id, "pm_card_visa")
    assert result.success and result.status is PaymentStatus.COMPLETED
    assert (result.transaction_id, result.amount, result.currency) == (
        created.transaction_id,
        1000,
        "USD",
    )
    confirm = fake.requests_to(r"/v1/payment_intents/pi_\w+/confirm")[0]
    assert confirm.params == {"payment_method": "pm_card_visa"}


def test_manual_capture_authorizes_then_captures(plugin: StripePlugin, fake: FakeStripe) -> None:
    """manual_capture=True gives AUTHORIZED; capture_payment completes it."""
    created = _create(plugin, manual_capture=True)
    assert created.transaction_id is not None
    assert fake.requests_to("/v1/payment_intents")[0].params["capture_method"] == "manual"
    authorized = plugin.process_payment(created.transaction_id, "pm_card_visa")
    assert authorized.success and authorized.status is PaymentStatus.AUTHORIZED
    captured = plugin.capture_payment(created.transaction_id)
    assert captured.success and captured.status is PaymentStatus.COMPLETED
    assert captured.amount == 1000


def test_partial_capture_sends_amount_to_capture(plugin: StripePlugin, fake: FakeStripe) -> None:
    """capture_payment with an amount captures that amount only."""
    created = _create(plugin, manual_capture=True)
    assert created.transaction_id is not None
    plugin.process_payment(created.transaction_id, "pm_card_visa")
    captured = plugin.capture_payment(created.transaction_id, Money("7.25", "USD"))
    assert captured.success and captured.amount == 725
    capture = fake.requests_to(r"/v1/payment_intents/pi_\w+/capture")[0]
    assert capture.params == {"amount_to_capture": "725"}


def test_cancel_voids_an_authorization(plugin: StripePlugin, fake: FakeStripe) -> None:
    """cancel_payment on an authorized intent: CANCELLED."""
    created = _create(plugin, manual_capture=True)
    assert created.transaction_id is not None
    plugin.process_payment(created.transaction_id, "pm_card_visa")
    cancelled = plugin.cancel_payment(created.transaction_id, idempotency_key="cancel-1")
    assert cancelled.success and cancelled.status is PaymentStatus.CANCELLED
    assert fake.intents[created.transaction_id]["status"] == "canceled"


def test_cancelling_a_succeeded_payment_is_an_invalid_request(plugin: StripePlugin) -> None:
    """Stripe's 400 for a wrong state becomes INVALID_REQUEST with the intent id."""
    intent_id = _paid(plugin)
    result = plugin.cancel_payment(intent_id)
    assert not result.success and result.status is PaymentStatus.FAILED
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert result.transaction_id == intent_id
    assert result.metadata["stripe_code"] == "payment_intent_unexpected_state"
    assert result.metadata["http_status"] == 400


def test_requires_action_is_reported_with_the_client_secret(plugin: StripePlugin) -> None:
    """A card needing 3-D Secure: REQUIRES_ACTION, PAYER_ACTION_REQUIRED, client_secret."""
    created = _create(plugin)
    assert created.transaction_id is not None
    result = plugin.process_payment(created.transaction_id, "pm_card_authenticationRequired")
    assert not result.success
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.error_code is PaymentErrorCode.PAYER_ACTION_REQUIRED
    assert result.metadata["client_secret"] == created.metadata["client_secret"]


# -- refunds and lookups --------------------------------------------------------------


def test_full_refund(plugin: StripePlugin, fake: FakeStripe) -> None:
    """refund_payment without an amount refunds everything; get_payment says REFUNDED."""
    intent_id = _paid(plugin, "25.00")
    refund = plugin.refund_payment(intent_id, idempotency_key="refund-full")
    assert refund.success and refund.status is PaymentStatus.REFUNDED
    assert refund.transaction_id in fake.refunds
    assert (refund.amount, refund.currency) == (2500, "USD")
    sent = fake.requests_to("/v1/refunds")[0]
    assert "amount" not in sent.params
    assert sent.params["metadata[subscription_id]"] == str(SUB)
    assert sent.idempotency_key == "refund-full"
    assert plugin.get_payment(intent_id).status is PaymentStatus.REFUNDED


def test_partial_refunds_report_each_amount(plugin: StripePlugin, fake: FakeStripe) -> None:
    """Partial refunds (Money and Decimal) each carry their own amount."""
    intent_id = _paid(plugin, "10.00")
    first = plugin.refund_payment(intent_id, Money("3.00", "USD"))
    second = plugin.refund_payment(intent_id, Decimal("2.50"))
    assert (first.amount, second.amount) == (300, 250)
    assert [r.params["amount"] for r in fake.requests_to("/v1/refunds")] == ["300", "250"]
    current = plugin.get_payment(intent_id)
    assert current.status is PaymentStatus.PARTIALLY_REFUNDED
    assert current.metadata["amount_refunded"] == 550


def test_refund_in_another_currency_is_refused(plugin: StripePlugin, fake: FakeStripe) -> None:
    """A Money refund in a currency other than the payment's raises, refunding nothing."""
    intent_id = _paid(plugin)
    with pytest.raises(MoneyError, match="currency"):
        plugin.refund_payment(intent_id, Money("5", "JPY"))
    assert fake.requests_to("/v1/refunds") == []


def test_refund_more_than_paid_is_an_invalid_request(plugin: StripePlugin) -> None:
    """Stripe's refusal of an over-refund is a failed INVALID_REQUEST result."""
    intent_id = _paid(plugin, "1.00")
    result = plugin.refund_payment(intent_id, Money("2.00", "USD"))
    assert not result.success
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST


def test_pending_refund(plugin: StripePlugin, fake: FakeStripe) -> None:
    """A refund Stripe has not settled yet is a successful PENDING result."""
    intent_id = _paid(plugin)
    fake.refund_status = "pending"
    refund = plugin.refund_payment(intent_id)
    assert refund.success and refund.status is PaymentStatus.PENDING


def test_get_payment_of_unknown_id_is_not_found(plugin: StripePlugin) -> None:
    """A 404 from Stripe is NOT_FOUND."""
    result = plugin.get_payment("pi_does_not_exist")
    assert not result.success
    assert result.error_code is PaymentErrorCode.NOT_FOUND
    assert result.transaction_id == "pi_does_not_exist"


def test_get_payment_after_a_decline_is_failed(plugin: StripePlugin) -> None:
    """An intent whose last attempt was declined reads back as FAILED with the reason."""
    created = _create(plugin)
    assert created.transaction_id is not None
    plugin.process_payment(created.transaction_id, "pm_card_chargeDeclinedInsufficientFunds")
    current = plugin.get_payment(created.transaction_id)
    assert current.status is PaymentStatus.FAILED and not current.success
    assert current.error_code is PaymentErrorCode.INSUFFICIENT_FUNDS


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payment_method", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", PaymentErrorCode.DECLINED, "generic_decline"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            PaymentErrorCode.INSUFFICIENT_FUNDS,
            "insufficient_funds",
        ),
        ("pm_card_chargeDeclinedExpiredCard", PaymentErrorCode.DECLINED, "expired_card"),
    ],
)
def test_card_decline_is_a_failed_result(
    plugin: StripePlugin,
    fake: FakeStripe,
    payment_method: str,
    code: PaymentErrorCode,
    decline_code: str,
) -> None:
    """A 402 card error becomes a failed result with the decline code and request id."""
    created = _create(plugin)
    assert created.transaction_id is not None
    result = plugin.process_payment(created.transaction_id, payment_method)
    assert not result.success and result.status is PaymentStatus.FAILED
    assert result.error_code is code
    assert result.transaction_id == created.transaction_id
    assert result.error_message
    assert result.metadata["decline_code"] == decline_code
    assert result.metadata["http_status"] == 402
    assert result.metadata["stripe_error_type"] == "card_error"
    assert result.metadata["request_id"].startswith("req_")
    assert len(fake.requests_to(r"/v1/payment_intents/pi_\w+/confirm")) == 1  # never retried


def test_429_then_success_is_retried(plugin: StripePlugin, fake: FakeStripe) -> None:
    """A 429 Stripe marks retryable is retried with the same idempotency key."""
    fake.script(
        fake.fail(
            429,
            "invalid_request_error",
            "Lock timeout",
            code="lock_timeout",
            headers={"Stripe-Should-Retry": "true"},
        )
    )
    result = _create(plugin, idempotency_key="sub-1-attempt-1")
    assert result.success, result
    attempts = fake.requests_to("/v1/payment_intents")
    assert [r.idempotency_key for r in attempts] == ["sub-1-attempt-1"] * 2
    assert len(fake.intents) == 1


def test_429_is_rate_limited(plugin: StripePlugin, fake: FakeStripe) -> None:
    """A plain 429 is not retried by the SDK and becomes RATE_LIMITED (retryable)."""
    fake.script(fake.fail(429, "invalid_request_error", "Too many requests", code="rate_limit"))
    result = _create(plugin)
    assert result.error_code is PaymentErrorCode.RATE_LIMITED
    assert result.error_code.retryable
    assert len(fake.requests) == 1


def test_500_then_success_is_retried(plugin: StripePlugin, fake: FakeStripe) -> None:
    """A 500 is retried (max_network_retries) and the payment is created once."""
    fake.script(fake.fail(500), fake.fail(500))
    result = _create(plugin, idempotency_key="sub-2-attempt-1")
    assert result.success, result
    attempts = fake.requests_to("/v1/payment_intents")
    assert [r.idempotency_key for r in attempts] == ["sub-2-attempt-1"] * 3
    assert len(fake.intents) == 1


def test_retries_are_bounded_by_max_network_retries(
    fake: FakeStripe, make_plugin: Callable[..., StripePlugin]
) -> None:
    """With max_network_retries=1 a persistent 500 is tried twice: PROVIDER_UNAVAILABLE."""
    plugin = make_plugin(fake, max_network_retries=1)
    fake.script(fake.fail(500), fake.fail(500), fake.fail(500))
    result = _create(plugin)
    assert result.error_code is PaymentErrorCode.PROVIDER_UNAVAILABLE
    assert len(fake.requests) == 2


def test_sdk_generates_one_key_for_its_own_retries(plugin: StripePlugin, fake: FakeStripe) -> None:
    """Without a caller key the SDK's generated key is reused across its retries."""
    fake.script(fake.fail(503))
    assert _create(plugin).success
    keys = [r.idempotency_key for r in fake.requests]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]


def test_timeout_is_reported_and_reconciled_with_the_same_key(
    fake: FakeStripe, make_plugin: Callable[..., StripePlugin]
) -> None:
    """A read timeout is TIMEOUT; retrying with the same key finds the same intent."""
    plugin = make_plugin(fake, max_network_retries=0, timeout=0.3)
    fake.script(Scripted(slow_response=3.0))
    first = _create(plugin, idempotency_key="sub-3-attempt-1")
    assert first.error_code is PaymentErrorCode.TIMEOUT
    assert first.error_code.retryable
    assert "ReadTimeout" in (first.error_message or "")
    assert len(fake.intents) == 1  # Stripe did the work; the answer was lost
    again = _create(plugin, idempotency_key="sub-3-attempt-1")
    assert again.success and again.transaction_id in fake.intents
    assert len(fake.intents) == 1


def test_unreachable_api_is_provider_unavailable(
    make_plugin: Callable[..., StripePlugin], fake: FakeStripe
) -> None:
    """Nothing listening on the port: PROVIDER_UNAVAILABLE, not an exception."""
    plugin = make_plugin(fake, api_base="http://127.0.0.1:9", max_network_retries=0)
    result = _create(plugin)
    assert result.error_code is PaymentErrorCode.PROVIDER_UNAVAILABLE


def test_idempotency_key_is_sent_and_replayed(plugin: StripePlugin, fake: FakeStripe) -> None:
    """The server sees our Idempotency-Key; a repeat returns the same intent."""
    first = _create(plugin, idempotency_key="sub-4-attempt-1")
    second = _create(plugin, idempotency_key="sub-4-attempt-1")
    assert first.transaction_id == second.transaction_id
    assert len(fake.intents) == 1
    assert [r.headers["idempotency-key"] for r in fake.requests] == ["sub-4-attempt-1"] * 2


def test_idempotency_key_reused_with_other_parameters(plugin: StripePlugin) -> None:
    """The same key with a different amount is IDEMPOTENCY_CONFLICT."""
    assert _create(plugin, "10.00", idempotency_key="sub-5-attempt-1").success
    result = _create(plugin, "11.00", idempotency_key="sub-5-attempt-1")
    assert result.error_code is PaymentErrorCode.IDEMPOTENCY_CONFLICT


def test_wrong_api_key_is_authentication_failed(
    make_fake: Callable[..., FakeStripe], make_plugin: Callable[..., StripePlugin]
) -> None:
    """A key the account does not know: AUTHENTICATION_FAILED, key not in the message."""
    fake = make_fake()
    plugin = make_plugin(fake, api_key="sk_test_not_the_right_key_123456")
    result = _create(plugin)
    assert result.error_code is PaymentErrorCode.AUTHENTICATION_FAILED
    assert "not_the_right_key" not in (result.error_message or "")


def test_permission_error(plugin: StripePlugin, fake: FakeStripe) -> None:
    """A 403 for a restricted key is PERMISSION_DENIED."""
    fake.script(fake.fail(403, "invalid_request_error", "The provided key does not have access"))
    assert _create(plugin).error_code is PaymentErrorCode.PERMISSION_DENIED
