"""The payments part of the public surface: what users import."""

from __future__ import annotations

import vbwd_plugins.errors
import vbwd_plugins.payments
import vbwd_plugins.testing

BILLING_NAMES = {
    "BillingEventData",
    "BillingEventType",
    "BillingResult",
    "CheckoutCompleted",
    "CheckoutMode",
    "CheckoutRequest",
    "CheckoutSession",
    "Customer",
    "DisputeClosed",
    "DisputeEventData",
    "DisputeOpened",
    "DisputeOutcome",
    "Interval",
    "PaymentMethodSetup",
    "Plan",
    "Proration",
    "ProviderPlan",
    "RecurringBilling",
    "SavedPaymentMethod",
    "Subscription",
    "SubscriptionActivated",
    "SubscriptionCancelled",
    "SubscriptionCreated",
    "SubscriptionEventData",
    "SubscriptionPastDue",
    "SubscriptionPaused",
    "SubscriptionPaymentFailed",
    "SubscriptionRenewed",
    "SubscriptionRequest",
    "SubscriptionResumed",
    "SubscriptionStatus",
    "SubscriptionTrialWillEnd",
    "SubscriptionUpdated",
}
PAYMENT_NAMES = BILLING_NAMES | {
    "Capability",
    "CurrencyRule",
    "CurrencyRules",
    "ISO_4217_EXPONENTS",
    "ISO_4217_RULES",
    "Money",
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
    "ReceivedWebhook",
    "currency_exponent",
    "header_value",
}


def test_payment_names_are_exported() -> None:
    """Every payments name is listed in and importable from ``vbwd_plugins.payments``."""
    assert set(vbwd_plugins.payments.__all__) == PAYMENT_NAMES
    for name in PAYMENT_NAMES:
        assert getattr(vbwd_plugins.payments, name) is not None


def test_testing_names_are_exported() -> None:
    """vbwd_plugins.testing exports the mock, the suite and its helpers."""
    for name in vbwd_plugins.testing.__all__:
        assert getattr(vbwd_plugins.testing, name) is not None
    assert "ProviderConformanceSuite" in vbwd_plugins.testing.__all__


def test_webhook_errors_are_value_errors() -> None:
    """Webhook errors are PluginErrors and ValueErrors, as the hierarchy promises."""
    errors = vbwd_plugins.errors
    for error in (errors.WebhookVerificationError, errors.WebhookPayloadError):
        assert issubclass(error, errors.WebhookError)
        assert issubclass(error, errors.PluginError)
        assert issubclass(error, ValueError)
