"""At most one claim wins under concurrency; PostgreSQL survives terminated connections."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.delivery import _worker
from tests.delivery._support import LEASE, event, receipt
from tests.delivery.conftest import Store
from tests.stores._support import StoreTarget, drop_schema, make_target
from vbwd_plugins.delivery import DeliveryClaim, DeliveryStatus
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore

CTX = multiprocessing.get_context("spawn")
JOIN_TIMEOUT = 90.0


def _many(outbox: Store, webhooks: int = 10, listeners: int = 3) -> list[str]:
    ids: list[str] = []
    names = tuple(f"host:{n}" for n in range(listeners))
    for n in range(webhooks):
        ids += outbox.outbox_accept(
            receipt(f"evt_{n}"), [event(f"evt_{n}", listeners=names)]
        ).pending
    return ids


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_threads_claiming_the_same_deliveries_get_one_token_each(
    target: StoreTarget, outbox: Store, shared: bool
) -> None:
    """8 threads race for 30 deliveries: every delivery is claimed exactly once."""
    ids = _many(outbox)
    threads = 8
    barrier = threading.Barrier(threads)
    won: list[DeliveryClaim] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        store = outbox if shared else target.open()
        assert isinstance(store, SQLiteStateStore | PostgresStateStore)
        try:
            barrier.wait(JOIN_TIMEOUT)
            for did in ids:
                claim = store.delivery_claim(did, lease=LEASE)
                if claim is not None:
                    with lock:
                        won.append(claim)
        except BaseException as exc:
            errors.append(exc)
        finally:
            if not shared:
                store.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN_TIMEOUT)
    assert errors == []
    assert sorted(claim.delivery.id for claim in won) == sorted(ids)
    assert len({claim.token for claim in won}) == len(ids)
    assert all(d.attempts == 1 for d in outbox.deliveries_list(status=DeliveryStatus.RUNNING))


@pytest.mark.usefixtures("spawn_path")
def test_processes_claiming_the_same_deliveries_get_one_token_each(
    target: StoreTarget, outbox: Store
) -> None:
    """4 processes race for 60 deliveries: each is claimed by exactly one of them."""
    ids = _many(outbox, webhooks=20)
    workers = 4
    barrier, results = CTX.Barrier(workers), CTX.Queue()
    procs = [
        CTX.Process(target=_worker.claim_all, args=(target, ids, barrier, results))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    won = [results.get(timeout=JOIN_TIMEOUT) for _ in procs]
    for proc in procs:
        proc.join(JOIN_TIMEOUT)
        assert proc.exitcode == 0
    counts = Counter(did for batch in won for did in batch)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}


# -- PostgreSQL: connections terminated by the server ---------------------------------------


@pytest.fixture
def pg_target(tmp_path: Path) -> Iterator[StoreTarget]:
    """A fresh PostgreSQL schema (skipped with the reason when there is no server)."""
    made = make_target("postgres", tmp_path)
    assert made.dsn is not None and made.schema is not None
    try:
        yield made
    finally:
        drop_schema(made.dsn, made.schema)


def open_named(target: StoreTarget, name: str, pool_size: int) -> PostgresStateStore:
    """A store on ``target`` whose connections carry the application name ``name``."""
    assert target.dsn is not None and target.schema is not None
    separator = "&" if "?" in target.dsn else "?"
    dsn = f"{target.dsn}{separator}application_name={name}"
    return PostgresStateStore(dsn, schema=target.schema, pool_size=pool_size)


def terminate(target: StoreTarget, application_name: str) -> int:
    """Terminate every server connection of that application name (the store's only)."""
    import psycopg

    assert target.dsn is not None
    with psycopg.connect(target.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchall()
    return len(rows)


def test_terminated_connections_are_replaced_without_a_new_store(pg_target: StoreTarget) -> None:
    """After pg_terminate_backend, accept, claim, succeed and plugin writes still work."""
    name = f"vbwd_{pg_target.schema}"
    store = open_named(pg_target, name, pool_size=3)
    try:
        first, second = store.outbox_accept(receipt(), [event()]).pending
        assert terminate(pg_target, name) >= 1
        claim = store.delivery_claim(first, lease=LEASE)
        assert claim is not None
        assert terminate(pg_target, name) >= 1
        assert store.delivery_succeed(first, claim.token)
        assert terminate(pg_target, name) >= 1
        other = store.delivery_claim(second, lease=LEASE)
        assert other is not None
        assert terminate(pg_target, name) >= 1
        assert store.delivery_fail(second, other.token, "Boom: x", retry_at=None)
        assert terminate(pg_target, name) >= 1
        assert not store.outbox_accept(receipt(), [event()]).new
        assert store.save("pay", status="disabled", config={}, expected_version=None).version == 1
        statuses = [d.status for d in store.deliveries_of_webhook("mock", "evt_1")]
        assert statuses == [DeliveryStatus.SUCCEEDED, DeliveryStatus.DEAD]
    finally:
        store.close()


def test_marking_retries_a_connection_dropped_under_it(
    pg_target: StoreTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the pool's check off, a dead connection reaches succeed or a claim: both retry."""
    from psycopg_pool import ConnectionPool

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(lambda conn: None))
    target, name = pg_target, f"vbwd_unchecked_{pg_target.schema}"
    store = open_named(target, name, pool_size=1)
    try:
        (did, second) = store.outbox_accept(receipt(), [event()]).pending
        claim = store.delivery_claim(did, lease=LEASE)
        assert claim is not None
        assert terminate(target, name) == 1
        assert store.delivery_succeed(did, claim.token)  # first try fails, the retry commits
        found = store.delivery_get(did)
        assert found is not None and found.status is DeliveryStatus.SUCCEEDED
        assert terminate(target, name) == 1
        other = store.delivery_claim(second, lease=LEASE)  # once more, on a fresh connection
        assert other is not None and other.delivery.attempts == 1
    finally:
        store.close()


def test_pool_size_must_be_a_positive_int() -> None:
    """A pool of no connections is refused before anything connects."""
    with pytest.raises(StoreError, match="pool_size"):
        PostgresStateStore("postgresql://127.0.0.1:1/nowhere", pool_size=0)
