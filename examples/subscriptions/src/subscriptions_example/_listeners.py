"""The standard billing events -> the host's subscriptions, as ``docs/recurring-billing.md`` says.

A row is found by the host's ``subscription_id`` the provider carried through, else by the
provider's ``provider_subscription_id`` (or checkout session id) stored at signup and
checkout; a refund or a dispute by the payment it names. The keyed write and the ordering
rules are in :mod:`._listener_base`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vbwd_plugins import (
    Event,
    EventDispatcher,
)
from vbwd_plugins.payments import (
    CheckoutCompleted,
    CheckoutMode,
    DisputeClosed,
    DisputeEventData,
    DisputeOpened,
    DisputeOutcome,
    PaymentRefunded,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPastDue,
    SubscriptionPaused,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionResumed,
    SubscriptionStatus,
    SubscriptionTrialWillEnd,
    SubscriptionUpdated,
)

from ._db import Tx
from ._listener_base import (
    ENDED,
    LISTENER_PREFIX,
    ListenerBase,
    Outcome,
    ignored,
    later,
    may_set_status,
    settled,
)
from ._model import Dispute, Status, Subscription, iso, money

__all__ = ["LISTENER_PREFIX", "BillingListeners"]


class BillingListeners(ListenerBase):
    """One listener per standard event the host acts on (see the host guide's table)."""

    def subscribe(self, dispatcher: EventDispatcher) -> None:
        """Add every listener, each with a stable id (deliveries name their listener by it)."""
        routes: dict[str, Callable[[Event], None]] = {
            "checkout.completed": self.on_checkout_completed,
            "subscription.created": self.on_created,
            "subscription.activated": self.on_activated,
            "subscription.renewed": self.on_renewed,
            "subscription.payment_failed": self.on_payment_failed,
            "subscription.past_due": self.on_past_due,
            "subscription.trial_will_end": self.on_trial_will_end,
            "subscription.updated": self.on_updated,
            "subscription.paused": self.on_paused,
            "subscription.resumed": self.on_resumed,
            "subscription.cancelled": self.on_cancelled,
            "payment.refunded": self.on_refunded,
            "dispute.opened": self.on_dispute_opened,
            "dispute.closed": self.on_dispute_closed,
        }
        for name, callback in routes.items():
            dispatcher.add_listener(name, callback, id=f"{LISTENER_PREFIX}:{name}")

    # -- checkout and creation ---------------------------------------------------------

    def on_checkout_completed(self, event: Event) -> None:
        """Store the provider's subscription and customer ids; nothing is paid yet in a trial."""
        data = self._data(event, CheckoutCompleted)

        def apply(tx: Tx) -> Outcome:
            if data.mode is not CheckoutMode.SUBSCRIPTION:
                return ignored(f"a {data.mode.value} checkout")
            sub = tx.find(
                data.provider,
                subscription_id=data.subscription_id,
                provider_subscription_id=data.provider_subscription_id,
                checkout_session_id=data.checkout_session_id,
            )
            if sub is None:
                return ignored(f"unknown checkout {data.checkout_session_id}")
            tx.update(
                sub.id,
                provider_subscription_id=sub.provider_subscription_id
                or data.provider_subscription_id,
                customer_id=sub.customer_id or data.customer_id,
            )
            return sub.id, "checkout completed"

        self._handle(event, data, apply)

    def on_created(self, event: Event) -> None:
        """Store the provider's id if the row does not have it yet."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionCreated) -> Outcome:
            tx.update(sub.id, **self._ids(sub, data))
            return sub.id, "created at the provider"

        self._on_subscription(event, SubscriptionCreated, change)

    # -- access --------------------------------------------------------------------------

    def on_activated(self, event: Event) -> None:
        """Grant access, ``trialing`` or ``active``, to ``current_period_end`` (or recovered)."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionActivated) -> Outcome:
            paid_until = later(sub.paid_until, data.current_period_end)
            changes: dict[str, Any] = {**self._ids(sub, data), "paid_until": paid_until}
            if not may_set_status(sub, data.occurred_at):
                tx.update(sub.id, **changes)
                return sub.id, f"kept {sub.status.value}"
            status = (
                Status.TRIALING if data.status is SubscriptionStatus.TRIALING else Status.ACTIVE
            )
            if sub.cancel_set_at is not None and data.occurred_at > sub.cancel_set_at:
                # Active again after the cancellation was scheduled: it was withdrawn.
                changes.update(cancel_at_period_end=False, cancel_set_at=None, ends_at=None)
            if status is Status.ACTIVE:
                changes.update(settled(sub, data.occurred_at))
            tx.update(sub.id, **changes, status=status, status_at=data.occurred_at)
            return sub.id, f"{status.value} until {iso(paid_until)}"

        self._on_subscription(event, SubscriptionActivated, change)

    def on_renewed(self, event: Event) -> None:
        """Extend access to ``period_end`` and record the payment for refunds and disputes."""
        data = self._data(event, SubscriptionRenewed)
        period_end = data.period_end or data.current_period_end or self._period_end_of(data)
        record = data.amount > 0 and data.invoice_id is not None
        transaction_id = self._transaction_of(data.provider, data.invoice_id) if record else None

        def apply(tx: Tx) -> Outcome:
            sub = tx.find(
                data.provider,
                subscription_id=data.subscription_id,
                provider_subscription_id=data.provider_subscription_id,
            )
            if sub is None:
                return ignored(f"unknown subscription {data.provider_subscription_id}")
            paid = f"{money(data.amount, data.currency)} {data.currency}"
            if record and data.invoice_id is not None:
                tx.add_payment(
                    sub.id,
                    data.provider,
                    data.invoice_id,
                    transaction_id,
                    data.amount,
                    data.currency,
                    period_end,
                    data.occurred_at,
                )
            paid_until = later(sub.paid_until, period_end)
            changes: dict[str, Any] = {**self._ids(sub, data), "paid_until": paid_until}
            # A trial's invoice of 0 extends nothing but the trial; money makes it active.
            if data.amount > 0:
                changes.update(settled(sub, data.occurred_at))
                if may_set_status(sub, data.occurred_at):
                    changes.update(status=Status.ACTIVE, status_at=data.occurred_at)
            tx.update(sub.id, **changes)
            return sub.id, f"paid {paid} until {iso(paid_until)}"

        self._handle(event, data, apply)

    def on_payment_failed(self, event: Event) -> None:
        """Count the failure and remember the next retry; access lasts until ``paid_until``."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionPaymentFailed) -> Outcome:
            retry = iso(data.next_retry_at) if data.next_retry_at else "none"
            outcome = f"payment failed (attempt {data.attempt}, next retry {retry})"
            if sub.last_paid_at is not None and data.occurred_at < sub.last_paid_at:
                return sub.id, f"{outcome}; paid since"
            latest = sub.last_failed_at is None or data.occurred_at >= sub.last_failed_at
            tx.update(
                sub.id,
                failed_payments=sub.failed_payments + 1,
                next_retry_at=data.next_retry_at if latest else sub.next_retry_at,
                last_failed_at=later(sub.last_failed_at, data.occurred_at),
            )
            # Here a real service e-mails the payer: "update your payment method".
            return sub.id, outcome

        self._on_subscription(event, SubscriptionPaymentFailed, change)

    def on_past_due(self, event: Event) -> None:
        """Mark it ``past_due``: access lasts the grace period past ``paid_until``."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionPastDue) -> Outcome:
            if not may_set_status(sub, data.occurred_at):
                return sub.id, f"kept {sub.status.value}"
            tx.update(sub.id, status=Status.PAST_DUE, status_at=data.occurred_at)
            return sub.id, Status.PAST_DUE.value

        self._on_subscription(event, SubscriptionPastDue, change)

    def on_trial_will_end(self, event: Event) -> None:
        """Remind the payer before the trial ends (here: a ledger line)."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionTrialWillEnd) -> Outcome:
            return sub.id, f"trial ends {iso(data.trial_end or data.current_period_end)}"

        self._on_subscription(event, SubscriptionTrialWillEnd, change)

    def on_updated(self, event: Event) -> None:
        """The plan changed: follow ``provider_plan_id`` to the host's plan."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionUpdated) -> Outcome:
            key = self.catalog.plan_of(data.provider, data.provider_plan_id)
            if key is None:
                tx.update(sub.id, provider_plan_id=data.provider_plan_id)
                return sub.id, f"plan {data.provider_plan_id} is not one of ours"
            price = self.catalog.plans[key].price
            tx.update(
                sub.id,
                plan=key,
                amount=price.to_minor_units(),
                currency=price.currency,
                provider_plan_id=data.provider_plan_id,
            )
            return sub.id, f"plan {key}"

        self._on_subscription(event, SubscriptionUpdated, change)

    def on_paused(self, event: Event) -> None:
        """Suspend access while collection is paused."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionPaused) -> Outcome:
            if not may_set_status(sub, data.occurred_at):
                return sub.id, f"kept {sub.status.value}"
            tx.update(sub.id, status=Status.PAUSED, status_at=data.occurred_at)
            return sub.id, Status.PAUSED.value

        self._on_subscription(event, SubscriptionPaused, change)

    def on_resumed(self, event: Event) -> None:
        """Restore access when collection resumes."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionResumed) -> Outcome:
            if sub.status is not Status.PAUSED or not may_set_status(sub, data.occurred_at):
                return sub.id, f"kept {sub.status.value}"
            tx.update(sub.id, status=Status.ACTIVE, status_at=data.occurred_at)
            return sub.id, Status.ACTIVE.value

        self._on_subscription(event, SubscriptionResumed, change)

    def on_cancelled(self, event: Event) -> None:
        """At period end: access until ``ends_at``, no renewal. Otherwise: access ends now."""

        def change(tx: Tx, sub: Subscription, data: SubscriptionCancelled) -> Outcome:
            if sub.status in (Status.REVOKED, Status.FAILED):
                return sub.id, f"kept {sub.status.value}"
            if data.at_period_end:
                ends_at = data.ends_at or data.current_period_end or sub.paid_until
            else:
                ends_at = data.ends_at or data.occurred_at
            changes: dict[str, Any] = {}
            if sub.status is not Status.CANCELLED or sub.ends_at is None:
                changes["ends_at"] = ends_at
            if data.at_period_end:
                changes.update(
                    cancel_at_period_end=True,
                    cancel_set_at=later(sub.cancel_set_at, data.occurred_at),
                )
            if data.status in ENDED or not data.at_period_end:
                if sub.status is not Status.CANCELLED:
                    changes.update(status=Status.CANCELLED, status_at=data.occurred_at)
                state = "cancelled"
            else:
                state = "cancels at period end"
            tx.update(sub.id, **changes)
            return sub.id, f"{state}, access until {iso(changes.get('ends_at', sub.ends_at))}"

        self._on_subscription(event, SubscriptionCancelled, change)

    # -- refunds and disputes ----------------------------------------------------------

    def on_refunded(self, event: Event) -> None:
        """Record the refund (``amount`` is this refund's); access is unchanged by policy."""
        data = self._data(event, PaymentRefunded)

        def apply(tx: Tx) -> Outcome:
            payment = tx.payment(data.provider, data.transaction_id)
            if data.refund_id is not None:
                requested = tx.refund(data.provider, data.refund_id)
            elif payment is not None:  # no refund id: a refund we asked for, of that amount
                requested = tx.requested_refund(payment.id, data.amount)
            else:
                requested = None
            if requested is not None:
                if requested.status == "refunded":
                    return requested.subscription_id, "refund recorded before"
                tx.set_refund(requested.id, amount=data.amount, status="refunded")
                if requested.payment_id is not None:
                    tx.add_refunded(requested.payment_id, data.amount)
                return requested.subscription_id, f"refunded {money(data.amount, data.currency)}"
            subscription_id = payment.subscription_id if payment else None
            if subscription_id is None and data.subscription_id is not None:
                found = tx.find(data.provider, subscription_id=data.subscription_id)
                subscription_id = found.id if found else None
            if subscription_id is None:
                return ignored(f"unknown payment {data.transaction_id}")
            tx.add_refund(
                subscription_id,
                payment.id if payment else None,
                data.provider,
                data.refund_id,
                data.amount,
                data.currency,
                "refunded",
            )
            if payment is not None:
                tx.add_refunded(payment.id, data.amount)
            return subscription_id, f"refunded {money(data.amount, data.currency)}"

        self._handle(event, data, apply)

    @staticmethod
    def _disputed(tx: Tx, data: DisputeEventData) -> Subscription | None:
        """The subscription whose payment is disputed (by the payment, else the host's id)."""
        payment = tx.payment(data.provider, data.transaction_id)
        if payment is not None:
            return tx.subscription(payment.subscription_id)
        if data.subscription_id is not None:
            return tx.find(data.provider, subscription_id=data.subscription_id)
        return None

    def on_dispute_opened(self, event: Event) -> None:
        """Flag the subscription; the disputed money is held by the provider."""
        data = self._data(event, DisputeOpened)

        def apply(tx: Tx) -> Outcome:
            sub = self._disputed(tx, data)
            if sub is None:
                return ignored(f"dispute of unknown payment {data.transaction_id}")
            tx.save_dispute(data.provider, _dispute(sub.id, data, "open"))
            tx.update(sub.id, disputed=True)
            return sub.id, f"dispute {data.dispute_id} opened"

        self._handle(event, data, apply)

    def on_dispute_closed(self, event: Event) -> None:
        """Won: clear the flag. Lost: the money is gone, access is revoked."""
        data = self._data(event, DisputeClosed)

        def apply(tx: Tx) -> Outcome:
            known = tx.dispute(data.provider, data.dispute_id)
            sub = (
                tx.subscription(known.subscription_id)
                if known is not None
                else self._disputed(tx, data)
            )
            if sub is None:
                return ignored(f"dispute of unknown payment {data.transaction_id}")
            tx.save_dispute(data.provider, _dispute(sub.id, data, data.outcome.value))
            changes: dict[str, Any] = {"disputed": tx.open_disputes(sub.id) > 0}
            if data.outcome is DisputeOutcome.LOST and sub.status is not Status.FAILED:
                changes.update(status=Status.REVOKED, status_at=data.occurred_at)
            tx.update(sub.id, **changes)
            return sub.id, f"dispute {data.dispute_id} {data.outcome.value}"

        self._handle(event, data, apply)


def _dispute(subscription_id: str, data: DisputeEventData, status: str) -> Dispute:
    return Dispute(
        data.dispute_id,
        subscription_id,
        data.transaction_id,
        data.amount,
        data.currency,
        status,
        data.reason,
    )
