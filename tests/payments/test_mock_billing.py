"""MockPaymentPlugin's recurring billing: the operations, idempotency, errors, its clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vbwd_plugins import Capability, Money, PaymentErrorCode
from vbwd_plugins.errors import UnsupportedOperationError
from vbwd_plugins.events import Event
from vbwd_plugins.payments import (
    BillingEventData,
    CheckoutMode,
    CheckoutRequest,
    DisputeOutcome,
    Plan,
    Proration,
    SubscriptionCancelled,
    SubscriptionRequest,
    SubscriptionStatus,
)
from vbwd_plugins.testing import MockClock, MockOutcome, MockPaymentPlugin, RecordingDispatcher

START = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
PRO = Plan(key="pro", name="Pro", price=Money("10.00", "USD"))
TRIAL = Plan(key="pro-trial", name="Pro", price=Money("10.00", "USD"), trial_days=14)
URLS = {"success_url": "https://host.example/ok", "cancel_url": "https://host.example/no"}


@pytest.fixture
def mock() -> MockPaymentPlugin:
    """A mock on a frozen clock, with a recording dispatcher."""
    plugin = MockPaymentPlugin(clock=MockClock(START))
    plugin.initialize()
    plugin.enable()
    plugin._attach_dispatcher(RecordingDispatcher())
    return plugin


def names(events: list[Event]) -> list[str]:
    """The events' names, in order."""
    return [event.name for event in events]


def subscribe(mock: MockPaymentPlugin, plan: Plan = PRO, **values: Any) -> str:
    """A subscription for host ids s1/u1 (its creation webhooks sent); its provider id."""
    customer = mock.create_customer(email="payer@example.com", user_id="u1").unwrap()
    request = SubscriptionRequest(
        plan=plan, customer_id=customer.id, subscription_id="s1", user_id="u1", **values
    )
    sub = mock.create_subscription(request).unwrap()
    mock.deliver_pending()
    return sub.id


# -- operations --------------------------------------------------------------------------


def test_every_billing_capability_is_declared(mock: MockPaymentPlugin) -> None:
    """The mock declares all recurring-billing capabilities it implements."""
    billing = {
        Capability.CHECKOUT,
        Capability.CUSTOMERS,
        Capability.SAVED_PAYMENT_METHODS,
        Capability.PLANS,
        Capability.SUBSCRIPTIONS,
        Capability.PLAN_CHANGES,
        Capability.PAUSE,
        Capability.DISPUTES,
    }
    assert billing <= mock.capabilities


def test_customers_round_trip_and_unknown_is_not_found(mock: MockPaymentPlugin) -> None:
    """create_customer keeps the host's user id; get_customer of an unknown id is NOT_FOUND."""
    made = mock.create_customer(email="a@example.com", name="A", user_id="u1").unwrap()
    assert mock.get_customer(made.id).unwrap() == made
    assert made.user_id == "u1"
    assert mock.get_customer("cus_nope").error_code is PaymentErrorCode.NOT_FOUND


def test_saved_methods_setup_list_detach(mock: MockPaymentPlugin) -> None:
    """A confirmed setup saves a card; it is listed, then detached once."""
    customer = mock.create_customer().unwrap()
    setup = mock.start_payment_method_setup(customer.id, **URLS).unwrap()
    assert setup.url is not None and setup.customer_id == customer.id
    secret_only = mock.start_payment_method_setup(customer.id).unwrap()
    assert secret_only.url is None and secret_only.client_secret
    card = mock.confirm_payment_method_setup(setup.id, last4="1111")
    assert mock.list_payment_methods(customer.id).unwrap() == (card,)
    assert mock.detach_payment_method(card.id).unwrap() == card
    assert mock.list_payment_methods(customer.id).unwrap() == ()
    assert mock.detach_payment_method(card.id).error_code is PaymentErrorCode.NOT_FOUND
    assert mock.list_payment_methods("cus_x").error_code is PaymentErrorCode.NOT_FOUND
    assert mock.start_payment_method_setup("cus_x").error_code is PaymentErrorCode.NOT_FOUND


