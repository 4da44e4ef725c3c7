"""What the outbox records: standard events, and one delivery per (event, listener).

A verified webhook (or a host's :meth:`~vbwd_plugins.PluginManager.publish`) becomes one or
more standard events. Each event gets one *delivery* per listener subscribed to it when it
was recorded, all in the same transaction as the inbox row. A delivery moves through::

    pending --claim--> running --success--> succeeded        (never run again)
       ^                  |
       |    failure,      |  failure after the last attempt
       +---- retry_at ----+-------------------------------> dead  (an operator retries it)
       |                  |
       +-- lease expired -+   (the runner died: the delivery is claimed again)

The guarantee this gives a listener is *at least once until success is recorded*: a
listener whose success was recorded is never called again for that event; one that failed,
or whose runner died before recording the outcome, is called again with the same
:attr:`Delivery.idempotency_key`, so a listener that keys its own effect on it (a unique
column in the host's table) has its effect exactly once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

__all__ = [
    "Accepted",
    "Delivery",
    "DeliveryClaim",
    "DeliveryStatus",
    "NewEvent",
    "StoredEvent",
    "WebhookReceipt",
    "delivery_id",
    "delivery_prefix",
    "idempotency_key",
]

#: Longest listener id the stores keep.
MAX_LISTENER_ID: Final = 200
#: Longest ``last_error`` the stores keep; longer texts are cut, ending in ``"..."``.
MAX_ERROR: Final = 2000


class DeliveryStatus(StrEnum):
    """Where one (event, listener) delivery is."""

    #: Waiting for its first run, or for a retry at ``next_attempt_at``.
    PENDING = "pending"
    #: Claimed by a runner until ``lease_until``; after that it can be claimed again.
    RUNNING = "running"
    #: The listener returned; recorded, and never run again for this event.
    SUCCEEDED = "succeeded"
    #: Failed on its last allowed attempt; only an operator's retry runs it again.
    DEAD = "dead"


def idempotency_key(event_uid: str, listener_id: str) -> str:
    """The stable key of one listener's effect for one event (hex, 64 characters)."""
    return hashlib.sha256(f"{event_uid}\x00{listener_id}".encode()).hexdigest()


def delivery_id(event_uid: str, listener_id: str) -> str:
    """A delivery's id: the same for the same (event, listener), so recording is idempotent.

    It starts with :func:`delivery_prefix` of its event, so a store finds an event's
    deliveries as a range of ids, without an index of their event uids.
    """
    return delivery_prefix(event_uid) + idempotency_key(event_uid, listener_id)[:16]


def delivery_prefix(event_uid: str) -> str:
    """The start (20 characters) of the id of every delivery of ``event_uid``."""
    return "dlv_" + hashlib.sha256(event_uid.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    """The inbox row of a verified webhook, recorded with its events and deliveries."""

    provider: str
    event_id: str
    event_type: str | None
    #: The redacted payload as JSON text (what ``inbox replay`` works from).
    payload: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A standard event to record, with the ids of the listeners that get a delivery."""

    #: Unique id of this event: ``"<provider>:<event id>:<index>"`` for webhooks, a random
    #: ``"evt_..."`` for published host events.
    uid: str
    name: str
    #: The event as ``Event.to_json()`` text.
    payload: str
    listener_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A recorded standard event."""

    uid: str
    name: str
    payload: str
    #: ``"webhook:<provider>"`` or ``"publish"``.
    source: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One listener's delivery of one event."""

    id: str
    event_uid: str
    event_name: str
    listener_id: str
    status: DeliveryStatus
    #: Runs started so far (0 before the first).
    attempts: int
    #: When a PENDING delivery is due; ``None`` once SUCCEEDED or DEAD.
    next_attempt_at: datetime | None
    #: ``"ExceptionType: message"`` of the last failure.
    last_error: str | None
    #: When a RUNNING delivery's claim expires.
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def idempotency_key(self) -> str:
        """Passed to the listener; the same on every attempt of this delivery."""
        return idempotency_key(self.event_uid, self.listener_id)


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """A runner's hold on a delivery: only ``token`` can record its outcome."""

    delivery: Delivery
    event: StoredEvent
    token: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """What recording a webhook (or a published event) found and did, in one transaction."""

    #: ``False`` when nothing new was written: the webhook (or every published event
    #: and delivery) was recorded before.
    new: bool
    #: Ids of this webhook's deliveries that have not succeeded (nor died), in the order
    #: they were recorded: what a runner should run now.
    pending: tuple[str, ...]
    #: Ids of this webhook's deliveries that are DEAD (acknowledged; an operator retries).
    dead: tuple[str, ...] = ()
    #: With ``outbox_accept(..., lease=...)``: the deliveries this call created already
    #: claimed (RUNNING under that lease), in recorded order; their ids are in ``pending``.
    claims: tuple[DeliveryClaim, ...] = ()
