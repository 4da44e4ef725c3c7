"""The recurring-billing half of :class:`~vbwd_plugins.testing.MockPaymentPlugin`.

Every billing operation is in memory, recorded in ``mock.calls``, scriptable with
``mock.script(...)`` and idempotent (same key and request: the first answer; another
request: ``IDEMPOTENCY_CONFLICT``). What happens at the "provider" (a renewal, a failed
charge, a completed checkout, a dispute) is sent as a signed mock webhook through the same
pipeline as a real provider's: :meth:`process_webhook` by default, or a host's
:class:`~vbwd_plugins.WebhookProcessor` (record -> deliver) set as
:attr:`MockBillingProvider.webhook_target`.

Webhooks caused by an *operation* are queued, as a real provider sends them after its API
has answered: :meth:`~MockBillingProvider.deliver_pending` sends them. The test controls
(:meth:`~MockBillingProvider.advance`, :meth:`~MockBillingProvider.complete_checkout`,
disputes) send what is queued and what they cause at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from vbwd_plugins.payments._billing import (
    BillingResult,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    PaymentMethodSetup,
    Plan,
    Proration,
    ProviderPlan,
    SavedPaymentMethod,
    Subscription,
    SubscriptionRequest,
)
from vbwd_plugins.payments._billing_events import BillingEventType, DisputeOutcome
from vbwd_plugins.payments._events import PaymentEventType
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import Capability, PaymentErrorCode
from vbwd_plugins.testing._mock_billing import MockBilling
from vbwd_plugins.testing._mock_clock import MockClock
from vbwd_plugins.testing._mock_model import MockLedger, MockOutcome, MockPayment
from vbwd_plugins.testing._mock_webhooks import billing_body, billing_events_from_payload
from vbwd_plugins.testing._support import WebhookDelivery, WebhookVariant

if TYPE_CHECKING:
    from vbwd_plugins.events._event import Event

__all__ = ["MockBillingProvider"]

T = TypeVar("T")


class MockBillingProvider(PaymentProviderPlugin):
    """Customers, saved methods, plans, subscriptions, checkout and disputes, in memory.

    Subclassed by :class:`~vbwd_plugins.testing.MockPaymentPlugin`; see the module docstring.
    """

    _ledger: MockLedger
    #: The clock renewals, retries, trials and webhook timestamps follow.
    clock: MockClock
    #: Where billing webhooks go (``None``: :meth:`process_webhook`, or only verified and
    #: translated while no manager's dispatcher is attached). A target answering an object
    #: with a non-2xx ``status`` (a ``WebhookResponse``) fails the delivery.
    webhook_target: Callable[[WebhookDelivery], object] | None
    #: Whether the controls send queued webhooks at once (``False``: only
    #: :meth:`deliver_pending` does, so a test can look at them first).
    auto_deliver: bool

    def _init_billing(self, clock: MockClock, new_id: Callable[[str], str]) -> None:
        self.clock = clock
        self._new_id = new_id
        self.webhook_target = None
        self.auto_deliver = True
        self._pending: list[bytes] = []
        self._delivering = False
        #: Every webhook sent by the billing half, signed as delivered.
        self.sent_webhooks: list[WebhookDelivery] = []
        #: The standard events those webhooks stood for, in order.
        self.sent_events: list[Event] = []
        #: The in-memory state: customers, methods, plans, subscriptions, checkouts, disputes.
        self.billing = MockBilling(
            clock=clock,
            ledger=self._ledger,
            new_id=new_id,
            emit=self._queue_billing,
            emit_payment=self._queue_payment,
            flush=self._auto_flush,
        )

    if TYPE_CHECKING:  # MockPaymentPlugin's

        def webhook_delivery(
            self, body: bytes, variant: WebhookVariant = WebhookVariant.VALID
        ) -> WebhookDelivery: ...

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
        ) -> bytes: ...

    # -- the operations -------------------------------------------------------------------

    def _op(
        self, name: str, arguments: dict[str, Any], key: str | None, action: Callable[[], T]
    ) -> BillingResult[T]:
        def body(outcome: MockOutcome) -> BillingResult[T]:
            self.billing.run_subscriptions()  # what fell due in real time happens first
            return BillingResult.ok(action(), mock_request_id=f"req_mock_{name}")

        return self._ledger.run(name, arguments, key, body)

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[CheckoutSession]:
        """An open hosted checkout; :meth:`complete_checkout` plays the payer."""
        return self._op(
            "create_checkout_session",
            {"request": request},
            idempotency_key,
            lambda: self.billing.create_checkout(request),
        )

    def create_customer(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[Customer]:
        """A new customer carrying the host's ``user_id``."""
        arguments = {"email": email, "name": name, "user_id": user_id, "metadata": metadata}
        return self._op(
            "create_customer",
            arguments,
            idempotency_key,
            lambda: self.billing.create_customer(email, name, user_id, metadata),
        )

    def get_customer(self, customer_id: str) -> BillingResult[Customer]:
        """The customer (``NOT_FOUND`` for an unknown id)."""
        return self._op(
            "get_customer",
            {"customer_id": customer_id},
            None,
            lambda: self.billing.customer(customer_id),
        )

    def start_payment_method_setup(
        self,
        customer_id: str,
        *,
        success_url: str | None = None,
        cancel_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[PaymentMethodSetup]:
        """A pending setup; :meth:`confirm_payment_method_setup` plays the payer."""
        arguments = {
            "customer_id": customer_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        return self._op(
            "start_payment_method_setup",
            arguments,
            idempotency_key,
            lambda: self.billing.start_setup(customer_id, success_url),
        )

    def list_payment_methods(
        self, customer_id: str
    ) -> BillingResult[tuple[SavedPaymentMethod, ...]]:
        """The cards saved on the customer, oldest first."""
        return self._op(
            "list_payment_methods",
            {"customer_id": customer_id},
            None,
            lambda: tuple(m.view() for m in self.billing.list_methods(customer_id)),
        )

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[SavedPaymentMethod]:
        """Remove a saved card."""
        return self._op(
            "detach_payment_method",
            {"payment_method_id": payment_method_id},
            idempotency_key,
            lambda: self.billing.detach(payment_method_id).view(),
        )

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        """The mock's price for ``plan`` (its id derives from key, price and interval)."""
        return self._op("ensure_plan", {"plan": plan}, None, lambda: self.billing.ensure_plan(plan))

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Subscribe: trialing, or charged for the first period now (a decline fails it)."""

        def action() -> Subscription:
            known = request.customer_id in self.billing.customers
            return self.billing.subscribe(request, customer_known=known).view()

        return self._op("create_subscription", {"request": request}, idempotency_key, action)

    def get_subscription(self, subscription_id: str) -> BillingResult[Subscription]:
        """The subscription's current state."""
        return self._op(
            "get_subscription",
            {"subscription_id": subscription_id},
            None,
            lambda: self.billing.subscription(subscription_id).view(),
        )

    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        at_period_end: bool = True,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Cancel now, or at the end of the period (``INVALID_REQUEST`` while past due)."""
        return self._op(
            "cancel_subscription",
            {"subscription_id": subscription_id, "at_period_end": at_period_end},
            idempotency_key,
            lambda: self.billing.cancel(subscription_id, at_period_end=at_period_end).view(),
        )

    def change_subscription_plan(
        self,
        subscription_id: str,
        plan: Plan,
        *,
        proration: Proration = Proration.CREATE_PRORATIONS,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Move to ``plan`` now, prorated as ``proration`` says (see ``_mock_subscriptions``)."""
        proration = Proration(proration)
        return self._op(
            "change_subscription_plan",
            {"subscription_id": subscription_id, "plan": plan, "proration": proration},
            idempotency_key,
            lambda: self.billing.change_plan(subscription_id, plan, proration).view(),
        )

    def pause_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Stop charging renewals (active subscriptions only)."""
        return self._op(
            "pause_subscription",
            {"subscription_id": subscription_id},
            idempotency_key,
            lambda: self.billing.pause(subscription_id).view(),
        )

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Charge renewals again; a period that ended while paused renews now."""
        return self._op(
            "resume_subscription",
            {"subscription_id": subscription_id},
            idempotency_key,
            lambda: self.billing.resume(subscription_id).view(),
        )

    # -- test controls ----------------------------------------------------------------------

    def advance(self, delta: timedelta) -> list[Event]:
        """Send what is queued, move the clock by ``delta``; the events sent on the way.

        Everything that falls due happens at its moment, in order (renewals, retries,
        trial ends, cancellations at period end), each sending its webhooks then.
        """
        start = len(self.sent_events)
        self.deliver_pending()
        self.clock.advance(delta)
        return self.sent_events[start:]

    def complete_checkout(self, session_id: str) -> list[Event]:
        """The payer finishes checkout ``session_id``; the events sent.

        Payment: a completed payment (``checkout.completed``, ``payment.completed``).
        Subscription: a customer (unless given) with a saved card and the subscription
        (``checkout.completed``, then ``subscription.created``, ...). Setup: a saved card.
        """
        return self._control(lambda: self.billing.complete_checkout(session_id))

    def add_payment_method(
        self,
        customer_id: str,
        *,
        brand: str = "visa",
        last4: str = "4242",
        declines: bool = False,
        error_code: PaymentErrorCode = PaymentErrorCode.DECLINED,
    ) -> SavedPaymentMethod:
        """Save a card on ``customer_id``; ``declines=True``: every charge on it fails."""
        with self._ledger.lock:
            method = self.billing.add_method(
                customer_id, brand=brand, last4=last4, declines=declines, error_code=error_code
            )
        return method.view()

    def confirm_payment_method_setup(
        self, setup_id: str, *, declines: bool = False, last4: str = "4242"
    ) -> SavedPaymentMethod:
        """The payer completes setup ``setup_id``: a card is saved on its customer."""
        with self._ledger.lock:
            method = self.billing.confirm_setup(
                setup_id,
                brand="visa",
                last4=last4,
                declines=declines,
                error_code=PaymentErrorCode.DECLINED,
            )
        return method.view()

    def fail_next_renewal(
        self,
        subscription_id: str,
        *,
        error_code: PaymentErrorCode = PaymentErrorCode.DECLINED,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` charges of the subscription fail with ``error_code``."""
        with self._ledger.lock:
            self.billing.fail_next_renewal(subscription_id, PaymentErrorCode(error_code), times)

    @property
    def retry_schedule(self) -> tuple[timedelta, ...]:
        """When a failed renewal is retried, from when it was due (1, 3 and 5 days)."""
        return self.billing.retry_schedule

    @retry_schedule.setter
    def retry_schedule(self, schedule: tuple[timedelta, ...]) -> None:
        steps = tuple(schedule)
        if any(b <= a for a, b in zip((timedelta(0), *steps), steps, strict=False)):
            raise ValueError(f"retry_schedule must be increasing positive delays: {steps}")
        self.billing.retry_schedule = steps

    def open_dispute(
        self, transaction_id: str, *, amount: Money | None = None, reason: str = "fraudulent"
    ) -> str:
        """The payer disputes a completed payment (or a paid invoice): the dispute id.

        Sends ``dispute.opened``; ``amount`` defaults to what was not refunded.
        """
        if Capability.DISPUTES not in self.capabilities:
            raise self._unsupported("open_dispute")
        units = None if amount is None else amount.to_minor_units(self.currency_rules)
        found: list[str] = []
        self._control(
            lambda: found.append(self.billing.open_dispute(transaction_id, units, reason).id)
        )
        return found[0]

    def close_dispute(
        self, dispute_id: str, *, outcome: DisputeOutcome = DisputeOutcome.LOST
    ) -> list[Event]:
        """The dispute is decided: ``dispute.closed`` with ``outcome``; the events sent."""
        if Capability.DISPUTES not in self.capabilities:
            raise self._unsupported("close_dispute")
        return self._control(lambda: self.billing.close_dispute(dispute_id, outcome))

    def _control(self, action: Callable[[], object]) -> list[Event]:
        start = len(self.sent_events)
        with self._ledger.lock:
            self.billing.run_subscriptions()
            action()
        self._auto_flush()
        return self.sent_events[start:]

    # -- webhooks ---------------------------------------------------------------------------

    @property
    def pending_webhooks(self) -> list[bytes]:
        """The bodies of webhooks queued but not sent yet (a copy)."""
        return list(self._pending)

    def deliver_pending(self) -> list[Event]:
        """Sign and send the queued webhooks in order; the standard events they stood for.

        A delivery that fails (a listener raised, the target answered non-2xx) stays queued,
        with the ones after it, and the error propagates: the provider would retry it.
        """
        with self._ledger.lock:
            self.billing.run_subscriptions()
        if self._delivering:  # a listener's call: the running loop sends what it queued
            return []
        sent: list[Event] = []
        self._delivering = True
        try:
            while self._pending:
                body = self._pending[0]
                delivery = self.webhook_delivery(body)
                self._send(delivery)
                self._pending.pop(0)
                events = self.translate_webhook(json.loads(body))
                self.sent_webhooks.append(delivery)
                self.sent_events.extend(events)
                sent.extend(events)
        finally:
            self._delivering = False
        return sent

    def drain_webhooks(self) -> list[WebhookDelivery]:
        """Take the queued webhooks instead of sending them: signed, for the test to send.

        They count as sent (``sent_webhooks``, ``sent_events``); use it with
        ``auto_deliver = False`` to hand deliveries to a pipeline of your own.
        """
        with self._ledger.lock:
            self.billing.run_subscriptions()
            bodies, self._pending[:] = list(self._pending), []
        deliveries = [self.webhook_delivery(body) for body in bodies]
        for delivery in deliveries:
            self.sent_webhooks.append(delivery)
            self.sent_events.extend(self.translate_webhook(json.loads(delivery.body)))
        return deliveries

    def translate_webhook(self, payload: Mapping[str, Any]) -> list[Event]:
        """The payment events of a mock webhook, or the billing event it stands for."""
        billing = billing_events_from_payload(payload, self._plugin_name())
        return super().translate_webhook(payload) + [data.to_event() for data in billing]

    def _send(self, delivery: WebhookDelivery) -> None:
        target = self.webhook_target
        if target is None and self._event_dispatcher is None:  # no manager: verify only
            self.receive_webhook(delivery.headers, delivery.body)
            return
        if target is None:
            self.process_webhook(delivery.headers, delivery.body)
            return
        answer = target(delivery)
        status = getattr(answer, "status", None)
        if isinstance(status, int) and not 200 <= status < 300:
            raise RuntimeError(
                f"mock webhook {delivery.description or 'delivery'} answered {status}: "
                "left queued (deliver_pending sends it again)"
            )

    def _auto_flush(self) -> None:
        if self.auto_deliver:
            self.deliver_pending()

    def _queue_billing(self, event_type: BillingEventType, data: dict[str, Any]) -> None:
        if Capability.WEBHOOKS not in self.capabilities:  # a provider without webhooks
            return
        created = int(self.clock.time())
        self._pending.append(billing_body(self._new_id("evt"), event_type, created, data))

    def _queue_payment(
        self, event_type: PaymentEventType, payment: MockPayment, **data: Any
    ) -> None:
        """Queue a payment webhook about ``payment`` (``data``: its amount, a refund id...)."""
        if Capability.WEBHOOKS not in self.capabilities:
            return
        values: dict[str, Any] = {
            "amount": payment.amount,
            "currency": payment.currency,
            "subscription_id": payment.subscription_id,
            "user_id": payment.user_id,
            **data,
        }
        self._pending.append(self.webhook_body(event_type, transaction_id=payment.id, **values))
