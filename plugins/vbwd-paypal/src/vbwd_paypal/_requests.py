"""PayPal request bodies and request ids, built from the contract's arguments.

Pure functions: what an operation sends, checked before anything is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from vbwd_plugins import Money, PaymentErrorCode
from vbwd_plugins.payments import CurrencyRules

from ._errors import PayPalAPIError
from ._webhook_events import amount_of, encode_custom_id

__all__ = ["amount_body", "order_body", "request_id"]

MAX_REQUEST_ID: Final = 108
#: ``metadata`` keys copied into the purchase unit (PayPal has no free-form metadata).
UNIT_KEYS: Final = ("description", "invoice_id", "reference_id", "soft_descriptor")
#: ``metadata`` keys copied into ``payment_source.paypal.experience_context``.
EXPERIENCE_KEYS: Final = (
    "return_url",
    "cancel_url",
    "brand_name",
    "locale",
    "shipping_preference",
    "user_action",
)


def request_id(idempotency_key: str | None) -> str:
    """The ``PayPal-Request-Id``: the caller's key, or a fresh one for this call."""
    if idempotency_key is None:
        return f"vbwd-{uuid.uuid4()}"
    if not 1 <= len(idempotency_key) <= MAX_REQUEST_ID:
        raise ValueError(f"idempotency_key must be 1 to {MAX_REQUEST_ID} characters")
    return idempotency_key


def order_body(
    money: Money,
    rules: CurrencyRules,
    *,
    subscription_id: object,
    user_id: object,
    metadata: Mapping[str, Any],
    manual_capture: bool,
) -> dict[str, Any]:
    """The ``POST /v2/checkout/orders`` body for one purchase unit of ``money``."""
    unit: dict[str, Any] = {
        "amount": {"currency_code": money.currency, "value": money.to_decimal_string(rules)},
        "custom_id": encode_custom_id(subscription_id, user_id),
    }
    unit.update({key: str(metadata[key]) for key in UNIT_KEYS if metadata.get(key) is not None})
    body: dict[str, Any] = {
        "intent": "AUTHORIZE" if manual_capture else "CAPTURE",
        "purchase_units": [unit],
    }
    experience = {key: metadata[key] for key in EXPERIENCE_KEYS if metadata.get(key) is not None}
    if experience:
        body["payment_source"] = {"paypal": {"experience_context": experience}}
    return body


def amount_body(
    money: Money | None, rules: CurrencyRules, resource: Mapping[str, Any], what: str
) -> dict[str, Any]:
    """``{"amount": ...}`` for a capture or refund of ``money`` (``{}`` for all of it).

    ``money`` must be in the currency of ``resource`` (the authorization or capture).
    """
    if money is None:
        return {}
    currency = amount_of(resource, what).currency
    if money.currency != currency:
        raise PayPalAPIError(
            f"Amount {money} is not in the {what}'s currency {currency}",
            error_code=PaymentErrorCode.INVALID_REQUEST,
            status_code=400,
        )
    value = money.to_decimal_string(rules)
    return {"amount": {"currency_code": money.currency, "value": value}}
