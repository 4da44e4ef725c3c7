"""Metrics: webhook deliveries by provider and outcome, acknowledge latency, listener
delivery outcomes and attempts, dead letters and the plugin status gauge."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.telemetry._support import completed
from tests.telemetry.conftest import Recorded
from vbwd_plugins import Event, PluginManager, SQLiteStateStore, WebhookProcessor
from vbwd_plugins.delivery import RetryPolicy
from vbwd_plugins.testing import MockPaymentPlugin, WebhookVariant


def _counts(recorded: Recorded, metric: str, *keys: str) -> dict[tuple[object, ...], float]:
    return {tuple(a.get(k) for k in keys): v for a, v in recorded.points(metric)}


def test_webhook_deliveries_are_counted_by_provider_outcome_and_reason(
    recorded: Recorded, processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """processed, duplicate, rejected (with its reason) and unknown providers, whose name
    from the URL never becomes a label."""
    delivery = completed(mock)
    processor.process("mock", delivery.headers, delivery.body)
    processor.process("mock", delivery.headers, delivery.body)
    bad = mock.webhook_delivery(delivery.body, WebhookVariant.WRONG_SECRET)
    processor.process("mock", bad.headers, bad.body)
    processor.process("attacker-chosen-name", delivery.headers, delivery.body)
    counts = _counts(recorded, "vbwd.webhook.deliveries", "provider", "outcome", "reason")
    assert counts == {
        ("mock", "processed", None): 1,
        ("mock", "duplicate", None): 1,
        ("mock", "rejected", "verification"): 1,
        ("unknown", "rejected", "unknown_provider"): 1,
    }
    latency = _counts(recorded, "vbwd.webhook.ack.duration", "provider", "outcome")
    assert latency[("mock", "processed")] == 1  # a histogram point: one observation


def test_a_failing_listener_counts_a_failed_delivery_attempts_and_a_dead_letter(
    recorded: Recorded, tmp_path: Path, mock: MockPaymentPlugin
) -> None:
    """Each run is counted by outcome; the last attempt dead-letters the delivery and the
    attempts it took are observed."""

    def broken(event: Event) -> None:
        raise RuntimeError("down")

    with SQLiteStateStore(tmp_path / "dead.sqlite3") as store:
        manager = PluginManager(store=store, retry_policy=RetryPolicy(max_attempts=2))
        manager.register_plugin(mock)
        manager.initialize_plugin("mock")
        manager.enable_plugin("mock")
        manager.event_dispatcher.add_listener("payment.completed", broken, id="broken")
        processor = WebhookProcessor(manager)
        delivery = completed(mock)
        assert processor.process("mock", delivery.headers, delivery.body).status == 500
        assert processor.process("mock", delivery.headers, delivery.body).status == 200
    counts = _counts(recorded, "vbwd.webhook.deliveries", "outcome", "reason")
    assert counts[("failed", "listener")] == 1
    runs = _counts(recorded, "vbwd.listener.deliveries", "listener", "outcome")
    assert runs == {("broken", "retry"): 1, ("broken", "dead"): 1}
    assert _counts(recorded, "vbwd.dead_letters", "event", "listener") == {
        ("payment.completed", "broken"): 1
    }
    assert _counts(recorded, "vbwd.listener.delivery.attempts", "outcome") == {("dead",): 1}


def test_the_plugin_status_gauge_reports_each_plugin_with_its_status(
    recorded: Recorded, manager: PluginManager
) -> None:
    """One point per plugin, labelled with its current lifecycle status."""
    gc.collect()  # managers of earlier tests would be counted too
    assert ({"plugin": "mock", "status": "enabled"}, 1) in recorded.points("vbwd.plugin.status")
    manager.disable_plugin("mock")
    points = recorded.points("vbwd.plugin.status")
    assert ({"plugin": "mock", "status": "disabled"}, 1) in points
    assert ({"plugin": "mock", "status": "enabled"}, 1) not in points


def test_without_a_tracer_provider_no_span_is_started_and_metrics_still_record(
    tmp_path: Path, mock: MockPaymentPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a meter provider configured: webhook and listener metrics are recorded, while
    OpenTelemetry's default (proxy) tracer is never asked for a span."""
    from opentelemetry import trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from vbwd_plugins.telemetry import configure
    from vbwd_plugins.telemetry._state import recording

    started: list[str] = []
    original = trace.NoOpTracer.start_as_current_span

    def counted(self: trace.NoOpTracer, name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(trace.NoOpTracer, "start_as_current_span", counted)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    configure(meter_provider=meter_provider)
    try:
        assert not recording()
        recorded = Recorded(InMemorySpanExporter(), reader)
        with SQLiteStateStore(tmp_path / "metrics.sqlite3") as store:
            manager = PluginManager(store=store)
            manager.register_plugin(mock)
            manager.initialize_plugin("mock")
            manager.enable_plugin("mock")
            manager.event_dispatcher.add_listener("payment.completed", lambda e: None, id="ok")
            delivery = completed(mock)
            answer = WebhookProcessor(manager).process("mock", delivery.headers, delivery.body)
            assert answer.status == 200
        counts = _counts(recorded, "vbwd.webhook.deliveries", "provider", "outcome")
        assert counts == {("mock", "processed"): 1}
        runs = _counts(recorded, "vbwd.listener.deliveries", "listener", "outcome")
        assert runs == {("ok", "succeeded"): 1}
        assert started == []
    finally:
        configure()
        meter_provider.shutdown()


def test_with_no_provider_configured_or_set_the_webhook_records_nothing() -> None:
    """Neither a tracer nor a meter provider (OpenTelemetry's proxies): the webhook and
    delivery helpers hand back the no-op span; configuring a meter provider turns metrics on."""
    from opentelemetry.sdk.metrics import MeterProvider

    from vbwd_plugins.telemetry import configure
    from vbwd_plugins.telemetry._spans import NOOP, webhook_request
    from vbwd_plugins.telemetry._state import metering

    configure()
    assert not metering()
    assert webhook_request("mock", None, 10) is NOOP
    meter_provider = MeterProvider()
    configure(meter_provider=meter_provider)
    try:
        assert metering()
        assert webhook_request("mock", None, 10) is not NOOP
    finally:
        configure()
        meter_provider.shutdown()
