"""Helpers for the telemetry tests."""

from __future__ import annotations

from vbwd_plugins import PaymentEventType
from vbwd_plugins.testing import MockPaymentPlugin, WebhookDelivery


def completed(mock: MockPaymentPlugin, transaction_id: str = "mock_pay_1") -> WebhookDelivery:
    """A correctly signed ``payment.completed`` delivery with a fresh event id."""
    body = mock.webhook_body(
        PaymentEventType.COMPLETED, transaction_id=transaction_id, amount=2900, currency="EUR"
    )
    return mock.webhook_delivery(body)
