"""The webhook half of the provider contract: verify_request, the one fail-closed guard,
the bool wrappers, receive_webhook, identification and translation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from tests.payments._seed import HeaderPlugin, SeedStylePlugin
from vbwd_plugins import (
    Capability,
    PaymentEventType,
    PaymentProviderPlugin,
    PaymentResult,
    PluginMetadata,
    WebhookVerificationError,
)
from vbwd_plugins.errors import UnsupportedOperationError, WebhookPayloadError
from vbwd_plugins.payments import ReceivedWebhook, header_value
from vbwd_plugins.testing import MockPaymentPlugin, RecordingDispatcher

CONTRACT_LOGGER = "vbwd_plugins.payments._webhook"


class ModernPlugin(PaymentProviderPlugin):
    """Implements verify_request: refuses with a reason, or raises something unexpected."""

    metadata = PluginMetadata(name="modernpay", version="1.0.0", author="t", description="d")
    webhook_signature_header: ClassVar[str | None] = "Modern-Signature"

    def __init__(self, *, crash: BaseException | None = None, answer: Any = None) -> None:
        super().__init__()
        self.crash = crash
        self.answer = answer

    def create_payment_intent(self, *args: Any, **kwargs: Any) -> PaymentResult:
        return PaymentResult(True, "pi_1")

    def process_payment(self, *args: Any, **kwargs: Any) -> PaymentResult:
        return PaymentResult(True, "pi_1")

    def refund_payment(self, *args: Any, **kwargs: Any) -> PaymentResult:
        return PaymentResult(True, "re_1")

    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        if self.crash is not None:
            raise self.crash
        if self.answer is not None:
            return self.answer  # type: ignore[no-any-return]  # the mistake under test
        signature = header_value(headers, "Modern-Signature")
        if signature is None:
            raise WebhookVerificationError("no header", reason="no Modern-Signature header")
        if signature != "good":
            raise WebhookVerificationError("bad", reason="no signature matched")
        return None


class TypedEvents(ModernPlugin):
    """Keeps its event id and type in other fields (as PayPal keeps ``event_type``)."""

    webhook_event_id_field: ClassVar[str | None] = "event_id"
    webhook_event_type_field: ClassVar[str | None] = "event_type"


GOOD = {"Modern-Signature": "good"}


def _refusal(plugin: PaymentProviderPlugin, headers: Mapping[str, str]) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        plugin.receive_webhook(headers, b'{"id": "evt_1"}')
    return info.value.reason


# -- verify_request and the guard -----------------------------------------------------------


def test_refusal_reason_reaches_the_caller() -> None:
    """receive_webhook raises the provider's WebhookVerificationError with its reason."""
    assert _refusal(ModernPlugin(), {}) == "no Modern-Signature header"
    assert _refusal(ModernPlugin(), {"Modern-Signature": "bad"}) == "no signature matched"


def test_reason_defaults_to_the_message() -> None:
    """A WebhookVerificationError raised without a reason carries its message as one."""
    error = WebhookVerificationError("signature did not verify", plugin_name="p")
    assert error.reason == "signature did not verify"
    assert error.plugin_name == "p"


