"""The webhook inbox on SQLite: a mixin of :class:`SQLiteStateStore` (table ``webhook_inbox``).

A claim is one ``BEGIN IMMEDIATE`` transaction around an ``INSERT ... ON CONFLICT DO UPDATE
... WHERE`` (the primary key on provider and event id makes concurrent claims of one event
collide; the write lock serializes them across processes). Marking the outcome is one
``UPDATE`` guarded by the claim token. So a delivery costs two commits.

Durability: inbox commits run on the store's second connection, at
``PRAGMA synchronous=NORMAL`` by default (the plugin configuration keeps the store's
``FULL``). In WAL mode a ``NORMAL`` commit survives a crash of the process at once, because
it is in the WAL file; only an operating-system crash or power loss can roll back the last
commits, since the WAL is synced at checkpoints rather than at every commit. ``FULL`` syncs
every commit, which costs a disk flush (milliseconds) per delivery; set
``store.inbox_synchronous = "FULL"`` when the inbox must also survive power loss. Times are
stored as Unix seconds (``REAL``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.stores._outbox_sqlite import DELIVERY_OF_EVENT
from vbwd_plugins.stores._sqlite_tx import immediate
from vbwd_plugins.webhooks._inbox import (
    InboxClaim,
    InboxRecord,
    InboxStatus,
    check_limit,
    check_purge_age,
    load_payload,
)

__all__ = ["SQLiteInboxMixin"]

_PROCESSING: Final = InboxStatus.PROCESSING.value
_PROCESSED: Final = InboxStatus.PROCESSED.value
_FAILED: Final = InboxStatus.FAILED.value
_RECORDED: Final = InboxStatus.RECORDED.value

_CLAIM: Final = f"""
INSERT INTO webhook_inbox (provider, event_id, event_type, status, payload, attempts,
                           claim_token, claimed_until, received_at, updated_at)
VALUES (?, ?, ?, '{_PROCESSING}', ?, 1, ?, ?, ?, ?)
ON CONFLICT (provider, event_id) DO UPDATE SET
    status = '{_PROCESSING}', attempts = attempts + 1, claim_token = excluded.claim_token,
    claimed_until = excluded.claimed_until, updated_at = excluded.updated_at
WHERE status = '{_FAILED}'
   OR (status = '{_PROCESSING}' AND claimed_until <= excluded.updated_at)
"""
_STATUS: Final = "SELECT status FROM webhook_inbox WHERE provider = ? AND event_id = ?"
_COMPLETE: Final = f"""
UPDATE webhook_inbox SET status = '{_PROCESSED}', error = NULL, claim_token = NULL,
    claimed_until = NULL, updated_at = ?, processed_at = ?
WHERE provider = ? AND event_id = ? AND claim_token = ?
"""
_FAIL: Final = f"""
UPDATE webhook_inbox SET status = '{_FAILED}', error = ?, claim_token = NULL,
    claimed_until = NULL, updated_at = ?
WHERE provider = ? AND event_id = ? AND claim_token = ?
"""
# A recorded row goes once every delivery of its events has succeeded.
_PURGE: Final = f"""
DELETE FROM webhook_inbox WHERE updated_at < ? AND (status = '{_PROCESSED}'
    OR (status = '{_RECORDED}' AND NOT EXISTS (
        SELECT 1 FROM vbwd_events e CROSS JOIN vbwd_deliveries d ON {DELIVERY_OF_EVENT}
        WHERE e.uid >= webhook_inbox.provider || ':' || webhook_inbox.event_id || ':'
          AND e.uid < webhook_inbox.provider || ':' || webhook_inbox.event_id || ';'
          AND e.inbox_provider = webhook_inbox.provider
          AND e.inbox_event_id = webhook_inbox.event_id AND d.status <> 'succeeded')))
