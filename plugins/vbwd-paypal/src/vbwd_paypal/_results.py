"""PayPal resources (orders, captures, authorizations, refunds) -> ``PaymentResult``.

Pure functions over PayPal's JSON. Result metadata names the ids involved
(``order_id``, ``capture_id``, ``authorization_id``, ``refund_id``) so hosts can
cross-reference PayPal's dashboard, and amounts are ISO 4217 minor units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from vbwd_plugins import (
    Money,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)

from ._errors import PayPalAPIError, PayPalError
from ._mapping import AUTHORIZATION_STATUS, CAPTURE_STATUS, ORDER_STATUS, REFUND_STATUS
from ._webhook_events import amount_of, decode_custom_id

__all__ = [
    "ID_KEYS",
    "authorization_result",
    "capture_result",
    "failed_result",
    "first_unit",
    "link",
    "order_result",
    "payment_of_order",
    "payments_of",
    "refund_result",
    "related_order",
    "resource_id",
    "unapproved_order_result",
    "up_capture",
]

#: Result metadata key -> the kind of PayPal resource whose id it holds.
ID_KEYS: Final = {
    "order_id": "order",
    "capture_id": "capture",
    "authorization_id": "authorization",
    "refund_id": "refund",
    "sale_id": "sale",
    "sale_refund_id": "sale_refund",
}


def resource_id(resource: Mapping[str, Any]) -> str:
    """The resource's ``id``; a PayPal answer without one is a provider error."""
    value = resource.get("id")
    if not isinstance(value, str) or not value:
        raise PayPalAPIError(
            "PayPal answered without a resource id",
            error_code=PaymentErrorCode.PROVIDER_ERROR,
            status_code=200,
        )
    return value


def link(resource: Mapping[str, Any], *rels: str) -> str | None:
    """The ``href`` of the first link with one of ``rels`` (in that order of preference)."""
    links = resource.get("links")
    for rel in rels:
        for entry in links if isinstance(links, list) else []:
            if isinstance(entry, Mapping) and entry.get("rel") == rel:
                href = entry.get("href")
                if isinstance(href, str):
                    return href
    return None


def first_unit(order: Mapping[str, Any]) -> Mapping[str, Any]:
    """The order's (only) purchase unit."""
    units = order.get("purchase_units")
    if isinstance(units, list) and units and isinstance(units[0], Mapping):
        return units[0]
    return {}


