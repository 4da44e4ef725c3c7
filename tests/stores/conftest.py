"""The ``store`` fixture: every store test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``VBWD_TEST_POSTGRES_DSN`` is set (CI sets it) and is skipped with a
visible reason otherwise. Each PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores._support import StoreTarget, drop_schema, make_target
from vbwd_plugins.stores import StateStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    """A fresh database, once per store implementation."""
    made = make_target(request.param, tmp_path)
    try:
        yield made
    finally:
        if made.kind == "postgres":
            assert made.dsn is not None and made.schema is not None
            drop_schema(made.dsn, made.schema)


@pytest.fixture
def store(target: StoreTarget) -> Iterator[StateStore]:
    """An open store on a fresh database, closed afterwards."""
    opened = target.open()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def spawn_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``tests.stores`` importable in spawned children (they inherit ``sys.path``)."""
    monkeypatch.syspath_prepend(str(ROOT))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own VBWD_* variables out of these tests."""
    for name in list(os.environ):
        if name.startswith("VBWD_") and name != "VBWD_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)
