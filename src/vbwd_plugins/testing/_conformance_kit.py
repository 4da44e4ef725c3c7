"""What the billing sections of the conformance suite share: results, plans, payers, webhooks."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, TypeVar

import pytest

from vbwd_plugins.errors import WebhookVerificationError
from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.payments._billing import (
    BillingResult,
    Plan,
    Subscription,
    SubscriptionRequest,
    SubscriptionStatus,
)
from vbwd_plugins.payments._billing_events import BillingEventData, BillingEventType
from vbwd_plugins.payments._events import PaymentEventData, PaymentEventType
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._results import Capability, PaymentErrorCode
from vbwd_plugins.testing._harness import CHARGE_UNITS, Context
from vbwd_plugins.testing._support import BillingScenario, WebhookDelivery

__all__ = [
    "RETURN_URL",
    "billing_failed",
    "billing_ok",
    "check_host_ids",
    "create",
    "dearer",
    "json_round_trip",
    "make_plan",
    "scenario_events",
    "subscribe",
    "subscription_request",
    "translate",
    "usable_plan",
]

T = TypeVar("T")

#: Where the suite's hosted pages send the payer back.
RETURN_URL: Final = "https://host.example/billing/return"
CANCEL_URL: Final = "https://host.example/billing/cancel"
_URL: Final = re.compile(r"https?://\S+")
_BILLING_NAMES: Final = frozenset(str(t) for t in BillingEventType)
_PAYMENT_NAMES: Final = frozenset(str(t) for t in PaymentEventType)


def billing_ok(result: BillingResult[T], operation: str) -> T:
    """The value of a successful billing ``result``; a failure fails the test, saying why."""
    assert isinstance(result, BillingResult), f"{operation} returned {result!r}"
    assert result.success and result.value is not None, (
        f"{operation} failed: {result.error_code} {result.error_message} {dict(result.metadata)}"
    )
    return result.value


def billing_failed(
    result: BillingResult[Any], operation: str, codes: frozenset[PaymentErrorCode]
) -> None:
    """Assert a failed ``result`` with one of ``codes`` and a message (not an exception)."""
    assert isinstance(result, BillingResult), f"{operation} returned {result!r}"
    assert not result.success, f"{operation} succeeded with {result.value!r}; expected a failure"
    assert result.error_code in codes, (
        f"{operation}: error_code {result.error_code} not in {sorted(str(c) for c in codes)}"
    )
    assert result.error_message, f"{operation}: a failed result needs an error_message"


def json_round_trip(event: Event) -> Event:
    """``event`` through JSON and back, as the webhook pipeline stores it."""
    to_json = getattr(event, "to_json", None)
    from_json = getattr(type(event), "from_json", None)
    if callable(to_json) and callable(from_json):
        restored = from_json(to_json())
        assert isinstance(restored, Event)
        return restored

    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"not JSON serializable: {value!r}")

    return Event(name=event.name, data=json.loads(json.dumps(event.data, default=default)))


def make_plan(
    ctx: Context, *, units: int = CHARGE_UNITS, currency: str | None = None, trial_days: int = 0
) -> Plan:
    """A fresh plan (a key no other test uses): ``units`` minor units a month."""
    money = Money.from_minor_units(units, currency or ctx.harness.currency)
    return Plan(
        key=f"conformance-{uuid.uuid4().hex[:12]}",
        name="Conformance Pro",
        price=money,
        trial_days=trial_days,
    )


def dearer(plan: Plan) -> Plan:
    """The same plan (same key: PayPal revises only within a product) at twice the price.

    What a plan change moves to: a different provider plan every provider can switch to.
    """
    price = Money.from_minor_units(2 * plan.price.to_minor_units(), plan.price.currency)
    return replace(plan, price=price, provider_plan_id=None)


def usable_plan(ctx: Context, plan: Plan) -> Plan:
    """``plan`` with ``provider_plan_id`` set: ensured (``PLANS``) or made by the harness."""
    if Capability.PLANS in ctx.plugin.capabilities:
        ensured = billing_ok(ctx.plugin.ensure_plan(plan), "ensure_plan")
        assert ensured.provider_plan_id, "ensure_plan returned no provider_plan_id"
        return replace(plan, provider_plan_id=ensured.provider_plan_id)
    make = ctx.hook(
        "provider_plan_id",
        "a provider with SUBSCRIPTIONS but without PLANS needs a plan made on its server",
        required=True,
    )
    plan_id = make(plan)
    if plan_id is None:
        pytest.skip("the harness cannot make a plan on its server")
    return replace(plan, provider_plan_id=plan_id)


def payer(ctx: Context) -> tuple[str | None, str | None]:
    """A customer (``CUSTOMERS``) and a saved method that pays (the harness's), if any."""
    if Capability.CUSTOMERS not in ctx.plugin.capabilities:
        return None, None
    customer = billing_ok(
        ctx.plugin.create_customer(
            email=f"conformance+{uuid.uuid4().hex[:8]}@host.example",
            name="Conformance Payer",
            user_id=ctx.host_user_id,
        ),
        "create_customer",
    )
    attach = getattr(ctx.harness, "attach_payment_method", None)
    method = attach(customer.id) if callable(attach) else None
    return customer.id, method


def subscription_request(
    ctx: Context, plan: Plan | None = None, *, trial_days: int | None = None, quantity: int = 1
) -> SubscriptionRequest:
    """A request for a new subscription (a new payer) carrying the suite's host ids."""
    ctx.require(Capability.SUBSCRIPTIONS)
    plan = usable_plan(ctx, plan or make_plan(ctx))
    customer_id, method = payer(ctx)
    return SubscriptionRequest(
        plan=plan,
        customer_id=customer_id,
        quantity=quantity,
        trial_days=trial_days,
        subscription_id=ctx.host_subscription_id,
        user_id=ctx.host_user_id,
        payment_method_id=method,
        return_url=RETURN_URL,
        cancel_url=CANCEL_URL,
        metadata={"conformance": "yes"},
    )


def create(ctx: Context, request: SubscriptionRequest, key: str | None = None) -> Subscription:
    """``create_subscription``, checking what a new subscription must say."""
    sub = billing_ok(
        ctx.plugin.create_subscription(request, idempotency_key=key), "create_subscription"
    )
    check_subscription(ctx, sub, request.plan, "create_subscription")
    expected = {SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}
    assert sub.status in expected, f"create_subscription: status {sub.status}"
    if sub.approval_url is not None:  # PENDING without one: waiting for its first payment
        assert _URL.fullmatch(sub.approval_url), f"approval_url {sub.approval_url!r} is no URL"
    return sub


def subscribe(
    ctx: Context,
    plan: Plan | None = None,
    *,
    trial_days: int | None = None,
    quantity: int = 1,
) -> tuple[Plan, Subscription]:
    """Subscribe a new payer with the suite's host ids: the plan and the subscription."""
    request = subscription_request(ctx, plan, trial_days=trial_days, quantity=quantity)
    return request.plan, create(ctx, request)


def check_subscription(ctx: Context, sub: Subscription, plan: Plan, operation: str) -> None:
    """What every returned :class:`Subscription` must say about the suite's subscription."""
    assert isinstance(sub, Subscription), f"{operation} returned {sub!r}"
    assert sub.id, f"{operation}: a subscription needs the provider's id"
    if sub.provider_plan_id is not None:
        assert sub.provider_plan_id == plan.provider_plan_id, (
            f"{operation}: provider_plan_id {sub.provider_plan_id!r} != {plan.provider_plan_id!r}"
        )
    for name, expected in (
        ("subscription_id", ctx.host_subscription_id),
        ("user_id", ctx.host_user_id),
    ):
        got = getattr(sub, name)
        assert got in (None, expected), (
            f"{operation}: {name} {got!r} is not the host's {expected!r}"
        )


def activated(ctx: Context, sub: Subscription) -> Subscription:
    """``sub`` made usable: a ``PENDING`` one is approved through the harness."""
    if sub.status is not SubscriptionStatus.PENDING:
        return sub
    play = ctx.hook(
        "subscription_webhooks",
        "a PENDING subscription must be approved (ACTIVATED) before it can be changed",
        required=True,
    )
    if play(sub.id, BillingScenario.ACTIVATED) is None:
        pytest.fail(f"{ctx.name}: the harness cannot approve a PENDING subscription")
    current = billing_ok(ctx.plugin.get_subscription(sub.id), "get_subscription")
    assert current.status in {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}, (
        f"after approval the subscription is {current.status}, not active or trialing"
    )
    return current


def translate(ctx: Context, deliveries: Sequence[WebhookDelivery], what: str) -> list[Event]:
    """Verify and translate the harness's deliveries: every event they stand for."""
    events: list[Event] = []
    dispatched = len(ctx.dispatcher.events)
    for delivery in deliveries:
        try:
            received = ctx.plugin.receive_webhook(delivery.headers, delivery.body)
        except WebhookVerificationError as exc:
            pytest.fail(
                f"the harness's {what} webhook {delivery.description!r} does not verify: "
                f"{exc.reason} (sign it as webhook_delivery signs VALID)",
                pytrace=False,
            )
        events.extend(ctx.plugin.translate_webhook(received.payload))
    assert len(ctx.dispatcher.events) == dispatched, "translate_webhook must not dispatch"
    return events


def scenario_events(
    ctx: Context, provider_subscription_id: str, scenario: BillingScenario
) -> list[Event]:
    """The standard events of ``scenario`` (skipped when the harness cannot play it)."""
    required = scenario in _REQUIRED_SCENARIOS
    play = ctx.hook(
        "subscription_webhooks",
        "subscription events are not checked",
        required=Capability.WEBHOOKS in ctx.plugin.capabilities,
    )
    deliveries = play(provider_subscription_id, scenario)
    if deliveries is None:
        if required:
            pytest.fail(
                f"{ctx.name}: a provider with SUBSCRIPTIONS and WEBHOOKS must produce the "
                f"{scenario.value} scenario's webhooks (subscription_webhooks returned None)",
                pytrace=False,
            )
        pytest.skip(f"the harness cannot produce the {scenario.value} scenario")
    return translate(ctx, deliveries, f"{scenario.value} scenario")


_REQUIRED_SCENARIOS: Final = frozenset(
    {
        BillingScenario.ACTIVATED,
        BillingScenario.RENEWED,
        BillingScenario.PAYMENT_FAILED,
        BillingScenario.CANCELLED_NOW,
    }
)


def check_host_ids(ctx: Context, event: Event, operation: str) -> None:
    """The standard ``event`` carries the host's ids that ``operation`` sent (round trip)."""
    data: BillingEventData | PaymentEventData
    if event.name in _BILLING_NAMES:
        data = BillingEventData.from_event(event)
        restored: BillingEventData | PaymentEventData = BillingEventData.from_event(
            json_round_trip(event)
        )
    elif event.name in _PAYMENT_NAMES:
        data = PaymentEventData.from_event(event)
        restored = PaymentEventData.from_event(json_round_trip(event))
    else:
        return  # a plugin's own event
    assert restored == data, f"{event.name}: the event data does not survive a JSON round trip"
    assert data.provider == ctx.name, f"{event.name}: provider {data.provider!r} != {ctx.name!r}"
    got = (data.subscription_id, data.user_id)
    expected = (ctx.host_subscription_id, ctx.host_user_id)
    if got == expected:
        return
    if event.name in ctx.events_without_host_ids and got == (None, None):
        return
    pytest.fail(
        f"{ctx.name}: {event.name} (from {data.provider_event_type!r}) came back with "
        f"subscription_id={got[0]!r}, user_id={got[1]!r}; expected the host's "
        f"{expected[0]!r}, {expected[1]!r} given to {operation}. Send the host's ids to the "
        "provider (metadata, custom_id) when creating, and read them back when translating "
        "the webhook",
        pytrace=False,
    )


def named(events: Sequence[Event], name: str, what: str) -> list[Event]:
    """The events called ``name``; fails, listing what there was, when there is none."""
    found = [event for event in events if event.name == name]
    assert found, f"{what}: no {name} event among {[event.name for event in events]}"
    return found
