"""Several real processes on one store: optimistic locking, concurrent opens, SIGKILL."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.stores import _worker
from tests.stores._support import StoreTarget, make_target
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores._migrations import MIGRATIONS

pytestmark = pytest.mark.usefixtures("spawn_path")

CTX = multiprocessing.get_context("spawn")
JOIN_TIMEOUT = 90.0


def _run(target: Any, argsets: list[tuple[Any, ...]]) -> None:
    procs = [CTX.Process(target=target, args=args) for args in argsets]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(JOIN_TIMEOUT)
        assert proc.exitcode == 0, f"child exited with {proc.exitcode}"


def _drain(queue: Any, count: int) -> list[Any]:
    return [queue.get(timeout=JOIN_TIMEOUT) for _ in range(count)]


def test_stale_write_loses_with_two_processes(target: StoreTarget) -> None:
    """Two processes read the same version and both write: exactly one wins each round."""
    store = target.open()
    store.save("race", status="enabled", config={}, expected_version=None)
    rounds = 5
    barrier, results = CTX.Barrier(2), CTX.Queue()
    _run(_worker.stale_rounds, [(target, "race", rounds, barrier, results)] * 2)
    outcomes = _drain(results, 2)
    assert sum(won for won, _ in outcomes) == rounds
    assert sum(lost for _, lost in outcomes) == rounds
    record = store.get("race")
    assert record is not None and record.version == 1 + rounds
    store.close()


def test_no_lost_updates_when_two_processes_race(target: StoreTarget) -> None:
    """Read-modify-write loops in two processes never lose an increment."""
    store = target.open()
    store.save("counter", status="enabled", config={"counter": 0}, expected_version=None)
    times = 40
    barrier, results = CTX.Barrier(2), CTX.Queue()
    _run(_worker.increment, [(target, "counter", times, barrier, results)] * 2)
    conflicts = sum(_drain(results, 2))
    record = store.get("counter")
    assert record is not None
    assert record.config["counter"] == 2 * times
    assert record.version == 1 + 2 * times
    assert conflicts >= 0
    store.close()


def test_concurrent_first_opens_migrate_once(target: StoreTarget) -> None:
    """Four processes opening a fresh database at once all succeed; each migration ran once."""
    barrier, results = CTX.Barrier(4), CTX.Queue()
    _run(_worker.open_at_once, [(target, barrier, results)] * 4)
    assert _drain(results, 4) == ["ok"] * 4
    assert target.migration_versions() == [m.version for m in MIGRATIONS]


def test_newer_schema_is_refused(target: StoreTarget) -> None:
    """A database migrated by a newer release is refused with an upgrade hint."""
    target.open().close()
    if target.kind == "sqlite":
        assert target.sqlite_path is not None
        conn = sqlite3.connect(target.sqlite_path)
        with conn:
            conn.execute("INSERT INTO vbwd_schema_migrations VALUES (999, 'future', '2100-01-01')")
        conn.close()
    else:
        import psycopg
        from psycopg import sql

        assert target.dsn is not None and target.schema is not None
        with psycopg.connect(target.dsn) as pg:
            pg.execute(
                sql.SQL("INSERT INTO {} (version, description) VALUES (999, 'future')").format(
                    sql.Identifier(target.schema, "vbwd_schema_migrations")
                )
            )
    with pytest.raises(StoreError, match="upgrade vbwd-plugins"):
        target.open()


def _wait_for(progress: Any, at_least: int, proc: Any) -> None:
    deadline = time.monotonic() + JOIN_TIMEOUT
    while progress.value < at_least:
        assert proc.is_alive(), "the saving child died on its own"
        assert time.monotonic() < deadline, "the saving child made no progress"
        time.sleep(0.005)


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
def test_sigkill_mid_save_leaves_old_or_new_state(tmp_path: Path) -> None:
    """A child saving in a loop is SIGKILLed at random moments; the row is always whole."""
    target = make_target("sqlite", tmp_path)
    store = target.open()
    store.save(
        "victim", status="disabled", config=_worker.consistent_config(0, 10), expected_version=None
    )
    store.close()
    rng = random.Random()
    last_seen = 0
    for _ in range(6):
        progress = CTX.Value("q", last_seen, lock=False)
        proc = CTX.Process(target=_worker.save_forever, args=(target, "victim", progress))
        proc.start()
        _wait_for(progress, last_seen + rng.randint(1, 8), proc)
        time.sleep(rng.uniform(0, 0.05))  # land anywhere inside the next save
        proc.kill()
        proc.join(JOIN_TIMEOUT)
        assert proc.exitcode == -9

        conn = sqlite3.connect(target.sqlite_path or "")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        reopened = target.open()
        record = reopened.get("victim")
        reopened.close()
        assert record is not None
        n = record.config["n"]
        assert record.config == _worker.consistent_config(n, len(record.config["blob"]))
        assert record.version == n + 1
        assert record.status == ("enabled" if n % 2 else "disabled")
        committed = progress.value
        assert n in (committed, committed + 1)  # the last reported save, or one not reported
        last_seen = n
