"""The deliveries admin API over real HTTP, through the Flask blueprint and the ASGI app."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import requests

from tests.web.conftest import Start
from vbwd_plugins import Event, PluginManager, SQLiteStateStore
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.delivery._runner import DeliveryRunner
from vbwd_plugins.web import bearer_token

TOKEN = "deliveries-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Host:
    """Two host listeners of ``order.placed``: ``steady``, and ``flaky`` until it is fixed."""

    def __init__(self) -> None:
        self.fixed = False
        self.effects: list[str | None] = []

    def steady(self, event: Event) -> None:
        """Always succeeds."""

    def flaky(self, event: Event) -> None:
        """Fails until fixed, then records its idempotency key."""
        if not self.fixed:
            raise RuntimeError("warehouse API unavailable")
        self.effects.append(event.idempotency_key)


class RecordingEngine:
    """A deferred engine that only records what it was handed."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, delivery_ids: Sequence[str]) -> None:
        """Record the ids."""
        self.submitted.extend(delivery_ids)


@pytest.fixture
def host() -> Host:
    """The host's listeners."""
    return Host()


@pytest.fixture
def store_manager(tmp_path: Path, host: Host) -> Iterator[PluginManager]:
    """A manager on a SQLite store with one published event: ``steady`` succeeded and
    ``flaky`` dead after its last attempt."""
    with SQLiteStateStore(tmp_path / "state.sqlite3") as store:
        manager = PluginManager(store=store)
        manager.event_dispatcher.add_listener("order.placed", host.steady, id="steady")
        manager.event_dispatcher.add_listener("order.placed", host.flaky, id="flaky")
        manager.publish(Event("order.placed", {"order": 7}))
        (flaky,) = store.deliveries_list(listener_id="flaky")
        runner = DeliveryRunner(store, manager.event_dispatcher, policy=RetryPolicy(max_attempts=1))
        runner.run(flaky.id, due_only=False)
        yield manager


def url(base: str, path: str = "") -> str:
    """The deliveries admin URL of ``path``."""
    return f"{base}/admin/deliveries{path}"


def ids_by_listener(base: str) -> dict[str, str]:
    """Delivery ids by listener id, through the API."""
    listed = requests.get(url(base), headers=AUTH, timeout=10).json()["deliveries"]
    return {row["listener_id"]: row["id"] for row in listed}


def test_deliveries_routes_need_authorization(start: Start, store_manager: PluginManager) -> None:
    """Without a check every route answers 403; a wrong token 401: nothing is retried."""
    base = start(store_manager)
    for method, path in [("GET", ""), ("GET", "/dlv_x"), ("POST", "/retry"), ("POST", "/x/retry")]:
        response = requests.request(method, url(base, path), json={}, headers=AUTH, timeout=10)
        assert response.status_code == 403
        assert response.json()["error"] == "admin_disabled"
    guarded = start(store_manager, authorize=bearer_token(TOKEN))
    response = requests.post(
        url(guarded, "/retry"), json={"all_dead": True}, headers={"Authorization": "x"}, timeout=10
    )
    assert response.status_code == 401
    store = store_manager.store
    assert isinstance(store, SQLiteStateStore)
    assert [d.listener_id for d in store.deliveries_list(status=DeliveryStatus.DEAD)] == ["flaky"]


