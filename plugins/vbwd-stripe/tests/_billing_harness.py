"""The conformance suite's billing hooks (``vbwd_plugins.testing.BillingHarness``) for Stripe.

Every delivery is one the fake *sent*: built from what the fake stored when the plugin called
it (metadata included), signed with the endpoint secret the plugin checks. Nothing is
rebuilt from ids the test knows, so a plugin that never sent the host's ids fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins import PaymentErrorCode
from vbwd_plugins.payments import CheckoutSession, DisputeOutcome
from vbwd_plugins.testing import BillingScenario, WebhookDelivery

if TYPE_CHECKING:
    from vbwd_stripe import StripePlugin
    from vbwd_stripe.testing import FakeStripe

__all__ = ["StripeBillingHooks"]

#: Stripe's test tokens that decline the way Stripe really declines (a 402 card_error).
_DECLINING: Final[Mapping[PaymentErrorCode, str]] = {
    PaymentErrorCode.DECLINED: "pm_card_chargeDeclined",
    PaymentErrorCode.INSUFFICIENT_FUNDS: "pm_card_chargeDeclinedInsufficientFunds",
}
_S = BillingScenario


def _refers_to(obj: Mapping[str, Any], object_id: str) -> bool:
    """Whether a Stripe object is ``object_id`` or belongs to it (intent, invoice parent)."""
    if object_id in (obj.get("id"), obj.get("payment_intent"), obj.get("subscription")):
        return True
    parent = obj.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    return isinstance(details, Mapping) and details.get("subscription") == object_id


class StripeBillingHooks:
    """Mixed into the harness: it provides ``fake`` and ``plugin``."""

    fake: FakeStripe
    plugin: StripePlugin
    #: A Dispute carries no metadata of the payment (and its webhook does not expand the
    #: charge), so Stripe cannot return the host's ids with dispute events.
    events_without_host_ids: frozenset[str] = frozenset({"dispute.opened", "dispute.closed"})

    def _sent_about(self, object_id: str) -> list[WebhookDelivery]:
        """Every event the fake sent about ``object_id`` so far, signed.

        Without ``charge.refunded``: an endpoint set up as the plugin documents subscribes to
        ``refund.*`` *or* ``charge.refunded``, never both (each refund would count twice).
        """
        events = [
            e
            for e in self.fake.events
            if e["type"] != "charge.refunded" and _refers_to(e["data"]["object"], object_id)
        ]
        return self.fake.webhooks(events)

    # -- payments ----------------------------------------------------------------------------

    def payment_webhooks(self, transaction_id: str) -> Sequence[WebhookDelivery]:
        """The ``payment_intent.*`` and ``refund.*`` events the fake sent for the intent."""
        return self._sent_about(transaction_id)

    def decline_next_payment(self, code: PaymentErrorCode) -> str | None:
        """A test token Stripe declines with ``code`` (``None``: no such token)."""
        return _DECLINING.get(code)

    # -- payers and checkout -------------------------------------------------------------------

    def attach_payment_method(self, customer_id: str) -> str:
        """The payer saves ``pm_card_visa`` through a SetupIntent (confirmed in the browser)."""
        setup = self.plugin.start_payment_method_setup(customer_id).unwrap()
        self.fake.confirm_setup_intent(setup.id, payment_method="pm_card_visa")
        method = self.fake.setup_intents[setup.id]["payment_method"]
        assert isinstance(method, str)
        return method

    def checkout_webhooks(self, session: CheckoutSession) -> Sequence[WebhookDelivery]:
        """The payer completes the hosted page with a card that pays."""
        return self.fake.complete_checkout(session.id, payment_method="pm_card_visa")

    # -- subscriptions ---------------------------------------------------------------------------

    def subscription_webhooks(
        self, provider_subscription_id: str, scenario: BillingScenario
    ) -> Sequence[WebhookDelivery]:
        """Drive the fake's clock for the scenarios only Stripe makes happen; else what it sent."""
        sub_id = provider_subscription_id
        status = self.fake.subscriptions[sub_id]["status"]
        if scenario is _S.ACTIVATED and status == "incomplete":
            self.fake.retry(sub_id, succeed=True)  # the payer confirms the first payment
        elif scenario is _S.RENEWED:
            return self.fake.renew(sub_id, succeed=True)
        elif scenario in (_S.PAYMENT_FAILED, _S.PAST_DUE):
            return self.fake.renew(sub_id, succeed=False)
        elif scenario is _S.TRIAL_WILL_END:
            return self.fake.trial_will_end(sub_id)
        return self._sent_about(sub_id)

    # -- disputes ------------------------------------------------------------------------------

    def dispute_webhooks(
        self, transaction_id: str, outcome: DisputeOutcome | None
    ) -> Sequence[WebhookDelivery]:
        """The cardholder disputes the whole payment; the network decides ``outcome``."""
        deliveries = list(self.fake.open_dispute(transaction_id))
        if outcome is None:
            return deliveries
        (dispute_id,) = [
            du["id"] for du in self.fake.disputes.values() if du["payment_intent"] == transaction_id
        ]
        status = "won" if outcome is DisputeOutcome.WON else "lost"
        return deliveries + self.fake.close_dispute(dispute_id, status=status)
