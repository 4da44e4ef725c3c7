"""Fixtures: fake Stripe servers on 127.0.0.1 (``vbwd_stripe.testing``), configured plugins."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import FakeStripe, Scripted, make_event, sign_payload

from vbwd_plugins import (
    Money,
    PaymentErrorCode,
    PaymentEventType,
)
from vbwd_plugins.testing import WebhookDelivery, WebhookVariant

from ._billing_harness import StripeBillingHooks

TEST_KEY = "sk_test_51FakeKeyForTheVbwdStripeSuite0001"
LIVE_KEY = "sk_live_51FakeKeyForTheVbwdStripeSuite0002"
WEBHOOK_SECRET = "whsec_test_secret_for_the_vbwd_suite_0001"
OLD_WEBHOOK_SECRET = "whsec_test_previous_secret_0000"


def config_for(fake: FakeStripe, **overrides: Any) -> dict[str, Any]:
    """A plugin configuration pointing at ``fake``."""
    config: dict[str, Any] = {
        "api_key": fake.api_key,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": fake.url,
        "max_network_retries": 2,
        "timeout": 5.0,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def _servers() -> Iterator[list[HTTPServer]]:
    """Started servers, reused across tests (stopping one costs half a second)."""
    pool: list[HTTPServer] = []
    yield pool
    for server in pool:
        server.stop()


@pytest.fixture
def make_fake(_servers: list[HTTPServer]) -> Iterator[Callable[..., FakeStripe]]:
    """Fresh fake Stripe accounts on 127.0.0.1 (threaded: a slow answer blocks nobody)."""
    started: list[FakeStripe] = []

    def factory(api_key: str = TEST_KEY, *, livemode: bool = False) -> FakeStripe:
        if len(started) == len(_servers):
            server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
            server.start()
            _servers.append(server)
        server = _servers[len(started)]
        server.clear()
        fake = FakeStripe(server, api_key, livemode=livemode).install()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        fake.release()
        fake.server.clear()


@pytest.fixture
def fake(make_fake: Callable[..., FakeStripe]) -> FakeStripe:
    """One fake Stripe account in test mode."""
    return make_fake()


@pytest.fixture
def make_plugin() -> Callable[..., StripePlugin]:
    """Build initialized plugins against a fake."""

    def factory(fake: FakeStripe, **overrides: Any) -> StripePlugin:
        plugin = StripePlugin()
        plugin.initialize(config_for(fake, **overrides))
        return plugin

    return factory


@pytest.fixture
def plugin(fake: FakeStripe, make_plugin: Callable[..., StripePlugin]) -> StripePlugin:
    """A plugin initialized against :func:`fake`."""
    return make_plugin(fake)


# -- the conformance harness --------------------------------------------------------------

#: What the fake answers for each standard error code (status, error body, extra headers).
_SCRIPTED: dict[PaymentErrorCode, tuple[int, dict[str, Any], dict[str, str]]] = {
    PaymentErrorCode.DECLINED: (
        402,
        {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"},
        {},
    ),
    PaymentErrorCode.INSUFFICIENT_FUNDS: (
        402,
        {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"},
        {},
    ),
    PaymentErrorCode.PAYER_ACTION_REQUIRED: (
        402,
        {
            "type": "card_error",
            "code": "authentication_required",
            "decline_code": "authentication_required",
        },
        {},
    ),
    PaymentErrorCode.AUTHENTICATION_FAILED: (401, {"type": "invalid_request_error"}, {}),
    PaymentErrorCode.PERMISSION_DENIED: (403, {"type": "invalid_request_error"}, {}),
    PaymentErrorCode.RATE_LIMITED: (
        429,
        {"type": "invalid_request_error", "code": "rate_limit"},
        {},
    ),
    # Stripe says not to retry a 500 it has already saved under the idempotency key.
    PaymentErrorCode.PROVIDER_UNAVAILABLE: (
        500,
        {"type": "api_error"},
        {"Stripe-Should-Retry": "false"},
    ),
    PaymentErrorCode.INVALID_REQUEST: (
        400,
        {"type": "invalid_request_error", "code": "parameter_invalid_integer", "param": "amount"},
        {},
    ),
    PaymentErrorCode.NOT_FOUND: (
        404,
        {"type": "invalid_request_error", "code": "resource_missing", "param": "id"},
        {},
    ),
    PaymentErrorCode.IDEMPOTENCY_CONFLICT: (400, {"type": "idempotency_error"}, {}),
}

#: Standard event -> the Stripe event type the harness sends for it.
_WEBHOOK_TYPES: dict[PaymentEventType, str] = {
    PaymentEventType.COMPLETED: "payment_intent.succeeded",
    PaymentEventType.FAILED: "payment_intent.payment_failed",
    PaymentEventType.CANCELLED: "payment_intent.canceled",
    PaymentEventType.AUTHORIZED: "payment_intent.amount_capturable_updated",
    PaymentEventType.PENDING: "payment_intent.processing",
    PaymentEventType.REFUNDED: "refund.created",
}


class StripeHarness(StripeBillingHooks):
    """The conformance suite's view of the plugin and its fake server (billing hooks mixed in)."""

    currency = "USD"
    payment_method = "pm_card_visa"
    scriptable_errors = frozenset(
        {*_SCRIPTED, PaymentErrorCode.TIMEOUT, PaymentErrorCode.PROVIDER_ERROR}
    )
    webhook_event_types = frozenset(_WEBHOOK_TYPES)
    retries = 1
    timeout = 1.0

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        fake.webhook_secret = WEBHOOK_SECRET  # the fake's controls sign as the plugin checks
        self.plugin = StripePlugin()
        self.plugin.initialize(
            config_for(fake, max_network_retries=self.retries, timeout=self.timeout)
        )

    def fail_next(self, operation: str, code: PaymentErrorCode) -> None:
        """Script the next request (and the SDK's retries of it, where it retries)."""
        if code is PaymentErrorCode.TIMEOUT:
            # A read timeout is retried by the SDK: every attempt must time out.
            self.fake.script(*[Scripted(delay=self.timeout * 4)] * (self.retries + 1))
            return
        if code is PaymentErrorCode.PROVIDER_ERROR:
            # A 200 whose body is not JSON (an HTML error page from a proxy).
            self.fake.script(Scripted(status=200, raw_body=b"<html>Bad gateway</html>"))
            return
        status, error, headers = _SCRIPTED[code]
        error = {"message": f"Scripted {code.value} for {operation}", **error}
        self.fake.script(Scripted(status=status, error=error, headers=headers))

    def idempotency_keys(self) -> Sequence[str]:
        """Idempotency keys the fake server saw, in order."""
        return [r.idempotency_key for r in self.fake.requests if r.idempotency_key]

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
        """A Stripe delivery for ``event_type``, signed as ``variant`` says."""
        from vbwd_stripe._currency import stripe_units

        units = stripe_units(Money.from_minor_units(amount, currency))
        metadata = {"subscription_id": subscription_id, "user_id": user_id}
        stripe_type = _WEBHOOK_TYPES[event_type]
        obj: dict[str, Any]
        if event_type is PaymentEventType.REFUNDED:
            obj = {
                "id": "re_conformance",
                "object": "refund",
                "amount": units,
                "currency": currency.lower(),
                "payment_intent": transaction_id,
                "status": "succeeded",
                "metadata": metadata,
            }
        else:
            obj = {
                "id": transaction_id,
                "object": "payment_intent",
                "amount": units,
                "amount_capturable": units if event_type is PaymentEventType.AUTHORIZED else 0,
                "amount_received": units if event_type is PaymentEventType.COMPLETED else 0,
                "currency": currency.lower(),
                "metadata": metadata,
                "status": {
                    PaymentEventType.COMPLETED: "succeeded",
                    PaymentEventType.FAILED: "requires_payment_method",
                    PaymentEventType.CANCELLED: "canceled",
                    PaymentEventType.AUTHORIZED: "requires_capture",
                    PaymentEventType.PENDING: "processing",
                }[event_type],
                "last_payment_error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                }
                if event_type is PaymentEventType.FAILED
                else None,
            }
        body = json.dumps(make_event(stripe_type, obj, event_id=f"evt_{transaction_id}")).encode()
        now = int(time.time())
        tolerance = self.plugin.settings.webhook_tolerance
        if variant is WebhookVariant.VALID:
            header = sign_payload(body, WEBHOOK_SECRET, now)
        elif variant is WebhookVariant.TAMPERED_BODY:
            header = sign_payload(body, WEBHOOK_SECRET, now)
            body = body.replace(f'"amount": {units}'.encode(), f'"amount": {units + 1}'.encode())
        elif variant is WebhookVariant.WRONG_SECRET:
            header = sign_payload(body, "whsec_someone_elses_secret", now)
        elif variant is WebhookVariant.STALE_TIMESTAMP:
            header = sign_payload(body, WEBHOOK_SECRET, now - tolerance - 60)
        else:
            header = sign_payload(body, WEBHOOK_SECRET, now + tolerance + 60)
        return WebhookDelivery({"Stripe-Signature": header}, body, description=stripe_type)


@pytest.fixture
def payment_provider_harness(fake: FakeStripe) -> StripeHarness:
    """The plugin against a fresh fake server, for the core's conformance suite."""
    return StripeHarness(fake)
