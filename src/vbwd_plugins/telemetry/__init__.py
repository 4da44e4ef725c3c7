"""Traces and metrics through OpenTelemetry, and a Prometheus text endpoint.

``pip install "vbwd-plugins[otel]"`` (the API: spans and metrics go to the host's
OpenTelemetry SDK) or ``"vbwd-plugins[metrics]"`` (also the SDK and the Prometheus
exporter, for the ``/metrics`` endpoint of the web adapters and ``serve --metrics``).
Without either, every instrumented call costs one branch. ``import vbwd_plugins`` never
imports OpenTelemetry: it is loaded the first time something would be recorded.

See docs/operating.md for the spans, the metric names and a sample trace.
"""

from vbwd_plugins.telemetry._prometheus import enable_prometheus as enable_prometheus
from vbwd_plugins.telemetry._prometheus import prometheus_exposition as prometheus_exposition
from vbwd_plugins.telemetry._provider import ProviderCall as ProviderCall
from vbwd_plugins.telemetry._provider import provider_call as provider_call
from vbwd_plugins.telemetry._state import configure as configure

__all__ = [
    "ProviderCall",
    "configure",
    "enable_prometheus",
    "prometheus_exposition",
    "provider_call",
]
