"""PayPal's subscription, sale and dispute webhooks -> standard billing events (pure).

=======================================  ===============================================
PayPal ``event_type``                    standard events
=======================================  ===============================================
``BILLING.SUBSCRIPTION.CREATED``         ``subscription.created``
``BILLING.SUBSCRIPTION.ACTIVATED``       ``subscription.activated`` + ``checkout.completed``
                                         (``SUBSCRIPTION``) when the payer's approval
                                         activates it; ``subscription.resumed`` when a
                                         suspended one is activated again (it then has a
                                         ``status_change_note``)
``BILLING.SUBSCRIPTION.UPDATED``         ``subscription.updated`` (``previous_plan_id``
                                         unknown: ``None``)
``BILLING.SUBSCRIPTION.SUSPENDED``       ``subscription.past_due`` (status ``unpaid``) when
                                         failed payments suspended it, else
                                         ``subscription.paused``
``BILLING.SUBSCRIPTION.CANCELLED``       ``subscription.cancelled``: as the host asked
                                         (``cancel_subscription`` records it, and the
                                         paid-through ``ends_at``, in the reason PayPal
                                         echoes); cancelled elsewhere: ``at_period_end``
                                         when something was paid (PayPal takes no paid time
                                         back), ``ends_at`` unknown (``None``)
``BILLING.SUBSCRIPTION.EXPIRED``         ``subscription.cancelled`` (status ``expired``)
``BILLING.SUBSCRIPTION.PAYMENT.FAILED``  ``subscription.payment_failed`` +
                                         ``subscription.past_due``
``PAYMENT.SALE.COMPLETED`` with a        ``subscription.renewed`` (``invoice_id``: the sale;
``billing_agreement_id``                 ``period_start``/``period_end``: ``None``, a sale
                                         does not say; read them with ``get_subscription``)
``PAYMENT.SALE.REFUNDED``                ``payment.refunded`` (``transaction_id``: the sale)
``CHECKOUT.ORDER.APPROVED`` of a         ``checkout.completed`` (``PAYMENT``; session and
checkout session's order                 ``transaction_id``: the order, which
                                         ``process_payment`` captures), besides
                                         ``paypal.order.approved``
``CUSTOMER.DISPUTE.CREATED``             ``dispute.opened``
``CUSTOMER.DISPUTE.RESOLVED``            ``dispute.closed``: ``RESOLVED_SELLER_FAVOUR`` won,
                                         ``RESOLVED_BUYER_FAVOUR`` lost, else other
=======================================  ===============================================

The host's ids come from the subscription's ``custom_id``, a sale's or a disputed
transaction's ``custom``; ``None`` when PayPal did not send them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from vbwd_plugins import Event, Money, PaymentErrorCode, PaymentEventData
from vbwd_plugins.errors import MoneyError, WebhookPayloadError
from vbwd_plugins.payments import (
    BillingEventData,
    CheckoutCompleted,
    CheckoutMode,
    DisputeClosed,
    DisputeOpened,
    DisputeOutcome,
    PaymentRefunded,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPastDue,
    SubscriptionPaused,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionResumed,
    SubscriptionStatus,
    SubscriptionUpdated,
)

from ._billing_requests import CHECKOUT_REFERENCE
from ._subscriptions import (
    billing_info,
    cancellation,
    failed_payments,
    moment,
    paid_through,
    subscription_status,
)
from ._webhook_events import _time, amount_of, decode_custom_id

__all__ = ["billing_events_from_webhook", "sale_payment_events"]

_OUTCOMES: Final = {
    "RESOLVED_SELLER_FAVOUR": DisputeOutcome.WON,
    "RESOLVED_BUYER_FAVOUR": DisputeOutcome.LOST,
}


def _fail(message: str) -> WebhookPayloadError:
    return WebhookPayloadError(message, plugin_name="paypal")


def _money(container: object, value_key: str, currency_key: str, what: str) -> Money:
    """An amount PayPal wrote as ``{value_key, currency_key}``; a refund's may carry a sign."""
    if not isinstance(container, Mapping):
        raise _fail(f"PayPal {what} has no amount")
    value = str(container.get(value_key)).strip().lstrip("-")
    try:
        return Money(value, str(container.get(currency_key)))
    except MoneyError as exc:
        raise _fail(f"PayPal {what} has an invalid amount: {exc}") from None


def _text(resource: Mapping[str, Any], key: str) -> str | None:
    value = resource.get(key)
    return value if isinstance(value, str) and value else None


def _required(resource: Mapping[str, Any], key: str, what: str) -> str:
    value = _text(resource, key)
    if value is None:
        raise _fail(f"PayPal {what} has no {key}")
    return value


