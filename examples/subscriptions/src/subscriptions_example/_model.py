"""The host's records: subscriptions, their payments, refunds and disputes, as the API shows them.

Amounts are integers in ISO 4217 minor units (as the standard events carry them) with their
currency; :class:`~vbwd_plugins.Money` turns them into decimals for display. Moments are
timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from vbwd_plugins import Money

__all__ = [
    "GRACE_PERIOD",
    "Dispute",
    "HandledEvent",
    "Payment",
    "Refund",
    "Status",
    "Subscription",
]

#: How long a past-due subscription keeps access after its paid period (the host's policy).
GRACE_PERIOD: Final = timedelta(days=7)


class Status(StrEnum):
    """Where a subscription stands, as the host decides from the provider's events."""

    #: Created; the payer has not finished the hosted checkout yet.
    PENDING = "pending"
    #: In the free trial (``paid_until`` is the trial's end).
    TRIALING = "trialing"
    #: Paid up to ``paid_until``.
    ACTIVE = "active"
    #: A renewal failed; access lasts a grace period past ``paid_until``.
    PAST_DUE = "past_due"
    #: Collection paused: no access until resumed.
    PAUSED = "paused"
    #: Cancelled at the provider; access lasts until ``ends_at``.
    CANCELLED = "cancelled"
    #: A dispute was lost: access ended by the host's policy.
    REVOKED = "revoked"
    #: The checkout could not be created; nothing happened at the provider.
    FAILED = "failed"


#: Statuses no event brings a subscription back from (a late event changes nothing).
TERMINAL: Final = frozenset({Status.CANCELLED, Status.REVOKED, Status.FAILED})


def money(amount: int, currency: str) -> str:
    """``amount`` minor units as a decimal string (``999, "USD"`` -> ``"9.99"``)."""
    return str(Money.from_minor_units(amount, currency).amount)


def iso(moment: datetime | None) -> str | None:
    """A moment as ISO 8601 text in UTC, for JSON."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Subscription:
    """One subscription row."""

    id: str
    user_id: str
    plan: str
    amount: int
    currency: str
    status: Status
    provider: str | None
    checkout_session_id: str | None
    checkout_url: str | None
    provider_subscription_id: str | None
    customer_id: str | None
    provider_plan_id: str | None
    paid_until: datetime | None
    cancel_at_period_end: bool
    ends_at: datetime | None
    disputed: bool
    failed_payments: int
    next_retry_at: datetime | None
    #: When the event that last set ``status`` happened (older events do not override it).
    status_at: datetime | None
    #: When the provider said it cancels at period end (an older activation does not undo it).
    cancel_set_at: datetime | None
    #: The latest payment and the latest failed charge: a failure older than the payment
    #: is settled, a payment older than the failure does not settle it.
    last_paid_at: datetime | None
    last_failed_at: datetime | None
    created_at: datetime

    def access_until(self) -> datetime | None:
        """Until when the payer may use the service (``None``: not at all)."""
        if self.status in (Status.TRIALING, Status.ACTIVE):
            return self.ends_at if self.cancel_at_period_end and self.ends_at else self.paid_until
        if self.status is Status.PAST_DUE and self.paid_until is not None:
            until = self.paid_until + GRACE_PERIOD
            return min(until, self.ends_at) if self.cancel_at_period_end and self.ends_at else until
        if self.status is Status.CANCELLED and self.ends_at is not None:
            return self.ends_at
        return None

    def has_access(self, now: datetime | None = None) -> bool:
        """Whether the payer may use the service at ``now`` (default: the current time)."""
        until = self.access_until()
        return until is not None and (now or datetime.now(UTC)) < until

    def to_json(self) -> dict[str, Any]:
        """The subscription as the API returns it."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "plan": self.plan,
            "price": {"amount": money(self.amount, self.currency), "currency": self.currency},
            "status": self.status.value,
            "active": self.has_access(),
            "access_until": iso(self.access_until()),
            "provider": self.provider,
            "checkout_session_id": self.checkout_session_id,
            "provider_subscription_id": self.provider_subscription_id,
            "customer_id": self.customer_id,
            "paid_until": iso(self.paid_until),
            "cancel_at_period_end": self.cancel_at_period_end,
            "ends_at": iso(self.ends_at),
            "disputed": self.disputed,
            "failed_payments": self.failed_payments,
            "next_retry_at": iso(self.next_retry_at),
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class Payment:
    """A paid period: ``reference`` is the renewal's invoice (or sale) id, which the provider
    refunds; ``transaction_id`` the payment behind it when the provider names it otherwise
    (a Stripe invoice's PaymentIntent, which disputes name)."""

    id: int
    subscription_id: str
    provider: str
    reference: str
    transaction_id: str | None
    amount: int
    currency: str
    refunded: int
    period_end: datetime | None
    paid_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The payment as the API returns it."""
        return {
            "id": self.id,
            "reference": self.reference,
            "transaction_id": self.transaction_id,
            "amount": money(self.amount, self.currency),
            "refunded": money(self.refunded, self.currency),
            "currency": self.currency,
            "period_end": iso(self.period_end),
            "paid_at": iso(self.paid_at),
        }


@dataclass(frozen=True)
class Refund:
    """A refund the host asked for (``requested``) or the provider reported (``refunded``)."""

    id: int
    subscription_id: str
    payment_id: int | None
    refund_id: str | None
    amount: int
    currency: str
    status: str

    def to_json(self) -> dict[str, Any]:
        """The refund as the API returns it."""
        return {
            "refund_id": self.refund_id,
            "payment_id": self.payment_id,
            "amount": money(self.amount, self.currency),
            "currency": self.currency,
            "status": self.status,
        }


@dataclass(frozen=True)
class Dispute:
    """A payer's dispute of one payment: ``open``, then ``won``, ``lost`` or ``other``."""

    dispute_id: str
    subscription_id: str
    transaction_id: str
    amount: int
    currency: str
    status: str
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        """The dispute as the API returns it."""
        return {
            "dispute_id": self.dispute_id,
            "transaction_id": self.transaction_id,
            "amount": money(self.amount, self.currency),
            "currency": self.currency,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class HandledEvent:
    """One line of the host's ledger: an event a listener handled, keyed on its idempotency key."""

    key: str
    event: str
    provider: str
    provider_event_id: str | None
    subscription_id: str | None
    outcome: str
