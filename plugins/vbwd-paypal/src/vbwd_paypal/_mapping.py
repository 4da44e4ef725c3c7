"""PayPal's statuses, error names and currency rules, mapped to the contract's terms.

All of it is data, so a reader can check it against PayPal's API reference in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from vbwd_plugins import (
    PaymentErrorCode,
    PaymentStatus,
)
from vbwd_plugins.payments import CurrencyRules, SubscriptionStatus

__all__ = [
    "AUTHORIZATION_STATUS",
    "CAPTURE_STATUS",
    "ORDER_STATUS",
    "PAYPAL_CURRENCIES",
    "PAYPAL_CURRENCY_RULES",
    "REFUND_STATUS",
    "SUBSCRIPTION_STATUS",
    "error_code_for",
]

#: The currencies PayPal's REST API accepts (none has three decimals: KWD, BHD and the like
#: are refused before anything is sent, as PayPal would answer ``CURRENCY_NOT_SUPPORTED``).
PAYPAL_CURRENCIES: Final = frozenset(
    {
        "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR",
        "MXN", "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
    }
)  # fmt: skip

#: PayPal sends HUF, JPY and TWD without decimals (ISO 4217 gives HUF and TWD two).
PAYPAL_CURRENCY_RULES: Final = CurrencyRules(
    "PayPal", {"HUF": 0, "JPY": 0, "TWD": 0}, supported=PAYPAL_CURRENCIES
)

_S = PaymentStatus

#: Orders v2 ``status``. An order that is ``COMPLETED`` is reported by its capture instead.
ORDER_STATUS: Final[Mapping[str, PaymentStatus]] = {
    "CREATED": _S.REQUIRES_ACTION,  # the payer has not approved yet
    "SAVED": _S.REQUIRES_ACTION,
    "PAYER_ACTION_REQUIRED": _S.REQUIRES_ACTION,
    "APPROVED": _S.PENDING,  # approved, waiting for process_payment
    "VOIDED": _S.CANCELLED,
    "COMPLETED": _S.COMPLETED,
}

#: Payments v2 capture ``status``.
CAPTURE_STATUS: Final[Mapping[str, PaymentStatus]] = {
    "COMPLETED": _S.COMPLETED,
    "PENDING": _S.PENDING,
    "DECLINED": _S.FAILED,
    "FAILED": _S.FAILED,
    "PARTIALLY_REFUNDED": _S.PARTIALLY_REFUNDED,
    "REFUNDED": _S.REFUNDED,
}

#: Payments v2 authorization ``status``.
AUTHORIZATION_STATUS: Final[Mapping[str, PaymentStatus]] = {
    "CREATED": _S.AUTHORIZED,
    "PENDING": _S.PENDING,
    "CAPTURED": _S.COMPLETED,
    "PARTIALLY_CAPTURED": _S.COMPLETED,
    "DENIED": _S.FAILED,
    "VOIDED": _S.CANCELLED,
    "EXPIRED": _S.CANCELLED,
}

#: Payments v2 refund ``status``.
REFUND_STATUS: Final[Mapping[str, PaymentStatus]] = {
    "COMPLETED": _S.REFUNDED,
    "PENDING": _S.PENDING,
    "FAILED": _S.FAILED,
    "CANCELLED": _S.CANCELLED,
}

#: Subscriptions v1 ``status``, before ``billing_info`` refines it (``_subscriptions``):
#: ``ACTIVE`` in its trial is ``TRIALING``; with failed payments ``ACTIVE`` is ``PAST_DUE``
#: and ``SUSPENDED`` is ``UNPAID`` (PayPal suspends once its failure threshold is reached).
SUBSCRIPTION_STATUS: Final[Mapping[str, SubscriptionStatus]] = {
    "APPROVAL_PENDING": SubscriptionStatus.PENDING,
    "APPROVED": SubscriptionStatus.PENDING,  # approved, not activated yet
    "ACTIVE": SubscriptionStatus.ACTIVE,
    "SUSPENDED": SubscriptionStatus.PAUSED,
    "CANCELLED": SubscriptionStatus.CANCELLED,
    "EXPIRED": SubscriptionStatus.EXPIRED,
}

_C = PaymentErrorCode

#: ``details[].issue`` values with a more specific meaning than their HTTP status.
_ISSUES: Final[Mapping[str, PaymentErrorCode]] = {
    "INSTRUMENT_DECLINED": _C.DECLINED,
    "TRANSACTION_REFUSED": _C.DECLINED,
    "PAYER_CANNOT_PAY": _C.DECLINED,
    "CARD_EXPIRED": _C.DECLINED,
    "DECLINED_DUE_TO_RELATED_TXN": _C.DECLINED,
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": _C.DECLINED,
    "PAYER_ACTION_REQUIRED": _C.PAYER_ACTION_REQUIRED,
    "ORDER_NOT_APPROVED": _C.PAYER_ACTION_REQUIRED,
    "PAYPAL_REQUEST_ID_PREVIOUSLY_USED": _C.IDEMPOTENCY_CONFLICT,
    "PERMISSION_DENIED": _C.PERMISSION_DENIED,
    "NOT_AUTHORIZED": _C.PERMISSION_DENIED,
    "RESOURCE_NOT_FOUND": _C.NOT_FOUND,
    "INVALID_RESOURCE_ID": _C.NOT_FOUND,
}

#: Top-level ``name`` (or OAuth ``error``) values.
_NAMES: Final[Mapping[str, PaymentErrorCode]] = {
    "AUTHENTICATION_FAILURE": _C.AUTHENTICATION_FAILED,
    "invalid_client": _C.AUTHENTICATION_FAILED,
    "invalid_token": _C.AUTHENTICATION_FAILED,
    "NOT_AUTHORIZED": _C.PERMISSION_DENIED,
    "PERMISSION_DENIED": _C.PERMISSION_DENIED,
    "RESOURCE_NOT_FOUND": _C.NOT_FOUND,
    "RATE_LIMIT_REACHED": _C.RATE_LIMITED,
    "INVALID_REQUEST": _C.INVALID_REQUEST,
    "UNPROCESSABLE_ENTITY": _C.INVALID_REQUEST,
    "INTERNAL_SERVER_ERROR": _C.PROVIDER_UNAVAILABLE,
    "SERVICE_UNAVAILABLE": _C.PROVIDER_UNAVAILABLE,
}


def error_code_for(status_code: int, name: str | None, issues: Iterable[str]) -> PaymentErrorCode:
    """The standard code for a PayPal error: the issue first, then the name, then the status."""
    for issue in issues:
        code = _ISSUES.get(issue)
        if code is not None:
            return code
    if status_code == 429:
        return _C.RATE_LIMITED
    if status_code >= 500:
        return _C.PROVIDER_UNAVAILABLE
    if name is not None and name in _NAMES:
        return _NAMES[name]
    if status_code == 401:
        return _C.AUTHENTICATION_FAILED
    if status_code == 403:
        return _C.PERMISSION_DENIED
    if status_code == 404:
        return _C.NOT_FOUND
    if 400 <= status_code < 500:
        return _C.INVALID_REQUEST
    return _C.PROVIDER_ERROR