def _envelope(payload: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    event_id = payload.get("id")
    return {
        "provider": "paypal",
        "provider_event_type": str(payload.get("event_type")),
        "provider_event_id": event_id if isinstance(event_id, str) and event_id else None,
        "occurred_at": _time(
            payload.get("create_time"), resource.get("update_time"), resource.get("create_time")
        ),
    }


def _subscription(payload: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    """What every ``subscription.*`` event of a subscription resource carries."""
    subscription_id, user_id = decode_custom_id(resource.get("custom_id"))
    subscriber = resource.get("subscriber")
    payer = subscriber.get("payer_id") if isinstance(subscriber, Mapping) else None
    return {
        **_envelope(payload, resource),
        "provider_subscription_id": _required(resource, "id", "subscription"),
        "status": subscription_status(resource),
        "provider_plan_id": _text(resource, "plan_id"),
        "customer_id": payer if isinstance(payer, str) and payer else None,
        "current_period_end": paid_through(resource),
        "subscription_id": subscription_id,
        "user_id": user_id,
        "metadata": {"paypal_status": str(resource.get("status", ""))},
    }


def _suspended(payload: Mapping[str, Any], resource: Mapping[str, Any]) -> list[BillingEventData]:
    common = _subscription(payload, resource)
    if failed_payments(resource):
        return [SubscriptionPastDue(**common)]
    return [SubscriptionPaused(**common)]


def _cancelled(payload: Mapping[str, Any], resource: Mapping[str, Any]) -> list[BillingEventData]:
    common = _subscription(payload, resource)
    if common["status"] is SubscriptionStatus.EXPIRED:
        return [SubscriptionCancelled(at_period_end=False, **common)]
    asked = cancellation(resource)
    if asked is not None:
        at_period_end, ends_at = asked
    else:
        at_period_end = isinstance(billing_info(resource).get("last_payment"), Mapping)
        ends_at = common["current_period_end"] if at_period_end else None
    return [SubscriptionCancelled(at_period_end=at_period_end, ends_at=ends_at, **common)]


def _activated(payload: Mapping[str, Any], resource: Mapping[str, Any]) -> list[BillingEventData]:
    common = _subscription(payload, resource)
    if resource.get("status_change_note"):
        return [SubscriptionResumed(**common)]
    completed = CheckoutCompleted(
        **_envelope(payload, resource),
        checkout_session_id=common["provider_subscription_id"],
        mode=CheckoutMode.SUBSCRIPTION,
        provider_subscription_id=common["provider_subscription_id"],
        customer_id=common["customer_id"],
        subscription_id=common["subscription_id"],
        user_id=common["user_id"],
    )
    return [SubscriptionActivated(**common), completed]


def _order_approved(payload: Mapping[str, Any], order: Mapping[str, Any]) -> list[BillingEventData]:
    """``checkout.completed`` when the payer approved a checkout session's order.

    Only orders ``create_checkout_session`` made (their purchase unit's ``reference_id``);
    the payment itself follows as ``payment.completed`` once the order is captured.
    """
    units = order.get("purchase_units")
    unit = units[0] if isinstance(units, list) and units else None
    if not isinstance(unit, Mapping) or unit.get("reference_id") != CHECKOUT_REFERENCE:
        return []
    order_id = _required(order, "id", "order")
    money = amount_of(unit, "order")
    subscription_id, user_id = decode_custom_id(unit.get("custom_id"))
    return [
        CheckoutCompleted(
            **_envelope(payload, order),
            checkout_session_id=order_id,
            mode=CheckoutMode.PAYMENT,
            transaction_id=order_id,
            amount=money.to_minor_units(),
            currency=money.currency,
            subscription_id=subscription_id,
            user_id=user_id,
        )
    ]


def _payment_failed(
    payload: Mapping[str, Any], resource: Mapping[str, Any]
) -> list[BillingEventData]:
    common = _subscription(payload, resource)
    failed = billing_info(resource).get("last_failed_payment")
    failed = failed if isinstance(failed, Mapping) else {}
    amount: dict[str, Any] = {}
    if isinstance(failed.get("amount"), Mapping):
        money = _money(failed["amount"], "value", "currency_code", "failed payment")
        amount = {"amount": money.to_minor_units(), "currency": money.currency}
    reason = _text(failed, "reason_code")
    attempt = failed_payments(resource)
    return [
        SubscriptionPaymentFailed(
            attempt=attempt or None,
            next_retry_at=moment(failed.get("next_payment_retry_time")),
            error_code=PaymentErrorCode.DECLINED,
            error_message=f"PayPal subscription payment failed: {reason or 'no reason given'}",
            **amount,
            **common,
        ),
        SubscriptionPastDue(**common),
    ]


def _renewed(payload: Mapping[str, Any], sale: Mapping[str, Any]) -> list[BillingEventData]:
    agreement = _text(sale, "billing_agreement_id")
    if agreement is None:
        return []  # a sale of the classic APIs, not of a subscription
    money = _money(sale.get("amount"), "total", "currency", "sale")
    subscription_id, user_id = decode_custom_id(sale.get("custom"))
    return [
        SubscriptionRenewed(
            **_envelope(payload, sale),
            provider_subscription_id=agreement,
            status=SubscriptionStatus.ACTIVE,
            subscription_id=subscription_id,
            user_id=user_id,
            amount=money.to_minor_units(),
            currency=money.currency,
            invoice_id=_required(sale, "id", "sale"),
            metadata={"paypal_state": str(sale.get("state", ""))},
        )
    ]


def _dispute(payload: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    transactions = resource.get("disputed_transactions")
    first = transactions[0] if isinstance(transactions, list) and transactions else None
    first = first if isinstance(first, Mapping) else {}
    transaction = _text(first, "seller_transaction_id") or _text(first, "buyer_transaction_id")
    if transaction is None:
        raise _fail("PayPal dispute names no disputed transaction")
    money = _money(resource.get("dispute_amount"), "value", "currency_code", "dispute")
    subscription_id, user_id = decode_custom_id(first.get("custom"))
    return {
        **_envelope(payload, resource),
        "dispute_id": _required(resource, "dispute_id", "dispute"),
        "transaction_id": transaction,
        "amount": money.to_minor_units(),
        "currency": money.currency,
        "reason": _text(resource, "reason"),
        "subscription_id": subscription_id,
        "user_id": user_id,
        "metadata": {"paypal_status": str(resource.get("status", ""))},
    }


def _resolved(payload: Mapping[str, Any], resource: Mapping[str, Any]) -> list[BillingEventData]:
    outcome = resource.get("dispute_outcome")
    code = outcome.get("outcome_code") if isinstance(outcome, Mapping) else None
    common = _dispute(payload, resource)
    if isinstance(code, str):
        common["metadata"]["outcome_code"] = code
    return [DisputeClosed(outcome=_OUTCOMES.get(str(code), DisputeOutcome.OTHER), **common)]


_Translate = Callable[[Mapping[str, Any], Mapping[str, Any]], list[BillingEventData]]


def _simple(cls: type[BillingEventData]) -> _Translate:
    return lambda payload, resource: [cls(**_subscription(payload, resource))]


_TRANSLATIONS: Final[Mapping[str, _Translate]] = {
    "BILLING.SUBSCRIPTION.CREATED": _simple(SubscriptionCreated),
    "BILLING.SUBSCRIPTION.ACTIVATED": _activated,
    "BILLING.SUBSCRIPTION.UPDATED": _simple(SubscriptionUpdated),
    "BILLING.SUBSCRIPTION.SUSPENDED": _suspended,
    "BILLING.SUBSCRIPTION.CANCELLED": _cancelled,
    "BILLING.SUBSCRIPTION.EXPIRED": _cancelled,
    "BILLING.SUBSCRIPTION.PAYMENT.FAILED": _payment_failed,
    "PAYMENT.SALE.COMPLETED": _renewed,
    "CHECKOUT.ORDER.APPROVED": _order_approved,
    "CUSTOMER.DISPUTE.CREATED": lambda p, r: [DisputeOpened(**_dispute(p, r))],
    "CUSTOMER.DISPUTE.RESOLVED": _resolved,
}


def _resource(payload: Mapping[str, Any], event_type: str) -> Mapping[str, Any]:
    resource = payload.get("resource")
    if not isinstance(resource, Mapping):
        raise _fail(f"PayPal {event_type} event has no resource")
    return resource


def billing_events_from_webhook(payload: Mapping[str, Any]) -> list[Event]:
    """The standard billing events a verified PayPal webhook stands for (module table)."""
    event_type = payload.get("event_type")
    translate = _TRANSLATIONS.get(event_type) if isinstance(event_type, str) else None
    if translate is None or not isinstance(event_type, str):
        return []
    return [data.to_event() for data in translate(payload, _resource(payload, event_type))]


def sale_payment_events(payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
    """``payment.refunded`` for ``PAYMENT.SALE.REFUNDED`` (a subscription sale's refund)."""
    if payload.get("event_type") != "PAYMENT.SALE.REFUNDED":
        return ()
    refund = _resource(payload, "PAYMENT.SALE.REFUNDED")
    money = _money(refund.get("amount"), "total", "currency", "sale refund")
    refund_id = _required(refund, "id", "sale refund")
    sale_id = _text(refund, "sale_id")
    subscription_id, user_id = decode_custom_id(refund.get("custom"))
    metadata = {"status": str(refund.get("state", ""))}
    for key in ("sale_id", "billing_agreement_id"):
        if (value := _text(refund, key)) is not None:
            metadata[key] = value
    return (
        PaymentRefunded(
            **_envelope(payload, refund),
            transaction_id=sale_id or refund_id,
            refund_id=refund_id,
            amount=money.to_minor_units(),
            currency=money.currency,
            subscription_id=subscription_id,
            user_id=user_id,
            metadata=metadata,
        ),
    )
