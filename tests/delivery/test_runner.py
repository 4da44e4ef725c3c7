"""DeliveryRunner: claim, call, record; on real SQLite and PostgreSQL outboxes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.delivery._wire import CuttableLink
from tests.stores._support import StoreTarget
from vbwd_plugins import Event, EventDispatcher
from vbwd_plugins.delivery import (
    Delivery,
    DeliveryRunner,
    DeliveryStatus,
    NewEvent,
    Outbox,
    RetryPolicy,
    RunOutcome,
    delivery_id,
    idempotency_key,
)
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores import PostgresStateStore, postgres

NAME = "payment.completed"
UID = "mock:evt_1:0"


def record(outbox: Outbox, dispatcher: EventDispatcher, uid: str = UID) -> list[str]:
    """Record one ``payment.completed`` event with a delivery per current listener."""
    event = Event(NAME, {"amount": 2900, "provider_event_id": uid})
    ids = dispatcher.listener_ids(NAME)
    outbox.outbox_accept(None, [NewEvent(uid, NAME, event.to_json(), ids)])
    return [delivery_id(uid, listener) for listener in ids]


@pytest.fixture
def dispatcher() -> EventDispatcher:
    """A fresh dispatcher (listeners are added per test)."""
    return EventDispatcher()


@pytest.fixture
def runner(outbox: Outbox, dispatcher: EventDispatcher) -> DeliveryRunner:
    """A runner with three attempts and a short lease."""
    return DeliveryRunner(outbox, dispatcher, policy=RetryPolicy(max_attempts=3))


def test_listener_gets_the_event_with_its_idempotency_key_and_success_is_final(
    outbox: Outbox, dispatcher: EventDispatcher, runner: DeliveryRunner
) -> None:
    """One run calls the listener with the decoded event and its key; later runs skip it."""
    seen: list[Event] = []
    dispatcher.add_listener(NAME, seen.append, id="ledger")
    (one,) = record(outbox, dispatcher)
    result = runner.run(one)
    assert (result.outcome, result.retry_at, result.error) == (RunOutcome.SUCCEEDED, None, None)
    (event,) = seen
    assert event.data == {"amount": 2900, "provider_event_id": UID}
    assert event.idempotency_key == idempotency_key(UID, "ledger")
    assert event.delivery_id == one
    assert runner.run(one, due_only=False).outcome is RunOutcome.SKIPPED
    assert len(seen) == 1
    done = outbox.delivery_get(one)
    assert done is not None and (done.status, done.attempts) == (DeliveryStatus.SUCCEEDED, 1)


def test_plain_dispatch_has_no_idempotency_key(dispatcher: EventDispatcher) -> None:
    """Outside a delivery, ``idempotency_key`` and ``delivery_id`` are None."""
    seen: list[tuple[str | None, str | None]] = []
    dispatcher.add_listener(
        NAME, lambda event: seen.append((event.idempotency_key, event.delivery_id))
    )
    dispatcher.dispatch(Event(NAME))
    assert seen == [(None, None)]


def test_failure_is_retried_with_backoff_then_dead(
    outbox: Outbox, dispatcher: EventDispatcher, runner: DeliveryRunner
) -> None:
    """Each failure is recorded with the policy's next time; the third one is dead."""

    def broken(event: Event) -> None:
        raise RuntimeError("ledger locked")

    dispatcher.add_listener(NAME, broken, id="ledger")
    (one,) = record(outbox, dispatcher)
    before = datetime.now(UTC)
    first = runner.run(one)
    assert first.outcome is RunOutcome.RETRY
    assert first.error == "RuntimeError: ledger locked"
    assert first.retry_at is not None
    assert before <= first.retry_at <= datetime.now(UTC) + RetryPolicy().base_delay
    pending = outbox.delivery_get(one)
    assert pending is not None and pending.status is DeliveryStatus.PENDING
    assert pending.last_error == "RuntimeError: ledger locked"
    assert runner.run(one, due_only=False).outcome is RunOutcome.RETRY
    last = runner.run(one, due_only=False)
    assert (last.outcome, last.retry_at) == (RunOutcome.DEAD, None)
    dead = outbox.delivery_get(one)
    assert dead is not None and (dead.status, dead.attempts) == (DeliveryStatus.DEAD, 3)
    assert runner.run(one, due_only=False).outcome is RunOutcome.SKIPPED


