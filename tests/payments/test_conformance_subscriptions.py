"""The kit's subscription sections: idempotency, and plan changes the payer must approve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from tests.payments._toy_harness import ToyHarness, suite_failure, suite_passes, toy_harness
from tests.payments._toy_provider import ToyPayPlugin
from vbwd_plugins.payments import (
    BillingResult,
    Plan,
    Proration,
    Subscription,
    SubscriptionRequest,
)
from vbwd_plugins.testing import BillingScenario, WebhookDelivery


class KeylessSubscriptionsToy(ToyPayPlugin):
    """Drops the idempotency key of create_subscription."""

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Without the key: the mistake."""
        return super().create_subscription(request)


def test_subscription_idempotency_key_dropped_fails() -> None:
    """Two creations with one key must be one subscription."""
    message = suite_failure(
        toy_harness(KeylessSubscriptionsToy), "test_subscription_idempotency_key"
    )
    assert "one idempotency key created two subscriptions: sub_" in message


class ConsentToy(ToyPayPlugin):
    """Changes plans only once the payer approves (as PayPal's revise does)."""

    def change_subscription_plan(
        self,
        subscription_id: str,
        plan: Plan,
        *,
        proration: Proration = Proration.CREATE_PRORATIONS,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Still on the old plan, with the link where the payer approves the change."""
        sub = self.server.get(subscription_id, "sub")
        sub["pending_price"] = self.ensure_plan(plan).unwrap().provider_plan_id
        url = f"https://toypay.example/revise/{subscription_id}"
        return BillingResult.ok(replace(self.subscription(sub), approval_url=url))


class ConsentHarness(ToyHarness):
    """Approves a pending plan change for PLAN_CHANGED, as the payer."""

    def subscription_webhooks(
        self, provider_subscription_id: str, scenario: BillingScenario
    ) -> Sequence[WebhookDelivery] | None:
        """Approve the change first."""
        sub = self.server.get(provider_subscription_id, "sub")
        if scenario is BillingScenario.PLAN_CHANGED and "pending_price" in sub:
            previous, sub["price"] = sub["price"], sub.pop("pending_price")
            self.server.emit("subscription.updated", sub, previous=previous)
        return super().subscription_webhooks(provider_subscription_id, scenario)


@pytest.mark.parametrize("proration", [Proration.CREATE_PRORATIONS, Proration.NONE], ids=str)
def test_plan_change_the_payer_approves_passes(proration: Proration) -> None:
    """A change answered with an approval_url passes once the harness approves it."""
    suite_passes(
        ConsentHarness(toy_harness(ConsentToy).plugin), "test_change_plan", proration=proration
    )
    suite_passes(
        ConsentHarness(toy_harness(ConsentToy).plugin),
        "test_subscription_scenario_events",
        scenario=BillingScenario.PLAN_CHANGED,
    )


def test_plan_change_never_approved_fails() -> None:
    """If the approval does not move the subscription, get_subscription says so."""
    message = suite_failure(toy_harness(ConsentToy), "test_change_plan", proration=Proration.NONE)
    assert "get_subscription after the plan change: 'price_" in message


class IgnoredChangeToy(ToyPayPlugin):
    """Answers success for a plan change it never makes."""

    def change_subscription_plan(
        self,
        subscription_id: str,
        plan: Plan,
        *,
        proration: Proration = Proration.CREATE_PRORATIONS,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Nothing changes: the mistake."""
        return self.get_subscription(subscription_id)


def test_plan_change_that_changes_nothing_fails() -> None:
    """A success on the old plan without an approval_url fails, saying both plans."""
    message = suite_failure(
        toy_harness(IgnoredChangeToy), "test_change_plan", proration=Proration.NONE
    )
    assert "change_subscription_plan: provider_plan_id 'price_" in message
    assert "no approval_url for a change the payer must approve" in message


class ImmediateCancelToy(ToyPayPlugin):
    """Cancels now even when asked to cancel at the period's end."""

    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        at_period_end: bool = True,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Always now: the mistake."""
        return super().cancel_subscription(subscription_id, at_period_end=False)


def test_cancel_at_period_end_that_cancels_now_fails() -> None:
    """Cancelling at period end must not end the paid period now."""
    message = suite_failure(toy_harness(ImmediateCancelToy), "test_cancel_at_period_end")
    assert "answered cancel_at_period_end=False" in message
