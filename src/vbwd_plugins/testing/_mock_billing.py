"""The mock provider's recurring billing: customers, saved methods, checkout and disputes.

:class:`MockBilling` adds these to :class:`~._mock_subscriptions.MockSubscriptions` and is what
the mock's clock watches. Operations raise :class:`MockProviderError` (mapped to
:class:`~vbwd_plugins.payments.BillingResult` failures by the contract's guard) and change
nothing when they fail. What they cause is *sent* as webhooks: queued at the moment it
happens, delivered by ``flush`` (the mock plugin's ``deliver_pending``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final

from vbwd_plugins.payments._billing import (
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    PaymentMethodSetup,
    SubscriptionRequest,
)
from vbwd_plugins.payments._billing_events import BillingEventType, DisputeOutcome
from vbwd_plugins.payments._events import PaymentEventType
from vbwd_plugins.payments._results import PaymentErrorCode, PaymentStatus
from vbwd_plugins.testing._mock_billing_model import MockCheckout, MockDispute, MockSavedMethod
from vbwd_plugins.testing._mock_clock import MockClock
from vbwd_plugins.testing._mock_model import MockLedger, MockPayment
from vbwd_plugins.testing._mock_subscriptions import Emit, MockSubscriptions, invalid, not_found

__all__ = ["CHECKOUT_LIFETIME", "MockBilling"]

#: How long a hosted checkout stays open (Stripe's default).
CHECKOUT_LIFETIME: Final = timedelta(hours=24)
#: Where the mock "hosts" its pages (an ``.invalid`` domain: nothing answers there).
_PAGES: Final = "https://mock-provider.invalid"


class MockBilling(MockSubscriptions):
    """All the recurring-billing state of one mock provider."""

    def __init__(
        self,
        *,
        clock: MockClock,
        ledger: MockLedger,
        new_id: Callable[[str], str],
        emit: Emit,
        emit_payment: Callable[[PaymentEventType, MockPayment], None],
        flush: Callable[[], object],
    ) -> None:
        super().__init__(clock=clock, ledger=ledger, new_id=new_id, emit=emit)
        self._emit_payment = emit_payment
        self._flush = flush
        self.customers: dict[str, Customer] = {}
        self.setups: dict[str, str] = {}
        self.checkouts: dict[str, MockCheckout] = {}
        self.disputes: dict[str, MockDispute] = {}
        clock.watch(self)

    def reset(self) -> None:
        """Forget every customer, method, plan, subscription, checkout and dispute."""
        for table in (
            self.customers,
            self.setups,
            self.checkouts,
            self.disputes,
            self.plans,
            self.methods,
            self.subscriptions,
        ):
            table.clear()

    # -- the clock's watcher ------------------------------------------------------------

    def run_due(self) -> None:
        """Do what is due by the clock's time, then send its webhooks."""
        with self.ledger.lock:
            self.run_subscriptions()
        self._flush()

    # -- customers and saved methods ----------------------------------------------------

    def customer(self, customer_id: str) -> Customer:
        """The customer ``customer_id`` (``NOT_FOUND`` otherwise)."""
        found = self.customers.get(customer_id)
        if found is None:
            raise not_found("customer", customer_id)
        return found

    def create_customer(
        self,
        email: str | None,
        name: str | None,
        user_id: str | None,
        metadata: Mapping[str, str] | None,
    ) -> Customer:
        """A new customer carrying the host's ``user_id``."""
        customer = Customer(
            id=self._new_id("cus"),
            email=email,
            name=name,
            user_id=user_id,
            metadata=dict(metadata or {}),
        )
        self.customers[customer.id] = customer
        return customer

    def start_setup(self, customer_id: str, success_url: str | None) -> PaymentMethodSetup:
        """A pending setup; :meth:`confirm_setup` plays the payer finishing it."""
        self.customer(customer_id)
        setup_id = self._new_id("seti")
        self.setups[setup_id] = customer_id
        return PaymentMethodSetup(
            id=setup_id,
            customer_id=customer_id,
            url=f"{_PAGES}/setup/{setup_id}" if success_url is not None else None,
            client_secret=f"{setup_id}_secret_mock",
        )

    def add_method(
        self,
        customer_id: str,
        *,
        brand: str,
        last4: str,
        declines: bool,
        error_code: PaymentErrorCode,
    ) -> MockSavedMethod:
        """Save a card on ``customer_id`` (``declines``: every charge on it fails)."""
        self.customer(customer_id)
        method = MockSavedMethod(
            self._new_id("pm"), customer_id, brand, last4, declines, PaymentErrorCode(error_code)
        )
        self.methods[method.id] = method
        return method

    def confirm_setup(self, setup_id: str, **card: Any) -> MockSavedMethod:
        """The payer completed setup ``setup_id``: a card is saved on its customer."""
        customer_id = self.setups.pop(setup_id, None)
        if customer_id is None:
            raise not_found("pending payment method setup", setup_id)
        return self.add_method(customer_id, **card)

    def list_methods(self, customer_id: str) -> tuple[MockSavedMethod, ...]:
        """The methods saved on ``customer_id``, oldest first."""
        self.customer(customer_id)
        return tuple(m for m in self.methods.values() if m.customer_id == customer_id)

    def detach(self, payment_method_id: str) -> MockSavedMethod:
        """Remove a saved method."""
        method = self.methods.pop(payment_method_id, None)
        if method is None:
            raise not_found("payment method", payment_method_id)
        return method

    # -- hosted checkout ----------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """An open session; :meth:`complete_checkout` plays the payer finishing it."""
        if request.customer_id is not None:
            self.customer(request.customer_id)
        if request.plan is not None:
            self.ensure_plan(request.plan)
        session = MockCheckout(self._new_id("cs"), request, self.clock.now() + CHECKOUT_LIFETIME)
        self.checkouts[session.id] = session
        return CheckoutSession(
            id=session.id,
            url=f"{_PAGES}/checkout/{session.id}",
            mode=request.mode,
            expires_at=session.expires_at,
        )

    def complete_checkout(self, session_id: str) -> None:
        """The payer finished the session: pay, subscribe or save, then ``checkout.completed``."""
        session = self.checkouts.get(session_id)
        if session is None:
            raise not_found("checkout session", session_id)
        if session.completed:
            raise invalid(f"Checkout session {session_id} is already completed")
        if self.clock.now() >= session.expires_at:
            raise invalid(f"Checkout session {session_id} expired at {session.expires_at}")
        request = session.request
        data: dict[str, Any] = {
            "checkout_session_id": session.id,
            "mode": request.mode,
            "customer_id": request.customer_id,
            "subscription_id": request.subscription_id,
            "user_id": request.user_id,
            "metadata": dict(request.metadata),
        }
        follow: list[tuple[BillingEventType, dict[str, Any]]] = []
        payment: MockPayment | None = None
        if request.mode is CheckoutMode.PAYMENT:
            payment = self._checkout_payment(session)
            data.update(transaction_id=payment.id, amount=payment.amount, currency=payment.currency)
        else:  # the payer's card is saved (on a customer created for a subscription)
            customer_id = (
                request.customer_id or self.create_customer(None, None, request.user_id, None).id
            )
            data["customer_id"] = customer_id
            method = self.add_method(
                customer_id,
                brand="visa",
                last4="4242",
                declines=False,
                error_code=PaymentErrorCode.DECLINED,
            )
        if request.mode is CheckoutMode.SUBSCRIPTION:
            assert request.plan is not None
            emit, self._emit = self._emit, lambda kind, values: follow.append((kind, values))
            try:  # its subscription.* webhooks follow checkout.completed, as Stripe's do
                sub = self.subscribe(
                    SubscriptionRequest(
                        plan=request.plan,
                        customer_id=data["customer_id"],
                        quantity=request.quantity,
                        trial_days=request.effective_trial_days,
                        subscription_id=request.subscription_id,
                        user_id=request.user_id,
                        payment_method_id=method.id,
                        metadata=request.metadata,
                    ),
                    customer_known=True,
                )
            finally:
                self._emit = emit
            data["provider_subscription_id"] = sub.id
            if sub.trial_end is None:
                data.update(amount=sub.units, currency=sub.currency)
        session.completed = True
        self._emit(BillingEventType.CHECKOUT_COMPLETED, data)
        for kind, values in follow:
            self._emit(kind, values)
        if payment is not None:
            self._emit_payment(PaymentEventType.COMPLETED, payment)

    def _checkout_payment(self, session: MockCheckout) -> MockPayment:
        request = session.request
        assert request.amount is not None
        units = request.amount.to_minor_units() * request.quantity
        payment = MockPayment(
            id=self._new_id("pay"),
            amount=units,
            currency=request.amount.currency,
            subscription_id=request.subscription_id,
            user_id=request.user_id,
            manual=False,
            metadata={"mock_checkout": session.id, **request.metadata},
            status=PaymentStatus.COMPLETED,
            captured=units,
        )
        self.ledger.payments[payment.id] = payment
        return payment

    # -- disputes -----------------------------------------------------------------------

    def open_dispute(self, transaction_id: str, units: int | None, reason: str) -> MockDispute:
        """The payer disputes (part of) a completed payment: ``dispute.opened``."""
        payment = self.ledger.payments.get(transaction_id)
        if payment is None:
            raise not_found("payment", transaction_id)
        if payment.status not in (PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED):
            raise invalid(f"Payment {transaction_id} is {payment.status.value}: nothing to dispute")
        amount = payment.captured - payment.refunded if units is None else units
        if not 0 < amount <= payment.captured - payment.refunded:
            raise invalid(f"Cannot dispute {amount} of {transaction_id}")
        dispute = MockDispute(
            self._new_id("dp"),
            transaction_id,
            amount,
            payment.currency,
            reason,
            payment.subscription_id,
            payment.user_id,
        )
        self.disputes[dispute.id] = dispute
        self._emit(BillingEventType.DISPUTE_OPENED, _dispute_data(dispute))
        return dispute

    def close_dispute(self, dispute_id: str, outcome: DisputeOutcome) -> MockDispute:
        """The dispute is decided: ``dispute.closed`` with ``outcome``."""
        dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise not_found("dispute", dispute_id)
        if dispute.outcome is not None:
            raise invalid(f"Dispute {dispute_id} is already closed ({dispute.outcome.value})")
        dispute.outcome = DisputeOutcome(outcome)
        self._emit(
            BillingEventType.DISPUTE_CLOSED, {**_dispute_data(dispute), "outcome": dispute.outcome}
        )
        return dispute


def _dispute_data(dispute: MockDispute) -> dict[str, Any]:
    return {
        "dispute_id": dispute.id,
        "transaction_id": dispute.transaction_id,
        "amount": dispute.units,
        "currency": dispute.currency,
        "reason": dispute.reason,
        "subscription_id": dispute.subscription_id,
        "user_id": dispute.user_id,
    }