def test_a_delivery_not_yet_due_runs_only_when_asked_to(
    outbox: Outbox, dispatcher: EventDispatcher
) -> None:
    """A retry scheduled later is skipped by a due-only run and run by ``due_only=False``."""
    calls: list[str] = []

    def flaky(event: Event) -> None:
        calls.append("call")
        if len(calls) == 1:
            raise RuntimeError("first call fails")

    slow = RetryPolicy(base_delay=timedelta(hours=1), max_delay=timedelta(hours=1))
    runner = DeliveryRunner(outbox, dispatcher, policy=slow)
    dispatcher.add_listener(NAME, flaky, id="flaky")
    (one,) = record(outbox, dispatcher)
    retry = runner.run(one)
    assert retry.outcome is RunOutcome.RETRY
    if retry.retry_at is not None and retry.retry_at > datetime.now(UTC):
        assert runner.run(one).outcome is RunOutcome.SKIPPED
    assert runner.run(one, due_only=False).outcome is RunOutcome.SUCCEEDED
    assert len(calls) == 2


def test_listener_missing_in_this_process_fails_naming_it(
    outbox: Outbox, dispatcher: EventDispatcher, runner: DeliveryRunner
) -> None:
    """A delivery for a listener this process lacks is a failure naming listener and event."""
    dispatcher.add_listener(NAME, lambda event: None, id="credit-points")
    (one,) = record(outbox, dispatcher)
    elsewhere = DeliveryRunner(outbox, EventDispatcher(), policy=RetryPolicy(max_attempts=2))
    first = elsewhere.run(one)
    assert first.outcome is RunOutcome.RETRY
    assert first.error is not None
    assert first.error.startswith("ListenerNotFoundError: No listener 'credit-points' for event")
    assert "'payment.completed'" in first.error
    assert elsewhere.run(one, due_only=False).outcome is RunOutcome.DEAD


