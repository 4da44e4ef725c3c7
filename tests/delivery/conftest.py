"""The ``outbox`` fixture: every outbox test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``VBWD_TEST_POSTGRES_DSN`` is set (CI sets it) and is skipped with a
visible reason otherwise. Each PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stores._support import StoreTarget
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore

Store = SQLiteStateStore | PostgresStateStore


@pytest.fixture
def outbox(target: StoreTarget) -> Iterator[Store]:
    """An open store (and outbox) on a fresh database, closed afterwards."""
    opened = target.open()
    assert isinstance(opened, SQLiteStateStore | PostgresStateStore)
    try:
        yield opened
    finally:
        opened.close()
