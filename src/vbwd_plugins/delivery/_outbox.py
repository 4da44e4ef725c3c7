"""The outbox contract a store implements: events and deliveries, recorded and claimed atomically.

:class:`~vbwd_plugins.SQLiteStateStore` and :class:`~vbwd_plugins.PostgresStateStore` implement
:class:`Outbox`. Every method is one transaction. Claims work like the inbox's: a random token
and a lease; only the current token records an outcome, and an expired lease can be taken over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

from vbwd_plugins.delivery._model import (
    MAX_ERROR,
    MAX_LISTENER_ID,
    Accepted,
    Delivery,
    DeliveryClaim,
    DeliveryStatus,
    NewEvent,
    StoredEvent,
    WebhookReceipt,
)
from vbwd_plugins.errors import StoreError

__all__ = ["Outbox"]


@runtime_checkable
class Outbox(Protocol):
    """Durable events and per-listener deliveries."""

    def outbox_accept(
        self,
        receipt: WebhookReceipt | None,
        events: Sequence[NewEvent],
        *,
        lease: timedelta | None = None,
    ) -> Accepted:
        """Record a webhook's inbox row, its events and their deliveries in ONE transaction.

        ``receipt`` ``None`` records published host events (no inbox row). When the
        receipt's ``(provider, event_id)`` is already recorded, nothing is written and the
        answer lists that webhook's deliveries that have not succeeded (``new`` False), unless
        the row predates the outbox (FAILED, or PROCESSING under an expired claim, with no
        events): then it becomes RECORDED and the events are recorded as for a new webhook.
        Deliveries are created PENDING, due now, with 0 attempts. The inbox row is
        RECORDED. An event uid recorded before keeps its row and its deliveries (their
        ids are the same), so recording again is idempotent. A listener id that is not 1
        to ``MAX_LISTENER_ID`` characters raises :class:`StoreError`, and nothing is written.
        A webhook's event uids start with ``"<provider>:<event id>:"`` (what
        ``DeliveryService.record_webhook`` makes); SQLite finds a webhook's events by
        that prefix and refuses others (:class:`StoreError`, nothing written).

        With ``lease``, the deliveries this call creates are created claimed, as
        :meth:`delivery_claim` would leave them (RUNNING, 1 attempt, a token each, the
        lease from now), and returned in ``Accepted.claims``: an inline runner then needs
        no claim of its own. The commit is as durable as without it.
        """
        ...

    def delivery_claim(
        self, delivery_id: str, *, lease: timedelta, due_only: bool = True
    ) -> DeliveryClaim | None:
        """Claim a delivery: PENDING (and due, if ``due_only``), or RUNNING with an expired lease.

        Sets RUNNING, ``attempts`` + 1 and ``lease_until``; ``None`` when it is SUCCEEDED,
        DEAD, held by another runner, not yet due, or unknown. Of concurrent claims (any
        processes) at most one gets the token.
        """
        ...

    def delivery_succeed(self, delivery_id: str, token: str) -> bool:
        """Record success; ``False`` if ``token`` no longer holds the delivery.

        Repeating the call with the same token answers ``True`` again and changes nothing,
        so a store may retry it when its connection drops.
        """
        ...

    def delivery_fail(
        self, delivery_id: str, token: str, error: str, *, retry_at: datetime | None
    ) -> bool:
        """Record a failure: PENDING again at ``retry_at``, or DEAD when it is ``None``.

        ``retry_at`` is timezone-aware; ``error`` is cut to ``MAX_ERROR`` characters. Like
        :meth:`delivery_succeed`, ``False`` if ``token`` lost the delivery; idempotent.
        """
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

    def webhooks_unfinished(
        self, *, provider: str | None = None, limit: int = 100
    ) -> list[tuple[str, str]]:
        """``(provider, event_id)`` of webhooks not fully handled, inbox rows newest first.

        Unfinished: a delivery has not succeeded (PENDING, RUNNING or DEAD), or the inbox
        row predates the outbox (FAILED or PROCESSING). What ``vbwd-plugins inbox list
        --unfinished`` shows and ``inbox replay --unfinished`` runs again.
        """
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

        Never touches SUCCEEDED deliveries (asking for them raises :class:`StoreError`);
        RUNNING ones only once their lease has expired. ``webhook`` is
        ``(provider, event_id)``; no filter retries every delivery of ``status``.
        ``attempts`` is kept, so the runner's policy sees every run (a dead delivery
        retried gets one more run before it is dead again).
        """
        ...

    def deliveries_purge(self, *, older_than: timedelta) -> int:
        """Delete SUCCEEDED deliveries (and events left without deliveries) older than that."""
        ...


# -- helpers shared by the implementations --------------------------------------------

_MAX_AGE: Final = timedelta(days=36_500)


def listener_ids(event: NewEvent) -> tuple[str, ...]:
    """The event's listener ids, validated, each once (first occurrence kept)."""
    for listener in event.listener_ids:
        if not isinstance(listener, str) or not 1 <= len(listener) <= MAX_LISTENER_ID:
            raise StoreError(
                f"Event {event.name!r} ({event.uid!r}): listener id {listener!r} must be a "
                f"string of 1 to {MAX_LISTENER_ID} characters; give the listener a shorter id"
            )
    return tuple(dict.fromkeys(event.listener_ids))


def bound_error(error: str) -> str:
    """``error`` cut to what the stores keep."""
    text = str(error)
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


def check_limit(method: str, limit: int) -> None:
    """Refuse a listing limit that is not a positive int."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise StoreError(f"{method}(limit=...) must be an int >= 1, got {limit!r}")


def check_age(method: str, older_than: timedelta) -> None:
    """Refuse a negative age (rows finished in the future) or one over 100 years (out of
    range for PostgreSQL's ``now() - interval``)."""
    if not isinstance(older_than, timedelta) or not timedelta(0) <= older_than <= _MAX_AGE:
        raise StoreError(
            f"{method}(older_than=...) must be a timedelta from 0 to {_MAX_AGE.days} days, "
            f"got {older_than!r}"
        )


def check_lease(lease: timedelta) -> None:
    """Refuse a lease that is not a positive timedelta."""
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise StoreError(f"delivery_claim(lease=...) must be a timedelta > 0, got {lease!r}")


def check_aware(method: str, argument: str, value: datetime) -> datetime:
    """Refuse a naive datetime: stores compare instants, never local wall-clock times."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise StoreError(
            f"{method}({argument}=...) must be a timezone-aware datetime "
            f"(e.g. datetime.now(UTC)), got {value!r}"
        )
    return value


def check_retry_status(status: DeliveryStatus) -> DeliveryStatus:
    """The status ``deliveries_retry`` may reset: never SUCCEEDED."""
    try:
        status = DeliveryStatus(status)
    except ValueError:
        raise StoreError(
            f"deliveries_retry(status=...) must be one of {[s.value for s in DeliveryStatus]}, "
            f"got {status!r}"
        ) from None
    if status is DeliveryStatus.SUCCEEDED:
        raise StoreError(
            "deliveries_retry(status='succeeded') is refused: a delivery whose success was "
            "recorded is never run again; publish a new event instead"
        )
    return status
