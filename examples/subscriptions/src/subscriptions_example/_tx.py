"""Rows of the host's tables and :class:`Tx`: reads and writes inside one open transaction.

Moments are stored as fixed-width UTC ISO text (so they sort as text), booleans as 0/1.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any, Final

from ._model import Dispute, Payment, Refund, Status, Subscription

__all__ = [
    "DISPUTE_COLUMNS",
    "PAYMENT_COLUMNS",
    "REFUND_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "Tx",
    "now",
    "payment_of",
    "subscription_of",
    "text",
]

SUBSCRIPTION_COLUMNS: Final = (
    "id, user_id, plan, amount, currency, status, provider, checkout_session_id, checkout_url, "
    "provider_subscription_id, customer_id, provider_plan_id, paid_until, cancel_at_period_end, "
    "ends_at, disputed, failed_payments, next_retry_at, status_at, cancel_set_at, last_paid_at, "
    "last_failed_at, created_at"
)
#: Columns :meth:`Tx.update` may set.
_UPDATABLE: Final = frozenset(
    {
        "plan",
        "amount",
        "currency",
        "status",
        "provider_subscription_id",
        "customer_id",
        "provider_plan_id",
        "paid_until",
        "cancel_at_period_end",
        "ends_at",
        "disputed",
        "failed_payments",
        "next_retry_at",
        "status_at",
        "cancel_set_at",
        "last_paid_at",
        "last_failed_at",
    }
)
PAYMENT_COLUMNS: Final = (
    "id, subscription_id, provider, reference, transaction_id, amount, currency, refunded, "
    "period_end, paid_at"
)
REFUND_COLUMNS: Final = "id, subscription_id, payment_id, refund_id, amount, currency, status"
DISPUTE_COLUMNS: Final = (
    "dispute_id, subscription_id, transaction_id, amount, currency, status, reason"
)


def now() -> datetime:
    """The current moment, in UTC."""
    return datetime.now(UTC)


def text(value: Any) -> Any:
    """A Python value as SQLite stores it (datetimes as fixed-width UTC ISO text)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    if isinstance(value, bool):
        return int(value)
    return value


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def subscription_of(row: tuple[Any, ...]) -> Subscription:
    """A ``subscriptions`` row (``SUBSCRIPTION_COLUMNS``) as a :class:`Subscription`."""
    created = _moment(row[22])
    assert created is not None
    return Subscription(
        id=row[0],
        user_id=row[1],
        plan=row[2],
        amount=row[3],
        currency=row[4],
        status=Status(row[5]),
        provider=row[6],
        checkout_session_id=row[7],
        checkout_url=row[8],
        provider_subscription_id=row[9],
        customer_id=row[10],
        provider_plan_id=row[11],
        paid_until=_moment(row[12]),
        cancel_at_period_end=bool(row[13]),
        ends_at=_moment(row[14]),
        disputed=bool(row[15]),
        failed_payments=row[16],
        next_retry_at=_moment(row[17]),
        status_at=_moment(row[18]),
        cancel_set_at=_moment(row[19]),
        last_paid_at=_moment(row[20]),
        last_failed_at=_moment(row[21]),
        created_at=created,
    )


def payment_of(row: tuple[Any, ...]) -> Payment:
    """A ``payments`` row (``PAYMENT_COLUMNS``) as a :class:`Payment`."""
    paid_at = _moment(row[9])
    assert paid_at is not None
    return Payment(
        id=row[0],
        subscription_id=row[1],
        provider=row[2],
        reference=row[3],
        transaction_id=row[4],
        amount=row[5],
        currency=row[6],
        refunded=row[7],
        period_end=_moment(row[8]),
        paid_at=paid_at,
    )


