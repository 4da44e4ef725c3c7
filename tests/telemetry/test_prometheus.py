"""The Prometheus endpoint: scraped over real HTTP from the Flask blueprint, the ASGI app and
``vbwd-plugins serve --metrics``, parsed with prometheus_client's parser."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests._support import DistFactory
from tests.telemetry._support import completed
from tests.web._servers import serve_asgi, serve_wsgi
from vbwd_plugins import PaymentEventType, PluginManager, SQLiteStateStore
from vbwd_plugins.telemetry import configure
from vbwd_plugins.testing import MockPaymentPlugin
from vbwd_plugins.web import bearer_token
from vbwd_plugins.web.asgi import create_app
from vbwd_plugins.web.flask import create_blueprint

TOKEN = "scrape-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    """Each test's endpoint starts from a new meter provider of its own."""
    configure()
    yield
    configure()


def _samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _value(text: str, name: str, **labels: str) -> float | None:
    for sample in _samples(text):
        if sample.name == name and labels.items() <= sample.labels.items():
            return sample.value
    return None


def _deliver(base: str, mock: MockPaymentPlugin) -> None:
    delivery = completed(mock)
    answer = requests.post(
        f"{base}/webhooks/mock", data=delivery.body, headers=delivery.headers, timeout=10
    )
    assert answer.status_code == 200


def test_the_flask_blueprint_serves_metrics_behind_the_admin_check(
    manager: PluginManager, mock: MockPaymentPlugin
) -> None:
    """``metrics=True`` serves Prometheus text behind ``authorize``; a webhook shows up as
    a processed delivery, with its latency histogram and the plugin status gauge."""
    manager.event_dispatcher.add_listener("payment.completed", lambda event: None)
    app = flask.Flask(__name__)
    app.register_blueprint(
        create_blueprint(manager, authorize=bearer_token(TOKEN), console_prefix=None, metrics=True)
    )
    with serve_wsgi(app) as base:
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
        _deliver(base, mock)
        answer = requests.get(f"{base}/metrics", headers=AUTH, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    labels = {"provider": "mock", "outcome": "processed"}
    assert _value(text, "vbwd_webhook_deliveries_total", **labels) == 1
    assert _value(text, "vbwd_webhook_ack_duration_seconds_count", **labels) == 1
    assert _value(text, "vbwd_listener_deliveries_total", outcome="succeeded") is not None
    assert _value(text, "vbwd_plugin_status", plugin="mock", status="enabled") == 1


def test_the_asgi_app_serves_metrics_with_a_check_of_its_own(
    manager: PluginManager, mock: MockPaymentPlugin
) -> None:
    """A callable ``metrics=`` is the endpoint's own check (an open endpoint here), while
    the admin API stays closed without ``authorize``."""
    app = create_app(manager, console_prefix=None, metrics=lambda request: True)
    with serve_asgi(app) as base:
        assert requests.get(f"{base}/admin/plugins", timeout=10).status_code == 403
        _deliver(base, mock)
        text = requests.get(f"{base}/metrics", timeout=10).text
        openmetrics = requests.get(
            f"{base}/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=10
        )
    assert _value(text, "vbwd_webhook_deliveries_total", provider="mock") == 1
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_without_metrics_there_is_no_endpoint(manager: PluginManager) -> None:
    """The endpoint is opt-in: by default ``/metrics`` is not a route."""
    app = create_app(manager, console_prefix=None)
    with serve_asgi(app) as base:
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 404


def test_serve_metrics_serves_the_endpoint_with_the_metrics_token(
    make_dist: DistFactory, tmp_path: Path
) -> None:
    """``serve --metrics`` answers ``GET /metrics`` to the bearer token in
    VBWD_METRICS_TOKEN (401 without it) and counts the webhooks it received."""
    group = "vbwd.telemetrytest"
    site = make_dist(
        "metrics-mock", "1.0.0", {"mock": "vbwd_plugins.testing:MockPaymentPlugin"}, group=group
    ).parent
    store_path = tmp_path / "serve.sqlite3"
    with SQLiteStateStore(store_path) as store:
        manager = PluginManager(group=group, store=store)
        manager.discover()
        manager.enable_plugins(["mock"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBWD_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *sys.path])
    env["VBWD_METRICS_TOKEN"] = TOKEN
    command = ["--group", group, "--store", str(store_path), "serve", "--port", "0", "--metrics"]
    process = subprocess.Popen(
        [sys.executable, "-m", "vbwd_plugins.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Serving"), line
        base = line.split()[3]
        mock = MockPaymentPlugin()
        body = mock.webhook_body(
            PaymentEventType.COMPLETED, transaction_id="tx_1", amount=100, currency="EUR"
        )
        headers = {"Mock-Signature": mock.sign(body)}
        requests.post(f"{base}/webhooks/mock", data=body, headers=headers, timeout=10)
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
        text = requests.get(f"{base}/metrics", headers=AUTH, timeout=10).text
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert _value(text, "vbwd_webhook_deliveries_total", provider="mock", outcome="processed") == 1
    assert _value(text, "vbwd_plugin_status", plugin="mock", status="enabled") == 1
