"""PluginManager with a store: write-through, undo on failure, restore, refresh, rotation."""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from tests._support import DistFactory
from tests.stores import _plugins, _worker
from tests.stores._support import StoreTarget
from vbwd_plugins import (
    ConfigValidationError,
    PluginManager,
    PluginStatus,
)
from vbwd_plugins.config._schema import MASK
from vbwd_plugins.config._secrets import FernetSecretBox
from vbwd_plugins.errors import (
    SecretsError,
    StoreConflictError,
    StoreError,
)
from vbwd_plugins.stores import PluginRecord, StateStore

KEY = FernetSecretBox.generate_key()
OTHER_KEY = FernetSecretBox.generate_key()
PAY_CONFIG = {"api_key": "sk_live_MANAGER_SECRET_1", "account": "acct_1"}


@pytest.fixture(autouse=True)
def _keys_and_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every manager reads its key from the environment, as in production."""
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", KEY)
    _plugins.LOG.clear()


@pytest.fixture
def installed(make_dist: DistFactory, spawn_path: None) -> None:
    """The test plugins as an installed distribution (``idle`` in its own module)."""
    make_dist(
        "vbwd-store-test-plugins",
        "1.0.0",
        {**_plugins.ENTRY_POINTS, "idle": "vbwd_idle_plugin:Idle"},
        modules={"vbwd_idle_plugin": _plugins.IDLE_MODULE},
    )


@pytest.fixture
def managers(target: StoreTarget) -> Iterator[Callable[..., PluginManager]]:
    """Build managers, each on its own store handle (like separate workers)."""
    stores: list[StateStore] = []

    def make(**kwargs: Any) -> PluginManager:
        store = target.open()
        stores.append(store)
        return PluginManager(store=store, **kwargs)

    yield make
    for store in stores:
        store.close()


def _registered(manager: PluginManager) -> PluginManager:
    for plugin in (_plugins.Base(), _plugins.Pay(), _plugins.Addon()):
        manager.register_plugin(plugin)
    return manager


def _record(manager: PluginManager, name: str) -> PluginRecord:
    assert manager.store is not None
    record = manager.store.get(name)
    assert record is not None
    return record


def _pay_key(manager: PluginManager) -> str:
    plugin = manager.get_plugin("pay")
    assert plugin is not None
    secret = plugin.get_config("api_key")
    assert isinstance(secret, SecretStr)
    return secret.get_secret_value()


class FlakyStore:
    """Wraps a store; ``fail_saves`` makes the next saves raise StoreError."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.fail_saves = 0
        self.before_save: Callable[[], None] | None = None

    def get(self, plugin_name: str) -> PluginRecord | None:
        return self.inner.get(plugin_name)

    def list(self) -> list[PluginRecord]:
        return self.inner.list()

    def save(self, plugin_name: str, **kwargs: Any) -> PluginRecord:
        if self.before_save is not None:
            hook, self.before_save = self.before_save, None
            hook()
        if self.fail_saves:
            self.fail_saves -= 1
            raise StoreError("store is down", plugin_name=plugin_name)
        return self.inner.save(plugin_name, **kwargs)

    def delete(self, plugin_name: str, *, expected_version: int) -> None:
        self.inner.delete(plugin_name, expected_version=expected_version)

    def close(self) -> None:
        self.inner.close()


# -- write-through ------------------------------------------------------------------------


def test_every_change_is_written_through(managers: Callable[..., PluginManager]) -> None:
    """initialize, enable, disable and uninstall each update the record at once."""
    manager = _registered(managers())
    manager.initialize_plugin("base", {"greeting": "hi"})
    manager.initialize_plugin("pay", PAY_CONFIG)
    record = _record(manager, "pay")
    assert record.status == "initialized"
    assert record.config["account"] == "acct_1"
    assert "__vbwd_secret__" in record.config["api_key"]
    manager.enable_plugins(["base", "pay"])
    assert _record(manager, "pay").status == "enabled"
    assert _record(manager, "base").config == {"greeting": "hi"}
    manager.disable_plugin("base", cascade=True)
    assert _record(manager, "pay").status == "disabled"
    assert _record(manager, "base").status == "disabled"
    manager.uninstall_plugin("pay")
    assert _record(manager, "pay").status == "uninstalled"
    assert _record(manager, "pay").config == record.config


def test_registration_alone_writes_nothing(managers: Callable[..., PluginManager]) -> None:
    """Registering is per-process: no record appears until the plugin is initialized."""
    manager = _registered(managers())
    assert manager.store is not None and manager.store.list() == []


