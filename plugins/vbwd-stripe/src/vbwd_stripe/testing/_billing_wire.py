"""Billing objects as API version ``2026-10-28.endive`` writes them, and form-parameter trees.

Only the builders live here (pure functions of their arguments); :mod:`._billing` keeps
the objects and changes them. Shapes follow the pinned SDK's classes: an invoice names its
subscription under ``parent.subscription_details``, the current period lives on
subscription *items*, and a payment is reached through ``payments`` (an includable list of
``invoice_payment``), not ``invoice.payment_intent``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from vbwd_stripe._currency import STRIPE_CURRENCY_RULES

from ._wire import error_body

Obj = dict[str, Any]

INTERVALS: Final = frozenset({"day", "week", "month", "year"})
#: Card details Stripe reports for its test payment-method tokens.
CARDS: Final[Mapping[str, tuple[str, str]]] = {
    "pm_card_visa": ("visa", "4242"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_chargeDeclined": ("visa", "0002"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995"),
    "pm_card_chargeDeclinedExpiredCard": ("visa", "0069"),
    "pm_card_chargeDeclinedFraudulent": ("visa", "0019"),
    "pm_card_authenticationRequired": ("visa", "3155"),
}
_KEY_PART: Final = re.compile(r"\[([^\]]*)\]")


def tree(params: Mapping[str, str], name: str) -> Obj:
    """``a[0][b][c]=1`` -> ``tree(params, "a") == {"0": {"b": {"c": "1"}}}``."""
    root: Obj = {}
    prefix = f"{name}["
    for key, value in params.items():
        if not key.startswith(prefix):
            continue
        parts = _KEY_PART.findall(key[len(name) :])
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return root


def invalid(message: str, param: str | None, code: str | None = None) -> tuple[int, Obj]:
    """Stripe's 400 ``invalid_request_error``."""
    return 400, error_body("invalid_request_error", message, param, code=code)


def minor_unit_step(currency: str) -> int:
    """What Stripe's amounts in ``currency`` must be divisible by (10 for KWD, 100 for ISK)."""
    try:
        return STRIPE_CURRENCY_RULES.rule_for(currency.upper()).multiple_of
    except (KeyError, ValueError):  # not an ISO currency: no rule to apply
        return 1


