"""Spans: a webhook delivery with its verify, record and listener-delivery children, plugin
lifecycle transitions, and event dispatch only on a dispatcher that asks for it."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.telemetry._support import completed
from tests.telemetry.conftest import SECRET, Recorded
from vbwd_plugins import (
    BasePlugin,
    Event,
    EventDispatcher,
    PluginManager,
    PluginMetadata,
    WebhookProcessor,
)
from vbwd_plugins.testing import MockPaymentPlugin, WebhookVariant


def test_a_webhook_is_one_span_with_verify_record_and_each_listener_delivery(
    recorded: Recorded, manager: PluginManager, processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """The delivery is a SERVER span with HTTP attributes; verify, record and one CONSUMER
    span per listener delivery (messaging conventions) are its children."""
    seen: list[str] = []
    manager.event_dispatcher.add_listener("payment.completed", lambda e: seen.append(e.name))
    manager.event_dispatcher.add_listener("payment.completed", lambda e: None, id="second")
    delivery = completed(mock)
    response = processor.process("mock", delivery.headers, delivery.body, remote_addr="10.0.0.9")
    assert response.status == 200 and seen == ["payment.completed"]

    (root,) = recorded.named("vbwd.webhook")
    assert root.kind is SpanKind.SERVER and root.parent is None
    attributes = dict(root.attributes or {})
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.response.status_code"] == 200
    assert attributes["client.address"] == "10.0.0.9"
    assert attributes["http.request.body.size"] == len(delivery.body)
    assert attributes["vbwd.webhook.provider"] == "mock"
    assert attributes["vbwd.webhook.outcome"] == "processed"
    assert attributes["vbwd.webhook.event_id"] == response.body["event_id"]
    children = [
        s for s in recorded.spans() if s.parent and s.parent.span_id == root.context.span_id
    ]
    assert [s.name for s in children] == [
        "vbwd.webhook.verify",
        "vbwd.webhook.record",
        "deliver payment.completed",
        "deliver payment.completed",
    ]
    runs = [s for s in children if s.kind is SpanKind.CONSUMER]
    assert {dict(s.attributes or {})["messaging.consumer.group.name"] for s in runs} >= {"second"}
    for run in runs:
        assert run.attributes is not None
        assert run.attributes["messaging.system"] == "vbwd"
        assert run.attributes["messaging.operation.type"] == "process"
        assert run.attributes["messaging.destination.name"] == "payment.completed"
        assert run.attributes["vbwd.delivery.outcome"] == "succeeded"
        assert run.attributes["vbwd.delivery.attempt"] == 1


def test_spans_never_carry_the_payload_the_signature_or_the_secret(
    recorded: Recorded, processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """No attribute or event of any span holds the body, a header value or the secret."""
    delivery = completed(mock, transaction_id="mock_pay_secretive")
    processor.process("mock", delivery.headers, delivery.body)
    bad = mock.webhook_delivery(delivery.body, WebhookVariant.WRONG_SECRET)
    processor.process("mock", bad.headers, bad.body)
    text = repr([(s.name, dict(s.attributes or {}), s.events, s.status) for s in recorded.spans()])
    for value in [SECRET, "mock_pay_secretive", *delivery.headers.values(), *bad.headers.values()]:
        assert value not in text


def test_a_refused_signature_fails_the_verify_span_but_a_4xx_is_no_server_error(
    recorded: Recorded, processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """The verify span records the error type; the webhook span keeps an unset status (HTTP
    server convention: 4xx is the client's error) and says why it was rejected."""
    delivery = completed(mock)
    bad = mock.webhook_delivery(delivery.body, WebhookVariant.WRONG_SECRET)
    assert processor.process("mock", bad.headers, bad.body).status == 401
    (verify,) = recorded.named("vbwd.webhook.verify")
    assert verify.status.status_code is StatusCode.ERROR
    assert dict(verify.attributes or {})["error.type"] == "WebhookVerificationError"
    (root,) = recorded.named("vbwd.webhook")
    assert root.status.status_code is StatusCode.UNSET
    assert dict(root.attributes or {})["vbwd.webhook.reason"] == "verification"


def test_a_failing_listener_delivery_is_an_error_span_with_its_exception_type(
    recorded: Recorded, manager: PluginManager, processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """A listener that raises: its delivery span is ERROR with ``error.type`` (not the message)
    and outcome ``retry``; the webhook span is ERROR with the 500."""

    def broken(event: Event) -> None:
        raise KeyError("card 4242")

    manager.event_dispatcher.add_listener("payment.completed", broken, id="broken")
    delivery = completed(mock)
    assert processor.process("mock", delivery.headers, delivery.body).status == 500
    (run,) = recorded.named("deliver payment.completed")
    attributes = dict(run.attributes or {})
    assert run.status.status_code is StatusCode.ERROR
    assert attributes["error.type"] == "KeyError"
    assert attributes["vbwd.delivery.outcome"] == "retry"
    assert "4242" not in repr((attributes, run.events, run.status.description))
    (root,) = recorded.named("vbwd.webhook")
    assert root.status.status_code is StatusCode.ERROR
    assert dict(root.attributes or {})["error.type"] == "500"


def test_inside_a_framework_span_the_webhook_span_is_internal(
    recorded: Recorded, processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """When the host's HTTP instrumentation already opened the request's SERVER span, the
    webhook span is an INTERNAL child of it (never two SERVER spans)."""
    from vbwd_plugins.telemetry._state import tracer

    active = tracer()
    assert active is not None
    delivery = completed(mock)
    with active.start_as_current_span("POST /webhooks/{provider}", kind=SpanKind.SERVER) as outer:
        processor.process("mock", delivery.headers, delivery.body)
    (root,) = recorded.named("vbwd.webhook")
    assert root.kind is SpanKind.INTERNAL
    assert root.parent is not None and root.parent.span_id == outer.get_span_context().span_id


class _Plain(BasePlugin):
    metadata = PluginMetadata("plain", "1.0", "tests", "a plugin without configuration")


def test_every_lifecycle_transition_is_a_span(recorded: Recorded) -> None:
    """initialize, enable, disable and uninstall each make one span naming the plugin."""
    manager = PluginManager()
    manager.register_plugin(_Plain())
    manager.initialize_plugin("plain")
    manager.enable_plugin("plain")
    manager.disable_plugin("plain")
    manager.uninstall_plugin("plain")
    names = [s.name for s in recorded.spans() if s.name.startswith("vbwd.plugin.")]
    assert names == [
        "vbwd.plugin.initialize",
        "vbwd.plugin.enable",
        "vbwd.plugin.disable",
        "vbwd.plugin.uninstall",
    ]
    for span in recorded.spans():
        if span.name.startswith("vbwd.plugin."):
            assert dict(span.attributes or {})["vbwd.plugin.name"] == "plain"


def test_a_refused_transition_is_an_error_span(recorded: Recorded) -> None:
    """Enabling a plugin that is not initialized fails the span with the error's type."""
    manager = PluginManager()
    manager.register_plugin(_Plain())
    with pytest.raises(ValueError):
        manager.enable_plugin("plain")
    (span,) = recorded.named("vbwd.plugin.enable")
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "PluginStateError"


def test_dispatch_is_traced_only_when_the_dispatcher_asks_for_it(recorded: Recorded) -> None:
    """A default dispatcher makes no span; ``EventDispatcher(trace=True)`` makes one per
    dispatch, with the listener count and failures."""
    plain = EventDispatcher()
    plain.add_listener("order.paid", lambda e: None)
    plain.dispatch(Event("order.paid", {}))
    assert plain.trace is False
    assert recorded.spans() == []

    traced = EventDispatcher(trace=True)
    assert traced.trace is True and isinstance(traced, EventDispatcher)
    traced.add_listener("order.paid", lambda e: None)
    traced.add_listener("order.paid", lambda e: 1 / 0)
    traced.dispatch(Event("order.paid", {}))
    (span,) = recorded.named("dispatch order.paid")
    attributes = dict(span.attributes or {})
    assert attributes["messaging.system"] == "vbwd"
    assert attributes["messaging.destination.name"] == "order.paid"
    assert attributes["vbwd.event.listeners"] == 2
    assert attributes["vbwd.event.listener_failures"] == 1
    assert span.status.status_code is StatusCode.ERROR


def test_async_dispatch_is_traced_too(recorded: Recorded) -> None:
    """``dispatch_async`` on a tracing dispatcher is one span as well."""
    traced = EventDispatcher(trace=True)

    async def listener(event: Event) -> None:
        return None

    traced.add_listener("order.paid", listener)
    asyncio.run(traced.dispatch_async(Event("order.paid", {})))
    (span,) = recorded.named("dispatch order.paid")
    assert dict(span.attributes or {})["vbwd.event.listener_failures"] == 0