@pytest.mark.parametrize("crash", [RuntimeError("boom"), KeyError("t"), TypeError("x")])
def test_unexpected_exception_is_a_refusal_with_its_type(
    crash: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """Any other exception refuses the delivery, reason "verification error: <Type>"."""
    plugin = ModernPlugin(crash=crash)
    with (
        caplog.at_level(logging.ERROR, logger=CONTRACT_LOGGER),
        pytest.raises(WebhookVerificationError) as info,
    ):
        plugin.receive_webhook(GOOD, b"{}")
    assert info.value.reason == f"verification error: {type(crash).__name__}"
    assert info.value.__cause__ is crash
    (record,) = [r for r in caplog.records if r.name == CONTRACT_LOGGER]
    assert record.exc_info is not None and record.exc_info[1] is crash


def test_keyboard_interrupt_is_not_swallowed() -> None:
    """The guard catches exceptions, not interpreter exits."""
    with pytest.raises(KeyboardInterrupt):
        ModernPlugin(crash=KeyboardInterrupt()).receive_webhook(GOOD, b"{}")


@pytest.mark.parametrize("answer", [False, True, 0, "ok"])
def test_verify_request_that_returns_a_value_is_refused(answer: Any) -> None:
    """Refusing is raising: a verify_request returning anything (even True) is refused."""
    reason = _refusal(ModernPlugin(answer=answer), GOOD)
    assert reason == f"verify_request returned {type(answer).__name__} instead of raising"


# -- the bool wrappers ----------------------------------------------------------------------


def test_bool_wrappers_answer_true_for_a_valid_delivery() -> None:
    """verify_webhook_request and verify_webhook answer True when verify_request returns."""
    plugin = ModernPlugin()
    assert plugin.verify_webhook_request({"modern-signature": "good"}, b"{}") is True
    assert plugin.verify_webhook(b"{}", "good") is True


def test_bool_wrappers_answer_false_and_log_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    """A refusal is False, with the reason logged at warning."""
    plugin = ModernPlugin()
    with caplog.at_level(logging.WARNING, logger=CONTRACT_LOGGER):
        assert plugin.verify_webhook_request({}, b"{}") is False
        assert plugin.verify_webhook(b"{}", "bad") is False
    assert "no Modern-Signature header" in caplog.text
    assert "no signature matched" in caplog.text


def test_bool_wrappers_answer_false_when_verification_crashes() -> None:
    """An unexpected exception is False too, never an exception or True."""
    plugin = ModernPlugin(crash=RuntimeError("boom"))
    assert plugin.verify_webhook_request(GOOD, b"{}") is False
    assert plugin.verify_webhook(b"{}", "good") is False


def test_verify_webhook_without_a_signature_header_is_false(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider signing with several headers cannot be checked with one value."""
    plugin = ModernPlugin()
    plugin.webhook_signature_header = None  # type: ignore[misc]
    with caplog.at_level(logging.WARNING, logger=CONTRACT_LOGGER):
        assert plugin.verify_webhook(b"{}", "good") is False
    assert "verify_webhook_request" in caplog.text


# -- original-design providers --------------------------------------------------------------


def test_seed_verify_webhook_fails_closed() -> None:
    """An original-design verify_webhook that raises answers False instead of propagating."""
    assert SeedStylePlugin().verify_webhook(b"{}", "boom") is False
    assert SeedStylePlugin().verify_webhook(b"{}", "good") is True
    assert SeedStylePlugin().verify_webhook(b"{}", "bad") is False


def test_seed_verify_webhook_backs_verify_request() -> None:
    """Its verify_webhook is the check behind verify_request, read from the header."""
    plugin = HeaderPlugin()
    plugin.verify_request({"seed-signature": "good"}, b"{}")
    assert plugin.verify_webhook_request({"seed-signature": "good"}, b"{}") is True
    assert _refusal(plugin, {"Seed-Signature": "bad"}) == "signature did not verify"
    assert _refusal(plugin, {}) == "no Seed-Signature header"
    assert _refusal(plugin, {"Seed-Signature": "boom"}) == "verification error: RuntimeError"


def test_seed_plugin_without_a_header_refuses_every_request() -> None:
    """Without webhook_signature_header there is no signature to check: refused."""
    reason = _refusal(SeedStylePlugin(), {"Seed-Signature": "good"})
    assert "webhook_signature_header" in reason


def test_provider_implementing_neither_verifier_cannot_be_created() -> None:
    """verify_request (or an original-design verify_webhook) is required."""

    class NoVerifier(PaymentProviderPlugin):
        metadata = PluginMetadata(name="nover", version="1.0.0", author="t", description="d")

        def create_payment_intent(self, *args: Any, **kwargs: Any) -> PaymentResult:
            return PaymentResult(True, "x")

        def process_payment(self, *args: Any, **kwargs: Any) -> PaymentResult:
            return PaymentResult(True, "x")

        def refund_payment(self, *args: Any, **kwargs: Any) -> PaymentResult:
            return PaymentResult(True, "x")

    with pytest.raises(TypeError, match="verify_request"):
        NoVerifier()  # type: ignore[abstract]


# -- receive_webhook, identification, translation -------------------------------------------


def test_receive_reads_id_and_type_from_the_default_fields() -> None:
    """By default the event id is ``id`` and the type ``type``."""
    received = ModernPlugin().receive_webhook(GOOD, b'{"id": "evt_1", "type": "t.done"}')
    assert received == ReceivedWebhook({"id": "evt_1", "type": "t.done"}, "evt_1", "t.done")


def test_receive_reads_the_fields_a_provider_declares() -> None:
    """A provider names other fields; the core never guesses (``type`` is not read here)."""
    body = b'{"id": "x", "type": "wrong", "event_id": "WH-1", "event_type": "PAYMENT.DONE"}'
    received = TypedEvents().receive_webhook(GOOD, body)
    assert (received.event_id, received.event_type) == ("WH-1", "PAYMENT.DONE")
    assert TypedEvents().receive_webhook(GOOD, b'{"type": "t"}').event_type is None


@pytest.mark.parametrize(
    "body",
    [b'{"type": 5}', b'{"type": ""}', b'{"type": "a\\nb"}', b'{"type": "' + b"x" * 201 + b'"}'],
)
def test_unusable_event_types_read_as_none(body: bytes) -> None:
    """Non-strings, empty, unprintable or overlong types are not recorded."""
    assert ModernPlugin().receive_webhook(GOOD, body).event_type is None


def test_identification_that_raises_reads_as_none(caplog: pytest.LogCaptureFixture) -> None:
    """A webhook_event_id or webhook_event_type that raises is logged and read as None."""

    class Broken(ModernPlugin):
        def webhook_event_id(self, payload: Mapping[str, Any]) -> str | None:
            raise KeyError("id")

        def webhook_event_type(self, payload: Mapping[str, Any]) -> str | None:
            raise KeyError("type")

    with caplog.at_level(logging.ERROR, logger=CONTRACT_LOGGER):
        received = Broken().receive_webhook(GOOD, b'{"id": "evt_1"}')
    assert (received.event_id, received.event_type) == (None, None)
    assert "webhook_event_id raised" in caplog.text


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_receive_refuses_malformed_bodies(body: bytes) -> None:
    """A verified body that is not a JSON object raises WebhookPayloadError."""
    with pytest.raises(WebhookPayloadError):
        ModernPlugin().receive_webhook(GOOD, body)


def test_translate_builds_events_without_dispatching() -> None:
    """translate_webhook returns the standard events; handle_webhook dispatches the same."""
    mock = MockPaymentPlugin()
    dispatcher = RecordingDispatcher()
    mock._attach_dispatcher(dispatcher)
    body = mock.webhook_body(
        PaymentEventType.COMPLETED, transaction_id="mock_pay_9", amount=100, currency="EUR"
    )
    payload = mock.receive_webhook(mock.webhook_delivery(body).headers, body).payload
    translated = mock.translate_webhook(payload)
    assert [event.name for event in translated] == ["payment.completed"]
    assert dispatcher.events == []
    mock.handle_webhook(payload)
    assert [event.data for event in dispatcher.events] == [event.data for event in translated]


# -- process_webhook ------------------------------------------------------------------------


def test_process_webhook_verifies_parses_and_handles() -> None:
    """process_webhook runs receive -> handle_webhook and returns the payload."""
    plugin = HeaderPlugin()
    payload = plugin.process_webhook({"Seed-Signature": "good"}, b'{"id": "evt_1"}')
    assert payload == {"id": "evt_1"}
    assert plugin.webhook_event_id(payload) == "evt_1"
    assert plugin.calls == [("webhook", {"id": "evt_1"})]


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        ({"Seed-Signature": "bad"}, b"{}", WebhookVerificationError),
        ({}, b"{}", WebhookVerificationError),
        ({"Seed-Signature": "good"}, b"not json", WebhookPayloadError),
        ({"Seed-Signature": "good"}, b"[1, 2]", WebhookPayloadError),
        ({"Seed-Signature": "good"}, b"\xff\xfe", WebhookPayloadError),
    ],
)
def test_process_webhook_refuses_bad_deliveries(
    headers: dict[str, str], body: bytes, error: type[Exception]
) -> None:
    """Unverified deliveries and malformed bodies raise and are never handled."""
    plugin = HeaderPlugin()
    with pytest.raises(error):
        plugin.process_webhook(headers, body)
    assert plugin.calls == []


def test_process_webhook_logs_the_refusal_reason(caplog: pytest.LogCaptureFixture) -> None:
    """A refusal is logged with its reason before it propagates."""
    with (
        caplog.at_level(logging.WARNING, logger="vbwd_plugins.payments._provider"),
        pytest.raises(WebhookVerificationError),
    ):
        ModernPlugin().process_webhook({"Modern-Signature": "bad"}, b"{}")
    assert "no signature matched" in caplog.text


def test_handle_webhook_errors_propagate() -> None:
    """An exception while handling propagates so the provider can redeliver."""
    with pytest.raises(RuntimeError, match="listener failed"):
        HeaderPlugin().process_webhook({"Seed-Signature": "good"}, b'{"fail": true}')


def test_process_webhook_needs_the_webhooks_capability() -> None:
    """A provider without WEBHOOKS refuses process_webhook."""

    class NoWebhooks(ModernPlugin):
        capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.REFUNDS})

    with pytest.raises(UnsupportedOperationError, match="process_webhook"):
        NoWebhooks().process_webhook(GOOD, b"{}")


def test_header_value_is_case_insensitive() -> None:
    """header_value matches names regardless of case."""
    headers: Mapping[str, str] = {"PAYPAL-TRANSMISSION-ID": "1"}
    assert header_value(headers, "paypal-transmission-id") == "1"
    assert header_value(headers, "missing") is None
