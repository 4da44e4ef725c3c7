"""The payments part of the public surface: what users import."""

from __future__ import annotations

import vbwd_plugins
import vbwd_plugins.testing

PAYMENT_NAMES = {
    "Capability",
    "CurrencyRule",
    "CurrencyRules",
    "ISO_4217_EXPONENTS",
    "ISO_4217_RULES",
    "Money",
    "MoneyError",
    "PaymentAuthorized",
    "PaymentCancelled",
    "PaymentCompleted",
    "PaymentErrorCode",
    "PaymentEventData",
    "PaymentEventType",
    "PaymentFailed",
    "PaymentPending",
    "PaymentProviderPlugin",
    "PaymentRefunded",
    "PaymentResult",
    "PaymentStatus",
    "UnsupportedOperationError",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "currency_exponent",
    "header_value",
}


def test_payment_names_are_exported() -> None:
    """Every payments name is in vbwd_plugins.__all__ and importable from the top."""
    assert set(vbwd_plugins.__all__) >= PAYMENT_NAMES
    for name in PAYMENT_NAMES:
        assert getattr(vbwd_plugins, name) is not None


def test_testing_names_are_exported() -> None:
    """vbwd_plugins.testing exports the mock, the suite and its helpers."""
    for name in vbwd_plugins.testing.__all__:
        assert getattr(vbwd_plugins.testing, name) is not None
    assert "ProviderConformanceSuite" in vbwd_plugins.testing.__all__


def test_webhook_errors_are_value_errors() -> None:
    """Webhook errors are PluginErrors and ValueErrors, as the hierarchy promises."""
    for error in (vbwd_plugins.WebhookVerificationError, vbwd_plugins.WebhookPayloadError):
        assert issubclass(error, vbwd_plugins.WebhookError)
        assert issubclass(error, vbwd_plugins.PluginError)
        assert issubclass(error, ValueError)
