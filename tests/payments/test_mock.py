"""MockPaymentPlugin: scripted outcomes, recorded calls, idempotency and signed webhooks."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from vbwd_plugins import (
    Capability,
    Money,
    PaymentErrorCode,
    PaymentEventType,
    PaymentStatus,
    WebhookVerificationError,
)
from vbwd_plugins.errors import UnsupportedOperationError
from vbwd_plugins.testing import (
    MockOutcome,
    MockPaymentPlugin,
    ProviderConformanceSuite,
    RecordingDispatcher,
    WebhookVariant,
)


def _create(plugin: MockPaymentPlugin, amount: str = "10.00", **kwargs: object) -> str:
    result = plugin.create_payment_intent(Decimal(amount), "USD", uuid4(), uuid4(), **kwargs)  # type: ignore[arg-type]
    assert result.success and result.transaction_id
    return result.transaction_id


def test_happy_path_records_calls(mock_plugin: MockPaymentPlugin) -> None:
    """Create then process completes the payment; every call is recorded."""
    payment = _create(mock_plugin)
    result = mock_plugin.process_payment(payment, "pm_mock_visa")
    assert (result.status, result.amount, result.currency) == (PaymentStatus.COMPLETED, 1000, "USD")
    assert [c.operation for c in mock_plugin.calls] == ["create_payment_intent", "process_payment"]
    assert mock_plugin.calls_to("process_payment")[0].arguments["payment_method"] == "pm_mock_visa"


@pytest.mark.parametrize(
    ("outcome", "code", "expected"),
    [
        (MockOutcome.DECLINE, None, PaymentErrorCode.DECLINED),
        (
            MockOutcome.DECLINE,
            PaymentErrorCode.INSUFFICIENT_FUNDS,
            PaymentErrorCode.INSUFFICIENT_FUNDS,
        ),
        (MockOutcome.ERROR, None, PaymentErrorCode.PROVIDER_UNAVAILABLE),
        (MockOutcome.ERROR, PaymentErrorCode.RATE_LIMITED, PaymentErrorCode.RATE_LIMITED),
    ],
)
def test_scripted_failures(
    mock_plugin: MockPaymentPlugin,
    outcome: MockOutcome,
    code: PaymentErrorCode | None,
    expected: PaymentErrorCode,
) -> None:
    """Scripted declines and errors come back as failed results with their codes, once."""
    payment = _create(mock_plugin)
    mock_plugin.script(outcome, error_code=code)
    failed = mock_plugin.process_payment(payment, "pm")
    assert (failed.success, failed.status, failed.error_code) == (
        False,
        PaymentStatus.FAILED,
        expected,
    )
    assert failed.metadata["mock_request_id"] == "req_mock_process_payment"
    assert mock_plugin.process_payment(payment, "pm").status is PaymentStatus.COMPLETED


def test_scripts_can_target_one_operation_several_times(mock_plugin: MockPaymentPlugin) -> None:
    """A script bound to an operation leaves others alone and lasts ``times`` calls."""
    mock_plugin.script(MockOutcome.ERROR, operation="refund_payment", times=2)
    payment = _create(mock_plugin)
    assert mock_plugin.process_payment(payment, "pm").success
    assert not mock_plugin.refund_payment(payment).success
    assert not mock_plugin.refund_payment(payment).success
    assert mock_plugin.refund_payment(payment).success


def test_pending_outcome(mock_plugin: MockPaymentPlugin) -> None:
    """A PENDING outcome leaves the payment processing."""
    payment = _create(mock_plugin)
    mock_plugin.script(MockOutcome.PENDING)
    assert mock_plugin.process_payment(payment, "pm").status is PaymentStatus.PROCESSING


def test_default_outcome(mock_plugin: MockPaymentPlugin) -> None:
    """default_outcome applies whenever nothing is scripted."""
    mock_plugin.default_outcome = MockOutcome.DECLINE
    result = mock_plugin.create_payment_intent(Decimal(1), "USD", uuid4(), uuid4())
    assert result.error_code is PaymentErrorCode.DECLINED
    mock_plugin.reset()
    assert mock_plugin.calls == [] and mock_plugin.default_outcome is MockOutcome.SUCCEED


def test_idempotency_key_replays_the_first_answer(mock_plugin: MockPaymentPlugin) -> None:
    """Retrying with the same key returns the same payment, not a second one."""
    sub, user = uuid4(), uuid4()
    first = mock_plugin.create_payment_intent(Decimal(5), "EUR", sub, user, idempotency_key="k")
    again = mock_plugin.create_payment_intent(Decimal(5), "EUR", sub, user, idempotency_key="k")
    assert first == again
    assert len(mock_plugin.payments) == 1
    conflict = mock_plugin.create_payment_intent(Decimal(6), "EUR", sub, user, idempotency_key="k")
    assert conflict.error_code is PaymentErrorCode.IDEMPOTENCY_CONFLICT


def test_refunds_cannot_exceed_the_payment(mock_plugin: MockPaymentPlugin) -> None:
    """Partial refunds add up; refunding more than is left is an invalid request."""
    payment = _create(mock_plugin)
    mock_plugin.process_payment(payment, "pm")
    first = mock_plugin.refund_payment(payment, Money("6", "USD"))
    assert (first.amount, first.status) == (600, PaymentStatus.REFUNDED)
    assert mock_plugin.get_payment(payment).status is PaymentStatus.PARTIALLY_REFUNDED
    too_much = mock_plugin.refund_payment(payment, Decimal("5"))
    assert too_much.error_code is PaymentErrorCode.INVALID_REQUEST
    rest = mock_plugin.refund_payment(payment)
    assert rest.amount == 400
    assert mock_plugin.get_payment(payment).status is PaymentStatus.REFUNDED


def test_refunds_queue_a_payment_refunded_webhook(mock_plugin: MockPaymentPlugin) -> None:
    """Each refund queues one signed payment.refunded: its amount, refund id, the host ids."""
    sub, user = uuid4(), uuid4()
    created = mock_plugin.create_payment_intent(Decimal("10.00"), "USD", sub, user)
    payment = created.transaction_id
    assert payment is not None
    mock_plugin.process_payment(payment, "pm")
    first = mock_plugin.refund_payment(payment, Money("6", "USD"), idempotency_key="r1")
    assert mock_plugin.refund_payment(payment, Money("6", "USD"), idempotency_key="r1") == first
    mock_plugin.script(MockOutcome.ERROR, operation="refund_payment")
    assert not mock_plugin.refund_payment(payment).success
    assert not mock_plugin.refund_payment(payment, Decimal("5")).success  # more than is left
    assert len(mock_plugin.pending_webhooks) == 1, "one webhook per refund made, none otherwise"
    rest = mock_plugin.refund_payment(payment)
    events = mock_plugin.deliver_pending()
    assert [e.name for e in events] == ["payment.refunded", "payment.refunded"]
    dispatcher = mock_plugin.event_dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    assert [e.name for e in dispatcher.events] == ["payment.refunded"] * 2  # sent, verified
    seen = [
        (e.data["transaction_id"], e.data["amount"], e.data["currency"], e.data["refund_id"])
        for e in events
    ]
    assert seen == [
        (payment, 600, "USD", first.transaction_id),
        (payment, 400, "USD", rest.transaction_id),
    ]
    assert {(e.data["subscription_id"], e.data["user_id"]) for e in events} == {
        (str(sub), str(user))
    }


def test_unknown_payment_is_not_found(mock_plugin: MockPaymentPlugin) -> None:
    """Operations on an unknown id fail with NOT_FOUND."""
    assert mock_plugin.get_payment("nope").error_code is PaymentErrorCode.NOT_FOUND


def test_refund_in_another_currency_is_invalid(mock_plugin: MockPaymentPlugin) -> None:
    """A Money refund in a different currency is an invalid request."""
    payment = _create(mock_plugin)
    mock_plugin.process_payment(payment, "pm")
    assert mock_plugin.refund_payment(payment, Money(1, "EUR")).error_code is (
        PaymentErrorCode.INVALID_REQUEST
    )


def test_deliver_emits_the_standard_event(mock_plugin: MockPaymentPlugin) -> None:
    """deliver() signs, verifies and handles a webhook, emitting one standard event."""
    payment = _create(mock_plugin, "12.34")
    events = mock_plugin.deliver(PaymentEventType.COMPLETED, payment)
    assert [e.name for e in events] == ["payment.completed"]
    assert events[0].data["amount"] == 1234
    assert events[0].data["transaction_id"] == payment
    refunded = mock_plugin.deliver(PaymentEventType.REFUNDED, payment, amount=100, refund_id="r")
    assert (refunded[0].data["amount"], refunded[0].data["refund_id"]) == (100, "r")


def test_signatures_use_secret_and_tolerance() -> None:
    """The mock's HMAC scheme checks secret, body and timestamp (both directions)."""
    now = [1_700_000_000.0]
    plugin = MockPaymentPlugin(webhook_secret="s1", tolerance=60, clock=lambda: now[0])
    body = b'{"id":"evt"}'
    header = plugin.sign(body)
    assert plugin.verify_webhook(body, header)
    assert plugin.verify_webhook(body, f"{header},v1=deadbeef")
    assert not plugin.verify_webhook(body + b" ", header)
    assert not plugin.verify_webhook(body, plugin.sign(body, secret="s2"))
    assert not plugin.verify_webhook(body, "garbage")
    assert not plugin.verify_webhook(body, "t=abc,v1=00")
    now[0] += 61
    assert not plugin.verify_webhook(body, header)
    assert not plugin.verify_webhook(body, plugin.sign(body, timestamp=int(now[0]) + 61))


