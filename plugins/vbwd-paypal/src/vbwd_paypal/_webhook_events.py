"""PayPal webhook events -> standard payment events (pure functions, no I/O).

==================================  =====================  ===============================
PayPal ``event_type``               standard event         ``transaction_id``
==================================  =====================  ===============================
``PAYMENT.CAPTURE.COMPLETED``       ``payment.completed``  capture id
``PAYMENT.CAPTURE.PENDING``         ``payment.pending``    capture id
``PAYMENT.CAPTURE.DENIED``          ``payment.failed``     capture id
``PAYMENT.CAPTURE.DECLINED``        ``payment.failed``     capture id
``PAYMENT.CAPTURE.REFUNDED``        ``payment.refunded``   capture id (``refund_id`` too)
``PAYMENT.AUTHORIZATION.CREATED``   ``payment.authorized`` authorization id
``PAYMENT.AUTHORIZATION.VOIDED``    ``payment.cancelled``  authorization id
==================================  =====================  ===============================

Everything else translates to nothing here; ``CHECKOUT.ORDER.APPROVED`` becomes the
plugin's own ``paypal.order.approved`` event (``_approval``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from vbwd_plugins import (
    Money,
    PaymentErrorCode,
    PaymentEventData,
)
from vbwd_plugins.errors import (
    MoneyError,
    WebhookPayloadError,
)
from vbwd_plugins.payments import (
    PaymentAuthorized,
    PaymentCancelled,
    PaymentCompleted,
    PaymentFailed,
    PaymentPending,
    PaymentRefunded,
)

__all__ = [
    "CUSTOM_ID_MAX_LENGTH",
    "amount_of",
    "decode_custom_id",
    "encode_custom_id",
    "events_from_webhook",
    "order_failed_event",
]

#: PayPal's limit for ``purchase_units[].custom_id``.
CUSTOM_ID_MAX_LENGTH: Final = 127
_ID_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")

_SIMPLE: Final[Mapping[str, type[PaymentEventData]]] = {
    "PAYMENT.CAPTURE.COMPLETED": PaymentCompleted,
    "PAYMENT.CAPTURE.PENDING": PaymentPending,
    "PAYMENT.AUTHORIZATION.CREATED": PaymentAuthorized,
    "PAYMENT.AUTHORIZATION.VOIDED": PaymentCancelled,
}
_FAILED: Final = frozenset({"PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"})


def encode_custom_id(subscription_id: object, user_id: object) -> str:
    """``custom_id`` carrying the subscription and user: ``"<subscription>,<user>"``.

    Only letters, digits, ``-``, ``_`` and ``.`` are used, the alphabet PayPal allows in
    refunds' ``custom_id``; UUIDs fit in 73 of the 127 characters.
    """
    ids = (str(subscription_id), str(user_id))
    if not all(_ID_RE.fullmatch(value) for value in ids):
        raise ValueError(
            "subscription and user ids must be letters, digits, '-', '_' or '.' to travel in "
            "PayPal's custom_id"
        )
    text = ",".join(ids)
    if len(text) > CUSTOM_ID_MAX_LENGTH:
        raise ValueError(
            f"subscription and user ids need {len(text)} characters in PayPal's custom_id, "
            f"which holds {CUSTOM_ID_MAX_LENGTH}"
        )
    return text


def decode_custom_id(custom_id: object) -> tuple[str | None, str | None]:
    """``(subscription_id, user_id)`` from a ``custom_id`` this plugin wrote, else ``None``\\ s."""
    if not isinstance(custom_id, str):
        return None, None
    parts = custom_id.split(",")
    if len(parts) != 2 or not all(_ID_RE.fullmatch(part) for part in parts):
        return None, None
    return parts[0], parts[1]


def amount_of(resource: Mapping[str, Any], what: str = "resource") -> Money:
    """``resource["amount"]`` (``{"currency_code", "value"}``) as :class:`Money`."""
    amount = resource.get("amount")
    if not isinstance(amount, Mapping):
        raise WebhookPayloadError(f"PayPal {what} has no amount", plugin_name="paypal")
    try:
        return Money(str(amount.get("value")), str(amount.get("currency_code")))
    except MoneyError as exc:
        raise WebhookPayloadError(
            f"PayPal {what} has an invalid amount: {exc}", plugin_name="paypal"
        ) from None


def _time(*candidates: object) -> datetime:
    for value in candidates:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            if parsed.utcoffset() is not None:
                return parsed
    return datetime.now(UTC)


def _id(resource: Mapping[str, Any], what: str) -> str:
    value = resource.get("id")
    if not isinstance(value, str) or not value:
        raise WebhookPayloadError(f"PayPal {what} has no id", plugin_name="paypal")
    return value


def _related_order_id(resource: Mapping[str, Any]) -> str | None:
    related = resource.get("supplementary_data", {})
    related = related.get("related_ids", {}) if isinstance(related, Mapping) else {}
    order_id = related.get("order_id") if isinstance(related, Mapping) else None
    return order_id if isinstance(order_id, str) and order_id else None


def _up_capture_id(resource: Mapping[str, Any]) -> str | None:
    """The capture a refund belongs to, from its ``rel: up`` link."""
    links = resource.get("links")
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, Mapping) or link.get("rel") != "up":
            continue
        href = link.get("href")
        if isinstance(href, str) and "/captures/" in href:
            capture_id = href.rstrip("/").rsplit("/", 1)[-1]
            if capture_id:
                return capture_id
    return None


def _common(payload: Mapping[str, Any], resource: Mapping[str, Any], what: str) -> dict[str, Any]:
    subscription_id, user_id = decode_custom_id(resource.get("custom_id"))
    money = amount_of(resource, what)
    metadata = {"status": str(resource.get("status", ""))}
    order_id = _related_order_id(resource)
    if order_id is not None:
        metadata["order_id"] = order_id
    event_id = payload.get("id")
    return {
        "provider": "paypal",
        "amount": money.to_minor_units(),
        "currency": money.currency,
        "provider_event_type": str(payload.get("event_type")),
        "provider_event_id": event_id if isinstance(event_id, str) and event_id else None,
        "occurred_at": _time(
            resource.get("update_time"), resource.get("create_time"), payload.get("create_time")
        ),
        "subscription_id": subscription_id,
        "user_id": user_id,
        "metadata": metadata,
    }


def events_from_webhook(payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
    """The standard events a verified PayPal webhook stands for (see the module table)."""
    event_type = payload.get("event_type")
    resource = payload.get("resource")
    if not isinstance(event_type, str):
        return ()
    if event_type in _SIMPLE or event_type in _FAILED or event_type == "PAYMENT.CAPTURE.REFUNDED":
        if not isinstance(resource, Mapping):
            raise WebhookPayloadError(
                f"PayPal {event_type} event has no resource", plugin_name="paypal"
            )
    else:
        return ()
    cls = _SIMPLE.get(event_type)
    if cls is not None:
        kind = "authorization" if ".AUTHORIZATION." in event_type else "capture"
        return (cls(transaction_id=_id(resource, kind), **_common(payload, resource, kind)),)
    if event_type in _FAILED:
        details = resource.get("status_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        return (
            PaymentFailed(
                transaction_id=_id(resource, "capture"),
                error_code=PaymentErrorCode.DECLINED,
                error_message=f"PayPal {event_type}" + (f": {reason}" if reason else ""),
                **_common(payload, resource, "capture"),
            ),
        )
    refund_id = _id(resource, "refund")
    common = _common(payload, resource, "refund")
    capture_id = _up_capture_id(resource)
    if capture_id is not None:
        common["metadata"]["capture_id"] = capture_id
    return (PaymentRefunded(transaction_id=capture_id or refund_id, refund_id=refund_id, **common),)


def order_failed_event(
    payload: Mapping[str, Any], order: Mapping[str, Any], code: PaymentErrorCode, message: str
) -> PaymentFailed:
    """``payment.failed`` for an approved order; also how ``_approval`` reads an approval."""
    units = order.get("purchase_units")
    unit = units[0] if isinstance(units, list) and units and isinstance(units[0], Mapping) else {}
    common = _common(payload, {**unit, "status": order.get("status", "")}, "order")
    common["metadata"]["order_id"] = _id(order, "order")
    return PaymentFailed(
        transaction_id=_id(order, "order"), error_code=code, error_message=message, **common
    )
