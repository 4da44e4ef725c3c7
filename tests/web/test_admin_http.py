"""The admin API over real HTTP, once through the Flask blueprint and once through the ASGI app."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests

from tests.web._plugins import SECRET, Keyed
from tests.web.conftest import Start
from vbwd_plugins import (
    PluginManager,
    PluginStatus,
    SQLiteStateStore,
)
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.web import bearer_token

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def admin(base: str, path: str = "") -> str:
    """The admin URL of ``path``."""
    return f"{base}/admin/plugins{path}"


def test_admin_refuses_everything_without_an_authorization_check(
    start: Start, manager: PluginManager
) -> None:
    """No ``authorize``: every admin route answers 403 with a JSON reason, and nothing changes."""
    base = start(manager)
    for method, path in [("GET", ""), ("GET", "/base"), ("POST", "/base/enable")]:
        response = requests.request(method, admin(base, path), json={}, headers=AUTH, timeout=10)
        assert response.status_code == 403
        assert response.json()["error"] == "admin_disabled"
    assert manager.get_plugin("base").status is PluginStatus.REGISTERED  # type: ignore[union-attr]


def test_authorization_check_refusing_or_raising(
    start: Start, manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    """A check returning False answers 401; one that raises answers 500 and is logged."""
    base = start(manager, authorize=bearer_token(TOKEN))
    response = requests.get(admin(base), headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(admin(base), timeout=10).status_code == 401

    def broken(request: object) -> bool:
        raise RuntimeError("session store down")

    other = start(manager, authorize=broken)
    with caplog.at_level(logging.ERROR, logger="vbwd_plugins.web"):
        response = requests.get(admin(other), timeout=10)
    assert response.status_code == 500
    assert response.json()["error"] == "authorization_failed"
    assert "session store down" in caplog.text


def test_list_and_show(start: Start, manager: PluginManager) -> None:
    """GET lists every plugin in dependency order; GET /{name} adds metadata and config."""
    base = start(manager, authorize=bearer_token(TOKEN))
    plugins = requests.get(admin(base), headers=AUTH, timeout=10).json()["plugins"]
    names = [p["name"] for p in plugins]
    assert names.index("base") < names.index("child")
    child = next(p for p in plugins if p["name"] == "child")
    assert child == {
        "name": "child",
        "version": "2.0.0",
        "distribution": None,
        "status": "registered",
        "dependencies": ["base>=1"],
        "error": None,
    }
    shown = requests.get(admin(base, "/child"), headers=AUTH, timeout=10).json()
    assert shown["description"] == "depends on base"
    assert shown["config"] == {}
    missing = requests.get(admin(base, "/nope"), headers=AUTH, timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"] == "plugin_not_found"


def test_enable_respects_dependencies(start: Start, manager: PluginManager) -> None:
    """Enabling a plugin whose dependency is off is a 409; with_dependencies enables both."""
    base = start(manager, authorize=bearer_token(TOKEN))
    refused = requests.post(admin(base, "/child/enable"), json={}, headers=AUTH, timeout=10)
    assert refused.status_code == 409
    assert refused.json()["error"] == "dependency_not_satisfied"
    assert refused.json()["plugin"] == "child"
    done = requests.post(
        admin(base, "/child/enable"), json={"with_dependencies": True}, headers=AUTH, timeout=10
    )
    assert done.status_code == 200
    assert done.json()["enabled"] == ["base", "child"]
    assert done.json()["plugin"]["status"] == "enabled"
    again = requests.post(admin(base, "/child/enable"), json={}, headers=AUTH, timeout=10)
    assert again.status_code == 200 and again.json()["enabled"] == []


def test_disable_respects_dependents(start: Start, manager: PluginManager) -> None:
    """Disabling a plugin others need is a 409 naming them; cascade disables them first."""
    manager.enable_plugins(["base", "child"])
    base = start(manager, authorize=bearer_token(TOKEN))
    refused = requests.post(admin(base, "/base/disable"), json={}, headers=AUTH, timeout=10)
    assert refused.status_code == 409
    assert refused.json()["error"] == "dependents_enabled"
    assert refused.json()["dependents"] == ["child"]
    done = requests.post(
        admin(base, "/base/disable"), json={"cascade": True}, headers=AUTH, timeout=10
    )
    assert done.status_code == 200
    assert sorted(done.json()["disabled"]) == ["base", "child"]
    assert manager.get_plugin("child").status is PluginStatus.DISABLED  # type: ignore[union-attr]
    noop = requests.post(admin(base, "/base/disable"), json={}, headers=AUTH, timeout=10)
    assert noop.status_code == 200 and noop.json()["disabled"] == []


def test_config_is_validated_and_secrets_are_write_only(
    start: Start, manager: PluginManager
) -> None:
    """Invalid configuration is a 422 naming fields, never values; secrets come back masked."""
    base = start(manager, authorize=bearer_token(TOKEN))
    url = admin(base, "/keyed/config")
    bad = requests.put(
        url, json={"api_key": "short", "retries": 99, "colour": "red"}, headers=AUTH, timeout=10
    )
    assert bad.status_code == 422
    body = bad.json()
    assert body["error"] == "invalid_configuration"
    assert set(body["fields"]) == {"api_key", "retries", "colour"}
    assert "short" not in bad.text and "red" not in bad.text

    good = requests.put(url, json={"api_key": SECRET, "region": "us"}, headers=AUTH, timeout=10)
    assert good.status_code == 200, good.text
    assert good.json()["config"] == {"api_key": "**********", "region": "us", "retries": 1}
    assert good.json()["status"] == "initialized"
    assert SECRET not in good.text
    shown = requests.get(url, headers=AUTH, timeout=10)
    assert shown.json()["config"]["api_key"] == "**********"
    assert shown.json()["schema"]["properties"]["api_key"]["writeOnly"] is True
    assert SECRET not in shown.text
    plugin = manager.get_plugin("keyed")
    assert plugin is not None and plugin.get_config("api_key").get_secret_value() == SECRET


def test_reconfiguring_an_enabled_plugin(start: Start, manager: PluginManager) -> None:
    """PATCH keeps other fields (a masked secret stays); a bad change leaves it running."""
    manager.initialize_plugin("keyed", {"api_key": SECRET})
    manager.enable_plugin("keyed")
    enables = Keyed.enables
    base = start(manager, authorize=bearer_token(TOKEN))
    url = admin(base, "/keyed/config")
    changed = requests.patch(
        url, json={"region": "us", "api_key": "**********"}, headers=AUTH, timeout=10
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "enabled"
    plugin = manager.get_plugin("keyed")
    assert plugin is not None
    assert plugin.get_config("region") == "us"
    assert plugin.get_config("api_key").get_secret_value() == SECRET
    assert Keyed.enables == enables + 1  # reloaded: disabled, initialized, enabled

    refused = requests.patch(url, json={"retries": -1}, headers=AUTH, timeout=10)
    assert refused.status_code == 422
    assert plugin.status is PluginStatus.ENABLED
    assert plugin.get_config("retries") == 1
    assert Keyed.enables == enables + 1  # never stopped


def test_requests_that_are_not_json(start: Start, manager: PluginManager) -> None:
    """Changes need a JSON body (415 otherwise, a CSRF guard); bad JSON or options are 400."""
    base = start(manager, authorize=bearer_token(TOKEN))
    form = requests.post(admin(base, "/base/enable"), data={"x": "1"}, headers=AUTH, timeout=10)
    assert form.status_code == 415
    assert manager.get_plugin("base").status is PluginStatus.REGISTERED  # type: ignore[union-attr]
    broken = requests.post(
        admin(base, "/base/enable"),
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=10,
    )
    assert broken.status_code == 400
    unknown = requests.post(
        admin(base, "/base/enable"), json={"force": 1}, headers=AUTH, timeout=10
    )
    assert unknown.status_code == 400
    wrong_type = requests.put(admin(base, "/keyed/config"), json=[1], headers=AUTH, timeout=10)
    assert wrong_type.status_code == 400


def test_routes_and_methods(start: Start, manager: PluginManager) -> None:
    """Unknown admin routes are 404, wrong methods 405 with Allow."""
    base = start(manager, authorize=bearer_token(TOKEN))
    assert requests.get(admin(base, "/base/bogus"), headers=AUTH, timeout=10).status_code == 404
    wrong = requests.delete(admin(base, "/base"), headers=AUTH, timeout=10)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
    listing = requests.get(admin(base, "/"), headers=AUTH, timeout=10)
    assert listing.status_code == 200 and "plugins" in listing.json()


def test_hook_failure_is_a_500(start: Start, manager: PluginManager) -> None:
    """A plugin whose enable hook raises answers 500 hook_failed and is left in ERROR."""
    manager.initialize_plugin("exploding", {})
    base = start(manager, authorize=bearer_token(TOKEN))
    response = requests.post(admin(base, "/exploding/enable"), json={}, headers=AUTH, timeout=10)
    assert response.status_code == 500
    assert response.json()["error"] == "hook_failed"
    assert manager.get_plugin("exploding").status is PluginStatus.ERROR  # type: ignore[union-attr]


def test_changes_are_persisted_through_the_manager(start: Start, tmp_path: Path) -> None:
    """With a store, admin changes are written by the manager: status recorded, secret sealed."""
    path = tmp_path / "state.sqlite3"
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    store = SQLiteStateStore(path)
    manager = PluginManager(store=store, secret_box=box)
    manager.register_plugin(Keyed())
    base = start(manager, authorize=bearer_token(TOKEN))
    put = requests.put(
        admin(base, "/keyed/config"), json={"api_key": SECRET}, headers=AUTH, timeout=10
    )
    assert put.status_code == 200, put.text
    assert (
        requests.post(admin(base, "/keyed/enable"), json={}, headers=AUTH, timeout=10).status_code
        == 200
    )
    record = store.get("keyed")
    assert record is not None and record.status == "enabled"
    assert record.config["region"] == "eu"
    assert SECRET.encode() not in b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("state.sqlite3")
    )
    store.close()


def test_admin_prefix_is_configurable_and_can_be_left_out(
    start: Start, manager: PluginManager
) -> None:
    """``admin_prefix`` moves the routes; ``None`` mounts none."""
    moved = start(manager, authorize=bearer_token(TOKEN), admin_prefix="/ops/plugins")
    assert requests.get(f"{moved}/ops/plugins", headers=AUTH, timeout=10).status_code == 200
    assert requests.get(admin(moved), headers=AUTH, timeout=10).status_code == 404
    none = start(manager, authorize=bearer_token(TOKEN), admin_prefix=None)
    assert requests.get(admin(none), headers=AUTH, timeout=10).status_code == 404