def test_rejected_delivery_emits_nothing(mock_plugin: MockPaymentPlugin) -> None:
    """A tampered delivery raises WebhookVerificationError and dispatches no event."""
    body = mock_plugin.webhook_body(
        PaymentEventType.COMPLETED, transaction_id="t", amount=1, currency="USD"
    )
    delivery = mock_plugin.webhook_delivery(body, WebhookVariant.TAMPERED_BODY)
    with pytest.raises(WebhookVerificationError):
        mock_plugin.process_webhook(delivery.headers, delivery.body)
    dispatcher = mock_plugin.event_dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    assert dispatcher.events == []


def test_unknown_webhook_types_emit_nothing(mock_plugin: MockPaymentPlugin) -> None:
    """Webhook types without a standard event are ignored."""
    assert mock_plugin.payment_events_from_webhook({"type": "customer.created"}) == ()


class TestLimitedProviderConformance(ProviderConformanceSuite):
    """A provider declaring few capabilities passes; the rest is checked as unsupported."""

    @pytest.fixture
    def payment_provider_harness(self) -> object:
        """A mock declaring only full refunds and webhooks."""
        plugin = MockPaymentPlugin(capabilities={Capability.REFUNDS, Capability.WEBHOOKS})
        return plugin.harness()


def test_capabilities_argument_declares_fewer() -> None:
    """capabilities= narrows what one mock declares; undeclared operations then raise."""
    limited = MockPaymentPlugin(capabilities=[Capability.REFUNDS, "webhooks"])
    assert limited.capabilities == {Capability.REFUNDS, Capability.WEBHOOKS}
    assert MockPaymentPlugin().capabilities == frozenset(Capability)  # others keep them all
    assert limited.supports(Capability.WEBHOOKS)
    assert not limited.supports(Capability.SUBSCRIPTIONS)
    with pytest.raises(UnsupportedOperationError):
        limited.cancel_payment("mock_pay_1")
    with pytest.raises(UnsupportedOperationError):
        limited.create_customer()


