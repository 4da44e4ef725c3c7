"""Subscriptions and their lifecycle events: real SDK over HTTP against the fake Stripe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import FakeStripe

from vbwd_plugins import Event, Money, PaymentErrorCode
from vbwd_plugins.payments import (
    DisputeClosed,
    DisputeOutcome,
    Plan,
    Proration,
    SubscriptionCancelled,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionRequest,
    SubscriptionStatus,
    SubscriptionUpdated,
)
from vbwd_plugins.testing import WebhookDelivery

from ._billing_objects import SUB, USER, standard_events

T = TypeVar("T")
PRO = Plan(key="pro-monthly", name="Pro", price=Money("20.00", "USD"))
TEAM = Plan(key="team-monthly", name="Team", price=Money("50.00", "USD"))


@pytest.fixture
def billing(fake: FakeStripe, make_plugin: Callable[..., StripePlugin]) -> StripePlugin:
    """A plugin whose webhook secret is the one the fake signs deliveries with."""
    return make_plugin(fake, webhook_secret=fake.webhook_secret)


@pytest.fixture
def card_holder(billing: StripePlugin, fake: FakeStripe) -> Callable[[str], tuple[str, str]]:
    """A customer with a card saved from a Stripe test token: (customer id, pm id)."""

    def make(token: str = "pm_card_visa") -> tuple[str, str]:
        customer = billing.create_customer(user_id=USER).unwrap()
        setup = billing.start_payment_method_setup(customer.id).unwrap()
        fake.confirm_setup_intent(setup.id, payment_method=token)
        (card,) = billing.list_payment_methods(customer.id).unwrap()
        return customer.id, card.id

    return make


def subscribe(
    billing: StripePlugin, customer: str, card: str | None, plan: Plan = PRO, **extra: Any
) -> str:
    """Subscribe with the host's ids and return Stripe's subscription id."""
    request = SubscriptionRequest(
        plan=plan,
        customer_id=customer,
        payment_method_id=card,
        subscription_id=SUB,
        user_id=USER,
        **extra,
    )
    return billing.create_subscription(request).unwrap().id


def billing_names(events: list[Event]) -> list[str]:
    """The billing events' names (payment.* of invoice PaymentIntents left out)."""
    return [e.name for e in events if not e.name.startswith("payment.")]


# -- create, get ----------------------------------------------------------------------------------


