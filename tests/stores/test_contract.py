"""The StateStore contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from tests.stores._support import StoreTarget
from vbwd_plugins.errors import (
    StoreConflictError,
    StoreError,
)
from vbwd_plugins.stores import PluginRecord, StateStore


def test_store_satisfies_protocol(store: StateStore) -> None:
    """Both implementations are StateStores."""
    assert isinstance(store, StateStore)


def test_insert_then_get_and_list(store: StateStore) -> None:
    """An insert creates version 1 and is visible through get and list."""
    saved = store.save("stripe", status="initialized", config={"a": 1}, expected_version=None)
    assert isinstance(saved, PluginRecord)
    assert saved.version == 1
    assert saved.config == {"a": 1}
    assert saved.created_at == saved.updated_at
    assert saved.created_at.utcoffset() is not None
    assert store.get("stripe") == saved
    assert store.list() == [saved]
    assert store.get("missing") is None


def test_list_is_ordered_by_name(store: StateStore) -> None:
    """list() returns records sorted by plugin name."""
    for name in ("paypal", "audit", "stripe"):
        store.save(name, status="registered", config={}, expected_version=None)
    assert [r.plugin_name for r in store.list()] == ["audit", "paypal", "stripe"]


def test_update_increments_version_and_keeps_created_at(store: StateStore) -> None:
    """An update with the current version bumps it and replaces status and config."""
    first = store.save("stripe", status="initialized", config={"a": 1}, expected_version=None)
    second = store.save("stripe", status="initialized", config={"b": [1, 2]}, expected_version=1)
    assert second.version == 2
    assert second.config == {"b": [1, 2]}
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert store.get("stripe") == second


def test_status_changes_maintain_enabled_and_disabled_at(store: StateStore) -> None:
    """enabled_at / disabled_at record when the status last became enabled / disabled."""
    rec = store.save("p", status="initialized", config={}, expected_version=None)
    assert rec.enabled_at is None and rec.disabled_at is None
    rec = store.save("p", status="enabled", config={}, expected_version=rec.version)
    enabled_at = rec.enabled_at
    assert enabled_at is not None and rec.disabled_at is None
    rec = store.save("p", status="enabled", config={"x": 1}, expected_version=rec.version)
    assert rec.enabled_at == enabled_at
    rec = store.save("p", status="disabled", config={}, expected_version=rec.version)
    assert rec.enabled_at == enabled_at
    assert rec.disabled_at is not None
    assert store.get("p") == rec


def test_insert_enabled_sets_enabled_at(store: StateStore) -> None:
    """A row inserted as enabled gets enabled_at at once."""
    rec = store.save("p", status="enabled", config={}, expected_version=None)
    assert rec.enabled_at == rec.created_at


def test_insert_over_existing_row_conflicts(store: StateStore) -> None:
    """expected_version=None on an existing row raises a conflict and writes nothing."""
    store.save("stripe", status="registered", config={"a": 1}, expected_version=None)
    with pytest.raises(StoreConflictError) as info:
        store.save("stripe", status="enabled", config={"a": 2}, expected_version=None)
    assert info.value.plugin_name == "stripe"
    assert info.value.actual_version == 1
    record = store.get("stripe")
    assert record is not None and record.config == {"a": 1} and record.status == "registered"


def test_stale_update_conflicts_and_writes_nothing(store: StateStore) -> None:
    """An update carrying an old version raises a conflict naming the plugin."""
    store.save("stripe", status="registered", config={"a": 1}, expected_version=None)
    current = store.save("stripe", status="initialized", config={"a": 2}, expected_version=1)
    with pytest.raises(StoreConflictError, match="'stripe'") as info:
        store.save("stripe", status="enabled", config={"a": 3}, expected_version=1)
    assert (info.value.expected_version, info.value.actual_version) == (1, 2)
    assert store.get("stripe") == current


def test_update_of_missing_row_conflicts(store: StateStore) -> None:
    """Updating a plugin that has no record is a conflict, not an insert."""
    with pytest.raises(StoreConflictError) as info:
        store.save("ghost", status="enabled", config={}, expected_version=3)
    assert info.value.actual_version is None
    assert store.get("ghost") is None


def test_delete_checks_version(store: StateStore) -> None:
    """delete removes the row only when the version matches."""
    store.save("p", status="disabled", config={}, expected_version=None)
    with pytest.raises(StoreConflictError):
        store.delete("p", expected_version=2)
    assert store.get("p") is not None
    store.delete("p", expected_version=1)
    assert store.get("p") is None
    with pytest.raises(StoreConflictError):
        store.delete("p", expected_version=1)


def test_config_round_trips_json_values(store: StateStore) -> None:
    """Nested JSON values, unicode and large integers come back equal."""
    config = {
        "text": "Grüße ✓ 日本",
        "nested": {"list": [1, 2.5, None, True, {"k": "v"}]},
        "big": 2**62,
        "empty": {},
    }
    store.save("p", status="registered", config=config, expected_version=None)
    record = store.get("p")
    assert record is not None and record.config == config


@pytest.mark.parametrize(
    ("status", "config"),
    [
        ("bogus", {}),
        ("enabled", {"x": object()}),
        ("enabled", {"x": float("nan")}),
        ("enabled", {"x": "nul\x00byte"}),
    ],
)
def test_invalid_writes_are_store_errors(store: StateStore, status: str, config: dict) -> None:  # type: ignore[type-arg]
    """Unknown statuses and unstorable configuration raise StoreError and write nothing."""
    with pytest.raises(StoreError, match="'p'"):
        store.save("p", status=status, config=config, expected_version=None)
    assert store.get("p") is None


def test_records_survive_reopen(target: StoreTarget) -> None:
    """A second store on the same database sees the first one's writes."""
    first = target.open()
    saved = first.save("p", status="enabled", config={"a": 1}, expected_version=None)
    first.close()
    second = target.open()
    try:
        assert second.get("p") == saved
    finally:
        second.close()


def test_closed_store_raises(target: StoreTarget) -> None:
    """Using a closed store raises StoreError; closing twice is fine."""
    store = target.open()
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("p")


def test_reopen_is_idempotent(target: StoreTarget) -> None:
    """Opening an already migrated database applies nothing again."""
    from vbwd_plugins.stores._migrations import MIGRATIONS

    for _ in range(3):
        target.open().close()
    assert target.migration_versions() == [m.version for m in MIGRATIONS]


def test_wait_for_change_sees_another_stores_write(target: StoreTarget) -> None:
    """wait_for_change returns False without writes and True after another handle writes."""
    watcher, writer = target.open(), target.open()
    try:
        assert watcher.wait_for_change(0.01) is False  # type: ignore[attr-defined]
        writer.save("p", status="enabled", config={}, expected_version=None)
        assert watcher.wait_for_change(30) is True  # type: ignore[attr-defined]
    finally:
        watcher.close()
        writer.close()


def test_core_imports_without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg the core and SQLite work; PostgresStateStore says what to install."""
    import sys

    from vbwd_plugins.stores import PostgresStateStore

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"vbwd-plugins\[postgres\]"):
        PostgresStateStore("postgresql://127.0.0.1:1/none")
