"""Capture on approval: ``paypal.order.approved`` and its listener, through the real pipeline.

The webhook processor records a ``CHECKOUT.ORDER.APPROVED`` on SQLite with one delivery for
the plugin's ``capture-on-approval`` listener, which captures at the fake PayPal over HTTP.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vbwd_paypal import ORDER_APPROVED, OrderApproved, PayPalPlugin
from vbwd_paypal._errors import PayPalAPIError
from vbwd_paypal.testing import WebhookSigner as Signer
from vbwd_paypal.testing import error_body, make_event

from vbwd_plugins import Event, PaymentErrorCode, PaymentEventData, WebhookResponse
from vbwd_plugins.delivery import Delivery, DeliveryStatus, RunOutcome
from vbwd_plugins.errors import WebhookPayloadError
from vbwd_plugins.payments import PaymentCompleted, PaymentFailed
from vbwd_plugins.stores import SQLiteStateStore
from vbwd_plugins.webhooks import WebhookProcessor

from .conftest import Rig

SUB, USER = str(uuid.uuid4()), str(uuid.uuid4())
LISTENER = "paypal:capture-on-approval"
UNAVAILABLE = error_body("SERVICE_UNAVAILABLE", "Service Unavailable.")


def approve_order(rig: Rig, *, manual: bool = False) -> str:
    """Create a 10.00 USD order and approve it as the payer; its id."""
    result = rig.plugin.create_payment_intent(
        Decimal("10.00"), "USD", uuid.UUID(SUB), uuid.UUID(USER), manual_capture=manual
    )
    assert result.transaction_id is not None
    rig.fake.approve(result.transaction_id)
    return result.transaction_id


def approval(rig: Rig, order_id: str) -> dict[str, Any]:
    """PayPal's ``CHECKOUT.ORDER.APPROVED`` for the fake's order ``order_id``."""
    order = rig.fake.orders[order_id]
    return make_event("CHECKOUT.ORDER.APPROVED", order, resource_type="checkout-order")


def capture_path(order_id: str, action: str = "capture") -> str:
    """The Orders v2 path that captures (or authorizes) ``order_id``."""
    return f"/v2/checkout/orders/{order_id}/{action}"


@dataclass
class Pipeline:
    """A PayPal rig behind a WebhookProcessor recording on SQLite, and a signer."""

    rig: Rig
    processor: WebhookProcessor
    inbox: SQLiteStateStore
    signer: Signer
    received: dict[str, list[Event]] = field(default_factory=dict)

    def send(self, event: dict[str, Any]) -> WebhookResponse:
        """Deliver ``event`` signed, as PayPal does (again, for a redelivery)."""
        body = json.dumps(event).encode()
        return self.processor.process("paypal", self.signer.headers(body), body)

    def deliveries(self, event: dict[str, Any]) -> dict[str, Delivery]:
        """The deliveries recorded for webhook ``event``, by listener id."""
        found = self.inbox.deliveries_of_webhook("paypal", str(event["id"]))
        return {one.listener_id: one for one in found}

    def listen(self, event_name: str, *, fail_first: int = 0) -> list[Event]:
        """Add a host listener of ``event_name`` (failing its first calls); what it received."""
        received: list[Event] = []
        failures = [fail_first]

        def host_listener(event: Event) -> None:
            if failures[0]:
                failures[0] -= 1
                raise RuntimeError("the host's database is down")
            received.append(event)

        dispatcher = self.rig.manager.event_dispatcher
        dispatcher.add_listener(event_name, host_listener, id=f"host-{event_name}")
        return received


@pytest.fixture
def pipeline(
    make_rig: Callable[..., Rig], signer: Signer, tmp_path: Path
) -> Iterator[Callable[..., Pipeline]]:
    """Build pipelines (``capture_on_approval`` on unless overridden; no client retries)."""
    stores: list[SQLiteStateStore] = []

    def build(**overrides: Any) -> Pipeline:
        rig = make_rig(**{"capture_on_approval": True, "max_retries": 0, **overrides})
        inbox = SQLiteStateStore(tmp_path / f"inbox-{len(stores)}.sqlite3")
        stores.append(inbox)
        return Pipeline(rig, WebhookProcessor(rig.manager, inbox=inbox), inbox, signer)

    yield build
    for store in stores:
        store.close()


@dataclass
class CollectingEngine:
    """A delivery engine that only collects what is submitted (a worker runs it later)."""

    submitted: list[str] = field(default_factory=list)

    def submit(self, delivery_ids: Sequence[str]) -> None:
        """Collect ``delivery_ids``."""
        self.submitted.extend(delivery_ids)


# -- through the pipeline ------------------------------------------------------------------


def test_approved_order_is_captured_once_across_a_retry_and_payment_completed_follows(
    pipeline: Callable[..., Pipeline],
) -> None:
    """A failed capture delivery is retried with the same request id: one capture, one event."""
    p = pipeline()
    completed = p.listen("payment.completed")
    order_id = approve_order(p.rig)
    p.rig.fake.script("POST", capture_path(order_id), 503, UNAVAILABLE)
    approved = approval(p.rig, order_id)

    first = p.send(approved)
    assert (first.status, first.body["status"]) == (500, "failed")
    delivery = p.deliveries(approved)[LISTENER]
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert "503" in (delivery.last_error or "")
    assert p.rig.fake.captures == {}

    again = p.send(approved)  # PayPal redelivers the approval
    assert (again.status, again.body["status"]) == (200, "processed")
    assert p.deliveries(approved)[LISTENER].status is DeliveryStatus.SUCCEEDED
    assert p.send(approved).body["status"] == "duplicate"
    calls = p.rig.fake.calls("POST", capture_path(order_id))
    assert [call.header("PayPal-Request-Id") for call in calls] == [delivery.idempotency_key] * 2
    (capture,) = p.rig.fake.captures.values()
    assert p.rig.fake.orders[order_id]["status"] == "COMPLETED"

    answer = p.send(make_event("PAYMENT.CAPTURE.COMPLETED", capture))
    assert answer.status == 200, answer
    (event,) = completed
    data = PaymentEventData.from_event(event)
    assert isinstance(data, PaymentCompleted)
    assert (data.transaction_id, data.amount, data.currency) == (capture["id"], 1000, "USD")
    assert data.metadata["order_id"] == order_id
    assert (data.subscription_id, data.user_id) == (SUB, USER)
    assert event.idempotency_key is not None


def test_deferred_capture_is_retried_by_the_worker_and_never_doubled(
    pipeline: Callable[..., Pipeline],
) -> None:
    """With an engine the webhook is accepted at once; the worker's retry captures once."""
    p = pipeline()
    engine = CollectingEngine()
    p.rig.manager.set_delivery_engine(engine)
    order_id = approve_order(p.rig)
    p.rig.fake.script("POST", capture_path(order_id), 503, UNAVAILABLE)
    approved = approval(p.rig, order_id)

    answer = p.send(approved)
    assert (answer.status, answer.body["status"]) == (200, "accepted")
    (delivery_id,) = engine.submitted
    run = p.processor.deliveries.runner.run
    assert run(delivery_id, due_only=False).outcome is RunOutcome.RETRY
    assert run(delivery_id, due_only=False).outcome is RunOutcome.SUCCEEDED
    assert run(delivery_id, due_only=False).outcome is RunOutcome.SKIPPED
    assert len(p.rig.fake.captures) == 1
    assert len(p.rig.fake.calls("POST", capture_path(order_id))) == 2