def test_ensure_plan_is_idempotent_and_checks_references(mock: MockPaymentPlugin) -> None:
    """The same plan maps to one price; a new price to another; references are checked."""
    first = mock.ensure_plan(PRO).unwrap()
    assert mock.ensure_plan(PRO).unwrap() == first
    dearer = Plan(key="pro", name="Pro", price=Money("12.00", "USD"))
    assert mock.ensure_plan(dearer).unwrap().provider_plan_id != first.provider_plan_id
    ref = Plan(key="pro", name="Pro", price=PRO.price, provider_plan_id=first.provider_plan_id)
    assert mock.ensure_plan(ref).unwrap().provider_plan_id == first.provider_plan_id
    wrong = Plan(key="pro", name="Pro", price=dearer.price, provider_plan_id=first.provider_plan_id)
    assert mock.ensure_plan(wrong).error_code is PaymentErrorCode.INVALID_REQUEST
    unknown = Plan(key="pro", name="Pro", price=PRO.price, provider_plan_id="price_nope")
    assert mock.ensure_plan(unknown).error_code is PaymentErrorCode.NOT_FOUND


def test_create_subscription_charges_at_once_and_carries_host_ids(mock: MockPaymentPlugin) -> None:
    """Without a trial: created, renewed (first period paid), activated; host ids on each."""
    customer = mock.create_customer(user_id="u1").unwrap()
    request = SubscriptionRequest(
        plan=PRO, customer_id=customer.id, quantity=3, subscription_id="s1", user_id="u1"
    )
    sub = mock.create_subscription(request).unwrap()
    assert (sub.status, sub.quantity, sub.subscription_id) == (SubscriptionStatus.ACTIVE, 3, "s1")
    assert sub.current_period_end == datetime(2030, 2, 10, 12, 0, tzinfo=UTC)
    assert mock.pending_webhooks, "operation webhooks are queued until delivered"
    events = mock.deliver_pending()
    assert names(events) == [
        "subscription.created",
        "subscription.renewed",
        "subscription.activated",
    ]
    assert all((e.data["subscription_id"], e.data["user_id"]) == ("s1", "u1") for e in events)
    renewed = BillingEventData.from_event(events[1])
    assert (renewed.money, renewed.period_start) == (Money("30.00", "USD"), START)  # type: ignore[attr-defined]
    assert mock.payments[renewed.invoice_id].captured == 3000  # type: ignore[attr-defined]
    assert names(mock.event_dispatcher.events) == names(events)  # type: ignore[attr-defined]


def test_subscription_errors(mock: MockPaymentPlugin) -> None:
    """Unknown ids are NOT_FOUND; a declining card fails creation; nothing is created."""
    unknown = SubscriptionRequest(plan=PRO, customer_id="cus_nope")
    assert mock.create_subscription(unknown).error_code is PaymentErrorCode.NOT_FOUND
    customer = mock.create_customer().unwrap()
    card = mock.add_payment_method(customer.id, declines=True)
    declined = mock.create_subscription(
        SubscriptionRequest(plan=PRO, customer_id=customer.id, payment_method_id=card.id)
    )
    assert declined.error_code is PaymentErrorCode.DECLINED
    assert mock.billing.subscriptions == {} and mock.pending_webhooks == []
    for call in (mock.get_subscription, mock.pause_subscription, mock.resume_subscription):
        assert call("sub_nope").error_code is PaymentErrorCode.NOT_FOUND
    assert mock.cancel_subscription("sub_nope").error_code is PaymentErrorCode.NOT_FOUND


