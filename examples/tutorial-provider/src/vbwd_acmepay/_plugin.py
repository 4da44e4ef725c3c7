"""AcmePayPlugin: the tutorial's payment provider, implementing the vbwd-plugins contract."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, SecretStr

from vbwd_plugins import (
    Capability,
    Money,
    PaymentErrorCode,
    PaymentEventData,
    PaymentProviderPlugin,
    PaymentResult,
    PaymentStatus,
    PluginMetadata,
    WebhookVerificationError,
)
from vbwd_plugins.payments import (
    CurrencyRules,
    PaymentCancelled,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    header_value,
)

from ._client import AcmePayClient, AcmePayError


class AcmePayConfig(BaseModel):
    """AcmePay settings; secrets are ``SecretStr`` so the core encrypts and masks them."""

    api_key: SecretStr
    webhook_secret: SecretStr
    api_base: str = "https://api.acmepay.example"
    timeout: float = 10.0
    webhook_tolerance: int = 300


#: AcmePay payment statuses -> the contract's.
_STATUSES: dict[str, PaymentStatus] = {
    "requires_confirmation": PaymentStatus.PENDING,
    "processing": PaymentStatus.PROCESSING,
    "authorized": PaymentStatus.AUTHORIZED,
    "succeeded": PaymentStatus.COMPLETED,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELLED,
    "partially_refunded": PaymentStatus.PARTIALLY_REFUNDED,
    "refunded": PaymentStatus.REFUNDED,
}

#: AcmePay error types -> standard error codes.
_ERRORS: dict[str, PaymentErrorCode] = {
    "card_declined": PaymentErrorCode.DECLINED,
    "insufficient_funds": PaymentErrorCode.INSUFFICIENT_FUNDS,
    "authentication_required": PaymentErrorCode.PAYER_ACTION_REQUIRED,
    "authentication_failed": PaymentErrorCode.AUTHENTICATION_FAILED,
    "permission_denied": PaymentErrorCode.PERMISSION_DENIED,
    "rate_limited": PaymentErrorCode.RATE_LIMITED,
    "invalid_request": PaymentErrorCode.INVALID_REQUEST,
    "not_found": PaymentErrorCode.NOT_FOUND,
    "idempotency_conflict": PaymentErrorCode.IDEMPOTENCY_CONFLICT,
}

#: AcmePay webhook types -> standard payment events.
_EVENTS: dict[str, type[PaymentEventData]] = {
    "payment.succeeded": PaymentCompleted,
    "payment.failed": PaymentFailed,
    "payment.canceled": PaymentCancelled,
    "refund.succeeded": PaymentRefunded,
}


class AcmePayPlugin(PaymentProviderPlugin):
    """Payments through AcmePay."""

    config_schema = AcmePayConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.REFUNDS,
            Capability.PARTIAL_REFUNDS,
            Capability.MANUAL_CAPTURE,
            Capability.CANCEL,
            Capability.GET_PAYMENT,
            Capability.WEBHOOKS,
            Capability.IDEMPOTENCY,
        }
    )
    # AcmePay takes Hungarian forint without decimals; every other currency as ISO 4217.
    currency_rules: ClassVar[CurrencyRules] = CurrencyRules("acmepay", {"HUF": 0})
    webhook_signature_header: ClassVar[str | None] = "Acme-Signature"

    @property
    def metadata(self) -> PluginMetadata:
        """Name ``acmepay``, the same as the entry point."""
        return PluginMetadata(
            name="acmepay",
            version="0.1.0",
            author="Tutorial",
            description="AcmePay payment provider",
        )

    def on_initialize(self) -> None:
        """Build this instance's client from the validated configuration."""
        self._client = AcmePayClient(
            api_key=self._secret("api_key"),
            api_base=self.get_config("api_base"),
            timeout=self.get_config("timeout"),
        )

    def _secret(self, key: str) -> str:
        value = self.get_config(key)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    # -- payments -------------------------------------------------------------------

    def create_payment_intent(
        self,
        amount: Decimal,
        currency: str,
        subscription_id: UUID,
        user_id: UUID,
        metadata: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        manual_capture: bool = False,
    ) -> PaymentResult:
        """Create an AcmePay payment; amounts go out in AcmePay's minor units."""
        money = Money(amount, currency)
        body = {
            "amount": money.to_minor_units(self.currency_rules),
            "currency": money.currency.lower(),
            "capture": "manual" if manual_capture else "automatic",
            "metadata": {
                **{str(k): str(v) for k, v in (metadata or {}).items()},
                "subscription_id": str(subscription_id),
                "user_id": str(user_id),
            },
        }
        payment = self._client.request(
            "POST", "/v1/payments", body, idempotency_key=idempotency_key
        )
        return self._result(payment)

    def process_payment(
        self, payment_intent_id: str, payment_method: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Confirm the payment with a payment method."""
        payment = self._client.request(
            "POST",
            f"/v1/payments/{payment_intent_id}/confirm",
            {"payment_method": payment_method},
            idempotency_key=idempotency_key,
        )
        return self._result(payment)

    def capture_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Capture an authorized payment."""
        payment = self._client.request(
            "POST", f"/v1/payments/{transaction_id}/capture", {}, idempotency_key=idempotency_key
        )
        return self._result(payment)

    def cancel_payment(
        self, transaction_id: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Cancel a payment that is not captured yet."""
        payment = self._client.request(
            "POST", f"/v1/payments/{transaction_id}/cancel", {}, idempotency_key=idempotency_key
        )
        return self._result(payment)

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund all or part of a payment; the result carries this refund's amount."""
        body: dict[str, Any] = {}
        money = self.resolve_amount(transaction_id, amount)  # a bare Decimal needs the currency
        if money is not None:
            body["amount"] = money.to_minor_units(self.currency_rules)
        refund = self._client.request(
            "POST", f"/v1/payments/{transaction_id}/refunds", body, idempotency_key=idempotency_key
        )
        return PaymentResult(
            True,
            refund["id"],
            PaymentStatus.REFUNDED if refund["status"] == "succeeded" else PaymentStatus.PENDING,
            metadata={"payment": transaction_id},
            amount=self._iso_units(refund["amount"], refund["currency"]),
            currency=refund["currency"],
        )

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """AcmePay's current view of the payment."""
        return self._result(self._client.request("GET", f"/v1/payments/{transaction_id}"))

    def _result(self, payment: Mapping[str, Any]) -> PaymentResult:
        status = _STATUSES.get(payment["status"], PaymentStatus.PENDING)
        failed = status is PaymentStatus.FAILED
        # A decline is an ordinary answer (HTTP 200, status "failed"), not an error answer:
        # it must still become a failed result with its standard code.
        return PaymentResult(
            not failed,
            payment["id"],
            status,
            (payment.get("failure_message") or "AcmePay payment failed") if failed else None,
            metadata={"acmepay_status": payment["status"]},
            error_code=_failure_code(payment) if failed else None,
            amount=self._iso_units(payment["amount"], payment["currency"]),
            currency=payment["currency"],
        )

    def _iso_units(self, acme_units: int, currency: str) -> int:
        """AcmePay's minor units -> ISO 4217 minor units (they differ for HUF)."""
        money = Money.from_minor_units(acme_units, currency, rules=self.currency_rules)
        return money.to_minor_units()

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        """Map AcmePay's error answers to standard codes; the base handles the rest."""
        if not isinstance(exc, AcmePayError):
            return super().result_from_exception(exc, operation=operation)
        code = _ERRORS.get(exc.error_type)
        if code is None:
            code = (
                PaymentErrorCode.PROVIDER_UNAVAILABLE
                if exc.status >= 500
                else PaymentErrorCode.PROVIDER_ERROR
            )
        return PaymentResult.failure(code, str(exc), metadata={"acmepay_error": exc.error_type})

    # -- webhooks -------------------------------------------------------------------

    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check ``Acme-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>``.

        Return if the delivery is authentic and fresh; otherwise raise
        ``WebhookVerificationError`` saying why (never quoting the signature or secret).
        """
        signature = header_value(headers, "Acme-Signature")
        if signature is None:
            raise _refused("no Acme-Signature header")
        fields = dict(item.partition("=")[::2] for item in signature.split(","))
        timestamp = fields.get("t", "")
        if not timestamp.isdigit():
            raise _refused("no timestamp in Acme-Signature header")
        if abs(time.time() - int(timestamp)) > self.get_config("webhook_tolerance"):
            raise _refused("timestamp outside tolerance")  # too old *or* too far ahead
        expected = hmac.new(
            self._secret("webhook_secret").encode(),
            timestamp.encode() + b"." + body,
            hashlib.sha256,
        ).hexdigest()
        if not hmac.compare_digest(expected, fields.get("v1", "")):
            raise _refused("no signature matched")

    def payment_events_from_webhook(self, payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
        """AcmePay webhook -> standard payment event (none for other types)."""
        event_class = _EVENTS.get(payload.get("type", ""))
        if event_class is None:
            return ()
        obj = payload["data"]
        metadata = obj.get("metadata", {})
        extra: dict[str, Any] = {}
        if event_class is PaymentRefunded:
            extra["refund_id"] = obj["id"]  # the event's object is the refund ...
            transaction_id = obj["payment"]  # ... of this payment
        else:
            transaction_id = obj["id"]
        if event_class is PaymentFailed and "failure_code" in obj:
            extra["error_code"] = _failure_code(obj)
            extra["error_message"] = obj.get("failure_message")
        return (
            event_class(
                provider=self.metadata.name,
                transaction_id=transaction_id,
                provider_event_id=payload["id"],
                # ISO minor units; for a refund event, this refund's amount.
                amount=self._iso_units(obj["amount"], obj["currency"]),
                currency=obj["currency"],
                provider_event_type=payload["type"],
                occurred_at=datetime.fromtimestamp(payload["created"], UTC),
                subscription_id=metadata.get("subscription_id"),
                user_id=metadata.get("user_id"),
                **extra,
            ),
        )


def _failure_code(payment: Mapping[str, Any]) -> PaymentErrorCode:
    """The standard code of a failed payment's ``failure_code`` (a decline by default)."""
    return _ERRORS.get(payment.get("failure_code", ""), PaymentErrorCode.DECLINED)


def _refused(reason: str) -> WebhookVerificationError:
    return WebhookVerificationError(
        f"AcmePay webhook refused: {reason}", plugin_name="acmepay", reason=reason
    )
