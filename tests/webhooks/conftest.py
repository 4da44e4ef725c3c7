"""Fixtures: a store (SQLite, and PostgreSQL when ``VBWD_TEST_POSTGRES_DSN`` is set), a
manager with an enabled :class:`MockPaymentPlugin`, a side-effect listener and the processor.

Each PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores._support import StoreTarget
from tests.webhooks._support import SECRET, SideEffects
from vbwd_plugins import (
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore
from vbwd_plugins.testing import MockPaymentPlugin

Store = SQLiteStateStore | PostgresStateStore


@pytest.fixture
def store(target: StoreTarget) -> Iterator[Store]:
    """An open store (and webhook inbox) on a fresh database."""
    opened = target.open()
    assert isinstance(opened, SQLiteStateStore | PostgresStateStore)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def mock() -> MockPaymentPlugin:
    """The mock provider (not yet registered)."""
    return MockPaymentPlugin(webhook_secret=SECRET)


@pytest.fixture
def effects(tmp_path: Path) -> SideEffects:
    """Records each handled event id in a file."""
    folder = tmp_path / "effects"
    folder.mkdir()
    return SideEffects(folder)


@pytest.fixture
def manager(store: Store, mock: MockPaymentPlugin, effects: SideEffects) -> PluginManager:
    """A manager on ``store`` with ``mock`` enabled and ``effects`` listening."""
    manager = PluginManager(store=store)
    manager.register_plugin(mock)
    manager.initialize_plugin("mock")
    manager.enable_plugin("mock")
    manager.event_dispatcher.add_listener("payment.completed", effects)
    return manager


@pytest.fixture
def processor(manager: PluginManager) -> WebhookProcessor:
    """The pipeline, with the store as its inbox."""
    return WebhookProcessor(manager)