def test_idempotency_keys_replay_or_conflict(mock: MockPaymentPlugin) -> None:
    """Same key and request: same subscription; another request: IDEMPOTENCY_CONFLICT."""
    request = SubscriptionRequest(plan=PRO, subscription_id="s1")
    first = mock.create_subscription(request, idempotency_key="k1").unwrap()
    assert mock.create_subscription(request, idempotency_key="k1").unwrap() == first
    assert len(mock.billing.subscriptions) == 1
    other = SubscriptionRequest(plan=PRO, subscription_id="s2")
    conflict = mock.create_subscription(other, idempotency_key="k1")
    assert conflict.error_code is PaymentErrorCode.IDEMPOTENCY_CONFLICT
    customer = mock.create_customer(email="a@example.com", idempotency_key="c").unwrap()
    assert mock.create_customer(email="a@example.com", idempotency_key="c").unwrap() == customer
    assert [c.idempotency_key for c in mock.calls_to("create_customer")] == ["c", "c"]


def test_scripted_outcomes_apply_to_billing(mock: MockPaymentPlugin) -> None:
    """mock.script() makes a billing operation fail with the scripted code, once."""
    mock.script(
        MockOutcome.ERROR, operation="create_customer", error_code=PaymentErrorCode.RATE_LIMITED
    )
    assert mock.create_customer().error_code is PaymentErrorCode.RATE_LIMITED
    assert mock.create_customer().success


def test_state_transitions_are_checked(mock: MockPaymentPlugin) -> None:
    """Bad transitions are INVALID_REQUEST failures, never exceptions."""
    sub = subscribe(mock, TRIAL)
    assert mock.pause_subscription(sub).error_code is PaymentErrorCode.INVALID_REQUEST
    assert mock.resume_subscription(sub).error_code is PaymentErrorCode.INVALID_REQUEST
    euro = Plan(key="eur", name="Euro", price=Money("10.00", "EUR"))
    assert mock.change_subscription_plan(sub, euro).error_code is PaymentErrorCode.INVALID_REQUEST
    assert mock.change_subscription_plan(sub, TRIAL).error_code is PaymentErrorCode.INVALID_REQUEST
    assert mock.cancel_subscription(sub, at_period_end=False).unwrap().status is (
        SubscriptionStatus.CANCELLED
    )
    again = mock.cancel_subscription(sub, at_period_end=False)
    assert again.error_code is PaymentErrorCode.INVALID_REQUEST


def test_undeclared_capabilities_raise() -> None:
    """Undeclared billing operations and dispute controls raise UnsupportedOperationError."""
    limited = MockPaymentPlugin(
        capabilities=frozenset(Capability) - {Capability.DISPUTES, Capability.CUSTOMERS}
    )
    with pytest.raises(UnsupportedOperationError):
        limited.create_customer()
    with pytest.raises(UnsupportedOperationError):
        limited.open_dispute("mock_pay_1")
    assert limited.ensure_plan(PRO).success


# -- checkout ------------------------------------------------------------------------------


def test_checkout_subscription_completes_with_events(mock: MockPaymentPlugin) -> None:
    """Completing a subscription checkout: checkout.completed, then the subscription's events."""
    request = CheckoutRequest(
        mode=CheckoutMode.SUBSCRIPTION, plan=TRIAL, subscription_id="s1", user_id="u1", **URLS
    )
    session = mock.create_checkout_session(request).unwrap()
    assert session.expires_at == START + timedelta(hours=24)
    events = mock.complete_checkout(session.id)
    assert names(events) == ["checkout.completed", "subscription.created", "subscription.activated"]
    completed = events[0].data
    sub = mock.get_subscription(completed["provider_subscription_id"]).unwrap()
    assert (sub.status, sub.subscription_id, sub.user_id) == (
        SubscriptionStatus.TRIALING,
        "s1",
        "u1",
    )
    assert mock.list_payment_methods(completed["customer_id"]).unwrap()
    with pytest.raises(Exception, match="already completed"):
        mock.complete_checkout(session.id)


def test_checkout_payment_and_expiry(mock: MockPaymentPlugin) -> None:
    """A payment checkout sends checkout.completed and payment.completed; expired ones refuse."""
    request = CheckoutRequest(
        mode=CheckoutMode.PAYMENT, amount=Money("5", "JPY"), quantity=2, user_id="u1", **URLS
    )
    session = mock.create_checkout_session(request).unwrap()
    events = mock.complete_checkout(session.id)
    assert names(events) == ["checkout.completed", "payment.completed"]
    assert (events[0].data["amount"], events[0].data["currency"]) == (10, "JPY")
    assert mock.refund_payment(events[0].data["transaction_id"]).amount == 10
    late = mock.create_checkout_session(request).unwrap()
    mock.advance(timedelta(hours=25))
    with pytest.raises(Exception, match="expired"):
        mock.complete_checkout(late.id)


