"""A fake AcmePay API on 127.0.0.1 (pytest-httpserver) and the conformance harness."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from vbwd_acmepay import AcmePayPlugin
from werkzeug import Request, Response

from vbwd_plugins import (
    PaymentErrorCode,
    PaymentEventType,
)
from vbwd_plugins.testing import WebhookDelivery, WebhookVariant

API_KEY = "acme_test_key"
WEBHOOK_SECRET = "acme_whsec_test"

#: What AcmePay answers for each standard error (HTTP status, AcmePay error type).
ERROR_ANSWERS: dict[PaymentErrorCode, tuple[int, str]] = {
    PaymentErrorCode.DECLINED: (402, "card_declined"),
    PaymentErrorCode.INSUFFICIENT_FUNDS: (402, "insufficient_funds"),
    PaymentErrorCode.PAYER_ACTION_REQUIRED: (402, "authentication_required"),
    PaymentErrorCode.AUTHENTICATION_FAILED: (401, "authentication_failed"),
    PaymentErrorCode.PERMISSION_DENIED: (403, "permission_denied"),
    PaymentErrorCode.RATE_LIMITED: (429, "rate_limited"),
    PaymentErrorCode.PROVIDER_UNAVAILABLE: (503, "api_error"),
    PaymentErrorCode.INVALID_REQUEST: (400, "invalid_request"),
    PaymentErrorCode.NOT_FOUND: (404, "not_found"),
    PaymentErrorCode.IDEMPOTENCY_CONFLICT: (409, "idempotency_conflict"),
}

#: Contract operation -> the fake's route name.
ROUTES = {"create_payment_intent": "create", "process_payment": "confirm"}

#: AcmePay's test cards that decline: the failure code its answer names.
DECLINING_CARDS: dict[str, str] = {
    "pm_card_declined": "card_declined",
    "pm_card_insufficient_funds": "insufficient_funds",
}

#: Standard event -> AcmePay webhook type.
WEBHOOK_TYPES = {
    PaymentEventType.COMPLETED: "payment.succeeded",
    PaymentEventType.FAILED: "payment.failed",
    PaymentEventType.CANCELLED: "payment.canceled",
    PaymentEventType.REFUNDED: "refund.succeeded",
}


@dataclass
class FakeAcmePay:
    """Just enough of AcmePay: payments, confirm, capture, cancel, refunds, errors, events.

    ``events`` are the webhooks AcmePay would send, recorded at each state change from what
    the fake *stored* (the payment's metadata included), so a plugin that never sends the
    host's ids gets webhooks without them.
    """

    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency_keys: list[str] = field(default_factory=list)
    failures: dict[str, PaymentErrorCode] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __call__(self, request: Request) -> Response:
        """Route one request (the pytest-httpserver handler)."""
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._error(401, "authentication_failed", "bad API key")
        if key := request.headers.get("Idempotency-Key"):
            self.idempotency_keys.append(key)
        body = request.get_json(silent=True) or {}
        parts = request.path.strip("/").split("/")  # v1 payments [id [action]]
        route = "create" if len(parts) == 2 else parts[3] if len(parts) == 4 else "get"
        if route in self.failures:
            status, error_type = ERROR_ANSWERS[self.failures.pop(route)]
            return self._error(status, error_type, f"scripted {error_type}")
        if route == "create":
            return self._create(body)
        payment = self.payments.get(parts[2])
        if payment is None:
            return self._error(404, "not_found", f"no payment {parts[2]}")
        handler: Callable[[dict[str, Any], dict[str, Any]], Response]
        handler = getattr(self, f"_{route}")
        return handler(payment, body)

    def _create(self, body: dict[str, Any]) -> Response:
        payment = {
            "id": f"pay_{next(self.ids)}",
            "status": "requires_confirmation",
            "amount": body["amount"],
            "currency": body["currency"],
            "capture": body["capture"],
            "metadata": body["metadata"],
            "amount_refunded": 0,
        }
        self.payments[payment["id"]] = payment
        return self._json(payment)

    def _confirm(self, payment: dict[str, Any], body: dict[str, Any]) -> Response:
        if payment["status"] != "requires_confirmation":
            return self._error(400, "invalid_request", "payment is not awaiting confirmation")
        failure = DECLINING_CARDS.get(body.get("payment_method", ""))
        if failure is not None:  # a decline is a normal answer: 200, status "failed"
            payment.update(
                status="failed", failure_code=failure, failure_message=f"declined: {failure}"
            )
            self._record("payment.failed", payment)
        elif payment["capture"] == "manual":
            payment["status"] = "authorized"
        else:
            payment["status"] = "succeeded"
            self._record("payment.succeeded", payment)
        return self._json(payment)

    def _capture(self, payment: dict[str, Any], body: dict[str, Any]) -> Response:
        if payment["status"] != "authorized":
            return self._error(400, "invalid_request", "payment is not authorized")
        payment["status"] = "succeeded"
        self._record("payment.succeeded", payment)
        return self._json(payment)

    def _cancel(self, payment: dict[str, Any], body: dict[str, Any]) -> Response:
        if payment["status"] not in {"requires_confirmation", "authorized"}:
            return self._error(400, "invalid_request", "payment cannot be canceled")
        payment["status"] = "canceled"
        self._record("payment.canceled", payment)
        return self._json(payment)

    def _refunds(self, payment: dict[str, Any], body: dict[str, Any]) -> Response:
        left = payment["amount"] - payment["amount_refunded"]
        amount = body.get("amount", left)
        if payment["status"] not in {"succeeded", "partially_refunded"} or amount > left:
            return self._error(400, "invalid_request", "cannot refund that")
        payment["amount_refunded"] += amount
        payment["status"] = "refunded" if amount == left else "partially_refunded"
        refund = {
            "id": f"ref_{next(self.ids)}",
            "payment": payment["id"],
            "status": "succeeded",
            "amount": amount,
            "currency": payment["currency"],
            "metadata": payment["metadata"],  # an AcmePay refund carries its payment's
        }
        self._record("refund.succeeded", refund)
        return self._json(refund)

    def _get(self, payment: dict[str, Any], body: dict[str, Any]) -> Response:
        return self._json(payment)

    def _record(self, event_type: str, obj: dict[str, Any]) -> None:
        """Remember the webhook AcmePay sends now: a snapshot of the object as stored."""
        snapshot = json.loads(json.dumps(obj))
        event = {"id": f"evt_{next(self.ids)}", "type": event_type, "created": int(time.time())}
        self.events.append({**event, "data": snapshot})

    def events_about(self, payment_id: str) -> list[dict[str, Any]]:
        """The webhooks sent about payment ``payment_id`` (its own and its refunds'), in order."""
        return [
            event
            for event in self.events
            if payment_id in (event["data"]["id"], event["data"].get("payment"))
        ]

    @staticmethod
    def _json(data: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(data), status, content_type="application/json")

    def _error(self, status: int, error_type: str, message: str) -> Response:
        return self._json({"error": {"type": error_type, "message": message}}, status)


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """An ``Acme-Signature`` header, computed independently of the plugin."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


@dataclass
class AcmePayHarness:
    """What the conformance suite needs: the plugin, the fake, and signed webhooks."""

    plugin: AcmePayPlugin
    fake: FakeAcmePay
    currency: str = "USD"
    payment_method: str = "pm_card_visa"
    scriptable_errors: frozenset[PaymentErrorCode] = frozenset(ERROR_ANSWERS)
    webhook_event_types: frozenset[PaymentEventType] = frozenset(WEBHOOK_TYPES)
    #: Every AcmePay webhook carries its payment's metadata, so no event is exempt.
    events_without_host_ids: frozenset[str] = frozenset()

    def fail_next(self, operation: str, code: PaymentErrorCode) -> None:
        """The next call of ``operation`` gets AcmePay's error answer for ``code``."""
        self.fake.failures[ROUTES[operation]] = code

    def idempotency_keys(self) -> Sequence[str]:
        """``Idempotency-Key`` headers the fake received."""
        return list(self.fake.idempotency_keys)

    def webhook_delivery(
        self,
        event_type: PaymentEventType,
        variant: WebhookVariant,
        *,
        transaction_id: str,
        amount: int,
        currency: str,
        subscription_id: str,
        user_id: str,
    ) -> WebhookDelivery | None:
        """An AcmePay webhook about ``transaction_id``, signed as ``variant`` says."""
        obj: dict[str, Any] = {
            "id": transaction_id,
            "amount": amount,
            "currency": currency.lower(),
            "metadata": {"subscription_id": subscription_id, "user_id": user_id},
        }
        if event_type is PaymentEventType.REFUNDED:
            obj = {**obj, "id": "ref_webhook", "payment": transaction_id}
        event = {
            "id": "evt_1",
            "type": WEBHOOK_TYPES[event_type],
            "created": int(time.time()),
            "data": obj,
        }
        body = json.dumps(event).encode()
        now = int(time.time())
        header = {
            WebhookVariant.VALID: sign(body),
            WebhookVariant.TAMPERED_BODY: sign(body),
            WebhookVariant.WRONG_SECRET: sign(body, secret="acme_whsec_other"),
            WebhookVariant.STALE_TIMESTAMP: sign(body, timestamp=now - 3600),
            WebhookVariant.FUTURE_TIMESTAMP: sign(body, timestamp=now + 3600),
        }[variant]
        if variant is WebhookVariant.TAMPERED_BODY:
            body = body.replace(b'"amount": ', b'"amount": 1')
        return WebhookDelivery({"Acme-Signature": header}, body)

    # -- billing hooks (vbwd_plugins.testing.BillingHarness) ---------------------------

    def payment_webhooks(self, transaction_id: str) -> Sequence[WebhookDelivery] | None:
        """The webhooks the fake sent about ``transaction_id``, signed now.

        Built from the fake's records of what the plugin sent, never from ids the suite
        knows: that is how the suite catches a plugin that drops the host's ids.
        """
        deliveries = []
        for event in self.fake.events_about(transaction_id):
            body = json.dumps(event).encode()
            headers = {"Acme-Signature": sign(body)}
            deliveries.append(WebhookDelivery(headers, body, description=event["type"]))
        return deliveries

    def decline_next_payment(self, code: PaymentErrorCode) -> str | None:
        """The test card AcmePay declines with ``code`` (``None``: it has none for it)."""
        wanted = ERROR_ANSWERS[code][1] if code in ERROR_ANSWERS else None
        return next((card for card, fails in DECLINING_CARDS.items() if fails == wanted), None)


@pytest.fixture
def fake_acmepay(httpserver: HTTPServer) -> FakeAcmePay:
    """The fake AcmePay API, served on 127.0.0.1 by pytest-httpserver."""
    fake = FakeAcmePay()
    httpserver.expect_request(re.compile(r"^/v1/")).respond_with_handler(fake)
    return fake


@pytest.fixture
def payment_provider_harness(httpserver: HTTPServer, fake_acmepay: FakeAcmePay) -> AcmePayHarness:
    """The one fixture the conformance suite needs."""
    plugin = AcmePayPlugin()
    plugin.initialize(
        {
            "api_key": API_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "api_base": httpserver.url_for("/"),
            "timeout": 5,
        }
    )
    return AcmePayHarness(plugin, fake_acmepay)
