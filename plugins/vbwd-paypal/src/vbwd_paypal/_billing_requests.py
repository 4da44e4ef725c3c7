"""Request bodies for PayPal's catalog products, billing plans and subscriptions (pure).

Every :class:`~vbwd_plugins.payments.Plan` becomes a billing plan of one catalog product
(``PayPalConfig.catalog_product_id``), found again by its name, its key (in the plan's
``description``) and its billing cycles (price, interval and trial):

* ``billing_cycles``: an optional free ``TRIAL`` cycle of ``trial_days`` days (in several
  equal cycles past PayPal's 365-day interval), then one ``REGULAR`` cycle of the price,
  forever (``total_cycles`` 0);
* ``payment_preferences``: outstanding amounts billed with the next cycle, suspension after
  :data:`PAYMENT_FAILURE_THRESHOLD` consecutive failures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from vbwd_plugins.payments import CurrencyRules, Interval, Plan

from ._webhook_events import encode_custom_id

__all__ = [
    "CHECKOUT_REFERENCE",
    "PAYMENT_FAILURE_THRESHOLD",
    "billing_cycles",
    "host_custom_id",
    "catalog_product_body",
    "plan_body",
    "plan_currency",
    "plan_description",
    "plan_fingerprint",
    "plan_mismatch",
    "product_request_id",
    "subscription_body",
]

#: ``purchase_units[0].reference_id`` of the orders ``create_checkout_session`` makes: how
#: ``CHECKOUT.ORDER.APPROVED`` tells a checkout from a ``create_payment_intent`` order.
CHECKOUT_REFERENCE: Final = "vbwd-checkout"
#: Consecutive failed payments after which PayPal suspends a subscription of our plans.
PAYMENT_FAILURE_THRESHOLD: Final = 3
#: ``Interval`` -> PayPal's ``interval_unit`` and the largest ``interval_count`` it allows.
_UNITS: Final = {
    Interval.DAY: ("DAY", 365),
    Interval.WEEK: ("WEEK", 52),
    Interval.MONTH: ("MONTH", 12),
    Interval.YEAR: ("YEAR", 1),
}
#: ``SubscriptionRequest.metadata`` keys copied into ``application_context``.
CONTEXT_KEYS: Final = ("brand_name", "locale", "shipping_preference", "user_action")


def catalog_product_body(product_id: str) -> dict[str, Any]:
    """``POST /v1/catalogs/products``: the one service product every plan belongs to.

    The plugin finds the product by its id only, so its name may be edited on PayPal.
    """
    return {
        "id": product_id,
        "name": "Subscriptions",
        "type": "SERVICE",
        "description": "Subscription plans managed by vbwd-paypal",
    }


def plan_description(key: str) -> str:
    """The billing plan's ``description``: names the plan key (how a plan is found again)."""
    return f"vbwd plan {key}"


def product_request_id(body: Mapping[str, Any]) -> str:
    """The product's ``PayPal-Request-Id``: the same body, the same id (a retry is one create)."""
    text = repr(sorted(body.items()))
    return "vbwd-product-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _trial_cycles(days: int) -> tuple[int, int]:
    """``(days per cycle, cycles)`` for a trial of ``days``: one cycle when PayPal allows."""
    for cycles in range(1, days + 1):
        if days % cycles == 0 and days // cycles <= _UNITS[Interval.DAY][1]:
            return days // cycles, cycles
    raise ValueError(f"trial_days={days} cannot be expressed in PayPal billing cycles")


def billing_cycles(plan: Plan, rules: CurrencyRules) -> list[dict[str, Any]]:
    """The plan's ``billing_cycles`` (see the module docstring)."""
    unit, most = _UNITS[Interval(plan.interval)]
    if plan.interval_count > most:
        raise ValueError(
            f"plan {plan.key!r}: PayPal bills every {most} {unit} at most, "
            f"not every {plan.interval_count} (interval_count)"
        )
    cycles: list[dict[str, Any]] = []
    if plan.trial_days:
        length, count = _trial_cycles(plan.trial_days)
        cycles.append(
            {
                "frequency": {"interval_unit": "DAY", "interval_count": length},
                "tenure_type": "TRIAL",
                "sequence": 1,
                "total_cycles": count,
            }
        )
    cycles.append(
        {
            "frequency": {"interval_unit": unit, "interval_count": plan.interval_count},
            "tenure_type": "REGULAR",
            "sequence": len(cycles) + 1,
            "total_cycles": 0,
            "pricing_scheme": {
                "fixed_price": {
                    "currency_code": plan.price.currency,
                    "value": plan.price.to_decimal_string(rules),
                }
            },
        }
    )
    return cycles


