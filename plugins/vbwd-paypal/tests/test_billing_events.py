"""Pure translation of PayPal's subscription, sale and dispute webhooks (realistic payloads)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vbwd_paypal import PayPalPlugin
from vbwd_paypal._billing_events import billing_events_from_webhook, sale_payment_events

from vbwd_plugins import Money
from vbwd_plugins.errors import WebhookPayloadError
from vbwd_plugins.payments import BillingEventData, DisputeOutcome, SubscriptionStatus

CUSTOM = "host-sub-9,host-user-9"

#: BILLING.SUBSCRIPTION.* resource, shaped as PayPal's samples (billing_info after activation).
SUBSCRIPTION: dict[str, Any] = {
    "id": "I-BW452GLLEP1G",
    "plan_id": "P-5ML4271244454362WXNWU5NQ",
    "status": "ACTIVE",
    "status_update_time": "2024-05-01T10:00:05Z",
    "start_time": "2024-05-01T10:00:00Z",
    "quantity": "1",
    "custom_id": CUSTOM,
    "subscriber": {"email_address": "buyer@example.com", "payer_id": "2J6QB8YJQSJRJ"},
    "billing_info": {
        "outstanding_balance": {"currency_code": "USD", "value": "0.0"},
        "cycle_executions": [
            {"tenure_type": "REGULAR", "sequence": 1, "cycles_completed": 1, "total_cycles": 0}
        ],
        "last_payment": {
            "amount": {"currency_code": "USD", "value": "19.95"},
            "time": "2024-05-01T10:00:04Z",
        },
        "next_billing_time": "2024-06-01T10:00:00Z",
        "failed_payments_count": 0,
    },
    "create_time": "2024-05-01T09:59:00Z",
    "update_time": "2024-05-01T10:00:05Z",
    "links": [],
}

SALE: dict[str, Any] = {
    "id": "44P499886K055384U",
    "state": "completed",
    "billing_agreement_id": "I-BW452GLLEP1G",
    "amount": {"total": "14.55", "currency": "CAD", "details": {"subtotal": "14.55"}},
    "payment_mode": "INSTANT_TRANSFER",
    "custom": CUSTOM,
    "create_time": "2024-05-01T10:00:04Z",
    "update_time": "2024-05-01T10:00:04Z",
    "links": [],
}

DISPUTE: dict[str, Any] = {
    "dispute_id": "PP-000-042-663-135",
    "create_time": "2024-05-03T13:35:44.000Z",
    "update_time": "2024-05-03T13:35:44.000Z",
    "disputed_transactions": [
        {"seller_transaction_id": "44P499886K055384U", "custom": CUSTOM, "items": []}
    ],
    "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
    "status": "OPEN",
    "dispute_amount": {"currency_code": "USD", "value": "3.00"},
    "dispute_life_cycle_stage": "INQUIRY",
    "dispute_channel": "INTERNAL",
    "links": [],
}


def _event(event_type: str, resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(resource)
    body.update(changes)
    return {
        "id": "WH-77687562XN25889J8-8Y6T55435R66168T6",
        "event_version": "1.0",
        "create_time": "2024-05-01T10:00:06.000Z",
        "event_type": event_type,
        "resource_type": "subscription",
        "summary": "test",
        "resource": body,
    }


def _one(payload: dict[str, Any], name: str) -> Any:
    events = billing_events_from_webhook(payload)
    found = [BillingEventData.from_event(e) for e in events if e.name == name]
    assert len(found) == 1, [e.name for e in events]
    return found[0]


def _info(**changes: Any) -> dict[str, Any]:
    info = copy.deepcopy(SUBSCRIPTION["billing_info"])
    info.update(changes)
    return info


@pytest.mark.parametrize(
    ("event_type", "names"),
    [
        ("BILLING.SUBSCRIPTION.CREATED", ["subscription.created"]),
        ("BILLING.SUBSCRIPTION.ACTIVATED", ["subscription.activated", "checkout.completed"]),
        ("BILLING.SUBSCRIPTION.UPDATED", ["subscription.updated"]),
        ("BILLING.SUBSCRIPTION.SUSPENDED", ["subscription.paused"]),
        ("BILLING.SUBSCRIPTION.CANCELLED", ["subscription.cancelled"]),
        ("BILLING.SUBSCRIPTION.EXPIRED", ["subscription.cancelled"]),
        (
            "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
            ["subscription.payment_failed", "subscription.past_due"],
        ),
        ("BILLING.SUBSCRIPTION.RE-ACTIVATED", []),
        ("CUSTOMER.DISPUTE.UPDATED", []),
    ],
)
def test_subscription_event_table(event_type: str, names: list[str]) -> None:
    """Each BILLING.SUBSCRIPTION.* type yields the standard events of the module table."""
    status = {"SUSPENDED": "SUSPENDED", "CANCELLED": "CANCELLED", "EXPIRED": "EXPIRED"}
    resource_status = status.get(event_type.rsplit(".", 1)[-1], "ACTIVE")
    events = billing_events_from_webhook(_event(event_type, SUBSCRIPTION, status=resource_status))
    assert [e.name for e in events] == names
    for event in events:
        data = BillingEventData.from_event(event)
        assert (data.subscription_id, data.user_id) == ("host-sub-9", "host-user-9")
        assert data.provider == "paypal" and data.provider_event_type == event_type


def test_subscription_events_carry_plan_payer_and_period() -> None:
    """subscription.* events name the subscription, plan, payer and paid-through time."""
    data = _one(_event("BILLING.SUBSCRIPTION.ACTIVATED", SUBSCRIPTION), "subscription.activated")
    assert data.provider_subscription_id == "I-BW452GLLEP1G"
    assert data.provider_plan_id == "P-5ML4271244454362WXNWU5NQ"
    assert data.customer_id == "2J6QB8YJQSJRJ"
    assert data.current_period_end == datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert data.status is SubscriptionStatus.ACTIVE
    completed = _one(_event("BILLING.SUBSCRIPTION.ACTIVATED", SUBSCRIPTION), "checkout.completed")
    assert completed.checkout_session_id == completed.provider_subscription_id == "I-BW452GLLEP1G"


def test_activation_with_a_note_is_a_resumption() -> None:
    """ACTIVATED of a suspended subscription (it has a status_change_note) is resumed."""
    payload = _event(
        "BILLING.SUBSCRIPTION.ACTIVATED", SUBSCRIPTION, status_change_note="vbwd: resumed"
    )
    assert [e.name for e in billing_events_from_webhook(payload)] == ["subscription.resumed"]


def test_host_ids_missing_are_said_plainly() -> None:
    """Without custom_id (or with a foreign one) the ids are None and host_ids_returned False."""
    for custom in (None, "order-4711"):
        payload = _event("BILLING.SUBSCRIPTION.CREATED", SUBSCRIPTION, custom_id=custom)
        data = _one(payload, "subscription.created")
        assert (data.subscription_id, data.user_id, data.host_ids_returned) == (None, None, False)


def test_trial_and_failures_refine_the_status() -> None:
    """In the trial TRIALING; with failed payments ACTIVE is PAST_DUE and SUSPENDED UNPAID."""
    trial = _info(
        cycle_executions=[
            {"tenure_type": "TRIAL", "sequence": 1, "cycles_completed": 1, "total_cycles": 1},
            {"tenure_type": "REGULAR", "sequence": 2, "cycles_completed": 0, "total_cycles": 0},
        ]
    )
    trialing = _one(
        _event("BILLING.SUBSCRIPTION.ACTIVATED", SUBSCRIPTION, billing_info=trial),
        "subscription.activated",
    )
    assert trialing.status is SubscriptionStatus.TRIALING
    failing = _info(failed_payments_count=3)
    suspended = _one(
        _event(
            "BILLING.SUBSCRIPTION.SUSPENDED",
            SUBSCRIPTION,
            status="SUSPENDED",
            billing_info=failing,
        ),
        "subscription.past_due",
    )
    assert suspended.status is SubscriptionStatus.UNPAID


def test_payment_failed_says_attempt_retry_and_amount() -> None:
    """PAYMENT.FAILED: the attempt, PayPal's next retry, the amount and reason."""
    info = _info(
        failed_payments_count=2,
        last_failed_payment={
            "amount": {"currency_code": "JPY", "value": "1500"},
            "time": "2024-06-01T10:00:00Z",
            "reason_code": "PAYMENT_DENIED",
            "next_payment_retry_time": "2024-06-06T10:00:00Z",
        },
    )
    payload = _event("BILLING.SUBSCRIPTION.PAYMENT.FAILED", SUBSCRIPTION, billing_info=info)
    failed = _one(payload, "subscription.payment_failed")
    assert (failed.attempt, failed.amount, failed.currency) == (2, 1500, "JPY")
    assert failed.next_retry_at == datetime(2024, 6, 6, 10, tzinfo=UTC)
    assert "PAYMENT_DENIED" in failed.error_message
    assert _one(payload, "subscription.past_due").status is SubscriptionStatus.PAST_DUE


