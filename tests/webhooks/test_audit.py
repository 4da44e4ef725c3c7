"""Refused deliveries: the audit record carries the provider's reason for each kind."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.webhooks._support import SECRET, SideEffects, completed_delivery
from vbwd_plugins import WebhookProcessor
from vbwd_plugins.errors import WebhookVerificationError
from vbwd_plugins.testing import MockPaymentPlugin, WebhookVariant

AUDIT = "vbwd_plugins.audit"


def test_rejection_is_audit_logged_without_secrets_or_payload(
    processor: WebhookProcessor, mock: MockPaymentPlugin, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit record names provider, reason, address and event id; never signature or body."""
    delivery = mock.webhook_delivery(
        completed_delivery(mock, "mock_pay_secretive").body, WebhookVariant.WRONG_SECRET
    )
    event_id = json.loads(delivery.body)["id"]
    with caplog.at_level(logging.INFO):
        processor.process("mock", delivery.headers, delivery.body, remote_addr="203.0.113.9")
    audits = [r for r in caplog.records if r.name == AUDIT]
    assert len(audits) == 1
    audit = audits[0]
    assert audit.levelno == logging.WARNING
    message = audit.getMessage()
    for expected in ("mock", "reason=no signature matched", "203.0.113.9", event_id):
        assert expected in message
    assert audit.__dict__["webhook_reason"] == "no signature matched"
    assert audit.__dict__["webhook_remote_addr"] == "203.0.113.9"
    assert audit.__dict__["webhook_event_id"] == event_id
    signature = delivery.headers["Mock-Signature"]
    everything = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    for leaked in (signature, signature.split("v1=")[1], SECRET, "mock_pay_secretive", "2900"):
        assert leaked not in everything


def test_audit_record_of_an_unreadable_body_has_no_event_id(
    processor: WebhookProcessor, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a signature header and with a non-JSON body the record still says why."""
    with caplog.at_level(logging.WARNING, logger=AUDIT):
        response = processor.process("mock", {}, b"\xff\xfe not json")
    assert response.status == 401
    (audit,) = [r for r in caplog.records if r.name == AUDIT]
    assert audit.__dict__["webhook_event_id"] is None
    assert audit.__dict__["webhook_remote_addr"] is None


def _audit_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(r.__dict__["webhook_reason"]) for r in caplog.records if r.name == AUDIT]


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        (WebhookVariant.WRONG_SECRET, "no signature matched"),
        (WebhookVariant.TAMPERED_BODY, "no signature matched"),
        (WebhookVariant.STALE_TIMESTAMP, "timestamp outside tolerance"),
        (WebhookVariant.FUTURE_TIMESTAMP, "timestamp outside tolerance"),
    ],
)
def test_audit_record_carries_the_providers_reason(
    processor: WebhookProcessor,
    mock: MockPaymentPlugin,
    caplog: pytest.LogCaptureFixture,
    variant: WebhookVariant,
    reason: str,
) -> None:
    """Each kind of bad signature is audited with the reason the provider gave."""
    delivery = mock.webhook_delivery(completed_delivery(mock).body, variant)
    with caplog.at_level(logging.WARNING, logger=AUDIT):
        response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 401
    assert response.body == {"status": "rejected", "error": "verification failed"}
    assert _audit_reasons(caplog) == [reason]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no Mock-Signature header"),
        ({"Mock-Signature": "garbage"}, "malformed Mock-Signature header"),
    ],
)
def test_audit_record_says_what_is_missing(
    processor: WebhookProcessor,
    mock: MockPaymentPlugin,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    reason: str,
) -> None:
    """A missing or malformed signature header is audited as such."""
    with caplog.at_level(logging.WARNING, logger=AUDIT):
        response = processor.process("mock", headers, completed_delivery(mock).body)
    assert response.status == 401
    assert _audit_reasons(caplog) == [reason]


def test_verifier_crash_is_refused_and_audited_with_its_type(
    processor: WebhookProcessor,
    mock: MockPaymentPlugin,
    effects: SideEffects,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A verifier that raises is a 401 refusal ("verification error: <Type>"), never accepted."""

    def crash(headers: Any, body: bytes) -> None:
        raise ZeroDivisionError("verifier bug")

    monkeypatch.setattr(mock, "verify_request", crash)
    delivery = completed_delivery(mock)
    with caplog.at_level(logging.WARNING):
        response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 401
    assert _audit_reasons(caplog) == ["verification error: ZeroDivisionError"]
    (logged,) = [r for r in caplog.records if r.exc_info and r.name != AUDIT]
    assert isinstance(logged.exc_info[1], ZeroDivisionError)  # type: ignore[index]
    assert processor.inbox.inbox_list() == []
    assert effects.counts() == {}


def test_refusal_while_parsing_is_audited_with_its_reason(
    processor: WebhookProcessor,
    mock: MockPaymentPlugin,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A check that needs the parsed event (like Stripe's livemode) is a 401 with its reason."""

    def refuse(body: bytes) -> dict[str, Any]:
        raise WebhookVerificationError("mode", plugin_name="mock", reason="livemode mismatch")

    monkeypatch.setattr(mock, "parse_webhook", refuse)
    delivery = completed_delivery(mock)
    with caplog.at_level(logging.WARNING, logger=AUDIT):
        response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 401
    assert _audit_reasons(caplog) == ["livemode mismatch"]
    assert processor.inbox.inbox_list() == []


def test_refusal_while_translating_is_audited_with_its_reason(
    processor: WebhookProcessor,
    mock: MockPaymentPlugin,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider that refuses the event while translating: 401, reason audited, nothing stored."""

    def refuse(payload: dict[str, Any]) -> list[Any]:
        raise WebhookVerificationError("stale", plugin_name="mock", reason="event too old")

    monkeypatch.setattr(mock, "translate_webhook", refuse)
    delivery = completed_delivery(mock)
    with caplog.at_level(logging.WARNING, logger=AUDIT):
        response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 401
    assert _audit_reasons(caplog) == ["event too old"]
    assert processor.inbox.inbox_list() == []


def test_unprintable_reason_is_escaped_in_the_audit_line(
    processor: WebhookProcessor,
    mock: MockPaymentPlugin,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reason quoting request data cannot forge a second audit line."""

    def refuse(headers: Any, body: bytes) -> None:
        raise WebhookVerificationError("x", reason="bad host 'a\nwebhook rejected: forged'")

    monkeypatch.setattr(mock, "verify_request", refuse)
    delivery = completed_delivery(mock)
    with caplog.at_level(logging.WARNING, logger=AUDIT):
        processor.process("mock", delivery.headers, delivery.body)
    (audit,) = [r for r in caplog.records if r.name == AUDIT]
    message = audit.getMessage()
    assert "\n" not in message
    assert "forged" in message
