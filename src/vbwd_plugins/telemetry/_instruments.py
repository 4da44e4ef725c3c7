"""vbwd-plugins' OpenTelemetry instruments, built once per meter provider.

The names below are OpenTelemetry's; the Prometheus endpoint shows them with dots turned
into underscores, the unit appended and ``_total`` on counters (see docs/operating.md).
Label values are bounded: provider and plugin names, event names, listener ids, outcomes
and short reason codes; never an id, an amount or anything a caller sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from vbwd_plugins.telemetry._state import meter, state

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Histogram, Observation
    from opentelemetry.metrics import Counter as OtelCounter

__all__ = ["Instruments", "build"]

#: Seconds: a webhook is answered in milliseconds, unless listeners run inline.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ATTEMPT_BUCKETS: Final = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)


def _plugin_status(options: CallbackOptions) -> Iterable[Observation]:
    """1 per plugin and status (more when several managers in the process hold one)."""
    from opentelemetry.metrics import Observation

    seen: Counter[tuple[str, str]] = Counter()
    for source in list(state.sources):
        for plugin in source.get_all_plugins():
            seen[plugin.metadata.name, plugin.status.value] += 1
    return [
        Observation(n, {"plugin": name, "status": status}) for (name, status), n in seen.items()
    ]


@final
@dataclass(frozen=True, slots=True)
class Instruments:
    """Every instrument, made from one meter."""

    webhooks: OtelCounter
    ack_duration: Histogram
    listener_runs: OtelCounter
    attempts: Histogram
    dead_letters: OtelCounter
    provider_duration: Histogram
    provider_errors: OtelCounter


def build() -> Instruments | None:
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
