"""Webhooks: Stripe's signature scheme, livemode, and standard events from real API events."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from vbwd_stripe import StripePlugin
from vbwd_stripe._signature import SignatureVerifier
from vbwd_stripe.testing import FakeStripe, make_event
from vbwd_stripe.testing import sign_payload as sign

from vbwd_plugins import (
    Event,
    Money,
    PaymentErrorCode,
    PaymentEventData,
    PluginManager,
    WebhookVerificationError,
)
from vbwd_plugins.payments import (
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
)
from vbwd_plugins.testing import RecordingDispatcher

from .conftest import LIVE_KEY, OLD_WEBHOOK_SECRET, WEBHOOK_SECRET

SUB_ID, USER_ID = uuid.uuid4(), uuid.uuid4()
SUB, USER = str(SUB_ID), str(USER_ID)

INTENT: dict[str, Any] = {
    "id": "pi_webhook_1",
    "object": "payment_intent",
    "amount": 2000,
    "amount_received": 2000,
    "amount_capturable": 0,
    "currency": "eur",
    "status": "succeeded",
    "metadata": {"subscription_id": SUB, "user_id": USER, "plan": "pro"},
}


@pytest.fixture
def manager_plugin(fake: FakeStripe) -> tuple[StripePlugin, list[Event]]:
    """A plugin registered and enabled in a PluginManager, and the payment events it emits."""
    from .conftest import config_for

    manager = PluginManager()
    plugin = StripePlugin()
    manager.register_plugin(plugin)
    manager.initialize_plugin("stripe", config_for(fake))
    manager.enable_plugin("stripe")
    seen: list[Event] = []
    for name in (
        "payment.completed",
        "payment.failed",
        "payment.refunded",
        "payment.cancelled",
        "payment.pending",
        "payment.authorized",
    ):
        manager.event_dispatcher.add_listener(name, seen.append)
    return plugin, seen


def _deliver(plugin: StripePlugin, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> None:
    body = json.dumps(event).encode()
    plugin.process_webhook({"Stripe-Signature": sign(body, secret)}, body)


# -- signature scheme --------------------------------------------------------------------


def test_valid_signature_verifies(plugin: StripePlugin) -> None:
    """A delivery signed per Stripe's scheme verifies."""
    body = json.dumps(make_event("payment_intent.succeeded", INTENT)).encode()
    assert plugin.verify_webhook(body, sign(body, WEBHOOK_SECRET))


def test_sdk_signed_delivery_verifies(plugin: StripePlugin) -> None:
    """A header made by the SDK's own generate_signature_header verifies too."""
    payload = json.dumps(make_event("payment_intent.succeeded", INTENT))
    header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
    assert plugin.verify_webhook(payload.encode(), header)
    assert plugin.verify_webhook_request({"stripe-signature": header}, payload.encode())


def test_any_matching_v1_passes_and_v0_is_ignored(plugin: StripePlugin) -> None:
    """With several v1 entries one match is enough; a v0 entry never counts."""
    body = b'{"id": "evt_1"}'
    good = sign(body, WEBHOOK_SECRET)
    t, v1 = good.split(",")
    assert plugin.verify_webhook(body, f"{t},v1={'0' * 64},{v1},v0={'1' * 64}")
    assert not plugin.verify_webhook(body, f"{t},v0={v1.removeprefix('v1=')}")


def test_previous_secret_is_accepted_during_rotation(
    fake: FakeStripe, make_plugin: Callable[..., StripePlugin]
) -> None:
    """A delivery signed with a configured previous secret verifies; others do not."""
    plugin = make_plugin(fake, previous_webhook_secrets=[OLD_WEBHOOK_SECRET])
    body = b'{"id": "evt_2"}'
    assert plugin.verify_webhook(body, sign(body, OLD_WEBHOOK_SECRET))
    assert plugin.verify_webhook(body, sign(body, WEBHOOK_SECRET))
    assert not plugin.verify_webhook(body, sign(body, "whsec_retired_long_ago"))


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_timestamps_outside_the_tolerance_are_rejected_both_ways(
    plugin: StripePlugin, offset: int
) -> None:
    """Stale and future timestamps beyond 300 s are refused."""
    body = b'{"id": "evt_3"}'
    assert not plugin.verify_webhook(body, sign(body, WEBHOOK_SECRET, int(time.time()) + offset))


