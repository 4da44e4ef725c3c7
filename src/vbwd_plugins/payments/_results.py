"""What a provider operation answers: status, error code, capability and the result itself.

Kept apart from the provider contract so the standard events can name an error code without
importing the contract.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import Enum, StrEnum
from typing import Any, Final

from vbwd_plugins.errors import MoneyError, PaymentResultError
from vbwd_plugins.events._serialization import register_event_enum
from vbwd_plugins.payments._money import Money, _normalize_code

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
    #: ``create_checkout_session``: hosted checkout for payments (and subscriptions with
    #: :attr:`SUBSCRIPTIONS`; setup mode with :attr:`SAVED_PAYMENT_METHODS`).
    CHECKOUT = "checkout"
    #: ``create_customer`` and ``get_customer``.
    CUSTOMERS = "customers"
    #: ``start_payment_method_setup``, ``list_payment_methods``, ``detach_payment_method``.
    SAVED_PAYMENT_METHODS = "saved_payment_methods"
    #: ``ensure_plan``: provider objects for a :class:`~vbwd_plugins.payments.Plan`.
    PLANS = "plans"
    #: ``create_subscription``, ``get_subscription``, ``cancel_subscription`` and the
    #: ``subscription.*`` events.
    SUBSCRIPTIONS = "subscriptions"
    #: ``change_subscription_plan``.
    PLAN_CHANGES = "plan_changes"
    #: ``pause_subscription`` and ``resume_subscription``.
    PAUSE = "pause"
    #: ``dispute.opened`` and ``dispute.closed`` events.
    DISPUTES = "disputes"


_ERROR_CODE_VALUES: Final = frozenset(code.value for code in PaymentErrorCode)


# Events that carry these keep their members through Event.to_json() / from_json().
register_event_enum(PaymentStatus, name="vbwd_plugins.payments:PaymentStatus")
register_event_enum(PaymentErrorCode, name="vbwd_plugins.payments:PaymentErrorCode")
register_event_enum(Capability, name="vbwd_plugins.payments:Capability")


def _bad(field_name: str, why: str) -> PaymentResultError:
    return PaymentResultError(f"PaymentResult.{field_name} {why}", field=field_name)


def _check_success(value: object) -> bool:
    if not isinstance(value, bool):
        raise _bad("success", f"must be True or False, got {value!r}")
    return value


def _check_transaction_id(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise _bad("transaction_id", f"must be a non-empty string or None, got {value!r}")


def _check_status(value: object) -> PaymentStatus:
    if isinstance(value, PaymentStatus):
        return value
    try:  # the value to_dict() wrote ("completed") is taken back
        return PaymentStatus(value)
    except ValueError:
        raise _bad("status", f"must be a PaymentStatus, got {value!r}") from None


def _check_error_message(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _bad("error_message", f"must be a string or None, got {type(value).__name__}")


def _check_metadata(value: object) -> dict[str, Any]:
    if value is None:  # the original design's default
        return {}
    if isinstance(value, dict):
        return value  # the same dict: providers fill it in after construction
    if isinstance(value, Mapping):
        return dict(value)
    # Only the type: metadata may hold a client secret.
    raise _bad("metadata", f"must be a dict or None, got {type(value).__name__}")


def _check_error_code(value: object) -> PaymentErrorCode | None:
    if value is None or isinstance(value, PaymentErrorCode):
        return value
    if isinstance(value, str) and value in _ERROR_CODE_VALUES:  # as to_dict() wrote it
        return PaymentErrorCode(value)
    raise _bad("error_code", f"must be a PaymentErrorCode or None, got {value!r}")


def _check_amount(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MoneyError(
            f"PaymentResult.amount must be an int of ISO 4217 minor units >= 0 or None, "
            f"got {value!r}"
        )
    return value


def _check_currency(value: object) -> str | None:
    if value is None:
        return None
    try:
        return _normalize_code(value)
    except MoneyError as exc:
        raise MoneyError(f"PaymentResult.currency: {exc}") from None


#: Each field's own check: returns the value to store (normalized) or raises.
_FIELD_CHECKS: Final[Mapping[str, Callable[[object], object]]] = {
    "success": _check_success,
    "transaction_id": _check_transaction_id,
    "status": _check_status,
    "error_message": _check_error_message,
    "metadata": _check_metadata,
    "error_code": _check_error_code,
    "amount": _check_amount,
    "currency": _check_currency,
}


#: Set on a result once constructed: from then on each assignment is checked against the rest.
_CONSTRUCTED: Final = "_vbwd_constructed"


def _describe(name: str, value: object) -> str:
    if name == "status":
        return "status=FAILED"
    if name == "error_code":
        return f"error_code={str(value)!r}"
    return "an error_message"


@dataclass
class PaymentResult:
    """The outcome of one provider operation; an inconsistent one cannot exist.

    Constructed like the original design's class (``PaymentResult(True, "pi_1",
    PaymentStatus.COMPLETED)``); the added fields are keyword-only. ``amount`` is in the
    currency's **ISO 4217** minor units (not a provider's own), ``currency`` upper case.
    For a refund, ``transaction_id`` is the refund's id and ``amount`` this refund's amount.

    Every field is checked when the result is constructed *and* when a field is assigned
    (``docs/payments/contract.md`` has the table): a successful result has no ``FAILED``
    status, ``error_code`` or ``error_message``, and an ``amount`` needs a ``currency``. A
    bad field raises :class:`PaymentResultError` (:class:`MoneyError` for amount and
    currency) and leaves the result as it was; to change several fields at once, use
    ``dataclasses.replace(result, ...)``.
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

    def __setattr__(self, name: str, value: object) -> None:
        check = _FIELD_CHECKS.get(name)
        if check is not None:
            value = check(value)
            if _CONSTRUCTED in self.__dict__:  # a later assignment: check it against the rest
                previous = self.__dict__[name]
                object.__setattr__(self, name, value)
                try:
                    self._check_consistency(name)
                except PaymentResultError:
                    object.__setattr__(self, name, previous)
                    raise
                return
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        self._check_consistency(None)
        self.__dict__[_CONSTRUCTED] = True

    def _check_consistency(self, assigned: str | None) -> None:
        """Raise if the fields contradict each other (``assigned``: the field just set)."""
        if self.success:
            for name, bad in (
                ("status", self.status is PaymentStatus.FAILED),
                ("error_code", self.error_code is not None),
                ("error_message", self.error_message is not None),
            ):
                if bad:
                    blamed = assigned if assigned in ("success", name) else name
                    raise _bad(
                        blamed,
                        f"contradicts success=True: a successful result cannot have "
                        f"{_describe(name, getattr(self, name))} (set success=False, or "
                        "change both at once with dataclasses.replace())",
                    )
        if self.amount is not None and self.currency is None:
            blamed = "currency" if assigned == "currency" else "amount"
            raise _bad(
                blamed,
                f"amount={self.amount!r} needs a currency: minor units mean nothing without one "
                "(set currency first, or both at once with dataclasses.replace())",
            )

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
