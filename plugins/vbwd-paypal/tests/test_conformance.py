"""The core's payment-provider conformance suite, run against the PayPal plugin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from vbwd_paypal import PayPalPlugin
from vbwd_paypal.testing import WebhookSigner, make_event

from vbwd_plugins import PaymentErrorCode
from vbwd_plugins.payments import CheckoutMode, CheckoutSession, DisputeOutcome
from vbwd_plugins.testing import ProviderConformanceSuite, WebhookDelivery
from vbwd_plugins.testing._support import BillingScenario  # not re-exported yet

from .conftest import FakeServers, PayPalHarness, base_config, wire_session

_OUTCOMES = {
    DisputeOutcome.WON: "RESOLVED_SELLER_FAVOUR",
    DisputeOutcome.LOST: "RESOLVED_BUYER_FAVOUR",
}


@dataclass
class PayPalBillingHarness(PayPalHarness):
    """The payment harness plus the billing hooks, each driving the fake's own state."""

    events_without_host_ids: frozenset[str] = frozenset()

    def _signed(self, event: dict[str, Any]) -> WebhookDelivery:
        body = json.dumps(event).encode()
        return WebhookDelivery(self.signer.headers(body), body, event["event_type"])

    def payment_webhooks(self, transaction_id: str) -> list[WebhookDelivery]:
        """The capture's PAYMENT.CAPTURE.COMPLETED and its refunds, from the fake's records."""
        capture = self.fake.captures[transaction_id]
        deliveries = [self._signed(make_event("PAYMENT.CAPTURE.COMPLETED", capture))]
        for refund in self.fake.refunds.values():
            ups = [link["href"] for link in refund.get("links", []) if link.get("rel") == "up"]
            if any(href.endswith(f"/captures/{transaction_id}") for href in ups):
                event = make_event("PAYMENT.CAPTURE.REFUNDED", refund, resource_type="refund")
                deliveries.append(self._signed(event))
        return deliveries

    def decline_next_payment(self, code: PaymentErrorCode) -> str | None:
        """The next capture answers 201 with status DECLINED (PayPal's instrument decline)."""
        if code is not PaymentErrorCode.DECLINED:
            return None
        self.fake.decline_next = "status"
        return self.payment_method

    def attach_payment_method(self, customer_id: str) -> str | None:
        """PayPal's payer approves instead: no saved methods."""
        return None

    def checkout_webhooks(self, session: CheckoutSession) -> list[WebhookDelivery] | None:
        """Approve (and, for a payment, capture) as the payer and merchant would."""
        if session.mode is CheckoutMode.SUBSCRIPTION:
            return self.fake.approve_subscription(session.id)
        if session.mode is not CheckoutMode.PAYMENT:
            return None
        self.fake.approve(session.id)
        order = self.fake.order_view(session.id)
        approved = self._signed(
            make_event("CHECKOUT.ORDER.APPROVED", order, resource_type="checkout-order")
        )
        paid = self.plugin.process_payment(session.id, self.payment_method)
        assert paid.success and paid.transaction_id is not None, paid
        return [approved, *self.payment_webhooks(paid.transaction_id)]

    def subscription_webhooks(
        self, provider_subscription_id: str, scenario: BillingScenario
    ) -> list[WebhookDelivery] | None:
        """Drive the fake's billing clock for the scenario; what it sent."""
        fake, sub_id = self.fake, provider_subscription_id
        sent = fake.take_webhooks()
        if scenario is BillingScenario.ACTIVATED:
            if fake.subscriptions[sub_id]["status"] == "APPROVAL_PENDING":
                sent += fake.approve_subscription(sub_id)
        elif scenario is BillingScenario.RENEWED:
            sent += fake.renew(sub_id)
        elif scenario in (BillingScenario.PAYMENT_FAILED, BillingScenario.PAST_DUE):
            sent += fake.renew(sub_id, succeed=False)
        elif scenario is BillingScenario.PLAN_CHANGED:
            sent += fake.approve_revision(sub_id)  # PayPal's revise waits for the payer
        elif scenario is BillingScenario.TRIAL_WILL_END:
            return None  # PayPal sends no reminder before a trial ends
        return sent

    def dispute_webhooks(
        self, transaction_id: str, outcome: DisputeOutcome | None
    ) -> list[WebhookDelivery] | None:
        """Open a dispute on the capture (and resolve it with ``outcome``)."""
        opened = self.fake.open_dispute(transaction_id)
        if outcome is None:
            return opened
        dispute_id = json.loads(opened[0].body)["resource"]["dispute_id"]
        return opened + self.fake.resolve_dispute(dispute_id, _OUTCOMES[outcome])


@pytest.fixture(params=["offline", "remote"])
def payment_provider_harness(
    request: pytest.FixtureRequest, servers: FakeServers, pki: Any, signer: WebhookSigner
) -> Iterator[PayPalBillingHarness]:
    """The plugin against the fake, auto-approving orders as a payer would."""
    session, _, _ = wire_session(servers, pki)
    plugin = PayPalPlugin(session=session)
    plugin.initialize(
        base_config(servers, pki, timeout=1.0, max_retries=1, webhook_verification=request.param)
    )
    servers.fake.auto_approve = True
    yield PayPalBillingHarness(plugin, servers.fake, signer)
    session.close()


class TestPayPalConformance(ProviderConformanceSuite):
    """vbwd-paypal satisfies the payment-provider contract over real HTTP (both webhook modes)."""
