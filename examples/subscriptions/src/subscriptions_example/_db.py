"""The host's own data in SQLite: subscriptions, payments, refunds, disputes and the ledger.

Each call opens its own connection, so web threads and webhook listeners never share one.
A listener's write goes through :meth:`SubscriptionDB.handle`: the ledger line keyed on the
event's idempotency key (``UNIQUE``) and the effect commit in **one** transaction, so a
redelivered, retried or replayed event changes nothing twice (see ``docs/delivery.md``).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from ._model import Dispute, HandledEvent, Payment, Refund, Status, Subscription
from ._tx import (
    DISPUTE_COLUMNS,
    PAYMENT_COLUMNS,
    REFUND_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    Tx,
    now,
    payment_of,
    subscription_of,
    text,
)

__all__ = ["Apply", "SubscriptionDB", "Tx", "now"]

_SCHEMA_VERSION: Final = 3
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    plan TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT,
    checkout_session_id TEXT,
    checkout_url TEXT,
    provider_subscription_id TEXT,
    customer_id TEXT,
    provider_plan_id TEXT,
    paid_until TEXT,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    ends_at TEXT,
    disputed INTEGER NOT NULL DEFAULT 0,
    failed_payments INTEGER NOT NULL DEFAULT 0,
    next_retry_at TEXT,
    status_at TEXT,
    cancel_set_at TEXT,
    last_paid_at TEXT,
    last_failed_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_provider_id
    ON subscriptions (provider, provider_subscription_id);
CREATE INDEX IF NOT EXISTS subscriptions_by_checkout
    ON subscriptions (provider, checkout_session_id);
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    provider TEXT NOT NULL,
    reference TEXT NOT NULL,
    transaction_id TEXT,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    refunded INTEGER NOT NULL DEFAULT 0,
    period_end TEXT,
    paid_at TEXT NOT NULL,
    UNIQUE (provider, reference)
);
CREATE INDEX IF NOT EXISTS payments_by_transaction ON payments (provider, transaction_id);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    payment_id INTEGER REFERENCES payments (id),
    provider TEXT NOT NULL,
    refund_id TEXT,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (provider, refund_id)
);
CREATE TABLE IF NOT EXISTS disputes (
    provider TEXT NOT NULL,
    dispute_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    transaction_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (provider, dispute_id)
);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_event_id TEXT,
    subscription_id TEXT,
    outcome TEXT NOT NULL,
    handled_at TEXT NOT NULL
);
"""


#: What a listener's write does inside :meth:`SubscriptionDB.handle`: the subscription it
#: concerned (``None``: none found) and the outcome to record.
Apply = Callable[[Tx], tuple[str | None, str]]


