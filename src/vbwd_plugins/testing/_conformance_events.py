"""The billing events section: checkout, subscription and dispute webhooks, as round trips.

The suite calls the plugin with the host's ids, the harness makes the provider's server
send what it would (``BillingHarness``), and the standard events the plugin translates
must name those ids: a plugin that never sends them to the provider fails here.
"""

from __future__ import annotations

from typing import Final

import pytest

from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.payments._billing import CheckoutMode, Plan, Subscription
from vbwd_plugins.payments._billing_events import (
    BillingEventData,
    BillingEventType,
    CheckoutCompleted,
    DisputeClosed,
    DisputeEventData,
    DisputeOutcome,
    SubscriptionCancelled,
    SubscriptionEventData,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionTrialWillEnd,
    SubscriptionUpdated,
)
from vbwd_plugins.payments._events import PaymentEventType
from vbwd_plugins.payments._results import Capability, PaymentErrorCode
from vbwd_plugins.testing._conformance_billing import checkout_request
from vbwd_plugins.testing._conformance_kit import (
    activated,
    billing_ok,
    check_host_ids,
    dearer,
    make_plan,
    named,
    scenario_events,
    subscribe,
    translate,
    usable_plan,
)
from vbwd_plugins.testing._conformance_payments import exotic_money
from vbwd_plugins.testing._harness import CHARGE_UNITS, Context
from vbwd_plugins.testing._support import BillingScenario

__all__ = ["BillingEventConformance"]

_S = BillingScenario
_E = BillingEventType
#: Each scenario: the standard event it must produce, and the capability it also needs.
_SCENARIOS: Final[dict[BillingScenario, tuple[BillingEventType, Capability | None]]] = {
    _S.CREATED: (_E.SUBSCRIPTION_CREATED, None),
    _S.ACTIVATED: (_E.SUBSCRIPTION_ACTIVATED, None),
    _S.RENEWED: (_E.SUBSCRIPTION_RENEWED, None),
    _S.PAYMENT_FAILED: (_E.SUBSCRIPTION_PAYMENT_FAILED, None),
    _S.PAST_DUE: (_E.SUBSCRIPTION_PAST_DUE, None),
    _S.TRIAL_WILL_END: (_E.SUBSCRIPTION_TRIAL_WILL_END, None),
    _S.CANCELLED_AT_PERIOD_END: (_E.SUBSCRIPTION_CANCELLED, None),
    _S.CANCELLED_NOW: (_E.SUBSCRIPTION_CANCELLED, None),
    _S.PLAN_CHANGED: (_E.SUBSCRIPTION_UPDATED, Capability.PLAN_CHANGES),
    _S.PAUSED: (_E.SUBSCRIPTION_PAUSED, Capability.PAUSE),
    _S.RESUMED: (_E.SUBSCRIPTION_RESUMED, Capability.PAUSE),
}
_PAYMENT_NAMES: Final = frozenset(str(t) for t in PaymentEventType)
_SUBSCRIPTION_NAMES: Final = frozenset(str(t) for t in _E if str(t).startswith("subscription."))


def _act(ctx: Context, scenario: BillingScenario, plan: Plan, sub: Subscription) -> str | None:
    """Make the plugin call ``scenario`` follows; the provider plan it moves to, if any."""
    plugin = ctx.plugin
    if scenario in (_S.CANCELLED_AT_PERIOD_END, _S.CANCELLED_NOW):
        at_end = scenario is _S.CANCELLED_AT_PERIOD_END
        result = plugin.cancel_subscription(sub.id, at_period_end=at_end)
        if at_end and not result.success and result.error_code is PaymentErrorCode.INVALID_REQUEST:
            pytest.skip(f"{ctx.name} cannot cancel at period end: {result.error_message}")
        billing_ok(result, f"cancel_subscription(at_period_end={at_end})")
    elif scenario is _S.PLAN_CHANGED:
        bigger = usable_plan(ctx, dearer(plan))
        billing_ok(plugin.change_subscription_plan(sub.id, bigger), "change_subscription_plan")
        return bigger.provider_plan_id
    elif scenario in (_S.PAUSED, _S.RESUMED):
        billing_ok(plugin.pause_subscription(sub.id), "pause_subscription")
        if scenario is _S.RESUMED:
            billing_ok(plugin.resume_subscription(sub.id), "resume_subscription")
    return None


