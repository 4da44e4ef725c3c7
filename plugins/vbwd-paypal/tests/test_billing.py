"""Recurring billing over real HTTP against the fake PayPal: plans, subscriptions, checkout."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from vbwd_paypal.testing import FakePayPal, WebhookSigner, make_event

from vbwd_plugins import Event, Money, PaymentErrorCode
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import (
    BillingEventData,
    CheckoutMode,
    CheckoutRequest,
    Interval,
    Plan,
    Proration,
    SubscriptionRequest,
    SubscriptionStatus,
)
from vbwd_plugins.testing import WebhookDelivery

from .conftest import Rig

SUB, USER = "host-sub-1", "host-user-1"
RETURN, CANCEL = "https://host.example/return", "https://host.example/cancel"


def _plan(**changes: object) -> Plan:
    plan = Plan(key="pro-monthly", name="Pro", price=Money("12.50", "USD"))
    return replace(plan, **changes)  # type: ignore[arg-type]


def _request(plan: Plan | None = None, **changes: object) -> SubscriptionRequest:
    request = SubscriptionRequest(
        plan=plan or _plan(),
        subscription_id=SUB,
        user_id=USER,
        return_url=RETURN,
        cancel_url=CANCEL,
    )
    return replace(request, **changes)  # type: ignore[arg-type]


def _events(rig: Rig, deliveries: Sequence[WebhookDelivery]) -> list[Event]:
    """Verify and translate signed deliveries, as the webhook pipeline would."""
    events: list[Event] = []
    for delivery in deliveries:
        received = rig.plugin.receive_webhook(delivery.headers, delivery.body)
        events.extend(rig.plugin.translate_webhook(received.payload))
    return events


def _data(events: Sequence[Event], name: str) -> BillingEventData:
    found = [BillingEventData.from_event(e) for e in events if e.name == name]
    assert len(found) == 1, [e.name for e in events]
    return found[0]


def _active(rig: Rig, signer: WebhookSigner, plan: Plan | None = None) -> str:
    sub = rig.plugin.create_subscription(_request(plan)).unwrap()
    rig.fake.approve_subscription(sub.id)
    rig.fake.take_webhooks()
    return sub.id


# -- plans ---------------------------------------------------------------------------------


def test_ensure_plan_creates_product_and_plan_once(rig: Rig, fake: FakePayPal) -> None:
    """A second ensure_plan finds the catalog product (VBWD-SUBSCRIPTIONS) and the plan."""
    first = rig.plugin.ensure_plan(_plan()).unwrap()
    again = rig.plugin.ensure_plan(_plan()).unwrap()
    assert first == again
    assert first.provider_product_id == "VBWD-SUBSCRIPTIONS"
    assert len(fake.products) == 1 and len(fake.plans) == 1
    assert len(fake.calls("POST", "/v1/catalogs/products")) == 1, "the product is remembered"
    stored = fake.plans[first.provider_plan_id]
    assert stored["billing_cycles"][0]["pricing_scheme"]["fixed_price"] == {
        "currency_code": "USD",
        "value": "12.50",
    }
    assert stored["billing_cycles"][0]["tenure_type"] == "REGULAR"
    assert stored["billing_cycles"][0]["total_cycles"] == 0


def test_ensure_plan_is_found_by_a_fresh_plugin(
    make_rig: Callable[..., Rig], rig: Rig, fake: FakePayPal
) -> None:
    """Idempotency lives at PayPal: a new plugin instance lists and finds the plan."""
    first = rig.plugin.ensure_plan(_plan()).unwrap()
    other = make_rig()
    assert other.plugin.ensure_plan(_plan()).unwrap() == first
    assert len(fake.plans) == 1


@pytest.mark.parametrize(
    "changed",
    [
        {"price": Money("13", "USD")},
        {"interval": Interval.YEAR},
        {"interval_count": 3},
        {"trial_days": 14},
        {"name": "Pro (new)"},
    ],
    ids=["price", "interval", "count", "trial", "name"],
)
def test_another_price_or_interval_is_another_plan(rig: Rig, changed: dict[str, object]) -> None:
    """The same key with another price, interval, trial or name is a new billing plan."""
    first = rig.plugin.ensure_plan(_plan()).unwrap()
    other = rig.plugin.ensure_plan(_plan(**changed)).unwrap()
    assert other.provider_plan_id != first.provider_plan_id
    assert other.provider_product_id == first.provider_product_id


def test_trial_is_a_free_trial_cycle(rig: Rig, fake: FakePayPal) -> None:
    """A 14-day trial is one free DAY x 14 cycle before the regular one."""
    created = rig.plugin.ensure_plan(_plan(trial_days=14)).unwrap()
    trial, regular = fake.plans[created.provider_plan_id]["billing_cycles"]
    assert trial["tenure_type"] == "TRIAL" and "pricing_scheme" not in trial
    assert trial["frequency"] == {"interval_unit": "DAY", "interval_count": 14}
    assert trial["total_cycles"] == 1
    assert regular["tenure_type"] == "REGULAR" and regular["sequence"] == 2


@pytest.mark.parametrize(("value", "currency"), [("1500", "JPY"), ("2500", "HUF"), ("9.99", "EUR")])
def test_plans_in_zero_decimal_currencies_are_exact(
    rig: Rig, fake: FakePayPal, value: str, currency: str
) -> None:
    """PayPal's zero-decimal currencies are sent without decimals and found again."""
    plan = _plan(price=Money(value, currency))
    created = rig.plugin.ensure_plan(plan).unwrap()
    fixed = fake.plans[created.provider_plan_id]["billing_cycles"][0]["pricing_scheme"]
    assert fixed["fixed_price"]["value"] == value
    assert rig.plugin.ensure_plan(plan).unwrap() == created