def test_a_failing_host_listener_of_the_approval_does_not_capture_again(
    pipeline: Callable[..., Pipeline],
) -> None:
    """Each listener has its own delivery: the host's retry does not re-run the capture."""
    p = pipeline()
    seen = p.listen(ORDER_APPROVED, fail_first=1)
    order_id = approve_order(p.rig)
    approved = approval(p.rig, order_id)
    assert p.send(approved).status == 500
    assert p.deliveries(approved)[LISTENER].status is DeliveryStatus.SUCCEEDED
    assert p.send(approved).status == 200
    assert [OrderApproved.from_event(event).order_id for event in seen] == [order_id]
    assert len(p.rig.fake.calls("POST", capture_path(order_id))) == 1
    assert len(p.rig.fake.captures) == 1


def test_approval_of_a_manual_capture_order_authorizes(pipeline: Callable[..., Pipeline]) -> None:
    """An AUTHORIZE order is authorized on approval, not captured."""
    p = pipeline()
    order_id = approve_order(p.rig, manual=True)
    assert p.send(approval(p.rig, order_id)).status == 200
    assert len(p.rig.fake.calls("POST", capture_path(order_id, "authorize"))) == 1
    assert p.rig.fake.calls("POST", capture_path(order_id)) == []
    assert len(p.rig.fake.authorizations) == 1