def test_list_with_filters_and_show(start: Start, store_manager: PluginManager) -> None:
    """``GET`` lists with status, event, listener and limit filters; ``GET /{id}`` shows one."""
    base = start(store_manager, authorize=bearer_token(TOKEN))
    ids = ids_by_listener(base)
    assert set(ids) == {"steady", "flaky"}
    dead = requests.get(url(base), params={"status": "dead"}, headers=AUTH, timeout=10).json()
    (row,) = dead["deliveries"]
    assert row["listener_id"] == "flaky" and row["status"] == "dead" and row["attempts"] == 2
    assert row["last_error"] == "RuntimeError: warehouse API unavailable"
    for params, count in [({"listener": "steady"}, 1), ({"event": "order.shipped"}, 0)]:
        listed = requests.get(url(base), params=params, headers=AUTH, timeout=10).json()
        assert len(listed["deliveries"]) == count, params
    limited = requests.get(url(base), params={"limit": "1"}, headers=AUTH, timeout=10).json()
    assert len(limited["deliveries"]) == 1

    shown = requests.get(url(base, f"/{ids['flaky']}"), headers=AUTH, timeout=10)
    assert shown.status_code == 200
    assert shown.json()["delivery"]["id"] == ids["flaky"]
    assert shown.json()["event"]["payload"] == {"name": "order.placed", "data": {"order": 7}}
    missing = requests.get(url(base, "/dlv_nope"), headers=AUTH, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "delivery_not_found"


def test_bad_requests(start: Start, store_manager: PluginManager) -> None:
    """Unknown filters, statuses, limits and options answer 400; a form body 415."""
    base = start(store_manager, authorize=bearer_token(TOKEN))
    for params in [{"status": "failed"}, {"limit": "0"}, {"limit": "many"}, {"colour": "red"}]:
        response = requests.get(url(base), params=params, headers=AUTH, timeout=10)
        assert response.status_code == 400, params
        assert response.json()["error"] == "bad_request"
    for body in [{}, {"listener": "flaky", "all_dead": True}, {"all_dead": "yes"}, {"x": 1}]:
        response = requests.post(url(base, "/retry"), json=body, headers=AUTH, timeout=10)
        assert response.status_code == 400, body
    form = requests.post(url(base, "/retry"), data={"all_dead": "1"}, headers=AUTH, timeout=10)
    assert form.status_code == 415
    assert requests.get(url(base, "/a/b/c"), headers=AUTH, timeout=10).status_code == 404
    wrong = requests.post(url(base), json={}, headers=AUTH, timeout=10)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"


def test_retry_one_runs_it_inline_with_the_host_listeners(
    start: Start, store_manager: PluginManager, host: Host
) -> None:
    """Inline (no engine), ``POST /{id}/retry`` runs the dead delivery now; succeeded ones
    are refused."""
    base = start(store_manager, authorize=bearer_token(TOKEN))
    ids = ids_by_listener(base)
    refused = requests.post(url(base, f"/{ids['steady']}/retry"), json={}, headers=AUTH, timeout=10)
    assert refused.status_code == 400 and "never run again" in refused.json()["message"]
    host.fixed = True
    response = requests.post(url(base, f"/{ids['flaky']}/retry"), json={}, headers=AUTH, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["retried"] == [ids["flaky"]] and body["mode"] == "inline"
    assert [r["outcome"] for r in body["results"]] == ["succeeded"]
    assert len(host.effects) == 1 and host.effects[0] is not None


def test_retry_all_dead_is_handed_to_the_engine(
    start: Start, store_manager: PluginManager, host: Host
) -> None:
    """With a deferred engine, bulk retries are submitted to it, not run in the request."""
    engine = RecordingEngine()
    store_manager.set_delivery_engine(engine)
    base = start(store_manager, authorize=bearer_token(TOKEN))
    ids = ids_by_listener(base)
    response = requests.post(url(base, "/retry"), json={"all_dead": True}, headers=AUTH, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"retried": [ids["flaky"]], "mode": "submitted", "results": []}
    assert engine.submitted == [ids["flaky"]] and host.effects == []
    by_listener = requests.post(
        url(base, "/retry"), json={"listener": "flaky"}, headers=AUTH, timeout=10
    )
    assert by_listener.json()["retried"] == []  # pending now, not dead


def test_deliveries_prefix_can_be_left_out(start: Start, store_manager: PluginManager) -> None:
    """``deliveries_prefix=None`` mounts no deliveries routes."""
    base = start(store_manager, authorize=bearer_token(TOKEN), deliveries_prefix=None)
    assert requests.get(url(base), headers=AUTH, timeout=10).status_code == 404
