"""``publish(event, connection=...)``: the event commits or rolls back with the host's writes.

Every test runs on SQLite and on PostgreSQL (skipped visibly without
``VBWD_TEST_POSTGRES_DSN``), with a real host connection of its own to the store's database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.delivery._publish_host import Host
from tests.stores._support import StoreTarget
from vbwd_plugins import Event, PluginManager
from vbwd_plugins.delivery import DeliveryStatus, NewEvent, RunOutcome
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore

NAME = "order.paid"


class Calls:
    """Two host listeners that remember every call: (listener, idempotency key)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def a(self, event: Event) -> None:
        self.seen.append(("a", event.idempotency_key))

    def b(self, event: Event) -> None:
        self.seen.append(("b", event.idempotency_key))


def _manager(target: StoreTarget, calls: Calls) -> PluginManager:
    manager = PluginManager(store=target.open())
    manager.event_dispatcher.add_listener(NAME, calls.a, id="a")
    manager.event_dispatcher.add_listener(NAME, calls.b, id="b")
    return manager


@pytest.fixture
def calls() -> Calls:
    """The listeners' record."""
    return Calls()


@pytest.fixture
def manager(target: StoreTarget, calls: Calls) -> Iterator[PluginManager]:
    """A manager on a real store with listeners ``a`` and ``b`` on ``order.paid``."""
    made = _manager(target, calls)
    try:
        yield made
    finally:
        store = made.store
        assert isinstance(store, SQLiteStateStore | PostgresStateStore)
        store.close()


@pytest.fixture
def host(target: StoreTarget, manager: PluginManager) -> Host:
    """The host, with its ``orders`` table next to the store's tables."""
    made = Host(target)
    made.create_orders()
    return made


def _store(manager: PluginManager) -> SQLiteStateStore | PostgresStateStore:
    store = manager.store
    assert isinstance(store, SQLiteStateStore | PostgresStateStore)
    return store


def _recorded(manager: PluginManager, ids: Sequence[str]) -> list[DeliveryStatus | None]:
    store = _store(manager)
    return [None if (one := store.delivery_get(did)) is None else one.status for did in ids]


def _place_order(host: Host, manager: PluginManager, conn: Any, order_id: str) -> list[str]:
    host.insert_order(conn, order_id)
    return manager.publish(Event(NAME, {"order_id": order_id}), connection=conn)


def test_committed_event_is_due_and_each_listener_runs_exactly_once(
    host: Host, manager: PluginManager, calls: Calls
) -> None:
    """After the host commits, deliver(ids) runs a and b once; a later sweep runs nothing."""
    conn = host.connect()
    try:
        ids = _place_order(host, manager, conn, "ord_1")
        assert calls.seen == []  # nothing runs inside the host's transaction
        conn.commit()
    finally:
        conn.close()
    assert host.order_ids() == {"ord_1"}
    assert _recorded(manager, ids) == [DeliveryStatus.PENDING] * 2
    assert sorted(d.id for d in _store(manager).deliveries_due()) == sorted(ids)
    results = manager.deliveries.deliver(ids)
    assert [r.outcome for r in results] == [RunOutcome.SUCCEEDED] * 2
    assert manager.deliveries.sweep() == []
    assert manager.deliveries.deliver(ids)[0].outcome is RunOutcome.SKIPPED
    assert sorted(name for name, _ in calls.seen) == ["a", "b"]
    assert len({key for _, key in calls.seen}) == 2
    first = _store(manager).delivery_get(ids[0])
    assert first is not None
    stored = _store(manager).event_get(first.event_uid)
    assert stored is not None and stored.source == "publish" and stored.name == NAME


def test_rolled_back_host_transaction_records_no_event_and_runs_nothing(
    host: Host, manager: PluginManager, calls: Calls
) -> None:
    """Rollback: no order, no delivery, nothing due; deliver(ids) skips them."""
    conn = host.connect()
    try:
        ids = _place_order(host, manager, conn, "ord_1")
        conn.rollback()
    finally:
        conn.close()
    assert host.order_ids() == set()
    assert _recorded(manager, ids) == [None, None]
    assert _store(manager).deliveries_due() == []
    assert {r.outcome for r in manager.deliveries.deliver(ids)} == {RunOutcome.SKIPPED}
    assert manager.deliveries.sweep() == []
    assert calls.seen == []


def test_event_is_invisible_to_the_store_until_the_host_commits(
    host: Host, manager: PluginManager
) -> None:
    """publish never commits: the store's own connections see nothing before the commit."""
    conn = host.connect()
    try:
        ids = _place_order(host, manager, conn, "ord_1")
        assert _recorded(manager, ids) == [None, None]
        assert host.order_ids() == set()
        conn.commit()
    finally:
        conn.close()
    assert _recorded(manager, ids) == [DeliveryStatus.PENDING] * 2


def test_committed_event_whose_process_died_is_delivered_by_another_process_sweep(
    host: Host, target: StoreTarget, manager: PluginManager
) -> None:
    """The host commits and never calls deliver: a sweep in another manager runs each once."""
    conn = host.connect()
    try:
        ids = _place_order(host, manager, conn, "ord_1")
        conn.commit()
    finally:
        conn.close()
    later = Calls()
    other = _manager(target, later)
    try:
        assert sorted(other.deliveries.sweep()) == sorted(ids)
        assert other.deliveries.sweep() == []
    finally:
        _store(other).close()
    assert sorted(name for name, _ in later.seen) == ["a", "b"]
    assert _recorded(manager, ids) == [DeliveryStatus.SUCCEEDED] * 2


