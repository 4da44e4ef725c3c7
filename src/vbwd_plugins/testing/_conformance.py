"""The provider conformance suite, and the harness a provider supplies to run it.

How a provider distribution gets the suite
==========================================

1. Install ``vbwd-plugins[testing]`` in the test environment. Its ``pytest11`` entry point
   (``vbwd_plugins.testing.pytest_plugin``) loads automatically.
2. In ``conftest.py`` define **one fixture**, ``payment_provider_harness``, returning an
   object that satisfies :class:`PaymentProviderHarness` (below): the plugin configured
   against the provider's fake server, plus a few hooks into that server and a webhook
   signer. Any scope; function scope (a fresh server state per test) is simplest.
   The same object may add the optional hooks of :class:`BillingHarness` (webhooks the
   server sent about a payment, a checkout, a subscription scenario or a dispute; a
   declining payment method; a saved method): the round-trip and billing sections need
   them, and say which one is missing.
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
* Refund results report this refund's amount and currency (required, not "if known").
* With the optional hooks of :class:`BillingHarness` (``_conformance_payments``): the
  webhooks the provider's server sent about a paid (and refunded) payment translate to
  events naming the host's subscription and user ids (a round trip, so a plugin that never
  sends them is caught); a payment the server *declines* is a failed result with
  ``DECLINED``/``INSUFFICIENT_FUNDS``; zero- and three-decimal amounts stay exact.
* Billing, one section per declared capability (``_conformance_billing``,
  ``_conformance_subscriptions``, ``_conformance_events``): ``CHECKOUT`` (payment,
  subscription and setup sessions; one idempotency key, one session), ``CUSTOMERS``
  (round trip with the host's user id; unknown is ``NOT_FOUND``),
  ``SAVED_PAYMENT_METHODS`` (setup, list, detach), ``PLANS`` (``ensure_plan`` idempotent,
  a new price is a new plan, ``provider_plan_id`` references), ``SUBSCRIPTIONS`` (create,
  get, trial, cancel at period end and now, one idempotency key, one subscription),
  ``PLAN_CHANGES``, ``PAUSE``; with ``WEBHOOKS``, each :class:`BillingScenario` of a
  subscription, ``checkout.completed`` and ``dispute.*`` come back as standard events
  naming the host's ids. Declared billing operations are implemented; undeclared ones
  raise ``UnsupportedOperationError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from vbwd_plugins.errors import MoneyError, UnsupportedOperationError
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import (
    Capability,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)
from vbwd_plugins.testing._conformance_billing import BillingConformance
from vbwd_plugins.testing._conformance_events import BillingEventConformance
from vbwd_plugins.testing._conformance_payments import PaymentRoundTripConformance
from vbwd_plugins.testing._conformance_subscriptions import SubscriptionConformance
from vbwd_plugins.testing._conformance_webhooks import WebhookConformance
from vbwd_plugins.testing._harness import (
    CHARGE_UNITS,
    PART_UNITS,
    BillingHarness,
    Context,
    PaymentProviderHarness,
    amount_if_known,
    amount_reported,
    ok,
)
from vbwd_plugins.testing._support import RecordingDispatcher

__all__ = ["BillingHarness", "PaymentProviderHarness", "ProviderConformanceSuite"]

_CAPABILITY_METHODS = {
    Capability.MANUAL_CAPTURE: "capture_payment",
    Capability.CANCEL: "cancel_payment",
    Capability.GET_PAYMENT: "get_payment",
}


class ProviderConformanceSuite(
    WebhookConformance,
    PaymentRoundTripConformance,
    BillingConformance,
    SubscriptionConformance,
    BillingEventConformance,
):
    """Subclass as ``Test...`` in a provider's tests to run the contract's conformance suite.

    Needs the fixture ``payment_provider_harness`` (see :class:`PaymentProviderHarness`).
    """

    @pytest.fixture
    def conformance(self, payment_provider_harness: PaymentProviderHarness) -> Iterator[Context]:
        """The harness with a recording dispatcher attached to its plugin."""
        plugin = payment_provider_harness.plugin
        assert isinstance(plugin, PaymentProviderPlugin), f"{plugin!r} is not a provider"
        dispatcher = RecordingDispatcher()
        plugin._attach_dispatcher(dispatcher)
        try:
            yield Context(payment_provider_harness, plugin, dispatcher, uuid.uuid4(), uuid.uuid4())
        finally:
            plugin._attach_dispatcher(None)

    # -- declaration ---------------------------------------------------------------

    def test_declared_capabilities_are_implemented(self, conformance: Context) -> None:
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

    def test_undeclared_operations_raise_unsupported(self, conformance: Context) -> None:
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

    def test_create_payment_intent(self, conformance: Context) -> None:
        """create_payment_intent succeeds and returns a transaction id."""
        result = conformance.create()
        assert result.status in {
            PaymentStatus.PENDING,
            PaymentStatus.REQUIRES_ACTION,
            PaymentStatus.PROCESSING,
        }, f"unexpected status after create: {result.status}"

    def test_process_payment_completes(self, conformance: Context) -> None:
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
        self, conformance: Context, amount: Any, why: str
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

    def test_manual_capture(self, conformance: Context) -> None:
        """A manual-capture payment is AUTHORIZED, then capture_payment completes it."""
        conformance.require(Capability.MANUAL_CAPTURE)
        authorized = conformance.complete(manual=True)
        assert authorized.transaction_id is not None
        captured = conformance.plugin.capture_payment(authorized.transaction_id)
        ok(captured, "capture_payment")
        assert captured.status is PaymentStatus.COMPLETED, captured.status
        amount_if_known(captured, CHARGE_UNITS, conformance.harness.currency, "capture")

    def test_partial_capture(self, conformance: Context) -> None:
        """capture_payment with an amount captures that amount."""
        conformance.require(Capability.PARTIAL_CAPTURE)
        authorized = conformance.complete(manual=True)
        assert authorized.transaction_id is not None
        captured = conformance.plugin.capture_payment(authorized.transaction_id, conformance.part)
        ok(captured, "capture_payment(amount)")
        assert captured.status is PaymentStatus.COMPLETED, captured.status
        amount_if_known(captured, PART_UNITS, conformance.harness.currency, "partial capture")

    def test_cancel_payment(self, conformance: Context) -> None:
        """cancel_payment cancels an authorized (or not yet processed) payment."""
        conformance.require(Capability.CANCEL)
        if Capability.MANUAL_CAPTURE in conformance.plugin.capabilities:
            target = conformance.complete(manual=True)
        else:
            target = conformance.create()
        assert target.transaction_id is not None
        cancelled = conformance.plugin.cancel_payment(target.transaction_id)
        ok(cancelled, "cancel_payment")
        assert cancelled.status is PaymentStatus.CANCELLED, cancelled.status

    def test_full_refund(self, conformance: Context) -> None:
        """refund_payment without an amount refunds the whole payment."""
        conformance.require(Capability.REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        refund = conformance.plugin.refund_payment(paid.transaction_id)
        ok(refund, "refund_payment")
        assert refund.status in {PaymentStatus.REFUNDED, PaymentStatus.PENDING}, refund.status
        amount_reported(refund, CHARGE_UNITS, conformance.harness.currency, "full refund")

    def test_partial_refund_with_money(self, conformance: Context) -> None:
        """refund_payment with a Money amount refunds exactly that amount."""
        conformance.require(Capability.PARTIAL_REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        refund = conformance.plugin.refund_payment(paid.transaction_id, conformance.part)
        ok(refund, "refund_payment(Money)")
        assert refund.status in {PaymentStatus.REFUNDED, PaymentStatus.PENDING}, refund.status
        amount_reported(refund, PART_UNITS, conformance.harness.currency, "partial refund")

    def test_partial_refund_with_decimal(self, conformance: Context) -> None:
        """The original design's refund_payment(id, Decimal) still refunds that amount."""
        conformance.require(Capability.PARTIAL_REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        refund = conformance.plugin.refund_payment(paid.transaction_id, conformance.part.amount)
        ok(refund, "refund_payment(Decimal)")
        amount_reported(refund, PART_UNITS, conformance.harness.currency, "Decimal refund")

    def test_two_partial_refunds(self, conformance: Context) -> None:
        """Two partial refunds each report their own amount."""
        conformance.require(Capability.PARTIAL_REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        for _ in range(2):
            refund = conformance.plugin.refund_payment(paid.transaction_id, conformance.part)
            ok(refund, "refund_payment(Money)")
            amount_reported(refund, PART_UNITS, conformance.harness.currency, "refund")

    def test_get_payment(self, conformance: Context) -> None:
        """get_payment reports a completed payment's status, amount and currency."""
        conformance.require(Capability.GET_PAYMENT)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        current = conformance.plugin.get_payment(paid.transaction_id)
        ok(current, "get_payment")
        assert current.status is PaymentStatus.COMPLETED, current.status
        assert current.amount == CHARGE_UNITS, f"get_payment amount {current.amount} (ISO)"
        assert current.currency == conformance.harness.currency

    # -- idempotency -----------------------------------------------------------------

    def test_idempotency_keys_reach_the_provider(self, conformance: Context) -> None:
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
        ok(processed, "process_payment")
        expected.append(f"conf-process-{tag}")
        assert processed.transaction_id is not None
        if Capability.REFUNDS in plugin.capabilities:
            ok(
                plugin.refund_payment(processed.transaction_id, idempotency_key=f"conf-ref-{tag}"),
                "refund_payment",
            )
            expected.append(f"conf-ref-{tag}")
        if Capability.MANUAL_CAPTURE in plugin.capabilities:
            authorized = conformance.complete(manual=True)
            assert authorized.transaction_id is not None
            ok(
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
            ok(
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
        self, conformance: Context, operation: str, code: PaymentErrorCode
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
