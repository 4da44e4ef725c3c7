"""Spans for a webhook delivery, each listener delivery, lifecycle changes and dispatches.

Call sites use one line each. Without the OpenTelemetry API every helper hands back the
shared no-op :data:`NOOP`, so the cost is a branch; the recording spans (``_live``) load
the first time a tracer exists. With the API but no tracer provider (OpenTelemetry's
default, whose spans go nowhere) no span is started: the webhook and delivery helpers then
record only their metrics, the others hand back :data:`NOOP`; with neither a tracer nor a
meter provider (OpenTelemetry's proxies, which drop everything) they hand back :data:`NOOP`
too. Spans record an exception's
*type* (``error.type``) and never its message, a payload, a header or a secret: messages of
provider and payload errors may quote what a caller sent.

Attribute names follow OpenTelemetry's semantic conventions where one exists: HTTP server
(``http.request.method``, ``http.response.status_code``, ``client.address``,
``error.type``) for the webhook, messaging (``messaging.system="vbwd"``,
``messaging.operation.type``, ``messaging.destination.name``...) for deliveries and
dispatches; the rest are ``vbwd.*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vbwd_plugins.telemetry._state import NOOP, Span, metering, recording, tracer

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from vbwd_plugins.telemetry._state import DeliveryLike

__all__ = [
    "NOOP",
    "Span",
    "dispatch_span",
    "lifecycle_span",
    "listener_delivery",
    "span",
    "webhook_request",
]


def span(name: str, **attributes: AttributeValue) -> Span:
    """An internal span around a ``with`` block (``NOOP`` when nothing records spans)."""
    active = tracer()
    if active is None or not recording():
        return NOOP
    from vbwd_plugins.telemetry._live import Live

    return Live(active, name, None, attributes)


def webhook_request(provider: str, remote_addr: str | None, size: int) -> Span:
    """The span of one webhook delivery, answered with :meth:`Span.answered`."""
    active = tracer()
    if active is None:
        return NOOP
    live = recording()
    if not live and not metering():
        return NOOP
    from vbwd_plugins.telemetry._live import Webhook

    name = str(provider)[:100]
    attributes: dict[str, Any] = {
        "http.request.method": "POST",
        "http.request.body.size": size,
        "vbwd.webhook.provider": name,
    }
    if remote_addr:
        attributes["client.address"] = str(remote_addr)
    return Webhook(active if live else None, name, attributes)


def listener_delivery(delivery: DeliveryLike) -> Span:
    """The span of one listener delivery, finished with :meth:`Span.ended`."""
    active = tracer()
    if active is None:
        return NOOP
    live = recording()
    if not live and not metering():
        return NOOP
    from vbwd_plugins.telemetry._live import Delivery

    return Delivery(active if live else None, delivery)


def dispatch_span(event_name: str, listeners: int) -> Span:
    """The span of one dispatch (on a tracing dispatcher), finished with :meth:`Span.ended`."""
    active = tracer()
    if active is None or not recording():
        return NOOP
    from vbwd_plugins.telemetry._live import Dispatch

    return Dispatch(active, event_name, listeners)


def lifecycle_span(action: str, name: str) -> Span:
    """The span of one lifecycle transition of plugin ``name``."""
    active = tracer()
    if active is None:
        return NOOP
    from vbwd_plugins.telemetry._live import Live
    from vbwd_plugins.telemetry._metrics import instruments

    instruments()  # makes the plugin status gauge (cached after the first call)
    if not recording():
        return NOOP
    attributes = {"vbwd.plugin.name": str(name), "vbwd.plugin.action": action}
    return Live(active, f"vbwd.plugin.{action}", None, attributes)
