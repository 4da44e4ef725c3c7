"""``vbwd_plugins.delivery.celery`` without a worker: tasks, beat entry and the messages sent.

Celery's in-memory broker holds the messages, so these tests need no Redis and run everywhere.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from vbwd_plugins import Event, PluginManager, SQLiteStateStore
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.delivery.celery import DELIVER_TASK, SWEEP_TASK, CeleryEngine, install


@pytest.fixture
def app() -> Celery:
    """A Celery app on the in-memory broker, with a queue of its own."""
    celery = Celery(f"t{uuid.uuid4().hex[:8]}", broker="memory://")
    celery.conf.task_default_queue = f"q-{uuid.uuid4().hex[:12]}"
    return celery


def sent(app: Celery) -> list[dict[str, Any]]:
    """The messages waiting in the app's default queue: task name, args and ETA."""
    found = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(app.conf.task_default_queue, no_ack=True)
        try:
            while True:
                try:
                    message = queue.get(timeout=0.2)
                except queue.Empty:
                    break
                headers = message.headers
                found.append(
                    {"task": headers["task"], "args": message.payload[0], "eta": headers["eta"]}
                )
        finally:
            queue.close()
    return found


class Host:
    """The host's manager factory: a ``flaky`` listener, failing while ``broken``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.broken = True
        self.built = 0

    def listener(self, event: Event) -> None:
        """Fails while broken."""
        if self.broken:
            raise RuntimeError("CRM unavailable")

    def make_manager(self) -> PluginManager:
        """Counts how often it is called."""
        self.built += 1
        manager = PluginManager(store=SQLiteStateStore(self.path))
        manager.event_dispatcher.add_listener("order.placed", self.listener, id="flaky")
        return manager


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """The host, on a SQLite store."""
    return Host(tmp_path / "state.sqlite3")


def published(host: Host) -> str:
    """Record one ``order.placed`` with a delivery to ``flaky`` (nothing runs: a dropping
    engine); its id."""

    class Dropping:
        def submit(self, delivery_ids: object) -> None:
            """Drop them."""

    manager = host.make_manager()
    manager.set_delivery_engine(Dropping())
    (delivery_id,) = manager.publish(Event("order.placed", {"order": 1}))
    assert manager.store is not None
    manager.store.close()
    return delivery_id


def test_install_registers_late_acknowledged_tasks_and_a_beat_entry(app: Celery) -> None:
    """``deliver`` is acknowledged late and requeued when its worker dies; beat sweeps."""
    engine = install(app, PluginManager, sweep_every=timedelta(seconds=30))
    assert isinstance(engine, CeleryEngine) and engine.app is app
    deliver, sweep = app.tasks[DELIVER_TASK], app.tasks[SWEEP_TASK]
    assert deliver.acks_late is True and deliver.reject_on_worker_lost is True
    assert deliver.ignore_result is True and sweep.ignore_result is True
    entry = app.conf.beat_schedule[SWEEP_TASK]
    assert entry["task"] == SWEEP_TASK and entry["schedule"] == 30.0
    assert entry["options"]["expires"] == 30.0  # sweeps do not pile up while workers are down
    other = Celery("other", broker="memory://")
    assert DELIVER_TASK not in other.tasks  # registered on this app only
    with pytest.raises(ValueError, match="already called on the Celery app"):
        install(app, PluginManager)


def test_no_beat_entry_without_sweep_every(app: Celery) -> None:
    """``sweep_every=None`` leaves the schedule alone (the host runs the CLI sweep)."""
    app.conf.beat_schedule = {"host-task": {"task": "x", "schedule": 5.0}}
    install(app, PluginManager, sweep_every=None)
    assert list(app.conf.beat_schedule) == ["host-task"]


def test_install_refuses_bad_settings(app: Celery) -> None:
    """Contradicting or impossible settings are refused with what to change."""
    with pytest.raises(ValueError, match="max_attempts or policy, not both"):
        install(app, PluginManager, max_attempts=3, policy=RetryPolicy())
    with pytest.raises(ValueError, match="lease must be a positive timedelta"):
        install(app, PluginManager, lease=timedelta(0))
    with pytest.raises(ValueError, match="sweep_every must be a positive timedelta"):
        install(app, PluginManager, sweep_every=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="sweep_limit must be an int >= 1"):
        install(app, PluginManager, sweep_limit=0)
    with pytest.raises(TypeError, match=r"needs a celery\.Celery app"):
        CeleryEngine("redis://")  # type: ignore[arg-type]


def test_engine_sends_one_task_per_delivery(app: Celery) -> None:
    """``submit`` sends one ``vbwd_plugins.deliver`` message per id, due at once."""
    CeleryEngine(app).submit(["dlv_a", "dlv_b"])
    CeleryEngine(app).submit([])
    assert sent(app) == [
        {"task": DELIVER_TASK, "args": ["dlv_a"], "eta": None},
        {"task": DELIVER_TASK, "args": ["dlv_b"], "eta": None},
    ]


def test_failed_delivery_is_enqueued_again_for_its_retry_time(
    app: Celery, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failure the task sends itself again with the ETA the runner recorded; the
    worker's manager is built once."""
    # Half of a one-hour cap: the retry cannot be due before the second run, however slow
    # the machine (full jitter may otherwise draw a wait of almost nothing).
    monkeypatch.setattr("vbwd_plugins.delivery._policy.random.random", lambda: 0.5)
    policy = RetryPolicy(max_attempts=3, base_delay=timedelta(hours=1))
    install(app, host.make_manager, policy=policy, sweep_every=None)
    delivery_id = published(host)
    deliver = app.tasks[DELIVER_TASK]

    assert deliver.run(delivery_id) == "retry"

    with SQLiteStateStore(host.path) as store:
        delivery = store.delivery_get(delivery_id)
    assert delivery is not None and delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at is not None
    (message,) = sent(app)
    assert message["args"] == [delivery_id]
    assert datetime.fromisoformat(message["eta"]) == delivery.next_attempt_at
    assert deliver.run(delivery_id) == "skipped"  # not due yet: nothing runs early
    assert host.built == 2  # one for publishing, one for this worker process


