"""The outbox contract a store implements: events and deliveries, recorded and claimed atomically.

:class:`~vbwd_plugins.SQLiteStateStore` and :class:`~vbwd_plugins.PostgresStateStore` implement
:class:`Outbox`. Every method is one transaction. Claims work like the inbox's: a random token
and a lease; only the current token records an outcome, and an expired lease can be taken over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from vbwd_plugins.delivery._model import (
    Accepted,
    Delivery,
    DeliveryClaim,
    DeliveryStatus,
    NewEvent,
    StoredEvent,
    WebhookReceipt,
)

__all__ = ["Outbox"]


@runtime_checkable
class Outbox(Protocol):
    """Durable events and per-listener deliveries."""

    def outbox_accept(self, receipt: WebhookReceipt | None, events: Sequence[NewEvent]) -> Accepted:
        """Record a webhook's inbox row, its events and their deliveries in ONE transaction.

        ``receipt`` ``None`` records published host events (no inbox row). When the
        receipt's ``(provider, event_id)`` is already recorded, nothing is written and the
        answer lists that webhook's deliveries that have not succeeded (``new`` False).
        Deliveries are created PENDING, due now, with 0 attempts.
        """
        ...

    def delivery_claim(
        self, delivery_id: str, *, lease: timedelta, due_only: bool = True
    ) -> DeliveryClaim | None:
        """Claim a delivery: PENDING (and due, if ``due_only``), or RUNNING with an expired lease.

        Sets RUNNING, ``attempts`` + 1 and ``lease_until``; ``None`` when it is SUCCEEDED,
        DEAD, held by another runner, not yet due, or unknown.
        """
        ...

    def delivery_succeed(self, delivery_id: str, token: str) -> bool:
        """Record success; ``False`` if ``token`` no longer holds the delivery."""
        ...

    def delivery_fail(
        self, delivery_id: str, token: str, error: str, *, retry_at: datetime | None
    ) -> bool:
        """Record a failure: PENDING again at ``retry_at``, or DEAD when it is ``None``."""
        ...

    def delivery_get(self, delivery_id: str) -> Delivery | None:
        """One delivery, or ``None``."""
        ...

    def event_get(self, event_uid: str) -> StoredEvent | None:
        """One recorded event, or ``None``."""
        ...

    def deliveries_list(
        self,
        *,
        status: DeliveryStatus | None = None,
        event_name: str | None = None,
        listener_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries, most recently updated first, filtered."""
        ...

    def deliveries_of_webhook(self, provider: str, event_id: str) -> list[Delivery]:
        """The deliveries recorded for one webhook, in the order they were recorded."""
        ...

    def deliveries_due(self, *, now: datetime | None = None, limit: int = 100) -> list[Delivery]:
        """PENDING deliveries due by ``now`` and RUNNING ones whose lease has expired.

        What a sweep re-submits when a task was lost or a worker died.
        """
        ...

    def deliveries_retry(
        self,
        *,
        delivery_id: str | None = None,
        listener_id: str | None = None,
        webhook: tuple[str, str] | None = None,
        status: DeliveryStatus = DeliveryStatus.DEAD,
    ) -> list[str]:
        """Make matching deliveries of ``status`` PENDING and due now; their ids.

        Never touches SUCCEEDED deliveries. ``webhook`` is ``(provider, event_id)``.
        """
        ...

    def deliveries_purge(self, *, older_than: timedelta) -> int:
        """Delete SUCCEEDED deliveries (and events left without deliveries) older than that."""
        ...
