"""The mock provider's billing records and its exact arithmetic (periods, prorations).

Money is integers of ISO 4217 minor units throughout; the one division, a proration, is
done on integers and rounded to the nearest minor unit, halves up (see :func:`prorate`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from vbwd_plugins.payments._billing import (
    CheckoutMode,
    CheckoutRequest,
    Interval,
    Plan,
    SavedPaymentMethod,
    Subscription,
    SubscriptionStatus,
)
from vbwd_plugins.payments._billing_events import DisputeOutcome
from vbwd_plugins.payments._results import PaymentErrorCode

__all__ = [
    "DEFAULT_RETRY_SCHEDULE",
    "ENDED",
    "TRIAL_WARNING",
    "MockCheckout",
    "MockDispute",
    "MockInvoice",
    "MockSavedMethod",
    "MockSubscription",
    "add_interval",
    "plan_units",
    "prorate",
]

#: ``subscription.trial_will_end`` is sent this long before a trial ends (as Stripe does).
TRIAL_WARNING: Final = timedelta(days=3)
#: When a failed renewal is retried, counted from the moment it was first due.
DEFAULT_RETRY_SCHEDULE: Final = (timedelta(days=1), timedelta(days=3), timedelta(days=5))
#: Statuses after which nothing more happens to a subscription.
ENDED: Final = frozenset({SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED})
_MICROSECOND: Final = timedelta(microseconds=1)


def add_interval(moment: datetime, interval: Interval, count: int) -> datetime:
    """``moment`` plus ``count`` intervals; months end on the last day when shorter (Jan 31+1M)."""
    if interval is Interval.DAY:
        return moment + timedelta(days=count)
    if interval is Interval.WEEK:
        return moment + timedelta(weeks=count)
    months = count * (12 if interval is Interval.YEAR else 1)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def plan_units(plan: Plan, quantity: int) -> int:
    """What one period of ``plan`` costs for ``quantity``, in ISO minor units."""
    return plan.price.to_minor_units() * quantity


def prorate(units: int, remaining: timedelta, period: timedelta) -> int:
    """``units`` times the fraction ``remaining / period``, exact, rounded half up.

    Durations count whole microseconds, so the result is ``floor(units * r / p + 1/2)``
    computed on integers: no float anywhere.
    """
    r, p = remaining // _MICROSECOND, period // _MICROSECOND
    if p <= 0 or r <= 0:
        return 0
    return (2 * units * min(r, p) + p) // (2 * p)


@dataclass
class MockSavedMethod:
    """A payment method saved on a customer; ``declines`` makes every charge on it fail."""

    id: str
    customer_id: str
    brand: str = "visa"
    last4: str = "4242"
    declines: bool = False
    error_code: PaymentErrorCode = PaymentErrorCode.DECLINED

    def view(self) -> SavedPaymentMethod:
        """What ``list_payment_methods`` answers for it."""
        return SavedPaymentMethod(
            id=self.id, type="card", brand=self.brand, last4=self.last4, exp_month=12, exp_year=2099
        )


@dataclass(frozen=True)
class MockInvoice:
    """A charge for ``period_start``..``period_end``, first due at ``due``."""

    id: str
    units: int
    currency: str
    period_start: datetime
    period_end: datetime
    due: datetime


@dataclass
class MockSubscription:
    """One subscription the mock holds; the billing engine moves it along its lifecycle."""

    id: str
    plan: Plan
    provider_plan_id: str
    customer_id: str | None
    quantity: int
    status: SubscriptionStatus
    period_start: datetime
    period_end: datetime
    created_at: datetime
    trial_end: datetime | None = None
    subscription_id: str | None = None
    user_id: str | None = None
    payment_method_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    cancel_at_period_end: bool = False
    trial_warned: bool = False
    #: The unpaid invoice while ``PAST_DUE``, its failed attempts and the next retry.
    open_invoice: MockInvoice | None = None
    attempt: int = 0
    next_retry_at: datetime | None = None
    #: Prorations owed (> 0) or credited (< 0) on the next invoice, in minor units.
    balance: int = 0
    #: Scripted failures of the next charges (``fail_next_renewal``), oldest first.
    failures: list[PaymentErrorCode] = field(default_factory=list)

    @property
    def units(self) -> int:
        """What one period costs now, in minor units."""
        return plan_units(self.plan, self.quantity)

    @property
    def currency(self) -> str:
        """The plan's currency (a subscription never changes currency)."""
        return self.plan.price.currency

    def trial_warning_at(self) -> datetime | None:
        """When ``trial_will_end`` is due (``None``: sent, or no trial)."""
        if self.trial_end is None or self.trial_warned or self.status in ENDED:
            return None
        return max(self.created_at, self.trial_end - TRIAL_WARNING)

    def next_due(self) -> datetime | None:
        """The next moment something happens to it by itself, or ``None``."""
        status = self.status
        if status in ENDED or status is SubscriptionStatus.UNPAID:
            return None
        moments = [self.trial_warning_at()]
        if status is SubscriptionStatus.PAST_DUE:
            moments.append(self.next_retry_at)
        elif status is not SubscriptionStatus.PAUSED or self.cancel_at_period_end:
            moments.append(self.period_end)
        found = [moment for moment in moments if moment is not None]
        return min(found) if found else None

    def view(self) -> Subscription:
        """The provider-neutral :class:`Subscription` for it."""
        return Subscription(
            id=self.id,
            status=self.status,
            provider_plan_id=self.provider_plan_id,
            customer_id=self.customer_id,
            quantity=self.quantity,
            current_period_start=self.period_start,
            current_period_end=self.period_end,
            trial_end=self.trial_end,
            cancel_at_period_end=self.cancel_at_period_end,
            subscription_id=self.subscription_id,
            user_id=self.user_id,
            provider_status=self.status.value,
        )


@dataclass
class MockCheckout:
    """A hosted checkout session, open until completed or expired."""

    id: str
    request: CheckoutRequest
    expires_at: datetime
    completed: bool = False

    @property
    def mode(self) -> CheckoutMode:
        """What the session is for."""
        return self.request.mode


@dataclass
class MockDispute:
    """A dispute over a payment the mock holds."""

    id: str
    transaction_id: str
    units: int
    currency: str
    reason: str
    subscription_id: str | None
    user_id: str | None
    outcome: DisputeOutcome | None = None