def test_subscribing_with_a_saved_card_charges_it_now(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """A saved card pays the first invoice at once: ACTIVE, host ids in metadata."""
    customer, card = card_holder("pm_card_visa")
    request = SubscriptionRequest(
        plan=PRO,
        customer_id=customer,
        payment_method_id=card,
        quantity=3,
        subscription_id=SUB,
        user_id=USER,
        metadata={"seat_type": "editor"},
    )
    sub = billing.create_subscription(request, idempotency_key="sub-1").unwrap()
    assert (sub.status, sub.quantity, sub.customer_id) == (SubscriptionStatus.ACTIVE, 3, customer)
    assert (sub.subscription_id, sub.user_id) == (SUB, USER)
    assert sub.provider_plan_id == billing.ensure_plan(PRO).unwrap().provider_plan_id
    assert sub.current_period_start is not None and sub.current_period_end is not None
    assert sub.current_period_end > sub.current_period_start
    (sent,) = fake.requests_to("/v1/subscriptions")
    assert sent.idempotency_key == "sub-1"
    assert sent.params["default_payment_method"] == card
    assert sent.params["items[0][quantity]"] == "3"
    assert sent.params["metadata[seat_type]"] == "editor"
    stored = fake.subscriptions[sub.id]
    assert stored["metadata"] == {"seat_type": "editor", "subscription_id": SUB, "user_id": USER}
    assert billing.get_subscription(sub.id).unwrap() == sub


def test_subscribing_without_a_card_waits_for_the_first_payment(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """default_incomplete: PENDING until Stripe.js confirms the first invoice's payment."""
    customer = billing.create_customer(user_id=USER).unwrap()
    result = billing.create_subscription(SubscriptionRequest(plan=PRO, customer_id=customer.id))
    sub = result.unwrap()
    assert (sub.status, sub.provider_status) == (SubscriptionStatus.PENDING, "incomplete")
    assert result.metadata["latest_invoice"] == fake.subscriptions[sub.id]["latest_invoice"]
    assert fake.requests_to("/v1/subscriptions")[0].params["payment_behavior"] == (
        "default_incomplete"
    )


def test_a_declined_first_charge_leaves_it_pending(
    billing: StripePlugin, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """A declined saved card: the subscription exists but is not active."""
    customer, card = card_holder("pm_card_chargeDeclined")
    sub_id = subscribe(billing, customer, card)
    assert billing.get_subscription(sub_id).unwrap().status is SubscriptionStatus.PENDING


def test_a_trial_starts_trialing(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """trial_days reaches Stripe as trial_period_days; the result is TRIALING with trial_end."""
    customer, card = card_holder("pm_card_visa")
    request = SubscriptionRequest(
        plan=PRO, customer_id=customer, payment_method_id=card, trial_days=14
    )
    sub = billing.create_subscription(request).unwrap()
    assert sub.status is SubscriptionStatus.TRIALING
    assert sub.trial_end == sub.current_period_end
    assert fake.requests_to("/v1/subscriptions")[0].params["trial_period_days"] == "14"


def test_a_subscription_needs_a_customer(billing: StripePlugin, fake: FakeStripe) -> None:
    """Without customer_id nothing is sent and the failure says what to do."""
    result = billing.create_subscription(SubscriptionRequest(plan=PRO))
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert "customer_id" in str(result.error_message)
    assert fake.requests == []


def test_unknown_subscription_is_not_found(billing: StripePlugin) -> None:
    """Stripe's 404 is NOT_FOUND."""
    assert billing.get_subscription("sub_missing").error_code is PaymentErrorCode.NOT_FOUND
    assert billing.cancel_subscription("sub_missing").error_code is PaymentErrorCode.NOT_FOUND


# -- the lifecycle, through signed webhooks -------------------------------------------------------


def test_trial_renewal_failure_recovery_and_cancellation_at_period_end(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """trial -> active -> renewed -> payment failed -> past due -> recovered -> cancelled."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card, trial_days=14)

    warned = standard_events(billing, fake.trial_will_end(sub_id))
    assert billing_names(warned) == ["subscription.trial_will_end"]

    paid = standard_events(billing, fake.end_trial(sub_id))
    assert billing_names(paid) == ["subscription.renewed"]
    renewed = SubscriptionRenewed.from_dict(paid[-1].data)
    assert (renewed.amount, renewed.currency, renewed.subscription_id) == (2000, "USD", SUB)
    assert billing.get_subscription(sub_id).unwrap().status is SubscriptionStatus.ACTIVE

    failed = standard_events(billing, fake.renew(sub_id, succeed=False))
    assert billing_names(failed) == ["subscription.payment_failed", "subscription.past_due"]
    failure = SubscriptionPaymentFailed.from_dict(failed[-2].data)
    assert (failure.attempt, failure.user_id) == (1, USER)
    assert failure.next_retry_at is not None
    assert billing.get_subscription(sub_id).unwrap().status is SubscriptionStatus.PAST_DUE

    recovered = standard_events(billing, fake.retry(sub_id, succeed=True))
    assert billing_names(recovered) == ["subscription.renewed", "subscription.activated"]
    assert recovered[-1].data["status"] == "active"

    mark = len(fake.events)
    cancelled = billing.cancel_subscription(sub_id, idempotency_key="cancel-1").unwrap()
    assert cancelled.cancel_at_period_end and cancelled.status is SubscriptionStatus.ACTIVE
    assert fake.requests_to(f"/v1/subscriptions/{sub_id}")[-1].idempotency_key == "cancel-1"
    (notice,) = standard_events(billing, fake.webhooks(fake.events[mark:]))
    scheduled = SubscriptionCancelled.from_dict(notice.data)
    assert (scheduled.at_period_end, scheduled.ends_at) == (True, cancelled.current_period_end)

    ended = standard_events(billing, fake.advance_clock(until_period_end(fake, sub_id)))
    assert billing_names(ended) == ["subscription.cancelled"]
    final = SubscriptionCancelled.from_dict(ended[-1].data)
    assert (final.at_period_end, final.status, final.subscription_id) == (
        True,
        SubscriptionStatus.CANCELLED,
        SUB,
    )
    assert billing.get_subscription(sub_id).unwrap().status is SubscriptionStatus.CANCELLED


def until_period_end(fake: FakeStripe, sub_id: str) -> timedelta:
    """How far the fake's clock is from the subscription's period end."""
    end = fake.subscriptions[sub_id]["items"]["data"][0]["current_period_end"]
    return timedelta(seconds=end - fake.clock)


def api_events(fake: FakeStripe, call: Callable[[], T]) -> tuple[T, list[WebhookDelivery]]:
    """Run an API call and return its result and the signed events it produced."""
    mark = len(fake.events)
    result = call()
    return result, fake.webhooks(fake.events[mark:])


def test_cancelling_now_ends_it_at_once(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """at_period_end=False deletes the subscription: CANCELLED, cancelled not at period end."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    result, deliveries = api_events(
        fake, lambda: billing.cancel_subscription(sub_id, at_period_end=False)
    )
    assert result.unwrap().status is SubscriptionStatus.CANCELLED
    assert fake.requests_to(f"/v1/subscriptions/{sub_id}", "DELETE")
    (event,) = standard_events(billing, deliveries)
    data = SubscriptionCancelled.from_dict(event.data)
    assert (data.at_period_end, data.subscription_id, data.user_id) == (False, SUB, USER)


def test_changing_plan_swaps_the_price_with_the_proration_asked(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """items[0][id] + the new Price + proration_behavior; subscription.updated names both."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    old_price = billing.ensure_plan(PRO).unwrap().provider_plan_id
    result, deliveries = api_events(
        fake,
        lambda: billing.change_subscription_plan(
            sub_id, TEAM, proration=Proration.NONE, idempotency_key="chg-1"
        ),
    )
    sub = result.unwrap()
    new_price = billing.ensure_plan(TEAM).unwrap().provider_plan_id
    assert sub.provider_plan_id == new_price
    sent = fake.requests_to(f"/v1/subscriptions/{sub_id}")[-1]
    assert sent.params["items[0][id]"] == fake.subscriptions[sub_id]["items"]["data"][0]["id"]
    assert (sent.params["items[0][price]"], sent.params["proration_behavior"]) == (
        new_price,
        "none",
    )
    assert sent.idempotency_key == "chg-1"
    (event,) = standard_events(billing, deliveries)
    data = SubscriptionUpdated.from_dict(event.data)
    assert (data.previous_plan_id, data.provider_plan_id, data.subscription_id) == (
        old_price,
        new_price,
        SUB,
    )


def test_an_always_invoiced_upgrade_charges_the_difference(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """always_invoice bills the prorated difference now: renewed with a partial amount."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    fake.advance_clock(until_period_end(fake, sub_id) / 2)
    _, deliveries = api_events(
        fake,
        lambda: billing.change_subscription_plan(sub_id, TEAM, proration=Proration.ALWAYS_INVOICE),
    )
    names = billing_names(standard_events(billing, deliveries))
    assert names == ["subscription.renewed", "subscription.updated"]
    renewed = next(
        SubscriptionRenewed.from_dict(e.data)
        for e in standard_events(billing, deliveries)
        if e.name == "subscription.renewed"
    )
    assert 0 < renewed.amount < 5000


def test_pause_and_resume_collection(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """pause_collection[behavior]=void: PAUSED and subscription.paused; cleared: resumed."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    paused, deliveries = api_events(fake, lambda: billing.pause_subscription(sub_id))
    sub = paused.unwrap()
    assert (sub.status, sub.provider_status) == (SubscriptionStatus.PAUSED, "active")
    assert fake.requests_to(f"/v1/subscriptions/{sub_id}")[-1].params == {
        "pause_collection[behavior]": "void"
    }
    assert billing_names(standard_events(billing, deliveries)) == ["subscription.paused"]
    resumed, deliveries = api_events(fake, lambda: billing.resume_subscription(sub_id))
    assert resumed.unwrap().status is SubscriptionStatus.ACTIVE
    assert fake.subscriptions[sub_id]["pause_collection"] is None
    assert billing_names(standard_events(billing, deliveries)) == ["subscription.resumed"]


def test_resuming_a_paused_subscription_resumes_it(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """Stripe's own pause (status paused) ends with POST .../resume: ACTIVE, renewed, resumed."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    billing.client.v1.subscriptions.pause(sub_id)  # as Stripe does when a trial ends unpaid
    assert billing.get_subscription(sub_id).unwrap().status is SubscriptionStatus.PAUSED
    resumed, deliveries = api_events(
        fake, lambda: billing.resume_subscription(sub_id, idempotency_key="resume-1")
    )
    sub = resumed.unwrap()
    assert (sub.status, sub.provider_status) == (SubscriptionStatus.ACTIVE, "active")
    (call,) = fake.requests_to(f"/v1/subscriptions/{sub_id}/resume")
    assert call.idempotency_key == "resume-1:resume"
    assert fake.subscriptions[sub_id]["status"] == "active"
    # Stripe's defaults: a new period from now, its invoice charged at once.
    names = billing_names(standard_events(billing, deliveries))
    assert names == ["subscription.renewed", "subscription.resumed"]


# -- disputes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("won", DisputeOutcome.WON), ("lost", DisputeOutcome.LOST)],
)
def test_a_disputed_renewal_is_opened_then_closed(
    billing: StripePlugin,
    fake: FakeStripe,
    card_holder: Callable[[str], tuple[str, str]],
    status: Literal["won", "lost"],
    outcome: DisputeOutcome,
) -> None:
    """A dispute of the invoice's payment: dispute.opened, then dispute.closed with outcome."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    (payment,) = fake.events_of("payment_intent.succeeded")
    intent = payment["data"]["object"]["id"]
    opened = standard_events(billing, fake.open_dispute(intent))
    assert billing_names(opened) == ["dispute.opened"]
    assert (opened[0].data["transaction_id"], opened[0].data["amount"]) == (intent, 2000)
    dispute_id = opened[0].data["dispute_id"]
    closed = standard_events(billing, fake.close_dispute(dispute_id, status=status))
    data = DisputeClosed.from_dict(closed[0].data)
    assert (data.outcome, data.dispute_id, data.transaction_id) == (outcome, dispute_id, intent)
    assert sub_id in fake.subscriptions


# -- from a renewal's invoice to its payment ------------------------------------------------------


def test_a_renewal_invoice_leads_to_the_payment_refunds_and_disputes_name(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """get_payment/refund_payment accept the renewal's invoice id: its PaymentIntent."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    events = standard_events(billing, fake.renew(sub_id))
    (renewed,) = [e for e in events if e.name == "subscription.renewed"]
    invoice_id = SubscriptionRenewed.from_dict(renewed.data).invoice_id
    assert invoice_id is not None and invoice_id.startswith("in_")
    (paid,) = [e for e in events if e.name == "payment.completed"]
    payment = billing.get_payment(invoice_id)
    assert (payment.success, payment.transaction_id) == (True, paid.data["transaction_id"])
    refund = billing.refund_payment(invoice_id, Decimal("5.00"))
    assert refund.success and refund.metadata["payment_intent"] == payment.transaction_id
    assert (refund.amount, refund.currency) == (500, "USD")


def test_refunding_a_renewal_invoice_names_the_host_ids(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """The invoice's ids (its PaymentIntent has none) go on the result and the Refund."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    fake.renew(sub_id)
    invoice_id = fake.subscriptions[sub_id]["latest_invoice"]
    mark = len(fake.events)
    refund = billing.refund_payment(invoice_id, Decimal("5.00"))
    assert refund.success
    assert (refund.metadata["subscription_id"], refund.metadata["user_id"]) == (SUB, USER)
    assert fake.refunds[refund.transaction_id]["metadata"] == {
        "subscription_id": SUB,
        "user_id": USER,
    }
    created = [e for e in fake.events[mark:] if e["type"] == "refund.created"]
    (event,) = standard_events(billing, fake.webhooks(created))
    assert event.name == "payment.refunded"
    assert (event.data["subscription_id"], event.data["user_id"]) == (SUB, USER)


def test_an_unpaid_invoice_has_no_payment(
    billing: StripePlugin, fake: FakeStripe, card_holder: Callable[[str], tuple[str, str]]
) -> None:
    """An invoice nobody paid is NOT_FOUND as a payment, naming the invoice."""
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card)
    fake.renew(sub_id, succeed=False)
    invoice_id = fake.subscriptions[sub_id]["latest_invoice"]
    result = billing.get_payment(invoice_id)
    assert result.error_code is PaymentErrorCode.NOT_FOUND
    assert invoice_id in str(result.error_message)
    assert billing.refund_payment(invoice_id).error_code is PaymentErrorCode.NOT_FOUND


# -- money ----------------------------------------------------------------------------------------

CURRENCIES = {"USD": 2, "JPY": 0, "CLP": 0, "ISK": 0, "MGA": 0, "KWD": 3, "JOD": 3}


@st.composite
def plan_prices(draw: st.DrawFn) -> Money:
    """Prices Stripe can bill, in zero-, two- and three-decimal currencies."""
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    exponent = CURRENCIES[currency]
    units = draw(st.integers(min_value=1, max_value=999_999))
    if exponent == 3:
        units *= 10  # Stripe: three-decimal amounts end in 0
    return Money(Decimal(units).scaleb(-exponent), currency)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(price=plan_prices(), quantity=st.integers(min_value=1, max_value=5))
def test_renewals_are_exact_in_every_currency(
    billing: StripePlugin,
    fake: FakeStripe,
    card_holder: Callable[[str], tuple[str, str]],
    price: Money,
    quantity: int,
) -> None:
    """A renewal reports exactly price x quantity, also for zero- and three-decimal currencies."""
    plan = Plan(key=f"p-{price.currency}", name="P", price=price)
    customer, card = card_holder("pm_card_visa")
    sub_id = subscribe(billing, customer, card, plan=plan, quantity=quantity)
    events = standard_events(billing, fake.renew(sub_id))
    # The fake outlives one example: end this subscription so later clocks leave it alone.
    billing.cancel_subscription(sub_id, at_period_end=False).unwrap()
    (renewed,) = [
        e
        for e in events
        if e.name == "subscription.renewed" and e.data["provider_subscription_id"] == sub_id
    ]
    data = SubscriptionRenewed.from_dict(renewed.data)
    assert data.money == Money(price.amount * quantity, price.currency)
    assert data.subscription_id == SUB
