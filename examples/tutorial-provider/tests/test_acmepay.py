"""AcmePay-specific behaviour beyond the contract suite."""

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from vbwd_acmepay import AcmePayPlugin

from vbwd_plugins import (
    ConfigValidationError,
    PaymentErrorCode,
    PaymentEventData,
    PaymentStatus,
)
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import PaymentFailed


def test_huf_is_sent_without_decimals(payment_provider_harness: Any) -> None:
    """AcmePay's currency rule: 1500 HUF goes out as 1500, and fillér are refused."""
    plugin, fake = payment_provider_harness.plugin, payment_provider_harness.fake
    result = plugin.create_payment_intent(Decimal("1500"), "HUF", uuid4(), uuid4())
    assert result.status is PaymentStatus.PENDING
    assert fake.payments[result.transaction_id or ""]["amount"] == 1500
    assert result.amount == 150000  # ISO minor units: HUF has two decimals in ISO 4217
    with pytest.raises(MoneyError, match="acmepay"):
        plugin.create_payment_intent(Decimal("10.50"), "HUF", uuid4(), uuid4())


def test_configuration_is_validated() -> None:
    """A missing API key is a configuration error, not a failure at the first payment."""
    with pytest.raises(ConfigValidationError, match="api_key"):
        AcmePayPlugin().initialize({"webhook_secret": "s"})


def test_declined_card_is_a_failed_result_and_webhook(payment_provider_harness: Any) -> None:
    """AcmePay's 200 "failed" answer and its payment.failed webhook both name the decline."""
    harness = payment_provider_harness
    plugin = harness.plugin
    created = plugin.create_payment_intent(Decimal("10"), "USD", uuid4(), uuid4())
    assert created.transaction_id is not None
    card = harness.decline_next_payment(PaymentErrorCode.INSUFFICIENT_FUNDS)
    result = plugin.process_payment(created.transaction_id, card)
    assert (result.success, result.error_code) == (False, PaymentErrorCode.INSUFFICIENT_FUNDS)
    [delivery] = harness.payment_webhooks(created.transaction_id)
    [event] = plugin.translate_webhook(
        plugin.receive_webhook(delivery.headers, delivery.body).payload
    )
    failed = PaymentEventData.from_event(event)
    assert isinstance(failed, PaymentFailed)
    assert failed.error_code is PaymentErrorCode.INSUFFICIENT_FUNDS