@pytest.mark.parametrize("offset", [-290, 290])
def test_timestamps_inside_the_tolerance_are_accepted(plugin: StripePlugin, offset: int) -> None:
    """Clock skew within the tolerance is fine in either direction."""
    body = b'{"id": "evt_4"}'
    assert plugin.verify_webhook(body, sign(body, WEBHOOK_SECRET, int(time.time()) + offset))


def test_tolerance_is_configurable(
    fake: FakeStripe, make_plugin: Callable[..., StripePlugin]
) -> None:
    """webhook_tolerance changes the accepted window."""
    plugin = make_plugin(fake, webhook_tolerance=30)
    body = b'{"id": "evt_5"}'
    assert not plugin.verify_webhook(body, sign(body, WEBHOOK_SECRET, int(time.time()) - 60))


def test_tampered_body_is_rejected(plugin: StripePlugin) -> None:
    """Changing one byte after signing breaks the signature."""
    body = json.dumps(make_event("payment_intent.succeeded", INTENT)).encode()
    header = sign(body, WEBHOOK_SECRET)
    assert not plugin.verify_webhook(body.replace(b"2000", b"2001"), header)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=abc",
        "t=abc,v1=abc",
        "v1=" + "a" * 64,
        "t=1700000000",
        "t=1700000000,v1=é",
        "t=99999999999999999999,v1=" + "a" * 64,
        "t=1," + ",".join(["v1=" + "a" * 64] * 20),
        "t=1,v1=" + "a" * 10_000,
    ],
)
def test_malformed_headers_are_rejected_without_raising(plugin: StripePlugin, header: str) -> None:
    """Malformed signature headers answer False."""
    assert plugin.verify_webhook(b"{}", header) is False


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no Stripe-Signature header"),
        ({"Stripe-Signature": "garbage"}, "no valid timestamp in Stripe-Signature header"),
        ({"Stripe-Signature": "t=1,v0=00"}, "no v1 signature in Stripe-Signature header"),
        ({"Stripe-Signature": "t=1,v1=00"}, "timestamp outside tolerance"),
        ({"Stripe-Signature": f"t={10**10},v1=00"}, "timestamp outside tolerance"),
        ("wrong secret", "no signature matched"),
        ("tampered", "no signature matched"),
    ],
)
def test_refusals_say_why(plugin: StripePlugin, headers: Any, reason: str) -> None:
    """verify_request raises with a reason for the audit log; never the signature itself."""
    body = b'{"id": "evt_reason"}'
    if headers == "wrong secret":
        headers = {"Stripe-Signature": sign(body, "whsec_someone_else")}
    elif headers == "tampered":
        headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET)}
        body = body.replace(b"reason", b"rEason")
    with pytest.raises(WebhookVerificationError) as info:
        plugin.verify_request(headers, body)
    assert info.value.reason.startswith(reason)
    assert info.value.plugin_name == "stripe"
    signature = headers.get("Stripe-Signature", "")
    assert "v1=" not in info.value.reason
    assert not signature or signature not in info.value.reason
    assert plugin.verify_webhook_request(headers, body) is False


def test_uninitialized_plugin_refuses_with_a_reason() -> None:
    """Before initialize there is no secret: every delivery is refused, saying so."""
    with pytest.raises(WebhookVerificationError, match="not initialized"):
        StripePlugin().verify_request({"Stripe-Signature": "t=1,v1=00"}, b"{}")


