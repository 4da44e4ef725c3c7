"""WebhookProcessor.process: status codes, the inbox row it leaves, and what it never leaks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests._support import SimplePlugin
from tests.stores._support import StoreTarget
from tests.webhooks._support import (
    SECRET,
    SideEffects,
    completed_delivery,
    deliveries_of,
    signed,
)
from vbwd_plugins import (
    Event,
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.delivery import Delivery, DeliveryStatus
from vbwd_plugins.errors import StoreError
from vbwd_plugins.testing import MockPaymentPlugin, WebhookVariant
from vbwd_plugins.webhooks import (
    InboxRecord,
    InboxStatus,
    WebhookInbox,
)

AUDIT = "vbwd_plugins.audit"


def record(processor: WebhookProcessor, event_id: str) -> InboxRecord:
    found = processor.inbox.inbox_get("mock", event_id)
    assert found is not None
    return found


def test_valid_delivery_is_handled_once_and_recorded_processed(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A verified delivery answers 200, runs the listener once, records row and delivery."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 200
    assert response.body == {"status": "processed", "event_id": event_id}
    assert effects.counts() == {event_id: 1}
    row = record(processor, event_id)
    assert row.status is InboxStatus.RECORDED
    assert row.attempts == 1
    assert row.error is None
    assert row.event_type == "payment.completed"
    assert row.payload == json.loads(delivery.body)
    (done,) = deliveries_of(processor.inbox, event_id)
    assert done.status is DeliveryStatus.SUCCEEDED
    assert done.event_uid == f"mock:{event_id}:0"
    assert done.listener_id == "tests.webhooks._support.SideEffects"
    assert (done.attempts, done.last_error, done.lease_until) == (1, None, None)


def test_redelivery_is_acknowledged_without_handling_again(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """The same event delivered again (freshly signed) answers 200 'duplicate', handles nothing."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    assert processor.process("mock", delivery.headers, delivery.body).status == 200
    again = mock.webhook_delivery(delivery.body)
    response = processor.process("mock", again.headers, again.body)
    assert response.status == 200
    assert response.body == {"status": "duplicate", "event_id": event_id}
    assert effects.counts() == {event_id: 1}
    assert record(processor, event_id).attempts == 1


def test_unknown_provider_is_404(processor: WebhookProcessor, mock: MockPaymentPlugin) -> None:
    """No plugin of that name: 404, and the body does not echo the name."""
    delivery = completed_delivery(mock)
    response = processor.process("nosuch", delivery.headers, delivery.body)
    assert response.status == 404
    assert "nosuch" not in json.dumps(response.body)


def test_disabled_provider_is_404(
    processor: WebhookProcessor, manager: PluginManager, mock: MockPaymentPlugin
) -> None:
    """A disabled provider handles nothing: 404 and no inbox row."""
    manager.disable_plugin("mock")
    delivery = completed_delivery(mock)
    assert processor.process("mock", delivery.headers, delivery.body).status == 404
    assert processor.inbox.inbox_list() == []


def test_plugin_that_is_not_a_payment_provider_is_404(
    processor: WebhookProcessor, manager: PluginManager
) -> None:
    """An enabled plugin that is not a payment provider does not take webhooks."""
    manager.register_plugin(SimplePlugin("simple"))
    manager.initialize_plugin("simple")
    manager.enable_plugin("simple")
    assert processor.process("simple", {}, b"{}").status == 404


@pytest.mark.parametrize(
    "variant",
    [
        WebhookVariant.WRONG_SECRET,
        WebhookVariant.STALE_TIMESTAMP,
        WebhookVariant.FUTURE_TIMESTAMP,
        WebhookVariant.TAMPERED_BODY,
    ],
)
def test_bad_signature_is_401_and_nothing_is_recorded(
    processor: WebhookProcessor,
    mock: MockPaymentPlugin,
    effects: SideEffects,
    variant: WebhookVariant,
) -> None:
    """Every kind of bad signature answers 401; no row, no handling."""
    body = completed_delivery(mock).body
    delivery = mock.webhook_delivery(body, variant)
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 401
    assert response.body["status"] == "rejected"
    assert processor.inbox.inbox_list() == []
    assert effects.counts() == {}


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2, 3]", b'"text"', b""])
def test_malformed_body_with_a_valid_signature_is_400(
    processor: WebhookProcessor, mock: MockPaymentPlugin, body: bytes
) -> None:
    """A correctly signed body that is not a JSON object answers 400 and is not recorded."""
    delivery = signed(mock, body)
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 400
    assert response.body == {"status": "rejected", "error": "malformed payload"}
    assert processor.inbox.inbox_list() == []


