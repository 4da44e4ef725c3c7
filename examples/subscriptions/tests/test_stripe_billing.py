"""A Stripe subscription from signup to cancellation, over real HTTP end to end.

Host API -> stripe plugin -> fake Stripe (Checkout Session, subscription, invoices); the fake's
controls play what happens at Stripe later (the payer completes checkout, the trial ends, a
renewal fails and is retried, the period ends, a dispute) and return the signed webhooks,
which are delivered to the host's webhook route -> inbox -> standard events -> listeners.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from vbwd_stripe.testing import FakeStripe

from vbwd_plugins.testing import WebhookDelivery

#: What the endpoint is not subscribed to: refunds come as ``refund.*`` (the plugin reports
#: each refund from ``charge.refunded`` too; subscribing to both would count it twice).
NOT_SUBSCRIBED = frozenset({"charge.refunded"})


def deliver(host: Any, deliveries: list[WebhookDelivery]) -> list[str]:
    """Deliver what Stripe sends to an endpoint subscribed as the plugin's docs say."""
    sent = [d for d in deliveries if d.extra.get("type") not in NOT_SUBSCRIBED]
    answers: list[str] = host.deliver("stripe", sent)
    return answers


def moment(epoch: int) -> str:
    """A Stripe timestamp as the host's API shows it."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def signup(host: Any, stripe: FakeStripe, plan: str = "pro") -> tuple[dict[str, Any], str]:
    """POST /api/v1/subscriptions with Stripe; the payer completes the hosted checkout."""
    created = host.api(
        "POST", "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": plan, "provider": "stripe"}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert (body["status"], body["active"]) == ("pending", False)
    session_id = body["checkout"]["id"]
    assert body["checkout"]["url"] == stripe.sessions[session_id]["url"]
    deliver(host, stripe.complete_checkout(session_id))
    shown = host.subscription(body["id"])
    return shown, shown["provider_subscription_id"]


def current_period_end(stripe: FakeStripe, provider_id: str) -> int:
    """The subscription's current period end at Stripe (on its item, as the API has it)."""
    end: int = stripe.subscriptions[provider_id]["items"]["data"][0]["current_period_end"]
    return end


def test_trial_renewal_failure_recovery_and_cancellation(
    stripe_host: Any, stripe: FakeStripe
) -> None:
    """Trial, active, renewed, failed, past due, recovered, cancelled: by Stripe's webhooks."""
    host = stripe_host
    sub, provider_id = signup(host, stripe)
    stripe_sub = stripe.subscriptions[provider_id]
    assert stripe_sub["metadata"]["subscription_id"] == sub["id"]
    assert (sub["status"], sub["active"]) == ("trialing", True)
    assert sub["paid_until"] == moment(stripe_sub["trial_end"])
    assert stripe_sub["trial_end"] - stripe_sub["start_date"] == 14 * 86400
    assert host.payments(sub["id"])["payments"] == []  # a trial pays nothing

    deliver(host, stripe.end_trial(provider_id))
    active = host.subscription(sub["id"])
    assert (active["status"], active["paid_until"]) == (
        "active",
        moment(current_period_end(stripe, provider_id)),
    )
    (first,) = host.payments(sub["id"])["payments"]
    assert (first["amount"], first["currency"]) == ("29.00", "USD")

    deliver(host, stripe.renew(provider_id))
    renewed = host.subscription(sub["id"])
    assert renewed["paid_until"] == moment(current_period_end(stripe, provider_id))
    assert renewed["paid_until"] > active["paid_until"]

    deliver(host, stripe.renew(provider_id, succeed=False))
    behind = host.subscription(sub["id"])
    assert (behind["status"], behind["failed_payments"]) == ("past_due", 1)
    assert behind["next_retry_at"] is not None
    assert behind["paid_until"] == renewed["paid_until"]  # the failed period is not paid
    assert behind["active"] is True  # grace period

    deliver(host, stripe.retry(provider_id))
    recovered = host.subscription(sub["id"])
    assert (recovered["status"], recovered["failed_payments"]) == ("active", 0)
    assert recovered["paid_until"] == moment(current_period_end(stripe, provider_id))
    assert len(host.payments(sub["id"])["payments"]) == 3

    mark = len(stripe.events)
    cancelled = host.api("POST", f"/subscriptions/{sub['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["cancel_at_period_end"] is False  # until Stripe's webhook says so
    assert stripe.subscriptions[provider_id]["cancel_at_period_end"] is True
    deliver(host, stripe.webhooks(stripe.events[mark:]))
    ending = host.subscription(sub["id"])
    assert (ending["status"], ending["cancel_at_period_end"]) == ("active", True)
    assert ending["ends_at"] == recovered["paid_until"] == ending["access_until"]

    deliver(host, stripe.renew(provider_id))  # the period ends: no renewal
    assert stripe.subscriptions[provider_id]["status"] == "canceled"
    ended = host.subscription(sub["id"])
    assert ended["status"] == "cancelled"
    assert ended["access_until"] == ended["ends_at"] == recovered["paid_until"]
    assert len(host.payments(sub["id"])["payments"]) == 3


def test_every_event_is_handled_once(stripe_host: Any, stripe: FakeStripe) -> None:
    """Redelivered webhooks, also concurrent first deliveries, change nothing twice."""
    host = stripe_host
    created = host.api("POST", "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": "basic"})
    assert created.status_code == 201, created.text
    sub_id = created.json()["id"]
    deliveries: list[WebhookDelivery] = stripe.complete_checkout(created.json()["checkout"]["id"])
    provider_id = next(iter(stripe.subscriptions))
    with ThreadPoolExecutor(8) as pool:  # first deliveries, several copies at once
        answers = list(
            pool.map(
                lambda d: host.webhook("stripe", d.body, dict(d.headers)),
                [d for d in deliveries for _ in range(4)],
            )
        )
    assert {a.status_code for a in answers} <= {200, 409}
    deliver(host, deliveries)  # whatever was in progress is finished now
    deliveries = stripe.end_trial(provider_id)
    deliver(host, deliveries)
    before = (host.subscription(sub_id), host.db.handled_events(sub_id))
    assert set(deliver(host, deliveries)) == {"duplicate"}
    assert (host.subscription(sub_id), host.db.handled_events(sub_id)) == before
    keys = [e.key for e in before[1]]
    assert len(keys) == len(set(keys))
    assert before[0]["status"] == "active"
    assert [(p["amount"], p["currency"]) for p in host.payments(sub_id)["payments"]] == [
        ("9.99", "EUR")
    ]