def test_declined_capture_reports_payment_failed_and_is_not_retried(
    pipeline: Callable[..., Pipeline],
) -> None:
    """A decline is an outcome: payment.failed reaches the host, the delivery succeeds."""
    p = pipeline()
    failed = p.listen("payment.failed")
    order_id = approve_order(p.rig)
    p.rig.fake.decline_next = "error"
    approved = approval(p.rig, order_id)
    assert p.send(approved).status == 200
    assert p.deliveries(approved)[LISTENER].status is DeliveryStatus.SUCCEEDED
    (event,) = failed
    data = PaymentEventData.from_event(event)
    assert isinstance(data, PaymentFailed)
    assert (data.transaction_id, data.error_code) == (order_id, PaymentErrorCode.DECLINED)
    assert (data.amount, data.currency) == (1000, "USD")
    assert (data.subscription_id, data.user_id) == (SUB, USER)
    assert data.provider_event_id == approved["id"]
    assert p.rig.fake.captures == {}


def test_order_captured_by_the_host_first_counts_as_done(
    pipeline: Callable[..., Pipeline],
) -> None:
    """If process_payment captured before the approval arrives, the listener just succeeds."""
    p = pipeline()
    failed = p.listen("payment.failed")
    order_id = approve_order(p.rig)
    assert p.rig.plugin.process_payment(order_id, "paypal").success
    assert p.send(approval(p.rig, order_id)).status == 200
    assert failed == []
    assert len(p.rig.fake.captures) == 1


def test_without_capture_on_approval_the_approval_is_recorded_but_nothing_is_captured(
    pipeline: Callable[..., Pipeline],
) -> None:
    """capture_on_approval off: the event and its delivery are recorded; PayPal is not called."""
    p = pipeline(capture_on_approval=False)
    seen = p.listen(ORDER_APPROVED)
    order_id = approve_order(p.rig)
    approved = approval(p.rig, order_id)
    assert p.send(approved).status == 200
    assert p.deliveries(approved)[LISTENER].status is DeliveryStatus.SUCCEEDED
    assert len(seen) == 1
    assert p.rig.fake.calls("POST", capture_path(order_id)) == []


@pytest.mark.parametrize(
    "change",
    [
        {"id": "../../v1/oauth2/token"},
        {"id": None},
        {"intent": "SUBSCRIBE"},
        {"purchase_units": []},
    ],
    ids=["path in the id", "no id", "unknown intent", "no amount"],
)
def test_unusable_approval_is_400_and_nothing_is_recorded(
    pipeline: Callable[..., Pipeline], change: dict[str, Any]
) -> None:
    """A PayPal-signed approval the plugin cannot act on answers 400 and records nothing."""
    p = pipeline()
    order_id = approve_order(p.rig)
    approved = approval(p.rig, order_id)
    approved["resource"] = {**approved["resource"], **change}
    assert p.send(approved).status == 400
    assert p.inbox.inbox_list() == []
    assert p.rig.fake.calls("POST", "/v2/checkout/orders/") == []


# -- the event and the listener ------------------------------------------------------------


def test_approval_translates_to_a_declared_event_with_its_own_listener(rig: Rig) -> None:
    """translate_webhook builds paypal.order.approved (no I/O); the catalogue knows it."""
    order_id = approve_order(rig)
    calls = len(rig.fake.calls())
    (event,) = rig.plugin.translate_webhook(approval(rig, order_id))
    assert len(rig.fake.calls()) == calls
    assert event.name == ORDER_APPROVED == "paypal.order.approved"
    assert event.data["provider"] == "paypal"
    approved = OrderApproved.from_event(event)
    assert (approved.order_id, approved.intent, approved.action) == (order_id, "CAPTURE", "capture")
    assert (approved.amount, approved.currency) == (1000, "USD")
    assert (approved.subscription_id, approved.user_id) == (SUB, USER)
    assert OrderApproved.from_event(Event.from_json(event.to_json())) == approved
    assert ORDER_APPROVED in rig.manager.known_event_names()
    assert rig.dispatcher.listener_ids(ORDER_APPROVED) == (LISTENER,)


_hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["AUTHORIZE", "CAPTURE", "10.001", "1e40", "US\x00", "../x", "0001-01-01"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(
    order_id=_hostile,
    intent=_hostile,
    value=_hostile,
    currency=_hostile,
    custom=_hostile,
    event_id=_hostile,
    when=_hostile,
)
def test_any_approval_translates_to_one_event_or_a_payload_error(
    order_id: object,
    intent: object,
    value: object,
    currency: object,
    custom: object,
    event_id: object,
    when: object,
) -> None:
    """Whatever a signed approval holds: one event that reads back, or WebhookPayloadError."""
    unit = {"amount": {"currency_code": currency, "value": value}, "custom_id": custom}
    order = {"id": order_id, "intent": intent, "status": "APPROVED", "purchase_units": [unit]}
    payload = {
        **make_event("CHECKOUT.ORDER.APPROVED", order, resource_type="checkout-order"),
        "id": event_id,
        "create_time": when,
    }
    try:
        events = PayPalPlugin().translate_webhook(payload)
    except WebhookPayloadError:
        return
    (event,) = events
    assert OrderApproved.from_event(Event.from_json(event.to_json())).order_id == order_id


def test_a_strict_manager_enables_the_plugin_with_its_approval_listener(rig: Rig) -> None:
    """The listener's event is declared in emits, so a strict manager accepts it."""
    rig.manager.strict = True
    rig.manager.disable_plugin("paypal")
    rig.manager.enable_plugin("paypal")
    assert rig.dispatcher.listener_ids(ORDER_APPROVED) == (LISTENER,)


# -- direct callers: process_webhook / handle_webhook ----------------------------------------


def deliver(rig: Rig, signer: Signer, event: dict[str, Any]) -> list[str]:
    """``process_webhook`` a signed ``event``; the names of the events dispatched."""
    body = json.dumps(event).encode()
    rig.dispatcher.clear()
    rig.plugin.process_webhook(signer.headers(body), body)
    return [e.name for e in rig.dispatcher.events]


def test_direct_approval_is_dispatched_but_not_captured_unless_configured(
    rig: Rig, signer: Signer
) -> None:
    """Without capture_on_approval process_webhook dispatches the approval, captures nothing."""
    order_id = approve_order(rig)
    assert deliver(rig, signer, approval(rig, order_id)) == [ORDER_APPROVED]
    assert rig.fake.calls("POST", capture_path(order_id)) == []


def test_direct_approval_captures_once_with_an_order_derived_request_id(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """Outside a delivery (no idempotency key) the request id comes from the order."""
    rig = make_rig(capture_on_approval=True)
    order_id = approve_order(rig)
    approved = approval(rig, order_id)
    assert deliver(rig, signer, approved) == [ORDER_APPROVED]
    assert deliver(rig, signer, approved) == [ORDER_APPROVED]
    calls = rig.fake.calls("POST", capture_path(order_id))
    assert {c.header("PayPal-Request-Id") for c in calls} == {f"vbwd-approval-capture-{order_id}"}
    assert len(rig.fake.captures) == 1


def test_direct_decline_dispatches_payment_failed(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """A decline when capturing on approval dispatches payment.failed for the order."""
    rig = make_rig(capture_on_approval=True)
    order_id = approve_order(rig)
    rig.fake.decline_next = "error"
    assert deliver(rig, signer, approval(rig, order_id)) == [ORDER_APPROVED, "payment.failed"]
    data = PaymentEventData.from_event(rig.dispatcher.named("payment.failed")[0])
    assert (data.transaction_id, data.amount, data.subscription_id) == (order_id, 1000, SUB)


def test_direct_transient_failure_raises_for_redelivery(
    make_rig: Callable[..., Rig], signer: Signer
) -> None:
    """If PayPal is down, process_webhook raises (PayPal redelivers) and nothing else is sent."""
    rig = make_rig(capture_on_approval=True, max_retries=0)
    order_id = approve_order(rig)
    rig.fake.script("POST", capture_path(order_id), 503, UNAVAILABLE)
    body = json.dumps(approval(rig, order_id)).encode()
    with pytest.raises(ExceptionGroup) as raised:
        rig.plugin.process_webhook(signer.headers(body), body)
    (error,) = raised.value.exceptions
    assert isinstance(error, PayPalAPIError) and error.status_code == 503
    assert [e.name for e in rig.dispatcher.events] == [ORDER_APPROVED]