@pytest.mark.parametrize(
    ("note", "at_period_end", "ends_at"),
    [
        ("vbwd: cancelled now", False, None),
        (
            "vbwd: cancelled at period end, paid through 2024-06-01T10:00:00Z",
            True,
            datetime(2024, 6, 1, 10, tzinfo=UTC),
        ),
        ("Not satisfied with the service", True, None),
    ],
    ids=["now", "at-period-end", "elsewhere"],
)
def test_cancellation_says_what_the_host_asked(
    note: str, at_period_end: bool, ends_at: datetime | None
) -> None:
    """CANCELLED reads the cancellation's reason; one made elsewhere keeps the paid time."""
    info = _info()
    del info["next_billing_time"]  # PayPal stops reporting it once cancelled
    payload = _event(
        "BILLING.SUBSCRIPTION.CANCELLED",
        SUBSCRIPTION,
        status="CANCELLED",
        status_change_note=note,
        billing_info=info,
    )
    cancelled = _one(payload, "subscription.cancelled")
    assert (cancelled.at_period_end, cancelled.ends_at) == (at_period_end, ends_at)


def test_expiry_is_a_cancellation_without_paid_time() -> None:
    """EXPIRED is subscription.cancelled with status expired, not at the period end."""
    payload = _event("BILLING.SUBSCRIPTION.EXPIRED", SUBSCRIPTION, status="EXPIRED")
    expired = _one(payload, "subscription.cancelled")
    assert (expired.status, expired.at_period_end) == (SubscriptionStatus.EXPIRED, False)


