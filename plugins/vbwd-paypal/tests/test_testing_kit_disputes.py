"""The testing kit's subscription sales, refunds and disputes (``vbwd_paypal.testing``), and
the envelopes and signing of every billing webhook."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vbwd_paypal import PAYPAL_CURRENCY_RULES
from vbwd_paypal.testing import DISPUTE_OUTCOMES, FakePayPal, WebhookSigner

from vbwd_plugins import Money

from ._billing_http import PayPalHTTP, api, events, verified
from .conftest import FakeServers, Rig

# The ``api`` fixture is imported so that pytest finds it in this module.
__all__ = ["api"]

# -- sales, refunds and disputes --------------------------------------------------------


def _first_sale(api: PayPalHTTP, fake: FakePayPal, value: str = "10.00") -> dict[str, Any]:
    sub = api.subscribe(api.plan(value))
    resource: dict[str, Any] = events(fake.approve_subscription(sub["id"]))[1]["resource"]
    return resource


def test_sale_refund_partial_then_full_then_refused(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig
) -> None:
    """v1 refunds: partial, the rest, then TRANSACTION_ALREADY_REFUNDED; each webhook waits;
    each refund is read back at /v1/payments/refund/{id}."""
    sale = _first_sale(api, fake)
    fake.take_webhooks()
    path = f"/v1/payments/sale/{sale['id']}/refund"
    part = api.ok("POST", path, {"amount": {"total": "4.00", "currency": "USD"}})
    assert part["amount"] == {"total": "4.00", "currency": "USD"} and part["sale_id"] == sale["id"]
    assert api.ok("GET", f"/v1/payments/sale/{sale['id']}")["state"] == "partially_refunded"
    rest = api.ok("POST", path, {})
    assert rest["amount"]["total"] == "6.00"
    assert rest["total_refunded_amount"] == {"value": "10.00", "currency": "USD"}
    assert api.call("POST", path, {}).json()["name"] == "TRANSACTION_ALREADY_REFUNDED"
    refunds = fake.take_webhooks()
    assert verified(rig, refunds) == ["PAYMENT.SALE.REFUNDED", "PAYMENT.SALE.REFUNDED"]
    assert events(refunds)[0]["resource"]["sale_id"] == sale["id"]
    assert events(refunds)[0]["resource"]["billing_agreement_id"] == sale["billing_agreement_id"]
    assert api.ok("GET", f"/v1/payments/refund/{part['id']}") == part
    assert api.call("GET", "/v1/payments/refund/UNKNOWN000000000").status_code == 404


def test_sale_refund_over_the_rest_is_refused(api: PayPalHTTP, fake: FakePayPal) -> None:
    """More than what is left, or another currency: PayPal's v1 400."""
    sale = _first_sale(api, fake)
    path = f"/v1/payments/sale/{sale['id']}/refund"
    over = api.call("POST", path, {"amount": {"total": "10.01", "currency": "USD"}})
    assert over.status_code == 400 and over.json()["name"] == "REFUND_EXCEEDED_TRANSACTION_AMOUNT"
    other = api.call("POST", path, {"amount": {"total": "1.00", "currency": "EUR"}})
    assert other.status_code == 400 and other.json()["name"] == "CURRENCY_MISMATCH"


@pytest.mark.parametrize("outcome", ["RESOLVED_BUYER_FAVOUR", "RESOLVED_SELLER_FAVOUR"])
def test_dispute_on_a_sale_opens_and_resolves(
    api: PayPalHTTP, fake: FakePayPal, rig: Rig, outcome: str
) -> None:
    """CREATED carries the sale, amount and OPEN; RESOLVED carries the outcome code."""
    sale = _first_sale(api, fake, "15.00")
    opened = fake.open_dispute(sale["id"], "5.00", "UNAUTHORISED")
    assert verified(rig, opened) == ["CUSTOMER.DISPUTE.CREATED"]
    dispute = events(opened)[0]["resource"]
    assert dispute["status"] == "OPEN" and dispute["reason"] == "UNAUTHORISED"
    assert dispute["dispute_amount"] == {"currency_code": "USD", "value": "5.00"}
    (transaction,) = dispute["disputed_transactions"]
    assert transaction["seller_transaction_id"] == sale["id"]
    assert transaction["custom"] == "sub-1,user-1"
    assert api.ok("GET", f"/v1/customer/disputes/{dispute['dispute_id']}")["status"] == "OPEN"
    resolved = fake.resolve_dispute(dispute["dispute_id"], outcome)
    assert verified(rig, resolved) == ["CUSTOMER.DISPUTE.RESOLVED"]
    result = events(resolved)[0]["resource"]
    assert result["status"] == "RESOLVED"
    assert result["dispute_outcome"]["outcome_code"] == outcome
    assert ("amount_refunded" in result["dispute_outcome"]) == (outcome == "RESOLVED_BUYER_FAVOUR")
    with pytest.raises(ValueError, match="already resolved"):
        fake.resolve_dispute(dispute["dispute_id"], outcome)


