"""Property: across random commit/rollback sequences, the recorded events are exactly the
committed ones, and a sweep runs each of their listeners exactly once.

On SQLite and on PostgreSQL (skipped visibly without ``VBWD_TEST_POSTGRES_DSN``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.delivery._publish_host import Host
from tests.stores._support import StoreTarget
from vbwd_plugins import Event, PluginManager
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore

NAME = "order.paid"

#: One host transaction: how many events it publishes (with an order each) and its end.
_TRANSACTIONS = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["commit", "rollback"])), max_size=6
)


def _counting(calls: Counter[tuple[str, str]], listener: str) -> Callable[[Event], None]:
    def count(event: Event) -> None:
        calls.update([(listener, event.data["order"])])

    return count


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(transactions=_TRANSACTIONS, publish_first=st.booleans())
def test_recorded_events_are_exactly_the_committed_ones(
    target: StoreTarget,
    transactions: list[tuple[int, str]],
    publish_first: bool,
) -> None:
    """Committed events are recorded and run once per listener; rolled back ones never exist."""
    calls: Counter[tuple[str, str]] = Counter()
    manager = PluginManager(store=target.open())
    for listener in ("a", "b"):
        manager.event_dispatcher.add_listener(NAME, _counting(calls, listener), id=listener)
    store = manager.store
    assert isinstance(store, SQLiteStateStore | PostgresStateStore)
    host = Host(target)
    host.create_orders()
    run = uuid.uuid4().hex[:8]  # examples share the database
    committed: list[str] = []
    rolled_back: list[str] = []
    conn = host.connect()
    try:
        for number, (count, end) in enumerate(transactions):
            orders = [f"ord_{run}_{number}_{index}" for index in range(count)]
            ids: list[str] = []
            for order in orders:
                if not publish_first:
                    host.insert_order(conn, order)
                ids += manager.publish(Event(NAME, {"order": order}), connection=conn)
                if publish_first:
                    host.insert_order(conn, order)
            if end == "commit":
                conn.commit()
                committed += orders
            else:
                conn.rollback()
                rolled_back += orders
            for did in ids:
                assert (store.delivery_get(did) is not None) is (end == "commit")
        manager.deliveries.sweep(limit=1000)
        assert set(committed) <= host.order_ids()
        assert not set(rolled_back) & host.order_ids()
        expected = Counter((listener, order) for order in committed for listener in "ab")
        assert calls == expected
        assert manager.deliveries.sweep(limit=1000) == []
    finally:
        conn.close()
        store.close()
