"""The host of the load-and-fault scenario: its listeners, its ledger and its web workers.

Every process of a run (web workers, Celery workers, beat) imports this module and builds
its manager with :func:`make_manager`, reading the run from the environment
(``VBWD_FAULT_*``, set by :mod:`tests.delivery._fault_scenario`). Three listeners on
``payment.completed``, each recording into the *ledger* (a SQLite file shared by the run):

* ``ledger``: its effect keyed by the delivery's idempotency key (a ``UNIQUE`` column), so
  running it again never repeats the effect;
* ``flaky``: fails its first call for one event in ten (:func:`is_flaky`), then does the same;
* ``always-fails``: raises on every call for one event in a hundred (:func:`always_fails`),
  does the same as ``ledger`` for the others.

Every call is also counted (``calls``): the raw, at-least-once numbers of the report.

``python -m tests.delivery._fault_host web PORT READY_FILE`` serves the webhook route on
127.0.0.1:PORT (a socket shared with the other web workers through ``SO_REUSEPORT``), inline
or, with ``VBWD_FAULT_MODE=deferred``, handing deliveries to Celery
(:mod:`tests.delivery._fault_celery`).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Final

from vbwd_plugins import Event, PluginManager
from vbwd_plugins.delivery import RetryPolicy
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore

LISTENERS: Final = ("ledger", "flaky", "always-fails")
EVENT: Final = "payment.completed"


# -- the run's settings ------------------------------------------------------------------------


def setting(name: str, default: str | None = None) -> str:
    """``$VBWD_FAULT_<NAME>``; a missing one without a default is an error."""
    value = os.environ.get(f"VBWD_FAULT_{name}", default)
    if value is None:
        raise RuntimeError(f"VBWD_FAULT_{name} is not set: run this through the fault scenario")
    return value


def policy() -> RetryPolicy:
    """Small delays and few attempts, so a run settles in seconds."""
    base = float(setting("BASE_DELAY", "0.05"))
    return RetryPolicy(
        max_attempts=int(setting("MAX_ATTEMPTS", "3")),
        base_delay=timedelta(seconds=base),
        max_delay=timedelta(seconds=max(base, float(setting("MAX_DELAY", "0.5")))),
    )


def lease() -> timedelta:
    """How long a runner's claim lasts: short, so a killed runner's delivery is taken over."""
    return timedelta(seconds=float(setting("LEASE", "3")))


def open_store() -> SQLiteStateStore | PostgresStateStore:
    """The run's store: a SQLite path, or a PostgreSQL DSN with ``$VBWD_FAULT_SCHEMA``."""
    location = setting("STORE")
    if location.startswith("postgresql://"):
        return PostgresStateStore(location, schema=setting("SCHEMA"), pool_size=4)
    return SQLiteStateStore(location)


# -- which events fail -------------------------------------------------------------------------


def _number(event_id: str) -> int:
    """The scenario's sequence number of an event (``evt_<run>_<n>``), else a digest."""
    tail = event_id.rpartition("_")[2]
    if tail.isdigit():
        return int(tail)
    return int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big")


def is_flaky(event_id: str) -> bool:
    """Whether ``flaky`` fails its first call for this event (one in ten)."""
    return _number(event_id) % 10 == 3


def always_fails(event_id: str) -> bool:
    """Whether ``always-fails`` fails every call for this event (one in a hundred)."""
    return _number(event_id) % 100 == 7


# -- the ledger --------------------------------------------------------------------------------

_local = threading.local()


def ledger_db(path: str | None = None) -> sqlite3.Connection:
    """A connection to the ledger (one per thread), its tables created."""
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is not None and path is None:
        return conn
    conn = sqlite3.connect(path or setting("LEDGER"), timeout=60, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS effects (key TEXT NOT NULL UNIQUE, listener TEXT NOT NULL, "
        "event_id TEXT NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS calls (listener TEXT NOT NULL, key TEXT NOT NULL, "
        "event_id TEXT NOT NULL, pid INTEGER NOT NULL)"
    )
    if path is None:
        _local.conn = conn
    return conn


def _record(listener: str, event: Event, *, fail_first: bool, fail_always: bool) -> None:
    """Count the call and, unless it fails, do the effect once per idempotency key.

    One transaction: a runner killed after it commits runs the listener again, and the
    ``UNIQUE`` key keeps the effect single.
    """
    key = event.idempotency_key
    if key is None:
        raise RuntimeError(f"{listener}: the event has no idempotency key (not a delivery?)")
    event_id = str(event.data["provider_event_id"])
    conn = ledger_db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        (before,) = conn.execute("SELECT count(*) FROM calls WHERE key = ?", (key,)).fetchone()
        conn.execute(
            "INSERT INTO calls VALUES (?, ?, ?, ?)", (listener, key, event_id, os.getpid())
        )
        failing = fail_always or (fail_first and before == 0)
        if not failing:
            conn.execute(
                "INSERT INTO effects VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, listener, event_id),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if failing:
        kind = "always" if fail_always else "first attempt"
        raise RuntimeError(f"{listener}: injected failure ({kind}) for {event_id}")


def ledger(event: Event) -> None:
    """The idempotent ledger: its effect keyed by the idempotency key."""
    _record("ledger", event, fail_first=False, fail_always=False)


def flaky(event: Event) -> None:
    """Fails the first attempt for one event in ten."""
    _record(
        "flaky", event, fail_first=is_flaky(str(event.data["provider_event_id"])), fail_always=False
    )


def failing(event: Event) -> None:
    """Fails every attempt for one event in a hundred."""
    event_id = str(event.data["provider_event_id"])
    _record("always-fails", event, fail_first=False, fail_always=always_fails(event_id))


def make_manager() -> PluginManager:
    """The host's manager factory: the same plugins and listeners in every process."""
    manager = PluginManager(store=open_store(), retry_policy=policy())
    manager.start()  # the Stripe plugin, enabled and configured by the scenario
    add = manager.event_dispatcher.add_listener
    add(EVENT, ledger, id="ledger")
    add(EVENT, flaky, id="flaky")
    add(EVENT, failing, id="always-fails")
    return manager


# -- a web worker ------------------------------------------------------------------------------


def serve(port: int, ready: Path) -> None:
    """Serve the webhook route on 127.0.0.1:``port`` until killed; touch ``ready`` when up."""
    import uvicorn

    from vbwd_plugins import WebhookProcessor
    from vbwd_plugins.web.asgi import create_app

    manager = make_manager()
    if setting("MODE") == "deferred":
        from tests.delivery._fault_celery import engine

        manager.set_delivery_engine(engine)
        processor = WebhookProcessor(manager)
    else:
        processor = WebhookProcessor(manager, lease=lease())
    app = create_app(manager, processor, admin_prefix=None, deliveries_prefix=None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.01)
    ready.write_text(str(os.getpid()))
    thread.join()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "web":
        raise SystemExit("usage: python -m tests.delivery._fault_host web PORT READY_FILE")
    serve(int(sys.argv[2]), Path(sys.argv[3]))
