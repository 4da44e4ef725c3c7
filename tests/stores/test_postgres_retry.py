"""PostgreSQL: the delivery path's writes skip the pool's check and repeat once when broken.

A pooled connection is used for recording a webhook, claiming and marking a delivery without
the pool's round-trip check; a connection that proves broken is discarded and the write runs
once more on a checked one. These tests pin that the repeat is safe whichever side of the
commit the connection died on: nothing recorded twice, nothing lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery._support import LEASE, event, receipt
from tests.stores._support import StoreTarget, drop_schema, make_target
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores import PostgresStateStore
from vbwd_plugins.stores import _outbox_postgres_batch as batch_module


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[StoreTarget, PostgresStateStore]]:
    """A store on a fresh PostgreSQL schema (skipped with the reason when there is none)."""
    target = make_target("postgres", tmp_path)
    assert target.dsn is not None and target.schema is not None
    store = PostgresStateStore(target.dsn, schema=target.schema, pool_size=2)
    try:
        yield target, store
    finally:
        store.close()
        drop_schema(target.dsn, target.schema)


def _kill(target: StoreTarget, conn: Any) -> None:
    """Terminate the server process behind ``conn`` from another connection."""
    import psycopg

    assert target.dsn is not None
    with psycopg.connect(target.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))


def _patch_record(
    monkeypatch: pytest.MonkeyPatch, first_call: Callable[[Callable[[], Any], Any], Any]
) -> list[int]:
    """Make the first ``Batch.record`` go through ``first_call(original, conn)``."""
    original = batch_module.Batch.record
    calls: list[int] = []

    def record(self: Any, conn: Any, query: Any, receipt: Any) -> Any:
        calls.append(1)
        run = lambda: original(self, conn, query, receipt)  # noqa: E731
        return first_call(run, conn) if len(calls) == 1 else run()

    monkeypatch.setattr(batch_module.Batch, "record", record)
    return calls


@pytest.mark.parametrize("lease", [None, LEASE], ids=["deferred", "inline"])
def test_an_accept_whose_answer_was_lost_is_answered_from_the_record(
    pg: tuple[StoreTarget, PostgresStateStore],
    monkeypatch: pytest.MonkeyPatch,
    lease: Any,
) -> None:
    """Committed, then the connection dies: the repeat finds the webhook; nothing twice."""
    target, store = pg

    def commit_then_die(run: Callable[[], Any], conn: Any) -> Any:
        run()  # one statement on an autocommit connection: committed
        _kill(target, conn)
        return conn.execute("SELECT 1")  # the answer never arrives

    calls = _patch_record(monkeypatch, commit_then_die)
    accepted = store.outbox_accept(receipt(), [event()], lease=lease)
    assert len(calls) == 2
    assert not accepted.new and accepted.claims == ()
    deliveries = store.deliveries_of_webhook("mock", "evt_1")
    assert sorted(accepted.pending) == sorted(d.id for d in deliveries)
    assert len(deliveries) == 2 and len({d.id for d in deliveries}) == 2
    if lease is not None:  # claimed under the lost token: nobody runs them before the lease
        assert {(d.status, d.attempts) for d in deliveries} == {(DeliveryStatus.RUNNING, 1)}
        assert store.delivery_claim(deliveries[0].id, lease=LEASE) is None
    record = store.inbox_get("mock", "evt_1")
    assert record is not None and record.attempts == 1


def test_an_accept_whose_connection_died_before_the_commit_is_recorded_by_the_repeat(
    pg: tuple[StoreTarget, PostgresStateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies before the statement: the repeat records the webhook, once."""
    target, store = pg

    def die_then_run(run: Callable[[], Any], conn: Any) -> Any:
        _kill(target, conn)
        return run()

    calls = _patch_record(monkeypatch, die_then_run)
    accepted = store.outbox_accept(receipt(), [event()])
    assert len(calls) == 2
    assert accepted.new and len(accepted.pending) == 2
    assert [d.status for d in store.deliveries_of_webhook("mock", "evt_1")] == [
        DeliveryStatus.PENDING
    ] * 2


def test_a_broken_connection_is_repeated_only_once(
    pg: tuple[StoreTarget, PostgresStateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the repeat's connection breaks too, the accept reports a StoreError."""
    target, store = pg

    def always_die(run: Callable[[], Any], conn: Any) -> Any:
        _kill(target, conn)
        return run()

    original = batch_module.Batch.record
    calls: list[int] = []

    def record(self: Any, conn: Any, query: Any, receipt: Any) -> Any:
        calls.append(1)
        return always_die(lambda: original(self, conn, query, receipt), conn)

    monkeypatch.setattr(batch_module.Batch, "record", record)
    with pytest.raises(StoreError, match="record events and deliveries"):
        store.outbox_accept(receipt(), [event()])
    assert len(calls) == 2
    monkeypatch.undo()
    assert store.outbox_accept(receipt(), [event()]).new  # nothing was recorded


def test_an_error_on_a_working_connection_is_not_repeated(
    pg: tuple[StoreTarget, PostgresStateStore],
) -> None:
    """A statement cancelled by the server (the connection fine) is reported, run once."""
    _, store = pg
    calls: list[int] = []

    def slow(conn: Any) -> None:
        calls.append(1)
        conn.execute("SET statement_timeout = 10")
        try:
            conn.execute("SELECT pg_sleep(1)")
        finally:
            conn.execute("RESET statement_timeout")

    with pytest.raises(StoreError, match="slow thing"):
        store._idempotent(None, "slow thing", slow)
    assert calls == [1]


def test_a_claim_repeated_with_its_token_is_answered_again(
    pg: tuple[StoreTarget, PostgresStateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repeat of a claim whose answer was lost gets the same claim, one attempt."""
    import secrets

    _, store = pg
    did, _ = store.outbox_accept(receipt(), [event()]).pending
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: "a" * 32)
    first = store.delivery_claim(did, lease=LEASE)
    again = store.delivery_claim(did, lease=LEASE)
    assert first is not None and again is not None
    assert again.token == first.token and again.delivery.attempts == 1
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: "b" * 32)
    assert store.delivery_claim(did, lease=LEASE) is None  # another runner: the lease holds


def test_delivery_writes_skip_the_pools_check_and_other_operations_keep_it(
    pg: tuple[StoreTarget, PostgresStateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accept, claim, succeed and fail lend without the check; reads and saves check."""
    from psycopg_pool import ConnectionPool

    _, store = pg
    checks: list[int] = []
    original = ConnectionPool.check_connection

    def counted(conn: Any) -> None:
        checks.append(1)
        original(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    first, second = store.outbox_accept(receipt(), [event()]).pending
    claim = store.delivery_claim(first, lease=LEASE)
    assert claim is not None and store.delivery_succeed(first, claim.token)
    other = store.delivery_claim(second, lease=LEASE)
    assert other is not None and store.delivery_fail(second, other.token, "x", retry_at=None)
    assert checks == []
    store.get("pay")
    store.save("pay", status="disabled", config={}, expected_version=None)
    assert len(checks) == 2