def plan_body(plan: Plan, product_id: str, rules: CurrencyRules) -> dict[str, Any]:
    """``POST /v1/billing/plans`` for ``plan`` under ``product_id``."""
    return {
        "product_id": product_id,
        "name": plan.name,
        "description": plan_description(plan.key),
        "status": "ACTIVE",
        "billing_cycles": billing_cycles(plan, rules),
        "payment_preferences": {
            "auto_bill_outstanding": True,
            "payment_failure_threshold": PAYMENT_FAILURE_THRESHOLD,
        },
        "quantity_supported": True,
    }


def plan_fingerprint(plan: Plan, product_id: str, rules: CurrencyRules) -> str:
    """A stable digest of what identifies the billing plan: its ``PayPal-Request-Id``."""
    parts = (product_id, plan.key, plan.name, repr(billing_cycles(plan, rules)))
    return "vbwd-plan-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


_Cycle = tuple[str, str, int, int, str | None, Decimal | None]


def _shape(cycles: object) -> list[_Cycle]:
    """Billing cycles reduced to what the plan decides, by sequence (free trials: no price)."""
    shaped: list[tuple[int, _Cycle]] = []
    for cycle in cycles if isinstance(cycles, list) else []:
        if not isinstance(cycle, Mapping):
            continue
        frequency = cycle.get("frequency")
        frequency = frequency if isinstance(frequency, Mapping) else {}
        scheme = cycle.get("pricing_scheme")
        fixed = scheme.get("fixed_price") if isinstance(scheme, Mapping) else None
        currency, value = None, None
        if isinstance(fixed, Mapping):
            value = _decimal(fixed.get("value"))
            currency = str(fixed.get("currency_code"))
            if value == 0:
                currency, value = None, None
        shape = (
            str(cycle.get("tenure_type")),
            str(frequency.get("interval_unit")),
            int(frequency.get("interval_count", 1)),
            int(cycle.get("total_cycles", 1)),
            currency,
            value,
        )
        shaped.append((int(cycle.get("sequence", 0)), shape))
    return [shape for _, shape in sorted(shaped, key=lambda item: item[0])]


def plan_mismatch(paypal_plan: Mapping[str, Any], plan: Plan, rules: CurrencyRules) -> str | None:
    """Why the PayPal billing plan does not bill as ``plan`` does, or ``None`` when it does.

    Prices compare as numbers (PayPal answers ``"10"`` for ``"10.00"``); a zero-priced trial
    is a free one.
    """
    if paypal_plan.get("status") not in (None, "ACTIVE"):
        return f"its status is {paypal_plan.get('status')}, not ACTIVE"
    try:
        wanted = _shape(billing_cycles(plan, rules))
        found = _shape(paypal_plan.get("billing_cycles"))
    except (TypeError, ValueError):
        return "its billing cycles cannot be read"
    if found != wanted:
        return f"its billing cycles {found} differ from the plan's {wanted}"
    return None


def plan_currency(paypal_plan: Mapping[str, Any]) -> str | None:
    """The currency a PayPal billing plan bills in (its priced cycles share one), or ``None``."""
    cycles = paypal_plan.get("billing_cycles")
    for cycle in cycles if isinstance(cycles, list) else []:
        scheme = cycle.get("pricing_scheme") if isinstance(cycle, Mapping) else None
        fixed = scheme.get("fixed_price") if isinstance(scheme, Mapping) else None
        currency = fixed.get("currency_code") if isinstance(fixed, Mapping) else None
        if isinstance(currency, str) and currency:
            return currency
    return None


def host_custom_id(subscription_id: str | None, user_id: str | None) -> str | None:
    """``custom_id`` for the host's ids: both or neither, as the payments write them."""
    if subscription_id is None and user_id is None:
        return None
    if subscription_id is None or user_id is None:
        raise ValueError(
            "PayPal carries the host's ids as a pair in custom_id: give both subscription_id "
            "and user_id, or neither"
        )
    return encode_custom_id(subscription_id, user_id)


def subscription_body(
    plan_id: str,
    *,
    quantity: int,
    custom_id: str | None,
    return_url: str | None,
    cancel_url: str | None,
    metadata: Mapping[str, str],
    start_time: datetime | None = None,
) -> dict[str, Any]:
    """``POST /v1/billing/subscriptions``: the payer approves it at the ``approve`` link.

    A later ``start_time`` is a free period before the first charge (a trial the plan lacks).
    """
    body: dict[str, Any] = {"plan_id": plan_id, "quantity": str(quantity)}
    if start_time is not None:
        body["start_time"] = f"{start_time.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    if custom_id is not None:
        body["custom_id"] = custom_id
    context: dict[str, Any] = {key: metadata[key] for key in CONTEXT_KEYS if key in metadata}
    context.setdefault("user_action", "SUBSCRIBE_NOW")
    context.setdefault("shipping_preference", "NO_SHIPPING")
    if return_url is not None:
        context["return_url"] = return_url
    if cancel_url is not None:
        context["cancel_url"] = cancel_url
    body["application_context"] = context
    return body
