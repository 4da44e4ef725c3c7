"""The webhook half of the provider conformance suite (see ``_conformance``)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest

from vbwd_plugins.errors import WebhookVerificationError
from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.payments._events import PaymentEventData, PaymentEventType, PaymentRefunded
from vbwd_plugins.payments._results import Capability, header_value
from vbwd_plugins.testing._harness import CHARGE_UNITS, PART_UNITS, Context
from vbwd_plugins.testing._support import WebhookDelivery, WebhookVariant

__all__ = ["WebhookConformance"]

_REJECTED_VARIANTS = (
    WebhookVariant.TAMPERED_BODY,
    WebhookVariant.WRONG_SECRET,
    WebhookVariant.STALE_TIMESTAMP,
    WebhookVariant.FUTURE_TIMESTAMP,
)


def _json_round_trip(event: Event) -> Event:
    to_json = getattr(event, "to_json", None)
    from_json = getattr(type(event), "from_json", None)
    if callable(to_json) and callable(from_json):
        restored = from_json(to_json())
        assert isinstance(restored, Event)
        return restored

    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"not JSON serializable: {value!r}")

    data = json.loads(json.dumps(event.data, default=default))
    return Event(name=event.name, data=data)


def _check_reason(error: WebhookVerificationError, delivery: WebhookDelivery) -> None:
    """A refusal says why, for the audit log, without quoting a signature or the body."""
    reason = error.reason
    assert isinstance(reason, str) and reason.strip(), "a refusal needs a non-empty reason"
    for name, value in delivery.headers.items():
        if "sig" in name.lower() and len(value) >= 16:
            assert value not in reason, f"the reason quotes the {name} header: {reason!r}"
    if len(delivery.body) >= 32:
        assert delivery.body.decode("utf-8", "replace") not in reason, "the reason quotes the body"


class WebhookConformance:
    """Verification, identification and translation of a provider's webhooks."""

    def _delivery(
        self,
        conformance: Context,
        variant: WebhookVariant,
        event_type: PaymentEventType = PaymentEventType.COMPLETED,
        amount: int = CHARGE_UNITS,
    ) -> tuple[WebhookDelivery, str]:
        conformance.require(Capability.WEBHOOKS)
        assert PaymentEventType.COMPLETED in conformance.harness.webhook_event_types, (
            "a provider with WEBHOOKS must produce payment.completed deliveries"
        )
        if event_type not in conformance.harness.webhook_event_types:
            pytest.skip(f"the harness cannot produce {event_type.value} webhooks")
        transaction_id = f"tx_conf_{uuid.uuid4().hex[:10]}"
        delivery = conformance.harness.webhook_delivery(
            event_type,
            variant,
            transaction_id=transaction_id,
            amount=amount,
            currency=conformance.harness.currency,
            subscription_id=str(conformance.subscription_id),
            user_id=str(conformance.user_id),
        )
        if delivery is None:
            pytest.skip(f"the harness cannot produce a {variant.value} delivery")
        return delivery, transaction_id

    def test_valid_webhook_verifies(self, conformance: Context) -> None:
        """A correctly signed, fresh delivery verifies through every entry point."""
        delivery, _ = self._delivery(conformance, WebhookVariant.VALID)
        plugin = conformance.plugin
        plugin.verify_request(delivery.headers, delivery.body)  # returns: it verifies
        assert plugin.verify_webhook_request(delivery.headers, delivery.body) is True
        header = plugin.webhook_signature_header
        signature = None if header is None else header_value(delivery.headers, header)
        if signature is not None:
            assert plugin.verify_webhook(delivery.body, signature) is True

    def test_valid_webhook_is_identified(self, conformance: Context) -> None:
        """receive_webhook reads the event's id and type as the provider declares; no dispatch."""
        delivery, _ = self._delivery(conformance, WebhookVariant.VALID)
        received = conformance.plugin.receive_webhook(delivery.headers, delivery.body)
        assert isinstance(received.payload, dict)
        assert received.event_id, "webhook_event_id found no event id in a valid delivery"
        assert received.event_type, "webhook_event_type found no event type in a valid delivery"
        assert conformance.dispatcher.events == []

    @pytest.mark.parametrize("variant", _REJECTED_VARIANTS, ids=str)
    def test_bad_webhook_is_refused_with_a_reason(
        self, conformance: Context, variant: WebhookVariant
    ) -> None:
        """Tampered, wrongly signed, stale or future deliveries raise with a reason; no events."""
        delivery, _ = self._delivery(conformance, variant)
        plugin = conformance.plugin
        with pytest.raises(WebhookVerificationError) as raised:
            plugin.verify_request(delivery.headers, delivery.body)
        _check_reason(raised.value, delivery)
        with pytest.raises(WebhookVerificationError) as received:
            plugin.receive_webhook(delivery.headers, delivery.body)
        _check_reason(received.value, delivery)
        with pytest.raises(WebhookVerificationError):
            plugin.process_webhook(delivery.headers, delivery.body)
        assert plugin.verify_webhook_request(delivery.headers, delivery.body) is False
        header = plugin.webhook_signature_header
        signature = None if header is None else header_value(delivery.headers, header)
        if signature is not None:
            assert plugin.verify_webhook(delivery.body, signature) is False
        assert conformance.dispatcher.events == []

    def test_webhook_without_headers_is_refused_with_a_reason(self, conformance: Context) -> None:
        """A delivery stripped of its headers raises with a reason; the wrappers answer False."""
        delivery, _ = self._delivery(conformance, WebhookVariant.VALID)
        bare = WebhookDelivery({}, delivery.body)
        with pytest.raises(WebhookVerificationError) as raised:
            conformance.plugin.verify_request(bare.headers, bare.body)
        _check_reason(raised.value, bare)
        assert conformance.plugin.verify_webhook_request(bare.headers, bare.body) is False

    @pytest.mark.parametrize("event_type", list(PaymentEventType), ids=str)
    def test_verified_webhook_emits_one_standard_event(
        self, conformance: Context, event_type: PaymentEventType
    ) -> None:
        """A verified delivery emits exactly one standard event with the documented payload."""
        amount = PART_UNITS if event_type is PaymentEventType.REFUNDED else CHARGE_UNITS
        delivery, transaction_id = self._delivery(
            conformance, WebhookVariant.VALID, event_type, amount
        )
        payload = conformance.plugin.process_webhook(delivery.headers, delivery.body)
        assert isinstance(payload, dict)
        events = conformance.dispatcher.events
        assert [e.name for e in events] == [event_type.value], (
            f"expected exactly one {event_type.value}, got {[e.name for e in events]}"
        )
        data = PaymentEventData.from_event(events[0])
        assert data.event_type is event_type
        assert data.provider == conformance.name
        assert data.transaction_id == transaction_id, data.transaction_id
        assert data.amount == amount, f"amount {data.amount} != {amount} (ISO minor units)"
        assert data.currency == conformance.harness.currency
        assert data.subscription_id == str(conformance.subscription_id)
        assert data.user_id == str(conformance.user_id)
        assert data.provider_event_type
        assert data.occurred_at.utcoffset() is not None
        if event_type is PaymentEventType.REFUNDED:
            assert isinstance(data, PaymentRefunded)
        restored = PaymentEventData.from_event(_json_round_trip(events[0]))
        assert restored == data, "the event data does not survive a JSON round trip"
        translated = conformance.plugin.translate_webhook(payload)
        assert [PaymentEventData.from_event(event) for event in translated] == [data], (
            "translate_webhook must build the events handle_webhook dispatches"
        )
        assert len(conformance.dispatcher.events) == 1, "translate_webhook must not dispatch"
