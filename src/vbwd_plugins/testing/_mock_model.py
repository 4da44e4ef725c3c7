"""The mock provider's state: scripted outcomes, recorded calls and in-memory payments."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._results import PaymentErrorCode, PaymentStatus

R = TypeVar("R")

__all__ = [
    "MockCall",
    "MockLedger",
    "MockOutcome",
    "MockPayment",
    "MockProviderError",
    "MockScript",
]


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


class MockProviderError(Exception):
    """What the mock 'SDK' raises; mapped by ``result_from_exception`` like a real one."""

    def __init__(self, code: PaymentErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class MockPayment:
    """One payment the mock holds (amounts in ISO minor units)."""

    id: str
    amount: int
    currency: str
    subscription_id: str | None
    user_id: str | None
    manual: bool
    metadata: dict[str, str]
    status: PaymentStatus = PaymentStatus.PENDING
    captured: int = 0
    refunded: int = 0
    #: Each refund's minor units, in order.
    refunds: list[int] = field(default_factory=list)
    #: Each refund's id, in the same order.
    refund_ids: list[str] = field(default_factory=list)

    def _require(self, allowed: set[PaymentStatus], what: str) -> None:
        if self.status not in allowed:
            raise MockProviderError(
                PaymentErrorCode.INVALID_REQUEST,
                f"Payment {self.id} is {self.status.value} and cannot be {what}",
            )

    def units(self, amount: Decimal | Money | None) -> int:
        """``amount`` in minor units of this payment's currency (``None``: the whole amount)."""
        if amount is None:
            return self.amount
        money = amount if isinstance(amount, Money) else Money(amount, self.currency)
        if money.currency != self.currency:
            raise MockProviderError(
                PaymentErrorCode.INVALID_REQUEST,
                f"Amount {money} is not in the payment's currency {self.currency}",
            )
        return money.to_minor_units()

    def process(self, outcome: MockOutcome) -> None:
        """Complete it (authorize, for manual capture; PROCESSING when scripted PENDING)."""
        self._require({PaymentStatus.PENDING}, "processed")
        if outcome is MockOutcome.PENDING:
            self.status = PaymentStatus.PROCESSING
        elif self.manual:
            self.status = PaymentStatus.AUTHORIZED
        else:
            self.status = PaymentStatus.COMPLETED
            self.captured = self.amount

    def capture(self, amount: Decimal | Money | None) -> int:
        """Capture an authorization, all or part of it; the captured units."""
        self._require({PaymentStatus.AUTHORIZED}, "captured")
        units = self.units(amount)
        if units > self.amount:
            raise MockProviderError(
                PaymentErrorCode.INVALID_REQUEST,
                f"Cannot capture {units}: only {self.amount} authorized",
            )
        self.status = PaymentStatus.COMPLETED
        self.captured = units
        return units

    def cancel(self) -> None:
        """Cancel it while pending or authorized."""
        self._require({PaymentStatus.PENDING, PaymentStatus.AUTHORIZED}, "cancelled")
        self.status = PaymentStatus.CANCELLED

    def refund(self, amount: Decimal | Money | None) -> int:
        """Refund ``amount`` (``None``: all that is left); the refunded units."""
        self._require({PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED}, "refunded")
        left = self.captured - self.refunded
        units = left if amount is None else self.units(amount)
        if units > left:
            raise MockProviderError(
                PaymentErrorCode.INVALID_REQUEST,
                f"Cannot refund {units}: only {left} left on {self.id}",
            )
        self.refunded += units
        self.refunds.append(units)
        self.status = (
            PaymentStatus.REFUNDED
            if self.refunded == self.captured
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        return units


@dataclass
class MockScript:
    """An outcome scripted for the next ``remaining`` calls (of ``operation``, or any)."""

    outcome: MockOutcome
    operation: str | None
    error_code: PaymentErrorCode | None
    remaining: int


class MockLedger:
    """What one mock has seen and holds: calls, scripts, payments, idempotent replies.

    Every change happens under one re-entrant lock, so a mock may be shared by threads.
    """

    def __init__(self) -> None:
        self.default_outcome = MockOutcome.SUCCEED
        self.calls: list[MockCall] = []
        self.payments: dict[str, MockPayment] = {}
        self._scripts: list[MockScript] = []
        self._replies: dict[tuple[str, str], tuple[tuple[Any, ...], Any]] = {}
        self._lock = threading.RLock()

    @property
    def lock(self) -> threading.RLock:
        """The lock every change to the mock's state happens under."""
        return self._lock

    def script(self, script: MockScript) -> None:
        """Queue ``script`` behind the ones already queued."""
        with self._lock:
            self._scripts.append(script)

    def reset(self) -> None:
        """Forget payments, calls, scripts and idempotency replies."""
        with self._lock:
            self.calls.clear()
            self.payments.clear()
            self._scripts.clear()
            self._replies.clear()
            self.default_outcome = MockOutcome.SUCCEED

    def _outcome(self, operation: str) -> tuple[MockOutcome, PaymentErrorCode | None]:
        for script in self._scripts:
            if script.operation in (None, operation):
                script.remaining -= 1
                if script.remaining <= 0:
                    self._scripts.remove(script)
                return script.outcome, script.error_code
        return self.default_outcome, None

    def run(
        self,
        operation: str,
        arguments: dict[str, Any],
        idempotency_key: str | None,
        body: Callable[[MockOutcome], R],
        *,
        scriptable: bool = True,
    ) -> R:
        """Record the call, replay or script its answer, or run ``body`` for it."""
        with self._lock:
            self.calls.append(MockCall(operation, dict(arguments), idempotency_key))
            fingerprint = tuple(sorted((k, repr(v)) for k, v in arguments.items()))
            if idempotency_key is not None:
                replay = self._replies.get((operation, idempotency_key))
                if replay is not None:
                    if replay[0] != fingerprint:
                        raise MockProviderError(
                            PaymentErrorCode.IDEMPOTENCY_CONFLICT,
                            f"Idempotency key {idempotency_key!r} was used with other parameters",
                        )
                    reply: R = replay[1]
                    return reply
            outcome, code = self._outcome(operation) if scriptable else (MockOutcome.SUCCEED, None)
            if scriptable:
                if outcome is MockOutcome.ERROR:
                    code = code or PaymentErrorCode.PROVIDER_UNAVAILABLE
                    raise MockProviderError(code, f"Scripted {code.value} error in {operation}")
                if outcome is MockOutcome.DECLINE:
                    code = code or PaymentErrorCode.DECLINED
                    raise MockProviderError(code, f"Scripted decline ({code.value}) in {operation}")
            result = body(outcome)
            if idempotency_key is not None:
                self._replies[(operation, idempotency_key)] = (fingerprint, result)
            return result
