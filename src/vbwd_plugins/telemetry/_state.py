"""The one place that imports OpenTelemetry: once, lazily, the first time anything records.

Without ``opentelemetry-api`` installed every helper answers "off" after one failed import,
and each call site costs one branch. With it, spans and instruments come from the providers
given to :func:`configure`, else from OpenTelemetry's global ones (no-ops until the host
installs an SDK).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter, MeterProvider
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["SCOPE", "configure", "meter", "state", "tracer"]

#: The instrumentation scope of every span and instrument vbwd-plugins makes.
SCOPE: Final = "vbwd_plugins"


@final
class _State:
    """What has been loaded and configured (one per process)."""

    __slots__ = (
        "checked",
        "instruments",
        "lock",
        "meter_provider",
        "off",
        "own_meter_provider",
        "registry",
        "tracer",
        "tracer_provider",
    )

    def __init__(self) -> None:
        #: Whether the import of the OpenTelemetry API has been tried.
        self.checked = False
        #: True when the API is not installed: every helper is a no-op.
        self.off = False
        self.lock = threading.Lock()
        self.tracer: Tracer | None = None
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        #: Whether ``meter_provider`` is the one the Prometheus endpoint made.
        self.own_meter_provider = False
        self.instruments: Any = None  # _metrics.Instruments, built on first use
        self.registry: Any = None  # the Prometheus endpoint's CollectorRegistry


state: Final = _State()


def _check() -> bool:
    """Import the API once; ``True`` when it is there."""
    if not state.checked:
        try:
            import opentelemetry.metrics
            import opentelemetry.trace  # noqa: F401 - loaded here, once
        except ImportError:
            state.off = True
        state.checked = True
    return not state.off


def tracer() -> Tracer | None:
    """vbwd-plugins' tracer, or ``None`` without the OpenTelemetry API."""
    found = state.tracer
    if found is not None or state.off or not _check():
        return found
    from opentelemetry import trace

    provider = state.tracer_provider or trace.get_tracer_provider()
    found = state.tracer = provider.get_tracer(SCOPE)
    return found


def meter() -> Meter | None:
    """vbwd-plugins' meter, or ``None`` without the OpenTelemetry API."""
    if state.off or not _check():
        return None
    from opentelemetry import metrics

    provider = state.meter_provider or metrics.get_meter_provider()
    return provider.get_meter(SCOPE)


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
