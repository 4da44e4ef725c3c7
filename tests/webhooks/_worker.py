"""Child-process entry points for the multi-process pipeline tests (run under ``spawn``).

Each worker is a separate process as in a deployment: its own store handle, its own
:class:`PluginManager` restored from the store with ``start()``, its own processor.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.stores._support import StoreTarget
from tests.webhooks._support import SECRET, SideEffects
from vbwd_plugins import (
    Event,
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.testing import MockPaymentPlugin
from vbwd_plugins.webhooks import WebhookInbox

TIMEOUT = 60.0
LISTENER_ID = "activate-subscription"
Delivery = tuple[dict[str, str], bytes]


def _processor(
    target: StoreTarget, listener: Any, lease: timedelta = timedelta(minutes=5)
) -> WebhookProcessor:
    manager = PluginManager(store=target.open())
    manager.register_plugin(MockPaymentPlugin(webhook_secret=SECRET))
    report = manager.start()  # the parent recorded "mock" as enabled
    assert report.failed == {}, report.failed
    # One id in every process: a delivery recorded by one worker is run by any other.
    manager.event_dispatcher.add_listener("payment.completed", listener, id=LISTENER_ID)
    return WebhookProcessor(manager, lease=lease)


def deliver_all(
    target: StoreTarget,
    deliveries: list[Delivery],
    effects_folder: str,
    fail_once: frozenset[str],
    shuffle_seed: int | None,
    barrier: Any,
    results: Any,
) -> None:
    """Deliver every event (in order, or shuffled), retrying as a provider would until 200."""
    effects = SideEffects(Path(effects_folder), fail_once, delay=0.002)
    processor = _processor(target, effects)
    order = list(deliveries)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    answers: Counter[int] = Counter()
    barrier.wait(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    try:
        for headers, body in order:
            while True:
                status = processor.process("mock", headers, body).status
                answers[status] += 1
                if status == 200:
                    break
                if status not in (409, 500) or time.monotonic() > deadline:
                    results.put(f"unexpected answer {status}")
                    return
                time.sleep(random.uniform(0.001, 0.01))  # the provider's retry, compressed
    finally:
        _close(processor)
    results.put(dict(answers))


def _close(processor: WebhookProcessor) -> None:
    store = processor.manager.store
    if store is not None:
        store.close()


def crash_while_handling(target: StoreTarget, headers: dict[str, str], body: bytes) -> None:
    """Claim the event, then die (SIGKILL) inside the listener, before any outcome is written."""

    def die(event: Event) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    processor = _processor(target, die, lease=timedelta(seconds=1))
    processor.process("mock", headers, body)


def claim_all(target: StoreTarget, event_ids: list[str], barrier: Any, results: Any) -> None:
    """Claim every event at the same moment as the siblings; report the ids this one won."""
    store = target.open()
    try:
        assert isinstance(store, WebhookInbox)
        barrier.wait(TIMEOUT)
        won = [
            event_id
            for event_id in event_ids
            if store.inbox_claim(
                "mock", event_id, event_type=None, payload="{}", lease=timedelta(minutes=5)
            ).claimed
        ]
    finally:
        store.close()
    results.put(won)