def test_dispute_on_an_order_capture(rig: Rig, fake: FakePayPal, signer: WebhookSigner) -> None:
    """A capture made through the plugin can be disputed; unknown ids and outcomes raise."""
    created = rig.plugin.create_payment_intent(Decimal("20.00"), "USD", uuid.uuid4(), uuid.uuid4())
    assert created.transaction_id
    fake.approve(created.transaction_id)
    processed = rig.plugin.process_payment(created.transaction_id, "paypal")
    assert processed.success, processed
    (capture_id,) = fake.captures
    dispute = events(fake.open_dispute(capture_id))[0]["resource"]
    assert dispute["dispute_amount"]["value"] == "20.00"
    with pytest.raises(KeyError):
        fake.open_dispute("NOPE")
    with pytest.raises(ValueError, match="outcome"):
        fake.resolve_dispute(dispute["dispute_id"], "WON")
    assert "RESOLVED_BUYER_FAVOUR" in DISPUTE_OUTCOMES


# -- webhooks and the signer ----------------------------------------------------------


def test_deliveries_verify_remotely_too(
    make_rig: Callable[..., Rig], api: PayPalHTTP, fake: FakePayPal
) -> None:
    """Every control's deliveries pass PayPal's remote verification (the fake's)."""
    rig = make_rig(webhook_verification="remote")
    sub = api.subscribe(api.plan())
    deliveries = fake.take_webhooks() + fake.approve_subscription(sub["id"])
    deliveries += fake.renew(sub["id"], succeed=False)
    assert verified(rig, deliveries)[-1] == "BILLING.SUBSCRIPTION.PAYMENT.FAILED"
    assert len(fake.calls("POST", "/v1/notifications/verify-webhook-signature")) == 4


def test_envelopes_have_paypal_shape(api: PayPalHTTP, fake: FakePayPal) -> None:
    """Each event has PayPal's envelope keys and a unique WH- id; the log keeps them all."""
    sub = api.subscribe(api.plan())
    all_events = events(fake.take_webhooks() + fake.approve_subscription(sub["id"]))
    keys = {
        "id",
        "event_version",
        "create_time",
        "resource_type",
        "resource_version",
        "event_type",
        "summary",
        "resource",
        "links",
    }
    for event in all_events:
        assert set(event) == keys
        assert event["id"].startswith("WH-")
    assert len({e["id"] for e in all_events}) == len(all_events)
    assert [e["id"] for e in fake.webhook_events] == [e["id"] for e in all_events]
    assert [e["resource_type"] for e in all_events] == ["subscription", "subscription", "sale"]


def test_controls_without_a_signer_say_how_to_get_one(servers: FakeServers) -> None:
    """A fake reset after its signer was made has none; controls name the fix."""
    fake = servers.fake
    fake.reset()
    with pytest.raises(KeyError):
        fake.renew("I-NOPE")
    fake.outbox.append({"event_type": "X", "id": "WH-1"})
    with pytest.raises(RuntimeError, match="WebhookSigner"):
        fake.take_webhooks()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(["USD", "EUR", "GBP", "JPY", "HUF", "TWD", "CHF"]),
    st.integers(min_value=1, max_value=10**8),
)
def test_sale_amounts_are_the_plan_price_exactly(
    api: PayPalHTTP, fake: FakePayPal, currency: str, units: int
) -> None:
    """For any price, every sale's total equals the plan's price in PayPal's format."""
    value = Money.from_minor_units(units, currency, rules=PAYPAL_CURRENCY_RULES)
    text = value.to_decimal_string(PAYPAL_CURRENCY_RULES)
    sub = api.subscribe(api.plan(text, currency))
    sales = events(fake.approve_subscription(sub["id"]) + fake.renew(sub["id"]))[1:]
    for sale in sales:
        assert sale["resource"]["amount"] == {
            "total": text,
            "currency": currency,
            "details": {"subtotal": text},
        }
    paid = api.ok("GET", f"/v1/billing/subscriptions/{sub['id']}")["billing_info"]["last_payment"]
    assert paid["amount"] == {"currency_code": currency, "value": text}
