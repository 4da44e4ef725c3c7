"""The mock's billing webhooks reach a host through the real pipeline, and its harness hooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vbwd_plugins import Money, PluginManager, WebhookProcessor
from vbwd_plugins.events import Event
from vbwd_plugins.payments import CheckoutMode, CheckoutRequest, Plan, SubscriptionRequest
from vbwd_plugins.stores import SQLiteStateStore
from vbwd_plugins.testing import MockClock, MockPaymentPlugin, WebhookVariant
from vbwd_plugins.testing._support import BillingScenario

START = datetime(2031, 5, 31, 9, 30, tzinfo=UTC)
PLAN = Plan(key="team", name="Team", price=Money("7.500", "KWD"), trial_days=7)


def test_webhooks_go_through_the_webhook_processor(tmp_path: Path) -> None:
    """With webhook_target set, renewals are recorded by the processor and delivered once."""
    store = SQLiteStateStore(str(tmp_path / "host.sqlite"))
    try:
        manager = PluginManager(store=store)
        mock = MockPaymentPlugin(clock=MockClock(START))
        manager.register_plugin(mock)
        manager.initialize_plugin("mock")
        manager.enable_plugin("mock")
        seen: list[Event] = []
        for name in ("subscription.created", "subscription.renewed", "subscription.activated"):
            manager.event_dispatcher.add_listener(name, seen.append)
        processor = WebhookProcessor(manager)
        mock.webhook_target = lambda d: processor.process("mock", d.headers, d.body)
        mock.create_subscription(SubscriptionRequest(plan=PLAN, subscription_id="s9")).unwrap()
        mock.advance(timedelta(days=7))
        assert [e.name for e in seen] == [
            "subscription.created",
            "subscription.activated",
            "subscription.renewed",
            "subscription.activated",
        ]
        assert seen[2].data["amount"] == 7500 and seen[2].data["currency"] == "KWD"
        again = mock.webhook_delivery(mock.sent_webhooks[0].body)  # signed anew: fresh
        assert processor.process("mock", again.headers, again.body).body["status"] == "duplicate"
    finally:
        store.close()


def test_refused_target_answer_keeps_webhooks_queued() -> None:
    """A non-2xx answer from the target fails the delivery and leaves it queued."""
    mock = MockPaymentPlugin(clock=MockClock(START))
    answers = [500, 200, 200, 200]

    class Answer:
        def __init__(self, status: int) -> None:
            self.status = status

    mock.webhook_target = lambda d: Answer(answers.pop(0))
    mock.create_subscription(SubscriptionRequest(plan=PLAN)).unwrap()
    with pytest.raises(RuntimeError, match="answered 500"):
        mock.deliver_pending()
    assert len(mock.pending_webhooks) == 2
    assert len(mock.deliver_pending()) == 2 and mock.pending_webhooks == []


def test_tampered_billing_webhook_does_not_verify() -> None:
    """A billing webhook changed after signing (no amount in it) is refused."""
    mock = MockPaymentPlugin(clock=MockClock(START))
    mock.create_subscription(SubscriptionRequest(plan=PLAN)).unwrap()
    body = mock.pending_webhooks[0]
    tampered = mock.webhook_delivery(body, WebhookVariant.TAMPERED_BODY)
    assert tampered.body != body
    assert not mock.verify_webhook_request(tampered.headers, tampered.body)
    valid = mock.webhook_delivery(body)
    assert mock.verify_webhook_request(valid.headers, valid.body)


def test_harness_hooks_return_signed_deliveries_from_state() -> None:
    """The harness hooks drive the clock, checkout and disputes and return signed webhooks."""
    mock = MockPaymentPlugin(clock=MockClock(START))
    harness = mock.harness()
    request = CheckoutRequest(
        mode=CheckoutMode.SUBSCRIPTION,
        plan=PLAN,
        subscription_id="s1",
        user_id="u1",
        success_url="https://host.example/ok",
        cancel_url="https://host.example/no",
    )
    session = mock.create_checkout_session(request).unwrap()
    sent = harness.checkout_webhooks(session)
    assert sent is not None
    kinds = [json.loads(d.body)["type"] for d in sent]
    assert kinds[0] == "checkout.completed"
    sub_id = json.loads(sent[0].body)["data"]["provider_subscription_id"]
    warned = harness.subscription_webhooks(sub_id, BillingScenario.TRIAL_WILL_END)
    renewed = harness.subscription_webhooks(sub_id, BillingScenario.RENEWED)
    failed = harness.subscription_webhooks(sub_id, BillingScenario.PAYMENT_FAILED)
    assert warned is not None and renewed is not None and failed is not None
    events = [
        e
        for d in failed
        for e in mock.translate_webhook(mock.receive_webhook(d.headers, d.body).payload)
    ]
    names = [e.name for e in events]
    assert "subscription.trial_will_end" in names and "subscription.renewed" in names
    assert names[-2:] == ["subscription.payment_failed", "subscription.past_due"]
    assert all(e.data["subscription_id"] == "s1" for e in events)
    invoice = events[names.index("subscription.renewed")].data["invoice_id"]
    disputes = harness.dispute_webhooks(invoice, None)
    assert disputes is not None and [json.loads(d.body)["type"] for d in disputes] == [
        "dispute.opened"
    ]
    assert mock.clock.now() >= START + timedelta(days=7)
