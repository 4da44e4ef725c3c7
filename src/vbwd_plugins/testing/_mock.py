"""MockPaymentPlugin: an in-memory payment provider whose outcomes a test scripts.

For hosts' own tests (no network, no accounts) and as the reference implementation the
conformance suite runs against. It behaves like a small real provider: payments have a
lifecycle, refunds cannot exceed what was paid, idempotency keys replay the first answer,
and webhooks are signed with its own HMAC scheme (see ``_mock_webhooks``). Recurring
billing, on a clock the test moves, is its base class's (``_mock_billing_plugin``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, final

from vbwd_plugins.payments._events import PaymentEventData, PaymentEventType
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._results import (
    Capability,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
    header_value,
)
from vbwd_plugins.payments._webhook import refusal
from vbwd_plugins.plugins._model import PluginMetadata
from vbwd_plugins.testing._mock_billing_plugin import MockBillingProvider
from vbwd_plugins.testing._mock_clock import MockClock
from vbwd_plugins.testing._mock_harness import MockBillingHooks
from vbwd_plugins.testing._mock_model import (
    MockCall,
    MockLedger,
    MockOutcome,
    MockPayment,
    MockProviderError,
    MockScript,
)
from vbwd_plugins.testing._mock_webhooks import (
    SIGNATURE_HEADER,
    events_from_payload,
    signature,
    signature_problem,
    signed_as,
)
from vbwd_plugins.testing._support import WebhookDelivery, WebhookVariant

if TYPE_CHECKING:
    from uuid import UUID

    from vbwd_plugins.events._dispatcher import Event

__all__ = ["MockCall", "MockHarness", "MockOutcome", "MockPaymentPlugin"]


@final
class MockPaymentPlugin(MockBillingProvider):
    """A scriptable in-memory payment provider that records its calls.

    ``mock.script(MockOutcome.DECLINE)`` makes the next money-moving call decline;
    ``mock.script(MockOutcome.ERROR, error_code=PaymentErrorCode.RATE_LIMITED,
    operation="refund_payment", times=2)`` makes the next two refunds fail that way;
    ``mock.default_outcome`` applies when nothing is scripted. ``mock.calls`` lists what
    was called. ``mock.deliver(PaymentEventType.COMPLETED, transaction_id)`` signs a
    webhook and runs it through :meth:`process_webhook`, as the provider would.

    It declares every capability; ``capabilities=`` narrows one instance's declaration
    (to stand in for a provider that supports less) instead of subclassing this final
    class. Without ``WEBHOOKS`` it sends no webhooks, as such a provider would not.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)
    webhook_signature_header: ClassVar[str | None] = SIGNATURE_HEADER

    def __init__(
        self,
        name: str = "mock",
        *,
        webhook_secret: str = "mock_whsec_test",
        tolerance: int = 300,
        clock: MockClock | Callable[[], float] = time.time,
        capabilities: Iterable[Capability | str] | None = None,
    ) -> None:
        super().__init__()
        if capabilities is not None:  # this instance's declaration, over the class's
            self.__dict__["capabilities"] = declared_capabilities(
                name, capabilities, type(self).capabilities
            )
        self._name = name
        self.webhook_secret = webhook_secret
        self.tolerance = tolerance
        moving = clock if isinstance(clock, MockClock) else MockClock(source=clock)
        self._clock = moving.time
        self._ledger = MockLedger()
        #: Every operation received, in order.
        self.calls: list[MockCall] = self._ledger.calls
        #: The payments the mock holds, by transaction id.
        self.payments: dict[str, MockPayment] = self._ledger.payments
        self._ids = itertools.count(1)
        self._init_billing(moving, lambda prefix: f"mock_{prefix}_{next(self._ids)}")

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

    @property
    def default_outcome(self) -> MockOutcome:
        """What an operation does when nothing is scripted (``SUCCEED``)."""
        return self._ledger.default_outcome

    @default_outcome.setter
    def default_outcome(self, outcome: MockOutcome) -> None:
        self._ledger.default_outcome = outcome

    def script(
        self,
        outcome: MockOutcome,
        *,
        operation: str | None = None,
        error_code: PaymentErrorCode | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls (of ``operation``, or of any operation) do ``outcome``."""
        self._ledger.script(MockScript(outcome, operation, error_code, times))

    def reset(self) -> None:
        """Forget payments, billing state, queued webhooks, calls, scripts and replies."""
        with self._ledger.lock:
            self._ledger.reset()
            self.billing.reset()
            self._pending.clear()

    def calls_to(self, operation: str) -> list[MockCall]:
        """The recorded calls of ``operation``."""
        return [call for call in self.calls if call.operation == operation]

    def _payment(self, transaction_id: str) -> MockPayment:
        payment = self.payments.get(transaction_id)
        if payment is None:
            raise MockProviderError(
                PaymentErrorCode.NOT_FOUND, f"No such payment: {transaction_id!r}"
            )
        return payment

    def _result(self, payment: MockPayment, **overrides: Any) -> PaymentResult:
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
            payment = MockPayment(
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
        return self._ledger.run("create_payment_intent", arguments, idempotency_key, body)

    def process_payment(
        self, payment_intent_id: str, payment_method: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Complete (or, for manual capture, authorize) a created payment."""

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = self._payment(payment_intent_id)
            payment.process(outcome)
            return self._result(payment)

        arguments = {"payment_intent_id": payment_intent_id, "payment_method": payment_method}
        return self._ledger.run("process_payment", arguments, idempotency_key, body)

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
            return self._result(payment, amount=payment.capture(amount))

        arguments = {"transaction_id": transaction_id, "amount": amount}
        return self._ledger.run("capture_payment", arguments, idempotency_key, body)

    def cancel_payment(
        self, transaction_id: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Cancel a payment that is pending or authorized."""

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = self._payment(transaction_id)
            payment.cancel()
            return self._result(payment)

        return self._ledger.run(
            "cancel_payment", {"transaction_id": transaction_id}, idempotency_key, body
        )

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund all that is left, or ``amount``, of a completed payment.

        Queues a signed ``payment.refunded`` webhook (this refund's amount and id, the
        payment's host ids), sent by :meth:`deliver_pending` like other operations' webhooks.
        """

        def body(outcome: MockOutcome) -> PaymentResult:
            payment = self._payment(transaction_id)
            units = payment.refund(amount)
            refund_id = f"mock_refund_{next(self._ids)}"
            payment.refund_ids.append(refund_id)
            # Sent after the answer, as Stripe's refund.* and PayPal's *.REFUNDED are.
            self._queue_payment(
                PaymentEventType.REFUNDED, payment, amount=units, refund_id=refund_id
            )
            return PaymentResult(
                True,
                refund_id,
                PaymentStatus.PENDING if outcome is MockOutcome.PENDING else PaymentStatus.REFUNDED,
                metadata={"payment_id": payment.id},
                amount=units,
                currency=payment.currency,
            )

        arguments = {"transaction_id": transaction_id, "amount": amount}
        return self._ledger.run("refund_payment", arguments, idempotency_key, body)

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """The payment's current status, amount and currency."""
        return self._ledger.run(
            "get_payment",
            {"transaction_id": transaction_id},
            None,
            lambda _outcome: self._result(self._payment(transaction_id)),
            scriptable=False,
        )

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        """Map the mock's own errors to their codes; everything else as the base does."""
        if isinstance(exc, MockProviderError):
            return PaymentResult.failure(
                exc.code, str(exc), metadata={"mock_request_id": f"req_mock_{operation}"}
            )
        return super().result_from_exception(exc, operation=operation)

    # -- webhooks --------------------------------------------------------------------

    def sign(self, body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
        """The ``Mock-Signature`` header value for ``body``."""
        stamp = int(self._clock()) if timestamp is None else timestamp
        return signature(self.webhook_secret if secret is None else secret, body, stamp)

    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check ``Mock-Signature``: any matching ``v1``, timestamp within the tolerance."""
        problem = signature_problem(
            header_value(headers, SIGNATURE_HEADER),
            body,
            secret=self.webhook_secret,
            now=self._clock(),
            tolerance=self.tolerance,
        )
        if problem is not None:
            raise refusal(self._name, problem)

    def payment_events_from_webhook(self, payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
        """The mock's webhooks are named after the standard events they map to."""
        return events_from_payload(payload, self._name)

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
        values = {
            "transaction_id": transaction_id,
            "amount": amount,
            "currency": currency,
            "subscription_id": subscription_id,
            "user_id": user_id,
            **data,
        }
        event = {
            "id": f"evt_mock_{next(self._ids)}",
            "type": event_type.value,
            "created": int(self._clock()),
            "data": values,
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def webhook_delivery(
        self, body: bytes, variant: WebhookVariant = WebhookVariant.VALID
    ) -> WebhookDelivery:
        """Sign ``body`` as the mock provider would, or wrongly as ``variant`` says."""
        header, body = signed_as(
            variant,
            body,
            secret=self.webhook_secret,
            now=int(self._clock()),
            tolerance=self.tolerance,
        )
        return WebhookDelivery({SIGNATURE_HEADER: header}, body, description=variant.value)

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


#: A partial capability needs its whole (as the conformance suite checks).
_NEEDS: Final = (
    (Capability.PARTIAL_REFUNDS, Capability.REFUNDS),
    (Capability.PARTIAL_CAPTURE, Capability.MANUAL_CAPTURE),
)


def declared_capabilities(
    name: str, requested: Iterable[Capability | str], supported: frozenset[Capability]
) -> frozenset[Capability]:
    """``requested`` as capabilities, checked to be ``supported`` and consistent."""
    if isinstance(requested, str):
        raise TypeError(f"MockPaymentPlugin {name!r}: capabilities must be a collection, not a str")
    by_value = {capability.value: capability for capability in supported}
    declared: set[Capability] = set()
    for item in requested:
        found = by_value.get(item) if isinstance(item, str) else None
        if found is None:
            raise ValueError(
                f"MockPaymentPlugin {name!r}: the mock does not support capability {item!r} "
                f"(supported: {', '.join(sorted(by_value))})"
            )
        declared.add(found)
    for part, whole in _NEEDS:
        if part in declared and whole not in declared:
            raise ValueError(
                f"MockPaymentPlugin {name!r}: capability {part.value} needs {whole.value}"
            )
    return frozenset(declared)


@dataclass
class MockHarness(MockBillingHooks):
    """The :class:`~vbwd_plugins.testing.PaymentProviderHarness` of :class:`MockPaymentPlugin`.

    With every optional :class:`~vbwd_plugins.testing.BillingHarness` hook.
    """

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
