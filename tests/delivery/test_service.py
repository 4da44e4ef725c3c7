"""DeliveryService and the manager: per-listener webhook delivery, publish, engines, sweep."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest

from tests.stores._support import StoreTarget
from tests.webhooks._support import SECRET, completed_delivery, deliveries_of
from vbwd_plugins import (
    BasePlugin,
    Event,
    PluginManager,
    PluginMetadata,
    WebhookProcessor,
    listener,
)
from vbwd_plugins.delivery import DeliveryEngine, DeliveryStatus, RunOutcome
from vbwd_plugins.errors import StoreError
from vbwd_plugins.testing import MockPaymentPlugin

NAME = "payment.completed"


class Loyalty(BasePlugin):
    """A third-party plugin whose listener is ``async def``."""

    metadata = PluginMetadata("loyalty", "1.0.0", "tests", "credits points per payment")

    def __init__(self) -> None:
        super().__init__()
        self.credited: list[str | None] = []

    @listener(NAME, id="credit-points")
    async def credit(self, event: Event) -> None:
        await asyncio.sleep(0)
        self.credited.append(event.idempotency_key)


class Recording:
    """A deferred engine that only remembers what it was given (or fails to)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.submitted: list[str] = []
        self.broken = broken

    def submit(self, delivery_ids: Sequence[str]) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.submitted.extend(delivery_ids)


@pytest.fixture
def manager(target: StoreTarget) -> Iterator[PluginManager]:
    """A manager on a real store with the mock provider and the async ``loyalty`` plugin."""
    store = target.open()
    manager = PluginManager(store=store)
    for plugin in (MockPaymentPlugin(webhook_secret=SECRET), Loyalty()):
        manager.register_plugin(plugin)
        manager.initialize_plugin(plugin.metadata.name)
        manager.enable_plugin(plugin.metadata.name)
    try:
        yield manager
    finally:
        store.close()


def _mock(manager: PluginManager) -> MockPaymentPlugin:
    mock = manager.get_plugin("mock")
    assert isinstance(mock, MockPaymentPlugin)
    return mock


def _loyalty(manager: PluginManager) -> Loyalty:
    plugin = manager.get_plugin("loyalty")
    assert isinstance(plugin, Loyalty)
    return plugin


def test_listener_that_fails_once_is_called_twice_over_three_deliveries(
    manager: PluginManager,
) -> None:
    """Fails once, then succeeds: called twice in total; every other listener once."""
    calls: Counter[str] = Counter()

    def activate(event: Event) -> None:
        calls["activate"] += 1
        if calls["activate"] == 1:
            raise ConnectionError("subscriptions database unavailable")

    def email(event: Event) -> None:
        calls["email"] += 1

    manager.event_dispatcher.add_listener(NAME, activate, id="activate-subscription")
    manager.event_dispatcher.add_listener(NAME, email)
    processor = WebhookProcessor(manager)
    delivery = completed_delivery(_mock(manager))
    statuses = [processor.process("mock", delivery.headers, delivery.body) for _ in range(3)]
    assert [response.status for response in statuses] == [500, 200, 200]
    assert [response.body["status"] for response in statuses] == [
        "failed",
        "processed",
        "duplicate",
    ]
    assert calls == {"activate": 2, "email": 1}
    assert len(_loyalty(manager).credited) == 1
    event_id = json.loads(delivery.body)["id"]
    attempts = {one.listener_id: one.attempts for one in deliveries_of(manager.store, event_id)}
    assert attempts == {
        "loyalty:credit-points": 1,
        "activate-subscription": 2,
        f"{email.__module__}.{email.__qualname__}": 1,  # no id given: module + qualname
    }


def test_async_plugin_listener_runs_once_per_event_and_the_webhook_answers_200(
    manager: PluginManager,
) -> None:
    """An ``async def`` plugin listener on payment.completed: 200 inline, once per event."""
    processor = WebhookProcessor(manager)
    mock = _mock(manager)
    first, second = completed_delivery(mock, "mock_pay_1"), completed_delivery(mock, "mock_pay_2")
    for delivery in (first, second, first):
        assert processor.process("mock", delivery.headers, delivery.body).status == 200
    credited = _loyalty(manager).credited
    assert len(credited) == 2 and len(set(credited)) == 2