def _check_scenario(
    scenario: BillingScenario, found: list[SubscriptionEventData], plan: Plan, new_plan: str | None
) -> None:
    """What the scenario's events must say beyond their names and ids."""
    what = f"{scenario.value} scenario"
    for data in found:
        if isinstance(data, SubscriptionRenewed):
            expected = (plan.price.to_minor_units(), plan.price.currency)
            assert (data.amount, data.currency) == expected, (
                f"{what}: subscription.renewed {data.amount} {data.currency} != {expected} "
                "(the plan's price, ISO 4217 minor units)"
            )
            if data.period_start is not None and data.period_end is not None:
                assert data.period_end > data.period_start, f"{what}: period ends before start"
        elif isinstance(data, SubscriptionPaymentFailed):
            assert data.attempt is None or data.attempt >= 1, data.attempt
        elif isinstance(data, SubscriptionTrialWillEnd):
            assert data.trial_end is not None, f"{what}: trial_will_end needs trial_end"
        elif isinstance(data, SubscriptionUpdated) and new_plan is not None:
            assert data.provider_plan_id == new_plan, (
                f"{what}: subscription.updated names plan {data.provider_plan_id!r}, "
                f"not the new {new_plan!r}"
            )
    if scenario in (_S.CANCELLED_AT_PERIOD_END, _S.CANCELLED_NOW):
        at_end = scenario is _S.CANCELLED_AT_PERIOD_END
        flags = [d.at_period_end for d in found if isinstance(d, SubscriptionCancelled)]
        assert at_end in flags, f"{what}: subscription.cancelled at_period_end {flags}"
        if at_end:
            ends = [d.ends_at for d in found if isinstance(d, SubscriptionCancelled)]
            assert any(end is not None for end in ends), f"{what}: needs ends_at"


