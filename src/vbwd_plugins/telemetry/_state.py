"""The one place that imports OpenTelemetry: once, lazily, the first time anything records.

Without ``opentelemetry-api`` installed every helper answers "off" after one failed import,
and each call site costs one branch. With it, spans and instruments come from the providers
given to :func:`~vbwd_plugins.telemetry.configure`, else from OpenTelemetry's global ones
(no-ops until the host installs an SDK).
"""

from __future__ import annotations

import threading
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Protocol

    from opentelemetry.metrics import Meter, MeterProvider
    from opentelemetry.trace import Tracer, TracerProvider

    class DeliveryLike(Protocol):
        """The fields of a delivery its span reads."""

        @property
        def id(self) -> str: ...
        @property
        def event_name(self) -> str: ...
        @property
        def listener_id(self) -> str: ...
        @property
        def attempts(self) -> int: ...

    class PluginSource(Protocol):
        """What the plugin status gauge reads: a plugin lifecycle or manager."""

        def get_all_plugins(self) -> Sequence[Any]: ...


__all__ = [
    "NOOP",
    "SCOPE",
    "Span",
    "meter",
    "metering",
    "recording",
    "state",
    "tracer",
    "watch_plugins",
]

#: The instrumentation scope of every span and instrument vbwd-plugins makes.
SCOPE: Final = "vbwd_plugins"


@final
class _State:
    """What has been loaded and configured (one per process)."""

    __slots__ = (
        "checked",
        "instruments",
        "live",
        "lock",
        "meter_provider",
        "metered",
        "off",
        "own_meter_provider",
        "registry",
        "sources",
        "tracer",
        "tracer_provider",
    )

    def __init__(self) -> None:
        #: Whether the import of the OpenTelemetry API has been tried.
        self.checked = False
        #: True when the API is not installed: every helper is a no-op.
        self.off = False
        #: True once a global tracer provider (not OpenTelemetry's proxy) was seen.
        self.live = False
        #: True once a global meter provider (not OpenTelemetry's proxy) was seen.
        self.metered = False
        self.lock = threading.Lock()
        self.tracer: Tracer | None = None
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        #: Whether ``meter_provider`` is the one the Prometheus endpoint made.
        self.own_meter_provider = False
        self.instruments: Any = None  # _metrics.Instruments, built on first use
        self.registry: Any = None  # the Prometheus endpoint's CollectorRegistry
        #: Plugin lifecycles the status gauge reports (weakly: a dropped one goes away).
        self.sources: weakref.WeakSet[Any] = weakref.WeakSet()


state: Final = _State()


# OpenTelemetry's stand-in tracer providers and its global provider's getter, once loaded.
_UNSET: tuple[type, ...] = ()
_global_provider: Callable[[], object] = object
_global_meter: Callable[[], object] = object
_PROXY_METER: type = type(None)
# The API modules holding the global providers (``_TRACER_PROVIDER``, ``_METER_PROVIDER``:
# ``None`` until one is set), read directly while no provider is set and no environment
# variable names one: ``get_tracer_provider()`` looks the variable up in ``os.environ`` on
# every call, a few microseconds on each webhook for nothing. ``None``: ask the API.
_trace_globals: Any = None
_meter_globals: Any = None


def _check() -> bool:
    """Import the API once; ``True`` when it is there."""
    global _UNSET, _global_provider, _trace_globals
    if not state.checked:
        try:
            import opentelemetry.metrics
            import opentelemetry.trace  # loaded here, once

            _UNSET = (
                opentelemetry.trace.ProxyTracerProvider,
                opentelemetry.trace.NoOpTracerProvider,
            )
            _global_provider = opentelemetry.trace.get_tracer_provider
            _load_meter_globals()
            _trace_globals = _globals(opentelemetry.trace, "_TRACER_PROVIDER", "TRACER")
        except ImportError:
            state.off = True
        state.checked = True
    return not state.off


def _globals(module: Any, name: str, kind: str) -> Any:
    """``module`` if its ``name`` global can stand for "no provider set", else ``None``."""
    import os

    if not hasattr(module, name) or f"OTEL_PYTHON_{kind}_PROVIDER" in os.environ:
        return None
    return module


def _load_meter_globals() -> None:
    global _global_meter, _PROXY_METER, _meter_globals
    import opentelemetry.metrics

    _global_meter = opentelemetry.metrics.get_meter_provider
    try:
        from opentelemetry.metrics import _internal
    except ImportError:  # another layout of the API: record, as if a provider were set
        return
    _PROXY_METER = getattr(_internal, "_ProxyMeterProvider", type(None))
    _meter_globals = _globals(_internal, "_METER_PROVIDER", "METER")


def tracer() -> Tracer | None:
    """vbwd-plugins' tracer, or ``None`` without the OpenTelemetry API."""
    found = state.tracer
    if found is not None or state.off or not _check():
        return found
    from opentelemetry import trace

    provider = state.tracer_provider or trace.get_tracer_provider()
    found = state.tracer = provider.get_tracer(SCOPE)
    return found


def recording() -> bool:
    """Whether spans go anywhere: a tracer provider was configured or set globally.

    Until then OpenTelemetry's global provider is a proxy whose spans are no-ops; the span
    helpers then skip the span (a few microseconds each) and keep only the metrics.
    """
    if state.live or state.tracer_provider is not None:
        return True
    if state.off or not _check():
        return False
    unset = _trace_globals
    if unset is not None and unset._TRACER_PROVIDER is None:
        return False
    if isinstance(_global_provider(), _UNSET):
        return False
    state.live = True  # a global provider, once set, is never replaced
    return True


def metering() -> bool:
    """Whether metrics go anywhere: a meter provider was configured or set globally.

    Until then OpenTelemetry's global meter provider is a proxy whose instruments drop
    every measurement (and hand them on only once a provider is set), so the call sites
    skip building labels and recording: nothing is lost.
    """
    if state.metered or state.meter_provider is not None:
        return True
    if state.off or not _check():
        return False
    unset = _meter_globals
    if unset is not None and unset._METER_PROVIDER is None:
        return False
    if isinstance(_global_meter(), _PROXY_METER):
        return False
    state.metered = True  # a global provider, once set, is never replaced
    return True


def meter() -> Meter | None:
    """vbwd-plugins' meter, or ``None`` without the OpenTelemetry API."""
    if state.off or not _check():
        return None
    from opentelemetry import metrics

    provider = state.meter_provider or metrics.get_meter_provider()
    return provider.get_meter(SCOPE)


def watch_plugins(source: PluginSource) -> None:
    """Report ``source``'s plugins in the ``vbwd.plugin.status`` gauge (a weak reference)."""
    state.sources.add(source)


_R = TypeVar("_R")


class Span:
    """A span as the call sites see it; this base class is the no-op one."""

    __slots__ = ()

    def __enter__(self) -> Span:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def answered(self, response: _R) -> _R:
        """Record a webhook's answer (status, outcome, latency) and hand it back."""
        return response

    def ended(self, result: _R) -> _R:
        """Record a delivery's or a dispatch's result and hand it back."""
        return result


#: The span every helper returns when there is nothing to record.
NOOP: Final = Span()