def test_sale_of_a_subscription_is_a_renewal() -> None:
    """PAYMENT.SALE.COMPLETED with billing_agreement_id: renewed, the sale is the invoice."""
    renewed = _one(_event("PAYMENT.SALE.COMPLETED", SALE), "subscription.renewed")
    assert (renewed.amount, renewed.currency) == (1455, "CAD")
    assert renewed.invoice_id == "44P499886K055384U"
    assert renewed.provider_subscription_id == "I-BW452GLLEP1G"
    assert (renewed.subscription_id, renewed.user_id) == ("host-sub-9", "host-user-9")
    assert renewed.period_start is None and renewed.period_end is None  # a sale does not say


def test_sale_without_agreement_is_not_a_renewal() -> None:
    """A classic-API sale (no billing_agreement_id) yields no billing event."""
    sale = {k: v for k, v in SALE.items() if k != "billing_agreement_id"}
    assert billing_events_from_webhook(_event("PAYMENT.SALE.COMPLETED", sale)) == []


def test_sale_refund_is_payment_refunded() -> None:
    """PAYMENT.SALE.REFUNDED: payment.refunded of the sale, this refund's amount."""
    refund = {
        "id": "1P6840917R9470612",
        "state": "completed",
        "amount": {"total": "-2.50", "currency": "USD"},
        "sale_id": "44P499886K055384U",
        "billing_agreement_id": "I-BW452GLLEP1G",
        "custom": CUSTOM,
        "create_time": "2024-05-02T10:00:00Z",
    }
    (event,) = sale_payment_events(_event("PAYMENT.SALE.REFUNDED", refund))
    assert (event.transaction_id, event.refund_id) == ("44P499886K055384U", "1P6840917R9470612")  # type: ignore[attr-defined]
    assert (event.amount, event.currency, event.user_id) == (250, "USD", "host-user-9")
    plugin = PayPalPlugin()
    assert [e.name for e in plugin.translate_webhook(_event("PAYMENT.SALE.REFUNDED", refund))] == [
        "payment.refunded"
    ]


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("RESOLVED_SELLER_FAVOUR", DisputeOutcome.WON),
        ("RESOLVED_BUYER_FAVOUR", DisputeOutcome.LOST),
        ("CANCELED_BY_BUYER", DisputeOutcome.OTHER),
        (None, DisputeOutcome.OTHER),
    ],
)
def test_disputes_open_and_close_with_an_outcome(code: str | None, outcome: DisputeOutcome) -> None:
    """CUSTOMER.DISPUTE.CREATED opens; RESOLVED closes: seller favour won, buyer favour lost."""
    opened = _one(_event("CUSTOMER.DISPUTE.CREATED", DISPUTE), "dispute.opened")
    assert (opened.dispute_id, opened.transaction_id) == ("PP-000-042-663-135", SALE["id"])
    assert (opened.amount, opened.currency, opened.user_id) == (300, "USD", "host-user-9")
    resolved = _event(
        "CUSTOMER.DISPUTE.RESOLVED",
        DISPUTE,
        status="RESOLVED",
        dispute_outcome={} if code is None else {"outcome_code": code},
    )
    assert _one(resolved, "dispute.closed").outcome is outcome


