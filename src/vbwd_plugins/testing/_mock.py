"""MockPaymentPlugin: an in-memory payment provider whose outcomes a test scripts.

For hosts' own tests (no network, no accounts) and as the reference implementation the
conformance suite runs against. It behaves like a small real provider: payments have a
lifecycle, refunds cannot exceed what was paid, idempotency keys replay the first answer,
and webhooks are signed with its own HMAC scheme::

    Mock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Final, final

from vbwd_plugins.errors import WebhookPayloadError
from vbwd_plugins.payments._events import (
    PaymentAuthorized,
    PaymentCancelled,
    PaymentCompleted,
    PaymentEventData,
    PaymentEventType,
    PaymentFailed,
    PaymentPending,
    PaymentRefunded,
)
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import (
    Capability,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)
from vbwd_plugins.plugins._model import PluginMetadata
from vbwd_plugins.testing._support import WebhookDelivery, WebhookVariant

if TYPE_CHECKING:
    from uuid import UUID

    from vbwd_plugins.events._dispatcher import Event

__all__ = ["MockCall", "MockHarness", "MockOutcome", "MockPaymentPlugin"]

_EVENT_CLASSES: Final[Mapping[str, type[PaymentEventData]]] = {
    PaymentEventType.COMPLETED: PaymentCompleted,
    PaymentEventType.FAILED: PaymentFailed,
    PaymentEventType.REFUNDED: PaymentRefunded,
    PaymentEventType.CANCELLED: PaymentCancelled,
    PaymentEventType.PENDING: PaymentPending,
    PaymentEventType.AUTHORIZED: PaymentAuthorized,
}


def _timestamp(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookPayloadError(f"Mock webhook 'created' must be unix seconds, got {value!r}")
    return datetime.fromtimestamp(value, UTC)


class MockOutcome(StrEnum):
    """What the next scripted operation does."""

    #: Behave like a healthy provider.
    SUCCEED = "succeed"
    #: The payment method is declined (``PaymentErrorCode.DECLINED`` unless given).
    DECLINE = "decline"
    #: The provider fails (``PROVIDER_UNAVAILABLE`` unless an ``error_code`` is given).
    ERROR = "error"
    #: Accepted but not final: ``process_payment`` answers ``PROCESSING``.
    PENDING = "pending"


@dataclass(frozen=True)
class MockCall:
    """One operation the mock received."""

    operation: str
    arguments: Mapping[str, Any]
    idempotency_key: str | None = None


class _MockProviderError(Exception):
    """What the mock 'SDK' raises; mapped by ``result_from_exception`` like a real one."""

    def __init__(self, code: PaymentErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Payment:
    id: str
    amount: int
    currency: str
    subscription_id: str
    user_id: str
    manual: bool
    metadata: dict[str, str]
    status: PaymentStatus = PaymentStatus.PENDING
    captured: int = 0
    refunded: int = 0


@dataclass
class _Script:
    outcome: MockOutcome
    operation: str | None
    error_code: PaymentErrorCode | None
    remaining: int


@final
class MockPaymentPlugin(PaymentProviderPlugin):
    """A scriptable in-memory payment provider that records its calls.

    ``mock.script(MockOutcome.DECLINE)`` makes the next money-moving call decline;
    ``mock.script(MockOutcome.ERROR, error_code=PaymentErrorCode.RATE_LIMITED,
    operation="refund_payment", times=2)`` makes the next two refunds fail that way;
    ``mock.default_outcome`` applies when nothing is scripted. ``mock.calls`` lists what
    was called. ``mock.deliver(PaymentEventType.COMPLETED, transaction_id)`` signs a
    webhook and runs it through :meth:`process_webhook`, as the provider would.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)
    webhook_signature_header: ClassVar[str | None] = "Mock-Signature"

    def __init__(
        self,
        name: str = "mock",
        *,
        webhook_secret: str = "mock_whsec_test",
        tolerance: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._name = name
        self.webhook_secret = webhook_secret
        self.tolerance = tolerance
        self._clock = clock
        self.default_outcome = MockOutcome.SUCCEED
        self.calls: list[MockCall] = []
        self.payments: dict[str, _Payment] = {}
        self._scripts: list[_Script] = []
        self._replies: dict[tuple[str, str], tuple[tuple[Any, ...], PaymentResult]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    @property
    def metadata(self) -> PluginMetadata:
        """A ``mock`` plugin (the name is configurable)."""
        return PluginMetadata(
            name=self._name,
            version="1.0.0",
            author="vbwd-plugins",
            description="Scriptable in-memory payment provider for tests",
        )

    # -- scripting -------------------------------------------------------------------

    def script(
        self,
        outcome: MockOutcome,
        *,
        operation: str | None = None,
        error_code: PaymentErrorCode | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls (of ``operation``, or of any operation) do ``outcome``."""
        with self._lock:
            self._scripts.append(_Script(outcome, operation, error_code, times))

    def reset(self) -> None:
        """Forget payments, calls, scripts and idempotency replies."""
        with self._lock:
            self.calls.clear()
            self.payments.clear()
            self._scripts.clear()
            self._replies.clear()
            self.default_outcome = MockOutcome.SUCCEED

    def calls_to(self, operation: str) -> list[MockCall]:
        """The recorded calls of ``operation``."""
        return [call for call in self.calls if call.operation == operation]

    def _outcome(self, operation: str) -> tuple[MockOutcome, PaymentErrorCode | None]:
        for script in self._scripts:
            if script.operation in (None, operation):
                script.remaining -= 1
                if script.remaining <= 0:
                    self._scripts.remove(script)
                return script.outcome, script.error_code
        return self.default_outcome, None

    def _run(
        self,
        operation: str,
        arguments: dict[str, Any],
        idempotency_key: str | None,
        body: Callable[[MockOutcome], PaymentResult],
        *,
        scriptable: bool = True,
    ) -> PaymentResult:
        with self._lock:
            self.calls.append(MockCall(operation, dict(arguments), idempotency_key))
            fingerprint = tuple(sorted((k, repr(v)) for k, v in arguments.items()))
            if idempotency_key is not None:
                replay = self._replies.get((operation, idempotency_key))
                if replay is not None:
                    if replay[0] != fingerprint:
                        raise _MockProviderError(
                            PaymentErrorCode.IDEMPOTENCY_CONFLICT,
                            f"Idempotency key {idempotency_key!r} was used with other parameters",
                        )
                    return replay[1]
            outcome, code = self._outcome(operation) if scriptable else (MockOutcome.SUCCEED, None)
            if scriptable:
                if outcome is MockOutcome.ERROR:
                    code = code or PaymentErrorCode.PROVIDER_UNAVAILABLE
                    raise _MockProviderError(code, f"Scripted {code.value} error in {operation}")
                if outcome is MockOutcome.DECLINE:
                    code = code or PaymentErrorCode.DECLINED
                    raise _MockProviderError(
                        code, f"Scripted decline ({code.value}) in {operation}"
                    )
            result = body(outcome)
            if idempotency_key is not None:
                self._replies[(operation, idempotency_key)] = (fingerprint, result)
            return result

    def _payment(self, transaction_id: str) -> _Payment:
        payment = self.payments.get(transaction_id)
        if payment is None:
            raise _MockProviderError(
                PaymentErrorCode.NOT_FOUND, f"No such payment: {transaction_id!r}"
            )
        return payment

    def _result(self, payment: _Payment, **overrides: Any) -> PaymentResult:
        values: dict[str, Any] = {
            "transaction_id": payment.id,
            "status": payment.status,
            "amount": payment.amount,
            "currency": payment.currency,
            "metadata": {"mock_status": payment.status.value},
        }
        values.update(overrides)
        return PaymentResult(True, **values)

    # -- operations ------------------------------------------------------------------

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
        """Create a payment waiting for ``process_payment``."""
        money = Money(amount, currency)

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = _Payment(
                id=f"mock_pay_{next(self._ids)}",
                amount=money.to_minor_units(),
                currency=money.currency,
                subscription_id=str(subscription_id),
                user_id=str(user_id),
                manual=manual_capture,
                metadata={str(k): str(v) for k, v in (metadata or {}).items()},
            )
            self.payments[payment.id] = payment
            return self._result(payment)

        arguments = {
            "amount": money.amount,
            "currency": money.currency,
            "subscription_id": str(subscription_id),
            "user_id": str(user_id),
            "metadata": dict(metadata or {}),
            "manual_capture": manual_capture,
        }
        return self._run("create_payment_intent", arguments, idempotency_key, body)

    def process_payment(
        self, payment_intent_id: str, payment_method: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Complete (or, for manual capture, authorize) a created payment."""

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = self._payment(payment_intent_id)
            if payment.status is not PaymentStatus.PENDING:
                raise _MockProviderError(
                    PaymentErrorCode.INVALID_REQUEST,
                    f"Payment {payment.id} is {payment.status.value}, not pending",
                )
            if outcome is MockOutcome.PENDING:
                payment.status = PaymentStatus.PROCESSING
            elif payment.manual:
                payment.status = PaymentStatus.AUTHORIZED
            else:
                payment.status = PaymentStatus.COMPLETED
                payment.captured = payment.amount
            return self._result(payment)

        arguments = {"payment_intent_id": payment_intent_id, "payment_method": payment_method}
        return self._run("process_payment", arguments, idempotency_key, body)

    def capture_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Capture an authorized payment, all or part of it."""

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = self._payment(transaction_id)
            if payment.status is not PaymentStatus.AUTHORIZED:
                raise _MockProviderError(
                    PaymentErrorCode.INVALID_REQUEST,
                    f"Payment {payment.id} is {payment.status.value}, not authorized",
                )
            units = self._units(payment, amount)
            if units > payment.amount:
                raise _MockProviderError(
                    PaymentErrorCode.INVALID_REQUEST,
                    f"Cannot capture {units}: only {payment.amount} authorized",
                )
            payment.status = PaymentStatus.COMPLETED
            payment.captured = units
            return self._result(payment, amount=units)

        arguments = {"transaction_id": transaction_id, "amount": amount}
        return self._run("capture_payment", arguments, idempotency_key, body)

    def cancel_payment(
        self, transaction_id: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Cancel a payment that is pending or authorized."""

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = self._payment(transaction_id)
            if payment.status not in {PaymentStatus.PENDING, PaymentStatus.AUTHORIZED}:
                raise _MockProviderError(
                    PaymentErrorCode.INVALID_REQUEST,
                    f"Payment {payment.id} is {payment.status.value} and cannot be cancelled",
                )
            payment.status = PaymentStatus.CANCELLED
            return self._result(payment)

        return self._run(
            "cancel_payment", {"transaction_id": transaction_id}, idempotency_key, body
        )

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund all that is left, or ``amount``, of a completed payment."""

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = self._payment(transaction_id)
            if payment.status not in {PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED}:
                raise _MockProviderError(
                    PaymentErrorCode.INVALID_REQUEST,
                    f"Payment {payment.id} is {payment.status.value} and cannot be refunded",
                )
            left = payment.captured - payment.refunded
            units = left if amount is None else self._units(payment, amount)
            if units > left:
                raise _MockProviderError(
                    PaymentErrorCode.INVALID_REQUEST,
                    f"Cannot refund {units}: only {left} left on {payment.id}",
                )
            payment.refunded += units
            payment.status = (
                PaymentStatus.REFUNDED
                if payment.refunded == payment.captured
                else PaymentStatus.PARTIALLY_REFUNDED
            )
            return PaymentResult(
                True,
                f"mock_refund_{next(self._ids)}",
                PaymentStatus.PENDING if outcome is MockOutcome.PENDING else PaymentStatus.REFUNDED,
                metadata={"payment_id": payment.id},
                amount=units,
                currency=payment.currency,
            )

        arguments = {"transaction_id": transaction_id, "amount": amount}
        return self._run("refund_payment", arguments, idempotency_key, body)

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """The payment's current status, amount and currency."""
        return self._run(
            "get_payment",
            {"transaction_id": transaction_id},
            None,
            lambda _outcome: self._result(self._payment(transaction_id)),
            scriptable=False,
        )

    def _units(self, payment: _Payment, amount: Decimal | Money | None) -> int:
        if amount is None:
            return payment.amount
        money = amount if isinstance(amount, Money) else Money(amount, payment.currency)
        if money.currency != payment.currency:
            raise _MockProviderError(
                PaymentErrorCode.INVALID_REQUEST,
                f"Amount {money} is not in the payment's currency {payment.currency}",
            )
        return money.to_minor_units()

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        """Map the mock's own errors to their codes; everything else as the base does."""
        if isinstance(exc, _MockProviderError):
            return PaymentResult.failure(
                exc.code, str(exc), metadata={"mock_request_id": f"req_mock_{operation}"}
            )
        return super().result_from_exception(exc, operation=operation)

    # -- webhooks --------------------------------------------------------------------

    def sign(self, body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
        """The ``Mock-Signature`` header value for ``body``."""
        stamp = int(self._clock()) if timestamp is None else timestamp
        key = (self.webhook_secret if secret is None else secret).encode()
        digest = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}"

    def verify_webhook(self, payload: bytes, signature: str) -> bool:
        """Check a ``Mock-Signature`` header: any matching ``v1`` within the tolerance."""
        parts = [item.partition("=") for item in signature.split(",")]
        stamps = [value for key, _, value in parts if key.strip() == "t"]
        candidates = [value.strip() for key, _, value in parts if key.strip() == "v1"]
        if len(stamps) != 1 or not stamps[0].strip().isdigit() or not candidates:
            return False
        stamp = int(stamps[0])
        if abs(self._clock() - stamp) > self.tolerance:
            return False
        expected = self.sign(payload, timestamp=stamp).rpartition("v1=")[2]
        return any(hmac.compare_digest(expected, candidate) for candidate in candidates)

    def handle_webhook(self, payload: dict[str, Any]) -> None:
        """Emit the standard event the (verified) webhook describes."""
        self.dispatch_webhook_events(payload)

    def payment_events_from_webhook(self, payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
        """The mock's webhooks are named after the standard events they map to."""
        event_class = _EVENT_CLASSES.get(str(payload.get("type")))
        if event_class is None:
            return ()
        raw = payload.get("data")
        data: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
        fields: dict[str, Any] = {
            "provider": self.metadata.name,
            "provider_event_id": payload.get("id"),
            "provider_event_type": str(payload.get("type")),
            "occurred_at": _timestamp(payload.get("created")),
        }
        names = ["transaction_id", "amount", "currency", "subscription_id", "user_id"]
        if event_class is PaymentRefunded:
            names.append("refund_id")
        if event_class is PaymentFailed:
            names += ["error_code", "error_message"]
        fields.update({name: data.get(name) for name in names})
        return (event_class(**fields),)

    def webhook_body(
        self,
        event_type: PaymentEventType,
        *,
        transaction_id: str,
        amount: int,
        currency: str,
        subscription_id: str | None = None,
        user_id: str | None = None,
        **data: Any,
    ) -> bytes:
        """The raw JSON body of a mock webhook for ``event_type``."""
        event = {
            "id": f"evt_mock_{next(self._ids)}",
            "type": event_type.value,
            "created": int(self._clock()),
            "data": {
                "transaction_id": transaction_id,
                "amount": amount,
                "currency": currency,
                "subscription_id": subscription_id,
                "user_id": user_id,
                **data,
            },
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def webhook_delivery(
        self, body: bytes, variant: WebhookVariant = WebhookVariant.VALID
    ) -> WebhookDelivery:
        """Sign ``body`` as the mock provider would, or wrongly as ``variant`` says."""
        now = int(self._clock())
        if variant is WebhookVariant.WRONG_SECRET:
            header = self.sign(body, secret=self.webhook_secret + "_wrong")
        elif variant is WebhookVariant.STALE_TIMESTAMP:
            header = self.sign(body, timestamp=now - self.tolerance - 60)
        elif variant is WebhookVariant.FUTURE_TIMESTAMP:
            header = self.sign(body, timestamp=now + self.tolerance + 60)
        else:
            header = self.sign(body)
        if variant is WebhookVariant.TAMPERED_BODY:
            event = json.loads(body)
            event["data"]["amount"] = int(event["data"]["amount"]) + 1
            body = json.dumps(event, separators=(",", ":")).encode()
        return WebhookDelivery({"Mock-Signature": header}, body, description=variant.value)

    def deliver(
        self, event_type: PaymentEventType, transaction_id: str, **data: Any
    ) -> list[Event]:
        """Sign a webhook about a known payment and process it; returns the dispatched events.

        The amount is the payment's (pass ``amount=`` for a partial refund).
        """
        payment = self._payment(transaction_id)
        values: dict[str, Any] = {
            "amount": payment.amount,
            "currency": payment.currency,
            "subscription_id": payment.subscription_id,
            "user_id": payment.user_id,
            **data,
        }
        delivery = self.webhook_delivery(
            self.webhook_body(event_type, transaction_id=transaction_id, **values)
        )
        recorded_before = len(getattr(self.event_dispatcher, "events", ()))
        self.process_webhook(delivery.headers, delivery.body)
        recorded = getattr(self.event_dispatcher, "events", None)
        return list(recorded[recorded_before:]) if isinstance(recorded, list) else []

    # -- conformance ------------------------------------------------------------------

    def harness(self) -> MockHarness:
        """A conformance harness around this plugin."""
        return MockHarness(self)


@dataclass
class MockHarness:
    """The :class:`~vbwd_plugins.testing.PaymentProviderHarness` of :class:`MockPaymentPlugin`."""

    plugin: MockPaymentPlugin
    currency: str = "USD"
    payment_method: str = "pm_mock_visa"
    scriptable_errors: frozenset[PaymentErrorCode] = frozenset(PaymentErrorCode)
    webhook_event_types: frozenset[PaymentEventType] = field(
        default_factory=lambda: frozenset(PaymentEventType)
    )

    def fail_next(self, operation: str, code: PaymentErrorCode) -> None:
        """Script the next ``operation`` to fail with ``code``."""
        self.plugin.script(MockOutcome.ERROR, operation=operation, error_code=code)

    def idempotency_keys(self) -> Sequence[str]:
        """Keys the mock received."""
        return [call.idempotency_key for call in self.plugin.calls if call.idempotency_key]

    def webhook_delivery(
        self,
        event_type: PaymentEventType,
        variant: WebhookVariant,
        *,
        transaction_id: str,
        amount: int,
        currency: str,
        subscription_id: str,
        user_id: str,
    ) -> WebhookDelivery | None:
        """A mock webhook for ``event_type``, signed as ``variant`` says."""
        body = self.plugin.webhook_body(
            event_type,
            transaction_id=transaction_id,
            amount=amount,
            currency=currency,
            subscription_id=subscription_id,
            user_id=user_id,
        )
        return self.plugin.webhook_delivery(body, variant)