def test_a_forged_webhook_is_rejected(stripe_host: Any, stripe: FakeStripe) -> None:
    """A webhook signed with another secret is 401 and activates nothing."""
    host = stripe_host
    created = host.api("POST", "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": "pro"})
    stripe.webhook_secret = "whsec_someone_else"
    for delivery in stripe.complete_checkout(created.json()["checkout"]["id"]):
        assert host.webhook("stripe", delivery.body, dict(delivery.headers)).status_code == 401
    assert host.subscription(created.json()["id"])["status"] == "pending"


def test_refund_of_the_last_payment(stripe_host: Any, stripe: FakeStripe) -> None:
    """POST /refund refunds the last payment; payment.refunded records this refund's amount."""
    host = stripe_host
    sub, provider_id = signup(host, stripe)
    deliver(host, stripe.end_trial(provider_id))
    mark = len(stripe.events)
    refund = host.api("POST", f"/subscriptions/{sub['id']}/refund", {"amount": "10.00"})
    assert refund.status_code == 202, refund.text
    assert refund.json()["status"] == "requested"
    deliver(host, stripe.webhooks(stripe.events[mark:]))
    shown = host.payments(sub["id"])
    assert [(r["amount"], r["status"]) for r in shown["refunds"]] == [("10.00", "refunded")]
    assert shown["payments"][0]["refunded"] == "10.00"
    rest = host.api("POST", f"/subscriptions/{sub['id']}/refund", {})
    assert rest.status_code == 202, rest.text
    assert rest.json()["amount"] == "19.00"
    nothing = host.api("POST", f"/subscriptions/{sub['id']}/refund", {})
    # Nothing left, though the second refund's webhook has not arrived yet.
    assert (nothing.status_code, nothing.json()["error"]) == (409, "nothing_to_refund")
    deliver(host, stripe.webhooks(stripe.events[mark:]))
    shown = host.payments(sub["id"])
    assert [(r["amount"], r["status"]) for r in shown["refunds"]] == [
        ("10.00", "refunded"),
        ("19.00", "refunded"),
    ]
    assert shown["payments"][0]["refunded"] == "29.00"


@pytest.mark.parametrize(("outcome", "status"), [("won", "active"), ("lost", "revoked")])
def test_a_disputed_payment(
    stripe_host: Any, stripe: FakeStripe, outcome: str, status: str
) -> None:
    """dispute.opened flags the subscription; won clears the flag, lost revokes access."""
    host = stripe_host
    sub, provider_id = signup(host, stripe)
    deliver(host, stripe.end_trial(provider_id))
    (paid,) = stripe.events_of("payment_intent.succeeded")
    opened = stripe.open_dispute(paid["data"]["object"]["id"])
    deliver(host, opened)
    assert host.subscription(sub["id"])["disputed"] is True
    (dispute,) = host.payments(sub["id"])["disputes"]
    assert (dispute["status"], dispute["amount"]) == ("open", "29.00")
    deliver(host, stripe.close_dispute(dispute["dispute_id"], status=outcome))  # type: ignore[arg-type]
    closed = host.subscription(sub["id"])
    assert (closed["status"], closed["disputed"]) == (status, False)
    assert closed["active"] is (outcome == "won")
