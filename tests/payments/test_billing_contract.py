"""The recurring-billing half of the provider contract: capability gates and the guard."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest

from tests.payments._seed import SeedStylePlugin
from vbwd_plugins import Capability, Money, PaymentErrorCode, PaymentResult
from vbwd_plugins.errors import MoneyError, UnsupportedOperationError
from vbwd_plugins.payments import (
    BillingResult,
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    CurrencyRule,
    CurrencyRules,
    Plan,
    ProviderPlan,
    Subscription,
    SubscriptionRequest,
    SubscriptionStatus,
)

URLS = {"success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/no"}
PLAN = Plan(key="pro", name="Pro", price=Money("9.99", "USD"))


class RateLimited(Exception):
    """What a provider SDK raises when it is throttled."""


class BillingPlugin(SeedStylePlugin):
    """A provider declaring checkout, plans and subscriptions (not pause, not customers)."""

    capabilities: ClassVar[frozenset[Capability]] = SeedStylePlugin.capabilities | {
        Capability.CHECKOUT,
        Capability.PLANS,
        Capability.SUBSCRIPTIONS,
    }
    currency_rules: ClassVar[CurrencyRules] = CurrencyRules(
        "seedpay", {"HUF": CurrencyRule(exponent=0)}
    )

    def __init__(self, error: Exception | None = None, answer: Any = None) -> None:
        super().__init__()
        self.billing_error = error
        self.answer = answer
        self.billing_calls: list[tuple[str, Any]] = []

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        if isinstance(exc, RateLimited):
            return PaymentResult.failure(
                PaymentErrorCode.RATE_LIMITED, "throttled", metadata={"request_id": "req_7"}
            )
        return super().result_from_exception(exc, operation=operation)

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        self.billing_calls.append(("ensure_plan", plan))
        if self.billing_error is not None:
            raise self.billing_error
        if self.answer is not None:
            return self.answer  # type: ignore[no-any-return]
        return BillingResult.ok(ProviderPlan(plan_key=plan.key, provider_plan_id="price_1"))

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[CheckoutSession]:
        self.billing_calls.append(("checkout", request))
        return BillingResult.ok(
            CheckoutSession(id="cs_1", url="https://pay.example/cs_1", mode=request.mode)
        )

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        self.billing_calls.append(("subscribe", idempotency_key))
        return BillingResult.ok(Subscription(id="sub_1", status=SubscriptionStatus.ACTIVE))


def test_undeclared_operation_raises_unsupported_naming_the_provider() -> None:
    """Pausing on a provider without PAUSE raises UnsupportedOperationError naming both."""
    plugin = BillingPlugin()
    with pytest.raises(UnsupportedOperationError) as caught:
        plugin.pause_subscription("sub_1")
    assert caught.value.operation == "pause_subscription"
    assert "seedpay" in str(caught.value)


def test_declared_but_not_implemented_operation_is_unsupported() -> None:
    """A capability without the method body (get_subscription) still raises, never returns None."""
    with pytest.raises(UnsupportedOperationError, match="get_subscription"):
        BillingPlugin().get_subscription("sub_1")


def test_seed_style_provider_supports_no_billing() -> None:
    """A provider written against the original design declares no billing capability."""
    plugin = SeedStylePlugin()
    with pytest.raises(UnsupportedOperationError):
        plugin.ensure_plan(PLAN)


def test_setup_checkout_needs_saved_methods_capability() -> None:
    """A setup-mode checkout on a provider without SAVED_PAYMENT_METHODS names the mode's need."""
    plugin = BillingPlugin()
    request = CheckoutRequest(mode=CheckoutMode.SETUP, customer_id="cus_1", **URLS)
    with pytest.raises(UnsupportedOperationError) as caught:
        plugin.create_checkout_session(request)
    assert caught.value.operation == "create_checkout_session(saved_payment_methods)"
    assert plugin.billing_calls == []


def test_subscription_checkout_reaches_the_provider() -> None:
    """With CHECKOUT and SUBSCRIPTIONS declared, a subscription checkout is passed through."""
    plugin = BillingPlugin()
    request = CheckoutRequest(mode=CheckoutMode.SUBSCRIPTION, plan=PLAN, **URLS)
    result = plugin.create_checkout_session(request)
    assert result.unwrap().url == "https://pay.example/cs_1"
    assert plugin.billing_calls == [("checkout", request)]


def test_plan_price_inexact_for_the_provider_raises_before_the_call() -> None:
    """A HUF plan with fillér is refused when the provider bills HUF in whole forints."""
    plugin = BillingPlugin()
    with pytest.raises(MoneyError):
        plugin.ensure_plan(Plan(key="h", name="H", price=Money("100.50", "HUF")))
    assert plugin.billing_calls == []


def test_provider_exception_becomes_a_failed_result_through_its_mapping() -> None:
    """An SDK error raised inside ensure_plan is mapped by result_from_exception, not raised."""
    plugin = BillingPlugin(error=RateLimited("429"))
    result = plugin.ensure_plan(PLAN)
    assert (result.success, result.error_code, result.error_message) == (
        False,
        PaymentErrorCode.RATE_LIMITED,
        "throttled",
    )
    assert result.metadata == {"request_id": "req_7"}


def test_unclassified_exception_is_a_provider_error_with_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception is PROVIDER_ERROR and logged with its traceback."""
    plugin = BillingPlugin(error=KeyError("items"))
    with caplog.at_level(logging.WARNING):
        result = plugin.ensure_plan(PLAN)
    assert result.error_code is PaymentErrorCode.PROVIDER_ERROR
    assert "KeyError" in (result.error_message or "")
    assert any(record.exc_info for record in caplog.records)


def test_wrong_return_type_is_a_provider_error() -> None:
    """A provider returning something else than a BillingResult answers PROVIDER_ERROR."""
    plugin = BillingPlugin(answer={"id": "price_1"})
    result = plugin.ensure_plan(PLAN)
    assert result.error_code is PaymentErrorCode.PROVIDER_ERROR
    assert "BillingResult" in (result.error_message or "")


def test_idempotency_key_is_passed_through() -> None:
    """The idempotency key given by the host reaches the provider's implementation."""
    plugin = BillingPlugin()
    plugin.create_subscription(SubscriptionRequest(plan=PLAN), idempotency_key="sub-42")
    assert plugin.billing_calls == [("subscribe", "sub-42")]


def test_caller_mistakes_still_raise() -> None:
    """Money errors raised by the provider itself are a caller's bug and propagate."""
    plugin = BillingPlugin(error=MoneyError("bad amount"))
    with pytest.raises(MoneyError):
        plugin.ensure_plan(PLAN)
