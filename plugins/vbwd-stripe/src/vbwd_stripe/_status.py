"""Stripe statuses -> :class:`~vbwd_plugins.PaymentStatus`.

Every PaymentIntent status and every Refund status has an entry; an unknown status (one
Stripe adds later) maps to ``PENDING`` with a warning rather than failing a payment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from vbwd_plugins import PaymentStatus

__all__ = ["INTENT_STATUSES", "REFUND_STATUSES", "intent_status", "refund_status"]

logger = logging.getLogger(__name__)

INTENT_STATUSES: Final[Mapping[str, PaymentStatus]] = {
    # A new intent, or one whose last attempt failed (then ``last_payment_error`` is set).
    "requires_payment_method": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.AUTHORIZED,
    "canceled": PaymentStatus.CANCELLED,
    "succeeded": PaymentStatus.COMPLETED,
}

REFUND_STATUSES: Final[Mapping[str, PaymentStatus]] = {
    "pending": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "succeeded": PaymentStatus.REFUNDED,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELLED,
}


def _lookup(table: Mapping[str, PaymentStatus], status: object, kind: str) -> PaymentStatus:
    if isinstance(status, str) and status in table:
        return table[status]
    logger.warning("unknown Stripe %s status %r; reporting it as pending", kind, status)
    return PaymentStatus.PENDING


def intent_status(intent: Mapping[str, Any]) -> PaymentStatus:
    """The status of a PaymentIntent (a plain dict as Stripe sends it).

    ``requires_payment_method`` after a failed attempt is ``FAILED``; a succeeded intent
    whose expanded ``latest_charge`` was refunded is ``REFUNDED`` or
    ``PARTIALLY_REFUNDED``.
    """
    status = intent.get("status")
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return PaymentStatus.FAILED
    if status == "succeeded":
        charge = intent.get("latest_charge")
        if isinstance(charge, Mapping):
            refunded = charge.get("amount_refunded") or 0
            paid = charge.get("amount_captured") or charge.get("amount") or 0
            if refunded and refunded >= paid:
                return PaymentStatus.REFUNDED
            if refunded:
                return PaymentStatus.PARTIALLY_REFUNDED
    return _lookup(INTENT_STATUSES, status, "PaymentIntent")


def refund_status(refund: Mapping[str, Any]) -> PaymentStatus:
    """The status of a Refund."""
    return _lookup(REFUND_STATUSES, refund.get("status"), "Refund")
