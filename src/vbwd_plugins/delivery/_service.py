"""Record events with their deliveries, then run them inline or hand them to an engine.

One :class:`DeliveryService` per plugin manager (``manager.deliveries``). Recording is one
outbox transaction; running goes through the :class:`DeliveryRunner`, in this process
when :attr:`DeliveryService.engine` is ``None`` (inline) or on the engine's workers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Final, Protocol, final, runtime_checkable

from vbwd_plugins.delivery._engine import DeliveryEngine
from vbwd_plugins.delivery._model import (
    Accepted,
    DeliveryClaim,
    NewEvent,
    WebhookReceipt,
    delivery_id,
)
from vbwd_plugins.delivery._outbox import Outbox
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.delivery._runner import DEFAULT_LEASE, DeliveryRunner, RunResult
from vbwd_plugins.events._dispatcher import Event, EventDispatcher

__all__ = ["DeliveryService", "HostOutbox", "event_uid"]

logger = logging.getLogger("vbwd_plugins.delivery")

#: Start of the uid of an event recorded by :meth:`DeliveryService.publish`.
PUBLISH_PREFIX: Final = "evt_"


@runtime_checkable
class HostOutbox(Protocol):
    """An :class:`Outbox` that can also record on the host's own connection."""

    def outbox_accept_in(self, connection: object, events: Sequence[NewEvent]) -> Accepted:
        """Record published ``events`` in the transaction open on ``connection``; never commit.

        Refuses (:class:`TypeError`, :class:`~vbwd_plugins.errors.StoreError`) a connection
        of another kind, to another database, or in autocommit outside a transaction.
        """
        ...


def event_uid(provider: str, event_id: str, index: int) -> str:
    """The uid of the ``index``-th standard event of a webhook: ``"<provider>:<id>:<index>"``."""
    return f"{provider}:{event_id}:{index}"


@final
class DeliveryService:
    """Records durable events (webhooks' and the host's) and gets their deliveries run.

    ``engine`` ``None`` runs deliveries inline, in the caller; set it (through
    ``manager.set_delivery_engine``) to run them elsewhere.
    """

    __slots__ = ("dispatcher", "engine", "outbox", "runner")

    def __init__(
        self,
        outbox: Outbox,
        dispatcher: EventDispatcher,
        *,
        policy: RetryPolicy | None = None,
        lease: timedelta = DEFAULT_LEASE,
        engine: DeliveryEngine | None = None,
    ) -> None:
        #: Where events and deliveries are recorded.
        self.outbox: Final = outbox
        #: Whose listeners get deliveries (the ids current when an event is recorded).
        self.dispatcher: Final = dispatcher
        #: Runs one delivery in this process.
        self.runner: Final = DeliveryRunner(outbox, dispatcher, policy=policy, lease=lease)
        #: Where deliveries are handed over; ``None``: run inline.
        self.engine: DeliveryEngine | None = engine

    def new_event(self, uid: str, event: Event) -> NewEvent:
        """``event`` as the outbox records it, with one delivery per current listener."""
        return NewEvent(uid, event.name, event.to_json(), self.dispatcher.listener_ids(event.name))

    def record_webhook(
        self, receipt: WebhookReceipt, events: Sequence[Event], *, claim: bool = False
    ) -> Accepted:
        """Record a verified webhook, its standard events and their deliveries atomically.

        The ``index``-th event's uid is ``"<provider>:<event id>:<index>"``. A webhook
        recorded before writes nothing and answers its deliveries not yet succeeded.
        ``claim`` creates the new deliveries claimed by this service's runner (in
        ``Accepted.claims``), for :meth:`run_inline` to run without claiming them again.
        """
        new = [
            self.new_event(event_uid(receipt.provider, receipt.event_id, index), event)
            for index, event in enumerate(events)
        ]
        if claim:
            return self.outbox.outbox_accept(receipt, new, lease=self.runner.lease)
        return self.outbox.outbox_accept(receipt, new)

    def run_inline(
        self, delivery_ids: Sequence[str], claims: Sequence[DeliveryClaim] = ()
    ) -> list[RunResult]:
        """Run each delivery now in this process, due or not; the outcomes in order.

        A delivery with one of ``claims`` (from :meth:`record_webhook`) runs under it.
        Raises :class:`~vbwd_plugins.errors.StoreError` if a claim fails (nothing more runs).
        """
        runner = self.runner
        held = {one.delivery.id: one for one in claims}
        return [
            runner.run(one, due_only=False) if one not in held else runner.run_claimed(held[one])
            for one in delivery_ids
        ]

    def deliver(self, delivery_ids: Sequence[str]) -> list[RunResult]:
        """Run ``delivery_ids`` inline, or submit them to the engine (then ``[]``).

        A failed submission is logged, not raised: the deliveries are recorded, and
        :meth:`sweep` submits them again.
        """
        if not delivery_ids:
            return []
        engine = self.engine
        if engine is None:
            return self.run_inline(delivery_ids)
        try:
            engine.submit(delivery_ids)
        except Exception:
            logger.exception(
                "Submitting %d delivery(ies) to %s failed; they are recorded and the next "
                "sweep submits them again",
                len(delivery_ids),
                type(engine).__name__,
            )
        return []

    def publish(self, event: Event, *, connection: object | None = None) -> list[str]:
        """Record a host event and one delivery per current listener, then deliver them.

        Durable, unlike :meth:`EventDispatcher.dispatch`: each listener is run until its
        success is recorded (inline now, or by the engine), with an idempotency key. A
        listener that fails inline is retried by :meth:`sweep`. Returns the delivery ids.

        With ``connection`` (the host's open connection to the store's database) the
        event is recorded in the host's transaction instead, and nothing runs yet: it
        commits or rolls back with the host's writes. Once committed, the deliveries are
        due: :meth:`deliver` the ids after the commit, or the next :meth:`sweep` runs them.
        """
        uid = PUBLISH_PREFIX + uuid.uuid4().hex
        new = self.new_event(uid, event)
        ids = [delivery_id(uid, listener) for listener in dict.fromkeys(new.listener_ids)]
        if connection is not None:
            self._host_outbox().outbox_accept_in(connection, [new])
            return ids
        self.outbox.outbox_accept(None, [new])
        self.deliver(ids)
        return ids

    def _host_outbox(self) -> HostOutbox:
        outbox = self.outbox
        if not isinstance(outbox, HostOutbox):
            raise TypeError(
                f"publish(connection=...) needs a store that records in the host's transaction "
                f"(SQLiteStateStore, PostgresStateStore); {type(outbox).__name__} does not"
            )
        return outbox

    def sweep(self, *, limit: int = 100) -> list[str]:
        """Deliveries due (retries, and RUNNING ones whose lease ran out): submit or run them.

        What a periodic task (or the CLI) calls so that a lost message or a dead worker
        loses nothing; returns the ids found.
        """
        due = [one.id for one in self.outbox.deliveries_due(limit=limit)]
        if not due:
            return due
        engine = self.engine
        if engine is None:
            run = self.runner.run
            for one in due:
                run(one)
        else:
            engine.submit(due)
        return due
