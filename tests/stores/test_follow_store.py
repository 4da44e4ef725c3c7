"""``PluginManager.follow_store()``: a running manager applies another handle's changes by
itself, survives a failing store, and stops cleanly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests._support import DistFactory
from tests.stores import _plugins
from tests.stores._support import StoreTarget
from vbwd_plugins import PluginManager
from vbwd_plugins.config._secrets import FernetSecretBox
from vbwd_plugins.errors import StoreError
from vbwd_plugins.plugins import StoreFollower
from vbwd_plugins.stores import StateStore

#: Generous bound for "the follower noticed"; the tests never assert how fast it was.
PATIENCE = 30.0


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Managers read their key from the environment."""
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", FernetSecretBox.generate_key())


@pytest.fixture
def installed(make_dist: DistFactory) -> None:
    """``base``, ``pay`` and ``addon`` as an installed distribution."""
    make_dist("vbwd-follow-test-plugins", "1.0.0", dict(_plugins.ENTRY_POINTS))


@pytest.fixture
def managers(target: StoreTarget) -> Iterator[Callable[..., PluginManager]]:
    """Managers on stores of their own (like separate workers), all closed afterwards."""
    stores: list[StateStore] = []

    def make(store: StateStore | None = None) -> PluginManager:
        store = target.open() if store is None else store
        stores.append(store)
        return PluginManager(store=store)

    yield make
    for store in stores:
        store.close()


def _eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait (boundedly) until ``condition()`` holds."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"the following manager never {what}"
        time.sleep(0.05)


def _enabled(manager: PluginManager) -> set[str]:
    return {plugin.metadata.name for plugin in manager.get_enabled_plugins()}


def test_following_manager_applies_another_handles_changes(
    managers: Callable[..., PluginManager], installed: None
) -> None:
    """A plugin disabled (then enabled again) through another store handle is disabled (then
    enabled) in the following manager without anyone calling refresh()."""
    operator, worker = managers(), managers()
    operator.discover()
    operator.enable_plugins(["base"])
    worker.start()
    assert _enabled(worker) == {"base"}

    with worker.follow_store() as follower:
        assert follower.running
        operator.disable_plugin("base")
        _eventually(lambda: _enabled(worker) == set(), "saw the plugin disabled")
        operator.enable_plugin("base")
        _eventually(lambda: _enabled(worker) == {"base"}, "saw the plugin enabled again")
    assert not follower.running


def test_following_needs_a_store() -> None:
    """A manager without a store cannot follow one: a StoreError says what to pass."""
    with pytest.raises(StoreError, match="needs a PluginManager created with a store"):
        PluginManager().follow_store()


class _FlakyWaits:
    """A store whose ``wait_for_change`` fails ``failures`` times, then works."""

    def __init__(self, inner: StateStore, failures: int) -> None:
        self._inner = inner
        self.failures = failures

    def wait_for_change(self, timeout: float) -> bool:
        if self.failures:
            self.failures -= 1
            raise StoreError("database restarting")
        wait: Callable[..., bool] = self._inner.wait_for_change  # type: ignore[attr-defined]
        return wait(timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_errors_are_logged_and_retried(
    managers: Callable[..., PluginManager],
    installed: None,
    target: StoreTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing wait is logged as a warning and retried; the change is still applied (and
    stopping twice is harmless)."""
    operator = managers()
    operator.discover()
    operator.enable_plugins(["base"])
    flaky = _FlakyWaits(target.open(), failures=2)
    worker = managers(flaky)
    worker.start()
    with caplog.at_level(logging.WARNING, logger="vbwd_plugins.plugins._follower"):
        follower = worker.follow_store()
        try:
            operator.disable_plugin("base")
            _eventually(lambda: _enabled(worker) == set(), "recovered from the failing store")
        finally:
            follower.stop()
            follower.stop()
    assert flaky.failures == 0
    warnings = [r for r in caplog.records if "database restarting" in r.getMessage()]
    assert len(warnings) == 2 and "retrying in" in warnings[0].getMessage()


def test_a_store_that_cannot_wait_is_polled(
    managers: Callable[..., PluginManager], installed: None, target: StoreTarget
) -> None:
    """A store without wait_for_change (a host's own) is refreshed every poll_interval."""

    class Plain:
        def __init__(self, inner: StateStore) -> None:
            self._inner = inner
            for name in ("get", "list", "save", "delete", "close"):
                setattr(self, name, getattr(inner, name))

    operator = managers()
    operator.discover()
    operator.enable_plugins(["base"])
    worker = managers(Plain(target.open()))
    worker.start()
    with StoreFollower(worker, poll_interval=0.1):
        operator.disable_plugin("base")
        _eventually(lambda: _enabled(worker) == set(), "polled the store")