def test_checkout_setup_saves_a_card(mock: MockPaymentPlugin) -> None:
    """A setup checkout saves a card on its customer; an unknown customer is NOT_FOUND."""
    customer = mock.create_customer().unwrap()
    request = CheckoutRequest(mode=CheckoutMode.SETUP, customer_id=customer.id, **URLS)
    events = mock.complete_checkout(mock.create_checkout_session(request).unwrap().id)
    assert names(events) == ["checkout.completed"]
    assert len(mock.list_payment_methods(customer.id).unwrap()) == 1
    unknown = CheckoutRequest(mode=CheckoutMode.SETUP, customer_id="cus_nope", **URLS)
    assert mock.create_checkout_session(unknown).error_code is PaymentErrorCode.NOT_FOUND


# -- disputes ------------------------------------------------------------------------------


def test_disputes_open_and_close(mock: MockPaymentPlugin) -> None:
    """A paid invoice can be disputed; dispute.opened then dispute.closed with the outcome."""
    subscribe(mock)
    invoice = next(iter(mock.payments))
    dispute = mock.open_dispute(invoice, amount=Money("4.00", "USD"), reason="fraudulent")
    opened = mock.sent_events[-1]
    assert (opened.name, opened.data["amount"], opened.data["subscription_id"]) == (
        "dispute.opened",
        400,
        "s1",
    )
    closed = mock.close_dispute(dispute, outcome=DisputeOutcome.WON)
    assert names(closed) == ["dispute.closed"] and closed[0].data["outcome"] == "won"
    with pytest.raises(Exception, match="already closed"):
        mock.close_dispute(dispute)
    with pytest.raises(Exception, match="No such payment"):
        mock.open_dispute("mock_pay_nope")


# -- the clock-driven lifecycle --------------------------------------------------------------


def test_lifecycle_trial_renew_fail_recover_cancel(mock: MockPaymentPlugin) -> None:
    """trial -> active -> renewed -> payment failed -> past due -> recovered -> cancelled."""
    sub = subscribe(mock, TRIAL)
    trial_end = START + timedelta(days=14)
    warned = mock.advance(timedelta(days=11))
    assert names(warned) == ["subscription.trial_will_end"]
    assert warned[0].data["trial_end"] == trial_end
    ended = mock.advance(timedelta(days=3))
    assert names(ended) == ["subscription.renewed", "subscription.activated"]
    assert (ended[0].data["period_start"], ended[0].data["amount"]) == (trial_end, 1000)
    first_end = ended[0].data["period_end"]
    renewed = mock.advance(first_end - mock.clock.now())
    assert names(renewed) == ["subscription.renewed"]
    assert renewed[0].data["period_start"] == first_end
    mock.fail_next_renewal(sub, error_code=PaymentErrorCode.INSUFFICIENT_FUNDS)
    due = renewed[0].data["period_end"]
    failed = mock.advance(due - mock.clock.now())
    assert names(failed) == ["subscription.payment_failed", "subscription.past_due"]
    assert (failed[0].data["attempt"], failed[0].data["next_retry_at"]) == (
        1,
        due + timedelta(days=1),
    )
    assert failed[0].data["error_code"] == "insufficient_funds"
    assert mock.get_subscription(sub).unwrap().status is SubscriptionStatus.PAST_DUE
    recovered = mock.advance(timedelta(days=1))
    assert names(recovered) == ["subscription.renewed", "subscription.activated"]
    assert recovered[0].data["period_start"] == due
    assert mock.cancel_subscription(sub).unwrap().cancel_at_period_end
    period_end = mock.get_subscription(sub).unwrap().current_period_end
    assert period_end is not None
    scheduled = mock.advance(period_end - mock.clock.now() - timedelta(seconds=1))
    assert names(scheduled) == ["subscription.cancelled"]  # announced when requested
    cancelled = mock.advance(timedelta(days=90))
    assert names(cancelled) == ["subscription.cancelled"]
    assert (cancelled[0].data["at_period_end"], cancelled[0].data["ends_at"]) == (True, period_end)
    assert cancelled[0].data["occurred_at"] == period_end