def test_raw_storage_after_manager_writes_has_no_plaintext(
    managers: Callable[..., PluginManager], target: StoreTarget
) -> None:
    """What the manager stores holds the account but not the API key."""
    manager = _registered(managers())
    manager.initialize_plugin("pay", PAY_CONFIG)
    raw = target.raw_contents()
    assert b"acct_1" in raw
    assert b"MANAGER_SECRET" not in raw


def test_invalid_config_writes_nothing(managers: Callable[..., PluginManager]) -> None:
    """A configuration rejected by the schema leaves memory and store untouched."""
    manager = _registered(managers())
    manager.initialize_plugin("pay", PAY_CONFIG)
    before = _record(manager, "pay")
    with pytest.raises(ConfigValidationError, match="'pay'"):
        manager.initialize_plugin("pay", {"account": "acct_2"})
    assert _record(manager, "pay") == before
    assert _pay_key(manager) == PAY_CONFIG["api_key"]


STEPS: dict[str, Callable[[PluginManager], None]] = {
    "initialize": lambda m: m.initialize_plugin("pay", {**PAY_CONFIG, "account": "acct_new"}),
    "enable": lambda m: m.enable_plugin("pay"),
    "disable": lambda m: m.disable_plugin("pay"),
    "uninstall": lambda m: m.uninstall_plugin("pay"),
    "configure": lambda m: m.configure_plugin("pay", {"account": "acct_new"}, patch=True),
    "reconfigure enabled": lambda m: m.configure_plugin("pay", {"account": "acct_new"}, patch=True),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_failed_store_write_undoes_memory_change(target: StoreTarget, step: str) -> None:
    """If the store write fails, the plugin is back as before and the error is raised."""
    flaky = FlakyStore(target.open())
    manager = _registered(PluginManager(store=flaky))
    manager.enable_plugins(["base"])
    manager.initialize_plugin("pay", PAY_CONFIG)
    if step in ("disable", "uninstall", "reconfigure enabled"):
        manager.enable_plugin("pay")
    if step == "uninstall":
        manager.disable_plugin("pay")
    plugin = manager.get_plugin("pay")
    assert plugin is not None
    status_before, record_before = plugin.status, _record(manager, "pay")
    enabled_before = [p.metadata.name for p in manager.get_enabled_plugins()]
    flaky.fail_saves = 1
    with pytest.raises(StoreError, match="store is down"):
        STEPS[step](manager)
    assert plugin.status is status_before
    assert manager.get_plugin("pay") is plugin
    assert plugin.get_config("account") == "acct_1"
    assert _record(manager, "pay") == record_before
    assert [p.metadata.name for p in manager.get_enabled_plugins()] == enabled_before
    flaky.close()


def test_stale_config_write_conflicts_and_is_undone(target: StoreTarget) -> None:
    """Another process writing in between makes our config write fail; memory is restored."""
    flaky = FlakyStore(target.open())
    manager = _registered(PluginManager(store=flaky))
    manager.initialize_plugin("pay", PAY_CONFIG)
    other = target.open()

    def interfere() -> None:
        record = other.get("pay")
        assert record is not None
        other.save(
            "pay", status="initialized", config=record.config, expected_version=record.version
        )

    flaky.before_save = interfere
    with pytest.raises(StoreConflictError, match="'pay'"):
        manager.initialize_plugin("pay", {**PAY_CONFIG, "account": "acct_new"})
    assert manager.get_plugin("pay").get_config("account") == "acct_1"  # type: ignore[union-attr]
    other.close()
    flaky.close()


def test_enable_plugins_with_config_is_one_write(managers: Callable[..., PluginManager]) -> None:
    """Initializing and enabling a plugin in one enable_plugins call writes its record once."""
    manager = _registered(managers())
    manager.enable_plugins(["base", "pay"], configs={"pay": PAY_CONFIG})
    record = _record(manager, "pay")
    assert (record.status, record.version) == ("enabled", 1)
    manager.configure_plugin("pay", {"account": "acct_2"}, patch=True)
    record = _record(manager, "pay")
    assert (record.status, record.version, record.config["account"]) == ("enabled", 2, "acct_2")
    assert _pay_key(manager) == PAY_CONFIG["api_key"]


def test_enable_keeps_configuration_stored_by_another_process(
    managers: Callable[..., PluginManager],
) -> None:
    """Enabling writes the status only: a newer stored configuration is not overwritten."""
    first, second = _registered(managers()), _registered(managers())
    first.initialize_plugin("base")
    first.initialize_plugin("pay", PAY_CONFIG)
    second.initialize_plugin("pay", {**PAY_CONFIG, "account": "acct_second"})
    first.enable_plugins(["base", "pay"])
    record = _record(first, "pay")
    assert record.status == "enabled"
    assert record.config["account"] == "acct_second"


def test_initialize_without_config_uses_the_stored_one(
    managers: Callable[..., PluginManager],
) -> None:
    """The store is the source of truth: initialize_plugin(name) loads the stored config."""
    _registered(managers()).initialize_plugin("pay", PAY_CONFIG)
    fresh = _registered(managers())
    fresh.initialize_plugin("pay")
    assert _pay_key(fresh) == PAY_CONFIG["api_key"]


def test_masked_secret_round_trip_keeps_the_secret(
    managers: Callable[..., PluginManager],
) -> None:
    """Sending back the public view (secret masked) changes the account only."""
    manager = _registered(managers())
    manager.initialize_plugin("pay", PAY_CONFIG)
    view = manager.get_public_config("pay")
    assert view == {"api_key": MASK, "account": "acct_1", "retries": 3}
    manager.initialize_plugin("pay", {**view, "account": "acct_2"})
    assert _pay_key(manager) == PAY_CONFIG["api_key"]
    assert manager.get_plugin("pay").get_config("account") == "acct_2"  # type: ignore[union-attr]


def test_environment_values_are_used_but_never_stored(
    managers: Callable[..., PluginManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    """VBWD_PAY_API_KEY configures the plugin; the record does not contain it."""
    monkeypatch.setenv("VBWD_PAY_API_KEY", "sk_from_env")
    manager = _registered(managers())
    manager.initialize_plugin("pay", {"account": "acct_env"})
    assert _pay_key(manager) == "sk_from_env"
    assert "api_key" not in _record(manager, "pay").config


# -- restore on start ---------------------------------------------------------------------


def test_start_restores_enabled_plugins_in_dependency_order(
    managers: Callable[..., PluginManager], installed: None
) -> None:
    """Recorded-enabled plugins are imported, configured and enabled dependencies-first."""
    first = managers()
    first.discover()
    first.enable_plugins(["base", "pay", "addon"], configs={"pay": PAY_CONFIG})
    first.initialize_plugin("idle")
    sys.modules.pop("vbwd_idle_plugin", None)
    _plugins.LOG.clear()

    restarted = managers()
    report = restarted.start()
    assert report.failed == {}
    assert sorted(report.loaded) == ["addon", "base", "pay"]
    enables = [entry for entry in _plugins.LOG if entry.endswith(".enable")]
    assert enables == ["base.enable", "pay.enable", "addon.enable"]
    assert _pay_key(restarted) == PAY_CONFIG["api_key"]
    assert restarted.get_plugin("idle") is None
    assert "vbwd_idle_plugin" not in sys.modules
    assert _record(restarted, "pay").version == _record(first, "pay").version  # nothing written


def test_recorded_but_uninstalled_plugin_is_reported_not_fatal(
    managers: Callable[..., PluginManager],
    installed: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A plugin recorded enabled but not installed is logged, reported and listed as missing."""
    manager = managers()
    assert manager.store is not None
    manager.store.save("ghost", status="enabled", config={}, expected_version=None)
    manager.store.save("base", status="enabled", config={}, expected_version=None)
    with caplog.at_level(logging.ERROR):
        report = manager.start()
    assert report.loaded == ["base"]
    assert set(report.failed) == {"ghost"}
    assert "'ghost'" in caplog.text and "not installed" in caplog.text
    rows = {row.name: row for row in manager.describe()}
    assert rows["ghost"].status == "missing"
    assert rows["ghost"].error is not None
    assert rows["base"].status == "enabled"


def test_start_with_wrong_key_reports_the_plugin(
    managers: Callable[..., PluginManager],
    installed: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stored secrets under another key: SecretsError for that plugin, the rest starts."""
    first = managers()
    first.discover()
    first.enable_plugins(["base", "pay"], configs={"pay": PAY_CONFIG})
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", OTHER_KEY)
    report = managers().start()
    assert report.loaded == ["base"]
    assert isinstance(report.failed["pay"], SecretsError)
    assert report.failed["pay"].plugin_name == "pay"
    monkeypatch.delenv("VBWD_PLUGINS_SECRET_KEYS")
    report = managers().start()
    assert isinstance(report.failed["pay"], SecretsError)
    assert "no encryption key" in str(report.failed["pay"])


# -- several workers ----------------------------------------------------------------------


def test_refresh_applies_another_managers_changes(
    managers: Callable[..., PluginManager], installed: None
) -> None:
    """Disable, enable and reconfigure in one manager; refresh applies them in the other."""
    admin, worker = managers(), managers()
    admin.discover()
    admin.enable_plugins(["base", "pay", "addon"], configs={"pay": PAY_CONFIG})
    worker.start()

    admin.disable_plugin("base", cascade=True)
    _plugins.LOG.clear()  # both managers run in this process: keep the worker's calls only
    report = worker.refresh()
    assert sorted(report.loaded) == ["addon", "base", "pay"]
    assert _plugins.LOG == ["addon.disable", "pay.disable", "base.disable"]
    assert worker.get_enabled_plugins() == []

    admin.enable_plugins(["base", "pay", "addon"])
    _plugins.LOG.clear()
    worker.refresh()
    assert [e for e in _plugins.LOG if e.endswith(".enable")] == [
        "base.enable",
        "pay.enable",
        "addon.enable",
    ]

    admin.disable_plugins(["addon", "pay"])
    admin.initialize_plugin("pay", {**PAY_CONFIG, "api_key": "sk_rotated_value"})
    admin.enable_plugins(["pay", "addon"])
    worker.refresh()
    assert _pay_key(worker) == "sk_rotated_value"
    assert {p.metadata.name for p in worker.get_enabled_plugins()} == {"base", "pay", "addon"}
    assert worker.refresh().loaded == []  # nothing new


def test_two_processes_and_refresh(
    managers: Callable[..., PluginManager], installed: None, target: StoreTarget
) -> None:
    """A manager in another process changes state; refresh() here applies it."""
    ctx = multiprocessing.get_context("spawn")
    commands, done = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=_worker.manager_worker, args=(target, commands, done))
    child.start()
    try:
        assert done.get(timeout=_worker.TIMEOUT) == "started"
        here = managers()
        here.start()

        commands.put(("enable", ["base"]))
        done.get(timeout=_worker.TIMEOUT)
        here.refresh()
        assert [p.metadata.name for p in here.get_enabled_plugins()] == ["base"]

        here.initialize_plugin("pay", PAY_CONFIG)  # this process writes a config...
        commands.put(("enable", ["pay", "addon"]))  # ...the other one enables it
        _, states = done.get(timeout=_worker.TIMEOUT)
        assert states["pay"] == "enabled"
        here.refresh()
        assert {p.metadata.name for p in here.get_enabled_plugins()} == {"base", "pay", "addon"}

        commands.put(("configure", {**PAY_CONFIG, "account": "acct_child"}))
        done.get(timeout=_worker.TIMEOUT)
        here.refresh()
        assert here.get_plugin("pay").get_config("account") == "acct_child"  # type: ignore[union-attr]

        commands.put(("disable", ["base", "pay", "addon"]))
        done.get(timeout=_worker.TIMEOUT)
        here.refresh()
        assert here.get_enabled_plugins() == []
        commands.put(("stop", None))
        child.join(_worker.TIMEOUT)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
            child.join()


def test_rotate_keys_lets_old_key_go(
    managers: Callable[..., PluginManager], installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After rotate_keys() with [new, old], a manager with only the new key starts fine."""
    first = managers()
    first.discover()
    first.enable_plugins(["base", "pay"], configs={"pay": PAY_CONFIG})
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", f"{OTHER_KEY},{KEY}")
    assert managers().rotate_keys() == ["pay"]
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", OTHER_KEY)
    restarted = managers()
    assert restarted.start().failed == {}
    assert _pay_key(restarted) == PAY_CONFIG["api_key"]


def test_public_config_of_a_recorded_plugin(managers: Callable[..., PluginManager]) -> None:
    """get_public_config works from the record alone and masks its sealed secrets."""
    _registered(managers()).initialize_plugin("pay", PAY_CONFIG)
    view = managers().get_public_config("pay")
    assert view == {"api_key": MASK, "account": "acct_1", "retries": 3}


def test_manager_without_store_is_unchanged() -> None:
    """No store: start/refresh are no-ops and nothing needs a key."""
    manager = _registered(PluginManager())
    assert manager.start().loaded == [] and manager.refresh().failed == {}
    manager.initialize_plugin("pay", PAY_CONFIG)
    manager.enable_plugins(["base", "pay"])
    assert manager.get_plugin("pay").status is PluginStatus.ENABLED  # type: ignore[union-attr]
    with pytest.raises(StoreError):
        manager.rotate_keys()
