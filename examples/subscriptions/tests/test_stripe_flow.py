"""The subscription activation flow with Stripe, over real HTTP end to end.

Host API -> stripe plugin -> fake Stripe; the fake's ``payment_intent.*`` event, signed,
-> the host's webhook route -> inbox -> ``payment.completed`` -> PENDING becomes ACTIVE.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vbwd_stripe.testing import FakeStripe

Delivery = Callable[[dict[str, Any]], tuple[bytes, dict[str, str]]]


def subscribe(host: Any, plan: str = "pro") -> dict[str, Any]:
    """POST /api/v1/subscriptions with Stripe."""
    response = host.api(
        "POST",
        "/subscriptions",
        {"user_id": str(uuid.uuid4()), "plan": plan, "provider": "stripe"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_payment_completed_activates_exactly_once(
    stripe_host: Any, stripe: FakeStripe, stripe_delivery: Delivery
) -> None:
    """The signed webhook activates the subscription; redeliveries activate nothing again."""
    host = stripe_host
    created = subscribe(host)
    assert created["status"] == "PENDING"
    intent_id = created["payment"]["transaction_id"]
    assert intent_id.startswith("pi_") and created["payment"]["client_secret"]
    assert stripe.intents[intent_id]["amount"] == 2900
    assert stripe.intents[intent_id]["metadata"]["subscription_id"] == created["id"]

    paid = host.api(
        "POST", f"/subscriptions/{created['id']}/pay", {"payment_method": "pm_card_visa"}
    )
    assert paid.status_code == 202 and paid.json()["payment"]["status"] == "completed"
    assert host.subscription(created["id"])["status"] == "PENDING"  # until the webhook

    (event,) = stripe.events_of("payment_intent.succeeded")
    body, headers = stripe_delivery(event)
    first = host.webhook("stripe", body, headers)
    assert first.status_code == 200 and first.json()["status"] == "processed"
    assert host.subscription(created["id"])["status"] == "ACTIVE"

    again = host.webhook("stripe", body, headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    with ThreadPoolExecutor(8) as pool:  # the provider redelivering concurrently
        statuses = list(
            pool.map(lambda _: host.webhook("stripe", body, headers).status_code, range(16))
        )
    assert set(statuses) == {200}
    handled = host.db.handled_events(created["id"])
    assert [(e.event, e.outcome) for e in handled] == [("payment.completed", "activated")]
    subscription = host.db.get(created["id"])
    assert subscription is not None and subscription.activations == 1


def test_concurrent_first_deliveries_activate_once(
    stripe_host: Any, stripe: FakeStripe, stripe_delivery: Delivery
) -> None:
    """Several copies of a never-seen event arriving together are handled once."""
    host = stripe_host
    created = subscribe(host, "basic")
    host.api("POST", f"/subscriptions/{created['id']}/pay", {"payment_method": "pm_card_visa"})
    (event,) = stripe.events_of("payment_intent.succeeded")
    body, headers = stripe_delivery(event)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: host.webhook("stripe", body, headers), range(8)))
    # 200 processed once; the rest duplicates, or 409 while the first is still handling it
    outcomes = sorted(a.json()["status"] for a in answers)
    assert outcomes.count("processed") == 1
    assert set(outcomes) <= {"processed", "duplicate", "in_progress"}
    assert host.subscription(created["id"])["status"] == "ACTIVE"
    assert len(host.db.handled_events(created["id"])) == 1


def test_failed_payment_leaves_the_subscription_inactive(
    stripe_host: Any, stripe: FakeStripe, stripe_delivery: Delivery
) -> None:
    """A declined card: the failure webhook marks it PAYMENT_FAILED, never ACTIVE."""
    host = stripe_host
    created = subscribe(host)
    paid = host.api(
        "POST",
        f"/subscriptions/{created['id']}/pay",
        {"payment_method": "pm_card_chargeDeclined"},
    )
    assert paid.status_code == 202
    assert paid.json()["payment"]["error_code"] == "declined"
    (event,) = stripe.events_of("payment_intent.payment_failed")
    assert host.webhook("stripe", *stripe_delivery(event)).status_code == 200
    subscription = host.subscription(created["id"])
    assert subscription["status"] == "PAYMENT_FAILED" and not subscription["active"]
    assert not stripe.events_of("payment_intent.succeeded")


def test_forged_webhook_is_rejected(
    stripe_host: Any, stripe: FakeStripe, stripe_delivery: Delivery
) -> None:
    """A webhook signed with another secret is 401 and activates nothing."""
    host = stripe_host
    created = subscribe(host)
    host.api("POST", f"/subscriptions/{created['id']}/pay", {"payment_method": "pm_card_visa"})
    (event,) = stripe.events_of("payment_intent.succeeded")
    body, headers = stripe_delivery(event)
    headers["Stripe-Signature"] = headers["Stripe-Signature"][:-4] + "0000"
    assert host.webhook("stripe", body, headers).status_code == 401
    assert host.subscription(created["id"])["status"] == "PENDING"
