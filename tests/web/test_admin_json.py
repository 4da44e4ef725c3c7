"""The admin API refuses unusable JSON bodies with 400, never 500 (parsed like webhooks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web._plugins import Base, Child, Keyed
from tests.web.conftest import Start
from vbwd_plugins import PluginManager
from vbwd_plugins.admin import DeliveryAdmin, PluginAdmin
from vbwd_plugins.stores import SQLiteStateStore

JSON = "application/json"

UNUSABLE: dict[str, bytes] = {
    "nesting 100000 deep": b'{"region": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nesting 65 deep": b'{"region": ' + b"[" * 65 + b"]" * 65 + b"}",
    "NaN": b'{"retries": NaN}',
    "Infinity": b'{"retries": Infinity}',
    "1e400": b'{"retries": 1e400}',
    "not UTF-8": b'{"region": "\xff"}',
}


def admin() -> PluginAdmin:
    """An admin on a manager with ``base``, ``child`` and ``keyed``."""
    manager = PluginManager()
    for plugin in (Base(), Child(), Keyed()):
        manager.register_plugin(plugin)
    return PluginAdmin(manager)


@pytest.mark.parametrize("body", list(UNUSABLE.values()), ids=list(UNUSABLE))
@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "keyed/config"), ("PATCH", "keyed/config"), ("POST", "base/enable")],
)
def test_unusable_json_body_is_400(method: str, path: str, body: bytes) -> None:
    """Deep nesting, NaN/Infinity, out-of-range numbers, bad UTF-8: 400 with a reason."""
    answer = admin().handle(method, path, body, content_type=JSON)
    assert answer.status == 400, answer
    assert answer.body["error"] == "bad_request"
    assert "not valid JSON" in answer.body["message"]


def test_deeply_nested_body_over_http_is_400_after_authorization(
    start: Start, manager: PluginManager
) -> None:
    """Through either adapter, an authorized deeply nested PATCH answers 400 (was 500)."""
    base = start(manager, authorize=lambda request: True)
    response = requests.patch(
        f"{base}/admin/plugins/keyed/config",
        data=UNUSABLE["nesting 100000 deep"],
        headers={"Content-Type": JSON},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


_depths = st.integers(min_value=0, max_value=100) | st.integers(min_value=100, max_value=100_000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    depth=_depths,
    token=st.sampled_from(["1", "NaN", "-Infinity", "1e400", "-1e400", '"eu"', "1" * 5000]),
    method=st.sampled_from(["PUT", "PATCH"]),
)
def test_no_json_body_gets_a_500(depth: int, token: str, method: str) -> None:
    """Any nesting depth and any number token in a config change: never 500."""
    body = '{"region": ' + "[" * depth + token + "]" * depth + "}"
    answer = admin().handle(method, "keyed/config", body.encode(), content_type=JSON)
    assert answer.status in (200, 400, 422), answer
    json.dumps(answer.body)


@pytest.mark.parametrize("body", list(UNUSABLE.values()), ids=list(UNUSABLE))
def test_deliveries_admin_refuses_unusable_json_with_400(tmp_path: Path, body: bytes) -> None:
    """The deliveries admin API parses its bodies the same way: 400, never 500."""
    with SQLiteStateStore(tmp_path / "outbox.sqlite3") as store:
        answer = DeliveryAdmin(PluginManager(store=store)).handle(
            "POST", "retry", body, content_type=JSON
        )
    assert answer.status == 400, answer
    assert "not valid JSON" in answer.body["message"]
