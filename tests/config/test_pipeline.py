"""One configuration pipeline: a change is one store read, one write, one environment read and
one validation, whichever way it arrives (admin API, enable_plugins, configure_plugin)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, Field, SecretStr, model_validator

from vbwd_plugins import BasePlugin, PluginManager, PluginMetadata, PluginStatus
from vbwd_plugins.admin import PluginAdmin
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.config._schema import MASK
from vbwd_plugins.errors import PluginHookError, StoreError
from vbwd_plugins.stores import PluginRecord, SQLiteStateStore

SECRET = "sk_pipeline_SECRET_0001"
VALIDATIONS: Counter[str] = Counter()


class CountedConfig(BaseModel):
    """A schema that counts how often it is validated."""

    api_key: SecretStr = Field(min_length=8)
    region: str = "eu"
    retries: int = Field(default=1, ge=0, le=5)

    @model_validator(mode="after")
    def _count(self) -> CountedConfig:
        VALIDATIONS["counted"] += 1
        return self


class Counted(BasePlugin):
    """A schema plugin; ``on_initialize`` refuses region ``xx`` and records what it saw."""

    metadata = PluginMetadata("counted", "1.0.0", "tests", "counts its validations")
    config_schema: ClassVar[type[BaseModel] | None] = CountedConfig
    seen: ClassVar[list[object]] = []

    def on_initialize(self) -> None:
        type(self).seen.append(self.config)
        if self.get_config("region") == "xx":
            raise RuntimeError("region xx is not served")


class Dependent(BasePlugin):
    """Depends on ``counted``: restarted with it, never written for it."""

    metadata = PluginMetadata("dependent", "1.0.0", "tests", "needs counted", ["counted"])
    log: ClassVar[list[str]] = []

    def on_enable(self) -> None:
        type(self).log.append("enable")

    def on_disable(self) -> None:
        type(self).log.append("disable")


class CountingStore:
    """A real SQLite store that counts reads and writes."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteStateStore(path)
        self.calls: Counter[str] = Counter()
        self.fail_saves = 0

    @property
    def reads(self) -> int:
        return self.calls["get"] + self.calls["list"]

    @property
    def writes(self) -> int:
        return self.calls["save"] + self.calls["delete"]

    def get(self, plugin_name: str) -> PluginRecord | None:
        self.calls["get"] += 1
        return self.inner.get(plugin_name)

    def list(self) -> list[PluginRecord]:
        self.calls["list"] += 1
        return self.inner.list()

    def save(self, plugin_name: str, **kwargs: Any) -> PluginRecord:
        self.calls["save"] += 1
        if self.fail_saves:
            self.fail_saves -= 1
            raise StoreError("store is down", plugin_name=plugin_name)
        return self.inner.save(plugin_name, **kwargs)

    def delete(self, plugin_name: str, *, expected_version: int) -> None:
        self.calls["delete"] += 1
        self.inner.delete(plugin_name, expected_version=expected_version)

    def close(self) -> None:
        self.inner.close()

    def reset(self) -> None:
        self.calls.clear()