def test_cancel_at_period_end_is_announced_when_requested_and_when_it_ends(
    mock: MockPaymentPlugin,
) -> None:
    """Like Stripe: subscription.cancelled(at_period_end) queued when asked, again at the end."""
    sub = subscribe(mock)
    period_end = mock.get_subscription(sub).unwrap().current_period_end
    mock.advance(timedelta(days=3))
    requested_at = mock.clock.now()
    assert mock.cancel_subscription(sub, at_period_end=True).unwrap().cancel_at_period_end
    assert len(mock.pending_webhooks) == 1, "queued like other operation webhooks"
    [scheduled] = mock.deliver_pending()
    announced = BillingEventData.from_event(scheduled)
    assert isinstance(announced, SubscriptionCancelled)
    assert (announced.at_period_end, announced.ends_at) == (True, period_end)
    assert (announced.status, announced.occurred_at) == (SubscriptionStatus.ACTIVE, requested_at)
    assert (announced.subscription_id, announced.user_id) == ("s1", "u1")
    mock.cancel_subscription(sub, at_period_end=True).unwrap()  # already scheduled: no news
    assert mock.pending_webhooks == []
    assert period_end is not None
    [ended] = mock.advance(period_end - mock.clock.now())
    final = BillingEventData.from_event(ended)
    assert isinstance(final, SubscriptionCancelled)
    assert (final.status, final.at_period_end, final.ends_at) == (
        SubscriptionStatus.CANCELLED,
        True,
        period_end,
    )
    assert final.occurred_at == period_end


def test_retries_exhausted_cancel_the_subscription(mock: MockPaymentPlugin) -> None:
    """Retries run at 1, 3 and 5 days; when the last fails the subscription is cancelled."""
    sub = subscribe(mock)
    mock.fail_next_renewal(sub, times=4)
    events = mock.advance(timedelta(days=40))
    failures = [e for e in events if e.name == "subscription.payment_failed"]
    due = failures[0].data["occurred_at"]
    assert [e.data["occurred_at"] - due for e in failures] == [
        timedelta(0),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=5),
    ]
    assert [e.data["attempt"] for e in failures] == [1, 2, 3, 4]
    assert failures[-1].data["next_retry_at"] is None
    assert names(events)[-1] == "subscription.cancelled"
    assert events[-1].data["at_period_end"] is False
    assert mock.advance(timedelta(days=400)) == []


def test_declining_card_fails_renewals(mock: MockPaymentPlugin) -> None:
    """A saved card that declines makes the renewal fail with its code."""
    customer = mock.create_customer().unwrap()
    card = mock.add_payment_method(
        customer.id, declines=True, error_code=PaymentErrorCode.PAYER_ACTION_REQUIRED
    )
    request = SubscriptionRequest(plan=TRIAL, customer_id=customer.id, payment_method_id=card.id)
    mock.create_subscription(request).unwrap()
    events = mock.advance(timedelta(days=14))
    failed = [e for e in events if e.name == "subscription.payment_failed"]
    assert failed and failed[0].data["error_code"] == "payer_action_required"


def test_pause_and_resume_skip_renewals(mock: MockPaymentPlugin) -> None:
    """No renewal while paused; resuming after the period end renews at the resume."""
    sub = subscribe(mock)
    assert mock.pause_subscription(sub).unwrap().status is SubscriptionStatus.PAUSED
    assert names(mock.deliver_pending()) == ["subscription.paused"]
    assert mock.advance(timedelta(days=45)) == []
    resumed = mock.resume_subscription(sub).unwrap()
    assert resumed.status is SubscriptionStatus.ACTIVE
    events = mock.deliver_pending()
    assert names(events) == ["subscription.resumed", "subscription.renewed"]
    assert events[1].data["period_start"] == mock.clock.now()