def test_livemode_is_checked_once_per_delivery(
    make_fake: Callable[..., FakeStripe], make_plugin: Callable[..., StripePlugin]
) -> None:
    """The livemode check runs in parse_webhook only; handle_webhook trusts what it is given."""
    plugin = make_plugin(make_fake(LIVE_KEY, livemode=True))
    dispatcher = RecordingDispatcher()
    plugin._attach_dispatcher(dispatcher)
    event = make_event("payment_intent.succeeded", INTENT, livemode=False)
    plugin.handle_webhook(event)
    assert [e.name for e in dispatcher.events] == ["payment.completed"]


@settings(max_examples=200, deadline=None)
@given(header=st.text(max_size=300))
def test_arbitrary_headers_never_raise_or_verify(header: str) -> None:
    """No header string makes verification raise or pass without the secret."""
    verifier = SignatureVerifier([WEBHOOK_SECRET])
    assert verifier.check(b'{"id": "evt"}', header) is not None


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=4096))
def test_any_body_signed_with_the_secret_verifies(body: bytes) -> None:
    """Verification is exact over the raw bytes, whatever they are."""
    verifier = SignatureVerifier([WEBHOOK_SECRET])
    assert verifier.check(body, sign(body, WEBHOOK_SECRET)) is None
    assert verifier.check(body + b" ", sign(body, WEBHOOK_SECRET)) is not None


def test_process_webhook_with_bad_signature_emits_nothing(
    manager_plugin: tuple[StripePlugin, list[Event]],
) -> None:
    """A delivery that fails verification raises and dispatches nothing."""
    plugin, seen = manager_plugin
    body = json.dumps(make_event("payment_intent.succeeded", INTENT)).encode()
    with pytest.raises(WebhookVerificationError):
        plugin.process_webhook({"Stripe-Signature": sign(body, "whsec_wrong")}, body)
    assert seen == []


# -- livemode ------------------------------------------------------------------------------


def test_live_event_on_a_test_key_is_rejected(
    manager_plugin: tuple[StripePlugin, list[Event]],
) -> None:
    """A correctly signed livemode=true event is refused by a test-mode plugin."""
    plugin, seen = manager_plugin
    with pytest.raises(WebhookVerificationError, match="livemode"):
        _deliver(plugin, make_event("payment_intent.succeeded", INTENT, livemode=True))
    assert seen == []


def test_test_event_on_a_live_key_is_rejected(
    make_fake: Callable[..., FakeStripe], make_plugin: Callable[..., StripePlugin]
) -> None:
    """A live-mode plugin refuses test-mode events, as deliveries and when parsing them."""
    plugin = make_plugin(make_fake(LIVE_KEY, livemode=True))
    assert plugin.settings.livemode
    with pytest.raises(WebhookVerificationError):
        _deliver(plugin, make_event("payment_intent.succeeded", INTENT, livemode=False))
    with pytest.raises(WebhookVerificationError, match="livemode mismatch"):
        plugin.parse_webhook(json.dumps(make_event("payment_intent.succeeded", INTENT)).encode())


# -- events from what the fake API really did ----------------------------------------------


def _charge(plugin: StripePlugin, amount: str = "20.00", currency: str = "EUR") -> str:
    created = plugin.create_payment_intent(
        Decimal(amount), currency, SUB_ID, USER_ID, {"plan": "pro"}
    )
    assert created.transaction_id is not None
    assert plugin.process_payment(created.transaction_id, "pm_card_visa").success
    return created.transaction_id


def test_payment_intent_succeeded_emits_payment_completed(
    manager_plugin: tuple[StripePlugin, list[Event]], fake: FakeStripe
) -> None:
    """The fake's payment_intent.succeeded becomes one payment.completed, with ids."""
    plugin, seen = manager_plugin
    intent_id = _charge(plugin)
    (event,) = fake.events_of("payment_intent.succeeded")
    _deliver(plugin, event)
    assert [e.name for e in seen] == ["payment.completed"]
    data = PaymentEventData.from_event(seen[0])
    assert isinstance(data, PaymentCompleted)
    assert (data.provider, data.transaction_id) == ("stripe", intent_id)
    assert (data.amount, data.currency) == (2000, "EUR")
    assert (data.subscription_id, data.user_id) == (SUB, USER)
    assert data.metadata == {"plan": "pro"}
    assert data.provider_event_id == event["id"]
    assert data.provider_event_type == "payment_intent.succeeded"
    assert data.occurred_at.timestamp() == event["created"]


