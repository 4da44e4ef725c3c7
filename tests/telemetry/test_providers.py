"""Provider API calls are CLIENT spans named by method and URL template, with the provider's
request id and never a secret or a payload; their latency and errors are metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal
from uuid import uuid4

import pytest
import requests
from opentelemetry.trace import SpanKind, StatusCode
from pytest_httpserver import HTTPServer
from vbwd_paypal import PayPalAPIError
from vbwd_paypal._client import PayPalClient, url_template
from vbwd_paypal._config import PayPalConfig
from vbwd_paypal.testing import FakePayPal, error_body
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import FakeStripe

from tests.telemetry.conftest import Recorded

STRIPE_KEY = "sk_test_51TelemetryKeyForTheVbwdSuite000001"
STRIPE_WEBHOOK_SECRET = "whsec_telemetry_secret_0001"
PAYPAL_ID = "AcTelemetryClientId00000000000000000000000000000000000000000000001"
PAYPAL_SECRET = "EKTelemetrySecret000000000000000000000000000000000000000000000001"


@pytest.fixture
def stripe_plugin() -> Iterator[tuple[StripePlugin, FakeStripe]]:
    """A Stripe plugin against a fake Stripe on 127.0.0.1."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake = FakeStripe(server, STRIPE_KEY).install()
    plugin = StripePlugin()
    plugin.initialize(
        {
            "api_key": STRIPE_KEY,
            "webhook_secret": STRIPE_WEBHOOK_SECRET,
            "api_base": fake.url,
            "max_network_retries": 0,
            "timeout": 5.0,
        }
    )
    try:
        yield plugin, fake
    finally:
        fake.release()
        server.stop()


def test_a_stripe_call_is_a_client_span_with_stripes_request_id(
    recorded: Recorded, stripe_plugin: tuple[StripePlugin, FakeStripe]
) -> None:
    """The span is named ``POST /v1/payment_intents``, carries the HTTP status and Stripe's
    ``Request-Id``, and none of the key, the amount or the metadata."""
    plugin, _ = stripe_plugin
    result = plugin.create_payment_intent(Decimal("29.00"), "EUR", uuid4(), uuid4())
    assert result.success
    (span,) = recorded.named("POST /v1/payment_intents")
    attributes = dict(span.attributes or {})
    assert span.kind is SpanKind.CLIENT
    assert attributes["vbwd.provider"] == "stripe"
    assert attributes["url.template"] == "/v1/payment_intents"
    assert attributes["http.response.status_code"] == 200
    assert str(attributes["vbwd.provider.request_id"]).startswith("req_")
    assert attributes["vbwd.provider.request_id"] == result.metadata["request_id"]
    assert STRIPE_KEY not in repr(attributes) and "2900" not in repr(attributes)
    durations = recorded.points("vbwd.provider.call.duration")
    assert (
        {"provider": "stripe", "operation": "POST /v1/payment_intents", "outcome": "ok"},
        1,
    ) in durations


def test_a_declined_stripe_call_is_counted_by_its_standard_error_code(
    recorded: Recorded, stripe_plugin: tuple[StripePlugin, FakeStripe]
) -> None:
    """A card error fails the span with ``error.type`` = the standard code, and counts one
    error of that code for the operation."""
    plugin, fake = stripe_plugin
    intent = plugin.create_payment_intent(Decimal("10.00"), "EUR", uuid4(), uuid4())
    fake.script(fake.fail(402, "card_error", "Your card was declined.", code="card_declined"))
    result = plugin.process_payment(intent.transaction_id or "", "pm_card_visa")
    assert not result.success
    (span,) = recorded.named("POST /v1/payment_intents/{intent}/confirm")
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "declined"
    assert attributes["http.response.status_code"] == 402
    assert "Your card was declined" not in repr((attributes, span.status.description))
    errors = recorded.points("vbwd.provider.call.errors")
    operation = "POST /v1/payment_intents/{intent}/confirm"
    assert errors == [({"provider": "stripe", "operation": operation, "code": "declined"}, 1)]


@pytest.fixture
def paypal() -> Iterator[tuple[PayPalClient, FakePayPal]]:
    """A PayPal client against a fake PayPal on 127.0.0.1 (no retries)."""
    fake = FakePayPal(PAYPAL_ID, PAYPAL_SECRET)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(fake)
    server.start()
    fake.base_url = server.url_for("/").rstrip("/")
    config = PayPalConfig(
        client_id=PAYPAL_ID,
        client_secret=PAYPAL_SECRET,  # type: ignore[arg-type]
        api_base=fake.base_url,
        max_retries=0,
    )
    session = requests.Session()
    try:
        yield PayPalClient(config, session, clock=time.monotonic), fake
    finally:
        session.close()
        server.stop()


def test_paypal_calls_are_spans_with_paypals_debug_id_and_templated_paths(
    recorded: Recorded, paypal: tuple[PayPalClient, FakePayPal]
) -> None:
    """The token call and an API call are CLIENT spans; a refused capture carries PayPal's
    debug id and the standard error code, and the order id never appears in a name."""
    client, fake = paypal
    order_id = "5O190127TN364715T"
    body = error_body("UNPROCESSABLE_ENTITY", "declined", "INSTRUMENT_DECLINED")
    fake.script("POST", f"/v2/checkout/orders/{order_id}/capture", 422, body)
    with pytest.raises(PayPalAPIError):
        client.call("POST", f"/v2/checkout/orders/{order_id}/capture", request_id="r-1")
    (token,) = recorded.named("POST /v1/oauth2/token")
    assert dict(token.attributes or {})["http.response.status_code"] == 200
    (capture,) = recorded.named("POST /v2/checkout/orders/{id}/capture")
    attributes = dict(capture.attributes or {})
    assert capture.kind is SpanKind.CLIENT and capture.status.status_code is StatusCode.ERROR
    assert attributes["vbwd.provider"] == "paypal"
    assert attributes["vbwd.provider.request_id"] == body["debug_id"]
    assert attributes["http.response.status_code"] == 422
    assert attributes["error.type"] == "declined"
    text = repr([(s.name, dict(s.attributes or {})) for s in recorded.spans()])
    assert order_id not in text and PAYPAL_SECRET not in text


def test_paypal_url_templates_replace_resource_ids() -> None:
    """Ids after a collection become ``{id}``; the query is dropped."""
    assert url_template("/v2/checkout/orders") == "/v2/checkout/orders"
    assert url_template("/v2/payments/captures/2GG27/refund?x=1") == (
        "/v2/payments/captures/{id}/refund"
    )
