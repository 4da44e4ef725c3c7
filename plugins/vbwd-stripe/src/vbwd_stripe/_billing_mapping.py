"""Stripe billing objects (plain dicts, API version ``2026-10-28.endive``) <-> the core's models.

Pure functions, shared by the operations (:mod:`._billing`, :mod:`._subscriptions`) and the
webhook translation (:mod:`._billing_events`). In this API version a subscription's current
period lives on its *items*, not on the subscription.

================================  ===============================================
Stripe subscription status        :class:`~vbwd_plugins.payments.SubscriptionStatus`
================================  ===============================================
``incomplete``                    ``PENDING`` (first payment not made yet)
``trialing``                      ``TRIALING``
``active``                        ``ACTIVE``
``past_due``                      ``PAST_DUE``
``paused``                        ``PAUSED``
``unpaid``                        ``UNPAID``
``canceled``                      ``CANCELLED``
``incomplete_expired``            ``EXPIRED``
================================  ===============================================

A live subscription whose ``pause_collection`` is set is ``PAUSED`` too (Stripe keeps its
status ``active``; ``provider_status`` still says so).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from vbwd_plugins.payments import (
    CheckoutMode,
    CheckoutSession,
    Customer,
    Plan,
    SavedPaymentMethod,
    Subscription,
    SubscriptionStatus,
)

from ._currency import stripe_units

__all__ = [
    "API_VERSION",
    "HOST_ID_KEYS",
    "SUBSCRIPTION_STATUSES",
    "first_item",
    "host_ids",
    "host_metadata",
    "host_tags",
    "lookup_key_for",
    "moment",
    "object_id",
    "plan_mismatch",
    "product_id_for",
    "subscription_status",
    "to_checkout_session",
    "to_customer",
    "to_payment_method",
    "to_subscription",
]

logger = logging.getLogger(__name__)

#: The API version whose shapes this module and ``_billing_events`` read: the one the pinned
#: ``stripe`` SDK (16.1.0) sends (``stripe.api_version``; a test keeps the two equal).
API_VERSION: Final = "2026-10-28.endive"
#: Metadata keys carrying the host's ids; set by the plugin, a caller's values are overridden.
HOST_ID_KEYS: Final = ("subscription_id", "user_id")

SUBSCRIPTION_STATUSES: Final[Mapping[str, SubscriptionStatus]] = {
    "incomplete": SubscriptionStatus.PENDING,
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAUSED,
    "unpaid": SubscriptionStatus.UNPAID,
    "canceled": SubscriptionStatus.CANCELLED,
    "incomplete_expired": SubscriptionStatus.EXPIRED,
}
#: Statuses in which ``pause_collection`` means "paused" (an ended one stays ended).
_PAUSABLE: Final = frozenset({"active", "trialing", "past_due"})
#: The last Unix second a ``datetime`` holds (9999-12-31T23:59:59Z).
_LAST_SECOND: Final = 253_402_300_799


def moment(value: object) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC datetime (``None`` when absent or unusable)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _LAST_SECOND:
        return None
    return datetime.fromtimestamp(value, UTC)


def object_id(value: object) -> str | None:
    """The id of an expandable field: the string itself, or the expanded object's ``id``."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) and found else None
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- host ids ----------------------------------------------------------------------------


def host_metadata(
    extra: Mapping[str, str] | None, subscription_id: str | None, user_id: str | None
) -> dict[str, str]:
    """The metadata to send: the caller's, then the host's ids (which win)."""
    tags = {k: v for k, v in (extra or {}).items() if k not in HOST_ID_KEYS}
    for key, value in zip(HOST_ID_KEYS, (subscription_id, user_id), strict=True):
        if value is not None:
            tags[key] = value
    return tags


def host_tags(metadata: object) -> dict[str, str]:
    """Only the host's ids from a Stripe ``metadata`` object (the keys that are set)."""
    raw = metadata if isinstance(metadata, Mapping) else {}
    return {key: raw[key] for key in HOST_ID_KEYS if _text(raw.get(key)) is not None}


def host_ids(metadata: object) -> tuple[str | None, str | None, dict[str, str]]:
    """``(subscription_id, user_id, the rest)`` from a Stripe ``metadata`` object."""
    raw = metadata if isinstance(metadata, Mapping) else {}
    rest = {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}
    subscription_id = _text(rest.pop("subscription_id", None))
    user_id = _text(rest.pop("user_id", None))
    return subscription_id, user_id, rest


# -- plans -------------------------------------------------------------------------------


def product_id_for(plan: Plan) -> str:
    """The explicit Product id for ``plan.key`` (the same key finds the same product)."""
    return f"vbwd_{plan.key}"


