"""What a provider supplies to run the conformance suite, and what the suite's tests share.

:class:`PaymentProviderHarness` is the protocol of the provider's
``payment_provider_harness`` fixture; ``Context`` is the harness plus a recording
dispatcher and ids, as each test of the suite receives it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

import pytest

from vbwd_plugins.payments._events import PaymentEventType
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import (
    Capability,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)
from vbwd_plugins.testing._support import RecordingDispatcher, WebhookDelivery, WebhookVariant

__all__ = [
    "CHARGE_UNITS",
    "PART_UNITS",
    "Context",
    "PaymentProviderHarness",
    "amount_if_known",
    "ok",
]


@runtime_checkable
class PaymentProviderHarness(Protocol):
    """What a provider's ``payment_provider_harness`` fixture returns.

    Attributes (plain attributes or properties):

    ``plugin``
        The provider plugin, configured against the fake server (base URL, test keys,
        webhook secret) and initialized. The suite attaches its own recording dispatcher
        with ``plugin._attach_dispatcher(...)``; do not rely on another one.
    ``currency``
        The ISO code the suite charges in (``"USD"`` is a good choice). The suite charges
        ``Money.from_minor_units(1000, currency)`` and refunds/captures 300 minor units.
    ``payment_method``
        A payment method id ``process_payment`` accepts on the fake server and that
        succeeds (``"pm_card_visa"``; providers that ignore it may return any string).
    ``scriptable_errors``
        The :class:`PaymentErrorCode` values :meth:`fail_next` can produce. Each is tested;
        the others are skipped. Include at least ``DECLINED`` and ``PROVIDER_UNAVAILABLE``.
    ``webhook_event_types``
        The standard events :meth:`webhook_delivery` can produce a provider webhook for.
        Must include ``PaymentEventType.COMPLETED`` when the plugin declares ``WEBHOOKS``.

    Methods:

    ``fail_next(operation, code)``
        Make the fake server answer the next call of ``operation`` (a method name such as
        ``"create_payment_intent"`` or ``"process_payment"``) with the error the provider's
        API uses for ``code`` — e.g. HTTP 402 ``card_declined`` for ``DECLINED``, 429 for
        ``RATE_LIMITED``, 500 for ``PROVIDER_UNAVAILABLE``. It must keep failing through
        the SDK's own retries of that one operation (answer every retry with the error),
        and later operations must behave normally again.
    ``idempotency_keys()``
        Every idempotency key the fake server has received so far (header values, in
        order; requests without one are not listed).
    ``webhook_delivery(event_type, variant, *, transaction_id, amount, currency, ...)``
        A provider-format webhook request (:class:`~vbwd_plugins.testing.WebhookDelivery`:
        headers + raw body) whose verification and translation must yield the standard
        event ``event_type`` for that transaction: ``amount`` in ISO minor units (for
        ``payment.refunded`` the amount of *this* refund), ``currency``, and the
        ``subscription_id`` and ``user_id`` carried the way ``create_payment_intent`` sends them
        (metadata, custom id, ...). ``variant`` (:class:`WebhookVariant`) says how to sign:
        ``VALID``; ``TAMPERED_BODY`` (sign, then change the body, e.g. the amount);
        ``WRONG_SECRET``; ``STALE_TIMESTAMP`` and ``FUTURE_TIMESTAMP`` (outside the
        plugin's tolerance). Return ``None`` for a variant the scheme cannot express
        (the test is skipped).
    """

    @property
    def plugin(self) -> PaymentProviderPlugin:
        """The configured provider plugin."""
        ...

    @property
    def currency(self) -> str:
        """The currency the suite charges in."""
        ...

    @property
    def payment_method(self) -> str:
        """A payment method that succeeds on the fake server."""
        ...

    @property
    def scriptable_errors(self) -> frozenset[PaymentErrorCode]:
        """Error codes :meth:`fail_next` can produce."""
        ...

    @property
    def webhook_event_types(self) -> frozenset[PaymentEventType]:
        """Standard events :meth:`webhook_delivery` can produce a webhook for."""
        ...

    def fail_next(self, operation: str, code: PaymentErrorCode) -> None:
        """Make the next call of ``operation`` fail with the provider's error for ``code``."""
        ...

    def idempotency_keys(self) -> Sequence[str]:
        """Idempotency keys the fake server has seen, in order."""
        ...

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
        """A signed webhook for ``event_type``, or ``None`` if ``variant`` is impossible."""
        ...


#: What the suite charges, and captures or refunds in part (minor units).
CHARGE_UNITS: Final = 1000
PART_UNITS: Final = 300


@dataclass
class Context:
    """The harness, its plugin with a recording dispatcher, and ids for one test."""

    harness: PaymentProviderHarness
    plugin: PaymentProviderPlugin
    dispatcher: RecordingDispatcher
    subscription_id: uuid.UUID
    user_id: uuid.UUID

    @property
    def charge(self) -> Money:
        return Money.from_minor_units(CHARGE_UNITS, self.harness.currency)

    @property
    def part(self) -> Money:
        return Money.from_minor_units(PART_UNITS, self.harness.currency)

    def require(self, capability: Capability) -> None:
        if capability not in self.plugin.capabilities:
            pytest.skip(f"{self.name} does not declare {capability.value}")

    @property
    def name(self) -> str:
        return self.plugin.metadata.name

    def create(self, *, manual: bool = False, key: str | None = None) -> PaymentResult:
        kwargs: dict[str, Any] = {}
        if manual:
            kwargs["manual_capture"] = True
        if key is not None:
            kwargs["idempotency_key"] = key
        result = self.plugin.create_payment_intent(
            self.charge.amount,
            self.charge.currency,
            self.subscription_id,
            self.user_id,
            {"conformance": "yes"},
            **kwargs,
        )
        ok(result, "create_payment_intent")
        assert result.transaction_id, "create_payment_intent returned no transaction_id"
        amount_if_known(result, CHARGE_UNITS, self.charge.currency, "create_payment_intent")
        return result

    def complete(self, *, manual: bool = False) -> PaymentResult:
        created = self.create(manual=manual)
        assert created.transaction_id is not None
        result = self.plugin.process_payment(created.transaction_id, self.harness.payment_method)
        ok(result, "process_payment")
        expected = PaymentStatus.AUTHORIZED if manual else PaymentStatus.COMPLETED
        assert result.status is expected, f"process_payment: {result.status} != {expected}"
        assert result.transaction_id, "process_payment returned no transaction_id"
        return result


def ok(result: PaymentResult, operation: str) -> None:
    """Assert ``result`` is a success without error fields."""
    assert isinstance(result, PaymentResult), f"{operation} returned {result!r}"
    assert result.success, (
        f"{operation} failed: {result.error_code} {result.error_message} {result.metadata}"
    )
    assert result.status is not PaymentStatus.FAILED, f"{operation}: success but FAILED"
    assert result.error_code is None, f"{operation}: success with error_code {result.error_code}"


def amount_if_known(result: PaymentResult, units: int, currency: str, operation: str) -> None:
    """Assert the amount and currency, where the result reports them."""
    if result.amount is not None:
        assert result.amount == units, f"{operation}: amount {result.amount} != {units} (ISO)"
    if result.currency is not None:
        assert result.currency == currency, f"{operation}: currency {result.currency}"