def payments_of(order: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    """``purchase_units[0].payments[kind]`` (``captures`` or ``authorizations``)."""
    payments = first_unit(order).get("payments")
    found = payments.get(kind) if isinstance(payments, Mapping) else None
    return [item for item in found if isinstance(item, Mapping)] if isinstance(found, list) else []


def related_order(resource: Mapping[str, Any]) -> str | None:
    """The order id a capture or authorization reports in ``supplementary_data``."""
    supplementary = resource.get("supplementary_data")
    related = supplementary.get("related_ids") if isinstance(supplementary, Mapping) else None
    order_id = related.get("order_id") if isinstance(related, Mapping) else None
    return order_id if isinstance(order_id, str) and order_id else None


def up_capture(resource: Mapping[str, Any]) -> str | None:
    """The capture a refund belongs to, from its ``rel: up`` link."""
    href = link(resource, "up")
    if href is None or "/captures/" not in href:
        return None
    return href.rstrip("/").rsplit("/", 1)[-1] or None


def _with_money(result: PaymentResult, resource: Mapping[str, Any], what: str) -> PaymentResult:
    if isinstance(resource.get("amount"), Mapping):
        money = amount_of(resource, what)
        result.currency = money.currency  # first: an amount needs its currency
        result.amount = money.to_minor_units()
    return result


def _failed(result: PaymentResult, message: str) -> PaymentResult:
    result.success = False
    result.error_code = PaymentErrorCode.DECLINED
    result.error_message = message
    return result


def order_result(order: Mapping[str, Any], request_id: str | None = None) -> PaymentResult:
    """An order's status, approval link, and the subscription and user from ``custom_id``."""
    order_id = resource_id(order)
    status_text = str(order.get("status", ""))
    unit = first_unit(order)
    subscription_id, user_id = decode_custom_id(unit.get("custom_id"))
    metadata: dict[str, Any] = {
        "order_id": order_id,
        "order_status": status_text,
        "intent": order.get("intent"),
    }
    approval = link(order, "approve", "payer-action")
    if approval is not None:
        metadata["approval_url"] = approval
    if request_id is not None:
        metadata["paypal_request_id"] = request_id
    if subscription_id is not None:
        metadata["subscription_id"] = subscription_id
    if user_id is not None:
        metadata["user_id"] = user_id
    status = ORDER_STATUS.get(status_text, PaymentStatus.PENDING)
    return _with_money(PaymentResult(True, order_id, status, None, metadata), unit, "order")


def capture_result(
    capture: Mapping[str, Any], *, order_id: str | None = None, request_id: str | None = None
) -> PaymentResult:
    """A capture; ``DECLINED``/``FAILED`` captures are failed, declined results."""
    capture_id = resource_id(capture)
    status_text = str(capture.get("status", ""))
    metadata: dict[str, Any] = {"capture_id": capture_id, "capture_status": status_text}
    order_id = order_id or related_order(capture)
    if order_id is not None:
        metadata["order_id"] = order_id
    if request_id is not None:
        metadata["paypal_request_id"] = request_id
    details = capture.get("status_details")
    reason = details.get("reason") if isinstance(details, Mapping) else None
    if isinstance(reason, str):
        metadata["status_reason"] = reason
    status = CAPTURE_STATUS.get(status_text, PaymentStatus.PROCESSING)
    result = PaymentResult(status is not PaymentStatus.FAILED, capture_id, status, None, metadata)
    if status is PaymentStatus.FAILED:
        _failed(result, f"PayPal capture {status_text}" + (f": {reason}" if reason else ""))
    return _with_money(result, capture, "capture")


def authorization_result(
    authorization: Mapping[str, Any],
    *,
    order_id: str | None = None,
    request_id: str | None = None,
) -> PaymentResult:
    """An authorization; ``CREATED`` is ``AUTHORIZED``, ``DENIED`` a declined result."""
    authorization_id = resource_id(authorization)
    status_text = str(authorization.get("status", ""))
    metadata: dict[str, Any] = {
        "authorization_id": authorization_id,
        "authorization_status": status_text,
    }
    order_id = order_id or related_order(authorization)
    if order_id is not None:
        metadata["order_id"] = order_id
    if request_id is not None:
        metadata["paypal_request_id"] = request_id
    if isinstance(authorization.get("expiration_time"), str):
        metadata["expiration_time"] = authorization["expiration_time"]
    status = AUTHORIZATION_STATUS.get(status_text, PaymentStatus.PROCESSING)
    ok = status is not PaymentStatus.FAILED
    result = PaymentResult(ok, authorization_id, status, None, metadata)
    if status is PaymentStatus.FAILED:
        _failed(result, f"PayPal authorization {status_text}")
    return _with_money(result, authorization, "authorization")


def refund_result(
    refund: Mapping[str, Any],
    *,
    capture_id: str | None,
    fallback: Money | None = None,
    request_id: str | None = None,
) -> PaymentResult:
    """A refund with *its own* amount (``fallback`` when PayPal omits it)."""
    refund_id = resource_id(refund)
    status_text = str(refund.get("status", ""))
    metadata: dict[str, Any] = {"refund_id": refund_id, "refund_status": status_text}
    capture_id = capture_id or up_capture(refund)
    if capture_id is not None:
        metadata["capture_id"] = capture_id
    if request_id is not None:
        metadata["paypal_request_id"] = request_id
    status = REFUND_STATUS.get(status_text, PaymentStatus.PENDING)
    ok = status not in (PaymentStatus.FAILED, PaymentStatus.CANCELLED)
    result = PaymentResult(ok, refund_id, status, None, metadata)
    if not ok:
        _failed(result, f"PayPal refund {status_text}")
    if isinstance(refund.get("amount"), Mapping):
        return _with_money(result, refund, "refund")
    if fallback is not None:
        result.currency, result.amount = fallback.currency, fallback.to_minor_units()
    return result


def payment_of_order(
    order: Mapping[str, Any], request_id: str | None = None
) -> PaymentResult | None:
    """The order's latest capture (or authorization) as a result; ``None`` if it has neither."""
    order_id = resource_id(order)
    captures = payments_of(order, "captures")
    if captures:
        return capture_result(captures[-1], order_id=order_id, request_id=request_id)
    authorizations = payments_of(order, "authorizations")
    if authorizations:
        return authorization_result(authorizations[-1], order_id=order_id, request_id=request_id)
    return None


def failed_result(exc: PayPalError, transaction_id: str | None) -> PaymentResult:
    """A failed result for a client error, with PayPal's ids for support in ``metadata``."""
    metadata: dict[str, Any] = {}
    if isinstance(exc, PayPalAPIError):
        metadata["http_status"] = exc.status_code
        if exc.name:
            metadata["paypal_error"] = exc.name
        if exc.debug_id:
            metadata["debug_id"] = exc.debug_id
        if exc.issues:
            metadata["paypal_issues"] = list(exc.issues)
    return PaymentResult.failure(
        exc.error_code, str(exc), transaction_id=transaction_id, metadata=metadata
    )


def unapproved_order_result(order: Mapping[str, Any], order_id: str) -> PaymentResult:
    """The failed result of processing an order the payer has not approved (yet)."""
    status = order.get("status")
    result = order_result(order)
    if result.status is PaymentStatus.REQUIRES_ACTION:
        result.success = False
        result.error_code = PaymentErrorCode.PAYER_ACTION_REQUIRED
        result.error_message = (
            f"PayPal order {order_id} is {status}: the payer must approve "
            "it at metadata['approval_url'] first"
        )
        return result
    return PaymentResult.failure(
        PaymentErrorCode.INVALID_REQUEST,
        f"PayPal order {order_id} is {status} and cannot be processed",
        transaction_id=order_id,
        metadata=result.metadata,
    )
