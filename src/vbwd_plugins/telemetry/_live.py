"""The recording spans, loaded the first time a tracer exists (see ``_spans``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from vbwd_plugins.telemetry._metrics import instruments
from vbwd_plugins.telemetry._state import Span, metering

if TYPE_CHECKING:
    from opentelemetry.trace import Span as OtelSpan
    from opentelemetry.trace import SpanKind, Tracer
    from opentelemetry.util.types import AttributeValue

    from vbwd_plugins.telemetry._state import DeliveryLike

__all__ = ["Delivery", "Dispatch", "Live", "Webhook", "failed"]

#: ``messaging.system`` of vbwd's in-process events and durable deliveries.
MESSAGING_SYSTEM: Final = "vbwd"
_R = TypeVar("_R")


def failed(span: OtelSpan, error_type: str, description: str | None = None) -> None:
    """Mark ``span`` as failed with ``error.type`` (never an exception's message)."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, description))


class Live(Span):
    """A recording span made current for the ``with`` block.

    Without a tracer (``active`` ``None``: no tracer provider) no span is started, and the
    subclasses record only their metrics.
    """

    __slots__ = ("_manager", "span")

    def __init__(
        self,
        active: Tracer | None,
        name: str,
        kind: SpanKind | None,
        attributes: Mapping[str, AttributeValue],
    ) -> None:
        self.span: OtelSpan | None = None
        self._manager: Any = None
        if active is None:
            return
        from opentelemetry.trace import SpanKind

        self._manager = active.start_as_current_span(
            name,
            kind=SpanKind.INTERNAL if kind is None else kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )

    def __enter__(self) -> Span:
        if self._manager is not None:
            self.span = self._manager.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._manager is None:
            return
        if exc is not None and self.span is not None:
            failed(self.span, type(exc).__qualname__)
        self._manager.__exit__(kind, exc, traceback)


# -- the webhook --------------------------------------------------------------------------


class Webhook(Live):
    """The span and metrics of one :meth:`WebhookProcessor.process` call."""

    __slots__ = ("_provider", "_started")

    def __init__(self, active: Tracer | None, provider: str, attributes: dict[str, Any]) -> None:
        kind = None
        if active is not None:
            from opentelemetry.trace import SpanKind, get_current_span

            # SERVER unless a web framework's instrumentation already opened the request's span.
            inside = get_current_span().get_span_context().is_valid
            kind = SpanKind.INTERNAL if inside else SpanKind.SERVER
        super().__init__(active, "vbwd.webhook", kind, attributes)
        self._provider = provider
        self._started = time.perf_counter()

    def answered(self, response: _R) -> _R:
        status: int = getattr(response, "status", 0)
        body: Mapping[str, Any] = getattr(response, "body", {})
        outcome, reason = _outcome(status, body)
        span = self.span
        if span is not None:
            span.set_attribute("http.response.status_code", status)
            span.set_attribute("vbwd.webhook.outcome", outcome)
            event_id = body.get("event_id")
            if isinstance(event_id, str):
                span.set_attribute("vbwd.webhook.event_id", event_id[:200])
            if reason:
                span.set_attribute("vbwd.webhook.reason", reason)
            if status >= 500:
                failed(span, str(status))
        found = instruments() if metering() else None
        if found is not None:
            provider = "unknown" if status == 404 else self._provider  # never a caller's string
            labels = {"provider": provider, "outcome": outcome}
            found.ack_duration.record(time.perf_counter() - self._started, labels)
            found.webhooks.add(1, {**labels, "reason": reason} if reason else labels)
        return response


def _outcome(status: int, body: Mapping[str, Any]) -> tuple[str, str]:
    """The metric's ``outcome`` and ``reason`` for an answer (a short, bounded code)."""
    said = str(body.get("status", ""))
    if status == 401:
        return "rejected", "verification"
    if status == 400:
        return "rejected", "malformed"
    if status == 404:
        return "rejected", "unknown_provider"
    if said == "failed":
        return "failed", "listener"
    if said == "error":
        return "failed", str(body.get("error", "error")).replace(" ", "_")[:40]
    return ("processed" if said == "accepted" else said or str(status)), ""


# -- deliveries and dispatches -------------------------------------------------------------


class Delivery(Live):
    """One run of one listener for one durable delivery."""

    __slots__ = ("_attempts", "_event", "_listener")

    def __init__(self, active: Tracer | None, delivery: DeliveryLike) -> None:
        if active is None:
            super().__init__(None, "", None, {})
        else:
            from opentelemetry.trace import SpanKind

            attributes: dict[str, AttributeValue] = {
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.type": "process",
                "messaging.operation.name": "deliver",
                "messaging.destination.name": delivery.event_name,
                "messaging.consumer.group.name": delivery.listener_id,
                "messaging.message.id": delivery.id,
                "vbwd.delivery.attempt": delivery.attempts,
            }
            name = f"deliver {delivery.event_name}"
            super().__init__(active, name, SpanKind.CONSUMER, attributes)
        self._event = delivery.event_name
        self._listener = delivery.listener_id
        self._attempts = delivery.attempts

    def ended(self, result: _R) -> _R:
        outcome = str(getattr(result, "outcome", ""))
        error = getattr(result, "error", None)
        span = self.span
        if span is not None:
            span.set_attribute("vbwd.delivery.outcome", outcome)
            if outcome in ("retry", "dead") and isinstance(error, str):
                failed(span, error.partition(":")[0][:100])
        _count_run(self._event, self._listener, outcome, self._attempts)
        return result


def _count_run(event: str, listener: str, outcome: str, attempts: int) -> None:
    found = instruments() if metering() else None
    if found is None:
        return
    labels = {"event": event, "listener": listener, "outcome": outcome}
    found.listener_runs.add(1, labels)
    if outcome in ("succeeded", "dead"):
        found.attempts.record(attempts, labels)
    if outcome == "dead":
        found.dead_letters.add(1, {"event": event, "listener": listener})


class Dispatch(Live):
    """One dispatch of a tracing :class:`~vbwd_plugins.events.EventDispatcher`."""

    __slots__ = ()

    def __init__(self, active: Tracer, event_name: str, listeners: int) -> None:
        attributes: dict[str, AttributeValue] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "dispatch",
            "messaging.destination.name": event_name,
            "vbwd.event.listeners": listeners,
        }
        super().__init__(active, f"dispatch {event_name}", None, attributes)

    def ended(self, result: _R) -> _R:
        errors = len(getattr(result, "errors", ()))
        span = self.span
        if span is not None:
            span.set_attribute("vbwd.event.listener_failures", errors)
            if errors:
                failed(span, "ListenerFailure", f"{errors} listener(s) failed")
        return result
