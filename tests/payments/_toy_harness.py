"""ToyPay's conformance harness (every hook), and running one suite test on a harness."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.payments._toy_provider import ToyPayPlugin
from tests.payments._toy_server import MONTH, SECRET, Obj, ToyServer, sign
from vbwd_plugins import PaymentErrorCode
from vbwd_plugins.payments import CheckoutMode, CheckoutSession, PaymentEventType
from vbwd_plugins.payments._billing_events import DisputeOutcome
from vbwd_plugins.testing import (
    BillingScenario,
    ProviderConformanceSuite,
    RecordingDispatcher,
    WebhookDelivery,
    WebhookVariant,
)
from vbwd_plugins.testing._harness import Context


@dataclass
class ToyHarness:
    """Every hook of ``PaymentProviderHarness`` and ``BillingHarness``."""

    plugin: ToyPayPlugin
    currency: str = "USD"
    payment_method: str = "pm_toy_visa"
    scriptable_errors: frozenset[PaymentErrorCode] = frozenset()
    webhook_event_types: frozenset[PaymentEventType] = frozenset(
        {PaymentEventType.COMPLETED, PaymentEventType.REFUNDED}
    )
    events_without_host_ids: frozenset[str] = frozenset()
    sent: int = 0
    cursor: dict[str, int] = field(default_factory=dict)

    @property
    def server(self) -> ToyServer:
        """The plugin's server."""
        return self.plugin.server

    def fail_next(self, operation: str, code: PaymentErrorCode) -> None:
        """Not used: ``scriptable_errors`` is empty."""
        raise AssertionError("no scriptable errors")

    def idempotency_keys(self) -> Sequence[str]:
        """Keys the server received."""
        return list(self.server.keys)

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
        """The old-style delivery, built from the suite's values (only VALID and stale)."""
        obj = {"id": transaction_id, "amount": amount, "currency": currency}
        meta = {"subscription_id": subscription_id, "user_id": user_id}
        if event_type is PaymentEventType.REFUNDED:
            obj = {**obj, "id": "re_webhook", "payment": transaction_id}
        kind = "refund.created" if event_type is PaymentEventType.REFUNDED else "payment.succeeded"
        event = {"id": "evt_x", "type": kind, "created": 1, "object": {**obj, "metadata": meta}}
        if event_type is PaymentEventType.REFUNDED:
            event["metadata"] = meta
        now = int(time.time())
        stamp = now - 3600 if variant is WebhookVariant.STALE_TIMESTAMP else now
        if variant not in (WebhookVariant.VALID, WebhookVariant.STALE_TIMESTAMP):
            return None
        return self.signed(event, stamp)

    def signed(self, event: Obj, stamp: int | None = None) -> WebhookDelivery:
        """``event`` as a signed delivery."""
        body = json.dumps(event).encode()
        header = sign(body, int(time.time()) if stamp is None else stamp, SECRET)
        return WebhookDelivery({"Toy-Signature": header}, body, description=event["type"])

    def about(self, object_id: str) -> list[WebhookDelivery]:
        """The events sent about ``object_id`` since the last time it was asked for."""
        start = self.cursor.get(object_id, 0)
        self.cursor[object_id] = len(self.server.events)
        return [
            self.signed(e)
            for e in self.server.events[start:]
            if object_id in (e["object"]["id"], e["object"].get("payment"))
        ]

    def payment_webhooks(self, transaction_id: str) -> Sequence[WebhookDelivery] | None:
        """What the server sent about the payment."""
        return self.about(transaction_id)

    def decline_next_payment(self, code: PaymentErrorCode) -> str | None:
        """The server declines the next confirmation with ``code``."""
        self.server.decline_next = code
        return self.payment_method

    def attach_payment_method(self, customer_id: str) -> str | None:
        """A saved card."""
        return str(self.server.add_method(customer_id)["id"])

    def checkout_webhooks(self, session: CheckoutSession) -> Sequence[WebhookDelivery] | None:
        """The payer completes the session."""
        stored = self.server.get(session.id, "cs")
        extra: Obj = {}
        if session.mode is CheckoutMode.PAYMENT:
            payment = self.server.create_payment(
                stored["amount"], stored["currency"], stored["metadata"], None
            )
            self.server.confirm(payment["id"], self.payment_method, None)
            extra = {"payment": payment["id"]}
        elif session.mode is CheckoutMode.SUBSCRIPTION:
            values = {"price": stored["price"], "customer": None, "quantity": 1}
            sub = self.server.subscribe(
                {**values, "metadata": stored["metadata"]}, paying=True, trial_days=0
            )
            extra = {"subscription": sub["id"]}
        stored.update(extra)
        self.server.emit("checkout.completed", stored)
        events, self.sent = self.server.events[self.sent :], len(self.server.events)
        return [self.signed(e) for e in events]

    def subscription_webhooks(
        self, provider_subscription_id: str, scenario: BillingScenario
    ) -> Sequence[WebhookDelivery] | None:
        """Drive the server for ``scenario``; what it sent about the subscription."""
        sub = self.server.get(provider_subscription_id, "sub")
        if scenario is BillingScenario.ACTIVATED:
            self.server.activate(sub)
        elif scenario is BillingScenario.RENEWED:
            self.server.renew(sub, pays=True)
        elif scenario in (BillingScenario.PAYMENT_FAILED, BillingScenario.PAST_DUE):
            self.server.renew(sub, pays=False)
        elif scenario is BillingScenario.TRIAL_WILL_END:
            self.server.trial_reminder(sub)
        return self.about(provider_subscription_id)

    def dispute_webhooks(
        self, transaction_id: str, outcome: DisputeOutcome | None
    ) -> Sequence[WebhookDelivery] | None:
        """The payer disputes the payment."""
        self.server.dispute(transaction_id, None if outcome is None else outcome.value)
        return self.about(transaction_id)


def toy_harness(plugin_type: type[ToyPayPlugin] = ToyPayPlugin) -> ToyHarness:
    """An initialized ``plugin_type`` on a fresh server, in its harness."""
    plugin = plugin_type(ToyServer(now=int(time.time()) - MONTH))
    plugin.initialize()
    plugin.enable()
    return ToyHarness(plugin)


def _run(harness: ToyHarness, test: str, params: dict[str, Any]) -> None:
    dispatcher = RecordingDispatcher()
    harness.plugin._attach_dispatcher(dispatcher)
    context = Context(harness, harness.plugin, dispatcher, uuid.uuid4(), uuid.uuid4())
    getattr(ProviderConformanceSuite(), test)(context, **params)


def suite_passes(harness: ToyHarness, test: str, **params: Any) -> None:
    """Run the suite's ``test`` on ``harness``; it must pass (not skip)."""
    try:
        _run(harness, test, params)
    except pytest.skip.Exception as exc:
        pytest.fail(f"{test} was skipped: {exc}")


def suite_failure(harness: ToyHarness, test: str, **params: Any) -> str:
    """Run the suite's ``test`` on ``harness`` and return why it failed.

    A test that passes or skips here is a kit that misses the mistake: that fails.
    """
    try:
        _run(harness, test, params)
    except (AssertionError, pytest.fail.Exception) as exc:
        return str(exc)
    except pytest.skip.Exception as exc:
        pytest.fail(f"{test} was skipped instead of failing: {exc}")
    pytest.fail(f"{test} passed a broken provider")