class CountingEnviron(dict[str, str]):
    """``os.environ`` stand-in that counts lookups per variable."""

    reads: Counter[str]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.reads[key] += 1
        return super().get(key, default)


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> CountingEnviron:
    """Count environment reads; one resolution reads ``VBWD_COUNTED_REGION`` once."""
    counting = CountingEnviron(os.environ)
    counting.reads = Counter()
    monkeypatch.setattr(os, "environ", counting)
    return counting


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    """A counting store on a fresh SQLite file."""
    opened = CountingStore(tmp_path / "state.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def manager(store: CountingStore) -> PluginManager:
    """A manager with ``counted`` and ``dependent`` registered, on the counting store."""
    VALIDATIONS.clear()
    Counted.seen.clear()
    Dependent.log.clear()
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    manager = PluginManager(store=store, secret_box=box)
    manager.register_plugin(Counted())
    manager.register_plugin(Dependent())
    return manager


def _reset(store: CountingStore, environ: CountingEnviron) -> None:
    store.reset()
    environ.reads.clear()
    VALIDATIONS.clear()


def _record(store: CountingStore, name: str) -> PluginRecord:
    record = store.inner.get(name)
    assert record is not None
    return record


def test_enable_plugins_with_config_reads_once_and_writes_once(
    manager: PluginManager, store: CountingStore, environ: CountingEnviron
) -> None:
    """enable_plugins(configs=...) for one plugin: 1 read, 1 write, 1 env read, 1 validation."""
    _reset(store, environ)
    manager.enable_plugins(["counted"], configs={"counted": {"api_key": SECRET}})
    assert (store.reads, store.writes) == (1, 1)
    assert environ.reads["VBWD_COUNTED_REGION"] == 1
    assert VALIDATIONS["counted"] == 1
    record = _record(store, "counted")
    assert record.status == "enabled"
    assert record.version == 1
    assert SECRET not in json.dumps(record.config)


def test_admin_patch_reads_once_and_writes_once(
    manager: PluginManager, store: CountingStore, environ: CountingEnviron
) -> None:
    """One PATCH of an enabled plugin with an enabled dependent: 1 read, 1 write in all,
    1 environment read, 1 validation; the dependent is restarted but not rewritten."""
    manager.enable_plugins(["counted", "dependent"], configs={"counted": {"api_key": SECRET}})
    dependent_before = _record(store, "dependent")
    Dependent.log.clear()
    _reset(store, environ)
    answer = PluginAdmin(manager).handle(
        "PATCH", "counted/config", b'{"region": "us"}', content_type="application/json"
    )
    assert answer.status == 200, answer.body
    assert (store.reads, store.writes) == (1, 1)
    assert environ.reads["VBWD_COUNTED_REGION"] == 1
    assert VALIDATIONS["counted"] == 1
    assert answer.body["config"] == {"api_key": MASK, "region": "us", "retries": 1}
    assert Dependent.log == ["disable", "enable"]
    assert _record(store, "dependent") == dependent_before
    record = _record(store, "counted")
    assert (record.status, record.config["region"], record.version) == ("enabled", "us", 2)


def test_initialize_receives_the_validated_model(
    manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin gets the resolver's model itself, environment applied, not re-validated."""
    monkeypatch.setenv("VBWD_COUNTED_RETRIES", "4")
    VALIDATIONS.clear()
    manager.initialize_plugin("counted", {"api_key": SECRET, "retries": 2})
    assert VALIDATIONS["counted"] == 1
    model = Counted.seen[-1]
    assert isinstance(model, CountedConfig) and model.retries == 4
    assert manager.get_plugin("counted").config is model  # type: ignore[union-attr]


def test_a_model_given_to_initialize_is_taken_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """BasePlugin.initialize(model) neither reads the environment nor validates again."""
    monkeypatch.setenv("VBWD_COUNTED_REGION", "from-env")
    model = CountedConfig(api_key=SecretStr(SECRET), region="us")
    VALIDATIONS.clear()
    plugin = Counted()
    plugin.initialize(model)
    assert plugin.config is model and VALIDATIONS["counted"] == 0
    plugin.initialize({"api_key": SECRET})  # a mapping given directly: validated, env wins
    assert plugin.get_config("region") == "from-env" and VALIDATIONS["counted"] == 1


def test_refused_configuration_keeps_the_old_one_running(
    manager: PluginManager, store: CountingStore
) -> None:
    """on_initialize refusing a PATCH: plugin and dependent run on, nothing is written."""
    manager.enable_plugins(["counted", "dependent"], configs={"counted": {"api_key": SECRET}})
    before = _record(store, "counted")
    store.reset()
    with pytest.raises(PluginHookError, match="region xx"):
        manager.configure_plugin("counted", {"region": "xx"}, patch=True)
    assert store.writes == 0
    assert _record(store, "counted") == before
    plugin = manager.get_plugin("counted")
    assert plugin is not None and plugin.status is PluginStatus.ENABLED
    assert plugin.get_config("region") == "eu"
    assert [p.metadata.name for p in manager.get_enabled_plugins()] == ["counted", "dependent"]


def test_failed_write_of_a_restart_puts_the_old_configuration_back(
    manager: PluginManager, store: CountingStore
) -> None:
    """If the one write of a reconfiguration fails, memory runs the old configuration."""
    manager.enable_plugins(["counted", "dependent"], configs={"counted": {"api_key": SECRET}})
    before = _record(store, "counted")
    store.fail_saves = 1
    with pytest.raises(StoreError, match="store is down"):
        manager.configure_plugin("counted", {"region": "us"}, patch=True)
    plugin = manager.get_plugin("counted")
    assert plugin is not None and plugin.status is PluginStatus.ENABLED
    assert plugin.get_config("region") == "eu"
    assert plugin.get_config("api_key").get_secret_value() == SECRET
    assert _record(store, "counted") == before
    assert {p.metadata.name for p in manager.get_enabled_plugins()} == {"counted", "dependent"}


def test_patch_merges_into_the_stored_configuration(
    manager: PluginManager, store: CountingStore, tmp_path: Path
) -> None:
    """PATCH starts from the store (the source of truth), not from a stale memory copy."""
    manager.initialize_plugin("counted", {"api_key": SECRET, "retries": 2})
    other_store = SQLiteStateStore(tmp_path / "state.sqlite3")
    record = other_store.get("counted")
    assert record is not None
    other_store.save(
        "counted",
        status=record.status,
        config={**record.config, "retries": 5},
        expected_version=record.version,
    )
    other_store.close()
    manager.configure_plugin("counted", {"region": "us"}, patch=True)
    plugin = manager.get_plugin("counted")
    assert plugin is not None
    assert (plugin.get_config("retries"), plugin.get_config("region")) == (5, "us")


def test_put_replaces_and_masks_keep_the_stored_secret(manager: PluginManager) -> None:
    """configure_plugin without patch drops fields not given; a masked secret stays."""
    manager.initialize_plugin("counted", {"api_key": SECRET, "region": "us", "retries": 3})
    manager.configure_plugin("counted", {"api_key": MASK, "retries": 2})
    plugin = manager.get_plugin("counted")
    assert plugin is not None
    assert plugin.get_config("api_key").get_secret_value() == SECRET
    assert (plugin.get_config("region"), plugin.get_config("retries")) == ("eu", 2)