@pytest.mark.parametrize(
    ("capabilities", "message"),
    [
        (["refunds", "teleport"], "'teleport'"),
        ([Capability.PARTIAL_REFUNDS], "partial_refunds needs refunds"),
        ([Capability.PARTIAL_CAPTURE], "partial_capture needs manual_capture"),
    ],
)
def test_capabilities_argument_is_validated(capabilities: list[str], message: str) -> None:
    """Unknown capabilities, or a partial one without its whole, are refused by name."""
    with pytest.raises(ValueError, match=message) as info:
        MockPaymentPlugin("acme", capabilities=capabilities)
    assert "acme" in str(info.value)
    with pytest.raises(TypeError, match="not a str"):
        MockPaymentPlugin("acme", capabilities="refunds")


def test_a_mock_without_webhooks_queues_none() -> None:
    """A mock declaring no WEBHOOKS sends none: a refund queues nothing."""
    mock = MockPaymentPlugin(capabilities={Capability.REFUNDS})
    payment = _create(mock)
    mock.process_payment(payment, "pm")
    assert mock.refund_payment(payment).success
    assert mock.pending_webhooks == []


def test_failing_listener_fails_the_delivery(mock_plugin: MockPaymentPlugin) -> None:
    """A listener error propagates out of process_webhook so the provider redelivers."""
    payment = _create(mock_plugin)

    def activate(event: object) -> None:
        raise RuntimeError("database down")

    mock_plugin.event_dispatcher.add_listener("payment.completed", activate)
    with pytest.raises(ExceptionGroup) as info:
        mock_plugin.deliver(PaymentEventType.COMPLETED, payment)
    assert info.group_contains(RuntimeError, match="database down")
