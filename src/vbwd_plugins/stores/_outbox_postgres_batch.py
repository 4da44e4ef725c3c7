"""One recording of events and deliveries on PostgreSQL as ONE statement.

The shared writes of ``PostgresOutboxMixin.outbox_accept`` (and of recording on a host's
connection): the events and their deliveries go in as two JSON arrays, so a recording costs
one round trip however many there are; a new webhook's inbox row goes in the same statement,
which on an autocommit connection is its own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, timedelta
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
from vbwd_plugins.delivery._outbox import listener_ids

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["RECORD_EVENTS", "RECORD_WEBHOOK", "Batch", "split"]

_PENDING: Final = DeliveryStatus.PENDING.value
_RUNNING: Final = DeliveryStatus.RUNNING.value
_DEAD: Final = DeliveryStatus.DEAD.value
#: The two JSON parameters' encoder, built once (``json.dumps`` with options builds one per
#: call); the values are fresh lists of flat dicts, so no circular check is needed.
_ENCODE: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
).encode


def split(rows: Sequence[Sequence[Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unfinished ids, dead ids) of ``(id, status)`` rows, order kept."""
    pending = tuple(row[0] for row in rows if row[1] in (_PENDING, _RUNNING))
    return pending, tuple(row[0] for row in rows if row[1] == _DEAD)


# The events and deliveries of one recording, as ONE statement: two JSON arrays unpacked by
# the server (one parameter each; psycopg dumps a list parameter element by element, in
# Python). With the inbox row's insert as ``w`` before it, ``{gate}`` writes them only if
# that row was new. The last SELECT sees the table as it was before the statement: the
# deliveries that existed already (an event uid recorded before), with their status.
_NEW_INBOX: Final = (
    "INSERT INTO {inbox} (provider, event_id, event_type, status, payload, attempts, "
    "received_at, updated_at) VALUES (%(provider)s, %(event_id)s, %(event_type)s, 'recorded', "
    "%(payload)s, 1, now(), now()) ON CONFLICT (provider, event_id) DO NOTHING RETURNING 1"
)
_GATE: Final = "WHERE EXISTS (SELECT FROM w)"
_NEW: Final = "(SELECT count(*) FROM w)"
_RECORD: Final = (
    "x AS (SELECT * FROM json_to_recordset(%(events)s::json) AS (u text, m text, p text)), "
    "y AS (SELECT * FROM json_to_recordset(%(deliveries)s::json) "
    "AS (i text, u text, m text, l text, t text, n int)), "
    "e AS (INSERT INTO {{events}} (uid, name, payload, source, inbox_provider, inbox_event_id, "
    "created_at) SELECT x.u, x.m, x.p, %(source)s, %(provider)s, %(event_id)s, now() FROM x "
    "{gate} ON CONFLICT (uid) DO NOTHING RETURNING 1), "
    "d AS (INSERT INTO {{deliveries}} (id, event_uid, event_name, listener_id, status, attempts, "
    "next_attempt_at, lease_token, lease_until, created_at, updated_at) "
    f"SELECT y.i, y.u, y.m, y.l, CASE WHEN y.t IS NULL THEN '{_PENDING}' ELSE '{_RUNNING}' "
    "END, CASE WHEN y.t IS NULL THEN 0 ELSE 1 END, now(), y.t, "
    "CASE WHEN y.t IS NULL THEN NULL ELSE now() + %(lease)s::interval END, now(), now() "
    "FROM y {gate} ORDER BY y.n ON CONFLICT DO NOTHING RETURNING id) "
    "SELECT {new}, (SELECT count(*) FROM e), ARRAY(SELECT id FROM d), now(), "
    "now() + %(lease)s::interval, "
    "ARRAY(SELECT ARRAY[o.id, o.status] FROM {{deliveries}} o JOIN y ON y.i = o.id)"
)


#: A new webhook: its inbox row, events and deliveries (nothing when the row exists).
RECORD_WEBHOOK: Final = "WITH w AS (" + _NEW_INBOX + "), " + _RECORD.format(gate=_GATE, new=_NEW)
#: Events and deliveries alone (published events; a pre-outbox row's), in a transaction.
RECORD_EVENTS: Final = "WITH " + _RECORD.format(gate="", new="0")


class Batch:
    """One recording's events and deliveries as the statement's parameters; the answer."""

    __slots__ = ("claimed", "ids", "lease", "params")

    def __init__(self, events: Sequence[NewEvent], lease: timedelta | None) -> None:
        from secrets import token_hex

        claimed: list[tuple[str, NewEvent, str, str | None]] = []
        rows: list[dict[str, object]] = []
        for event in events:
            for listener in listener_ids(event):
                did = delivery_id(event.uid, listener)
                token = None if lease is None else token_hex(16)
                claimed.append((did, event, listener, token))
                row = {"i": did, "u": event.uid, "m": event.name, "l": listener, "t": token}
                rows.append({**row, "n": len(rows)})
        self.ids = [did for did, *_ in claimed]
        self.lease = lease
        self.claimed = claimed
        self.params: dict[str, Any] = {
            "events": _ENCODE([{"u": e.uid, "m": e.name, "p": e.payload} for e in events]),
            "deliveries": _ENCODE(rows),
            "lease": lease,
        }

    def record(
        self, conn: psycopg.Connection[Any], query: sql.Composed | str, receipt: WebhookReceipt
    ) -> Accepted | None:
        """Insert a new webhook's inbox row, events and deliveries; ``None`` if the row
        existed (then nothing was written)."""
        params = {
            **self.params,
            "provider": receipt.provider,
            "event_id": receipt.event_id,
            "event_type": receipt.event_type,
            "payload": receipt.payload,
            "source": f"webhook:{receipt.provider}",
        }
        row = conn.execute(query, params, prepare=True).fetchone()
        assert row is not None  # a SELECT without FROM: one row
        return self._answer(row, True, params["source"]) if row[0] else None

    def events(
        self,
        conn: psycopg.Connection[Any],
        query: sql.Composed,
        source: str,
        inbox: tuple[str | None, str | None],
        *,
        wrote: bool,
    ) -> Accepted:
        """Insert the events and deliveries (the inbox row, if any, is written)."""
        params = {**self.params, "source": source, "provider": inbox[0], "event_id": inbox[1]}
        row = conn.execute(query, params).fetchone()
        assert row is not None
        return self._answer(row, wrote, source)

    def _answer(self, row: Sequence[Any], wrote: bool, source: str) -> Accepted:
        _, events, inserted, now, until, existed = row
        made = set(inserted)
        wrote = wrote or events > 0 or bool(made)
        status = dict(existed)
        pending, dead = split([(did, status.get(did, _PENDING)) for did in self.ids])
        claims: list[DeliveryClaim] = []
        if self.lease is not None:
            created, lease_until = now.astimezone(UTC), until.astimezone(UTC)
            for did, event, listener, token in self.claimed:
                if did in made and token is not None:
                    delivery = Delivery(
                        id=did,
                        event_uid=event.uid,
                        event_name=event.name,
                        listener_id=listener,
                        status=DeliveryStatus.RUNNING,
                        attempts=1,
                        next_attempt_at=created,
                        last_error=None,
                        lease_until=lease_until,
                        created_at=created,
                        updated_at=created,
                    )
                    stored = StoredEvent(event.uid, event.name, event.payload, source, created)
                    claims.append(DeliveryClaim(delivery, stored, token))
        return Accepted(wrote, pending, dead, tuple(claims))
