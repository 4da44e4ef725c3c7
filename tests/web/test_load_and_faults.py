"""The webhook load and fault scenario at a small size, over real HTTP, on both stores.

The scenario lives in ``tests/web/_load_scenario.py``; ``benchmarks/bench_webhook_load.py``
runs it at 10,000 deliveries, here it runs with 300 deliveries from 4 client threads.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores._support import drop_schema
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore, StateStore

pytest.importorskip("vbwd_stripe", reason="the vbwd-stripe distribution is not installed")
from tests.web._load_scenario import run_scenario


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """An empty inbox on SQLite, and on PostgreSQL when ``VBWD_TEST_POSTGRES_DSN`` is set."""
    if request.param == "sqlite":
        with SQLiteStateStore(tmp_path / "load.sqlite3") as opened:
            yield opened
        return
    dsn = os.environ.get("VBWD_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("VBWD_TEST_POSTGRES_DSN is not set: PostgreSQL load test skipped")
    schema = f"vbwd_load_{uuid.uuid4().hex[:12]}"
    postgres = PostgresStateStore(dsn, schema=schema)
    try:
        yield postgres
    finally:
        postgres.close()
        drop_schema(dsn, schema)


def test_every_good_event_once_every_bad_one_rejected_nothing_lost(store: StateStore) -> None:
    """Duplicates, bad signatures, malformed bodies and failing handlers under concurrency:
    each good event is handled exactly once, each bad delivery gets 401/400."""
    report = run_scenario(store, deliveries=300, threads=4, name="test")
    assert report.violations == []
    assert report.kinds == {"good": 222, "duplicate": 60, "bad_signature": 15, "malformed": 3}
    assert report.answers == {200: 282, 401: 15, 400: 3}
    assert report.handled_once == report.good_events == 222
    assert report.failures_injected >= 1
    assert report.retries >= report.failures_injected  # each failure was redelivered
    assert report.deliveries == 300
