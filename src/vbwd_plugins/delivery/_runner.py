"""Run one delivery: claim it, call its listener, record the outcome.

The runner is the only code that calls a listener for a durable delivery, inline in a
webhook request, in a Celery task or from a sweep alike. It never raises for what the
listener does: a failure (also a listener this process does not have, or an event that
does not decode) is recorded with the :class:`RetryPolicy`'s next attempt time, or as DEAD
after the last attempt. It raises :class:`~vbwd_plugins.errors.StoreError` only when the
claim itself fails, when nothing ran.

Once a listener returned, losing the store before its success is recorded does not make it
run again at once: the delivery stays RUNNING until its lease ends, and only then is it
claimed again, with the same idempotency key.
"""

from __future__ import annotations

import inspect
import logging
import random
import threading
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, cast, final

from vbwd_plugins.delivery._model import MAX_ERROR, Delivery, DeliveryClaim
from vbwd_plugins.delivery._outbox import Outbox
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.errors import ListenerNotFoundError, StoreError
from vbwd_plugins.events._dispatcher import Event, EventDispatcher
from vbwd_plugins.telemetry._spans import listener_delivery

__all__ = ["DEFAULT_LEASE", "DeliveryRunner", "RunOutcome", "RunResult", "describe_error"]

logger = logging.getLogger("vbwd_plugins.delivery")

#: How long a runner's claim on a delivery lasts; keep listeners well below it.
DEFAULT_LEASE: Final = timedelta(minutes=5)


class RunOutcome(StrEnum):
    """What one :meth:`DeliveryRunner.run` did."""

    #: The listener returned and its success was recorded: never run again.
    SUCCEEDED = "succeeded"
    #: It failed (or its outcome could not be recorded); it runs again from ``retry_at``.
    RETRY = "retry"
    #: It failed on its last allowed attempt; only an operator's retry runs it again.
    DEAD = "dead"
    #: Nothing ran: the delivery is done, dead, not due, held by another runner, unknown,
    #: or its lease ran out while the listener ran (another runner holds it now).
    SKIPPED = "skipped"


