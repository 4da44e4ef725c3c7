"""Traces and metrics through OpenTelemetry, and a Prometheus text endpoint.

``pip install "vbwd-plugins[otel]"`` (the API: spans and metrics go to the host's
OpenTelemetry SDK) or ``"vbwd-plugins[metrics]"`` (also the SDK and the Prometheus
exporter, for the ``/metrics`` endpoint of the web adapters and ``serve --metrics``).
Without either, every instrumented call costs one branch. ``import vbwd_plugins`` never
imports OpenTelemetry: it is loaded the first time something would be recorded, and the
names below load their module on first use.

See docs/operating.md for the spans, the metric names and a sample trace.
"""

from typing import TYPE_CHECKING

from vbwd_plugins._lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from vbwd_plugins.telemetry._configure import configure as configure
    from vbwd_plugins.telemetry._prometheus import enable_prometheus as enable_prometheus
    from vbwd_plugins.telemetry._prometheus import prometheus_exposition as prometheus_exposition
    from vbwd_plugins.telemetry._provider import ProviderCall as ProviderCall
    from vbwd_plugins.telemetry._provider import provider_call as provider_call

__all__ = [
    "ProviderCall",
    "configure",
    "enable_prometheus",
    "prometheus_exposition",
    "provider_call",
]

_LAZY: dict[str, str] = {
    "ProviderCall": "vbwd_plugins.telemetry._provider",
    "configure": "vbwd_plugins.telemetry._configure",
    "enable_prometheus": "vbwd_plugins.telemetry._prometheus",
    "prometheus_exposition": "vbwd_plugins.telemetry._prometheus",
    "provider_call": "vbwd_plugins.telemetry._provider",
}


__getattr__ = _lazy_names(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