@pytest.mark.parametrize(
    ("proration", "now_charged", "next_renewal"),
    [
        # 10.00 -> 25.00 with 20 of 31 days left: credit 645, charge 1613 (halves up).
        (Proration.CREATE_PRORATIONS, None, 2500 + 1613 - 645),
        (Proration.ALWAYS_INVOICE, 1613 - 645, 2500),
        (Proration.NONE, None, 2500),
    ],
)
def test_plan_change_prorations(
    mock: MockPaymentPlugin, proration: Proration, now_charged: int | None, next_renewal: int
) -> None:
    """Prorations are exact minor units: credit unused time, charge now, or none."""
    sub = subscribe(mock)
    bigger = Plan(key="max", name="Max", price=Money("25.00", "USD"))
    mock.advance(timedelta(days=11))  # 20 of the period's 31 days left
    changed = mock.change_subscription_plan(sub, bigger, proration=proration).unwrap()
    assert changed.provider_plan_id == mock.ensure_plan(bigger).unwrap().provider_plan_id
    events = mock.deliver_pending()
    assert names(events)[0] == "subscription.updated"
    assert events[0].data["previous_plan_id"] == mock.ensure_plan(PRO).unwrap().provider_plan_id
    charged = [e.data["amount"] for e in events if e.name == "subscription.renewed"]
    assert charged == ([] if now_charged is None else [now_charged])
    renewal = mock.advance(timedelta(days=20))
    assert [e.data["amount"] for e in renewal if e.name == "subscription.renewed"] == [next_renewal]


def test_clock_rules() -> None:
    """The clock refuses to go back and needs aware datetimes; the default follows real time."""
    clock = MockClock(START)
    clock.advance(timedelta(days=1))
    assert clock.now() == START + timedelta(days=1)
    with pytest.raises(ValueError, match="back"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="aware"):
        MockClock(datetime(2030, 1, 1))
    real = MockClock()
    assert abs(real.now() - datetime.now(UTC)) < timedelta(minutes=5)
    real.advance(timedelta(days=2))
    assert real.now() - datetime.now(UTC) > timedelta(days=1)


def test_failing_listener_keeps_the_webhook_queued(mock: MockPaymentPlugin) -> None:
    """A listener error propagates; the webhook stays queued and is sent again later."""
    calls: list[str] = []

    def flaky(event: Event) -> None:
        calls.append(event.name)
        if len(calls) == 1:
            raise RuntimeError("database down")

    mock.event_dispatcher.add_listener("subscription.created", flaky)
    mock.create_subscription(SubscriptionRequest(plan=PRO)).unwrap()
    with pytest.raises(ExceptionGroup):
        mock.deliver_pending()
    assert len(mock.pending_webhooks) == 3
    assert names(mock.deliver_pending())[0] == "subscription.created"
    assert calls == ["subscription.created", "subscription.created"]


def test_real_time_clock_catches_up_on_the_next_call() -> None:
    """On a clock following a time source, what fell due happens on the next call."""
    now = [START.timestamp()]
    mock = MockPaymentPlugin(clock=lambda: now[0])
    sub = mock.create_subscription(SubscriptionRequest(plan=PRO)).unwrap()
    mock.deliver_pending()
    now[0] += timedelta(days=31, seconds=1).total_seconds()
    assert mock.get_subscription(sub.id).unwrap().current_period_start == sub.current_period_end
    assert names(mock.deliver_pending()) == ["subscription.renewed"]


def test_reset_forgets_billing(mock: MockPaymentPlugin) -> None:
    """reset() forgets subscriptions, customers and queued webhooks too."""
    subscribe(mock)
    mock.create_subscription(SubscriptionRequest(plan=PRO)).unwrap()
    mock.reset()
    assert mock.billing.subscriptions == {} and mock.billing.customers == {}
    assert mock.pending_webhooks == [] and mock.calls == []
