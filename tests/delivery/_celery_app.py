"""A host's Celery app for the Celery engine tests (``celery -A tests.delivery._celery_app``).

The broker, queue and key prefix come from the environment when this module is imported
(the tests give every run its own); the store, the effects ledger and the retry settings are
read when a manager is built, so each test's worker gets its own.

Listeners (all record into the ledger, a SQLite file, through :func:`record`):

* ``ledger`` (host) on ``payment.completed``: its effect keyed by the idempotency key;
* ``loyalty`` (an ``async def`` plugin listener) on ``payment.completed``;
* ``flaky`` (host) on ``order.placed``: fails the first ``data["fail_times"]`` calls;
* ``slow`` (host) on ``order.slow``: does its effect, then waits while the hold file exists.

While the hold file exists, ``ledger`` waits before its effect too.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from celery import Celery

from vbwd_plugins import BasePlugin, Event, PluginManager, PluginMetadata, listener
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.delivery.celery import install
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore
from vbwd_plugins.testing import MockPaymentPlugin

#: The mock provider's webhook secret.
SECRET = "whsec_celery_tests"

BROKER = os.environ.get("VBWD_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/15")
QUEUE = os.environ.get("VBWD_TEST_CELERY_QUEUE", "vbwd-celery-tests")
PREFIX = os.environ.get("VBWD_TEST_CELERY_PREFIX", f"{QUEUE}:")

app = Celery("vbwd_celery_tests", broker=BROKER)
app.conf.update(
    task_default_queue=QUEUE,
    broker_transport_options={"global_keyprefix": PREFIX, "visibility_timeout": 3600},
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_send_task_events=False,
)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def ledger_path() -> Path:
    """The ledger file of the current test (``$VBWD_TEST_CELERY_LEDGER``)."""
    return Path(os.environ["VBWD_TEST_CELERY_LEDGER"])


def hold_path() -> Path:
    """While this file exists, ``ledger`` and ``slow`` wait."""
    return ledger_path().with_suffix(".hold")


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(ledger_path(), timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, listener TEXT, event TEXT)"
    )
    db.execute("CREATE TABLE IF NOT EXISTS calls (listener TEXT, key TEXT, pid INTEGER)")
    return db


def record(listener_name: str, event: Event, *, effect: bool = True) -> int:
    """Record one call (and, idempotently, the effect); the calls of this key before it."""
    db = _db()
    try:
        (before,) = db.execute("SELECT count(*) FROM calls WHERE key = ?", (event.idempotency_key,))
        db.execute(
            "INSERT INTO calls VALUES (?, ?, ?)",
            (listener_name, event.idempotency_key, os.getpid()),
        )
        if effect:
            db.execute(
                "INSERT OR IGNORE INTO effects VALUES (?, ?, ?)",
                (event.idempotency_key, listener_name, event.name),
            )
        return int(before[0])
    finally:
        db.close()


def rows(table: str) -> list[tuple[str, str, str | int]]:
    """The ledger's ``effects`` or ``calls``, in insertion order."""
    if not ledger_path().exists():
        return []
    db = _db()
    try:
        return list(db.execute(f"SELECT * FROM {table} ORDER BY rowid"))  # fixed table names
    finally:
        db.close()


def _wait_for_release() -> None:
    deadline = time.monotonic() + 60
    while hold_path().exists() and time.monotonic() < deadline:
        time.sleep(0.02)


class Loyalty(BasePlugin):
    """A third-party plugin crediting points with an ``async def`` listener."""

    metadata = PluginMetadata("loyalty", "1.0.0", "tests", "credits loyalty points")

    @listener("payment.completed")
    async def credit_points(self, event: Event) -> None:
        """Awaited on the worker: records its effect."""
        await asyncio.sleep(0)
        record("loyalty", event)


def ledger(event: Event) -> None:
    """Host listener: waits while held, then records its effect."""
    _wait_for_release()
    record("ledger", event)


def flaky(event: Event) -> None:
    """Host listener: fails its first ``fail_times`` calls for an event."""
    if record("flaky", event, effect=False) < int(event.data.get("fail_times", 0)):
        raise RuntimeError(f"flaky: order {event.data.get('order')} not ready")
    record("flaky-effect", event, effect=True)


def slow(event: Event) -> None:
    """Host listener: does its effect, then waits while held (a worker is killed here)."""
    record("slow", event)
    _wait_for_release()


def open_store() -> SQLiteStateStore | PostgresStateStore:
    """The test's store: a SQLite path, or a PostgreSQL DSN with ``$VBWD_TEST_CELERY_SCHEMA``."""
    location = os.environ["VBWD_TEST_CELERY_STORE"]
    if location.startswith("postgresql://"):
        return PostgresStateStore(location, schema=os.environ["VBWD_TEST_CELERY_SCHEMA"])
    return SQLiteStateStore(location)


def make_manager() -> PluginManager:
    """The host's manager factory: the same plugins and listeners in web and worker processes."""
    manager = PluginManager(store=open_store())
    for plugin in (MockPaymentPlugin(webhook_secret=SECRET), Loyalty()):
        manager.register_plugin(plugin)
    manager.enable_plugins(["mock", "loyalty"])
    manager.event_dispatcher.add_listener("payment.completed", ledger, id="ledger")
    manager.event_dispatcher.add_listener("order.placed", flaky, id="flaky")
    manager.event_dispatcher.add_listener("order.slow", slow, id="slow")
    return manager


def _policy() -> RetryPolicy:
    base = _env_float("VBWD_TEST_CELERY_BASE_DELAY", 0.05)
    return RetryPolicy(
        max_attempts=int(os.environ.get("VBWD_TEST_CELERY_MAX_ATTEMPTS") or 3),
        base_delay=timedelta(seconds=base),
        max_delay=timedelta(seconds=max(base, _env_float("VBWD_TEST_CELERY_MAX_DELAY", 0.2))),
    )


engine = install(
    app,
    make_manager,
    policy=_policy(),
    lease=timedelta(seconds=_env_float("VBWD_TEST_CELERY_LEASE", 30)),
    sweep_every=timedelta(seconds=_env_float("VBWD_TEST_CELERY_SWEEP_EVERY", 60)),
)