@final
@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one run of one delivery."""

    delivery_id: str
    outcome: RunOutcome
    #: When it is due again (RETRY only).
    retry_at: datetime | None
    #: ``"ExceptionType: message"`` of the failure, or why it was skipped.
    error: str | None


@final
class DeliveryRunner:
    """Claims, runs and records deliveries of one outbox with one dispatcher's listeners.

    ``lease`` is how long a claim lasts: a runner that dies mid-call blocks that delivery
    for at most this long. ``policy`` decides the retry times and the last attempt. Safe to
    share between threads.
    """

    __slots__ = ("_rng", "dispatcher", "lease", "outbox", "policy")

    def __init__(
        self,
        outbox: Outbox,
        dispatcher: EventDispatcher,
        *,
        policy: RetryPolicy | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValueError(f"lease must be a positive timedelta, got {lease!r}")
        #: Where deliveries are claimed and their outcomes recorded.
        self.outbox: Final = outbox
        #: Whose listeners are called, found by id.
        self.dispatcher: Final = dispatcher
        #: When a failed delivery runs again, and after how many attempts it is dead.
        self.policy: Final = RetryPolicy() if policy is None else policy
        #: How long a claim lasts.
        self.lease: Final = lease
        self._rng = random.Random()

    def run(self, delivery_id: str, *, due_only: bool = True) -> RunResult:
        """Claim ``delivery_id``, call its listener once and record the outcome.

        ``due_only=False`` runs a PENDING delivery before its retry time (a provider's
        redelivery, an operator). Raises :class:`StoreError` only if the claim fails.
        """
        claim = self.outbox.delivery_claim(delivery_id, lease=self.lease, due_only=due_only)
        if claim is None:
            return RunResult(delivery_id, RunOutcome.SKIPPED, None, None)
        return self.run_claimed(claim)

    def run_claimed(self, claim: DeliveryClaim) -> RunResult:
        """Call the listener of a delivery already claimed, and record the outcome.

        ``claim`` comes from :meth:`Outbox.delivery_claim` or from ``outbox_accept(...,
        lease=...)``, which records a webhook with its deliveries claimed (inline runs).
        Never raises for what the listener does.
        """
        with listener_delivery(claim.delivery) as span:
            try:
                self._call(claim)
            except Exception as exc:  # noqa: BLE001 - recorded as this delivery's failure
                return span.ended(self._failed(claim, exc))
            return span.ended(self._succeeded(claim))

    # -- internals -------------------------------------------------------------------

    def _call(self, claim: DeliveryClaim) -> None:
        delivery = claim.delivery
        listener = self.dispatcher.find_listener(delivery.event_name, delivery.listener_id)
        if listener is None:
            raise ListenerNotFoundError(
                f"No listener {delivery.listener_id!r} for event {delivery.event_name!r} "
                "in this process: build its PluginManager with the same plugins and host "
                "listeners as the process that recorded the event (or retry the delivery "
                "where the listener exists)",
                listener=delivery.listener_id,
                event_name=delivery.event_name,
            )
        event = Event.from_json(claim.event.payload)
        event.idempotency_key = delivery.idempotency_key
        event.delivery_id = delivery.id
        result = listener.callback(event)
        if listener.is_async or inspect.isawaitable(result):
            awaitable = cast("Awaitable[object]", result)
            run_coroutine(self.dispatcher.await_listener(listener, awaitable, event))

    def _failed(self, claim: DeliveryClaim, exc: Exception) -> RunResult:
        delivery = claim.delivery
        error = describe_error(exc)
        retry_at = self.policy.next_attempt(delivery.attempts, datetime.now(UTC), self._rng)
        quiet = isinstance(exc, ListenerNotFoundError)
        logger.error(
            "Listener %s failed on event %r (delivery %s, attempt %d): %s; %s",
            delivery.listener_id,
            delivery.event_name,
            delivery.id,
            delivery.attempts,
            error,
            f"retried at {retry_at.isoformat()}" if retry_at else "dead-lettered",
            exc_info=None if quiet else exc,
            extra=_extra(delivery),
        )
        try:
            recorded = self.outbox.delivery_fail(delivery.id, claim.token, error, retry_at=retry_at)
        except StoreError as store_exc:
            logger.error(
                "Delivery %s: the failure could not be recorded (%s); it runs again after "
                "its lease ends at %s",
                delivery.id,
                store_exc,
                delivery.lease_until,
                extra=_extra(delivery),
            )
            return RunResult(delivery.id, RunOutcome.RETRY, delivery.lease_until, error)
        if not recorded:
            return self._lost(delivery, error)
        outcome = RunOutcome.DEAD if retry_at is None else RunOutcome.RETRY
        return RunResult(delivery.id, outcome, retry_at, error)

    def _succeeded(self, claim: DeliveryClaim) -> RunResult:
        delivery = claim.delivery
        try:
            recorded = self.outbox.delivery_succeed(delivery.id, claim.token)
        except StoreError as exc:
            logger.error(
                "Listener %s ran for event %r (delivery %s) but its success could not be "
                "recorded: %s. It is not run again before its lease ends at %s; then it "
                "is, with the same idempotency key",
                delivery.listener_id,
                delivery.event_name,
                delivery.id,
                exc,
                delivery.lease_until,
                extra=_extra(delivery),
            )
            error = f"success not recorded: {describe_error(exc)}"
            return RunResult(delivery.id, RunOutcome.RETRY, delivery.lease_until, error)
        if not recorded:
            return self._lost(delivery, None)
        return RunResult(delivery.id, RunOutcome.SUCCEEDED, None, None)

    def _lost(self, delivery: Delivery, error: str | None) -> RunResult:
        logger.warning(
            "Delivery %s (listener %s, event %r): its lease of %s ran out while the listener "
            "ran and another runner took it over, so it may run twice; raise the lease above "
            "the listener's time",
            delivery.id,
            delivery.listener_id,
            delivery.event_name,
            self.lease,
            extra=_extra(delivery),
        )
        reason = "lease expired while the listener ran"
        return RunResult(
            delivery.id, RunOutcome.SKIPPED, None, reason if error is None else f"{reason}: {error}"
        )


def run_coroutine(coroutine: Coroutine[Any, Any, object]) -> None:
    """Run ``coroutine`` to completion from sync code, on a private event loop.

    With no loop running in this thread, ``asyncio.run``; inside one (a sync call from an
    async web handler), on a short-lived thread of its own, since this thread's loop
    cannot be re-entered.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="vbwd-delivery-loop")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def describe_error(exc: BaseException) -> str:
    """``"Type: message"`` (with an exception group's members), safe to store."""
    parts = [f"{type(exc).__name__}: {exc}"]
    if isinstance(exc, BaseExceptionGroup):
        parts += [describe_error(inner) for inner in exc.exceptions]
    text = "; ".join(parts).replace("\x00", "\\x00")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


def _extra(delivery: Delivery) -> dict[str, object]:
    return {
        "delivery_id": delivery.id,
        "event_name": delivery.event_name,
        "listener": delivery.listener_id,
    }
