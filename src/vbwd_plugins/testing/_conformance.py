"""The provider conformance suite, and the harness a provider supplies to run it.

How a provider distribution gets the suite
==========================================

1. Install ``vbwd-plugins[testing]`` in the test environment. Its ``pytest11`` entry point
   (``vbwd_plugins.testing.pytest_plugin``) loads automatically.
2. In ``conftest.py`` define **one fixture**, ``payment_provider_harness``, returning an
   object that satisfies :class:`PaymentProviderHarness` (below): the plugin configured
   against the provider's fake server, plus a few hooks into that server and a webhook
   signer. Any scope; function scope (a fresh server state per test) is simplest.
3. In a test module, subclass the suite::

       from vbwd_plugins.testing import ProviderConformanceSuite

       class TestAcmePayConformance(ProviderConformanceSuite):
           '''AcmePay satisfies the payment-provider contract.'''

Every test is run; the ones for capabilities the plugin does not declare, error codes
the harness cannot script and webhook variants it cannot produce are *skipped* with the
reason shown in ``pytest -rs``.

What the suite checks
=====================

* ``create_payment_intent`` succeeds; ``process_payment`` completes it; with
  ``MANUAL_CAPTURE`` a ``manual_capture=True`` payment is ``AUTHORIZED`` then captured
  (and with ``PARTIAL_CAPTURE`` partly); with ``CANCEL`` it can be cancelled; refunds in
  full and in part (``Money`` and the original design's bare ``Decimal``) as declared;
  ``get_payment`` reports status, amount and currency. Amounts reported in results are
  ISO 4217 minor units.
* Every declared capability has an implementation; every undeclared one raises
  ``UnsupportedOperationError`` naming provider and operation.
* Invalid money (float, zero, negative, too many decimals) raises ``MoneyError`` before
  the provider is called.
* With ``IDEMPOTENCY`` the idempotency key passed to each money-moving operation is seen
  by the fake server.
* Each error code the harness can script comes back as a failed result with that code and
  a message, never as an exception.
* With ``WEBHOOKS``: a valid delivery verifies; a tampered body, a wrong secret, a stale
  (and, if producible, a future) timestamp and a delivery without headers do not, and
  ``process_webhook`` then raises ``WebhookVerificationError`` and emits nothing; a
  verified delivery of each event type the harness can produce emits **exactly one**
  standard event, with the provider's name, the transaction id, amount (this refund's,
  for refunds), currency, subscription and user ids, and data that survives a JSON round
  trip. ``payment.completed`` must be producible.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import pytest

from vbwd_plugins.errors import MoneyError, UnsupportedOperationError, WebhookVerificationError
from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.payments._events import PaymentEventData, PaymentEventType, PaymentRefunded
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import (
    Capability,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)
from vbwd_plugins.testing._support import RecordingDispatcher, WebhookDelivery, WebhookVariant

__all__ = ["PaymentProviderHarness", "ProviderConformanceSuite"]


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


# -- the suite ---------------------------------------------------------------------

_CHARGE_UNITS = 1000
_PART_UNITS = 300
_CAPABILITY_METHODS = {
    Capability.MANUAL_CAPTURE: "capture_payment",
    Capability.CANCEL: "cancel_payment",
    Capability.GET_PAYMENT: "get_payment",
}
_REJECTED_VARIANTS = (
    WebhookVariant.TAMPERED_BODY,
    WebhookVariant.WRONG_SECRET,
    WebhookVariant.STALE_TIMESTAMP,
    WebhookVariant.FUTURE_TIMESTAMP,
)


@dataclass
class _Context:
    harness: PaymentProviderHarness
    plugin: PaymentProviderPlugin
    dispatcher: RecordingDispatcher
    subscription_id: uuid.UUID
    user_id: uuid.UUID

    @property
    def charge(self) -> Money:
        return Money.from_minor_units(_CHARGE_UNITS, self.harness.currency)

    @property
    def part(self) -> Money:
        return Money.from_minor_units(_PART_UNITS, self.harness.currency)

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
        _ok(result, "create_payment_intent")
        assert result.transaction_id, "create_payment_intent returned no transaction_id"
        _amount_if_known(result, _CHARGE_UNITS, self.charge.currency, "create_payment_intent")
        return result

    def complete(self, *, manual: bool = False) -> PaymentResult:
        created = self.create(manual=manual)
        assert created.transaction_id is not None
        result = self.plugin.process_payment(created.transaction_id, self.harness.payment_method)
        _ok(result, "process_payment")
        expected = PaymentStatus.AUTHORIZED if manual else PaymentStatus.COMPLETED
        assert result.status is expected, f"process_payment: {result.status} != {expected}"
        assert result.transaction_id, "process_payment returned no transaction_id"
        return result


def _ok(result: PaymentResult, operation: str) -> None:
    assert isinstance(result, PaymentResult), f"{operation} returned {result!r}"
    assert result.success, (
        f"{operation} failed: {result.error_code} {result.error_message} {result.metadata}"
    )
    assert result.status is not PaymentStatus.FAILED, f"{operation}: success but FAILED"
    assert result.error_code is None, f"{operation}: success with error_code {result.error_code}"


def _amount_if_known(result: PaymentResult, units: int, currency: str, operation: str) -> None:
    if result.amount is not None:
        assert result.amount == units, f"{operation}: amount {result.amount} != {units} (ISO)"
    if result.currency is not None:
        assert result.currency == currency, f"{operation}: currency {result.currency}"


def _json_round_trip(event: Event) -> Event:
    to_json = getattr(event, "to_json", None)
    from_json = getattr(type(event), "from_json", None)
    if callable(to_json) and callable(from_json):
        restored = from_json(to_json())
        assert isinstance(restored, Event)
        return restored

    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"not JSON serializable: {value!r}")

    data = json.loads(json.dumps(event.data, default=default))
    return Event(name=event.name, data=data)


class ProviderConformanceSuite:
    """Subclass as ``Test...`` in a provider's tests to run the contract's conformance suite.

    Needs the fixture ``payment_provider_harness`` (see :class:`PaymentProviderHarness`).
    """

    @pytest.fixture
    def conformance(self, payment_provider_harness: PaymentProviderHarness) -> Iterator[_Context]:
        """The harness with a recording dispatcher attached to its plugin."""
        plugin = payment_provider_harness.plugin
        assert isinstance(plugin, PaymentProviderPlugin), f"{plugin!r} is not a provider"
        dispatcher = RecordingDispatcher()
        plugin._attach_dispatcher(dispatcher)
        try:
            yield _Context(payment_provider_harness, plugin, dispatcher, uuid.uuid4(), uuid.uuid4())
        finally:
            plugin._attach_dispatcher(None)

    # -- declaration ---------------------------------------------------------------

    def test_declared_capabilities_are_implemented(self, conformance: _Context) -> None:
        """Every declared capability has an overriding implementation."""
        plugin_type = type(conformance.plugin)
        for capability, method in _CAPABILITY_METHODS.items():
            if capability in conformance.plugin.capabilities:
                assert getattr(plugin_type, method) is not getattr(PaymentProviderPlugin, method), (
                    f"declares {capability.value} but does not implement {method}"
                )
        if Capability.PARTIAL_REFUNDS in conformance.plugin.capabilities:
            assert Capability.REFUNDS in conformance.plugin.capabilities
        if Capability.PARTIAL_CAPTURE in conformance.plugin.capabilities:
            assert Capability.MANUAL_CAPTURE in conformance.plugin.capabilities

    def test_undeclared_operations_raise_unsupported(self, conformance: _Context) -> None:
        """Operations outside the declared capabilities raise UnsupportedOperationError."""
        plugin = conformance.plugin
        calls = {
            Capability.MANUAL_CAPTURE: lambda: plugin.capture_payment("tx_conformance"),
            Capability.CANCEL: lambda: plugin.cancel_payment("tx_conformance"),
            Capability.GET_PAYMENT: lambda: plugin.get_payment("tx_conformance"),
            Capability.REFUNDS: lambda: plugin.refund_payment("tx_conformance"),
            Capability.PARTIAL_REFUNDS: lambda: plugin.refund_payment(
                "tx_conformance", conformance.part
            ),
            Capability.PARTIAL_CAPTURE: lambda: plugin.capture_payment(
                "tx_conformance", conformance.part
            ),
        }
        missing = [c for c in calls if c not in plugin.capabilities]
        if not missing:
            pytest.skip("every optional capability is declared")
        for capability in missing:
            with pytest.raises(UnsupportedOperationError) as info:
                calls[capability]()
            assert info.value.plugin_name == conformance.name
            assert info.value.operation

    # -- money moving --------------------------------------------------------------

    def test_create_payment_intent(self, conformance: _Context) -> None:
        """create_payment_intent succeeds and returns a transaction id."""
        result = conformance.create()
        assert result.status in {
            PaymentStatus.PENDING,
            PaymentStatus.REQUIRES_ACTION,
            PaymentStatus.PROCESSING,
        }, f"unexpected status after create: {result.status}"

    def test_process_payment_completes(self, conformance: _Context) -> None:
        """process_payment with a good payment method completes the payment."""
        conformance.complete()

    @pytest.mark.parametrize(
        ("amount", "why"),
        [
            (10.0, "float"),
            (Decimal("0"), "zero"),
            (Decimal("-1"), "negative"),
            (Decimal("0.0001"), "too many decimals"),
        ],
    )
    def test_invalid_money_raises_before_the_provider(
        self, conformance: _Context, amount: Any, why: str
    ) -> None:
        """Float, zero, negative and over-precise amounts raise MoneyError, calling nothing."""
        seen = list(conformance.harness.idempotency_keys())
        with pytest.raises(MoneyError):
            conformance.plugin.create_payment_intent(
                amount,
                conformance.harness.currency,
                conformance.subscription_id,
                conformance.user_id,
                idempotency_key=f"conformance-bad-{uuid.uuid4()}",
            )
        assert list(conformance.harness.idempotency_keys()) == seen, f"{why} reached provider"

    def test_manual_capture(self, conformance: _Context) -> None:
        """A manual-capture payment is AUTHORIZED, then capture_payment completes it."""
        conformance.require(Capability.MANUAL_CAPTURE)
        authorized = conformance.complete(manual=True)
        assert authorized.transaction_id is not None
        captured = conformance.plugin.capture_payment(authorized.transaction_id)
        _ok(captured, "capture_payment")
        assert captured.status is PaymentStatus.COMPLETED, captured.status
        _amount_if_known(captured, _CHARGE_UNITS, conformance.harness.currency, "capture")

    def test_partial_capture(self, conformance: _Context) -> None:
        """capture_payment with an amount captures that amount."""
        conformance.require(Capability.PARTIAL_CAPTURE)
        authorized = conformance.complete(manual=True)
        assert authorized.transaction_id is not None
        captured = conformance.plugin.capture_payment(authorized.transaction_id, conformance.part)
        _ok(captured, "capture_payment(amount)")
        assert captured.status is PaymentStatus.COMPLETED, captured.status
        _amount_if_known(captured, _PART_UNITS, conformance.harness.currency, "partial capture")

    def test_cancel_payment(self, conformance: _Context) -> None:
        """cancel_payment cancels an authorized (or not yet processed) payment."""
        conformance.require(Capability.CANCEL)
        if Capability.MANUAL_CAPTURE in conformance.plugin.capabilities:
            target = conformance.complete(manual=True)
        else:
            target = conformance.create()
        assert target.transaction_id is not None
        cancelled = conformance.plugin.cancel_payment(target.transaction_id)
        _ok(cancelled, "cancel_payment")
        assert cancelled.status is PaymentStatus.CANCELLED, cancelled.status

    def test_full_refund(self, conformance: _Context) -> None:
        """refund_payment without an amount refunds the whole payment."""
        conformance.require(Capability.REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        refund = conformance.plugin.refund_payment(paid.transaction_id)
        _ok(refund, "refund_payment")
        assert refund.status in {PaymentStatus.REFUNDED, PaymentStatus.PENDING}, refund.status
        _amount_if_known(refund, _CHARGE_UNITS, conformance.harness.currency, "full refund")

    def test_partial_refund_with_money(self, conformance: _Context) -> None:
        """refund_payment with a Money amount refunds exactly that amount."""
        conformance.require(Capability.PARTIAL_REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        refund = conformance.plugin.refund_payment(paid.transaction_id, conformance.part)
        _ok(refund, "refund_payment(Money)")
        assert refund.status in {PaymentStatus.REFUNDED, PaymentStatus.PENDING}, refund.status
        _amount_if_known(refund, _PART_UNITS, conformance.harness.currency, "partial refund")

    def test_partial_refund_with_decimal(self, conformance: _Context) -> None:
        """The original design's refund_payment(id, Decimal) still refunds that amount."""
        conformance.require(Capability.PARTIAL_REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        refund = conformance.plugin.refund_payment(paid.transaction_id, conformance.part.amount)
        _ok(refund, "refund_payment(Decimal)")
        _amount_if_known(refund, _PART_UNITS, conformance.harness.currency, "Decimal refund")

    def test_two_partial_refunds(self, conformance: _Context) -> None:
        """Two partial refunds each report their own amount."""
        conformance.require(Capability.PARTIAL_REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        for _ in range(2):
            refund = conformance.plugin.refund_payment(paid.transaction_id, conformance.part)
            _ok(refund, "refund_payment(Money)")
            _amount_if_known(refund, _PART_UNITS, conformance.harness.currency, "refund")

    def test_get_payment(self, conformance: _Context) -> None:
        """get_payment reports a completed payment's status, amount and currency."""
        conformance.require(Capability.GET_PAYMENT)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        current = conformance.plugin.get_payment(paid.transaction_id)
        _ok(current, "get_payment")
        assert current.status is PaymentStatus.COMPLETED, current.status
        assert current.amount == _CHARGE_UNITS, f"get_payment amount {current.amount} (ISO)"
        assert current.currency == conformance.harness.currency

    # -- idempotency -----------------------------------------------------------------

    def test_idempotency_keys_reach_the_provider(self, conformance: _Context) -> None:
        """Each money-moving operation forwards its idempotency key to the provider."""
        conformance.require(Capability.IDEMPOTENCY)
        plugin, harness = conformance.plugin, conformance.harness
        tag = uuid.uuid4().hex[:12]
        created = conformance.create(key=f"conf-create-{tag}")
        assert created.transaction_id is not None
        expected = [f"conf-create-{tag}"]
        processed = plugin.process_payment(
            created.transaction_id, harness.payment_method, idempotency_key=f"conf-process-{tag}"
        )
        _ok(processed, "process_payment")
        expected.append(f"conf-process-{tag}")
        assert processed.transaction_id is not None
        if Capability.REFUNDS in plugin.capabilities:
            _ok(
                plugin.refund_payment(processed.transaction_id, idempotency_key=f"conf-ref-{tag}"),
                "refund_payment",
            )
            expected.append(f"conf-ref-{tag}")
        if Capability.MANUAL_CAPTURE in plugin.capabilities:
            authorized = conformance.complete(manual=True)
            assert authorized.transaction_id is not None
            _ok(
                plugin.capture_payment(
                    authorized.transaction_id, idempotency_key=f"conf-capture-{tag}"
                ),
                "capture_payment",
            )
            expected.append(f"conf-capture-{tag}")
        if Capability.CANCEL in plugin.capabilities:
            target = (
                conformance.complete(manual=True)
                if Capability.MANUAL_CAPTURE in plugin.capabilities
                else conformance.create()
            )
            assert target.transaction_id is not None
            _ok(
                plugin.cancel_payment(target.transaction_id, idempotency_key=f"conf-cancel-{tag}"),
                "cancel_payment",
            )
            expected.append(f"conf-cancel-{tag}")
        seen = set(harness.idempotency_keys())
        missing = [key for key in expected if key not in seen]
        assert not missing, f"idempotency keys never reached the provider: {missing}"

    # -- errors ----------------------------------------------------------------------

    @pytest.mark.parametrize("operation", ["create_payment_intent", "process_payment"])
    @pytest.mark.parametrize("code", list(PaymentErrorCode), ids=str)
    def test_provider_errors_become_results(
        self, conformance: _Context, operation: str, code: PaymentErrorCode
    ) -> None:
        """A provider error comes back as a failed result with the standard code."""
        if code not in conformance.harness.scriptable_errors:
            pytest.skip(f"the harness cannot script {code.value}")
        plugin = conformance.plugin
        if operation == "create_payment_intent":
            conformance.harness.fail_next(operation, code)
            result = plugin.create_payment_intent(
                conformance.charge.amount,
                conformance.charge.currency,
                conformance.subscription_id,
                conformance.user_id,
            )
        else:
            created = conformance.create()
            assert created.transaction_id is not None
            conformance.harness.fail_next(operation, code)
            result = plugin.process_payment(
                created.transaction_id, conformance.harness.payment_method
            )
        assert isinstance(result, PaymentResult)
        assert not result.success, f"{operation} succeeded despite a scripted {code.value}"
        assert result.status is PaymentStatus.FAILED, result.status
        assert result.error_code is code, f"{operation}: {result.error_code} != {code}"
        assert result.error_message, "a failed result needs an error_message"
        # The fake server behaves normally again afterwards.
        conformance.complete()

    # -- webhooks --------------------------------------------------------------------

    def _delivery(
        self,
        conformance: _Context,
        variant: WebhookVariant,
        event_type: PaymentEventType = PaymentEventType.COMPLETED,
        amount: int = _CHARGE_UNITS,
    ) -> tuple[WebhookDelivery, str]:
        conformance.require(Capability.WEBHOOKS)
        assert PaymentEventType.COMPLETED in conformance.harness.webhook_event_types, (
            "a provider with WEBHOOKS must produce payment.completed deliveries"
        )
        if event_type not in conformance.harness.webhook_event_types:
            pytest.skip(f"the harness cannot produce {event_type.value} webhooks")
        transaction_id = f"tx_conf_{uuid.uuid4().hex[:10]}"
        delivery = conformance.harness.webhook_delivery(
            event_type,
            variant,
            transaction_id=transaction_id,
            amount=amount,
            currency=conformance.harness.currency,
            subscription_id=str(conformance.subscription_id),
            user_id=str(conformance.user_id),
        )
        if delivery is None:
            pytest.skip(f"the harness cannot produce a {variant.value} delivery")
        return delivery, transaction_id

    def test_valid_webhook_verifies(self, conformance: _Context) -> None:
        """A correctly signed, fresh delivery verifies."""
        delivery, _ = self._delivery(conformance, WebhookVariant.VALID)
        assert conformance.plugin.verify_webhook_request(delivery.headers, delivery.body)

    @pytest.mark.parametrize("variant", _REJECTED_VARIANTS, ids=str)
    def test_bad_webhook_is_rejected(self, conformance: _Context, variant: WebhookVariant) -> None:
        """Tampered, wrongly signed, stale or future deliveries fail and emit nothing."""
        delivery, _ = self._delivery(conformance, variant)
        assert not conformance.plugin.verify_webhook_request(delivery.headers, delivery.body)
        with pytest.raises(WebhookVerificationError):
            conformance.plugin.process_webhook(delivery.headers, delivery.body)
        assert conformance.dispatcher.events == []

    def test_webhook_without_headers_is_rejected(self, conformance: _Context) -> None:
        """A delivery stripped of its headers does not verify."""
        delivery, _ = self._delivery(conformance, WebhookVariant.VALID)
        assert not conformance.plugin.verify_webhook_request({}, delivery.body)

    @pytest.mark.parametrize("event_type", list(PaymentEventType), ids=str)
    def test_verified_webhook_emits_one_standard_event(
        self, conformance: _Context, event_type: PaymentEventType
    ) -> None:
        """A verified delivery emits exactly one standard event with the documented payload."""
        amount = _PART_UNITS if event_type is PaymentEventType.REFUNDED else _CHARGE_UNITS
        delivery, transaction_id = self._delivery(
            conformance, WebhookVariant.VALID, event_type, amount
        )
        payload = conformance.plugin.process_webhook(delivery.headers, delivery.body)
        assert isinstance(payload, dict)
        events = conformance.dispatcher.events
        assert [e.name for e in events] == [event_type.value], (
            f"expected exactly one {event_type.value}, got {[e.name for e in events]}"
        )
        data = PaymentEventData.from_event(events[0])
        assert data.event_type is event_type
        assert data.provider == conformance.name
        assert data.transaction_id == transaction_id, data.transaction_id
        assert data.amount == amount, f"amount {data.amount} != {amount} (ISO minor units)"
        assert data.currency == conformance.harness.currency
        assert data.subscription_id == str(conformance.subscription_id)
        assert data.user_id == str(conformance.user_id)
        assert data.provider_event_type
        assert data.occurred_at.utcoffset() is not None
        if event_type is PaymentEventType.REFUNDED:
            assert isinstance(data, PaymentRefunded)
        restored = PaymentEventData.from_event(_json_round_trip(events[0]))
        assert restored == data, "the event data does not survive a JSON round trip"
