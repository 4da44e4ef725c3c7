"""The mock's conformance hooks for payments round trips and recurring billing.

:class:`MockBillingHooks` is the :class:`~vbwd_plugins.testing.BillingHarness` half of
:class:`~vbwd_plugins.testing.MockHarness`: it drives the mock (its clock, checkout,
disputes) and returns the webhooks the mock sent, re-signed now, so the suite verifies and
translates them itself. Deliveries are built from what the mock *stored* from the plugin's
calls, never from ids the suite passes in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from vbwd_plugins.payments._billing import CheckoutSession, SubscriptionStatus
from vbwd_plugins.payments._billing_events import DisputeOutcome
from vbwd_plugins.payments._events import PaymentEventType
from vbwd_plugins.payments._results import PaymentErrorCode
from vbwd_plugins.testing._mock_billing_model import TRIAL_WARNING
from vbwd_plugins.testing._mock_billing_plugin import MockBillingProvider
from vbwd_plugins.testing._mock_model import MockOutcome, MockProviderError, MockScript
from vbwd_plugins.testing._support import BillingScenario, WebhookDelivery

__all__ = ["MockBillingHooks"]

#: Scenarios that need the mock's clock moved to the subscription's period end.
_TO_PERIOD_END = frozenset(
    {
        BillingScenario.RENEWED,
        BillingScenario.PAYMENT_FAILED,
        BillingScenario.PAST_DUE,
        BillingScenario.CANCELLED_AT_PERIOD_END,
    }
)


class MockBillingHooks:
    """The optional ``BillingHarness`` hooks, for a harness whose ``plugin`` is the mock."""

    plugin: MockBillingProvider
    #: The mock returns the host's ids on every event.
    events_without_host_ids: frozenset[str] = frozenset()

    def payment_webhooks(self, transaction_id: str) -> Sequence[WebhookDelivery] | None:
        """``payment.completed`` for a completed payment, plus one per refund made."""
        plugin = self.plugin
        payment = plugin._ledger.payments.get(transaction_id)
        if payment is None or payment.captured == 0:
            return None
        values: dict[str, Any] = {
            "transaction_id": payment.id,
            "currency": payment.currency,
            "subscription_id": payment.subscription_id,
            "user_id": payment.user_id,
        }
        bodies = [plugin.webhook_body(PaymentEventType.COMPLETED, amount=payment.amount, **values)]
        bodies += [
            plugin.webhook_body(PaymentEventType.REFUNDED, amount=units, refund_id=ref, **values)
            for ref, units in zip(payment.refund_ids, payment.refunds, strict=True)
        ]
        return [plugin.webhook_delivery(body) for body in bodies]

    def decline_next_payment(self, code: PaymentErrorCode) -> str | None:
        """Script the next ``process_payment`` to decline with ``code``."""
        script = MockScript(MockOutcome.DECLINE, "process_payment", PaymentErrorCode(code), 1)
        self.plugin._ledger.script(script)
        return "pm_mock_visa"

    def attach_payment_method(self, customer_id: str) -> str | None:
        """Save a paying card on the customer."""
        return self.plugin.add_payment_method(customer_id).id

    def checkout_webhooks(self, session: CheckoutSession) -> Sequence[WebhookDelivery] | None:
        """Complete ``session``; every webhook it (and anything queued) sent."""
        return self._quietly(lambda: self.plugin.complete_checkout(session.id))

    def subscription_webhooks(
        self, provider_subscription_id: str, scenario: BillingScenario
    ) -> Sequence[WebhookDelivery] | None:
        """Play ``scenario``; every webhook the mock sent about the subscription so far."""
        plugin = self.plugin
        sub = plugin.billing.subscriptions.get(provider_subscription_id)
        if sub is None:
            return None
        target: datetime | None = None
        if scenario in _TO_PERIOD_END and sub.status in {
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.TRIALING,
        }:
            target = sub.period_end
            if scenario in (BillingScenario.PAYMENT_FAILED, BillingScenario.PAST_DUE):
                plugin.fail_next_renewal(sub.id)
        elif scenario is BillingScenario.TRIAL_WILL_END and sub.trial_end is not None:
            target = sub.trial_end - TRIAL_WARNING
        if target is not None and target > plugin.clock.now():
            self._quietly(lambda: plugin.clock.advance_to(target))
        else:
            self._quietly(lambda: None)
        return self._about("provider_subscription_id", provider_subscription_id)

    def dispute_webhooks(
        self, transaction_id: str, outcome: DisputeOutcome | None
    ) -> Sequence[WebhookDelivery] | None:
        """Dispute the whole payment (and close it with ``outcome``); its dispute webhooks."""
        plugin = self.plugin

        def play() -> None:
            dispute = plugin.open_dispute(transaction_id)
            if outcome is not None:
                plugin.close_dispute(dispute, outcome=outcome)

        try:
            self._quietly(play)
        except MockProviderError:
            return None
        found = self._about("transaction_id", transaction_id)
        return [d for d in found if json.loads(d.body)["type"].startswith("dispute.")]

    # -- helpers ----------------------------------------------------------------------

    def _quietly(self, action: Callable[[], object]) -> list[WebhookDelivery]:
        """Run ``action`` without delivering; take what it queued as sent."""
        plugin = self.plugin
        before, plugin.auto_deliver = plugin.auto_deliver, False
        try:
            action()
        finally:
            plugin.auto_deliver = before
        return plugin.drain_webhooks()

    def _about(self, key: str, value: str) -> list[WebhookDelivery]:
        """Every webhook sent whose data names ``value`` as ``key``, signed anew now."""
        plugin = self.plugin
        return [
            plugin.webhook_delivery(sent.body)
            for sent in plugin.sent_webhooks
            if json.loads(sent.body).get("data", {}).get(key) == value
        ]
