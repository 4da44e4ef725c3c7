"""A PayPal subscription from signup to cancellation, over real HTTP end to end.

Host API -> paypal plugin -> fake PayPal (catalog product, billing plan, subscription); the
fake's controls play the payer's approval, the billing cycles (a failed one included) and
disputes, and return PayPal's signed webhooks; what API calls cause waits in the fake's
outbox (``take_webhooks``). Each delivery is verified through PayPal's verification endpoint
(the fake), recorded in the inbox and turned into standard events for the host's listeners.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import pytest
from vbwd_paypal.testing import FakePayPal


def signup(host: Any, paypal: FakePayPal, plan: str = "basic") -> dict[str, Any]:
    """POST /api/v1/subscriptions with PayPal; the payer approves on PayPal's page."""
    created = host.api(
        "POST", "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": plan, "provider": "paypal"}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["status"] == "pending"
    provider_id = body["provider_subscription_id"]  # PayPal names it at once
    assert provider_id in paypal.subscriptions
    assert body["checkout"]["url"]
    host.deliver("paypal", paypal.take_webhooks())  # BILLING.SUBSCRIPTION.CREATED
    host.deliver("paypal", paypal.approve_subscription(provider_id))
    shown: dict[str, Any] = host.subscription(body["id"])
    return shown


def paid_through(host: Any, provider_id: str) -> str:
    """The end of the paid (or trial) period as PayPal tells it (the contract's read)."""
    plugin = host.manager.get_plugin("paypal")
    end = plugin.get_subscription(provider_id).unwrap().current_period_end
    assert end is not None
    return str(end.astimezone(UTC).isoformat())


