"""Subscription payments: PayPal's Payments v1 *sales* and their refunds -> ``PaymentResult``.

Each paid billing cycle of a subscription is a sale (the ``invoice_id`` of
``subscription.renewed``), refunded through ``POST /v1/payments/sale/{id}/refund`` and read
through ``GET /v1/payments/sale/{id}``: the older API, with ``amount: {total, currency}``
and a lower-case ``state``. Pure functions over PayPal's JSON, like ``_results``.

=======================  ==========================  ======================
sale ``state``           :class:`PaymentStatus`      refund ``state``
=======================  ==========================  ======================
``completed``            ``COMPLETED``               ``completed``: ``REFUNDED``
``partially_refunded``   ``PARTIALLY_REFUNDED``      ``pending``: ``PENDING``
``refunded``             ``REFUNDED``                ``failed``: failed result
``pending``              ``PENDING``                 ``cancelled``: failed result
``denied``               failed result (declined)
=======================  ==========================  ======================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from vbwd_plugins import Money, PaymentErrorCode, PaymentResult, PaymentStatus
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import CurrencyRules

from ._errors import PayPalAPIError
from ._mapping import REFUND_STATUS
from ._results import resource_id
from ._webhook_events import decode_custom_id

__all__ = ["SALE_STATUS", "sale_amount", "sale_refund_body", "sale_refund_result", "sale_result"]

_S = PaymentStatus

#: Payments v1 sale ``state``.
SALE_STATUS: Final[Mapping[str, PaymentStatus]] = {
    "completed": _S.COMPLETED,
    "partially_refunded": _S.PARTIALLY_REFUNDED,
    "refunded": _S.REFUNDED,
    "pending": _S.PENDING,
    "denied": _S.FAILED,
}


def sale_amount(resource: Mapping[str, Any], what: str) -> Money:
    """``resource["amount"]`` (``{"total", "currency"}``, Payments v1) as :class:`Money`."""
    amount = resource.get("amount")
    if not isinstance(amount, Mapping):
        raise _provider_error(f"PayPal {what} {resource.get('id')} has no amount")
    try:
        return Money(str(amount.get("total")), str(amount.get("currency")))
    except MoneyError as exc:
        raise _provider_error(f"PayPal {what} has an invalid amount: {exc}") from None


def _provider_error(message: str) -> PayPalAPIError:
    return PayPalAPIError(message, error_code=PaymentErrorCode.PROVIDER_ERROR, status_code=200)


def _with_money(result: PaymentResult, money: Money) -> PaymentResult:
    result.currency = money.currency  # first: an amount needs its currency
    result.amount = money.to_minor_units()
    return result


def sale_result(sale: Mapping[str, Any]) -> PaymentResult:
    """A sale: its amount, state, subscription (``billing_agreement_id``) and host ids."""
    sale_id = resource_id(sale)
    state = str(sale.get("state", ""))
    metadata: dict[str, Any] = {"sale_id": sale_id, "sale_state": state}
    agreement = sale.get("billing_agreement_id")
    if isinstance(agreement, str) and agreement:
        metadata["provider_subscription_id"] = agreement
    subscription_id, user_id = decode_custom_id(sale.get("custom"))
    if subscription_id is not None:
        metadata["subscription_id"] = subscription_id
    if user_id is not None:
        metadata["user_id"] = user_id
    status = SALE_STATUS.get(state, PaymentStatus.PROCESSING)
    result = PaymentResult(status is not PaymentStatus.FAILED, sale_id, status, None, metadata)
    if status is PaymentStatus.FAILED:
        result.success = False
        result.error_code = PaymentErrorCode.DECLINED
        result.error_message = f"PayPal sale {sale_id} is {state}"
    return _with_money(result, sale_amount(sale, "sale"))


def sale_refund_body(money: Money | None, rules: CurrencyRules, sale: Mapping[str, Any]) -> Any:
    """``POST /v1/payments/sale/{id}/refund``: ``{}`` refunds the rest, else ``amount``.

    ``money`` must be in the sale's currency; PayPal's decimals apply (``"1500"`` yen).
    """
    if money is None:
        return {}
    currency = sale_amount(sale, "sale").currency
    if money.currency != currency:
        raise PayPalAPIError(
            f"Amount {money} is not in the sale's currency {currency}",
            error_code=PaymentErrorCode.INVALID_REQUEST,
            status_code=400,
        )
    return {"amount": {"total": money.to_decimal_string(rules), "currency": money.currency}}


def sale_refund_result(
    refund: Mapping[str, Any],
    *,
    sale_id: str | None,
    fallback: Money | None = None,
    request_id: str | None = None,
) -> PaymentResult:
    """A sale's refund with *its own* amount (``fallback`` when PayPal omits it)."""
    refund_id = resource_id(refund)
    state = str(refund.get("state", ""))
    metadata: dict[str, Any] = {"sale_refund_id": refund_id, "refund_state": state}
    sale_id = sale_id or (refund.get("sale_id") if isinstance(refund.get("sale_id"), str) else None)
    if sale_id is not None:
        metadata["sale_id"] = sale_id
    if request_id is not None:
        metadata["paypal_request_id"] = request_id
    status = REFUND_STATUS.get(state.upper(), PaymentStatus.PENDING)
    ok = status not in (PaymentStatus.FAILED, PaymentStatus.CANCELLED)
    result = PaymentResult(ok, refund_id, status, None, metadata)
    if not ok:
        result.error_code = PaymentErrorCode.DECLINED
        result.error_message = f"PayPal sale refund {state}"
    if isinstance(refund.get("amount"), Mapping):
        return _with_money(result, sale_amount(refund, "sale refund"))
    if fallback is not None:
        _with_money(result, fallback)
    return result
