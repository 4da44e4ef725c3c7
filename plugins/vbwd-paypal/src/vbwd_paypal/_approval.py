"""Capturing (or authorizing) an order when PayPal reports that the payer approved it.

Used by :meth:`PayPalPlugin.handle_webhook` for ``CHECKOUT.ORDER.APPROVED`` when
``capture_on_approval`` is set. The request id is derived from the order, so redeliveries
of the approval never act twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from vbwd_plugins import PaymentErrorCode, PaymentEventData

from ._client import PayPalClient
from ._errors import PayPalAPIError
from ._webhook_events import order_failed_event

__all__ = ["act_on_approval"]

logger = logging.getLogger(__name__)

_ALREADY_DONE: Final = frozenset({"ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED"})


def act_on_approval(client: PayPalClient, payload: Mapping[str, Any]) -> list[PaymentEventData]:
    """Capture or authorize the approved order; the ``payment.failed`` event of a decline.

    Success emits nothing here (PayPal's own ``PAYMENT.CAPTURE.COMPLETED`` or
    ``PAYMENT.AUTHORIZATION.CREATED`` follows). Transient failures raise, so PayPal
    redelivers the approval.
    """
    order = payload.get("resource")
    if not isinstance(order, Mapping) or not isinstance(order.get("id"), str):
        logger.warning("paypal: CHECKOUT.ORDER.APPROVED without an order resource")
        return []
    order_id = str(order["id"])
    action = "authorize" if order.get("intent") == "AUTHORIZE" else "capture"
    try:
        client.call(
            "POST",
            f"/v2/checkout/orders/{order_id}/{action}",
            body={},
            request_id=f"vbwd-approval-{action}-{order_id}",
        )
    except PayPalAPIError as exc:
        if _ALREADY_DONE.intersection(exc.issues):
            logger.info("paypal: order %s was already %sd", order_id, action)
            return []
        if exc.error_code.retryable or exc.error_code in (
            PaymentErrorCode.AUTHENTICATION_FAILED,
            PaymentErrorCode.PROVIDER_ERROR,
        ):
            raise
        return [order_failed_event(payload, order, exc.error_code, str(exc))]
    logger.info("paypal: order %s approved and %sd", order_id, action)
    return []
