"""vbwd-plugins' OpenTelemetry instruments, built once per meter provider.

The names below are OpenTelemetry's; the Prometheus endpoint shows them with dots turned
into underscores, the unit appended and ``_total`` on counters (see docs/operating.md).
Label values are bounded: provider and plugin names, event names, listener ids, outcomes
and short reason codes; never an id, an amount or anything a caller sent.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from vbwd_plugins.telemetry._state import meter, state

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation

__all__ = ["Instruments", "instruments", "watch_plugins"]

#: Seconds: a webhook is answered in milliseconds, unless listeners run inline.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ATTEMPT_BUCKETS: Final = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)


class PluginSource(Protocol):
    """What the plugin status gauge reads: a plugin lifecycle or manager."""

    def get_all_plugins(self) -> Sequence[Any]: ...


#: The lifecycles whose plugins the status gauge reports (weakly: a dropped one goes away).
_SOURCES: Final[weakref.WeakSet[Any]] = weakref.WeakSet()


def watch_plugins(source: PluginSource) -> None:
    """Report ``source``'s plugins in the ``vbwd.plugin.status`` gauge (cheap: no import)."""
    _SOURCES.add(source)


def _plugin_status(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    seen: dict[str, str] = {}
    for source in list(_SOURCES):
        for plugin in source.get_all_plugins():
            seen[plugin.metadata.name] = plugin.status.value
    return [Observation(1, {"plugin": name, "status": status}) for name, status in seen.items()]


@final
@dataclass(frozen=True, slots=True)
class Instruments:
    """Every instrument, made from one meter."""

    webhooks: Counter
    ack_duration: Histogram
    listener_runs: Counter
    attempts: Histogram
    dead_letters: Counter
    provider_duration: Histogram
    provider_errors: Counter


def _build() -> Instruments | None:
    found = meter()
    if found is None:
        return None
    found.create_observable_gauge(
        "vbwd.plugin.status",
        callbacks=[_plugin_status],
        description="1 for each registered plugin, labelled with its lifecycle status",
    )
    return Instruments(
        webhooks=found.create_counter(
            "vbwd.webhook.deliveries",
            unit="{delivery}",
            description="Webhook deliveries received, by provider, outcome and reason",
        ),
        ack_duration=found.create_histogram(
            "vbwd.webhook.ack.duration",
            unit="s",
            description="Time from receiving a webhook to answering the provider",
            explicit_bucket_boundaries_advisory=_LATENCY_BUCKETS,
        ),
        listener_runs=found.create_counter(
            "vbwd.listener.deliveries",
            unit="{run}",
            description="Runs of a listener for one delivery (attempts), by outcome",
        ),
        attempts=found.create_histogram(
            "vbwd.listener.delivery.attempts",
            unit="{attempt}",
            description="Attempts a delivery took to succeed or to be dead-lettered",
            explicit_bucket_boundaries_advisory=_ATTEMPT_BUCKETS,
        ),
        dead_letters=found.create_counter(
            "vbwd.dead_letters",
            unit="{delivery}",
            description="Deliveries dead-lettered after their last attempt",
        ),
        provider_duration=found.create_histogram(
            "vbwd.provider.call.duration",
            unit="s",
            description="Duration of payment provider API calls, by operation and outcome",
            explicit_bucket_boundaries_advisory=_LATENCY_BUCKETS,
        ),
        provider_errors=found.create_counter(
            "vbwd.provider.call.errors",
            unit="{call}",
            description="Failed payment provider API calls, by operation and error code",
        ),
    )


def instruments() -> Instruments | None:
    """The instruments of the configured meter provider, or ``None`` without the API."""
    found: Instruments | None = state.instruments
    if found is None and not state.off:
        with state.lock:
            found = state.instruments
            if found is None:
                found = state.instruments = _build()
    return found
