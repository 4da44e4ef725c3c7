"""Refunding and reading a subscription's sales (renewals) over HTTP against the fake PayPal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vbwd_paypal.testing import FakePayPal, WebhookSigner

from vbwd_plugins import Money, PaymentErrorCode, PaymentEventData, PaymentStatus
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import (
    BillingEventData,
    Plan,
    SubscriptionRenewed,
    SubscriptionRequest,
)

from .conftest import Rig

SUB, USER = "host-sub-1", "host-user-1"


def _renewal(rig: Rig, price: Money) -> SubscriptionRenewed:
    """An approved subscription's first payment, as subscription.renewed reports it."""
    plan = Plan(key=f"plan-{price.currency.lower()}", name="Pro", price=price)
    request = SubscriptionRequest(
        plan=plan,
        subscription_id=SUB,
        user_id=USER,
        return_url="https://host.example/return",
        cancel_url="https://host.example/cancel",
    )
    sub = rig.plugin.create_subscription(request).unwrap()
    for delivery in rig.fake.approve_subscription(sub.id):
        payload = rig.plugin.receive_webhook(delivery.headers, delivery.body).payload
        for event in rig.plugin.translate_webhook(payload):
            if event.name == "subscription.renewed":
                data = BillingEventData.from_event(event)
                assert isinstance(data, SubscriptionRenewed)
                return data
    raise AssertionError("approval billed nothing")


def _refunded_events(rig: Rig) -> list[PaymentEventData]:
    """The payment.refunded events of what the fake sent since (PAYMENT.SALE.REFUNDED)."""
    found = []
    for delivery in rig.fake.take_webhooks():
        payload = rig.plugin.receive_webhook(delivery.headers, delivery.body).payload
        found += [
            PaymentEventData.from_event(e)
            for e in rig.plugin.translate_webhook(payload)
            if e.name == "payment.refunded"
        ]
    return found