def test_async_listener_is_awaited_once(
    outbox: Outbox, dispatcher: EventDispatcher, runner: DeliveryRunner
) -> None:
    """An ``async def`` listener runs to completion on a private loop, exactly once."""
    seen: list[str | None] = []

    async def notify(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(event.idempotency_key)

    dispatcher.add_listener(NAME, notify, id="notify")
    (one,) = record(outbox, dispatcher)
    assert runner.run(one).outcome is RunOutcome.SUCCEEDED
    assert seen == [idempotency_key(UID, "notify")]


def test_async_listener_runs_when_the_caller_has_a_running_loop(
    outbox: Outbox, dispatcher: EventDispatcher, runner: DeliveryRunner
) -> None:
    """Called from inside a running loop (a sync call in an async handler), it still runs."""
    seen: list[str] = []

    async def notify(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(event.name)

    dispatcher.add_listener(NAME, notify, id="notify")
    (one,) = record(outbox, dispatcher)

    async def handler() -> RunOutcome:
        return runner.run(one).outcome

    assert asyncio.run(handler()) is RunOutcome.SUCCEEDED
    assert seen == [NAME]


def test_async_listener_that_times_out_is_a_failure(
    outbox: Outbox, dispatcher: EventDispatcher, runner: DeliveryRunner
) -> None:
    """An async listener past its timeout is cancelled and recorded as ListenerTimeoutError."""

    async def stuck(event: Event) -> None:
        await asyncio.sleep(30)

    dispatcher.add_listener(NAME, stuck, id="stuck", timeout=0.05)
    (one,) = record(outbox, dispatcher)
    result = runner.run(one)
    assert result.outcome is RunOutcome.RETRY
    assert result.error is not None and result.error.startswith("ListenerTimeoutError: ")


def test_awaitable_returned_by_a_sync_listener_is_awaited(
    outbox: Outbox, dispatcher: EventDispatcher, runner: DeliveryRunner
) -> None:
    """A sync listener returning a coroutine has it awaited (no 'never awaited' warning)."""
    seen: list[str] = []

    async def later(event: Event) -> None:
        seen.append(event.name)

    dispatcher.add_listener(NAME, lambda event: later(event), id="later")
    (one,) = record(outbox, dispatcher)
    assert runner.run(one).outcome is RunOutcome.SUCCEEDED
    assert seen == [NAME]


def test_lease_lost_while_the_listener_ran_is_reported_as_skipped(
    outbox: Outbox, dispatcher: EventDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Another runner took over an expired lease: this one's outcome is not recorded."""
    runner = DeliveryRunner(outbox, dispatcher, lease=timedelta(milliseconds=50))
    other = DeliveryRunner(outbox, EventDispatcher(), lease=timedelta(hours=1))
    taken: list[object] = []

    def slow(event: Event) -> None:
        time.sleep(0.1)
        assert event.delivery_id is not None
        taken.append(other.outbox.delivery_claim(event.delivery_id, lease=other.lease))

    dispatcher.add_listener(NAME, slow, id="slow")
    (one,) = record(outbox, dispatcher)
    with caplog.at_level(logging.WARNING, logger="vbwd_plugins.delivery"):
        result = runner.run(one)
    assert taken and taken[0] is not None
    assert result.outcome is RunOutcome.SKIPPED
    assert "raise the lease" in caplog.text
    held = outbox.delivery_get(one)
    assert held is not None and held.status is DeliveryStatus.RUNNING


@pytest.fixture
def cut_link(
    target: StoreTarget,
) -> Iterator[Callable[[], tuple[PostgresStateStore, CuttableLink]]]:
    """A PostgreSQL store reached through a link the test can cut (skipped for SQLite)."""
    if target.kind != "postgres":
        pytest.skip("a dropped connection is a PostgreSQL matter")
    assert target.dsn is not None and target.schema is not None
    link = CuttableLink(target.dsn)
    opened: list[PostgresStateStore] = []

    def open_store() -> tuple[PostgresStateStore, CuttableLink]:
        store = PostgresStateStore(link.dsn, schema=target.schema or "", connect_timeout=1)
        opened.append(store)
        return store, link

    yield open_store
    link.restore()
    for store in opened:
        store.close()
    link.close()


def test_dropped_connection_after_the_listener_ran_does_not_run_it_again_before_the_lease(
    cut_link: Callable[[], tuple[PostgresStateStore, CuttableLink]],
    dispatcher: EventDispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The link drops after the call: no rerun while the lease holds; then the same key."""
    monkeypatch.setattr(postgres, "MARK_TRIES", 1)  # give up at once: the outage outlasts it
    store, link = cut_link()
    runner = DeliveryRunner(store, dispatcher, lease=timedelta(seconds=6))
    keys: list[str | None] = []

    def ledger(event: Event) -> None:
        keys.append(event.idempotency_key)
        if len(keys) == 1:
            link.cut()  # the connection drops, and stays down while success is recorded

    dispatcher.add_listener(NAME, ledger, id="ledger")
    (one,) = record(store, dispatcher)
    result = runner.run(one)
    assert result.outcome is RunOutcome.RETRY
    assert result.error is not None and result.error.startswith("success not recorded")
    link.restore()
    held = _when_reachable(lambda: store.delivery_get(one))
    assert held is not None and held.status is DeliveryStatus.RUNNING
    assert held.lease_until is not None and held.lease_until > datetime.now(UTC)
    assert runner.run(one, due_only=False).outcome is RunOutcome.SKIPPED  # the lease holds
    assert len(keys) == 1
    time.sleep(max(0.0, (held.lease_until - datetime.now(UTC)).total_seconds()) + 0.05)
    assert runner.run(one).outcome is RunOutcome.SUCCEEDED
    assert keys == [idempotency_key(UID, "ledger")] * 2
    done = store.delivery_get(one)
    assert done is not None and (done.status, done.attempts) == (DeliveryStatus.SUCCEEDED, 2)


def _when_reachable(read: Callable[[], Delivery | None]) -> Delivery | None:
    """``read()`` once the store answers again (the pool reconnects in the background)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return read()
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_connection_terminated_by_the_server_is_replaced_and_success_recorded(
    cut_link: Callable[[], tuple[PostgresStateStore, CuttableLink]], dispatcher: EventDispatcher
) -> None:
    """A connection dropped while the listener runs (and back at once): recorded, run once."""
    store, link = cut_link()
    runner = DeliveryRunner(store, dispatcher)
    calls: list[str] = []

    def ledger(event: Event) -> None:
        calls.append(event.name)
        link.cut()
        link.restore()

    dispatcher.add_listener(NAME, ledger, id="ledger")
    (one,) = record(store, dispatcher)
    assert runner.run(one).outcome is RunOutcome.SUCCEEDED
    assert calls == [NAME]
    done = store.delivery_get(one)
    assert done is not None and done.status is DeliveryStatus.SUCCEEDED


def test_runner_refuses_a_lease_that_is_not_positive(
    outbox: Outbox, dispatcher: EventDispatcher
) -> None:
    """A claim must last some time."""
    with pytest.raises(ValueError, match="lease"):
        DeliveryRunner(outbox, dispatcher, lease=timedelta(0))
