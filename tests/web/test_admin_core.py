"""PluginAdmin without HTTP: routing robustness, stored-only plugins, masks, error mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web._plugins import SECRET, Base, Child, Keyed
from vbwd_plugins import (
    PluginManager,
    PluginStatus,
    SQLiteStateStore,
)
from vbwd_plugins.admin import PluginAdmin, error_response
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.errors import (
    DependencyCycleError,
    SecretsError,
    StoreError,
)
from vbwd_plugins.web import bearer_token

STATUSES = {200, 400, 404, 405, 409, 415, 422, 500}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    path=st.one_of(
        st.text(max_size=40),
        st.lists(
            st.sampled_from(["base", "child", "keyed", "enable", "disable", "config", "x"])
        ).map("/".join),
    ),
    body=st.one_of(
        st.binary(max_size=60),
        st.dictionaries(
            st.sampled_from(["cascade", "with_dependencies", "api_key", "region", "retries"]),
            st.one_of(st.booleans(), st.integers(), st.text(max_size=12), st.none()),
        ).map(lambda d: json.dumps(d).encode()),
    ),
    content_type=st.sampled_from([None, "application/json", "text/plain", "application/x+json"]),
)
def test_any_request_gets_a_json_answer(
    method: str, path: str, body: bytes, content_type: str | None
) -> None:
    """Whatever arrives, handle() answers a known status with a JSON object, never raising."""
    manager = PluginManager()
    for plugin in (Base(), Child(), Keyed()):
        manager.register_plugin(plugin)
    answer = PluginAdmin(manager).handle(method, path, body, content_type=content_type)
    assert answer.status in STATUSES
    json.dumps(answer.body)
    if answer.status >= 400:
        assert isinstance(answer.body["error"], str) and answer.body["message"]
    assert SECRET not in json.dumps(answer.body)


def test_a_recorded_plugin_that_is_not_installed(tmp_path: Path) -> None:
    """A plugin only the store knows is listed as missing; its stored secrets show masked."""
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    store = SQLiteStateStore(tmp_path / "s.sqlite3")
    sealed = {"__vbwd_secret__": box.encrypt(SECRET, plugin_name="ghost")}
    store.save("ghost", status="enabled", config={"api_key": sealed, "n": 1}, expected_version=None)
    manager = PluginManager(store=store, secret_box=box, group="vbwd.nothing-installed")
    manager.start()
    admin = PluginAdmin(manager)
    shown = admin.show("ghost")
    assert shown["status"] == "missing"
    assert shown["config"] == {"api_key": "**********", "n": 1}
    assert (
        admin.handle("POST", "ghost/enable", b"{}", content_type="application/json").status == 404
    )
    store.close()


def test_patching_a_plugin_configured_only_in_the_store(tmp_path: Path) -> None:
    """A stored secret survives a PATCH of another field although this process never saw it."""
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    path = tmp_path / "s.sqlite3"
    with SQLiteStateStore(path) as store:
        first = PluginManager(store=store, secret_box=box)
        first.register_plugin(Keyed())
        first.initialize_plugin("keyed", {"api_key": SECRET, "retries": 3})
    with SQLiteStateStore(path) as store:
        second = PluginManager(store=store, secret_box=box)
        plugin = Keyed()
        second.register_plugin(plugin)  # registered, not initialized: config is in the store
        admin = PluginAdmin(second)
        assert admin.public_config("keyed") == {
            "api_key": "**********",
            "region": "eu",
            "retries": 3,
        }
        admin.update_config("keyed", {"region": "us"})
        assert plugin.status is PluginStatus.INITIALIZED
        assert plugin.get_config("api_key").get_secret_value() == SECRET
        assert plugin.get_config("retries") == 3
        assert plugin.get_config("region") == "us"


def test_put_replaces_and_a_mask_keeps_the_secret() -> None:
    """PUT drops fields not given (defaults return); a masked secret keeps its value."""
    manager = PluginManager()
    plugin = Keyed()
    manager.register_plugin(plugin)
    admin = PluginAdmin(manager)
    admin.update_config("keyed", {"api_key": SECRET, "region": "us", "retries": 4})
    admin.update_config("keyed", {"api_key": "**********", "retries": 2}, replace=True)
    assert plugin.get_config("api_key").get_secret_value() == SECRET
    assert plugin.get_config("region") == "eu"
    assert plugin.get_config("retries") == 2


def test_reconfiguring_restarts_dependents() -> None:
    """Changing an enabled plugin others depend on re-enables them afterwards."""
    manager = PluginManager()
    for plugin in (Base(), Child()):
        manager.register_plugin(plugin)
    manager.enable_plugins(["base", "child"])
    PluginAdmin(manager).update_config("base", {"colour": "blue"})
    assert manager.get_plugin("base").get_config("colour") == "blue"  # type: ignore[union-attr]
    assert [p.metadata.name for p in manager.get_enabled_plugins()] == ["base", "child"]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (DependencyCycleError("a -> b -> a", cycle=["a", "b", "a"]), 409, "dependency_cycle"),
        (SecretsError("no key"), 500, "secrets_error"),
        (StoreError("down"), 503, "store_unavailable"),
    ],
)
def test_error_mapping(error: Exception, status: int, code: str) -> None:
    """Library errors map to statuses with a stable error code."""
    assert isinstance(error, DependencyCycleError | SecretsError | StoreError)
    answer = error_response(error)
    assert (answer.status, answer.body["error"]) == (status, code)


def test_bearer_token_never_accepts_an_empty_token() -> None:
    """An empty token (say, an unset variable) is refused when the check is built."""
    with pytest.raises(ValueError, match="non-empty"):
        bearer_token("")