class BillingEventConformance:
    """Checkout, subscription and dispute webhooks translate to standard events."""

    @pytest.mark.parametrize("scenario", list(BillingScenario), ids=str)
    def test_subscription_scenario_events(
        self, conformance: Context, scenario: BillingScenario
    ) -> None:
        """Each lifecycle scenario yields its standard event, naming the host's ids."""
        expected, needs = _SCENARIOS[scenario]
        conformance.require(Capability.SUBSCRIPTIONS)
        conformance.require(Capability.WEBHOOKS)
        if needs is not None:
            conformance.require(needs)
        trial = 14 if scenario is _S.TRIAL_WILL_END else None
        plan, sub = subscribe(conformance, trial_days=trial)
        if scenario not in (_S.CREATED, _S.ACTIVATED):
            sub = activated(conformance, sub)
        new_plan = _act(conformance, scenario, plan, sub)
        events = scenario_events(conformance, sub.id, scenario)
        about: list[tuple[Event, SubscriptionEventData]] = []
        for event in events:
            if event.name in _SUBSCRIPTION_NAMES:
                data = BillingEventData.from_event(event)
                assert isinstance(data, SubscriptionEventData)
                if data.provider_subscription_id == sub.id:
                    about.append((event, data))
        assert any(event.name == expected for event, _ in about), (
            f"{conformance.name}: the {scenario.value} scenario yields no {expected.value} "
            f"about {sub.id} (got {[e.name for e in events]})"
        )
        for event, _ in about:
            check_host_ids(conformance, event, "create_subscription")
        found = [data for event, data in about if event.name == expected]
        _check_scenario(scenario, found, plan, new_plan)

    @pytest.mark.parametrize("exponent", [0, 3], ids=["zero-decimal", "three-decimal"])
    def test_renewal_in_odd_currencies(self, conformance: Context, exponent: int) -> None:
        """A renewal of a zero- or three-decimal plan reports its exact ISO minor units."""
        conformance.require(Capability.SUBSCRIPTIONS)
        conformance.require(Capability.WEBHOOKS)
        charge, _ = exotic_money(conformance, exponent)
        plan = make_plan(conformance, units=charge.to_minor_units(), currency=charge.currency)
        plan, sub = subscribe(conformance, plan)
        sub = activated(conformance, sub)
        events = scenario_events(conformance, sub.id, _S.RENEWED)
        found = [
            data
            for event in named(events, _E.SUBSCRIPTION_RENEWED.value, f"renewal in {charge}")
            if isinstance(data := BillingEventData.from_event(event), SubscriptionRenewed)
            and data.provider_subscription_id == sub.id
        ]
        assert found, f"no subscription.renewed about {sub.id}"
        _check_scenario(_S.RENEWED, list(found), plan, None)

    @pytest.mark.parametrize("mode", list(CheckoutMode), ids=str)
    def test_checkout_completed_carries_the_host_ids(
        self, conformance: Context, mode: CheckoutMode
    ) -> None:
        """A completed checkout yields checkout.completed naming the session and host ids."""
        conformance.require(Capability.CHECKOUT)
        conformance.require(Capability.WEBHOOKS)
        if mode is CheckoutMode.SUBSCRIPTION:
            conformance.require(Capability.SUBSCRIPTIONS)
        if mode is CheckoutMode.SETUP:
            conformance.require(Capability.SAVED_PAYMENT_METHODS)
        request = checkout_request(conformance, mode)
        session = billing_ok(
            conformance.plugin.create_checkout_session(request), "create_checkout_session"
        )
        complete = conformance.hook(
            "checkout_webhooks", "checkout.completed is not checked", required=True
        )
        deliveries = complete(session)
        if deliveries is None:
            if mode is CheckoutMode.PAYMENT:
                pytest.fail(f"{conformance.name}: checkout_webhooks must complete a payment")
            pytest.skip(f"the harness cannot complete a {mode.value} checkout")
        events = translate(conformance, deliveries, f"{mode.value} checkout")
        completed = [
            (event, data)
            for event in named(events, _E.CHECKOUT_COMPLETED.value, f"{mode.value} checkout")
            if isinstance(data := BillingEventData.from_event(event), CheckoutCompleted)
        ]
        mine = [(e, d) for e, d in completed if d.checkout_session_id == session.id]
        assert mine, (
            f"checkout.completed names sessions {[d.checkout_session_id for _, d in completed]}, "
            f"not {session.id!r} (the id create_checkout_session answered)"
        )
        checked = {_E.CHECKOUT_COMPLETED.value, *_SUBSCRIPTION_NAMES}
        if mode is CheckoutMode.PAYMENT:
            checked |= _PAYMENT_NAMES
        for event in events:
            if event.name in checked:
                check_host_ids(conformance, event, "create_checkout_session")
        for _, data in mine:
            assert data.mode is mode, f"checkout.completed mode {data.mode} != {mode}"
            if mode is CheckoutMode.PAYMENT:
                assert (data.amount, data.currency) == (
                    CHARGE_UNITS,
                    conformance.harness.currency,
                ), (
                    f"checkout.completed of a payment: {data.amount} {data.currency} != "
                    f"{CHARGE_UNITS} {conformance.harness.currency}"
                )
                assert data.transaction_id, "checkout.completed of a payment needs transaction_id"
            if mode is CheckoutMode.SUBSCRIPTION:
                assert data.provider_subscription_id, (
                    "checkout.completed of a subscription needs provider_subscription_id"
                )

    @pytest.mark.parametrize(
        "outcome", [None, DisputeOutcome.WON, DisputeOutcome.LOST], ids=["opened", "won", "lost"]
    )
    def test_dispute_events(self, conformance: Context, outcome: DisputeOutcome | None) -> None:
        """A dispute of a payment yields dispute.opened, then dispute.closed with its outcome."""
        conformance.require(Capability.DISPUTES)
        conformance.require(Capability.WEBHOOKS)
        dispute = conformance.hook(
            "dispute_webhooks", "dispute events are not checked", required=True
        )
        paid = conformance.complete()
        assert paid.transaction_id is not None
        deliveries = dispute(paid.transaction_id, outcome)
        if deliveries is None:
            if outcome is None:
                pytest.fail(f"{conformance.name}: dispute_webhooks must open a dispute")
            pytest.skip(f"the harness cannot close a dispute as {outcome.value}")
        events = translate(conformance, deliveries, "dispute")
        expected = _E.DISPUTE_OPENED if outcome is None else _E.DISPUTE_CLOSED
        found = [
            (event, data)
            for event in named(events, expected.value, "dispute")
            if isinstance(data := BillingEventData.from_event(event), DisputeEventData)
        ]
        mine = [(e, d) for e, d in found if d.transaction_id == paid.transaction_id]
        assert mine, (
            f"{expected.value} names transactions {[d.transaction_id for _, d in found]}, "
            f"not the disputed payment {paid.transaction_id!r}"
        )
        for event, data in mine:
            check_host_ids(conformance, event, "create_payment_intent")
            assert data.dispute_id, f"{expected.value} needs the dispute_id"
            assert (data.amount, data.currency) == (CHARGE_UNITS, conformance.harness.currency), (
                f"{expected.value}: {data.amount} {data.currency} != the disputed "
                f"{CHARGE_UNITS} {conformance.harness.currency}"
            )
            if outcome is not None:
                assert isinstance(data, DisputeClosed)
                assert data.outcome is outcome, f"dispute.closed outcome {data.outcome}"
