"""Stripe SDK exceptions -> failed :class:`~vbwd_plugins.PaymentResult` with a standard code.

The mapping follows the HTTP status Stripe answered with (which is how the SDK picks its
exception class) and, for card errors, the ``decline_code``. Stripe's own details stay in
``metadata``: ``request_id`` (what Stripe support asks for), ``http_status``,
``stripe_error_type``, ``stripe_code`` and ``decline_code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import requests
import stripe

from vbwd_plugins import (
    PaymentErrorCode,
    PaymentResult,
)

__all__ = ["code_for_error_object", "error_code_for", "failure_from_stripe_error"]

#: decline codes (and card error codes) that mean "not enough money".
_INSUFFICIENT: Final = frozenset({"insufficient_funds", "withdrawal_count_limit_exceeded"})
#: ... and those that mean "the payer must authenticate first".
_ACTION: Final = frozenset({"authentication_required", "authentication_not_handled"})


def _error_body(exc: stripe.StripeError) -> Mapping[str, Any]:
    body = exc.json_body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return error
    return {}


def _card_code(code: object, decline_code: object) -> PaymentErrorCode:
    reasons = {code, decline_code}
    if reasons & _INSUFFICIENT:
        return PaymentErrorCode.INSUFFICIENT_FUNDS
    if reasons & _ACTION:
        return PaymentErrorCode.PAYER_ACTION_REQUIRED
    return PaymentErrorCode.DECLINED


def code_for_error_object(error: Mapping[str, Any]) -> PaymentErrorCode:
    """The standard code for a Stripe error object (``last_payment_error`` in an intent)."""
    error_type = error.get("type")
    if error_type == "card_error":
        return _card_code(error.get("code"), error.get("decline_code"))
    if error_type == "invalid_request_error":
        return PaymentErrorCode.INVALID_REQUEST
    return PaymentErrorCode.PROVIDER_ERROR


def error_code_for(exc: stripe.StripeError) -> PaymentErrorCode:
    """The standard code for one Stripe exception."""
    if isinstance(exc, stripe.CardError):
        return _card_code(exc.code, _error_body(exc).get("decline_code"))
    if isinstance(exc, stripe.IdempotencyError):
        return PaymentErrorCode.IDEMPOTENCY_CONFLICT
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.http_status == 404 or exc.code == "resource_missing":
            return PaymentErrorCode.NOT_FOUND
        return PaymentErrorCode.INVALID_REQUEST
    if isinstance(exc, stripe.AuthenticationError):
        return PaymentErrorCode.AUTHENTICATION_FAILED
    if isinstance(exc, stripe.PermissionError):
        return PaymentErrorCode.PERMISSION_DENIED
    if isinstance(exc, stripe.RateLimitError):
        return PaymentErrorCode.RATE_LIMITED
    if isinstance(exc, stripe.APIConnectionError):
        cause = exc.__cause__
        # A connect timeout never reached Stripe; a read timeout may have been processed.
        if isinstance(cause, requests.exceptions.ConnectTimeout):
            return PaymentErrorCode.PROVIDER_UNAVAILABLE
        if isinstance(cause, requests.exceptions.Timeout):
            return PaymentErrorCode.TIMEOUT
        return PaymentErrorCode.PROVIDER_UNAVAILABLE
    if isinstance(exc, stripe.APIError):
        # 5xx, and 409: a concurrent request with the same idempotency key is in flight.
        status = exc.http_status
        if status is None or status >= 500 or status == 409:
            return PaymentErrorCode.PROVIDER_UNAVAILABLE
    return PaymentErrorCode.PROVIDER_ERROR


def failure_from_stripe_error(
    exc: stripe.StripeError, *, transaction_id: str | None = None
) -> PaymentResult:
    """A failed result for ``exc``, with Stripe's request id and codes in ``metadata``."""
    error = _error_body(exc)
    metadata: dict[str, Any] = {"request_id": exc.request_id, "http_status": exc.http_status}
    for key, source in (
        ("stripe_error_type", "type"),
        ("stripe_code", "code"),
        ("decline_code", "decline_code"),
        ("param", "param"),
    ):
        value = error.get(source)
        if isinstance(value, str):
            metadata[key] = value
    intent = error.get("payment_intent")
    if transaction_id is None and isinstance(intent, dict):
        intent_id = intent.get("id")
        transaction_id = intent_id if isinstance(intent_id, str) else None
    message = exc.user_message or type(exc).__name__
    if isinstance(exc, stripe.APIConnectionError):
        message = message.split("\n\n", 1)[0].replace("\n", " ")
        if exc.__cause__ is not None:
            message += f" ({type(exc.__cause__).__name__})"
    return PaymentResult.failure(
        error_code_for(exc), message, transaction_id=transaction_id, metadata=metadata
    )