@pytest.mark.usefixtures("paypal_signer")
def test_trial_renewal_failure_recovery_and_cancellation(
    paypal_host: Any, paypal: FakePayPal
) -> None:
    """Trial, active, renewed, failed, past due, recovered, cancelled: by PayPal's webhooks."""
    host = paypal_host
    sub = signup(host, paypal)
    provider_id = sub["provider_subscription_id"]
    assert paypal.subscriptions[provider_id]["custom_id"].startswith(sub["id"])
    assert (sub["status"], sub["active"]) == ("trialing", True)
    assert sub["paid_until"] == paid_through(host, provider_id)
    assert host.payments(sub["id"])["payments"] == []

    host.deliver("paypal", paypal.renew(provider_id))  # the trial ends: the first charge
    active = host.subscription(sub["id"])
    assert (active["status"], active["paid_until"]) == ("active", paid_through(host, provider_id))
    (first,) = host.payments(sub["id"])["payments"]
    assert (first["amount"], first["currency"]) == ("9.99", "EUR")

    host.deliver("paypal", paypal.renew(provider_id))
    renewed = host.subscription(sub["id"])
    assert renewed["paid_until"] == paid_through(host, provider_id) > active["paid_until"]

    host.deliver("paypal", paypal.renew(provider_id, succeed=False))
    behind = host.subscription(sub["id"])
    assert (behind["status"], behind["failed_payments"]) == ("past_due", 1)
    assert behind["paid_until"] == renewed["paid_until"]

    host.deliver("paypal", paypal.renew(provider_id))  # the retry succeeds
    recovered = host.subscription(sub["id"])
    assert (recovered["status"], recovered["failed_payments"]) == ("active", 0)
    assert recovered["paid_until"] > renewed["paid_until"]
    assert len(host.payments(sub["id"])["payments"]) == 3

    cancelled = host.api("POST", f"/subscriptions/{sub['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert paypal.subscriptions[provider_id]["status"] == "CANCELLED"
    host.deliver("paypal", paypal.take_webhooks())  # BILLING.SUBSCRIPTION.CANCELLED
    ended = host.subscription(sub["id"])
    # PayPal stops billing at once; the host keeps access to the end of the paid period.
    assert (ended["status"], ended["cancel_at_period_end"]) == ("cancelled", True)
    assert ended["ends_at"] == ended["access_until"] == recovered["paid_until"]
    assert ended["active"] is True


@pytest.mark.usefixtures("paypal_signer")
def test_every_event_is_handled_once(paypal_host: Any, paypal: FakePayPal) -> None:
    """Redelivered webhooks are duplicates: nothing in the host changes."""
    host = paypal_host
    sub = signup(host, paypal, plan="pro")
    deliveries = paypal.renew(sub["provider_subscription_id"])
    host.deliver("paypal", deliveries)
    before = (host.subscription(sub["id"]), host.db.handled_events(sub["id"]))
    assert set(host.deliver("paypal", deliveries)) == {"duplicate"}
    assert (host.subscription(sub["id"]), host.db.handled_events(sub["id"])) == before
    assert [(p["amount"], p["currency"]) for p in host.payments(sub["id"])["payments"]] == [
        ("29.00", "USD")
    ]


@pytest.mark.usefixtures("paypal_signer")
def test_an_unverifiable_webhook_is_rejected(paypal_host: Any, paypal: FakePayPal) -> None:
    """A body changed after signing fails PayPal's verification: 401, nothing activated."""
    host = paypal_host
    created = host.api("POST", "/subscriptions", {"user_id": str(uuid.uuid4()), "plan": "basic"})
    (approved, *_) = paypal.approve_subscription(created.json()["provider_subscription_id"])
    forged = approved.body.replace(b'"status": "ACTIVE"', b'"status": "SUSPENDED"')
    assert forged != approved.body
    assert host.webhook("paypal", forged, dict(approved.headers)).status_code == 401
    assert host.subscription(created.json()["id"])["status"] == "pending"


@pytest.mark.usefixtures("paypal_signer")
def test_refund_of_the_last_payment(paypal_host: Any, paypal: FakePayPal) -> None:
    """POST /refund refunds the last sale at PayPal; PAYMENT.SALE.REFUNDED records it."""
    host = paypal_host
    sub = signup(host, paypal)
    host.deliver("paypal", paypal.renew(sub["provider_subscription_id"]))
    refund = host.api("POST", f"/subscriptions/{sub['id']}/refund", {"amount": "4.99"})
    assert refund.status_code == 202, refund.text
    host.deliver("paypal", paypal.take_webhooks())
    shown = host.payments(sub["id"])
    assert [(r["amount"], r["status"]) for r in shown["refunds"]] == [("4.99", "refunded")]
    assert shown["payments"][0]["refunded"] == "4.99"


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("RESOLVED_SELLER_FAVOUR", "active"), ("RESOLVED_BUYER_FAVOUR", "revoked")],
)
@pytest.mark.usefixtures("paypal_signer")
def test_a_disputed_sale(paypal_host: Any, paypal: FakePayPal, outcome: str, status: str) -> None:
    """dispute.opened flags the subscription; won clears the flag, lost revokes access."""
    host = paypal_host
    sub = signup(host, paypal)
    host.deliver("paypal", paypal.renew(sub["provider_subscription_id"]))
    (payment,) = host.payments(sub["id"])["payments"]
    host.deliver("paypal", paypal.open_dispute(payment["reference"]))
    assert host.subscription(sub["id"])["disputed"] is True
    (dispute,) = host.payments(sub["id"])["disputes"]
    assert (dispute["status"], dispute["amount"], dispute["currency"]) == ("open", "9.99", "EUR")
    host.deliver("paypal", paypal.resolve_dispute(dispute["dispute_id"], outcome))
    closed = host.subscription(sub["id"])
    assert (closed["status"], closed["disputed"]) == (status, False)


@pytest.mark.usefixtures("paypal_signer")
def test_a_sale_without_the_hosts_ids_finds_its_subscription(
    paypal_host: Any, paypal: FakePayPal
) -> None:
    """A sale that does not carry custom (host_ids_returned False) is found by PayPal's id."""
    host = paypal_host
    sub = signup(host, paypal)
    paypal.sale_custom = False
    (sale,) = paypal.renew(sub["provider_subscription_id"])
    assert b'"custom"' not in sale.body
    host.deliver("paypal", [sale])
    renewed = host.subscription(sub["id"])
    assert (renewed["status"], len(host.payments(sub["id"])["payments"])) == ("active", 1)
    (line,) = [e for e in host.db.handled_events(sub["id"]) if e.event == "subscription.renewed"]
    assert line.outcome.startswith("paid 9.99 EUR")
