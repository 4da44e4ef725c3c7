"""The outbox on SQLite: a mixin of :class:`SQLiteStateStore` (events and deliveries tables).

Recording a webhook is one ``BEGIN IMMEDIATE`` transaction on the store's own connection
(``PRAGMA synchronous=FULL``: the provider is answered once it is on disk). Claims and
outcomes are single ``UPDATE`` statements, each atomic on its own, on the store's second
connection, at :attr:`~SQLiteStateStore.inbox_synchronous` (``NORMAL`` by default: losing
one to a power cut only runs that delivery again, which the at-least-once guarantee and
the idempotency key already cover). Times are Unix seconds (``REAL``), like the inbox's.
(``outbox_accept(..., lease=...)`` creates its deliveries claimed, in the recording's commit.)

Each B-tree a recording touches costs a page or more in the WAL before the ``fsync``, so the
events and deliveries tables have few indexes and deliveries have no rowid (see migration 3).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.delivery._model import (
    Accepted,
    Delivery,
    DeliveryClaim,
    DeliveryStatus,
    NewEvent,
    StoredEvent,
    WebhookReceipt,
    delivery_id,
)
from vbwd_plugins.delivery._outbox import (
    bound_error,
    check_age,
    check_aware,
    check_lease,
    check_limit,
    check_retry_status,
    listener_ids,
)
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores._sqlite_tx import immediate
from vbwd_plugins.webhooks._inbox import InboxStatus

__all__ = ["DELIVERY_OF_EVENT", "PREFIX_FUNCTION", "SQLiteOutboxMixin", "webhook_uids"]

_PENDING: Final = DeliveryStatus.PENDING.value
_RUNNING: Final = DeliveryStatus.RUNNING.value
_SUCCEEDED: Final = DeliveryStatus.SUCCEEDED.value
_DEAD: Final = DeliveryStatus.DEAD.value

_COLUMNS: Final = (
    "d.id, d.event_uid, d.event_name, d.listener_id, d.status, d.attempts, "
    "d.next_attempt_at, d.last_error, d.lease_until, d.created_at, d.updated_at"
)
_EVENT_COLUMNS: Final = "uid, name, payload, source, created_at"

#: The SQL function (on the store's connections) for
#: :func:`~vbwd_plugins.delivery.delivery_prefix`.
PREFIX_FUNCTION: Final = "vbwd_delivery_prefix"
#: ``d`` is one of the deliveries of event ``e``: a range of ``d``'s primary key (ids are
#: ``dlv_`` and hex digits, all below "g"), then the exact uid.
DELIVERY_OF_EVENT: Final = (
    f"d.id > {PREFIX_FUNCTION}(e.uid) AND d.id < {PREFIX_FUNCTION}(e.uid) || 'g' "
    "AND d.event_uid = e.uid"
)

_INSERT_INBOX: Final = f"""
INSERT INTO webhook_inbox (provider, event_id, event_type, status, payload, attempts,
                           received_at, updated_at)
VALUES (?, ?, ?, '{InboxStatus.RECORDED.value}', ?, 1, ?, ?)
ON CONFLICT (provider, event_id) DO NOTHING
"""
# A row recorded before the outbox (FAILED, or PROCESSING under an expired claim, and no
# events) becomes RECORDED; its events and deliveries are then recorded as for a new one.
# The claim token goes, so a late outcome of the old pipeline's worker changes nothing.
_UPGRADE_INBOX: Final = f"""
UPDATE webhook_inbox SET status = '{InboxStatus.RECORDED.value}', attempts = attempts + 1,
    error = NULL, claim_token = NULL, claimed_until = NULL, updated_at = ?3
WHERE provider = ?1 AND event_id = ?2
  AND (status = '{InboxStatus.FAILED.value}'
       OR (status = '{InboxStatus.PROCESSING.value}' AND claimed_until <= ?3))
  AND NOT EXISTS (SELECT 1 FROM vbwd_events WHERE uid >= ?4 AND uid < ?5
                  AND inbox_provider = ?1 AND inbox_event_id = ?2)
