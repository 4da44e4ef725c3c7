"""The kit's billing-event section catches providers that lose the host's ids on the way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tests.payments._toy_harness import ToyHarness, suite_failure, suite_passes, toy_harness
from tests.payments._toy_provider import ToyPayPlugin
from tests.payments._toy_server import Obj
from vbwd_plugins.payments._billing import CheckoutMode
from vbwd_plugins.payments._billing_events import DisputeOutcome
from vbwd_plugins.testing import BillingScenario, WebhookDelivery

HOST_IDS_LOST = "came back with subscription_id=None, user_id=None"


class ForgetfulToy(ToyPayPlugin):
    """Never sends the host's subscription and user ids to the provider."""

    def host_metadata(self, subscription_id: object, user_id: object) -> dict[str, str]:
        """Nothing: the mistake."""
        return {}


@pytest.mark.parametrize(
    "scenario",
    [BillingScenario.CREATED, BillingScenario.RENEWED, BillingScenario.CANCELLED_NOW],
    ids=str,
)
def test_lost_host_ids_fail_subscription_events(scenario: BillingScenario) -> None:
    """Subscription events without the host's ids fail, naming event, ids and the fix."""
    message = suite_failure(
        toy_harness(ForgetfulToy), "test_subscription_scenario_events", scenario=scenario
    )
    assert f"subscription.created (from 'subscription.created') {HOST_IDS_LOST}" in message
    assert "given to create_subscription" in message


@pytest.mark.parametrize("mode", [CheckoutMode.PAYMENT, CheckoutMode.SUBSCRIPTION], ids=str)
def test_lost_host_ids_fail_checkout_completed(mode: CheckoutMode) -> None:
    """A checkout whose webhooks lack the host's ids fails the checkout.completed check."""
    message = suite_failure(
        toy_harness(ForgetfulToy), "test_checkout_completed_carries_the_host_ids", mode=mode
    )
    assert HOST_IDS_LOST in message
    assert "given to create_checkout_session" in message


def test_lost_host_ids_fail_dispute_events() -> None:
    """A dispute of a payment created without the host's ids fails the dispute check."""
    message = suite_failure(toy_harness(ForgetfulToy), "test_dispute_events", outcome=None)
    assert f"dispute.opened (from 'dispute.opened') {HOST_IDS_LOST}" in message


def test_events_the_harness_exempts_may_lack_the_ids() -> None:
    """Events the harness says cannot carry the ids pass without them, and only those."""
    harness = toy_harness(ForgetfulToy)
    harness.events_without_host_ids = frozenset({"dispute.opened"})
    suite_passes(harness, "test_dispute_events", outcome=None)
    message = suite_failure(harness, "test_dispute_events", outcome=DisputeOutcome.WON)
    assert f"dispute.closed (from 'dispute.closed') {HOST_IDS_LOST}" in message


def test_renewal_with_a_wrong_amount_fails() -> None:
    """subscription.renewed must carry the plan's price in ISO minor units."""

    class HalfPriceServerHarness(ToyHarness):
        def subscription_webhooks(
            self, provider_subscription_id: str, scenario: BillingScenario
        ) -> Sequence[WebhookDelivery] | None:
            price: Obj = self.server.objects[self.server.objects[provider_subscription_id]["price"]]
            price["amount"] //= 2
            return super().subscription_webhooks(provider_subscription_id, scenario)

    harness = HalfPriceServerHarness(toy_harness().plugin)
    message = suite_failure(
        harness, "test_subscription_scenario_events", scenario=BillingScenario.RENEWED
    )
    assert "subscription.renewed 500 USD != (1000, 'USD')" in message


def test_scenario_without_its_event_fails() -> None:
    """A scenario whose webhooks do not yield the expected event fails, listing what came."""

    class SilentPauseToy(ToyPayPlugin):
        def set_status(self, sub_id: str, status: str, *, event: str | None = None) -> Any:
            sub = self.server.get(sub_id, "sub")
            sub["status"] = status
            return super().get_subscription(sub_id)

    message = suite_failure(
        toy_harness(SilentPauseToy),
        "test_subscription_scenario_events",
        scenario=BillingScenario.PAUSED,
    )
    assert "the paused scenario yields no subscription.paused about sub_" in message


def test_a_required_scenario_the_harness_cannot_play_fails() -> None:
    """With SUBSCRIPTIONS and WEBHOOKS, RENEWED must be producible: None fails, naming it."""

    class NoRenewalHarness(ToyHarness):
        def subscription_webhooks(
            self, provider_subscription_id: str, scenario: BillingScenario
        ) -> Sequence[WebhookDelivery] | None:
            if scenario is BillingScenario.RENEWED:
                return None
            return super().subscription_webhooks(provider_subscription_id, scenario)

    message = suite_failure(
        NoRenewalHarness(toy_harness().plugin),
        "test_subscription_scenario_events",
        scenario=BillingScenario.RENEWED,
    )
    assert "must produce the renewed scenario's webhooks" in message
