"""Stripe billing objects as API version ``2026-10-28.endive`` sends them, for the billing tests.

Written from the pinned SDK's classes (``stripe/_subscription.py``, ``_invoice.py``,
``checkout/_session.py``, ``_dispute.py``), not from the plugin: the current period is on
the subscription's items, an invoice names its subscription and a copy of its metadata under
``parent.subscription_details``, and has no ``payment_intent``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from vbwd_stripe.testing import make_event

if TYPE_CHECKING:
    from vbwd_stripe import StripePlugin

    from vbwd_plugins import Event
    from vbwd_plugins.testing import WebhookDelivery

SUB = "5b2f4e8a-0d4c-4f3e-9a51-6f1a2b3c4d5e"
USER = "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
HOST = {"subscription_id": SUB, "user_id": USER}
T0 = 1_790_000_000
MONTH = 30 * 86400


def price(pid: str = "price_pro", amount: int = 2000, currency: str = "usd") -> dict[str, Any]:
    """A monthly recurring ``price``."""
    return {
        "id": pid,
        "object": "price",
        "active": True,
        "currency": currency,
        "lookup_key": None,
        "metadata": {},
        "product": "vbwd_pro",
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def subscription(
    *,
    status: str = "active",
    price_id: str = "price_pro",
    quantity: int = 1,
    period: tuple[int, int] = (T0, T0 + MONTH),
    metadata: dict[str, str] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A ``subscription`` with one item (``changes`` override top-level fields)."""
    item = {
        "id": "si_1",
        "object": "subscription_item",
        "created": period[0],
        "current_period_start": period[0],
        "current_period_end": period[1],
        "metadata": {},
        "price": price(price_id),
        "quantity": quantity,
        "subscription": "sub_1",
    }
    sub: dict[str, Any] = {
        "id": "sub_1",
        "object": "subscription",
        "billing_cycle_anchor": period[0],
        "billing_mode": {"type": "flexible", "flexible": None, "updated_at": period[0]},
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": period[0],
        "currency": "usd",
        "customer": "cus_1",
        "default_payment_method": "pm_1",
        "ended_at": None,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": "/v1/subscription_items?subscription=sub_1",
        },
        "latest_invoice": "in_1",
        "livemode": False,
        "metadata": dict(HOST) if metadata is None else metadata,
        "pause_collection": None,
        "start_date": period[0],
        "status": status,
        "trial_end": None,
        "trial_start": None,
    }
    sub.update(changes)
    return sub


def line(
    amount: int,
    period: tuple[int, int],
    *,
    proration: bool = False,
    price_id: str = "price_pro",
    currency: str = "usd",
) -> dict[str, Any]:
    """An invoice ``line_item`` of subscription ``sub_1``."""
    return {
        "id": f"il_{amount}_{period[0]}",
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "invoice": "in_1",
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": "sub_1",
                "subscription_item": "si_1",
            },
        },
        "period": {"start": period[0], "end": period[1]},
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price_id, "product": "vbwd_pro"},
            "unit_amount_decimal": str(amount),
        },
        "quantity": 1,
    }


def invoice(
    *,
    amount: int = 2000,
    currency: str = "usd",
    paid: bool = True,
    lines: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
    billing_reason: str = "subscription_cycle",
    subscription: str | None = "sub_1",
    **changes: Any,
) -> dict[str, Any]:
    """A subscription ``invoice`` (its period: the *previous* one, as Stripe reports it)."""
    period = (T0 + MONTH, T0 + 2 * MONTH)
    inv: dict[str, Any] = {
        "id": "in_1",
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "confirmation_secret": None,
        "created": period[0],
        "currency": currency,
        "customer": "cus_1",
        "lines": {
            "object": "list",
            "data": [line(amount, period, currency=currency)] if lines is None else lines,
            "has_more": False,
            "url": "/v1/invoices/in_1/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "parent": None
        if subscription is None
        else {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(HOST) if metadata is None else metadata,
                "subscription": subscription,
                "subscription_proration_date": None,
            },
        },
        "period_start": T0,
        "period_end": T0 + MONTH,
        "status": "paid" if paid else "open",
        "total": amount,
    }
    inv.update(changes)
    return inv


def checkout_session(mode: str = "subscription", **changes: Any) -> dict[str, Any]:
    """A completed ``checkout.session``."""
    cs: dict[str, Any] = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "amount_subtotal": 2000,
        "amount_total": 2000,
        "cancel_url": "https://host.example/cancel",
        "client_reference_id": SUB,
        "created": T0,
        "currency": "usd",
        "customer": "cus_1",
        "expires_at": T0 + 86400,
        "invoice": "in_1" if mode == "subscription" else None,
        "livemode": False,
        "metadata": dict(HOST),
        "mode": mode,
        "payment_intent": "pi_1" if mode == "payment" else None,
        "payment_status": "no_payment_required" if mode == "setup" else "paid",
        "setup_intent": "seti_1" if mode == "setup" else None,
        "status": "complete",
        "subscription": "sub_1" if mode == "subscription" else None,
        "success_url": "https://host.example/ok",
        "url": None,
    }
    cs.update(changes)
    return cs


def dispute(status: str = "needs_response", **changes: Any) -> dict[str, Any]:
    """A ``dispute`` of charge ``ch_1`` (PaymentIntent ``pi_1``)."""
    du: dict[str, Any] = {
        "id": "du_1",
        "object": "dispute",
        "amount": 2000,
        "balance_transactions": [],
        "charge": "ch_1",
        "created": T0,
        "currency": "usd",
        "evidence_details": {"due_by": T0 + 7 * 86400, "has_evidence": False},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": "pi_1",
        "reason": "fraudulent",
        "status": status,
    }
    du.update(changes)
    return du


def event(
    event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The event envelope around ``obj`` (created at ``T0 + 1``)."""
    return make_event(
        event_type, obj, previous_attributes=previous, event_id="evt_1", created=T0 + 1
    )


def standard_events(plugin: StripePlugin, deliveries: Iterable[WebhookDelivery]) -> list[Event]:
    """Verify each signed delivery as the webhook pipeline does, and translate it."""
    events: list[Event] = []
    for delivery in deliveries:
        received = plugin.receive_webhook(delivery.headers, delivery.body)
        events += plugin.translate_webhook(received.payload)
    return events