@pytest.mark.parametrize(
    ("event_type", "resource"),
    [
        ("BILLING.SUBSCRIPTION.CREATED", {"status": "ACTIVE"}),
        ("PAYMENT.SALE.COMPLETED", {"id": "S-1", "billing_agreement_id": "I-1"}),
        ("PAYMENT.SALE.COMPLETED", {**SALE, "amount": {"total": "822.0160", "currency": "CZK"}}),
        ("CUSTOMER.DISPUTE.CREATED", {**DISPUTE, "disputed_transactions": []}),
    ],
    ids=["no-id", "no-amount", "inexact-amount", "no-transaction"],
)
def test_unreadable_resources_are_payload_errors(event_type: str, resource: dict[str, Any]) -> None:
    """A resource without what its event needs (or inexact money) is a WebhookPayloadError."""
    with pytest.raises(WebhookPayloadError):
        billing_events_from_webhook(_event(event_type, resource))


def test_event_without_resource_is_a_payload_error() -> None:
    """A mapped event type without a resource object is refused."""
    with pytest.raises(WebhookPayloadError):
        billing_events_from_webhook({"event_type": "BILLING.SUBSCRIPTION.CREATED"})


_CURRENCIES = st.sampled_from(["JPY", "HUF", "TWD", "USD", "EUR", "GBP"])


@settings(max_examples=150, deadline=None)
@given(_CURRENCIES, st.integers(min_value=1, max_value=10**9))
def test_sale_amounts_are_exact_iso_minor_units(currency: str, units: int) -> None:
    """Any sale PayPal can write comes back as the exact ISO minor units, zero-decimal too."""
    paypal_places = 0 if currency in ("JPY", "HUF", "TWD") else 2
    value = Decimal(units).scaleb(-paypal_places)
    sale = {**SALE, "amount": {"total": f"{value:f}", "currency": currency}}
    renewed = _one(_event("PAYMENT.SALE.COMPLETED", sale), "subscription.renewed")
    assert renewed.money == Money(value, currency)
    assert renewed.amount == Money(value, currency).to_minor_units()
