"""ToyPay's webhook translation: server events -> standard payment and billing payloads.

The host's ids are read from the metadata the server stored, never invented here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vbwd_plugins.payments import PaymentErrorCode
from vbwd_plugins.payments._billing import CheckoutMode, SubscriptionStatus
from vbwd_plugins.payments._billing_events import (
    BillingEventData,
    CheckoutCompleted,
    DisputeClosed,
    DisputeOpened,
    DisputeOutcome,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionEventData,
    SubscriptionPastDue,
    SubscriptionPaused,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionResumed,
    SubscriptionTrialWillEnd,
    SubscriptionUpdated,
)
from vbwd_plugins.payments._events import (
    PaymentCompleted,
    PaymentEventData,
    PaymentFailed,
    PaymentRefunded,
)

_SUBSCRIPTION_EVENTS: dict[str, type[SubscriptionEventData]] = {
    "subscription.created": SubscriptionCreated,
    "subscription.activated": SubscriptionActivated,
    "subscription.renewed": SubscriptionRenewed,
    "subscription.payment_failed": SubscriptionPaymentFailed,
    "subscription.past_due": SubscriptionPastDue,
    "subscription.updated": SubscriptionUpdated,
    "subscription.trial_will_end": SubscriptionTrialWillEnd,
    "subscription.paused": SubscriptionPaused,
    "subscription.resumed": SubscriptionResumed,
    "subscription.cancelled": SubscriptionCancelled,
}


def moment(seconds: int | None) -> datetime | None:
    """Unix seconds as an aware datetime (``None`` stays ``None``)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def translate_toy_event(
    provider: str, payload: Mapping[str, Any]
) -> list[PaymentEventData | BillingEventData]:
    """The standard payloads one ToyPay webhook stands for (none for unknown types)."""
    kind, obj = payload["type"], payload["object"]
    ids = payload.get("metadata") or obj.get("metadata") or {}
    common: dict[str, Any] = {
        "provider": provider,
        "provider_event_type": kind,
        "provider_event_id": payload["id"],
        "occurred_at": datetime.fromtimestamp(payload["created"], UTC),
        "subscription_id": ids.get("subscription_id"),
        "user_id": ids.get("user_id"),
    }
    money = {"amount": obj.get("amount"), "currency": obj.get("currency")}
    if kind == "payment.succeeded":
        return [PaymentCompleted(transaction_id=obj["id"], **money, **common)]
    if kind == "payment.failed":
        code = PaymentErrorCode(obj["decline_code"])
        return [PaymentFailed(transaction_id=obj["id"], error_code=code, **money, **common)]
    if kind == "refund.created":
        return [
            PaymentRefunded(transaction_id=obj["payment"], refund_id=obj["id"], **money, **common)
        ]
    if kind.startswith("dispute."):
        dispute: dict[str, Any] = {"dispute_id": obj["id"], "transaction_id": obj["payment"]}
        if kind == "dispute.opened":
            return [DisputeOpened(**dispute, **money, **common)]
        outcome = DisputeOutcome(obj.get("status", "other"))
        return [DisputeClosed(**dispute, outcome=outcome, **money, **common)]
    if kind == "checkout.completed":
        mode = CheckoutMode(obj["mode"])
        paid = money if mode is CheckoutMode.PAYMENT else {}
        return [
            CheckoutCompleted(
                checkout_session_id=obj["id"],
                mode=mode,
                provider_subscription_id=obj.get("subscription"),
                transaction_id=obj.get("payment"),
                **paid,
                **common,
            )
        ]
    cls = _SUBSCRIPTION_EVENTS.get(kind)
    if cls is None:
        return []
    values: dict[str, Any] = {
        "provider_subscription_id": obj["id"],
        "status": SubscriptionStatus(obj["status"]),
        "provider_plan_id": obj["price"],
        "customer_id": obj["customer"],
        "current_period_end": moment(obj["period_end"]),
        **common,
    }
    invoice = payload.get("invoice") or {}
    if cls is SubscriptionRenewed:
        values.update(
            amount=invoice["amount"],
            currency=invoice["currency"],
            period_start=moment(obj["period_start"]),
            period_end=moment(obj["period_end"]),
            invoice_id=invoice["id"],
        )
    elif cls is SubscriptionPaymentFailed:
        values.update(
            amount=invoice["amount"],
            currency=invoice["currency"],
            attempt=payload["attempt"],
            invoice_id=invoice["id"],
        )
    elif cls is SubscriptionCancelled:
        at_end = bool(payload["at_period_end"])
        values.update(at_period_end=at_end, ends_at=moment(obj["period_end"]) if at_end else None)
    elif cls is SubscriptionUpdated:
        values["previous_plan_id"] = payload.get("previous")
    elif cls is SubscriptionTrialWillEnd:
        values["trial_end"] = moment(obj["trial_end"])
    return [cls(**values)]
