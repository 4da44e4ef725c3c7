"""The outbox on PostgreSQL: a mixin of :class:`PostgresStateStore` (events, deliveries).

Recording a webhook is one transaction on a pooled connection. A claim is one
``UPDATE ... FROM ... RETURNING`` statement: PostgreSQL locks the row, so of concurrent
claims (from any number of processes or machines) exactly one matches and the others,
re-checking the row after it commits, find it taken. Leases and due times use the
database's clock (``now()``), so runners whose clocks differ still agree. Outcomes are one
token-guarded ``UPDATE``, retried when the connection drops (see
:meth:`PostgresStateStore._mark`). Recording and claiming use a pooled connection without
the pool's check and run once more on a fresh one if it proves broken (see
:meth:`PostgresStateStore._idempotent`): a recording is keyed on the webhook, a claim on its
token, so the repeat after a lost answer finds what the first try committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, TypeVar

from vbwd_plugins.delivery._model import (
    Accepted,
    Delivery,
    DeliveryClaim,
    DeliveryStatus,
    NewEvent,
    StoredEvent,
    WebhookReceipt,
)
from vbwd_plugins.delivery._outbox import (
    bound_error,
    check_age,
    check_aware,
    check_lease,
    check_limit,
    check_retry_status,
)
from vbwd_plugins.stores._outbox_postgres_batch import (
    RECORD_EVENTS,
    RECORD_WEBHOOK,
    Batch,
    split,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["ASYNC_COMMIT", "PostgresOutboxMixin"]

_T = TypeVar("_T")

#: Claims and outcomes commit without waiting for the WAL flush (like SQLite's
#: ``synchronous=NORMAL`` for them): a server crash can lose the last fraction of a second of
#: them, which only makes those deliveries run again with the same idempotency key. Recording a
#: webhook (``outbox_accept``) keeps the server's durable commit. Each is ONE statement on an
#: autocommit connection, which this CTE opens (its ``set_config(..., true)`` lasts until the
#: statement's own transaction commits): one round trip instead of BEGIN, SET, UPDATE, COMMIT.
ASYNC_COMMIT: Final = (
    "WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "
)

_PENDING: Final = DeliveryStatus.PENDING.value
_RUNNING: Final = DeliveryStatus.RUNNING.value
_SUCCEEDED: Final = DeliveryStatus.SUCCEEDED.value
_DEAD: Final = DeliveryStatus.DEAD.value

_COLUMNS: Final = (
    "d.id, d.event_uid, d.event_name, d.listener_id, d.status, d.attempts, "
    "d.next_attempt_at, d.last_error, d.lease_until, d.created_at, d.updated_at"
)
_EVENT_COLUMNS: Final = "e.uid, e.name, e.payload, e.source, e.created_at"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _delivery(row: Sequence[Any]) -> Delivery:
    did, uid, name, listener, status, attempts, due, error, lease, created, updated = row
    return Delivery(
        id=did,
        event_uid=uid,
        event_name=name,
        listener_id=listener,
        status=DeliveryStatus(status),
        attempts=attempts,
        next_attempt_at=_utc(due),
        last_error=error,
        lease_until=_utc(lease),
        created_at=created.astimezone(UTC),
        updated_at=updated.astimezone(UTC),
    )


def _event(row: Sequence[Any]) -> StoredEvent:
    uid, name, payload, source, created = row
    return StoredEvent(
        uid=uid, name=name, payload=payload, source=source, created_at=created.astimezone(UTC)
    )


class PostgresOutboxMixin:
    """:class:`~vbwd_plugins.delivery.Outbox` methods for :class:`PostgresStateStore`."""

    if TYPE_CHECKING:
        _schema: str

        def _using(
            self, plugin_name: str | None, action: str
        ) -> AbstractContextManager[psycopg.Connection[Any]]: ...

        def _mark(
            self, action: str, query: sql.Composed | str, params: tuple[Any, ...] | dict[str, Any]
        ) -> int: ...

        def _idempotent(
            self,
            plugin_name: str | None,
            action: str,
            work: Callable[[psycopg.Connection[Any]], _T],
        ) -> _T: ...

    @cached_property
    def _outbox_q(self) -> dict[str, sql.Composed]:
        from psycopg import sql

        names = {
            "inbox": sql.Identifier(self._schema, "webhook_inbox"),
            "events": sql.Identifier(self._schema, "vbwd_events"),
            "deliveries": sql.Identifier(self._schema, "vbwd_deliveries"),
            "columns": sql.SQL(_COLUMNS),
            "event_columns": sql.SQL(_EVENT_COLUMNS),
        }
        text = {
            "inbox": "INSERT INTO {inbox} (provider, event_id, event_type, status, payload, "
            "attempts, received_at, updated_at) VALUES (%s, %s, %s, 'recorded', %s, 1, now(), "
            "now()) ON CONFLICT (provider, event_id) DO NOTHING RETURNING 1",
            # A row recorded before the outbox (failed, or processing under an expired claim,
            # with no events) becomes recorded, and its events are recorded as for a new one.
            # The claim token goes: a late outcome of the old pipeline's worker changes nothing.
            "upgrade": "UPDATE {inbox} w SET status = 'recorded', attempts = w.attempts + 1, "
            "error = NULL, claim_token = NULL, claimed_until = NULL, updated_at = now() "
            "WHERE w.provider = %(provider)s AND w.event_id = %(event_id)s AND (w.status = "
            "'failed' OR (w.status = 'processing' AND w.claimed_until <= now())) AND NOT EXISTS "
            "(SELECT 1 FROM {events} e WHERE e.inbox_provider = %(provider)s "
            "AND e.inbox_event_id = %(event_id)s) RETURNING 1",
            # Webhooks whose handling is not over: a delivery not succeeded, or a pre-outbox row.
            "unfinished": "SELECT w.provider, w.event_id FROM {inbox} w "
            "WHERE (w.status IN ('failed', 'processing') OR (w.provider, w.event_id) IN ("
            "SELECT e.inbox_provider, e.inbox_event_id FROM {deliveries} d JOIN {events} e "
            f"ON e.uid = d.event_uid WHERE d.status IN ('{_PENDING}', '{_RUNNING}', '{_DEAD}'))) "
            "AND (%(provider)s::text IS NULL OR w.provider = %(provider)s) "
            "ORDER BY w.updated_at DESC, w.provider, w.event_id LIMIT %(limit)s",
            "of_webhook": "SELECT {columns} FROM {deliveries} d JOIN {events} e "
            "ON e.uid = d.event_uid WHERE e.inbox_provider = %s AND e.inbox_event_id = %s "
            "ORDER BY d.seq",
            "statuses_of_webhook": "SELECT d.id, d.status FROM {deliveries} d JOIN {events} e "
            "ON e.uid = d.event_uid WHERE e.inbox_provider = %s AND e.inbox_event_id = %s "
            "ORDER BY d.seq",
            # %(free)s: a PENDING delivery may be claimed before it is due. A claim already
            # held under %(token)s (the repeat of one whose answer was lost) is answered
            # again, its attempt not counted twice.
            "claim": f"{ASYNC_COMMIT}UPDATE {{deliveries}} d SET status = '{_RUNNING}', "
            "attempts = d.attempts + CASE WHEN d.lease_token = %(token)s THEN 0 ELSE 1 END, "
            "lease_token = %(token)s, "
            "lease_until = now() + %(lease)s::interval, updated_at = now() "
            "FROM {events} e, async_commit WHERE d.id = %(id)s AND e.uid = d.event_uid AND ("
            f"(d.status = '{_PENDING}' AND (%(free)s OR d.next_attempt_at <= now())) "
            f"OR (d.status = '{_RUNNING}' AND (d.lease_until <= now() "
            "OR d.lease_token = %(token)s))) "
            "RETURNING {columns}, {event_columns}",
            # The token stays after an outcome: marking again with it is a no-op that matches.
            "succeed": f"{ASYNC_COMMIT}UPDATE {{deliveries}} SET status = '{_SUCCEEDED}', "
            "next_attempt_at = NULL, lease_until = NULL, updated_at = now() FROM async_commit "
            f"WHERE id = %s AND lease_token = %s AND status IN ('{_RUNNING}', '{_SUCCEEDED}')",
            "fail": f"{ASYNC_COMMIT}UPDATE {{deliveries}} SET status = %(status)s, "
            "next_attempt_at = %(due)s, last_error = %(error)s, lease_until = NULL, "
            "updated_at = now() FROM async_commit WHERE id = %(id)s AND lease_token = %(token)s "
            f"AND status IN ('{_RUNNING}', %(status)s)",
            "get": "SELECT {columns} FROM {deliveries} d WHERE d.id = %s",
            "event_get": "SELECT {event_columns} FROM {events} e WHERE e.uid = %s",
            "list": "SELECT {columns} FROM {deliveries} d ",
            "due": "SELECT {columns} FROM {deliveries} d, "
            "(SELECT coalesce(%s::timestamptz, now()) AS at) AS t "
            f"WHERE (d.status = '{_PENDING}' AND d.next_attempt_at <= t.at) "
            f"OR (d.status = '{_RUNNING}' AND d.lease_until <= t.at) "
            "ORDER BY coalesce(d.next_attempt_at, d.lease_until), d.seq LIMIT %s",
            "retry": f"UPDATE {{deliveries}} SET status = '{_PENDING}', next_attempt_at = now(), "
            "lease_token = NULL, lease_until = NULL, updated_at = now() WHERE status = %s ",
            "purge": f"DELETE FROM {{deliveries}} WHERE status = '{_SUCCEEDED}' "
            "AND updated_at < now() - %s::interval",
            "purge_events": "DELETE FROM {events} e WHERE e.created_at < now() - %s::interval "
            "AND NOT EXISTS (SELECT 1 FROM {deliveries} d WHERE d.event_uid = e.uid)",
        }
        text["record"] = RECORD_WEBHOOK
        text["record_events"] = RECORD_EVENTS
        return {key: sql.SQL(value).format(**names) for key, value in text.items()}

    @cached_property
    def _outbox_text(self) -> dict[str, str]:
        """The delivery path's statements rendered once: psycopg renders a composed query
        again on every execution (tens of microseconds for these)."""
        q = self._outbox_q
        return {key: q[key].as_string(None) for key in ("record", "claim", "succeed", "fail")}

    def outbox_accept(
        self,
        receipt: WebhookReceipt | None,
        events: Sequence[NewEvent],
        *,
        lease: timedelta | None = None,
    ) -> Accepted:
        """Record the inbox row, events and deliveries in one transaction.

        A new webhook is ONE statement on the autocommit connection (its own transaction,
        committed at the server's ``synchronous_commit``): one round trip. A redelivery,
        a pre-outbox row and published events take the general path, in a transaction.
        """
        if lease is not None:
            check_lease(lease)
        provider = None if receipt is None else receipt.provider

        def accept(conn: psycopg.Connection[Any]) -> Accepted:
            if receipt is not None:
                recorded = Batch(events, lease).record(conn, self._outbox_text["record"], receipt)
                if recorded is not None:
                    return recorded
            with conn.transaction():
                return self._outbox_record(conn, receipt, events, lease)

        if receipt is None:  # published events: not keyed, so never repeated
            with self._using(None, "record events and deliveries") as conn:
                return accept(conn)
        # Repeatable: a webhook's rows are keyed on (provider, event_id) and the event uids,
        # so a repeat after a lost commit answers what is recorded, and writes nothing twice.
        return self._idempotent(provider, "record events and deliveries", accept)

    def outbox_accept_in(self, connection: object, events: Sequence[NewEvent]) -> Accepted:
        """Record published events on the host's psycopg connection, in its transaction."""
        from vbwd_plugins.stores._outbox_host import postgres_in_host_transaction

        with postgres_in_host_transaction(self, connection) as conn:
            return self._outbox_record(conn, None, events)

    def _outbox_record(
        self,
        conn: psycopg.Connection[Any],
        receipt: WebhookReceipt | None,
        events: Sequence[NewEvent],
        lease: timedelta | None = None,
    ) -> Accepted:
        """The writes of :meth:`outbox_accept`, in the transaction open on ``conn``."""
        q = self._outbox_q
        inbox: tuple[str | None, str | None] = (None, None)
        source, wrote = "publish", False
        if receipt is not None:
            key = (receipt.provider, receipt.event_id)
            row = (*key, receipt.event_type, receipt.payload)
            named = {"provider": receipt.provider, "event_id": receipt.event_id}
            if (
                conn.execute(q["inbox"], row).fetchone() is None
                and conn.execute(q["upgrade"], named).fetchone() is None
            ):
                found = conn.execute(q["statuses_of_webhook"], key).fetchall()
                return Accepted(False, *split(found))
            source, inbox, wrote = f"webhook:{receipt.provider}", key, True
        batch = Batch(events, lease)
        return batch.events(conn, q["record_events"], source, inbox, wrote=wrote)

    def delivery_claim(
        self, delivery_id: str, *, lease: timedelta, due_only: bool = True
    ) -> DeliveryClaim | None:
        """Claim with one ``UPDATE ... RETURNING`` (atomic across processes)."""
        check_lease(lease)
        from secrets import token_hex

        token = token_hex(16)
        params = {"token": token, "lease": lease, "id": delivery_id, "free": not due_only}
        query = self._outbox_text["claim"]

        def claim(conn: psycopg.Connection[Any]) -> Any:
            return conn.execute(query, params).fetchone()

        row = self._idempotent(None, "claim a delivery", claim)  # repeatable: its token
        if row is None:
            return None
        return DeliveryClaim(_delivery(row[:11]), _event(row[11:]), token)

    def delivery_succeed(self, delivery_id: str, token: str) -> bool:
        """Record success (one token-guarded ``UPDATE``, retried if the connection drops)."""
        query = self._outbox_text["succeed"]
        return self._mark("record a delivery's success", query, (delivery_id, token)) == 1

    def delivery_fail(
        self, delivery_id: str, token: str, error: str, *, retry_at: datetime | None
    ) -> bool:
        """Record a failure: PENDING at ``retry_at``, or DEAD when it is ``None``."""
        if retry_at is not None:
            check_aware("delivery_fail", "retry_at", retry_at)
        params = {
            "status": _DEAD if retry_at is None else _PENDING,
            "due": retry_at,
            "error": bound_error(error),
            "id": delivery_id,
            "token": token,
        }
        query = self._outbox_text["fail"]
        return self._mark("record a delivery's failure", query, params) == 1

    def delivery_get(self, delivery_id: str) -> Delivery | None:
        """One delivery, or ``None``."""
        with self._using(None, "read a delivery") as conn:
            row = conn.execute(self._outbox_q["get"], (delivery_id,)).fetchone()
        return None if row is None else _delivery(row)

    def event_get(self, event_uid: str) -> StoredEvent | None:
        """One recorded event, or ``None``."""
        with self._using(None, "read an event") as conn:
            row = conn.execute(self._outbox_q["event_get"], (event_uid,)).fetchone()
        return None if row is None else _event(row)

    def deliveries_list(
        self,
        *,
        status: DeliveryStatus | None = None,
        event_name: str | None = None,
        listener_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries, most recently updated first, filtered."""
        from psycopg import sql

        check_limit("deliveries_list", limit)
        where: list[sql.Composable] = []
        params: list[Any] = []
        for column, value in (
            ("status", None if status is None else DeliveryStatus(status).value),
            ("event_name", event_name),
            ("listener_id", listener_id),
        ):
            if value is not None:
                where.append(sql.SQL("d.{} = %s").format(sql.Identifier(column)))
                params.append(value)
        query = self._outbox_q["list"]
        if where:
            query = query + sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) + sql.SQL(" ")
        query = query + sql.SQL("ORDER BY d.updated_at DESC, d.seq DESC LIMIT %s")
        with self._using(None, "list deliveries") as conn:
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [_delivery(row) for row in rows]

    def deliveries_of_webhook(self, provider: str, event_id: str) -> list[Delivery]:
        """The webhook's deliveries, in the order they were recorded."""
        with self._using(provider, "list a webhook's deliveries") as conn:
            rows = conn.execute(self._outbox_q["of_webhook"], (provider, event_id)).fetchall()
        return [_delivery(row) for row in rows]

    def webhooks_unfinished(
        self, *, provider: str | None = None, limit: int = 100
    ) -> list[tuple[str, str]]:
        """Webhooks with a delivery not succeeded, or recorded before the outbox; newest first."""
        check_limit("webhooks_unfinished", limit)
        params = {"provider": provider, "limit": limit}
        with self._using(provider, "list unfinished webhooks") as conn:
            rows = conn.execute(self._outbox_q["unfinished"], params).fetchall()
        return [(row[0], row[1]) for row in rows]

    def deliveries_due(self, *, now: datetime | None = None, limit: int = 100) -> list[Delivery]:
        """PENDING deliveries due by ``now`` and RUNNING ones whose lease has expired."""
        check_limit("deliveries_due", limit)
        if now is not None:
            check_aware("deliveries_due", "now", now)
        with self._using(None, "list due deliveries") as conn:
            rows = conn.execute(self._outbox_q["due"], (now, limit)).fetchall()
        return [_delivery(row) for row in rows]

    def deliveries_retry(
        self,
        *,
        delivery_id: str | None = None,
        listener_id: str | None = None,
        webhook: tuple[str, str] | None = None,
        status: DeliveryStatus = DeliveryStatus.DEAD,
    ) -> list[str]:
        """Make matching deliveries PENDING and due now; their ids, in recorded order."""
        from psycopg import sql

        wanted = check_retry_status(status)
        where: list[sql.Composable] = []
        params: list[Any] = [wanted.value]
        if wanted is DeliveryStatus.RUNNING:
            where.append(sql.SQL("lease_until <= now()"))  # never take one from a live runner
        if delivery_id is not None:
            where.append(sql.SQL("id = %s"))
            params.append(delivery_id)
        if listener_id is not None:
            where.append(sql.SQL("listener_id = %s"))
            params.append(listener_id)
        if webhook is not None:
            where.append(
                sql.SQL(
                    "event_uid IN (SELECT uid FROM {} WHERE inbox_provider = %s "
                    "AND inbox_event_id = %s)"
                ).format(sql.Identifier(self._schema, "vbwd_events"))
            )
            params.extend(webhook)
        query = self._outbox_q["retry"]
        for condition in where:
            query = query + sql.SQL("AND ") + condition + sql.SQL(" ")
        query = query + sql.SQL("RETURNING seq, id")
        with self._using(None, "retry deliveries") as conn:
            rows = conn.execute(query, params).fetchall()
        return [row[1] for row in sorted(rows)]

    def deliveries_purge(self, *, older_than: timedelta) -> int:
        """Delete SUCCEEDED deliveries, then events left without any, older than that."""
        check_age("deliveries_purge", older_than)
        q = self._outbox_q
        with self._using(None, "purge deliveries") as conn, conn.transaction():
            deleted = conn.execute(q["purge"], (older_than,)).rowcount
            conn.execute(q["purge_events"], (older_than,))
        return max(deleted, 0)