"""
_INSERT_EVENT: Final = """
INSERT INTO vbwd_events (uid, name, payload, source, inbox_provider, inbox_event_id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO NOTHING
"""
# PENDING with 0 attempts, or, claimed at once, RUNNING under a lease with 1 attempt.
_INSERT_DELIVERY: Final = """
INSERT INTO vbwd_deliveries (id, event_uid, event_name, listener_id, status, attempts,
                             next_attempt_at, lease_token, lease_until, seq, created_at,
                             updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?10, ?7, ?8, ?9, ?10, ?10) ON CONFLICT DO NOTHING
"""
#: Recorded order: deliveries have no rowid (WITHOUT ROWID tables, keyed by their id).
_ORDER: Final = "d.created_at, d.seq"
# A webhook's events: the range of uids starting "<provider>:<event id>:" (``?3``, ``?4``:
# see :func:`webhook_uids`), narrowed to the exact webhook (its event id may hold ":").
# CROSS JOIN: SQLite keeps that order (events first, then a range of deliveries each).
_OF_WEBHOOK: Final = (
    f"FROM vbwd_events e CROSS JOIN vbwd_deliveries d ON {DELIVERY_OF_EVENT} "
    "WHERE e.uid >= ?3 AND e.uid < ?4 AND e.inbox_provider = ?1 AND e.inbox_event_id = ?2 "
    f"ORDER BY {_ORDER}"
)
# Webhooks whose handling is not over: a delivery not succeeded, or a pre-outbox row.
_UNFINISHED_WEBHOOKS: Final = f"""
SELECT w.provider, w.event_id FROM webhook_inbox w
WHERE (w.status IN ('{InboxStatus.FAILED.value}', '{InboxStatus.PROCESSING.value}')
       OR (w.provider, w.event_id) IN (
           SELECT e.inbox_provider, e.inbox_event_id FROM vbwd_deliveries d
           JOIN vbwd_events e ON e.uid = d.event_uid
           WHERE d.status IN ('{_PENDING}', '{_RUNNING}', '{_DEAD}')))
  AND (?1 IS NULL OR w.provider = ?1)
ORDER BY w.updated_at DESC, w.provider, w.event_id LIMIT ?2
"""
# ``?3`` is 1 when the claim may take a PENDING delivery that is not due yet.
_CLAIM: Final = f"""
UPDATE vbwd_deliveries SET status = '{_RUNNING}', attempts = attempts + 1,
    lease_token = ?1, lease_until = ?4 + ?5, updated_at = ?4
WHERE id = ?2 AND ((status = '{_PENDING}' AND (?3 OR next_attempt_at <= ?4))
                   OR (status = '{_RUNNING}' AND lease_until <= ?4))
RETURNING {_COLUMNS.replace("d.", "")}
"""
# The token stays after an outcome, so marking again with it (a retried call) is a no-op.
_SUCCEED: Final = f"""
UPDATE vbwd_deliveries SET status = '{_SUCCEEDED}', next_attempt_at = NULL,
    lease_until = NULL, updated_at = ?
WHERE id = ? AND lease_token = ? AND status IN ('{_RUNNING}', '{_SUCCEEDED}')
"""
_FAIL: Final = f"""
UPDATE vbwd_deliveries SET status = ?1, next_attempt_at = ?2, last_error = ?3,
    lease_until = NULL, updated_at = ?4
WHERE id = ?5 AND lease_token = ?6 AND status IN ('{_RUNNING}', ?1)
"""


def webhook_uids(provider: str, event_id: str) -> tuple[str, str]:
    """The bounds ``[low, high)`` of the uids of a webhook's events.

    Every uid starting ``"<provider>:<event id>:"`` (what
    ``DeliveryService.record_webhook`` makes) sorts inside; the events' primary key
    finds them, so the events table needs no index of its own on the webhook's key.
    """
    low = f"{provider}:{event_id}:"
    return low, low[:-1] + ";"  # ";" follows ":" in the BINARY collation of the columns


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _delivery(row: Sequence[Any]) -> Delivery:
    did, uid, name, listener, status, attempts, due, error, lease, created, updated = row
    created_at, updated_at = _time(created), _time(updated)
    assert created_at is not None and updated_at is not None  # NOT NULL columns
    return Delivery(
        id=did,
        event_uid=uid,
        event_name=name,
        listener_id=listener,
        status=DeliveryStatus(status),
        attempts=attempts,
        next_attempt_at=_time(due),
        last_error=error,
        lease_until=_time(lease),
        created_at=created_at,
        updated_at=updated_at,
    )


def _event(row: Sequence[Any]) -> StoredEvent:
    uid, name, payload, source, created = row
    created_at = _time(created)
    assert created_at is not None  # NOT NULL column
    return StoredEvent(uid=uid, name=name, payload=payload, source=source, created_at=created_at)


def _split(rows: Sequence[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unfinished ids, dead ids) of ``(id, status)`` rows, order kept."""
    pending = tuple(did for did, status in rows if status in (_PENDING, _RUNNING))
    return pending, tuple(did for did, status in rows if status == _DEAD)


def _seconds(value: datetime) -> float:
    return value.timestamp()


class _Claimer:
    """Claims made by :meth:`SQLiteOutboxMixin.outbox_accept` for the deliveries it creates."""

    __slots__ = ("_at", "_seconds", "_source", "_until")

    def __init__(self, now: float, source: str, lease: timedelta) -> None:
        self._source = source
        self._seconds = now + lease.total_seconds()
        self._at = datetime.fromtimestamp(now, UTC)
        self._until = datetime.fromtimestamp(self._seconds, UTC)

    def lease(self) -> tuple[str, float]:
        """A fresh token and the lease's end, as the row stores them."""
        from secrets import token_hex

        return token_hex(16), self._seconds

    def made(self, did: str, event: NewEvent, listener: str, token: str) -> DeliveryClaim:
        """The claim of the RUNNING delivery just inserted (the row as the store holds it)."""
        at = self._at
        delivery = Delivery(
            id=did,
            event_uid=event.uid,
            event_name=event.name,
            listener_id=listener,
            status=DeliveryStatus.RUNNING,
            attempts=1,
            next_attempt_at=at,
            last_error=None,
            lease_until=self._until,
            created_at=at,
            updated_at=at,
        )
        stored = StoredEvent(event.uid, event.name, event.payload, self._source, at)
        return DeliveryClaim(delivery, stored, token)


class SQLiteOutboxMixin:
    """:class:`~vbwd_plugins.delivery.Outbox` methods for :class:`SQLiteStateStore`."""

    if TYPE_CHECKING:

        def _using(
            self, plugin_name: str | None, action: str
        ) -> AbstractContextManager[sqlite3.Connection]: ...

        def _marking(
            self, plugin_name: str | None, action: str
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def outbox_accept(
        self,
        receipt: WebhookReceipt | None,
        events: Sequence[NewEvent],
        *,
        lease: timedelta | None = None,
    ) -> Accepted:
        """Record the inbox row, events and deliveries in one ``BEGIN IMMEDIATE`` commit."""
        if lease is not None:
            check_lease(lease)
        provider = None if receipt is None else receipt.provider
        with self._using(provider, "record events and deliveries") as conn, immediate(conn):
            return self._outbox_record(conn, receipt, events, lease)

    def outbox_accept_in(self, connection: object, events: Sequence[NewEvent]) -> Accepted:
        """Record published events on the host's ``sqlite3`` connection, in its transaction."""
        from vbwd_plugins.stores._outbox_host import sqlite_in_host_transaction

        with self._using(None, "find the database file") as own:
            files = own.execute("PRAGMA database_list").fetchall()
        with sqlite_in_host_transaction(repr(self), files, connection) as conn:
            return self._outbox_record(conn, None, events)

    def _outbox_record(
        self,
        conn: sqlite3.Connection,
        receipt: WebhookReceipt | None,
        events: Sequence[NewEvent],
        lease: timedelta | None = None,
    ) -> Accepted:
        """The writes of :meth:`outbox_accept`, in the transaction open on ``conn``."""
        now = time.time()
        inbox: tuple[str | None, str | None] = (None, None)
        source, wrote = "publish", False
        if receipt is not None:
            key = (receipt.provider, receipt.event_id)
            uids = webhook_uids(*key)
            for event in events:
                if not event.uid.startswith(uids[0]):
                    raise StoreError(
                        f"Event uid {event.uid!r} of webhook {key!r} must start with "
                        f"{uids[0]!r}, as DeliveryService.record_webhook makes them"
                    )
            inbox_row = (*key, receipt.event_type, receipt.payload, now, now)
            if (
                conn.execute(_INSERT_INBOX, inbox_row).rowcount == 0
                and conn.execute(_UPGRADE_INBOX, (*key, now, *uids)).rowcount == 0
            ):
                found = conn.execute(f"SELECT d.id, d.status {_OF_WEBHOOK}", (*key, *uids))
                return Accepted(False, *_split(found.fetchall()))
            source, inbox = f"webhook:{receipt.provider}", key
            wrote = True
        ids: list[str] = []
        again: list[str] = []  # recorded before (an event uid seen again): status unknown
        claims: list[DeliveryClaim] = []
        claim = _Claimer(now, source, lease) if lease is not None else None
        for event in events:
            event_row = (event.uid, event.name, event.payload, source, *inbox, now)
            wrote = conn.execute(_INSERT_EVENT, event_row).rowcount == 1 or wrote
            for listener in listener_ids(event):
                did = delivery_id(event.uid, listener)
                token: str | None = None
                until: float | None = None
                if claim is not None:
                    token, until = claim.lease()
                row = (did, event.uid, event.name, listener)
                state = (_PENDING, 0) if token is None else (_RUNNING, 1)
                params = (*row, *state, token, until, len(ids), now)
                if conn.execute(_INSERT_DELIVERY, params).rowcount == 1:
                    wrote = True
                    if claim is not None and token is not None:
                        claims.append(claim.made(did, event, listener, token))
                else:
                    again.append(did)
                ids.append(did)
        if not again:
            return Accepted(wrote, tuple(ids), (), tuple(claims))
        marks = ",".join("?" * len(again))
        status = dict(
            conn.execute(
                f"SELECT id, status FROM vbwd_deliveries WHERE id IN ({marks})", again
            ).fetchall()
        )
        pending, dead = _split([(did, status.get(did, _PENDING)) for did in ids])
        return Accepted(wrote, pending, dead, tuple(claims))

    def delivery_claim(
        self, delivery_id: str, *, lease: timedelta, due_only: bool = True
    ) -> DeliveryClaim | None:
        """Claim with one ``UPDATE ... RETURNING`` (atomic across processes)."""
        check_lease(lease)
        from secrets import token_hex

        token = token_hex(16)
        params = (token, delivery_id, 0 if due_only else 1, time.time(), lease.total_seconds())
        with self._marking(None, "claim a delivery") as conn:
            rows = conn.execute(_CLAIM, params).fetchall()  # fetch all: ends the statement
            if not rows:
                return None
            delivery = _delivery(rows[0])
            event = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM vbwd_events WHERE uid = ?", (delivery.event_uid,)
            ).fetchone()
        return DeliveryClaim(delivery, _event(event), token)

    def delivery_succeed(self, delivery_id: str, token: str) -> bool:
        """Record success (one ``UPDATE`` guarded by the token)."""
        with self._marking(None, "record a delivery's success") as conn:
            return conn.execute(_SUCCEED, (time.time(), delivery_id, token)).rowcount == 1

    def delivery_fail(
        self, delivery_id: str, token: str, error: str, *, retry_at: datetime | None
    ) -> bool:
        """Record a failure: PENDING at ``retry_at``, or DEAD when it is ``None``."""
        if retry_at is None:
            status, due = _DEAD, None
        else:
            status, due = _PENDING, _seconds(check_aware("delivery_fail", "retry_at", retry_at))
        params = (status, due, bound_error(error), time.time(), delivery_id, token)
        with self._marking(None, "record a delivery's failure") as conn:
            return conn.execute(_FAIL, params).rowcount == 1

    def delivery_get(self, delivery_id: str) -> Delivery | None:
        """One delivery, or ``None``."""
        with self._using(None, "read a delivery") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM vbwd_deliveries d WHERE id = ?", (delivery_id,)
            ).fetchone()
        return None if row is None else _delivery(row)

    def event_get(self, event_uid: str) -> StoredEvent | None:
        """One recorded event, or ``None``."""
        with self._using(None, "read an event") as conn:
            row = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM vbwd_events WHERE uid = ?", (event_uid,)
            ).fetchone()
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
        check_limit("deliveries_list", limit)
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("status", None if status is None else DeliveryStatus(status).value),
            ("event_name", event_name),
            ("listener_id", listener_id),
        ):
            if value is not None:
                where.append(f"d.{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._using(None, "list deliveries") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM vbwd_deliveries d {clause}"
                "ORDER BY d.updated_at DESC, d.created_at DESC, d.seq DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_delivery(row) for row in rows]

    def deliveries_of_webhook(self, provider: str, event_id: str) -> list[Delivery]:
        """The webhook's deliveries, in the order they were recorded."""
        with self._using(provider, "list a webhook's deliveries") as conn:
            params = (provider, event_id, *webhook_uids(provider, event_id))
            rows = conn.execute(f"SELECT {_COLUMNS} {_OF_WEBHOOK}", params).fetchall()
        return [_delivery(row) for row in rows]

    def webhooks_unfinished(
        self, *, provider: str | None = None, limit: int = 100
    ) -> list[tuple[str, str]]:
        """Webhooks with a delivery not succeeded, or recorded before the outbox; newest first."""
        check_limit("webhooks_unfinished", limit)
        with self._using(provider, "list unfinished webhooks") as conn:
            rows = conn.execute(_UNFINISHED_WEBHOOKS, (provider, limit)).fetchall()
        return [(provider_name, event_id) for provider_name, event_id in rows]

    def deliveries_due(self, *, now: datetime | None = None, limit: int = 100) -> list[Delivery]:
        """PENDING deliveries due by ``now`` and RUNNING ones whose lease has expired."""
        check_limit("deliveries_due", limit)
        at = time.time() if now is None else _seconds(check_aware("deliveries_due", "now", now))
        with self._using(None, "list due deliveries") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM vbwd_deliveries d "
                f"WHERE (status = '{_PENDING}' AND next_attempt_at <= ?1) "
                f"OR (status = '{_RUNNING}' AND lease_until <= ?1) "
                f"ORDER BY coalesce(next_attempt_at, lease_until), {_ORDER} LIMIT ?2",
                (at, limit),
            ).fetchall()
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
        wanted = check_retry_status(status)
        now = time.time()
        where = ["status = ?"]
        params: list[Any] = [wanted.value]
        if wanted is DeliveryStatus.RUNNING:
            where.append("lease_until <= ?")  # never take a delivery from a live runner
            params.append(now)
        if delivery_id is not None:
            where.append("id = ?")
            params.append(delivery_id)
        if listener_id is not None:
            where.append("listener_id = ?")
            params.append(listener_id)
        if webhook is not None:
            where.append(
                "id IN (SELECT d.id FROM vbwd_events e CROSS JOIN vbwd_deliveries d ON "
                f"{DELIVERY_OF_EVENT} WHERE e.uid >= ? AND e.uid < ? "
                "AND e.inbox_provider = ? AND e.inbox_event_id = ?)"
            )
            params.extend((*webhook_uids(*webhook), *webhook))
        with self._using(None, "retry deliveries") as conn, immediate(conn):
            rows = conn.execute(
                f"UPDATE vbwd_deliveries SET status = '{_PENDING}', next_attempt_at = ?, "
                "lease_token = NULL, lease_until = NULL, updated_at = ? "
                f"WHERE {' AND '.join(where)} RETURNING created_at, seq, id",
                (now, now, *params),
            ).fetchall()
        return [did for _, _, did in sorted(rows)]

    def deliveries_purge(self, *, older_than: timedelta) -> int:
        """Delete SUCCEEDED deliveries, then events left without any, older than that."""
        check_age("deliveries_purge", older_than)
        cutoff = time.time() - older_than.total_seconds()
        with self._using(None, "purge deliveries") as conn, immediate(conn):
            deleted = conn.execute(
                f"DELETE FROM vbwd_deliveries WHERE status = '{_SUCCEEDED}' AND updated_at < ?",
                (cutoff,),
            ).rowcount
            conn.execute(
                "DELETE FROM vbwd_events AS e WHERE created_at < ? AND NOT EXISTS "
                f"(SELECT 1 FROM vbwd_deliveries d WHERE {DELIVERY_OF_EVENT})",
                (cutoff,),
            )
        return deleted