def test_deferred_engine_gets_the_deliveries_and_the_webhook_is_answered_at_once(
    manager: PluginManager,
) -> None:
    """With an engine: 200 'accepted' after the commit, nothing run, the ids submitted."""
    engine = Recording()
    manager.set_delivery_engine(engine)
    assert isinstance(engine, DeliveryEngine) and manager.delivery_engine is engine
    processor = WebhookProcessor(manager)
    delivery = completed_delivery(_mock(manager))
    response = processor.process("mock", delivery.headers, delivery.body)
    assert (response.status, response.body["status"]) == (200, "accepted")
    event_id = json.loads(delivery.body)["id"]
    recorded = deliveries_of(manager.store, event_id)
    assert engine.submitted == [one.id for one in recorded]
    assert {one.status for one in recorded} == {DeliveryStatus.PENDING}
    assert _loyalty(manager).credited == []
    results = [manager.deliveries.runner.run(one) for one in engine.submitted]
    assert [result.outcome for result in results] == [RunOutcome.SUCCEEDED]
    assert len(_loyalty(manager).credited) == 1
    again = processor.process("mock", delivery.headers, delivery.body)
    assert again.body["status"] == "duplicate"


def test_failed_submission_is_still_200_and_the_sweep_submits_again(
    manager: PluginManager,
) -> None:
    """The broker is down: 200 all the same (recorded); the sweep hands the deliveries over."""
    engine = Recording(broken=True)
    manager.set_delivery_engine(engine)
    delivery = completed_delivery(_mock(manager))
    assert WebhookProcessor(manager).process("mock", delivery.headers, delivery.body).status == 200
    engine.broken = False
    swept = manager.deliveries.sweep()
    assert swept == engine.submitted and len(swept) == 1


def test_publish_records_a_host_event_and_delivers_it_to_every_listener(
    manager: PluginManager,
) -> None:
    """publish(): one delivery per current listener, run inline, each with its own key."""
    keys: list[str | None] = []
    manager.event_dispatcher.add_listener(NAME, lambda event: keys.append(event.idempotency_key))
    ids = manager.publish(Event(NAME, {"amount": 100}))
    assert len(ids) == 2
    assert len(keys) == 1 and len(_loyalty(manager).credited) == 1
    assert keys[0] != _loyalty(manager).credited[0]
    store = manager.deliveries.outbox
    for one in ids:
        found = store.delivery_get(one)
        assert found is not None and found.status is DeliveryStatus.SUCCEEDED
        stored = store.event_get(found.event_uid)
        assert stored is not None and stored.source == "publish"
        assert Event.from_json(stored.payload) == Event(NAME, {"amount": 100})


def test_published_event_whose_listener_fails_is_retried_by_the_sweep(
    manager: PluginManager,
) -> None:
    """A failing listener of a published event stays pending; a later sweep runs it again."""
    calls: list[int] = []

    def flaky(event: Event) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")

    manager.event_dispatcher.add_listener("invoice.paid", flaky, id="flaky")
    (one,) = manager.publish(Event("invoice.paid"))
    store = manager.deliveries.outbox
    pending = store.delivery_get(one)
    assert pending is not None and pending.status is DeliveryStatus.PENDING
    manager.deliveries.run_inline([one])  # what the sweep does once the retry is due
    done = store.delivery_get(one)
    assert done is not None and done.status is DeliveryStatus.SUCCEEDED
    assert len(calls) == 2
    assert manager.deliveries.sweep() == []


def test_publish_with_an_engine_submits_instead_of_running(manager: PluginManager) -> None:
    """Deferred publish: the ids are handed to the engine and no listener runs here."""
    engine = Recording()
    manager.set_delivery_engine(engine)
    ids = manager.publish(Event(NAME))
    assert engine.submitted == ids
    assert _loyalty(manager).credited == []
    manager.set_delivery_engine(None)
    assert manager.deliveries.engine is None


def test_durable_delivery_needs_a_store() -> None:
    """Without a store there is nowhere to record deliveries: a StoreError says what to do."""
    with pytest.raises(StoreError, match="store=SQLiteStateStore"):
        PluginManager().publish(Event(NAME))


def test_the_managers_retry_policy_decides_when_a_failed_delivery_is_dead(
    target: StoreTarget,
) -> None:
    """``PluginManager(retry_policy=...)``: one allowed attempt makes a failing listener dead."""
    from datetime import timedelta

    from vbwd_plugins.delivery import RetryPolicy

    store = target.open()
    try:
        policy = RetryPolicy(max_attempts=1, base_delay=timedelta(seconds=1))
        manager = PluginManager(store=store, retry_policy=policy)
        assert manager.deliveries.runner.policy is policy

        def broken(event: Event) -> None:
            raise RuntimeError("down")

        manager.event_dispatcher.add_listener(NAME, broken, id="broken")
        (delivery_id,) = manager.publish(Event(NAME))
        delivery = store.delivery_get(delivery_id)
        assert delivery is not None
        assert delivery.status is DeliveryStatus.DEAD
    finally:
        store.close()
