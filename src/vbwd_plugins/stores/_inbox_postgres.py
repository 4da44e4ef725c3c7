"""The webhook inbox on PostgreSQL: a mixin of :class:`PostgresStateStore`.

A claim is one ``INSERT ... ON CONFLICT (provider, event_id) DO UPDATE ... WHERE`` statement:
PostgreSQL locks the conflicting row, so of concurrent claims of one event (from any number
of processes or machines) exactly one inserts or reclaims it, and the others see it taken.
Leases use the database's clock (``now()``), so workers on machines whose clocks differ still
agree when a claim has expired. Marking the outcome is one ``UPDATE`` guarded by the claim
token. Durability follows the server's ``synchronous_commit`` setting.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.errors import StoreError
from vbwd_plugins.webhooks._inbox import (
    InboxClaim,
    InboxRecord,
    InboxStatus,
    check_limit,
    check_purge_age,
    load_payload,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["PostgresInboxMixin"]

_COLUMNS: Final = (
    "provider",
    "event_id",
    "event_type",
    "status",
    "attempts",
    "error",
    "payload",
    "received_at",
    "updated_at",
    "processed_at",
    "claimed_until",
)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _record(row: tuple[Any, ...]) -> InboxRecord:
    provider, event_id, event_type, status, attempts, error, payload, *times = row
    received, updated, processed, claimed_until = times
    return InboxRecord(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        status=InboxStatus(status),
        attempts=attempts,
        error=error,
        payload=load_payload(payload),
        received_at=received.astimezone(UTC),
        updated_at=updated.astimezone(UTC),
        processed_at=_utc(processed),
        claimed_until=_utc(claimed_until),
    )


class PostgresInboxMixin:
    """:class:`~vbwd_plugins.webhooks.WebhookInbox` methods for :class:`PostgresStateStore`."""

    if TYPE_CHECKING:
        _schema: str

        def _using(
            self, plugin_name: str | None, action: str
        ) -> AbstractContextManager[psycopg.Connection[Any]]: ...

    @cached_property
    def _inbox_q(self) -> dict[str, sql.Composed]:
        from psycopg import sql

        table = sql.Identifier(self._schema, "webhook_inbox")
        columns = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
        return {
            "claim": sql.SQL(
                "INSERT INTO {} AS i (provider, event_id, event_type, status, payload, "
                "attempts, claim_token, claimed_until, received_at, updated_at) "
                "VALUES (%s, %s, %s, 'processing', %s, 1, %s, now() + %s::interval, "
                "now(), now()) "
                "ON CONFLICT (provider, event_id) DO UPDATE SET status = 'processing', "
                "attempts = i.attempts + 1, claim_token = EXCLUDED.claim_token, "
                "claimed_until = EXCLUDED.claimed_until, updated_at = EXCLUDED.updated_at "
                "WHERE i.status = 'failed' "
                "OR (i.status = 'processing' AND i.claimed_until <= EXCLUDED.updated_at) "
                "RETURNING 1"
            ).format(table),
            "status": sql.SQL("SELECT status FROM {} WHERE provider = %s AND event_id = %s").format(
                table
            ),
            "complete": sql.SQL(
                "UPDATE {} SET status = 'processed', error = NULL, claim_token = NULL, "
                "claimed_until = NULL, updated_at = now(), processed_at = now() "
                "WHERE provider = %s AND event_id = %s AND claim_token = %s"
            ).format(table),
            "fail": sql.SQL(
                "UPDATE {} SET status = 'failed', error = %s, claim_token = NULL, "
                "claimed_until = NULL, updated_at = now() "
                "WHERE provider = %s AND event_id = %s AND claim_token = %s"
            ).format(table),
            "get": sql.SQL("SELECT {} FROM {} WHERE provider = %s AND event_id = %s").format(
                columns, table
            ),
            "list": sql.SQL("SELECT {} FROM {} ").format(columns, table),
            # A recorded row goes once every delivery of its events has succeeded.
            "purge": sql.SQL(
                "DELETE FROM {} AS i WHERE i.updated_at < now() - %s::interval "
                "AND (i.status = 'processed' OR (i.status = 'recorded' AND NOT EXISTS ("
                "SELECT 1 FROM {} e JOIN {} d ON d.event_uid = e.uid "
                "WHERE e.inbox_provider = i.provider AND e.inbox_event_id = i.event_id "
                "AND d.status <> 'succeeded')))"
            ).format(
                table,
                sql.Identifier(self._schema, "vbwd_events"),
                sql.Identifier(self._schema, "vbwd_deliveries"),
            ),
        }

    def inbox_claim(
        self,
        provider: str,
        event_id: str,
        *,
        event_type: str | None,
        payload: str,
        lease: timedelta,
    ) -> InboxClaim:
        """Record and claim the event with one ``INSERT ... ON CONFLICT`` statement."""
        from secrets import token_hex  # hmac and OpenSSL: load on the first claim

        token = token_hex(16)
        params = (provider, event_id, event_type, payload, token, lease)
        q = self._inbox_q
        with self._using(provider, "claim a webhook event") as conn:
            # A processed row can be purged between the two statements; then claim again.
            for _ in range(3):
                if conn.execute(q["claim"], params).fetchone() is not None:
                    return InboxClaim(token, InboxStatus.PROCESSING)
                found = conn.execute(q["status"], (provider, event_id)).fetchone()
                if found is not None:
                    return InboxClaim(None, InboxStatus(found[0]))
        raise StoreError(
            f"Webhook event {provider!r}/{event_id!r} vanished while being claimed three times "
            "(is a purge with older_than=0 running?); the provider will retry",
            plugin_name=provider,
        )

    def inbox_complete(self, provider: str, event_id: str, token: str) -> bool:
        """Mark the claimed event processed (one ``UPDATE``, guarded by the token)."""
        with self._using(provider, "mark a webhook event processed") as conn:
            changed = conn.execute(self._inbox_q["complete"], (provider, event_id, token)).rowcount
        return changed == 1

    def inbox_fail(self, provider: str, event_id: str, token: str, error: str) -> bool:
        """Mark the claimed event failed with ``error``."""
        with self._using(provider, "mark a webhook event failed") as conn:
            changed = conn.execute(
                self._inbox_q["fail"], (error, provider, event_id, token)
            ).rowcount
        return changed == 1

    def inbox_get(self, provider: str, event_id: str) -> InboxRecord | None:
        """The event's record, or ``None``."""
        with self._using(provider, "read the webhook inbox") as conn:
            row = conn.execute(self._inbox_q["get"], (provider, event_id)).fetchone()
        return None if row is None else _record(row)

    def inbox_list(
        self,
        *,
        status: InboxStatus | None = None,
        provider: str | None = None,
        limit: int = 100,
    ) -> list[InboxRecord]:
        """Records, most recently updated first."""
        from psycopg import sql

        check_limit(limit)
        where: list[sql.Composable] = []
        params: list[Any] = []
        if status is not None:
            where.append(sql.SQL("status = %s"))
            params.append(InboxStatus(status).value)
        if provider is not None:
            where.append(sql.SQL("provider = %s"))
            params.append(provider)
        query = self._inbox_q["list"]
        if where:
            query = query + sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) + sql.SQL(" ")
        query = query + sql.SQL("ORDER BY updated_at DESC, provider, event_id LIMIT %s")
        with self._using(provider, "list the webhook inbox") as conn:
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [_record(row) for row in rows]

    def inbox_purge(self, *, older_than: timedelta) -> int:
        """Delete processed (and finished recorded) records older than that; how many."""
        check_purge_age(older_than)
        with self._using(None, "purge the webhook inbox") as conn:
            deleted = conn.execute(self._inbox_q["purge"], (older_than,)).rowcount
        return max(deleted, 0)
