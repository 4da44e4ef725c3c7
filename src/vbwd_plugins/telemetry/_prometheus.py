"""The Prometheus text endpoint's data, made by OpenTelemetry's Prometheus exporter.

The first :func:`prometheus_exposition` (or :func:`enable_prometheus`) makes an SDK
``MeterProvider`` with a ``PrometheusMetricReader`` on a registry of its own, and routes
vbwd-plugins' instruments to it. A host that passed its own meter provider to
:func:`~vbwd_plugins.telemetry.configure` keeps it: the endpoint then serves
``prometheus_client``'s default registry, where a ``PrometheusMetricReader()`` it added
to that provider registers.
"""

from __future__ import annotations

from typing import Any

from vbwd_plugins.telemetry._metrics import instruments
from vbwd_plugins.telemetry._state import state

__all__ = ["enable_prometheus", "prometheus_exposition"]

_MISSING = (
    "The Prometheus endpoint needs OpenTelemetry's SDK and Prometheus exporter ({name} is "
    "missing): pip install 'vbwd-plugins[metrics]'"
)


def enable_prometheus() -> Any:
    """Make sure the endpoint has metrics to serve; returns its ``CollectorRegistry``.

    Raises :class:`ImportError` naming the extra to install when it is missing.
    """
    registry = state.registry
    if registry is not None:
        return registry
    try:
        import prometheus_client
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError as exc:
        raise ImportError(_MISSING.format(name=exc.name), name=exc.name) from None
    with state.lock:
        if state.registry is not None:
            return state.registry
        if state.meter_provider is not None and not state.own_meter_provider:
            state.registry = prometheus_client.REGISTRY
            return state.registry
        registry = prometheus_client.CollectorRegistry()
        prometheus_client.ProcessCollector(registry=registry)
        reader = PrometheusMetricReader(registry=registry)
        state.meter_provider = MeterProvider(metric_readers=[reader])
        state.own_meter_provider = True
        state.instruments = None  # rebuilt on the new provider
        state.registry = registry
    instruments()  # the plugin status gauge reports before anything is recorded
    return registry


def prometheus_exposition(accept: str | None = None) -> tuple[bytes, str]:
    """The current metrics in Prometheus' text format, and the content type to send.

    ``accept`` is the scraper's ``Accept`` header (OpenMetrics when it asks for it).
    """
    from prometheus_client.exposition import choose_encoder

    registry = enable_prometheus()
    encoder, content_type = choose_encoder(accept or "")
    body: bytes = encoder(registry)
    return body, content_type
