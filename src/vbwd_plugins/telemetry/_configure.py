"""Where vbwd-plugins' spans and metrics go: the host's providers or the global ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbwd_plugins.telemetry._metrics import instruments
from vbwd_plugins.telemetry._state import state

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["configure"]


def configure(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Send vbwd-plugins' spans and metrics to these providers instead of the global ones.

    ``None`` means OpenTelemetry's global provider (the default). Calling it again replaces
    both; the Prometheus endpoint's own provider, if one was made, is shut down.
    """
    with state.lock:
        if state.own_meter_provider and state.meter_provider is not None:
            state.meter_provider.shutdown()  # type: ignore[attr-defined]
        state.tracer_provider = tracer_provider
        state.meter_provider = meter_provider
        state.own_meter_provider = False
        state.tracer = None
        state.instruments = None
        state.registry = None
    if tracer_provider is not None or meter_provider is not None:
        instruments()  # the plugin status gauge reports before anything is recorded
