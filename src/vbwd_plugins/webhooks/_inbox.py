"""The webhook inbox contract: one row per (provider, provider event id), claimed atomically.

A verified delivery is recorded here *before* it is handled. Its row moves through::

    (new) -> processing -> processed
                 |  ^
                 v  |   a redelivery (or a replay) reclaims a failed row,
               failed   or a processing row whose claim has expired

    (new) -> recorded   with the outbox (:meth:`~vbwd_plugins.delivery.Outbox.outbox_accept`):
                        progress is per delivery, the row only deduplicates

A claim is a random token plus a lease: only the holder of the current token can mark the
row processed or failed, and a claim whose lease ran out (its worker crashed) can be taken
over. :class:`SQLiteStateStore` and :class:`PostgresStateStore` implement
:class:`WebhookInbox`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol, runtime_checkable

from vbwd_plugins.errors import StoreError

__all__ = ["InboxClaim", "InboxRecord", "InboxStatus", "WebhookInbox"]

#: Longest stored event id; the pipeline hashes longer ones.
MAX_EVENT_ID: Final = 255
#: Longest stored error text.
MAX_ERROR: Final = 2000


class InboxStatus(StrEnum):
    """Where a received webhook event is in its handling."""

    #: Claimed by a worker that is handling it now (until its lease expires).
    PROCESSING = "processing"
    #: Handled successfully; redeliveries are acknowledged without handling again.
    PROCESSED = "processed"
    #: The handler or a listener failed; the next redelivery or a replay retries it.
    FAILED = "failed"
    #: Recorded with its standard events and their deliveries in one transaction; its
    #: progress is in those deliveries (``vbwd-plugins deliveries list``), never reclaimed.
    RECORDED = "recorded"


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """One received webhook event as the inbox holds it."""

    provider: str
    event_id: str
    #: The provider's event type (``payment_intent.succeeded``), when the payload has one.
    event_type: str | None
    status: InboxStatus
    #: How many times handling was started (1 on the first delivery).
    attempts: int
    #: ``"ExceptionType: message"`` of the last failure; ``None`` once processed.
    error: str | None
    #: The verified, parsed event with secret-named fields redacted; what a replay handles.
    payload: dict[str, Any]
    received_at: datetime
    updated_at: datetime
    processed_at: datetime | None
    #: When the current claim expires (``status`` PROCESSING only).
    claimed_until: datetime | None


@dataclass(frozen=True, slots=True)
class InboxClaim:
    """Outcome of :meth:`WebhookInbox.inbox_claim`.

    ``token`` is set when this caller now owns the event and must handle it; otherwise
    ``status`` is why not: PROCESSED (a duplicate) or PROCESSING (another worker's
    claim has not expired).
    """

    token: str | None
    status: InboxStatus

    @property
    def claimed(self) -> bool:
        """Whether this caller holds the claim."""
        return self.token is not None


@runtime_checkable
class WebhookInbox(Protocol):
    """Durable, deduplicating storage of received webhook events.

    Implementations must make :meth:`inbox_claim` atomic across processes: of any number
    of concurrent claims of one event, at most one gets a token.
    """

    def inbox_claim(
        self,
        provider: str,
        event_id: str,
        *,
        event_type: str | None,
        payload: str,
        lease: timedelta,
    ) -> InboxClaim:
        """Record the event (``payload`` is its JSON text) and claim it, in one commit.

        A new event is inserted as PROCESSING and claimed; a FAILED one, or a PROCESSING
        one whose claim has expired, is reclaimed (``attempts`` + 1, payload kept).
        Otherwise nothing changes and no token is returned.
        """
        ...

    def inbox_complete(self, provider: str, event_id: str, token: str) -> bool:
        """Mark the claimed event PROCESSED; ``False`` if ``token`` no longer holds it."""
        ...

    def inbox_fail(self, provider: str, event_id: str, token: str, error: str) -> bool:
        """Mark the claimed event FAILED with ``error``; ``False`` if ``token`` lost it."""
        ...

    def inbox_get(self, provider: str, event_id: str) -> InboxRecord | None:
        """The event's record, or ``None``."""
        ...

    def inbox_list(
        self,
        *,
        status: InboxStatus | None = None,
        provider: str | None = None,
        limit: int = 100,
    ) -> list[InboxRecord]:
        """Records, most recently updated first, optionally of one status or provider."""
        ...

    def inbox_purge(self, *, older_than: timedelta) -> int:
        """Delete PROCESSED records last updated more than ``older_than`` ago; the count.

        RECORDED ones go too once every delivery of their events has succeeded.
        """
        ...


# -- helpers shared by the implementations --------------------------------------------


#: Oldest age a purge accepts: further back, a store's timestamp arithmetic overflows.
MAX_PURGE_AGE: Final = timedelta(days=36_500)


def check_purge_age(older_than: timedelta) -> None:
    """Refuse a negative age (which would purge rows processed in the future) and one over
    100 years (PostgreSQL's ``now() - interval`` would fail out of range)."""
    if not isinstance(older_than, timedelta) or older_than < timedelta(0):
        raise StoreError(
            f"inbox_purge(older_than=...) must be a timedelta >= 0, got {older_than!r}"
        )
    if older_than > MAX_PURGE_AGE:
        raise StoreError(
            f"inbox_purge(older_than=...) must be at most {MAX_PURGE_AGE.days} days, "
            f"got {older_than.days} days"
        )


def check_limit(limit: int) -> None:
    """Refuse a listing limit that is not a positive int."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise StoreError(f"inbox_list(limit=...) must be an int >= 1, got {limit!r}")


def load_payload(text: str) -> dict[str, Any]:
    """The stored payload as a dict (what the pipeline wrote was a JSON object)."""
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}
