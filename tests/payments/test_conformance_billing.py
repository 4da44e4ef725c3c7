"""The kit's billing sections pass a complete provider and tell a broken one what is wrong."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import pytest

from tests.payments._toy_harness import ToyHarness, suite_failure, toy_harness
from tests.payments._toy_provider import ToyPayPlugin
from vbwd_plugins import Capability, Money, PaymentProviderPlugin, PaymentResult, PluginMetadata
from vbwd_plugins.payments import (
    BillingResult,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    Plan,
    ProviderPlan,
    Subscription,
    SubscriptionRequest,
    SubscriptionStatus,
)
from vbwd_plugins.testing import BillingScenario as BillingSc
from vbwd_plugins.testing import ProviderConformanceSuite


@pytest.fixture
def payment_provider_harness() -> ToyHarness:
    """ToyPay, declaring every billing capability, on a fresh server."""
    return toy_harness()


class TestToyPayConformance(ProviderConformanceSuite):
    """A provider with every billing capability and every harness hook passes the suite."""


class HalfDoneProvider(PaymentProviderPlugin):
    """Declares SUBSCRIPTIONS but implements only create_subscription."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.SUBSCRIPTIONS})

    @property
    def metadata(self) -> PluginMetadata:
        """Name ``halfdone``."""
        return PluginMetadata(name="halfdone", version="1.0.0", author="tests", description="x")

    def create_payment_intent(
        self,
        amount: Decimal,
        currency: str,
        subscription_id: UUID,
        user_id: UUID,
        metadata: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        manual_capture: bool = False,
    ) -> PaymentResult:
        """Unused."""
        raise NotImplementedError

    def process_payment(
        self, payment_intent_id: str, payment_method: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Unused."""
        raise NotImplementedError

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Unused."""
        raise NotImplementedError

    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Unused."""
        raise NotImplementedError

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """The only one."""
        return BillingResult.ok(Subscription(id="sub_1", status=SubscriptionStatus.ACTIVE))


def test_declared_but_missing_operations_are_named() -> None:
    """A provider that declares SUBSCRIPTIONS is told which of its operations are missing."""
    harness = toy_harness()
    harness.plugin = HalfDoneProvider()  # type: ignore[assignment]
    message = suite_failure(harness, "test_declared_billing_operations_are_implemented")
    assert "halfdone declares but does not implement:" in message
    assert "'get_subscription (subscriptions)', 'cancel_subscription (subscriptions)'" in message


class RecreatingPlansToy(ToyPayPlugin):
    """Creates a new price on every ensure_plan call."""

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        """A fresh lookup key each time: the mistake."""
        units = plan.price.to_minor_units()
        price = self.server.price(uuid.uuid4().hex, {"amount": units, "product": plan.key})
        return BillingResult.ok(ProviderPlan(plan_key=plan.key, provider_plan_id=price["id"]))


def test_ensure_plan_that_creates_again_fails() -> None:
    """ensure_plan twice must answer the same provider ids."""
    message = suite_failure(toy_harness(RecreatingPlansToy), "test_ensure_plan_is_idempotent")
    assert "ensure_plan created again" in message


class StickyPlansToy(ToyPayPlugin):
    """Finds a plan by its key alone, so a new price reuses the old one."""

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        """Lookup by key only: the mistake."""
        if plan.provider_plan_id is not None:
            return super().ensure_plan(plan)
        units = plan.price.to_minor_units()
        price = self.server.price(plan.key, {"amount": units, "product": plan.key})
        return BillingResult.ok(ProviderPlan(plan_key=plan.key, provider_plan_id=price["id"]))


def test_ensure_plan_that_ignores_the_price_fails() -> None:
    """The same key at another price must be another provider plan."""
    message = suite_failure(toy_harness(StickyPlansToy), "test_a_new_price_is_a_new_plan")
    assert "ensure_plan reused price_" in message
    assert "for a plan with another price" in message


class UserlessCustomersToy(ToyPayPlugin):
    """Keeps the host's user id out of the customer's metadata."""

    def create_customer(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[Customer]:
        """Without the user id: the mistake."""
        return super().create_customer(email=email, name=name, idempotency_key=idempotency_key)


def test_customer_without_the_host_user_id_fails() -> None:
    """get_customer must give back the host's user id create_customer was given."""
    message = suite_failure(toy_harness(UserlessCustomersToy), "test_customer_round_trip")
    assert "get_customer: user_id None is not the host's" in message


class TimelessCheckoutToy(ToyPayPlugin):
    """Answers checkout sessions without their expiry."""

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[CheckoutSession]:
        """No expires_at: the mistake."""
        session = super().create_checkout_session(request).unwrap()
        return BillingResult.ok(CheckoutSession(id=session.id, url=session.url, mode=session.mode))


def test_checkout_session_without_expiry_fails() -> None:
    """A payment checkout session must say when its URL stops working."""
    message = suite_failure(toy_harness(TimelessCheckoutToy), "test_checkout_payment_session")
    assert "a payment checkout session needs expires_at" in message


def test_missing_required_hook_is_named() -> None:
    """With SUBSCRIPTIONS and WEBHOOKS, a harness without subscription_webhooks is told so."""

    class HooklessHarness(ToyHarness):
        subscription_webhooks = None  # type: ignore[assignment]

    message = suite_failure(
        HooklessHarness(toy_harness().plugin),
        "test_subscription_scenario_events",
        scenario=BillingSc.RENEWED,
    )
    assert "toypay: the harness has no subscription_webhooks() hook" in message
    assert "vbwd_plugins.testing.BillingHarness" in message
