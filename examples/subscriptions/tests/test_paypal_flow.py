"""The subscription activation flow with PayPal, over real HTTP end to end.

Host API -> paypal plugin -> fake PayPal (order, payer approval, capture); PayPal's signed
``PAYMENT.CAPTURE.*`` webhook -> the host's webhook route, verified by PayPal's
verification endpoint (the fake) -> inbox -> ``payment.*`` event -> the host's listener.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vbwd_paypal.testing import FakePayPal

Signer = Callable[[bytes], dict[str, str]]
MakeEvent = Callable[[str, dict[str, Any]], dict[str, Any]]


def subscribe_and_capture(host: Any, paypal: FakePayPal) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create the subscription (an order), approve it as the payer, capture it."""
    created = host.api(
        "POST",
        "/subscriptions",
        {"user_id": str(uuid.uuid4()), "plan": "basic", "provider": "paypal"},
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    order_id = subscription["payment"]["transaction_id"]
    assert subscription["payment"]["status"] == "requires_action"
    assert subscription["payment"]["approval_url"]
    paypal.approve(order_id)  # the payer, on PayPal's approval page
    paid = host.api(
        "POST", f"/subscriptions/{subscription['id']}/pay", {"payment_method": "paypal"}
    )
    assert paid.status_code == 202, paid.text
    return subscription, paid.json()["payment"]


def test_capture_completed_activates_exactly_once(
    paypal_host: Any, paypal: FakePayPal, paypal_signer: Signer, paypal_event: MakeEvent
) -> None:
    """PAYMENT.CAPTURE.COMPLETED activates the subscription; redeliveries change nothing."""
    host = paypal_host
    subscription, payment = subscribe_and_capture(host, paypal)
    assert payment["status"] == "completed"
    assert host.subscription(subscription["id"])["status"] == "PENDING"

    capture = paypal.captures[payment["transaction_id"]]
    assert capture["amount"] == {"currency_code": "EUR", "value": "9.99"}
    body = json.dumps(paypal_event("PAYMENT.CAPTURE.COMPLETED", capture)).encode()
    headers = paypal_signer(body)
    first = host.webhook("paypal", body, headers)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "processed"
    assert host.subscription(subscription["id"])["status"] == "ACTIVE"

    with ThreadPoolExecutor(4) as pool:  # PayPal redelivers, sometimes in parallel
        answers = list(pool.map(lambda _: host.webhook("paypal", body, headers), range(6)))
    assert {a.json()["status"] for a in answers} == {"duplicate"}
    handled = host.db.handled_events(subscription["id"])
    assert [(e.event, e.provider, e.outcome) for e in handled] == [
        ("payment.completed", "paypal", "activated")
    ]
    assert host.db.get(subscription["id"]).activations == 1
    assert len(paypal.calls("POST", "/v1/notifications/verify-webhook-signature")) >= 1


def test_declined_capture_leaves_the_subscription_inactive(
    paypal_host: Any, paypal: FakePayPal, paypal_signer: Signer, paypal_event: MakeEvent
) -> None:
    """PAYMENT.CAPTURE.DECLINED marks it PAYMENT_FAILED; it never becomes ACTIVE."""
    host = paypal_host
    paypal.decline_next = "status"  # the capture comes back DECLINED
    subscription, payment = subscribe_and_capture(host, paypal)
    assert payment["success"] is False
    capture = next(iter(paypal.captures.values()))
    assert capture["status"] == "DECLINED"
    body = json.dumps(paypal_event("PAYMENT.CAPTURE.DECLINED", capture)).encode()
    answer = host.webhook("paypal", body, paypal_signer(body))
    assert answer.status_code == 200, answer.text
    shown = host.subscription(subscription["id"])
    assert shown["status"] == "PAYMENT_FAILED" and not shown["active"]


def test_unverifiable_webhook_is_rejected(
    paypal_host: Any, paypal: FakePayPal, paypal_signer: Signer, paypal_event: MakeEvent
) -> None:
    """A body changed after signing fails PayPal's verification: 401, nothing activated."""
    host = paypal_host
    subscription, payment = subscribe_and_capture(host, paypal)
    capture = paypal.captures[payment["transaction_id"]]
    body = json.dumps(paypal_event("PAYMENT.CAPTURE.COMPLETED", capture)).encode()
    headers = paypal_signer(body)
    forged = body.replace(b'"9.99"', b'"0.01"')
    assert host.webhook("paypal", forged, headers).status_code == 401
    assert host.subscription(subscription["id"])["status"] == "PENDING"