def add_interval(anchor: int, interval: str, count: int) -> int:
    """``anchor`` moved by ``count`` intervals, months clamped to the month's last day."""
    start = datetime.fromtimestamp(anchor, UTC)
    if interval == "day":
        return int((start + timedelta(days=count)).timestamp())
    if interval == "week":
        return int((start + timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return int(start.replace(year=year, month=month + 1, day=day).timestamp())


def listing(data: Sequence[Obj], url: str) -> Obj:
    """Stripe's list envelope."""
    return {"object": "list", "data": list(data), "has_more": False, "url": url}


def customer(cid: str, params: Mapping[str, str], now: int, livemode: bool) -> Obj:
    """A ``customer``."""
    return {
        "id": cid,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "email": params.get("email"),
        "invoice_prefix": cid[-8:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": params.get("invoice_settings[default_payment_method]"),
            "footer": None,
            "rendering_options": None,
        },
        "livemode": livemode,
        "metadata": tree(params, "metadata"),
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": params.get("phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def product(pid: str, name: str, params: Mapping[str, str], now: int, livemode: bool) -> Obj:
    """A ``product``."""
    return {
        "id": pid,
        "object": "product",
        "active": params.get("active", "true") == "true",
        "created": now,
        "default_price": None,
        "description": params.get("description"),
        "images": [],
        "livemode": livemode,
        "marketing_features": [],
        "metadata": tree(params, "metadata"),
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }


def price(
    pid: str,
    product_id: str,
    unit_amount: int,
    currency: str,
    recurring: Mapping[str, str] | None,
    params: Mapping[str, str],
    now: int,
    livemode: bool,
) -> Obj:
    """A ``price`` (``recurring`` is ``{"interval": ..., "interval_count": ...}`` or None)."""
    return {
        "id": pid,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": livemode,
        "lookup_key": params.get("lookup_key"),
        "metadata": tree(params, "metadata"),
        "nickname": params.get("nickname"),
        "product": product_id,
        "recurring": None
        if recurring is None
        else {
            "interval": recurring["interval"],
            "interval_count": int(recurring.get("interval_count", "1")),
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def plan_of(p: Mapping[str, Any]) -> Obj:
    """The legacy ``plan`` Stripe still mirrors on subscription items."""
    recurring = p["recurring"]
    return {
        "id": p["id"],
        "object": "plan",
        "active": p["active"],
        "amount": p["unit_amount"],
        "amount_decimal": p["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": p["created"],
        "currency": p["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": p["livemode"],
        "metadata": dict(p["metadata"]),
        "meter": None,
        "nickname": p["nickname"],
        "product": p["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def subscription_item(
    item_id: str, sub_id: str, p: Mapping[str, Any], quantity: int, start: int, end: int
) -> Obj:
    """A ``subscription_item``: it carries the current period in this API version."""
    return {
        "id": item_id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": start,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(p),
        "price": dict(p),
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def payment_method(pm_id: str, token: str, now: int, livemode: bool) -> Obj:
    """A card ``payment_method`` made from one of Stripe's test tokens."""
    brand, last4 = CARDS.get(token, ("visa", "4242"))
    return {
        "id": pm_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": brand,
            "country": "US",
            "exp_month": 12,
            "exp_year": datetime.fromtimestamp(now, UTC).year + 3,
            "funding": "credit",
            "last4": last4,
        },
        "created": now,
        "customer": None,
        "livemode": livemode,
        "metadata": {},
        "type": "card",
    }


def line_item(
    line_id: str,
    invoice_id: str,
    sub: Mapping[str, Any],
    item: Mapping[str, Any],
    amount: int,
    period: tuple[int, int],
    *,
    proration: bool = False,
    description: str | None = None,
) -> Obj:
    """An invoice ``line_item`` for one subscription item over ``period``."""
    p = item["price"]
    return {
        "id": line_id,
        "object": "line_item",
        "amount": amount,
        "currency": p["currency"],
        "description": description or f"{item['quantity']} \u00d7 {p['product']}",
        "discount_amounts": [],
        "discountable": not proration,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": sub["livemode"],
        "metadata": dict(sub["metadata"]),
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
        },
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": p["id"], "product": p["product"]},
            "type": "price_details",
            "unit_amount_decimal": p["unit_amount_decimal"],
        },
        "quantity": item["quantity"],
        "subtotal": amount,
        "taxes": [],
    }


def invoice(
    invoice_id: str,
    sub: Mapping[str, Any],
    lines: list[Obj],
    billing_reason: str,
    now: int,
    number: str,
) -> Obj:
    """A finalized, open ``invoice`` of ``sub`` (amounts from ``lines``)."""
    total = sum(line["amount"] for line in lines)
    starts = [line["period"]["start"] for line in lines] or [now]
    ends = [line["period"]["end"] for line in lines] or [now]
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "confirmation_secret": None,
        "created": now,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": now,
        "ending_balance": 0,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{invoice_id}/pdf",
        "issuer": {"type": "self"},
        "lines": listing(lines, f"/v1/invoices/{invoice_id}/lines") | {"total_count": len(lines)},
        "livemode": sub["livemode"],
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(sub["metadata"]),
                "subscription": sub["id"],
                "subscription_proration_date": None,
            },
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": max(ends),
        "period_start": min(starts),
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "open",
        "status_transitions": {
            "finalized_at": now,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": now,
    }


def invoice_payment(ip_id: str, inv: Mapping[str, Any], intent_id: str, now: int) -> Obj:
    """The ``invoice_payment`` that links an invoice to its PaymentIntent."""
    return {
        "id": ip_id,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": inv["amount_due"],
        "created": now,
        "currency": inv["currency"],
        "invoice": inv["id"],
        "is_default": True,
        "livemode": inv["livemode"],
        "payment": {"type": "payment_intent", "payment_intent": intent_id},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def dispute(du_id: str, charge: Mapping[str, Any], amount: int, reason: str, now: int) -> Obj:
    """A ``dispute`` awaiting the merchant's response."""
    return {
        "id": du_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "evidence": {},
        "evidence_details": {
            "due_by": now + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": charge["livemode"],
        "metadata": {},
        "payment_intent": charge.get("payment_intent"),
        "reason": reason,
        "status": "needs_response",
    }