class Tx:
    """Reads and writes inside one open transaction (:meth:`SubscriptionDB.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def subscription(self, subscription_id: str) -> Subscription | None:
        """The subscription, or ``None``."""
        row = self.conn.execute(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
        ).fetchone()
        return None if row is None else subscription_of(row)

    def find(
        self,
        provider: str,
        *,
        subscription_id: str | None = None,
        provider_subscription_id: str | None = None,
        checkout_session_id: str | None = None,
    ) -> Subscription | None:
        """The provider's subscription: by the host's id, else the provider's, else the checkout's.

        A host id is trusted only for a row of the same provider: another provider's event
        naming it changes nothing.
        """
        if subscription_id is not None:
            found = self.subscription(subscription_id)
            if found is not None and found.provider == provider:
                return found
        for column, value in (
            ("provider_subscription_id", provider_subscription_id),
            ("checkout_session_id", checkout_session_id),
        ):
            if value is None:
                continue
            row = self.conn.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions "
                f"WHERE provider = ? AND {column} = ?",
                (provider, value),
            ).fetchone()
            if row is not None:
                return subscription_of(row)
        return None

    def update(self, subscription_id: str, **changes: Any) -> None:
        """Set columns of one subscription."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"Cannot update subscription columns {sorted(unknown)}")
        if not changes:
            return
        assignments = ", ".join(f"{name} = ?" for name in changes)
        values = [text(value) for value in changes.values()]
        self.conn.execute(
            f"UPDATE subscriptions SET {assignments} WHERE id = ?", (*values, subscription_id)
        )

    # -- payments and refunds ----------------------------------------------------------

    def payment(self, provider: str, reference: str) -> Payment | None:
        """The payment the provider names ``reference`` (an invoice, a sale, a payment id)."""
        row = self.conn.execute(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider = ? "
            "AND (reference = ? OR transaction_id = ?) ORDER BY id LIMIT 1",
            (provider, reference, reference),
        ).fetchone()
        return None if row is None else payment_of(row)

    def add_payment(
        self,
        subscription_id: str,
        provider: str,
        reference: str,
        transaction_id: str | None,
        amount: int,
        currency: str,
        period_end: datetime | None,
        paid_at: datetime,
    ) -> bool:
        """Record a paid period once; ``False`` if the provider's reference is known."""
        cursor = self.conn.execute(
            "INSERT INTO payments (subscription_id, provider, reference, transaction_id, "
            "amount, currency, period_end, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (provider, reference) DO NOTHING",
            (
                subscription_id,
                provider,
                reference,
                transaction_id,
                amount,
                currency,
                text(period_end),
                text(paid_at),
            ),
        )
        return cursor.rowcount == 1

    def add_refunded(self, payment_id: int, amount: int) -> None:
        """Count ``amount`` as refunded of the payment."""
        self.conn.execute(
            "UPDATE payments SET refunded = refunded + ? WHERE id = ?", (amount, payment_id)
        )

    def refund(self, provider: str, refund_id: str) -> Refund | None:
        """The refund the provider names ``refund_id``."""
        row = self.conn.execute(
            f"SELECT {REFUND_COLUMNS} FROM refunds WHERE provider = ? AND refund_id = ?",
            (provider, refund_id),
        ).fetchone()
        return None if row is None else Refund(*row)

    def requested_refund(self, payment_id: int, amount: int) -> Refund | None:
        """The oldest refund of ``amount`` the host asked for and the provider did not confirm."""
        row = self.conn.execute(
            f"SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = ? AND amount = ? "
            "AND status = 'requested' ORDER BY id LIMIT 1",
            (payment_id, amount),
        ).fetchone()
        return None if row is None else Refund(*row)

    def add_refund(
        self,
        subscription_id: str,
        payment_id: int | None,
        provider: str,
        refund_id: str | None,
        amount: int,
        currency: str,
        status: str,
    ) -> None:
        """Record a refund (asked for by the host, or reported by the provider)."""
        self.conn.execute(
            "INSERT INTO refunds (subscription_id, payment_id, provider, refund_id, amount, "
            "currency, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                subscription_id,
                payment_id,
                provider,
                refund_id,
                amount,
                currency,
                status,
                text(now()),
            ),
        )

    def set_refund(self, refund_row_id: int, *, amount: int, status: str) -> None:
        """The provider confirmed the refund: its amount and status."""
        self.conn.execute(
            "UPDATE refunds SET amount = ?, status = ? WHERE id = ?",
            (amount, status, refund_row_id),
        )

    # -- disputes ----------------------------------------------------------------------

    def dispute(self, provider: str, dispute_id: str) -> Dispute | None:
        """The dispute, or ``None``."""
        row = self.conn.execute(
            f"SELECT {DISPUTE_COLUMNS} FROM disputes WHERE provider = ? AND dispute_id = ?",
            (provider, dispute_id),
        ).fetchone()
        return None if row is None else Dispute(*row)

    def save_dispute(self, provider: str, dispute: Dispute) -> None:
        """Insert the dispute, or update its status."""
        self.conn.execute(
            "INSERT INTO disputes (provider, dispute_id, subscription_id, transaction_id, "
            "amount, currency, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (provider, dispute_id) DO UPDATE SET status = excluded.status",
            (
                provider,
                dispute.dispute_id,
                dispute.subscription_id,
                dispute.transaction_id,
                dispute.amount,
                dispute.currency,
                dispute.status,
                dispute.reason,
            ),
        )

    def open_disputes(self, subscription_id: str) -> int:
        """How many of the subscription's disputes are still open."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM disputes WHERE subscription_id = ? AND status = 'open'",
            (subscription_id,),
        ).fetchone()
        return int(row[0])
