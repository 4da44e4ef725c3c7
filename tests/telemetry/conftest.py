"""Fixtures: vbwd-plugins' telemetry routed to the OpenTelemetry SDK's in-memory exporter and
metric reader, a store-backed manager with the mock provider, and its webhook processor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from vbwd_plugins import PluginManager, SQLiteStateStore, WebhookProcessor
from vbwd_plugins.telemetry import configure
from vbwd_plugins.testing import MockPaymentPlugin

SECRET = "mock_whsec_for_the_telemetry_suite"


@dataclass
class Recorded:
    """What the SDK received: finished spans and collected metric points."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        """Finished spans, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """Finished spans called ``name``."""
        return [span for span in self.spans() if span.name == name]

    def points(self, metric: str) -> list[tuple[dict[str, object], float]]:
        """``(attributes, value)`` of each point of ``metric`` (a histogram's: its count)."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, object], float]] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for one in scope.metrics:
                    if one.name != metric:
                        continue
                    for point in one.data.data_points:
                        value = getattr(point, "value", None)
                        found.append((dict(point.attributes or {}), value or point.count))  # type: ignore[union-attr]
        return found


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """vbwd-plugins' spans and metrics go to in-memory SDK providers for this test."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Recorded(exporter, reader)
    finally:
        configure()
        meter_provider.shutdown()
        tracer_provider.shutdown()


@pytest.fixture
def mock() -> MockPaymentPlugin:
    """The mock provider (not yet registered)."""
    return MockPaymentPlugin(webhook_secret=SECRET)


@pytest.fixture
def manager(tmp_path: Path, mock: MockPaymentPlugin) -> Iterator[PluginManager]:
    """A manager on a fresh SQLite store with ``mock`` enabled."""
    with SQLiteStateStore(tmp_path / "state.sqlite3") as store:
        manager = PluginManager(store=store)
        manager.register_plugin(mock)
        manager.initialize_plugin("mock")
        manager.enable_plugin("mock")
        yield manager


@pytest.fixture
def processor(manager: PluginManager) -> WebhookProcessor:
    """The webhook pipeline on ``manager``."""
    return WebhookProcessor(manager)
