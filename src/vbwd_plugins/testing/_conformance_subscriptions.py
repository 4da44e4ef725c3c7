"""The subscription sections of the conformance suite: SUBSCRIPTIONS, PLAN_CHANGES, PAUSE."""

from __future__ import annotations

import uuid
from typing import Final

import pytest

from vbwd_plugins.payments._billing import Proration, SubscriptionStatus
from vbwd_plugins.payments._results import Capability, PaymentErrorCode
from vbwd_plugins.testing._conformance_kit import (
    activated,
    billing_failed,
    billing_ok,
    check_subscription,
    create,
    dearer,
    make_plan,
    subscribe,
    subscription_request,
    usable_plan,
)
from vbwd_plugins.testing._conformance_payments import exotic_money
from vbwd_plugins.testing._harness import Context
from vbwd_plugins.testing._support import BillingScenario

__all__ = ["SubscriptionConformance"]


def approve(ctx: Context, provider_subscription_id: str) -> None:
    """Have the payer approve a plan change through the harness (``PLAN_CHANGED``)."""
    play = ctx.hook(
        "subscription_webhooks",
        "a plan change that waits for the payer's approval must be approved (PLAN_CHANGED)",
        required=True,
    )
    if play(provider_subscription_id, BillingScenario.PLAN_CHANGED) is None:
        pytest.fail(f"{ctx.name}: the harness cannot approve a plan change", pytrace=False)


_ENDED: Final = frozenset({SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED})
_RUNNING: Final = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING})