def test_three_decimal_currencies_are_refused_before_any_call(rig: Rig, fake: FakePayPal) -> None:
    """PayPal has no three-decimal currency: a KWD plan raises MoneyError, nothing is sent."""
    with pytest.raises(MoneyError):
        rig.plugin.ensure_plan(_plan(price=Money("1.500", "KWD")))
    assert fake.calls("POST", "/v1/") == []


def test_intervals_beyond_paypal_limits_are_invalid(rig: Rig, fake: FakePayPal) -> None:
    """Every 13 months is more than PayPal bills: INVALID_REQUEST naming interval_count."""
    result = rig.plugin.ensure_plan(_plan(interval_count=13))
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert "interval_count" in (result.error_message or "")
    assert fake.plans == {}


def test_plan_referenced_by_id_is_checked(rig: Rig) -> None:
    """provider_plan_id is read and must bill as the plan says; unknown is NOT_FOUND."""
    created = rig.plugin.ensure_plan(_plan()).unwrap()
    referenced = _plan(provider_plan_id=created.provider_plan_id)
    assert rig.plugin.ensure_plan(referenced).unwrap().provider_plan_id == (
        created.provider_plan_id
    )
    wrong = rig.plugin.ensure_plan(replace(referenced, price=Money("99", "USD")))
    assert wrong.error_code is PaymentErrorCode.INVALID_REQUEST
    assert created.provider_plan_id in (wrong.error_message or "")
    unknown = rig.plugin.ensure_plan(_plan(provider_plan_id="P-UNKNOWN000000000000"))
    assert unknown.error_code is PaymentErrorCode.NOT_FOUND


# -- subscriptions -------------------------------------------------------------------------


def test_create_subscription_is_pending_with_approval(rig: Rig, fake: FakePayPal) -> None:
    """A new subscription waits for the payer: PENDING, approval_url, host ids in custom_id."""
    sub = rig.plugin.create_subscription(_request(quantity=2), idempotency_key="k-1").unwrap()
    assert sub.status is SubscriptionStatus.PENDING
    assert sub.approval_url and "ba_token=" in sub.approval_url
    assert (sub.subscription_id, sub.user_id, sub.quantity) == (SUB, USER, 2)
    sent = fake.calls("POST", "/v1/billing/subscriptions")[-1]
    assert sent.header("PayPal-Request-Id") == "k-1"
    assert sent.json["custom_id"] == f"{SUB},{USER}"
    assert sent.json["quantity"] == "2"
    assert sent.json["application_context"]["return_url"] == RETURN
    again = rig.plugin.create_subscription(_request(quantity=2), idempotency_key="k-1").unwrap()
    assert again.id == sub.id


