"""Child-process entry points for the multi-process store tests (run under ``spawn``).

Each function opens its own store on the :class:`StoreTarget` it is given, as a separate
worker of a real deployment would.
"""

from __future__ import annotations

import hashlib
import os
import random
from typing import Any

from tests.stores._support import StoreTarget
from vbwd_plugins.errors import StoreConflictError

TIMEOUT = 60.0


def open_at_once(target: StoreTarget, barrier: Any, results: Any) -> None:
    """Open the store the moment every sibling is ready; report success or the error."""
    barrier.wait(TIMEOUT)
    try:
        target.open().close()
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    else:
        results.put("ok")


def stale_rounds(target: StoreTarget, plugin: str, rounds: int, barrier: Any, results: Any) -> None:
    """Each round: read with the sibling, then both write with the version read."""
    store = target.open()
    won = lost = 0
    try:
        for _ in range(rounds):
            barrier.wait(TIMEOUT)
            record = store.get(plugin)
            assert record is not None
            barrier.wait(TIMEOUT)  # both have read the same version now
            config = {**record.config, f"writer_{os.getpid()}": record.version}
            try:
                store.save(
                    plugin, status=record.status, config=config, expected_version=record.version
                )
            except StoreConflictError:
                lost += 1
            else:
                won += 1
        barrier.wait(TIMEOUT)
    finally:
        store.close()
    results.put((won, lost))


def increment(target: StoreTarget, plugin: str, times: int, barrier: Any, results: Any) -> None:
    """Add 1 to ``config['counter']`` ``times`` times, retrying on conflict."""
    store = target.open()
    conflicts = 0
    barrier.wait(TIMEOUT)
    try:
        for _ in range(times):
            while True:
                record = store.get(plugin)
                assert record is not None
                config = {"counter": record.config["counter"] + 1}
                try:
                    store.save(
                        plugin, status=record.status, config=config, expected_version=record.version
                    )
                except StoreConflictError:
                    conflicts += 1
                else:
                    break
    finally:
        store.close()
    results.put(conflicts)


def consistent_config(n: int, size: int) -> dict[str, Any]:
    """A configuration whose parts check each other: a torn write would not verify."""
    blob = hashlib.sha256(str(n).encode()).hexdigest() * (size // 64 + 1)
    blob = blob[:size]
    digest = hashlib.sha256(f"{n}:{blob}".encode()).hexdigest()
    return {"n": n, "blob": blob, "digest": digest}


def save_forever(target: StoreTarget, plugin: str, progress: Any) -> None:
    """Save consistent configurations in a loop until killed; count commits in ``progress``."""
    store = target.open()
    rng = random.Random(os.getpid())
    while True:
        record = store.get(plugin)
        assert record is not None
        n = record.config["n"] + 1
        config = consistent_config(n, rng.randint(1_000, 400_000))
        status = "enabled" if n % 2 else "disabled"
        store.save(plugin, status=status, config=config, expected_version=record.version)
        progress.value = n  # a lock-free value: a kill must not leave a lock held


def manager_worker(target: StoreTarget, commands: Any, done: Any) -> None:
    """A second worker: a PluginManager on its own store, driven by ``commands``."""
    from vbwd_plugins import PluginManager

    store = target.open()
    manager = PluginManager(store=store)
    manager.start()
    done.put("started")
    for command, argument in iter(lambda: commands.get(timeout=TIMEOUT), ("stop", None)):
        if command == "enable":
            manager.enable_plugins(argument)
        elif command == "disable":
            manager.disable_plugins(argument)
        elif command == "configure":
            manager.disable_plugins(["addon", "pay"])
            manager.initialize_plugin("pay", argument)
            manager.enable_plugins(["pay", "addon"])
        elif command == "refresh":
            manager.refresh()
        done.put((command, {p.metadata.name: p.status.value for p in manager.get_all_plugins()}))
    store.close()