def test_handler_failure_is_500_then_the_redelivery_retries_it(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A failing listener: 500, its delivery pending with the error; the next delivery runs it."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    effects.fail_once = frozenset({event_id})
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 500
    assert response.body == {
        "status": "failed",
        "event_id": event_id,
        "error": "1 of 1 listener(s) failed",
    }
    (failed,) = deliveries_of(processor.inbox, event_id)
    assert failed.status is DeliveryStatus.PENDING
    assert failed.last_error == f"RuntimeError: scripted failure handling {event_id}"
    assert effects.counts() == {}

    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 200
    assert response.body["status"] == "processed"
    (done,) = deliveries_of(processor.inbox, event_id)
    assert (done.status, done.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert effects.counts() == {event_id: 1}
    assert record(processor, event_id).status is InboxStatus.RECORDED


def test_event_the_provider_cannot_translate_is_400_and_not_recorded(
    processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """An event the provider cannot translate (amount not an int): 400 before it is recorded."""
    delivery = completed_delivery(mock, amount="lots")
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 400
    assert processor.inbox.inbox_list() == []


def test_event_is_in_the_inbox_before_it_is_handled(
    processor: WebhookProcessor, manager: PluginManager, mock: MockPaymentPlugin
) -> None:
    """While the listener runs, the row exists and its delivery is claimed (RUNNING, leased)."""
    seen: list[tuple[InboxRecord | None, list[Delivery]]] = []

    def look(event: Event) -> None:
        event_id = str(event.data["provider_event_id"])
        seen.append(
            (processor.inbox.inbox_get("mock", event_id), deliveries_of(processor.inbox, event_id))
        )

    manager.event_dispatcher.add_listener("payment.completed", look, id="look")
    delivery = completed_delivery(mock)
    assert processor.process("mock", delivery.headers, delivery.body).status == 200
    ((row, during),) = seen
    assert row is not None and row.status is InboxStatus.RECORDED
    mine = {one.listener_id: one for one in during}["look"]
    assert mine.status is DeliveryStatus.RUNNING
    assert mine.lease_until is not None and mine.lease_until > mine.created_at


def test_event_claimed_by_another_worker_is_409(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A redelivery while another worker runs the delivery answers 409 and runs nothing."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    outbox = processor.deliveries.outbox
    effects.fail_once = frozenset({event_id})
    assert processor.process("mock", delivery.headers, delivery.body).status == 500
    (pending,) = deliveries_of(processor.inbox, event_id)
    other = outbox.delivery_claim(pending.id, lease=timedelta(hours=1), due_only=False)
    assert other is not None
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 409
    assert response.body == {"status": "in_progress", "event_id": event_id}
    assert effects.counts() == {}
    assert outbox.delivery_succeed(pending.id, other.token)
    assert processor.process("mock", delivery.headers, delivery.body).body["status"] == "duplicate"


def test_expired_claim_of_a_crashed_worker_is_taken_over(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A claim whose lease ran out is taken over by the next delivery; the old token is void."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    outbox = processor.deliveries.outbox
    effects.fail_once = frozenset({event_id})
    assert processor.process("mock", delivery.headers, delivery.body).status == 500
    (pending,) = deliveries_of(processor.inbox, event_id)
    crashed = outbox.delivery_claim(pending.id, lease=timedelta(microseconds=1), due_only=False)
    assert crashed is not None
    time.sleep(0.01)
    assert processor.process("mock", delivery.headers, delivery.body).status == 200
    assert effects.counts() == {event_id: 1}
    (done,) = deliveries_of(processor.inbox, event_id)
    assert (done.status, done.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    assert not outbox.delivery_succeed(pending.id, crashed.token)
    assert not outbox.delivery_fail(pending.id, crashed.token, "late", retry_at=None)


def test_event_without_an_id_is_deduplicated_by_its_body(
    processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """No provider event id: the key is a digest of the body, so the same body is a duplicate."""
    delivery = signed(mock, {"type": "unmapped.type", "data": {}})
    first = processor.process("mock", delivery.headers, delivery.body)
    assert first.status == 200
    assert first.body["event_id"].startswith("sha256:")
    again = processor.process("mock", delivery.headers, delivery.body)
    assert again.body == {"status": "duplicate", "event_id": first.body["event_id"]}


@pytest.mark.parametrize("event_id", ["x" * 256, "evt\nforged log line", "evt\x00nul"])
def test_unusable_event_ids_are_hashed(
    processor: WebhookProcessor, mock: MockPaymentPlugin, event_id: str
) -> None:
    """Overlong ids and ids with control characters are stored as a stable digest."""
    delivery = signed(mock, {"id": event_id, "type": "unmapped.type"})
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 200
    stored = response.body["event_id"]
    assert stored.startswith("sha256:") and len(stored) == 71
    again = signed(mock, {"id": event_id, "type": "unmapped.type", "other": 1})
    assert processor.process("mock", again.headers, again.body).body["event_id"] == stored


def test_secret_named_fields_are_never_stored(
    processor: WebhookProcessor, mock: MockPaymentPlugin, target: StoreTarget
) -> None:
    """client_secret and friends are redacted before the payload reaches the database."""
    secret_value = "pi_123_secret_DoNotStoreMe42"
    payload = {
        "id": "evt_secretive",
        "type": "unmapped.type",
        "data": {"object": {"client_secret": secret_value, "amount": 1}},
        "items": [{"Access_Token": "tok_DoNotStoreMe43"}, {"password": ""}],
    }
    delivery = signed(mock, payload)
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 200
    row = record(processor, "evt_secretive")
    assert row.payload["data"]["object"] == {"client_secret": "[redacted]", "amount": 1}
    assert row.payload["items"] == [{"Access_Token": "[redacted]"}, {"password": ""}]
    assert b"DoNotStoreMe" not in target.raw_contents("webhook_inbox")


def test_responses_never_carry_the_payload_or_a_signature(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """Whatever the outcome, the JSON body holds no payload data, signature or secret."""
    good = completed_delivery(mock, "mock_pay_private")
    effects.fail_once = frozenset({json.loads(good.body)["id"]})
    bad = mock.webhook_delivery(good.body, WebhookVariant.WRONG_SECRET)
    deliveries = [good, good, bad, signed(mock, b"{oops mock_pay_private")]
    statuses = []
    for delivery in deliveries:
        response = processor.process("mock", delivery.headers, delivery.body)
        statuses.append(response.status)
        text = json.dumps(response.body)
        for leaked in ("mock_pay_private", "2900", SECRET, delivery.headers["Mock-Signature"]):
            assert leaked not in text
    assert statuses == [500, 200, 401, 400]


def test_body_may_be_a_bytearray_or_memoryview(
    processor: WebhookProcessor, mock: MockPaymentPlugin
) -> None:
    """Adapters may hand over any bytes-like body."""
    first, second = completed_delivery(mock), completed_delivery(mock)
    body: Any = bytearray(first.body)
    assert processor.process("mock", first.headers, body).status == 200
    view: Any = memoryview(second.body)
    assert processor.process("mock", second.headers, view).status == 200


def test_event_is_not_handled_when_the_inbox_cannot_record_it(
    manager: PluginManager, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """No durable record, no handling: 500 so the provider delivers again later."""
    processor = WebhookProcessor(manager, inbox=_BrokenStore(manager.store, {"outbox_accept"}))
    delivery = completed_delivery(mock)
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 500
    assert response.body["error"] == "inbox unavailable"
    assert effects.counts() == {}


def test_failure_is_500_even_if_marking_it_failed_fails(
    manager: PluginManager, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A listener failure is answered 500 also when the store cannot record the failure."""
    processor = WebhookProcessor(manager, inbox=_BrokenStore(manager.store, {"delivery_fail"}))
    delivery = completed_delivery(mock)
    effects.fail_always.add(json.loads(delivery.body)["id"])
    assert processor.process("mock", delivery.headers, delivery.body).status == 500


def test_processor_needs_an_inbox_and_a_positive_lease(store: WebhookInbox) -> None:
    """Without a store (or inbox=) there is nowhere to record events; leases must be > 0."""
    with pytest.raises(StoreError, match="needs a webhook inbox"):
        WebhookProcessor(PluginManager())
    assert WebhookProcessor(PluginManager(), inbox=store).inbox is store
    with pytest.raises(ValueError, match="lease"):
        WebhookProcessor(PluginManager(), inbox=store, lease=timedelta(0))


def test_pipeline_names_are_exported() -> None:
    """Pipeline and inbox names live in ``vbwd_plugins.webhooks``; the root has the processor."""
    import vbwd_plugins
    import vbwd_plugins.webhooks

    names = {
        "InboxClaim",
        "InboxRecord",
        "InboxStatus",
        "WebhookInbox",
        "WebhookProcessor",
        "WebhookResponse",
    }
    assert names == set(vbwd_plugins.webhooks.__all__)
    assert {"WebhookProcessor", "WebhookResponse"} <= set(vbwd_plugins.__all__)


def test_listener_whose_success_is_not_recorded_is_not_run_again_while_its_lease_holds(
    manager: PluginManager, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """Ran, success not recorded: 500; a redelivery gets 409 until the lease ends, then reruns."""
    store = manager.store
    broken = _BrokenStore(store, {"delivery_succeed"})
    processor = WebhookProcessor(manager, inbox=broken, lease=timedelta(seconds=1))
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    assert processor.process("mock", delivery.headers, delivery.body).status == 500
    assert effects.counts() == {event_id: 1}
    broken.broken.clear()
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 409
    assert effects.counts() == {event_id: 1}
    (held,) = deliveries_of(store, event_id)
    assert held.lease_until is not None
    time.sleep(max(0.0, (held.lease_until - datetime.now(UTC)).total_seconds()) + 0.05)
    assert processor.process("mock", delivery.headers, delivery.body).status == 200
    assert effects.counts() == {event_id: 2}
    (done,) = deliveries_of(store, event_id)
    assert (done.status, done.attempts) == (DeliveryStatus.SUCCEEDED, 2)


class _BrokenStore:
    """The store, with its database down for the named operations (everything else passes)."""

    def __init__(self, inner: object, broken: set[str]) -> None:
        self.inner = inner
        self.broken = broken

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name.startswith(("inbox_", "outbox_", "delivery_", "deliveries_", "event_")):

            def call(*args: Any, **kwargs: Any) -> Any:
                if name in self.broken:
                    raise StoreError(f"database unavailable during {name}")
                return attribute(*args, **kwargs)

            return call
        return attribute