class SubscriptionConformance:
    """Create, read, cancel, change, pause and resume subscriptions."""

    # -- SUBSCRIPTIONS ---------------------------------------------------------------

    def test_create_and_get_subscription(self, conformance: Context) -> None:
        """A created subscription is read back with its plan, quantity and host ids."""
        plan, sub = subscribe(conformance, quantity=2)
        found = billing_ok(conformance.plugin.get_subscription(sub.id), "get_subscription")
        assert found.id == sub.id, f"get_subscription answered {found.id} for {sub.id}"
        check_subscription(conformance, found, plan, "get_subscription")
        assert found.quantity == 2, f"get_subscription: quantity {found.quantity} != 2"
        assert found.status not in _ENDED, f"a new subscription is {found.status}"

    def test_subscription_with_a_trial(self, conformance: Context) -> None:
        """A trial subscription is TRIALING with its trial_end (or PENDING approval)."""
        _, sub = subscribe(conformance, trial_days=14)
        sub = activated(conformance, sub)
        assert sub.status is SubscriptionStatus.TRIALING, f"a 14-day trial is {sub.status}"
        assert sub.trial_end is not None, "a TRIALING subscription needs its trial_end"
        if sub.current_period_start is not None:
            days = (sub.trial_end - sub.current_period_start).days
            assert 13 <= days <= 14, f"a 14-day trial ends {days} days after it starts"

    def test_unknown_subscription_is_not_found(self, conformance: Context) -> None:
        """get_subscription of an unknown id is a NOT_FOUND result, not an exception."""
        conformance.require(Capability.SUBSCRIPTIONS)
        result = conformance.plugin.get_subscription(f"sub_unknown_{uuid.uuid4().hex[:10]}")
        billing_failed(result, "get_subscription(unknown)", frozenset({PaymentErrorCode.NOT_FOUND}))

    def test_cancel_at_period_end(self, conformance: Context) -> None:
        """Cancelling at period end keeps the subscription running until then."""
        _, sub = subscribe(conformance)
        sub = activated(conformance, sub)
        result = conformance.plugin.cancel_subscription(sub.id, at_period_end=True)
        if not result.success and result.error_code is PaymentErrorCode.INVALID_REQUEST:
            pytest.skip(f"{conformance.name} cannot cancel at period end: {result.error_message}")
        cancelled = billing_ok(result, "cancel_subscription(at_period_end=True)")
        assert cancelled.cancel_at_period_end, (
            "cancel_subscription(at_period_end=True) answered cancel_at_period_end=False"
        )
        assert cancelled.status not in _ENDED, (
            f"cancelling at period end ended it now ({cancelled.status}): the payer paid "
            "for the rest of the period"
        )

    def test_cancel_now(self, conformance: Context) -> None:
        """Cancelling now ends the subscription, as get_subscription then says too."""
        _, sub = subscribe(conformance)
        sub = activated(conformance, sub)
        cancelled = billing_ok(
            conformance.plugin.cancel_subscription(sub.id, at_period_end=False),
            "cancel_subscription(at_period_end=False)",
        )
        assert cancelled.status is SubscriptionStatus.CANCELLED, cancelled.status
        found = billing_ok(conformance.plugin.get_subscription(sub.id), "get_subscription")
        assert found.status is SubscriptionStatus.CANCELLED, found.status

    def test_subscription_idempotency_key(self, conformance: Context) -> None:
        """create_subscription twice with one key creates one subscription."""
        conformance.require(Capability.SUBSCRIPTIONS)
        conformance.require(Capability.IDEMPOTENCY)
        key = f"conf-sub-{uuid.uuid4().hex[:12]}"
        request = subscription_request(conformance)
        first = create(conformance, request, key)
        second = create(conformance, request, key)
        assert first.id == second.id, (
            f"one idempotency key created two subscriptions: {first.id} and {second.id}"
        )
        assert key in set(conformance.harness.idempotency_keys()), "the key never reached it"

    @pytest.mark.parametrize("exponent", [0, 3], ids=["zero-decimal", "three-decimal"])
    def test_subscription_in_odd_currencies(self, conformance: Context, exponent: int) -> None:
        """A subscription to a zero- or three-decimal plan is created."""
        conformance.require(Capability.SUBSCRIPTIONS)
        charge, _ = exotic_money(conformance, exponent)
        plan = make_plan(conformance, units=charge.to_minor_units(), currency=charge.currency)
        subscribe(conformance, plan)

    # -- PLAN_CHANGES ----------------------------------------------------------------

    @pytest.mark.parametrize("proration", [Proration.CREATE_PRORATIONS, Proration.NONE], ids=str)
    def test_change_plan(self, conformance: Context, proration: Proration) -> None:
        """change_subscription_plan moves the subscription to the new plan."""
        conformance.require(Capability.PLAN_CHANGES)
        plan, sub = subscribe(conformance)
        sub = activated(conformance, sub)
        bigger = usable_plan(conformance, dearer(plan))
        changed = billing_ok(
            conformance.plugin.change_subscription_plan(sub.id, bigger, proration=proration),
            f"change_subscription_plan(proration={proration.value})",
        )
        if changed.provider_plan_id != bigger.provider_plan_id and changed.approval_url:
            approve(conformance, sub.id)  # the payer must consent first (PayPal revise)
        else:
            assert changed.provider_plan_id == bigger.provider_plan_id, (
                f"change_subscription_plan: provider_plan_id {changed.provider_plan_id!r} != "
                f"{bigger.provider_plan_id!r} (and no approval_url for a change the payer "
                "must approve)"
            )
        found = billing_ok(conformance.plugin.get_subscription(sub.id), "get_subscription")
        assert found.provider_plan_id == bigger.provider_plan_id, (
            f"get_subscription after the plan change: {found.provider_plan_id!r} != "
            f"{bigger.provider_plan_id!r}"
        )

    # -- PAUSE -------------------------------------------------------------------------

    def test_pause_and_resume(self, conformance: Context) -> None:
        """pause_subscription pauses collection; resume_subscription restarts it."""
        conformance.require(Capability.PAUSE)
        _, sub = subscribe(conformance)
        sub = activated(conformance, sub)
        paused = billing_ok(conformance.plugin.pause_subscription(sub.id), "pause_subscription")
        assert paused.status is SubscriptionStatus.PAUSED, f"paused: {paused.status}"
        found = billing_ok(conformance.plugin.get_subscription(sub.id), "get_subscription")
        assert found.status is SubscriptionStatus.PAUSED, f"get after pause: {found.status}"
        resumed = billing_ok(conformance.plugin.resume_subscription(sub.id), "resume_subscription")
        assert resumed.status in _RUNNING, f"resumed: {resumed.status}"