def test_approval_activates_and_the_first_payment_renews(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """Approval: subscription.activated, checkout.completed and the first period's renewal."""
    sub = rig.plugin.create_subscription(_request()).unwrap()
    events = _events(rig, fake.approve_subscription(sub.id))
    assert [e.name for e in events] == [
        "subscription.activated",
        "checkout.completed",
        "subscription.renewed",
    ]
    renewed = _data(events, "subscription.renewed")
    assert (renewed.amount, renewed.currency) == (1250, "USD")  # type: ignore[attr-defined]
    assert (renewed.subscription_id, renewed.user_id) == (SUB, USER)
    assert renewed.invoice_id in fake.sales  # type: ignore[attr-defined]
    found = rig.plugin.get_subscription(sub.id).unwrap()
    assert found.status is SubscriptionStatus.ACTIVE
    assert found.current_period_end is not None
    paid_for = found.current_period_end - fake.billing_now
    assert timedelta(days=28) <= paid_for <= timedelta(days=31), "one month paid"
    assert rig.dispatcher.events == []


def test_trial_subscription_is_trialing_until_the_first_charge(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """With a 14-day trial it is TRIALING, trial_end 14 days on; the renewal makes it ACTIVE."""
    sub = rig.plugin.create_subscription(_request(trial_days=14)).unwrap()
    assert [e.name for e in _events(rig, fake.approve_subscription(sub.id))] == [
        "subscription.activated",
        "checkout.completed",
    ]
    trialing = rig.plugin.get_subscription(sub.id).unwrap()
    assert trialing.status is SubscriptionStatus.TRIALING
    assert trialing.trial_end == fake.billing_now + timedelta(days=14)
    events = _events(rig, fake.renew(sub.id))
    assert [e.name for e in events] == ["subscription.renewed"]
    assert rig.plugin.get_subscription(sub.id).unwrap().status is SubscriptionStatus.ACTIVE


def test_failed_renewals_go_past_due_then_unpaid_and_recover(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """Failures: payment_failed + past_due; at PayPal's threshold unpaid; a success resumes."""
    sub_id = _active(rig, signer)
    failed = _events(rig, fake.renew(sub_id, succeed=False))
    assert [e.name for e in failed] == ["subscription.payment_failed", "subscription.past_due"]
    payment_failed = _data(failed, "subscription.payment_failed")
    assert payment_failed.attempt == 1  # type: ignore[attr-defined]
    assert payment_failed.next_retry_at is not None  # type: ignore[attr-defined]
    assert (payment_failed.amount, payment_failed.currency) == (1250, "USD")  # type: ignore[attr-defined]
    assert rig.plugin.get_subscription(sub_id).unwrap().status is SubscriptionStatus.PAST_DUE
    _events(rig, fake.renew(sub_id, succeed=False))
    third = _events(rig, fake.renew(sub_id, succeed=False))
    assert [e.name for e in third][-1] == "subscription.past_due"
    assert _data(third[-1:], "subscription.past_due").status is SubscriptionStatus.UNPAID  # type: ignore[attr-defined]
    assert rig.plugin.get_subscription(sub_id).unwrap().status is SubscriptionStatus.UNPAID
    recovered = _events(rig, fake.renew(sub_id))
    assert [e.name for e in recovered] == ["subscription.renewed", "subscription.resumed"]
    assert rig.plugin.get_subscription(sub_id).unwrap().status is SubscriptionStatus.ACTIVE


def test_cancel_at_period_end_keeps_it_active_until_paid_through(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """PayPal cancels now; the answer, get and the event keep access until the paid end."""
    sub_id = _active(rig, signer)
    paid_through = rig.plugin.get_subscription(sub_id).unwrap().current_period_end
    assert paid_through is not None
    cancelled = rig.plugin.cancel_subscription(sub_id).unwrap()
    assert cancelled.status is SubscriptionStatus.ACTIVE
    assert cancelled.cancel_at_period_end and cancelled.current_period_end == paid_through
    assert cancelled.provider_status == "CANCELLED"
    assert rig.plugin.get_subscription(sub_id).unwrap() == cancelled
    event = _data(_events(rig, fake.take_webhooks()), "subscription.cancelled")
    assert event.at_period_end is True and event.ends_at == paid_through  # type: ignore[attr-defined]
    assert (event.subscription_id, event.user_id) == (SUB, USER)


def test_cancel_now_ends_it(rig: Rig, fake: FakePayPal, signer: WebhookSigner) -> None:
    """cancel_subscription(at_period_end=False) is CANCELLED, and its event says so."""
    sub_id = _active(rig, signer)
    cancelled = rig.plugin.cancel_subscription(sub_id, at_period_end=False).unwrap()
    assert cancelled.status is SubscriptionStatus.CANCELLED
    assert not cancelled.cancel_at_period_end
    event = _data(_events(rig, fake.take_webhooks()), "subscription.cancelled")
    assert event.at_period_end is False and event.ends_at is None  # type: ignore[attr-defined]
    again = rig.plugin.cancel_subscription(sub_id, at_period_end=False)
    assert again.success, "cancelling a cancelled subscription is not an error"


def test_pause_and_resume(rig: Rig, fake: FakePayPal, signer: WebhookSigner) -> None:
    """Suspend is PAUSED (subscription.paused); activate is running (subscription.resumed)."""
    sub_id = _active(rig, signer)
    assert rig.plugin.pause_subscription(sub_id).unwrap().status is SubscriptionStatus.PAUSED
    assert rig.plugin.pause_subscription(sub_id).success, "pausing twice is not an error"
    resumed = rig.plugin.resume_subscription(sub_id).unwrap()
    assert resumed.status is SubscriptionStatus.ACTIVE
    names = [e.name for e in _events(rig, fake.take_webhooks())]
    assert names == ["subscription.paused", "subscription.resumed"]


def test_change_plan_needs_the_payers_approval(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """A revision answers the approval link; once approved, subscription.updated names it."""
    sub_id = _active(rig, signer)
    old = rig.plugin.get_subscription(sub_id).unwrap().provider_plan_id
    team = Plan(key="team-monthly", name="Team", price=Money("40", "USD"))
    result = rig.plugin.change_subscription_plan(sub_id, team, proration=Proration.NONE)
    changed = result.unwrap()
    assert result.metadata["proration"] == "none"
    assert changed.approval_url and changed.provider_plan_id == old
    updated = _data(_events(rig, fake.approve_revision(sub_id)), "subscription.updated")
    new = rig.plugin.get_subscription(sub_id).unwrap().provider_plan_id
    assert new != old and updated.provider_plan_id == new  # type: ignore[attr-defined]
    assert fake.plans[new]["product_id"] == fake.plans[old]["product_id"]


def test_always_invoice_is_refused(rig: Rig, fake: FakePayPal, signer: WebhookSigner) -> None:
    """PayPal cannot invoice a plan change now: ALWAYS_INVOICE is an INVALID_REQUEST."""
    sub_id = _active(rig, signer)
    result = rig.plugin.change_subscription_plan(
        sub_id, _plan(price=Money("20", "USD")), proration=Proration.ALWAYS_INVOICE
    )
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert fake.calls("POST", f"/v1/billing/subscriptions/{sub_id}/revise") == []


def test_unknown_subscription_is_not_found(rig: Rig) -> None:
    """get_subscription of an unknown id is a NOT_FOUND result."""
    result = rig.plugin.get_subscription("I-UNKNOWN00000")
    assert result.error_code is PaymentErrorCode.NOT_FOUND


@pytest.mark.parametrize(
    "changes",
    [{"user_id": None}, {"payment_method_id": "pm_1"}],
    ids=["one-host-id", "saved-method"],
)
def test_requests_paypal_cannot_carry_are_invalid(
    rig: Rig, fake: FakePayPal, changes: dict[str, object]
) -> None:
    """One host id without the other, or a saved method, is refused before any subscription."""
    result = rig.plugin.create_subscription(_request(**changes))
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert fake.subscriptions == {}


# -- checkout, sales and disputes ------------------------------------------------------------


def test_payment_checkout_is_an_order_with_its_expiry(rig: Rig, fake: FakePayPal) -> None:
    """A payment checkout is an order: its approval link, expiring 3 hours after creation."""
    request = CheckoutRequest(
        mode=CheckoutMode.PAYMENT,
        success_url=RETURN,
        cancel_url=CANCEL,
        amount=Money("10.00", "USD"),
        quantity=2,
        subscription_id=SUB,
        user_id=USER,
    )
    session = rig.plugin.create_checkout_session(request).unwrap()
    order = fake.orders[session.id]
    assert session.provider_object_id == session.id
    assert session.url in [entry["href"] for entry in order["links"]]
    unit = order["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "USD", "value": "20.00"}
    assert unit["custom_id"] == f"{SUB},{USER}"
    assert session.expires_at is not None
    assert session.expires_at - timedelta(hours=3) <= fake.billing_now + timedelta(minutes=5)


def test_payment_checkout_completes_when_the_payer_approves(rig: Rig, fake: FakePayPal) -> None:
    """Its order's approval yields checkout.completed (amount, host ids); orders of
    create_payment_intent do not."""
    request = CheckoutRequest(
        mode=CheckoutMode.PAYMENT,
        success_url=RETURN,
        cancel_url=CANCEL,
        amount=Money("1000", "JPY"),
        subscription_id=SUB,
        user_id=USER,
    )
    session = rig.plugin.create_checkout_session(request).unwrap()
    fake.approve(session.id)
    events = rig.plugin.translate_webhook(
        make_event("CHECKOUT.ORDER.APPROVED", fake.orders[session.id])
    )
    assert [e.name for e in events] == ["checkout.completed", "paypal.order.approved"]
    completed = _data(events, "checkout.completed")
    assert completed.checkout_session_id == completed.transaction_id == session.id  # type: ignore[attr-defined]
    assert (completed.amount, completed.currency) == (1000, "JPY")  # type: ignore[attr-defined]
    assert (completed.subscription_id, completed.user_id) == (SUB, USER)
    intent = rig.plugin.create_payment_intent(Decimal("5"), "USD", SUB, USER)  # type: ignore[arg-type]
    fake.approve(intent.transaction_id or "")
    plain = make_event("CHECKOUT.ORDER.APPROVED", fake.orders[intent.transaction_id or ""])
    assert [e.name for e in rig.plugin.translate_webhook(plain)] == ["paypal.order.approved"]


def test_a_trial_the_plan_lacks_starts_the_subscription_later(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """trial_days on a plan without a trial: start_time that much later, TRIALING till then."""
    sub = rig.plugin.create_subscription(_request(trial_days=7)).unwrap()
    sent = fake.calls("POST", "/v1/billing/subscriptions")[-1].json
    assert "start_time" in sent and len(fake.plans) == 1
    assert [e.name for e in _events(rig, fake.approve_subscription(sub.id))] == [
        "subscription.activated",
        "checkout.completed",
    ]
    trialing = rig.plugin.get_subscription(sub.id).unwrap()
    assert trialing.status is SubscriptionStatus.TRIALING and trialing.trial_end is not None
    trial = trialing.trial_end - fake.billing_now
    assert timedelta(days=7) <= trial <= timedelta(days=7, minutes=5)


def test_subscription_checkout_is_the_subscription_approval(rig: Rig, fake: FakePayPal) -> None:
    """A subscription checkout's id is the subscription's, its url the approve link."""
    request = CheckoutRequest(
        mode=CheckoutMode.SUBSCRIPTION,
        success_url=RETURN,
        cancel_url=CANCEL,
        plan=_plan(trial_days=14),
        subscription_id=SUB,
        user_id=USER,
    )
    session = rig.plugin.create_checkout_session(request).unwrap()
    assert session.id in fake.subscriptions and session.expires_at is None
    assert session.url == rig.plugin.get_subscription(session.id).unwrap().approval_url


def test_sale_refund_and_dispute_events(rig: Rig, fake: FakePayPal, signer: WebhookSigner) -> None:
    """A renewal's sale: its refund is payment.refunded; its dispute opens and is won."""
    sub = rig.plugin.create_subscription(_request()).unwrap()
    renewed = _data(_events(rig, fake.approve_subscription(sub.id)), "subscription.renewed")
    sale_id = renewed.invoice_id  # type: ignore[attr-defined]
    rig.plugin.client.call(
        "POST",
        f"/v1/payments/sale/{sale_id}/refund",
        body={"amount": {"total": "2.50", "currency": "USD"}},
        request_id="refund-1",
    )
    refunded = [e for e in _events(rig, fake.take_webhooks()) if e.name == "payment.refunded"]
    assert len(refunded) == 1
    data = refunded[0].data
    assert (data["transaction_id"], data["amount"], data["user_id"]) == (sale_id, 250, USER)
    opened = _data(_events(rig, fake.open_dispute(sale_id)), "dispute.opened")
    assert (opened.transaction_id, opened.amount) == (sale_id, 1250)  # type: ignore[attr-defined]
    assert (opened.subscription_id, opened.user_id) == (SUB, USER)
    dispute_id = opened.dispute_id  # type: ignore[attr-defined]
    closed = _data(
        _events(rig, fake.resolve_dispute(dispute_id, "RESOLVED_SELLER_FAVOUR")), "dispute.closed"
    )
    assert closed.outcome.value == "won"  # type: ignore[attr-defined]
