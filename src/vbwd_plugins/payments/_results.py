"""What a provider operation answers: status, error code, capability and the result itself.

Kept apart from the provider contract so the standard events can name an error code without
importing the contract.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.errors import (
    MoneyError,
)
from vbwd_plugins.payments._money import (
    Money,
    _normalize_code,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "Capability",
    "PaymentErrorCode",
    "PaymentResult",
    "PaymentStatus",
    "header_value",
]

logger = logging.getLogger(__name__)


class PaymentStatus(Enum):
    """Where a payment (or a refund) stands.

    The first six are the original design's. ``REQUIRES_ACTION`` (the payer must
    authenticate or approve, e.g. 3-D Secure or PayPal approval), ``AUTHORIZED`` (funds
    held, waiting for :meth:`~PaymentProviderPlugin.capture_payment`) and
    ``PARTIALLY_REFUNDED`` (what :meth:`~PaymentProviderPlugin.get_payment` reports after a
    partial refund) were added because a host must act differently on each.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    PARTIALLY_REFUNDED = "partially_refunded"


class PaymentErrorCode(StrEnum):
    """Why a provider call failed, the same for every provider."""

    #: The payment method was declined (generic).
    DECLINED = "declined"
    #: Declined for lack of funds.
    INSUFFICIENT_FUNDS = "insufficient_funds"
    #: The payer must authenticate or approve first (3-D Secure, PayPal approval).
    PAYER_ACTION_REQUIRED = "payer_action_required"
    #: The provider rejected *our* credentials (API key, OAuth client).
    AUTHENTICATION_FAILED = "authentication_failed"
    #: Our credentials are valid but not allowed to do this.
    PERMISSION_DENIED = "permission_denied"
    #: Too many requests; retry later with the same idempotency key.
    RATE_LIMITED = "rate_limited"
    #: The provider failed or could not be reached; retry with the same idempotency key.
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    #: No answer in time: the outcome is unknown, reconcile with ``get_payment``.
    TIMEOUT = "timeout"
    #: The request was malformed or not allowed in the payment's current state.
    INVALID_REQUEST = "invalid_request"
    #: The transaction id is unknown to the provider.
    NOT_FOUND = "not_found"
    #: The idempotency key was reused with different parameters.
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    #: The provider failed in a way the plugin did not classify.
    PROVIDER_ERROR = "provider_error"

    @property
    def retryable(self) -> bool:
        """Whether retrying the same request (same idempotency key) may succeed."""
        return self in _RETRYABLE


_RETRYABLE: Final = frozenset(
    {
        PaymentErrorCode.RATE_LIMITED,
        PaymentErrorCode.PROVIDER_UNAVAILABLE,
        PaymentErrorCode.TIMEOUT,
    }
)


class Capability(StrEnum):
    """What a provider supports beyond creating and processing payments."""

    #: ``refund_payment`` without an amount.
    REFUNDS = "refunds"
    #: ``refund_payment`` with an amount.
    PARTIAL_REFUNDS = "partial_refunds"
    #: ``create_payment_intent(manual_capture=True)`` then ``capture_payment``.
    MANUAL_CAPTURE = "manual_capture"
    #: ``capture_payment`` with an amount lower than the authorized one.
    PARTIAL_CAPTURE = "partial_capture"
    #: ``cancel_payment`` (void an authorization or an unconfirmed payment).
    CANCEL = "cancel"
    #: ``get_payment`` (reconcile after a timeout).
    GET_PAYMENT = "get_payment"
    #: Signed webhooks: ``verify_webhook_request`` and standard events.
    WEBHOOKS = "webhooks"
    #: ``idempotency_key`` is forwarded to the provider.
    IDEMPOTENCY = "idempotency"


@dataclass
class PaymentResult:
    """The outcome of one provider operation.

    Constructed like the original design's class (``PaymentResult(True, "pi_1",
    PaymentStatus.COMPLETED)``); the added fields are keyword-only. ``amount`` is in the
    currency's **ISO 4217** minor units (not a provider's own), ``currency`` upper case.
    For a refund, ``transaction_id`` is the refund's id and ``amount`` this refund's amount.
    """

    success: bool
    transaction_id: str | None = None
    status: PaymentStatus = PaymentStatus.PENDING
    error_message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    _: KW_ONLY
    error_code: PaymentErrorCode | None = None
    amount: int | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.metadata is None:  # the original design's default
            self.metadata = {}
        if self.amount is not None and (
            isinstance(self.amount, bool) or not isinstance(self.amount, int)
        ):
            raise MoneyError(
                f"PaymentResult.amount must be an int of minor units, got {self.amount!r}"
            )
        if self.currency is not None:
            self.currency = _normalize_code(self.currency)

    @classmethod
    def failure(
        cls,
        error_code: PaymentErrorCode,
        error_message: str,
        *,
        transaction_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> PaymentResult:
        """A failed result (status ``FAILED``) with a standard code and a message."""
        return cls(
            False,
            transaction_id,
            PaymentStatus.FAILED,
            error_message,
            dict(metadata or {}),
            error_code=error_code,
        )

    def money(self) -> Money | None:
        """``amount`` and ``currency`` as :class:`Money`, when both are known."""
        if self.amount is None or self.currency is None:
            return None
        return Money.from_minor_units(self.amount, self.currency)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (enums as their values)."""
        return {
            "success": self.success,
            "transaction_id": self.transaction_id,
            "status": self.status.value,
            "error_message": self.error_message,
            "error_code": None if self.error_code is None else self.error_code.value,
            "amount": self.amount,
            "currency": self.currency,
            "metadata": dict(self.metadata),
        }


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in ``headers``, matched case-insensitively."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None