def test_payment_failed_carries_the_decline_reason(
    manager_plugin: tuple[StripePlugin, list[Event]], fake: FakeStripe
) -> None:
    """payment_intent.payment_failed becomes payment.failed with the standard code."""
    plugin, seen = manager_plugin
    created = plugin.create_payment_intent(Decimal("5.00"), "USD", SUB_ID, USER_ID)
    assert created.transaction_id is not None
    plugin.process_payment(created.transaction_id, "pm_card_chargeDeclinedInsufficientFunds")
    _deliver(plugin, fake.events_of("payment_intent.payment_failed")[0])
    data = PaymentEventData.from_event(seen[0])
    assert isinstance(data, PaymentFailed)
    assert data.error_code is PaymentErrorCode.INSUFFICIENT_FUNDS
    assert data.error_message == "Your card has insufficient funds."


def test_cancel_and_authorization_events(
    manager_plugin: tuple[StripePlugin, list[Event]], fake: FakeStripe
) -> None:
    """amount_capturable_updated -> payment.authorized; canceled -> payment.cancelled."""
    plugin, seen = manager_plugin
    created = plugin.create_payment_intent(
        Decimal("7.00"),
        "USD",
        SUB_ID,
        USER_ID,
        manual_capture=True,
    )
    assert created.transaction_id is not None
    plugin.process_payment(created.transaction_id, "pm_card_visa")
    plugin.cancel_payment(created.transaction_id)
    _deliver(plugin, fake.events_of("payment_intent.amount_capturable_updated")[0])
    _deliver(plugin, fake.events_of("payment_intent.canceled")[0])
    assert [(e.name, e.data["amount"]) for e in seen] == [
        ("payment.authorized", 700),
        ("payment.cancelled", 700),
    ]


def test_charge_refunded_reports_this_refund_not_the_total(
    manager_plugin: tuple[StripePlugin, list[Event]], fake: FakeStripe
) -> None:
    """Two partial refunds: each charge.refunded reports its own amount, not the total."""
    plugin, seen = manager_plugin
    intent_id = _charge(plugin, "10.00")
    plugin.refund_payment(intent_id, Money("3.00", "EUR"))
    plugin.refund_payment(intent_id, Money("2.00", "EUR"))
    for event in fake.events_of("charge.refunded"):
        _deliver(plugin, event)
    refunds = [PaymentEventData.from_event(e) for e in seen]
    assert [r.amount for r in refunds] == [300, 200]
    assert all(isinstance(r, PaymentRefunded) and r.transaction_id == intent_id for r in refunds)
    assert [r.subscription_id for r in refunds] == [SUB, SUB]


def test_refund_created_reports_the_refund(
    manager_plugin: tuple[StripePlugin, list[Event]], fake: FakeStripe
) -> None:
    """refund.created carries the refund id, its amount and the ids copied to its metadata."""
    plugin, seen = manager_plugin
    intent_id = _charge(plugin, "10.00")
    refund = plugin.refund_payment(intent_id, Money("4.00", "EUR"))
    _deliver(plugin, fake.events_of("refund.created")[0])
    data = PaymentEventData.from_event(seen[0])
    assert isinstance(data, PaymentRefunded)
    assert (data.refund_id, data.transaction_id, data.amount) == (
        refund.transaction_id,
        intent_id,
        400,
    )
    assert (data.subscription_id, data.user_id) == (SUB, USER)


REFUND: dict[str, Any] = {
    "id": "re_1",
    "object": "refund",
    "amount": 500,
    "currency": "usd",
    "payment_intent": "pi_1",
    "status": "pending",
    "metadata": {},
}