def test_dead_delivery_is_logged_with_how_to_retry_it(
    app: Celery, host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    """On its last attempt the delivery is dead, logged, and not enqueued again."""
    install(app, host.make_manager, max_attempts=1, sweep_every=None)
    delivery_id = published(host)
    with caplog.at_level(logging.ERROR, logger="vbwd_plugins.delivery"):
        assert app.tasks[DELIVER_TASK].run(delivery_id) == "dead"
    assert f"vbwd-plugins deliveries retry {delivery_id}" in caplog.text
    assert sent(app) == []


def test_sweep_task_enqueues_due_deliveries(app: Celery, host: Host) -> None:
    """The sweep task sends a task for every due delivery (one whose message was lost)."""
    install(app, host.make_manager, sweep_every=None)
    delivery_id = published(host)
    assert app.tasks[SWEEP_TASK].run() == 1
    assert [m["args"] for m in sent(app)] == [[delivery_id]]


def test_factory_must_return_a_manager(app: Celery) -> None:
    """A factory returning something else fails naming the factory."""

    def wrong() -> object:
        return "not a manager"

    install(app, wrong, sweep_every=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must return the host's PluginManager"):
        app.tasks[DELIVER_TASK].run("dlv_x")


def test_retry_time_in_the_past_is_sent_due_now(app: Celery) -> None:
    """``submit_at`` with a passed time still sends the task (it runs at once)."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    CeleryEngine(app).submit_at("dlv_late", past)
    (message,) = sent(app)
    assert message["args"] == ["dlv_late"]
    assert datetime.fromisoformat(message["eta"]) == past
