"""The host's own data: subscriptions and the payment events it handled, in SQLite.

Each call opens its own connection, so web threads and the webhook listener never share
one. Activation is a conditional ``UPDATE``: even a second ``payment.completed`` for the
same subscription could not activate it twice (the webhook inbox already prevents that).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = ["HandledEvent", "Status", "Subscription", "SubscriptionDB"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    plan TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT,
    payment_id TEXT,
    transaction_id TEXT,
    activations INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    activated_at TEXT
);
CREATE TABLE IF NOT EXISTS payment_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_event_id TEXT,
    subscription_id TEXT,
    outcome TEXT NOT NULL,
    handled_at TEXT NOT NULL
);
"""


class Status(StrEnum):
    """Where a subscription is."""

    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    PAYMENT_FAILED = "PAYMENT_FAILED"


@dataclass(frozen=True)
class Subscription:
    """One subscription row."""

    id: str
    user_id: str
    plan: str
    amount: Decimal
    currency: str
    status: Status
    provider: str | None
    payment_id: str | None
    transaction_id: str | None
    activations: int
    created_at: str
    activated_at: str | None

    def to_json(self) -> dict[str, Any]:
        """The subscription as the API returns it."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "plan": self.plan,
            "amount": str(self.amount),
            "currency": self.currency,
            "status": self.status.value,
            "provider": self.provider,
            "payment_id": self.payment_id,
            "activated_at": self.activated_at,
        }


@dataclass(frozen=True)
class HandledEvent:
    """A payment event the host's listener handled."""

    event: str
    provider: str
    provider_event_id: str | None
    subscription_id: str | None
    outcome: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SubscriptionDB:
    """The subscriptions database (a SQLite file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            with conn:  # one transaction: committed, or rolled back on error
                yield conn
        finally:
            conn.close()

    def create(self, user_id: str, plan: str, amount: Decimal, currency: str) -> Subscription:
        """Insert a PENDING subscription."""
        subscription_id = str(uuid.uuid4())
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO subscriptions (id, user_id, plan, amount, currency, status, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (subscription_id, user_id, plan, str(amount), currency, Status.PENDING, _now()),
            )
        found = self.get(subscription_id)
        assert found is not None
        return found

    def get(self, subscription_id: str) -> Subscription | None:
        """The subscription, or ``None``."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, user_id, plan, amount, currency, status, provider, payment_id, "
                "transaction_id, activations, created_at, activated_at "
                "FROM subscriptions WHERE id = ?",
                (subscription_id,),
            ).fetchone()
        if row is None:
            return None
        return Subscription(
            row[0],
            row[1],
            row[2],
            Decimal(row[3]),
            row[4],
            Status(row[5]),
            *row[6:],
        )

    def attach_payment(
        self,
        subscription_id: str,
        provider: str,
        payment_id: str | None,
        transaction_id: str | None = None,
    ) -> None:
        """Remember which provider payment belongs to the subscription."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE subscriptions SET provider = ?, payment_id = COALESCE(?, payment_id), "
                "transaction_id = COALESCE(?, transaction_id) WHERE id = ?",
                (provider, payment_id, transaction_id, subscription_id),
            )

    def activate(self, subscription_id: str) -> bool:
        """PENDING (or PAYMENT_FAILED, after a retry) -> ACTIVE; ``False`` if nothing changed."""
        with self._connect() as conn:
            changed = conn.execute(
                "UPDATE subscriptions SET status = ?, activated_at = ?, "
                "activations = activations + 1 WHERE id = ? AND status IN (?, ?)",
                (Status.ACTIVE, _now(), subscription_id, Status.PENDING, Status.PAYMENT_FAILED),
            ).rowcount
        return changed == 1

    def mark_failed(self, subscription_id: str) -> bool:
        """PENDING -> PAYMENT_FAILED (an ACTIVE subscription is never downgraded here)."""
        with self._connect() as conn:
            changed = conn.execute(
                "UPDATE subscriptions SET status = ? WHERE id = ? AND status = ?",
                (Status.PAYMENT_FAILED, subscription_id, Status.PENDING),
            ).rowcount
        return changed == 1

    def record_event(
        self,
        event: str,
        provider: str,
        provider_event_id: str | None,
        subscription_id: str | None,
        outcome: str,
    ) -> None:
        """Keep a line per handled payment event (what the tests count)."""
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO payment_events (event, provider, provider_event_id, "
                "subscription_id, outcome, handled_at) VALUES (?, ?, ?, ?, ?, ?)",
                (event, provider, provider_event_id, subscription_id, outcome, _now()),
            )

    def handled_events(self, subscription_id: str | None = None) -> list[HandledEvent]:
        """Handled payment events, oldest first (of one subscription, if given)."""
        query = "SELECT event, provider, provider_event_id, subscription_id, outcome "
        query += "FROM payment_events"
        params: tuple[str, ...] = ()
        if subscription_id is not None:
            query += " WHERE subscription_id = ?"
            params = (subscription_id,)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY id", params).fetchall()
        return [HandledEvent(*row) for row in rows]
