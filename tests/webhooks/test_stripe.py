"""The pipeline with the real vbwd-stripe plugin: Stripe-signed deliveries end to end."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.stores._support import StoreTarget
from tests.webhooks._support import deliveries_of
from vbwd_plugins import (
    Event,
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.webhooks import InboxStatus

pytest.importorskip("vbwd_stripe", reason="the vbwd-stripe distribution is not installed")
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import sign_payload

WEBHOOK_SECRET = "whsec_pipeline_suite_signing_secret_0001"
API_KEY = "sk_test_pipeline_suite_key_never_sent_0001"
CLIENT_SECRET = "pi_3Pipe_secret_ClientSecretMustNotBeStored"
KEY = FernetSecretBox.generate_key()


def succeeded_event(event_id: str = "evt_pipe_0001", *, livemode: bool = False) -> bytes:
    """A ``payment_intent.succeeded`` delivery for 29.00 EUR of subscription ``sub-1``."""
    intent = {
        "id": "pi_3Pipe",
        "object": "payment_intent",
        "amount": 2900,
        "amount_received": 2900,
        "client_secret": CLIENT_SECRET,
        "currency": "eur",
        "latest_charge": "ch_3Pipe",
        "livemode": livemode,
        "metadata": {"subscription_id": "sub-1", "user_id": "user-1"},
        "status": "succeeded",
    }
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "data": {"object": intent},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
    }
    return json.dumps(event, indent=2).encode()


class Activations:
    """The host's listener: activates the subscription, can be told to fail once."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_next = False

    def __call__(self, event: Event) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("subscription database unavailable")
        self.events.append(event)


@pytest.fixture
def activations() -> Activations:
    """Records each payment.completed the host saw."""
    return Activations()


@pytest.fixture
def processor(target: StoreTarget, activations: Activations) -> Iterator[WebhookProcessor]:
    """vbwd-stripe enabled through a manager on the store; the store is the inbox."""
    store = target.open()
    manager = PluginManager(store=store, secret_box=FernetSecretBox([KEY]))
    manager.register_plugin(StripePlugin())
    manager.initialize_plugin(
        "stripe",
        {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": "http://127.0.0.1:9"},
    )
    manager.enable_plugin("stripe")
    manager.event_dispatcher.add_listener("payment.completed", activations)
    try:
        yield WebhookProcessor(manager)
    finally:
        store.close()


def deliver(processor: WebhookProcessor, body: bytes, secret: str = WEBHOOK_SECRET) -> Any:
    return processor.process(
        "stripe", {"Stripe-Signature": sign_payload(body, secret)}, body, remote_addr="::1"
    )


def test_stripe_delivery_activates_once_and_redelivery_is_a_duplicate(
    processor: WebhookProcessor, activations: Activations
) -> None:
    """A signed payment_intent.succeeded emits one payment.completed; its redelivery none."""
    body = succeeded_event()
    first = deliver(processor, body)
    assert (first.status, first.body) == (200, {"status": "processed", "event_id": "evt_pipe_0001"})
    (event,) = activations.events
    assert event.data["amount"] == 2900
    assert event.data["currency"] == "EUR"
    assert event.data["subscription_id"] == "sub-1"
    assert event.data["provider_event_id"] == "evt_pipe_0001"
    again = deliver(processor, body)
    assert again.body["status"] == "duplicate"
    assert len(activations.events) == 1
    row = processor.inbox.inbox_get("stripe", "evt_pipe_0001")
    assert row is not None
    assert row.status is InboxStatus.RECORDED
    assert row.event_type == "payment_intent.succeeded"
    assert row.payload["data"]["object"]["client_secret"] == "[redacted]"


def test_stripe_secrets_never_reach_the_inbox_rows(
    processor: WebhookProcessor, target: StoreTarget
) -> None:
    """Neither the PaymentIntent's client_secret nor the signing secret is in the database."""
    assert deliver(processor, succeeded_event()).status == 200
    raw = target.raw_contents("webhook_inbox")
    assert b"evt_pipe_0001" in raw
    for secret in (CLIENT_SECRET, WEBHOOK_SECRET, API_KEY):
        assert secret.encode() not in raw


def test_stripe_delivery_signed_with_another_secret_is_401_and_audited(
    processor: WebhookProcessor, activations: Activations, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong signing secret: 401, an audit record with the event id, nothing stored."""
    with caplog.at_level(logging.WARNING, logger="vbwd_plugins.audit"):
        response = deliver(processor, succeeded_event(), secret="whsec_someone_else")
    assert response.status == 401
    (audit,) = [r for r in caplog.records if r.name == "vbwd_plugins.audit"]
    assert audit.__dict__["webhook_event_id"] == "evt_pipe_0001"
    assert audit.__dict__["webhook_remote_addr"] == "::1"
    assert audit.__dict__["webhook_reason"] == "no signature matched"
    assert WEBHOOK_SECRET not in audit.getMessage()
    assert processor.inbox.inbox_list() == []
    assert activations.events == []


def test_live_event_for_a_test_mode_key_is_401(
    processor: WebhookProcessor, activations: Activations, caplog: pytest.LogCaptureFixture
) -> None:
    """A correctly signed event from the other mode is refused as unverified, not stored."""
    with caplog.at_level(logging.WARNING, logger="vbwd_plugins.audit"):
        response = deliver(processor, succeeded_event("evt_live_1", livemode=True))
    assert response.status == 401
    (audit,) = [r for r in caplog.records if r.name == "vbwd_plugins.audit"]
    assert audit.__dict__["webhook_reason"].startswith("livemode mismatch")
    assert processor.inbox.inbox_list() == []
    assert activations.events == []


def test_delivery_without_a_signature_header_is_audited_as_such(
    processor: WebhookProcessor, caplog: pytest.LogCaptureFixture
) -> None:
    """No Stripe-Signature header: 401, audited with that reason."""
    with caplog.at_level(logging.WARNING, logger="vbwd_plugins.audit"):
        response = processor.process("stripe", {}, succeeded_event())
    assert response.status == 401
    (audit,) = [r for r in caplog.records if r.name == "vbwd_plugins.audit"]
    assert audit.__dict__["webhook_reason"] == "no Stripe-Signature header"


def test_failed_activation_is_retried_by_stripes_redelivery(
    processor: WebhookProcessor, activations: Activations
) -> None:
    """The host's listener fails: 500 (Stripe retries); the retry activates exactly once."""
    body = succeeded_event("evt_pipe_retry")
    activations.fail_next = True
    assert deliver(processor, body).status == 500
    (failed,) = deliveries_of(processor.inbox, "evt_pipe_retry", "stripe")
    assert failed.status is DeliveryStatus.PENDING
    assert failed.last_error == "ConnectionError: subscription database unavailable"
    assert deliver(processor, body).status == 200
    assert deliver(processor, body).body["status"] == "duplicate"
    assert len(activations.events) == 1
