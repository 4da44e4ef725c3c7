"""The mock provider's subscriptions: their lifecycle on the mock's clock, and its events.

Lifecycle (every moment is the :class:`MockClock`'s):

* **created** with a trial: ``TRIALING`` until ``trial_end`` (``subscription.created``,
  ``subscription.activated``); ``subscription.trial_will_end`` three days before it ends
  (at once for shorter trials). Without a trial the first period is charged at once.
* **renewal** at each period end: the plan's price times the quantity, plus or minus the
  prorations of plan changes, is charged; success sends ``subscription.renewed`` (amount,
  period start/end, the invoice id, which is also a refundable payment), and
  ``subscription.activated`` when it ends a trial or a past-due spell.
* **a failed charge** (a declining saved method, or :meth:`fail_next_renewal`) sends
  ``subscription.payment_failed`` (attempt, next retry) and, the first time,
  ``subscription.past_due``; it is retried at ``retry_schedule`` after it was first due
  (1, 3 and 5 days). When the last retry fails the subscription is **cancelled** at once
  (``subscription.cancelled``, ``at_period_end`` False), as Stripe's default dunning does.
* **cancel at period end**: nothing more is charged; ``subscription.cancelled``
  (``at_period_end`` True, ``ends_at`` the period end, the status still live) is sent when it
  is requested, and again (status ``CANCELLED``) when the period ends, as Stripe does
  (``customer.subscription.updated`` with ``cancel_at_period_end``, then ``.deleted``).
  Asking again changes nothing and sends nothing. Cancel now sends it once, at once.
* **pause**: no renewal is charged while paused; after a resume past the period end, a new
  period starts (and is charged) at the resume.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from vbwd_plugins.payments._billing import (
    Plan,
    Proration,
    ProviderPlan,
    SubscriptionRequest,
    SubscriptionStatus,
)
from vbwd_plugins.payments._billing_events import BillingEventType
from vbwd_plugins.payments._results import PaymentErrorCode, PaymentStatus
from vbwd_plugins.testing._mock_billing_model import (
    DEFAULT_RETRY_SCHEDULE,
    ENDED,
    MockInvoice,
    MockSavedMethod,
    MockSubscription,
    add_interval,
    prorate,
)
from vbwd_plugins.testing._mock_clock import MockClock
from vbwd_plugins.testing._mock_model import MockLedger, MockPayment, MockProviderError

__all__ = ["MockSubscriptions", "invalid", "not_found"]

#: Emit a webhook: the standard event name and its data (built at the clock's time).
Emit = Callable[[BillingEventType, dict[str, Any]], None]
_LIVE = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING})


def not_found(kind: str, ident: str) -> MockProviderError:
    """The error for an id the mock does not know."""
    return MockProviderError(PaymentErrorCode.NOT_FOUND, f"No such {kind}: {ident!r}")


def invalid(message: str) -> MockProviderError:
    """The error for a request the current state does not allow."""
    return MockProviderError(PaymentErrorCode.INVALID_REQUEST, message)


class MockSubscriptions:
    """Plans, saved methods and subscriptions of one mock, moved along by its clock."""

    def __init__(
        self, *, clock: MockClock, ledger: MockLedger, new_id: Callable[[str], str], emit: Emit
    ) -> None:
        self.clock = clock
        self.ledger = ledger
        self._new_id = new_id
        self._emit = emit
        #: When a failed renewal is retried, counted from when it was first due.
        self.retry_schedule: tuple[timedelta, ...] = DEFAULT_RETRY_SCHEDULE
        self.plans: dict[str, Plan] = {}
        self.methods: dict[str, MockSavedMethod] = {}
        self.subscriptions: dict[str, MockSubscription] = {}

    # -- plans -----------------------------------------------------------------------

    def ensure_plan(self, plan: Plan) -> ProviderPlan:
        """The mock's price for ``plan``: an id derived from the key and the price (idempotent)."""
        if plan.provider_plan_id is not None:
            known = self.plans.get(plan.provider_plan_id)
            if known is None:
                raise not_found("plan", plan.provider_plan_id)
            if (known.price, known.interval, known.interval_count) != (
                plan.price,
                plan.interval,
                plan.interval_count,
            ):
                raise invalid(
                    f"Plan {plan.provider_plan_id!r} bills {known.price}, not {plan.price}"
                )
            return ProviderPlan(
                plan_key=plan.key,
                provider_plan_id=plan.provider_plan_id,
                provider_product_id=f"mock_prod_{known.key}",
            )
        units = plan.price.to_minor_units()
        price_id = (
            f"mock_price_{plan.key}_{units}_{plan.price.currency.lower()}"
            f"_{plan.interval_count}{plan.interval.value}"
        )
        self.plans.setdefault(price_id, plan)
        return ProviderPlan(
            plan_key=plan.key,
            provider_plan_id=price_id,
            provider_product_id=f"mock_prod_{plan.key}",
        )

    # -- subscriptions -----------------------------------------------------------------

    def subscription(self, subscription_id: str) -> MockSubscription:
        """The subscription ``subscription_id`` (``NOT_FOUND`` otherwise)."""
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise not_found("subscription", subscription_id)
        return sub

    def subscribe(self, request: SubscriptionRequest, *, customer_known: bool) -> MockSubscription:
        """Create a subscription: trialing, or charged for its first period now."""
        if request.customer_id is not None and not customer_known:
            raise not_found("customer", request.customer_id)
        method = request.payment_method_id
        if method is not None and (
            method not in self.methods or self.methods[method].customer_id != request.customer_id
        ):
            raise not_found("payment method of this customer", method)
        plan_id = self.ensure_plan(request.plan).provider_plan_id
        now = self.clock.now()
        trial = request.effective_trial_days
        sub = MockSubscription(
            id=self._new_id("sub"),
            plan=request.plan,
            provider_plan_id=plan_id,
            customer_id=request.customer_id,
            quantity=request.quantity,
            status=SubscriptionStatus.TRIALING if trial else SubscriptionStatus.PENDING,
            period_start=now,
            period_end=now + timedelta(days=trial),
            created_at=now,
            trial_end=now + timedelta(days=trial) if trial else None,
            subscription_id=request.subscription_id,
            user_id=request.user_id,
            payment_method_id=method,
            metadata=dict(request.metadata),
        )
        if not trial:
            invoice = self._invoice(sub, now)
            problem = self._charge_problem(sub)
            if problem is not None:  # like Stripe's payment_behavior=error_if_incomplete
                raise MockProviderError(problem, f"The first charge of {sub.units} was declined")
            self.subscriptions[sub.id] = sub
            self._emit_sub(BillingEventType.SUBSCRIPTION_CREATED, sub)
            self._paid(sub, invoice)
        else:
            self.subscriptions[sub.id] = sub
            self._emit_sub(BillingEventType.SUBSCRIPTION_CREATED, sub)
            self._emit_sub(BillingEventType.SUBSCRIPTION_ACTIVATED, sub)
        return sub

    def cancel(self, subscription_id: str, *, at_period_end: bool) -> MockSubscription:
        """Cancel now, or mark it to end with its period (see the module docstring)."""
        sub = self.subscription(subscription_id)
        if sub.status in ENDED:
            raise invalid(f"Subscription {sub.id} is already {sub.status.value}")
        if not at_period_end:
            self._end(sub, at_period_end=False)
        elif sub.status is SubscriptionStatus.PAST_DUE:
            raise invalid(f"Subscription {sub.id} is past due: cancel it now (at_period_end=False)")
        elif not sub.cancel_at_period_end:  # announced now, like Stripe's and PayPal's
            sub.cancel_at_period_end = True
            self._emit_sub(
                BillingEventType.SUBSCRIPTION_CANCELLED,
                sub,
                at_period_end=True,
                ends_at=sub.period_end,
            )
        return sub

    def change_plan(
        self, subscription_id: str, plan: Plan, proration: Proration
    ) -> MockSubscription:
        """Move to ``plan`` now; prorate the rest of the period as ``proration`` says.

        ``CREATE_PRORATIONS``: the unused time of the old price is credited and the new
        price's charged on the next invoice; ``ALWAYS_INVOICE``: the same difference (plus
        any earlier balance) is charged now when positive, credited to the next invoice
        otherwise; ``NONE``: the new price applies from the next period. The period stays.
        """
        sub = self.subscription(subscription_id)
        if sub.status not in _LIVE:
            raise invalid(f"Subscription {sub.id} is {sub.status.value}: cannot change its plan")
        if plan.price.currency != sub.currency:
            raise invalid(f"Plan {plan.key!r} bills {plan.price.currency}, not {sub.currency}")
        new_id = self.ensure_plan(plan).provider_plan_id
        if new_id == sub.provider_plan_id:
            raise invalid(f"Subscription {sub.id} is already on {new_id}")
        now = self.clock.now()
        net = 0
        if sub.status is SubscriptionStatus.ACTIVE and proration is not Proration.NONE:
            remaining, period = sub.period_end - now, sub.period_end - sub.period_start
            new_units = plan.price.to_minor_units() * sub.quantity
            net = prorate(new_units, remaining, period) - prorate(sub.units, remaining, period)
        due = sub.balance + net
        invoice: MockInvoice | None = None
        if proration is Proration.ALWAYS_INVOICE and due > 0:
            invoice = MockInvoice(self._new_id("in"), due, sub.currency, now, sub.period_end, now)
            problem = self._charge_problem(sub)
            if problem is not None:
                raise MockProviderError(problem, f"The proration charge of {due} was declined")
            due = 0
        previous = sub.provider_plan_id
        sub.plan, sub.provider_plan_id, sub.balance = plan, new_id, due
        self._emit_sub(BillingEventType.SUBSCRIPTION_UPDATED, sub, previous_plan_id=previous)
        if invoice is not None:
            self._record_payment(sub, invoice)
            self._emit_renewed(sub, invoice)
        return sub

    def pause(self, subscription_id: str) -> MockSubscription:
        """Stop charging renewals (an ``ACTIVE`` subscription only)."""
        sub = self.subscription(subscription_id)
        if sub.status is not SubscriptionStatus.ACTIVE:
            raise invalid(f"Subscription {sub.id} is {sub.status.value}: only active ones pause")
        sub.status = SubscriptionStatus.PAUSED
        self._emit_sub(BillingEventType.SUBSCRIPTION_PAUSED, sub)
        return sub

    def resume(self, subscription_id: str) -> MockSubscription:
        """Charge renewals again; a period that ended while paused renews now."""
        sub = self.subscription(subscription_id)
        if sub.status is not SubscriptionStatus.PAUSED:
            raise invalid(f"Subscription {sub.id} is {sub.status.value}, not paused")
        sub.status = SubscriptionStatus.ACTIVE
        sub.period_end = max(sub.period_end, self.clock.now())
        self._emit_sub(BillingEventType.SUBSCRIPTION_RESUMED, sub)
        return sub

    def fail_next_renewal(
        self, subscription_id: str, error_code: PaymentErrorCode, times: int
    ) -> None:
        """Make the next ``times`` charges of the subscription fail with ``error_code``."""
        self.subscription(subscription_id).failures.extend([error_code] * times)

    # -- the clock ----------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """The earliest moment any subscription acts by itself."""
        moments = [m for sub in self.subscriptions.values() if (m := sub.next_due()) is not None]
        return min(moments) if moments else None

    def run_subscriptions(self) -> None:
        """Do everything due by now, earliest first."""
        now = self.clock.now()
        while True:
            due = [
                (when, sub.id)
                for sub in self.subscriptions.values()
                if (when := sub.next_due()) is not None and when <= now
            ]
            if not due:
                return
            self._step(self.subscriptions[min(due)[1]], now)

    def _step(self, sub: MockSubscription, now: datetime) -> None:
        warn = sub.trial_warning_at()
        if warn is not None and warn <= now:
            sub.trial_warned = True
            self._emit_sub(
                BillingEventType.SUBSCRIPTION_TRIAL_WILL_END, sub, trial_end=sub.trial_end
            )
        elif sub.status is SubscriptionStatus.PAST_DUE:
            assert sub.open_invoice is not None
            self._attempt(sub, sub.open_invoice)
        elif sub.cancel_at_period_end:
            self._end(sub, at_period_end=True)
        else:
            self._attempt(sub, self._invoice(sub, sub.period_end))

    # -- charging -----------------------------------------------------------------------

    def _invoice(self, sub: MockSubscription, start: datetime) -> MockInvoice:
        """The next period's invoice, with the balance of prorations applied."""
        end = add_interval(start, sub.plan.interval, sub.plan.interval_count)
        total = sub.units + sub.balance
        sub.balance = min(total, 0)  # a credit larger than the price carries over
        return MockInvoice(self._new_id("in"), max(total, 0), sub.currency, start, end, start)

    def _charge_problem(self, sub: MockSubscription) -> PaymentErrorCode | None:
        if sub.failures:
            return sub.failures.pop(0)
        method = self.methods.get(sub.payment_method_id or "")
        if method is None and sub.customer_id is not None:
            method = next(
                (m for m in self.methods.values() if m.customer_id == sub.customer_id), None
            )
        return method.error_code if method is not None and method.declines else None

    def _attempt(self, sub: MockSubscription, invoice: MockInvoice) -> None:
        problem = self._charge_problem(sub) if invoice.units else None
        if problem is None:
            self._paid(sub, invoice)
            return
        sub.open_invoice = invoice
        sub.attempt += 1
        retry = sub.attempt - 1
        sub.next_retry_at = (
            invoice.due + self.retry_schedule[retry] if retry < len(self.retry_schedule) else None
        )
        was = sub.status
        if sub.next_retry_at is not None:
            sub.status = SubscriptionStatus.PAST_DUE
        self._emit_sub(
            BillingEventType.SUBSCRIPTION_PAYMENT_FAILED,
            sub,
            amount=invoice.units,
            currency=invoice.currency,
            attempt=sub.attempt,
            next_retry_at=sub.next_retry_at,
            invoice_id=invoice.id,
            error_code=problem,
            error_message=f"Mock charge of {invoice.units} failed: {problem.value}",
        )
        if sub.next_retry_at is None:
            self._end(sub, at_period_end=False)
        elif was is not SubscriptionStatus.PAST_DUE:
            self._emit_sub(BillingEventType.SUBSCRIPTION_PAST_DUE, sub)

    def _paid(self, sub: MockSubscription, invoice: MockInvoice) -> None:
        was = sub.status
        sub.status = SubscriptionStatus.ACTIVE
        sub.period_start, sub.period_end = invoice.period_start, invoice.period_end
        sub.open_invoice, sub.attempt, sub.next_retry_at = None, 0, None
        self._record_payment(sub, invoice)
        self._emit_renewed(sub, invoice)
        if was is not SubscriptionStatus.ACTIVE:
            self._emit_sub(BillingEventType.SUBSCRIPTION_ACTIVATED, sub)

    def _record_payment(self, sub: MockSubscription, invoice: MockInvoice) -> None:
        """A paid invoice is a completed payment: refundable and disputable by its id."""
        if invoice.units <= 0:
            return
        payment = MockPayment(
            id=invoice.id,
            amount=invoice.units,
            currency=invoice.currency,
            subscription_id=sub.subscription_id,
            user_id=sub.user_id,
            manual=False,
            metadata={"mock_subscription": sub.id},
            status=PaymentStatus.COMPLETED,
            captured=invoice.units,
        )
        self.ledger.payments[payment.id] = payment

    def _end(self, sub: MockSubscription, *, at_period_end: bool) -> None:
        ends_at = sub.period_end if at_period_end else self.clock.now()
        sub.status, sub.open_invoice, sub.next_retry_at = SubscriptionStatus.CANCELLED, None, None
        if not at_period_end:
            sub.period_end = min(sub.period_end, ends_at)
        self._emit_sub(
            BillingEventType.SUBSCRIPTION_CANCELLED,
            sub,
            at_period_end=at_period_end,
            ends_at=ends_at,
        )

    # -- events -------------------------------------------------------------------------

    def _emit_renewed(self, sub: MockSubscription, invoice: MockInvoice) -> None:
        self._emit_sub(
            BillingEventType.SUBSCRIPTION_RENEWED,
            sub,
            amount=invoice.units,
            currency=invoice.currency,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            invoice_id=invoice.id,
        )

    def _emit_sub(self, event_type: BillingEventType, sub: MockSubscription, **extra: Any) -> None:
        data: dict[str, Any] = {
            "provider_subscription_id": sub.id,
            "status": sub.status,
            "provider_plan_id": sub.provider_plan_id,
            "customer_id": sub.customer_id,
            "current_period_end": sub.period_end,
            "subscription_id": sub.subscription_id,
            "user_id": sub.user_id,
            **extra,
        }
        self._emit(event_type, data)