def lookup_key_for(plan: Plan) -> str:
    """The Price ``lookup_key`` for ``plan``: its key, Stripe amount, currency and interval.

    A plan whose price or interval changes gets a new key, so a new Price (Stripe prices
    are immutable); the same plan finds the Price an earlier call created.
    """
    units = stripe_units(plan.price)
    currency = plan.price.currency.lower()
    return f"vbwd:{plan.key}:{units}:{currency}:{plan.interval.value}:{plan.interval_count}"


def plan_mismatch(price: Mapping[str, Any], plan: Plan) -> str | None:
    """Why Stripe ``price`` cannot bill ``plan`` (amount, currency, interval), or ``None``."""
    pid = price.get("id")
    units = stripe_units(plan.price)
    currency = plan.price.currency.lower()
    recurring = price.get("recurring")
    if not isinstance(recurring, Mapping):
        return f"Stripe price {pid!r} is not recurring (plan {plan.key!r} bills every period)"
    if price.get("active") is False:
        return f"Stripe price {pid!r} is archived (active=false)"
    if price.get("currency") != currency or _int(price.get("unit_amount")) != units:
        return (
            f"Stripe price {pid!r} is {price.get('unit_amount')!r} {price.get('currency')!r}, "
            f"plan {plan.key!r} is {units} {currency!r} (Stripe units)"
        )
    interval, count = recurring.get("interval"), recurring.get("interval_count")
    if interval != plan.interval.value or count != plan.interval_count:
        return (
            f"Stripe price {pid!r} bills every {count!r} {interval!r}, plan {plan.key!r} every "
            f"{plan.interval_count} {plan.interval.value!r}"
        )
    return None


# -- subscriptions ------------------------------------------------------------------------


def first_item(sub: Mapping[str, Any]) -> Mapping[str, Any]:
    """The subscription's first item (the plugin creates one-item subscriptions)."""
    items = sub.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return data[0]
    return {}


def subscription_status(sub: Mapping[str, Any]) -> SubscriptionStatus:
    """The standard status of a Stripe subscription (unknown statuses: ``PENDING``, logged)."""
    status = sub.get("status")
    if status in _PAUSABLE and sub.get("pause_collection"):
        return SubscriptionStatus.PAUSED
    if isinstance(status, str) and status in SUBSCRIPTION_STATUSES:
        return SUBSCRIPTION_STATUSES[status]
    logger.warning("unknown Stripe subscription status %r; reporting it as pending", status)
    return SubscriptionStatus.PENDING


def to_subscription(sub: Mapping[str, Any]) -> Subscription:
    """A Stripe subscription as a :class:`Subscription` (period from its first item)."""
    item = first_item(sub)
    subscription_id, user_id, _ = host_ids(sub.get("metadata"))
    quantity = _int(item.get("quantity"))
    return Subscription(
        id=str(sub["id"]),
        status=subscription_status(sub),
        provider_plan_id=object_id(item.get("price")),
        customer_id=object_id(sub.get("customer")),
        quantity=quantity if quantity is not None and quantity > 0 else 1,
        current_period_start=moment(item.get("current_period_start")),
        current_period_end=moment(item.get("current_period_end")),
        trial_end=moment(sub.get("trial_end")),
        cancel_at_period_end=sub.get("cancel_at_period_end") is True,
        subscription_id=subscription_id,
        user_id=user_id,
        provider_status=_text(sub.get("status")),
    )


# -- customers, payment methods, checkout --------------------------------------------------


def to_customer(cus: Mapping[str, Any]) -> Customer:
    """A Stripe customer as a :class:`Customer` (``user_id`` from its metadata)."""
    _, user_id, rest = host_ids(cus.get("metadata"))
    return Customer(
        id=str(cus["id"]),
        email=_text(cus.get("email")),
        name=_text(cus.get("name")),
        user_id=user_id,
        metadata=rest,
    )


def to_payment_method(pm: Mapping[str, Any]) -> SavedPaymentMethod:
    """A Stripe PaymentMethod as a :class:`SavedPaymentMethod` (card details when a card)."""
    kind = _text(pm.get("type")) or "unknown"
    details = pm.get(kind)
    card = details if isinstance(details, Mapping) else {}
    return SavedPaymentMethod(
        id=str(pm["id"]),
        type=kind,
        brand=_text(card.get("brand")),
        last4=_text(card.get("last4")),
        exp_month=_int(card.get("exp_month")),
        exp_year=_int(card.get("exp_year")),
    )


def to_checkout_session(cs: Mapping[str, Any], mode: CheckoutMode) -> CheckoutSession:
    """A Stripe Checkout Session as a :class:`CheckoutSession` (redirect to ``url``)."""
    created = (
        object_id(cs.get("subscription"))
        or object_id(cs.get("payment_intent"))
        or object_id(cs.get("setup_intent"))
    )
    return CheckoutSession(
        id=str(cs["id"]),
        url=str(cs["url"]),
        mode=mode,
        expires_at=moment(cs.get("expires_at")),
        provider_object_id=created,
    )