def test_refund_a_renewal_by_its_invoice_id(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """refund_payment(invoice_id) refunds the whole sale; payment.refunded names it and the
    host's ids; get_payment then says REFUNDED."""
    renewed = _renewal(rig, Money("12.50", "USD"))
    sale_id = renewed.invoice_id
    assert sale_id is not None
    fake.take_webhooks()
    refund = rig.plugin.refund_payment(sale_id, idempotency_key="refund-k1")
    assert refund.success and refund.status is PaymentStatus.REFUNDED, refund
    assert (refund.amount, refund.currency) == (1250, "USD")
    assert refund.metadata["sale_id"] == sale_id and refund.transaction_id in fake.sale_refunds
    sent = fake.calls("POST", f"/v1/payments/sale/{sale_id}/refund")[-1]
    assert sent.json == {} and sent.header("PayPal-Request-Id") == "refund-k1"
    (event,) = _refunded_events(rig)
    assert (event.transaction_id, event.amount, event.currency) == (sale_id, 1250, "USD")
    assert (event.subscription_id, event.user_id) == (SUB, USER)
    sale = rig.plugin.get_payment(sale_id)
    assert sale.status is PaymentStatus.REFUNDED and sale.amount == 1250
    assert sale.metadata["provider_subscription_id"] == renewed.provider_subscription_id
    again = rig.plugin.refund_payment(sale_id)
    assert not again.success and again.error_code is PaymentErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    ("price", "part", "units", "sent"),
    [
        (Money("12.50", "USD"), Money("2.50", "USD"), 250, "2.50"),
        (Money("12.50", "USD"), Decimal("0.01"), 1, "0.01"),
        (Money("1500", "JPY"), Money("500", "JPY"), 500, "500"),
        (Money("1500", "JPY"), Decimal("1"), 1, "1"),
        (Money("2500", "HUF"), Money("100", "HUF"), 10000, "100"),
    ],
    ids=["usd", "usd-cent", "jpy", "jpy-one-yen", "huf-no-decimals"],
)
def test_partial_refunds_are_exact(
    rig: Rig,
    fake: FakePayPal,
    signer: WebhookSigner,
    price: Money,
    part: Money | Decimal,
    units: int,
    sent: str,
) -> None:
    """A partial refund sends PayPal's decimals (none for JPY, HUF) and reports ISO minor
    units, in the result, the event and get_payment's PARTIALLY_REFUNDED sale."""
    sale_id = _renewal(rig, price).invoice_id
    assert sale_id is not None
    fake.take_webhooks()
    refund = rig.plugin.refund_payment(sale_id, part)
    assert refund.success, refund
    assert (refund.amount, refund.currency) == (units, price.currency)
    body = fake.calls("POST", f"/v1/payments/sale/{sale_id}/refund")[-1].json
    assert body == {"amount": {"total": sent, "currency": price.currency}}
    (event,) = _refunded_events(rig)
    assert (event.amount, event.currency, event.refund_id) == (
        units,
        price.currency,
        refund.transaction_id,
    )
    sale = rig.plugin.get_payment(sale_id)
    assert sale.status is PaymentStatus.PARTIALLY_REFUNDED
    assert (sale.amount, sale.currency) == (price.to_minor_units(), price.currency)
    read = rig.plugin.get_payment(refund.transaction_id or "")
    assert (read.status, read.amount, read.metadata["sale_id"]) == (
        PaymentStatus.REFUNDED,
        units,
        sale_id,
    )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(["USD", "JPY"]).flatmap(
        lambda c: st.tuples(st.just(c), st.lists(st.integers(1, 400), min_size=1, max_size=4))
    )
)
def test_refunds_never_exceed_the_sale(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner, case: tuple[str, list[int]]
) -> None:
    """Partial refunds in minor units add up exactly; one past the sale's total fails
    (INVALID_REQUEST) and refunds nothing."""
    currency, parts = case
    price = Money.from_minor_units(1000, currency)
    sale_id = _renewal(rig, price).invoice_id
    assert sale_id is not None
    refunded = 0
    for units in parts:
        result = rig.plugin.refund_payment(sale_id, Money.from_minor_units(units, currency))
        if refunded + units > 1000:
            assert result.error_code is PaymentErrorCode.INVALID_REQUEST, result
            continue
        assert result.success and result.amount == units, result
        refunded += units
    left = fake.sales[sale_id]["_refunded"]
    assert Money(left, currency).to_minor_units() == refunded
    expected = PaymentStatus.COMPLETED if refunded == 0 else PaymentStatus.PARTIALLY_REFUNDED
    if refunded == 1000:
        expected = PaymentStatus.REFUNDED
    assert rig.plugin.get_payment(sale_id).status is expected


def test_refunds_the_sale_cannot_take_are_refused(
    rig: Rig, fake: FakePayPal, signer: WebhookSigner
) -> None:
    """Another currency is INVALID_REQUEST before any refund call; cents on a yen sale
    are a MoneyError (PayPal has no decimals for JPY)."""
    sale_id = _renewal(rig, Money("1500", "JPY")).invoice_id
    assert sale_id is not None
    wrong = rig.plugin.refund_payment(sale_id, Money("5", "USD"))
    assert wrong.error_code is PaymentErrorCode.INVALID_REQUEST
    assert "JPY" in (wrong.error_message or "")
    with pytest.raises(MoneyError):
        rig.plugin.refund_payment(sale_id, Decimal("0.5"))
    assert fake.calls("POST", f"/v1/payments/sale/{sale_id}/refund") == []


def test_get_payment_reads_a_sale(rig: Rig, fake: FakePayPal, signer: WebhookSigner) -> None:
    """get_payment(invoice_id) is the COMPLETED sale: amount, subscription and host ids."""
    renewed = _renewal(rig, Money("9.99", "EUR"))
    assert renewed.invoice_id is not None
    sale = rig.plugin.get_payment(renewed.invoice_id)
    assert sale.success and sale.status is PaymentStatus.COMPLETED
    assert (sale.transaction_id, sale.amount, sale.currency) == (renewed.invoice_id, 999, "EUR")
    assert sale.metadata["provider_subscription_id"] == renewed.provider_subscription_id
    assert (sale.metadata["subscription_id"], sale.metadata["user_id"]) == (SUB, USER)
    unknown = rig.plugin.get_payment("SALEUNKNOWN000000")
    assert unknown.error_code is PaymentErrorCode.NOT_FOUND