def test_refund_is_reported_once_when_it_succeeds(
    manager_plugin: tuple[StripePlugin, list[Event]],
) -> None:
    """A refund is reported once, by the event in which it becomes succeeded."""
    plugin, seen = manager_plugin
    _deliver(plugin, make_event("refund.created", REFUND, event_id="evt_r1"))
    assert seen == []
    done = {**REFUND, "status": "succeeded"}
    _deliver(
        plugin,
        make_event(
            "refund.updated", done, previous_attributes={"status": "pending"}, event_id="evt_r2"
        ),
    )
    _deliver(
        plugin,
        make_event("refund.updated", done, previous_attributes={"metadata": {}}, event_id="evt_r3"),
    )
    assert [(e.name, e.data["amount"], e.data["refund_id"]) for e in seen] == [
        ("payment.refunded", 500, "re_1")
    ]


CHARGE: dict[str, Any] = {
    "id": "ch_1",
    "object": "charge",
    "amount": 1000,
    "amount_captured": 1000,
    "amount_refunded": 700,
    "currency": "usd",
    "payment_intent": "pi_1",
    "metadata": {"subscription_id": SUB, "user_id": USER},
}


def test_charge_refunded_without_previous_attributes_uses_the_newest_refund(
    manager_plugin: tuple[StripePlugin, list[Event]],
) -> None:
    """Without previous_attributes the newest refund in the embedded list is this refund."""
    plugin, seen = manager_plugin
    charge = {
        **CHARGE,
        "refunds": {
            "object": "list",
            "data": [
                {"id": "re_new", "amount": 400, "created": 200},
                {"id": "re_old", "amount": 300, "created": 100},
            ],
            "has_more": False,
        },
    }
    _deliver(plugin, make_event("charge.refunded", charge))
    assert [(e.data["amount"], e.data["refund_id"]) for e in seen] == [(400, "re_new")]


def test_charge_refunded_that_cannot_be_attributed_emits_nothing(
    manager_plugin: tuple[StripePlugin, list[Event]], caplog: pytest.LogCaptureFixture
) -> None:
    """charge.refunded without previous_attributes or refunds: a warning, no event."""
    plugin, seen = manager_plugin
    with caplog.at_level(logging.WARNING, logger="vbwd_stripe"):
        _deliver(plugin, make_event("charge.refunded", CHARGE))
    assert seen == []
    assert "refund.created" in caplog.text


def test_unknown_event_types_are_ignored_and_logged_at_debug(
    manager_plugin: tuple[StripePlugin, list[Event]], caplog: pytest.LogCaptureFixture
) -> None:
    """Types without a mapping emit nothing and log at debug level."""
    plugin, seen = manager_plugin
    with caplog.at_level(logging.DEBUG):
        _deliver(plugin, make_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert seen == []
    assert any(
        r.levelno == logging.DEBUG and "customer.created" in r.getMessage() for r in caplog.records
    )


def test_isk_amounts_are_converted_back_to_iso_units(
    manager_plugin: tuple[StripePlugin, list[Event]],
) -> None:
    """Stripe's two-decimal ISK amount (1000) is ISO's 10 krónur in the event."""
    plugin, seen = manager_plugin
    intent = {**INTENT, "amount": 1000, "amount_received": 1000, "currency": "isk"}
    _deliver(plugin, make_event("payment_intent.succeeded", intent))
    assert (seen[0].data["amount"], seen[0].data["currency"]) == (10, "ISK")


def test_parsed_events_are_plain_data(plugin: StripePlugin) -> None:
    """The payload handed to handle_webhook is plain JSON data, not StripeObject trees."""
    body = json.dumps(make_event("payment_intent.succeeded", INTENT)).encode()
    payload = plugin.parse_webhook(body)

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return type(value) is dict and all(plain(v) for v in value.values())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, str | int | float | bool)

    assert plain(payload)