"""
_COLUMNS: Final = (
    "provider, event_id, event_type, status, attempts, error, payload, received_at, "
    "updated_at, processed_at, claimed_until"
)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _record(row: tuple[Any, ...]) -> InboxRecord:
    provider, event_id, event_type, status, attempts, error, payload, *times = row
    received, updated, processed, claimed_until = (_time(t) for t in times)
    assert received is not None and updated is not None  # NOT NULL columns
    return InboxRecord(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        status=InboxStatus(status),
        attempts=attempts,
        error=error,
        payload=load_payload(payload),
        received_at=received,
        updated_at=updated,
        processed_at=processed,
        claimed_until=claimed_until,
    )


class SQLiteInboxMixin:
    """:class:`~vbwd_plugins.webhooks.WebhookInbox` methods for :class:`SQLiteStateStore`."""

    #: ``PRAGMA synchronous`` for inbox commits and delivery claims and outcomes:
    #: ``"NORMAL"`` (survives a process crash) or ``"FULL"`` / ``"EXTRA"`` (also survives
    #: power loss, one disk flush per commit).
    inbox_synchronous: str = "NORMAL"

    if TYPE_CHECKING:

        def _using(
            self, plugin_name: str | None, action: str
        ) -> AbstractContextManager[sqlite3.Connection]: ...

        def _marking(
            self, plugin_name: str | None, action: str
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def inbox_claim(
        self,
        provider: str,
        event_id: str,
        *,
        event_type: str | None,
        payload: str,
        lease: timedelta,
    ) -> InboxClaim:
        """Record and claim the event in one ``BEGIN IMMEDIATE`` transaction."""
        now = time.time()
        from secrets import token_hex  # hmac and OpenSSL: load on the first claim

        token = token_hex(16)
        row = (provider, event_id, event_type, payload, token, now + lease.total_seconds())
        with self._inbox_write(provider, "claim a webhook event", begin=True) as conn:
            if conn.execute(_CLAIM, (*row, now, now)).rowcount == 1:
                return InboxClaim(token, InboxStatus.PROCESSING)
            found = conn.execute(_STATUS, (provider, event_id)).fetchone()
        return InboxClaim(None, InboxStatus(found[0]))

    def inbox_complete(self, provider: str, event_id: str, token: str) -> bool:
        """Mark the claimed event processed (one ``UPDATE``, guarded by the token)."""
        now = time.time()
        with self._inbox_write(provider, "mark a webhook event processed") as conn:
            changed = conn.execute(_COMPLETE, (now, now, provider, event_id, token)).rowcount
        return changed == 1

    def inbox_fail(self, provider: str, event_id: str, token: str, error: str) -> bool:
        """Mark the claimed event failed with ``error``."""
        with self._inbox_write(provider, "mark a webhook event failed") as conn:
            changed = conn.execute(_FAIL, (error, time.time(), provider, event_id, token)).rowcount
        return changed == 1

    def inbox_get(self, provider: str, event_id: str) -> InboxRecord | None:
        """The event's record, or ``None``."""
        with self._using(provider, "read the webhook inbox") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_inbox WHERE provider = ? AND event_id = ?",
                (provider, event_id),
            ).fetchone()
        return None if row is None else _record(row)

    def inbox_list(
        self,
        *,
        status: InboxStatus | None = None,
        provider: str | None = None,
        limit: int = 100,
    ) -> list[InboxRecord]:
        """Records, most recently updated first."""
        check_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(InboxStatus(status).value)
        if provider is not None:
            where.append("provider = ?")
            params.append(provider)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._using(provider, "list the webhook inbox") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_inbox {clause}"
                "ORDER BY updated_at DESC, provider, event_id LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def inbox_purge(self, *, older_than: timedelta) -> int:
        """Delete processed (and finished recorded) records older than that; how many."""
        check_purge_age(older_than)
        cutoff = time.time() - older_than.total_seconds()
        with self._inbox_write(None, "purge the webhook inbox") as conn:
            return conn.execute(_PURGE, (cutoff,)).rowcount

    @contextmanager
    def _inbox_write(
        self, provider: str | None, action: str, *, begin: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """Run inbox writes on the connection at :attr:`inbox_synchronous`.

        ``begin`` wraps them in ``BEGIN IMMEDIATE`` / ``COMMIT``; a single statement is
        atomic on its own.
        """
        with self._marking(provider, action) as conn:
            if not begin:
                yield conn
                return
            with immediate(conn):
                yield conn
