"""Exactly once under concurrency: real processes deliver the same events at the same time."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stores._support import StoreTarget
from tests.webhooks import _worker
from tests.webhooks._support import SECRET, SideEffects, completed_delivery, deliveries_of
from vbwd_plugins import (
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.testing import MockPaymentPlugin
from vbwd_plugins.webhooks import InboxStatus

pytestmark = pytest.mark.usefixtures("spawn_path")

CTX = multiprocessing.get_context("spawn")
JOIN_TIMEOUT = 90.0
WORKERS = 4
EVENTS = 50


@pytest.fixture
def manager(target: StoreTarget) -> Iterator[PluginManager]:
    """The mock provider recorded as enabled, as an operator would do once for all workers."""
    store = target.open()
    manager = PluginManager(store=store)
    manager.register_plugin(MockPaymentPlugin(webhook_secret=SECRET))
    manager.initialize_plugin("mock")
    manager.enable_plugin("mock")
    try:
        yield manager
    finally:
        store.close()


def _join(procs: list[Any]) -> None:
    for proc in procs:
        proc.join(JOIN_TIMEOUT)
        assert proc.exitcode == 0, f"worker exited with {proc.exitcode}"


def test_four_processes_deliver_the_same_50_events_each_handled_once(
    target: StoreTarget, manager: PluginManager, tmp_path: Path
) -> None:
    """4 processes x the same 50 events (some failing once): each handled exactly once."""
    signer = MockPaymentPlugin(webhook_secret=SECRET)
    deliveries = []
    for n in range(EVENTS):
        delivery = completed_delivery(signer, f"mock_pay_{n}")
        deliveries.append((dict(delivery.headers), delivery.body))
    ids = [json.loads(body)["id"] for _, body in deliveries]
    assert len(set(ids)) == EVENTS
    fail_once = frozenset(ids[::7])
    folder = tmp_path / "effects"
    folder.mkdir()

    barrier, results = CTX.Barrier(WORKERS), CTX.Queue()
    procs = [
        CTX.Process(
            target=_worker.deliver_all,
            args=(target, deliveries, str(folder), fail_once, seed, barrier, results),
        )
        # Two workers in the same order collide on every event; two shuffled ones at random.
        for seed in (None, None, 1, 2)
    ]
    for proc in procs:
        proc.start()
    answers = [results.get(timeout=JOIN_TIMEOUT) for _ in procs]
    _join(procs)

    assert all(isinstance(a, dict) for a in answers), answers
    totals: Counter[int] = Counter()
    for answer in answers:
        totals.update(answer)
    assert totals[200] == WORKERS * EVENTS  # every delivery was finally acknowledged
    assert totals[500] == len(fail_once)  # each scripted failure surfaced exactly once
    assert set(totals) <= {200, 409, 500}

    assert SideEffects(folder).counts() == dict.fromkeys(ids, 1)
    rows = WebhookProcessor(manager).inbox.inbox_list(limit=1000)
    assert len(rows) == EVENTS
    assert all(row.status is InboxStatus.RECORDED for row in rows)
    attempts = {}
    for event_id in ids:
        (delivery,) = deliveries_of(manager.store, event_id)
        assert delivery.status is DeliveryStatus.SUCCEEDED
        attempts[event_id] = delivery.attempts
    assert attempts == {i: (2 if i in fail_once else 1) for i in ids}


def test_claim_of_a_killed_worker_expires_and_the_event_is_handled_later(
    target: StoreTarget, manager: PluginManager, tmp_path: Path
) -> None:
    """A worker SIGKILLed in a listener leaves it claimed; after the lease a redelivery runs it."""
    mock = manager.get_plugin("mock")
    assert isinstance(mock, MockPaymentPlugin)
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]

    proc = CTX.Process(
        target=_worker.crash_while_handling, args=(target, dict(delivery.headers), delivery.body)
    )
    proc.start()
    proc.join(JOIN_TIMEOUT)
    assert proc.exitcode == -9

    processor = WebhookProcessor(manager)
    (abandoned,) = deliveries_of(manager.store, event_id)
    assert abandoned.status is DeliveryStatus.RUNNING
    effects = SideEffects(tmp_path)
    manager.event_dispatcher.add_listener("payment.completed", effects, id=_worker.LISTENER_ID)

    deadline = time.monotonic() + 30
    answers = []
    while True:  # the provider keeps redelivering; 409 until the dead worker's lease ends
        answers.append(processor.process("mock", delivery.headers, delivery.body).status)
        if answers[-1] != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answers[-1] == 200
    assert set(answers[:-1]) <= {409}
    assert effects.counts() == {event_id: 1}
    (done,) = deliveries_of(manager.store, event_id)
    assert (done.status, done.attempts) == (DeliveryStatus.SUCCEEDED, 2)


def test_simultaneous_claims_from_four_processes_never_share_an_event(target: StoreTarget) -> None:
    """4 processes claim the same 50 events at once: every event has exactly one winner."""
    target.open().close()  # migrate once, outside the race
    ids = [f"evt_race_{n}" for n in range(EVENTS)]
    barrier, results = CTX.Barrier(WORKERS), CTX.Queue()
    procs = [
        CTX.Process(target=_worker.claim_all, args=(target, ids, barrier, results))
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    won = [results.get(timeout=JOIN_TIMEOUT) for _ in procs]
    _join(procs)
    claimed = Counter(event_id for batch in won for event_id in batch)
    assert claimed == dict.fromkeys(ids, 1)