class SubscriptionDB:
    """The subscriptions database (a SQLite file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            old = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'subscriptions'"
            ).fetchone()
            if old is not None and version < _SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} holds the tables of an earlier version of this example "
                    f"(schema {version}, this one needs {_SCHEMA_VERSION}): move it away"
                )
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at checkpoints, never corrupt
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction (``BEGIN IMMEDIATE``: the write lock from the start, so a
        read-then-write decision cannot race another writer); committed, or rolled back."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def handle(
        self, key: str, event: str, provider: str, provider_event_id: str | None, apply: Apply
    ) -> str | None:
        """Run ``apply`` once per ``key``: its effect and the ledger line commit together.

        Returns the recorded outcome, or ``None`` when ``key`` was handled before (then
        ``apply`` does not run).
        """
        with self.transaction() as tx:
            inserted = tx.conn.execute(
                "INSERT INTO ledger (key, event, provider, provider_event_id, outcome, "
                "handled_at) VALUES (?, ?, ?, ?, '', ?) ON CONFLICT (key) DO NOTHING",
                (key, event, provider, provider_event_id, text(now())),
            ).rowcount
            if inserted != 1:
                return None
            subscription_id, outcome = apply(tx)
            tx.conn.execute(
                "UPDATE ledger SET subscription_id = ?, outcome = ? WHERE key = ?",
                (subscription_id, outcome, key),
            )
            return outcome

    # -- the API's reads and writes ----------------------------------------------------

    def create(
        self, user_id: str, plan: str, amount: int, currency: str, provider: str
    ) -> Subscription:
        """Insert a ``pending`` subscription."""
        subscription_id = str(uuid.uuid4())
        with self.transaction() as tx:
            tx.conn.execute(
                "INSERT INTO subscriptions (id, user_id, plan, amount, currency, status, "
                "provider, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    subscription_id,
                    user_id,
                    plan,
                    amount,
                    currency,
                    Status.PENDING,
                    provider,
                    text(now()),
                ),
            )
            created = tx.subscription(subscription_id)
        assert created is not None
        return created

    def get(self, subscription_id: str) -> Subscription | None:
        """The subscription, or ``None``."""
        with self._connect() as conn:
            return Tx(conn).subscription(subscription_id)

    def of_user(self, user_id: str) -> list[Subscription]:
        """The user's subscriptions, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = ? "
                "ORDER BY created_at, id",
                (user_id,),
            ).fetchall()
        return [subscription_of(row) for row in rows]

    def attach_checkout(
        self,
        subscription_id: str,
        session_id: str,
        url: str,
        provider_subscription_id: str | None,
    ) -> None:
        """Remember the checkout session (and the provider's subscription, when known now)."""
        with self.transaction() as tx:
            tx.conn.execute(
                "UPDATE subscriptions SET checkout_session_id = ?, checkout_url = ?, "
                "provider_subscription_id = COALESCE(provider_subscription_id, ?) WHERE id = ?",
                (session_id, url, provider_subscription_id, subscription_id),
            )

    def mark_failed(self, subscription_id: str) -> None:
        """The checkout could not be created: ``pending`` -> ``failed``."""
        with self.transaction() as tx:
            tx.conn.execute(
                "UPDATE subscriptions SET status = ? WHERE id = ? AND status = ?",
                (Status.FAILED, subscription_id, Status.PENDING),
            )

    def payments(self, subscription_id: str) -> list[Payment]:
        """The subscription's payments, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE subscription_id = ? ORDER BY id",
                (subscription_id,),
            ).fetchall()
        return [payment_of(row) for row in rows]

    def refunds(self, subscription_id: str) -> list[Refund]:
        """The subscription's refunds, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {REFUND_COLUMNS} FROM refunds WHERE subscription_id = ? ORDER BY id",
                (subscription_id,),
            ).fetchall()
        return [Refund(*row) for row in rows]

    def record_refund_request(
        self, subscription_id: str, payment: Payment, refund_id: str | None, amount: int
    ) -> None:
        """The provider accepted the host's refund of ``payment`` (confirmed by webhook later).

        A ``payment.refunded`` that already arrived (the provider may send it before the
        refund call answers) recorded it: then nothing is added.
        """
        with self.transaction() as tx:
            if refund_id is not None and tx.refund(payment.provider, refund_id) is not None:
                return
            tx.add_refund(
                subscription_id,
                payment.id,
                payment.provider,
                refund_id,
                amount,
                payment.currency,
                "requested",
            )

    def disputes(self, subscription_id: str) -> list[Dispute]:
        """The subscription's disputes, in the order they were opened."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {DISPUTE_COLUMNS} FROM disputes WHERE subscription_id = ? ORDER BY rowid",
                (subscription_id,),
            ).fetchall()
        return [Dispute(*row) for row in rows]

    def handled_events(self, subscription_id: str | None = None) -> list[HandledEvent]:
        """The ledger, oldest first (of one subscription, if given)."""
        query = "SELECT key, event, provider, provider_event_id, subscription_id, outcome "
        query += "FROM ledger"
        params: tuple[str, ...] = ()
        if subscription_id is not None:
            query += " WHERE subscription_id = ?"
            params = (subscription_id,)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY id", params).fetchall()
        return [HandledEvent(*row) for row in rows]
