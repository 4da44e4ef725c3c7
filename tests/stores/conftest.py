"""The ``store`` fixture: every store test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``VBWD_TEST_POSTGRES_DSN`` is set (CI sets it) and is skipped with a
visible reason otherwise. Each PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stores._support import StoreTarget
from vbwd_plugins.stores import StateStore


@pytest.fixture
def store(target: StoreTarget) -> Iterator[StateStore]:
    """An open store on a fresh database, closed afterwards."""
    opened = target.open()
    try:
        yield opened
    finally:
        opened.close()