def test_publish_before_the_first_write_joins_the_implicit_transaction(
    host: Host, manager: PluginManager
) -> None:
    """Default driver settings, publish first: the host's rollback still undoes the event."""
    conn = host.connect()
    try:
        ids = manager.publish(Event(NAME, {"order_id": "ord_1"}), connection=conn)
        host.insert_order(conn, "ord_1")
        conn.rollback()
        kept = manager.publish(Event(NAME, {"order_id": "ord_2"}), connection=conn)
        host.insert_order(conn, "ord_2")
        conn.commit()
    finally:
        conn.close()
    assert _recorded(manager, ids) == [None, None]
    assert _recorded(manager, kept) == [DeliveryStatus.PENDING] * 2
    assert host.order_ids() == {"ord_2"}


def test_autocommit_connection_outside_a_transaction_is_refused(
    host: Host, target: StoreTarget, manager: PluginManager
) -> None:
    """No host transaction to join: StoreError saying how to open one; nothing recorded."""
    options = {"isolation_level": None} if target.kind == "sqlite" else {"autocommit": True}
    conn = host.connect(**options)
    try:
        with pytest.raises(StoreError, match="autocommit mode outside a transaction"):
            manager.publish(Event(NAME), connection=conn)
    finally:
        conn.close()
    assert _store(manager).deliveries_due() == []


def test_autocommit_connection_inside_an_explicit_transaction_is_joined(
    host: Host, target: StoreTarget, manager: PluginManager
) -> None:
    """An autocommit connection with BEGIN / conn.transaction(): the event follows that block."""
    if target.kind == "sqlite":
        conn = host.connect(isolation_level=None)
        try:
            conn.execute("BEGIN")
            rolled = _place_order(host, manager, conn, "ord_1")
            conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            kept = _place_order(host, manager, conn, "ord_2")
            conn.execute("COMMIT")
        finally:
            conn.close()
    else:
        import psycopg

        conn = host.connect(autocommit=True)
        try:
            with conn.transaction() as block:
                rolled = _place_order(host, manager, conn, "ord_1")
                raise psycopg.Rollback(block)
            with conn.transaction():
                kept = _place_order(host, manager, conn, "ord_2")
        finally:
            conn.close()
    assert _recorded(manager, rolled) == [None, None]
    assert _recorded(manager, kept) == [DeliveryStatus.PENDING] * 2
    assert host.order_ids() == {"ord_2"}


def test_connection_of_the_wrong_kind_is_a_type_error_naming_store_and_type(
    target: StoreTarget, manager: PluginManager, tmp_path: Any
) -> None:
    """A psycopg connection to the SQLite store (or sqlite3 to PostgreSQL) is a TypeError."""
    if target.kind == "sqlite":
        wrong: Any = object()
        expected = r"SQLiteStateStore.*sqlite3\.Connection.*builtins\.object"
    else:
        import sqlite3

        wrong = sqlite3.connect(str(tmp_path / "host.sqlite3"))
        expected = r"PostgresStateStore.*psycopg 3 Connection.*sqlite3\.Connection"
    with pytest.raises(TypeError, match=expected):
        manager.publish(Event(NAME), connection=wrong)


def test_host_row_and_text_factories_are_used_and_restored(
    host: Host, target: StoreTarget, manager: PluginManager
) -> None:
    """A host reading dict rows keeps them: publish reads tuples and restores the factory."""
    if target.kind == "sqlite":
        import sqlite3

        conn = host.connect()
        conn.row_factory = sqlite3.Row
        conn.text_factory = bytes
        expected: tuple[Any, ...] = (sqlite3.Row, bytes)
    else:
        from psycopg.rows import dict_row

        conn = host.connect(row_factory=dict_row)
        expected = (dict_row,)
    try:
        ids = _place_order(host, manager, conn, "ord_1")
        conn.commit()
        factories = (
            (conn.row_factory,)
            if target.kind != "sqlite"
            else (
                conn.row_factory,
                conn.text_factory,
            )
        )
    finally:
        conn.close()
    assert factories == expected
    assert _recorded(manager, ids) == [DeliveryStatus.PENDING] * 2


def test_failed_write_is_undone_and_the_host_transaction_still_commits(
    host: Host, manager: PluginManager
) -> None:
    """A refused listener id after the event row: StoreError, the savepoint undoes the event."""
    store = _store(manager)
    bad = NewEvent("evt_bad", NAME, '{"name": "order.paid", "data": {}}', ("x" * 201,))
    conn = host.connect()
    try:
        host.insert_order(conn, "ord_1")
        with pytest.raises(StoreError, match="listener id"):
            store.outbox_accept_in(conn, [bad])
        conn.commit()
    finally:
        conn.close()
    assert host.order_ids() == {"ord_1"}
    assert store.event_get("evt_bad") is None


def test_deferred_engine_gets_the_ids_only_when_the_host_delivers_them(
    host: Host, manager: PluginManager
) -> None:
    """With an engine, publish(connection=) submits nothing; deliver(ids) after commit does."""
    submitted: list[str] = []

    class Engine:
        def submit(self, delivery_ids: Sequence[str]) -> None:
            submitted.extend(delivery_ids)

    manager.set_delivery_engine(Engine())
    conn = host.connect()
    try:
        ids = _place_order(host, manager, conn, "ord_1")
        assert submitted == []
        conn.commit()
    finally:
        conn.close()
    assert manager.deliveries.deliver(ids) == []
    assert submitted == ids
