"""Fixtures: the kit's fake PayPal (``vbwd_paypal.testing``) on 127.0.0.1 (HTTP API + TLS
certificate host), configured plugins, a test PKI and a webhook signer, plus the conformance
suite's harness."""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from vbwd_paypal import PAYPAL_CURRENCY_RULES, PayPalPlugin
from vbwd_paypal.testing import (
    CERT_HOSTS,
    FakePayPal,
    LoopbackTLSAdapter,
    NoNetworkAdapter,
    TestPKI,
    WebhookSigner,
    error_body,
    make_event,
    new_id,
    paypal_time,
)

from vbwd_plugins import (
    Money,
    PaymentErrorCode,
    PaymentEventType,
    PluginManager,
)
from vbwd_plugins.testing import RecordingDispatcher, WebhookDelivery, WebhookVariant

CLIENT_ID = "AcVbwdTestClientId000000000000000000000000000000000000000000000001"
CLIENT_SECRET = "EKvbwdTestSecret00000000000000000000000000000000000000000000000001"
CERT_NAME = "CERT-360caa42-fca2a594-a5cafa77"
SANDBOX_CERT_HOST = "api.sandbox.paypal.com"


class FakeClock:
    """Monotonic seconds and wall-clock time that tests can move forward (or stop)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen: datetime | None = None

    def monotonic(self) -> float:
        """``time.monotonic()`` plus the offset."""
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        """The current UTC time (or the frozen one) plus the offset."""
        base = self.frozen if self.frozen is not None else datetime.now(UTC)
        return base + timedelta(seconds=self.offset)

    def freeze(self, at: datetime) -> None:
        """Stop the wall clock at ``at`` (exact boundaries without racing real time)."""
        self.frozen, self.offset = at, 0.0

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self.offset += seconds


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """Root, intermediate, signing leaves (valid, no SAN, expired, self-signed), TLS cert."""
    return TestPKI.create(tmp_path_factory.mktemp("pki"))


@dataclass
class FakeServers:
    """The fake's state and the two servers in front of it."""

    fake: FakePayPal
    api: HTTPServer
    certs: HTTPServer

    @property
    def api_base(self) -> str:
        """Base URL of the plain-HTTP API server."""
        return self.api.url_for("/").rstrip("/")


def _serve(handler: Callable[..., Any], ssl_context: ssl.SSLContext | None = None) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=ssl_context, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(handler)
    server.start()
    return server


@pytest.fixture(scope="session")
def fake_servers(pki: TestPKI) -> Iterator[FakeServers]:
    """The fake PayPal's servers: API over HTTP, certificate host over TLS (test CA)."""
    fake = FakePayPal(CLIENT_ID, CLIENT_SECRET)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.tls_cert_file, pki.tls_key_file)
    api = _serve(fake)
    certs = _serve(fake, context)
    fake.base_url = api.url_for("/").rstrip("/")
    try:
        yield FakeServers(fake, api, certs)
    finally:
        api.stop()
        certs.stop()


@pytest.fixture
def servers(fake_servers: FakeServers, pki: TestPKI) -> FakeServers:
    """The fake servers with the fake's state reset for this test."""
    fake_servers.fake.reset()
    fake_servers.fake.serve_certificate(CERT_NAME, pki.signing.pem)
    return fake_servers


@pytest.fixture
def fake(servers: FakeServers) -> FakePayPal:
    """The fake PayPal's state (fresh for each test)."""
    return servers.fake


@pytest.fixture
def clock() -> FakeClock:
    """A controllable clock for tokens and webhook times."""
    return FakeClock()


# -- webhooks ------------------------------------------------------------------------------


@pytest.fixture
def signer(fake: FakePayPal, pki: TestPKI) -> WebhookSigner:
    """Signs with the valid test leaf served at the sandbox certificate URL."""
    return WebhookSigner(
        fake, pki, f"https://{SANDBOX_CERT_HOST}/v1/notifications/certs/{CERT_NAME}"
    )


def paypal_amount(units: int, currency: str) -> dict[str, str]:
    """PayPal's ``amount`` object for ``units`` ISO minor units."""
    value = Money.from_minor_units(units, currency).to_decimal_string(PAYPAL_CURRENCY_RULES)
    return {"currency_code": currency, "value": value}


def custom_id(subscription_id: str, user_id: str) -> str:
    """The ``custom_id`` the plugin writes."""
    return f"{subscription_id},{user_id}"


def capture_resource(
    capture_id: str,
    units: int,
    currency: str,
    *,
    status: str = "COMPLETED",
    custom: str | None = None,
    order_id: str = "5O190127TN364715T",
) -> dict[str, Any]:
    """A Payments v2 capture as webhooks carry it."""
    resource: dict[str, Any] = {
        "id": capture_id,
        "status": status,
        "amount": paypal_amount(units, currency),
        "final_capture": True,
        "supplementary_data": {"related_ids": {"order_id": order_id}},
        "create_time": paypal_time(datetime.now(UTC)),
        "update_time": paypal_time(datetime.now(UTC)),
        "links": [],
    }
    if custom is not None:
        resource["custom_id"] = custom
    if status == "DECLINED":
        resource["status_details"] = {"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"}
    return resource


def refund_resource(
    refund_id: str, capture_id: str, units: int, currency: str, *, custom: str | None = None
) -> dict[str, Any]:
    """A Payments v2 refund as ``PAYMENT.CAPTURE.REFUNDED`` carries it."""
    resource: dict[str, Any] = {
        "id": refund_id,
        "status": "COMPLETED",
        "amount": paypal_amount(units, currency),
        "seller_payable_breakdown": {
            "gross_amount": paypal_amount(units, currency),
            "total_refunded_amount": paypal_amount(units * 3, currency),
        },
        "create_time": paypal_time(datetime.now(UTC)),
        "update_time": paypal_time(datetime.now(UTC)),
        "links": [
            {"href": f"https://api.paypal.com/v2/payments/refunds/{refund_id}", "rel": "self"},
            {"href": f"https://api.paypal.com/v2/payments/captures/{capture_id}", "rel": "up"},
        ],
    }
    if custom is not None:
        resource["custom_id"] = custom
    return resource


# -- plugins -------------------------------------------------------------------------------


@dataclass
class Rig:
    """A configured plugin wired to the fake, and what tests inspect."""

    plugin: PayPalPlugin
    manager: PluginManager
    dispatcher: RecordingDispatcher
    fake: FakePayPal
    guard: NoNetworkAdapter
    tls: LoopbackTLSAdapter
    config: dict[str, Any] = field(default_factory=dict)


def base_config(servers: FakeServers, pki: TestPKI, **overrides: Any) -> dict[str, Any]:
    """Configuration pointing the plugin at the fake."""
    config: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "webhook_id": servers.fake.webhook_id,
        "mode": "sandbox",
        "api_base": servers.api_base,
        "timeout": 2.0,
        "connect_timeout": 2.0,
        "max_retries": 2,
        "retry_backoff": 0.0,
        "ca_bundle": str(pki.ca_file),
    }
    config.update(overrides)
    return config


def wire_session(
    servers: FakeServers, pki: TestPKI
) -> tuple[requests.Session, NoNetworkAdapter, LoopbackTLSAdapter]:
    """A session whose PayPal certificate hosts lead to the fake and nothing else leaves."""
    session = requests.Session()
    guard = NoNetworkAdapter()
    session.mount("http://", guard)
    session.mount("https://", guard)
    tls = LoopbackTLSAdapter(servers.certs.port, str(pki.ca_file))
    for host in CERT_HOSTS:
        session.mount(f"https://{host}/v1/notifications/certs/", tls)
    return session, guard, tls


@pytest.fixture
def make_rig(servers: FakeServers, pki: TestPKI, clock: FakeClock) -> Iterator[Callable[..., Rig]]:
    """Build a plugin registered, initialized and enabled through a PluginManager."""

    sessions: list[requests.Session] = []

    def build(**overrides: Any) -> Rig:
        session, guard, tls = wire_session(servers, pki)
        sessions.append(session)
        plugin = PayPalPlugin(session=session, clock=clock.monotonic, now=clock.now)
        dispatcher = RecordingDispatcher()
        manager = PluginManager(event_dispatcher=dispatcher)
        manager.register_plugin(plugin)
        config = base_config(servers, pki, **overrides)
        manager.initialize_plugin("paypal", config)
        manager.enable_plugin("paypal")
        dispatcher.clear()
        return Rig(plugin, manager, dispatcher, servers.fake, guard, tls, config)

    yield build
    for session in sessions:
        session.close()


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    """The default rig (offline webhook verification)."""
    return make_rig()


# -- the conformance harness ---------------------------------------------------------------

_SCRIPTED: dict[PaymentErrorCode, tuple[int | None, Any, float]] = {
    PaymentErrorCode.DECLINED: (
        422,
        error_body("UNPROCESSABLE_ENTITY", "Declined.", "INSTRUMENT_DECLINED"),
        0.0,
    ),
    PaymentErrorCode.PAYER_ACTION_REQUIRED: (
        422,
        error_body("UNPROCESSABLE_ENTITY", "Payer action.", "PAYER_ACTION_REQUIRED"),
        0.0,
    ),
    PaymentErrorCode.AUTHENTICATION_FAILED: (
        401,
        error_body("AUTHENTICATION_FAILURE", "Authentication failed due to invalid credentials."),
        0.0,
    ),
    PaymentErrorCode.PERMISSION_DENIED: (
        403,
        error_body("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
        0.0,
    ),
    PaymentErrorCode.RATE_LIMITED: (
        429,
        error_body("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
        0.0,
    ),
    PaymentErrorCode.PROVIDER_UNAVAILABLE: (
        503,
        error_body("SERVICE_UNAVAILABLE", "Service Unavailable."),
        0.0,
    ),
    PaymentErrorCode.TIMEOUT: (None, None, 2.5),
    PaymentErrorCode.INVALID_REQUEST: (
        400,
        error_body("INVALID_REQUEST", "Request is not well-formed.", "INVALID_PARAMETER_VALUE"),
        0.0,
    ),
    PaymentErrorCode.NOT_FOUND: (
        404,
        error_body(
            "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID"
        ),
        0.0,
    ),
    PaymentErrorCode.IDEMPOTENCY_CONFLICT: (
        422,
        error_body("UNPROCESSABLE_ENTITY", "Reused.", "PAYPAL_REQUEST_ID_PREVIOUSLY_USED"),
        0.0,
    ),
    PaymentErrorCode.PROVIDER_ERROR: (200, "<html>maintenance</html>", 0.0),
}

_OPERATION_PATHS = {
    "create_payment_intent": r"/v2/checkout/orders",
    "process_payment": r"/v2/checkout/orders/\w+/(capture|authorize)",
}

_EVENTS: dict[PaymentEventType, tuple[str, str]] = {
    PaymentEventType.COMPLETED: ("PAYMENT.CAPTURE.COMPLETED", "COMPLETED"),
    PaymentEventType.PENDING: ("PAYMENT.CAPTURE.PENDING", "PENDING"),
    PaymentEventType.FAILED: ("PAYMENT.CAPTURE.DECLINED", "DECLINED"),
    PaymentEventType.REFUNDED: ("PAYMENT.CAPTURE.REFUNDED", "COMPLETED"),
    PaymentEventType.AUTHORIZED: ("PAYMENT.AUTHORIZATION.CREATED", "CREATED"),
    PaymentEventType.CANCELLED: ("PAYMENT.AUTHORIZATION.VOIDED", "VOIDED"),
}


@dataclass
class PayPalHarness:
    """What the conformance suite needs: the plugin, scripted errors and signed webhooks."""

    plugin: PayPalPlugin
    fake: FakePayPal
    signer: WebhookSigner
    currency: str = "USD"
    payment_method: str = "paypal"
    scriptable_errors: frozenset[PaymentErrorCode] = frozenset(_SCRIPTED)
    webhook_event_types: frozenset[PaymentEventType] = frozenset(_EVENTS)

    def fail_next(self, operation: str, code: PaymentErrorCode) -> None:
        """Answer the next call of ``operation`` (and its retries) with PayPal's error."""
        status, body, delay = _SCRIPTED[code]
        self.fake.script(
            "POST", _OPERATION_PATHS[operation], status, body, delay=delay, per_operation=True
        )

    def idempotency_keys(self) -> Sequence[str]:
        """``PayPal-Request-Id`` values the fake has received."""
        return self.fake.request_ids()

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
        """A PayPal-signed delivery for ``event_type``."""
        paypal_type, status = _EVENTS[event_type]
        custom = custom_id(subscription_id, user_id)
        if event_type is PaymentEventType.REFUNDED:
            resource = refund_resource(new_id(), transaction_id, amount, currency, custom=custom)
            resource_type = "refund"
        else:
            resource = capture_resource(
                transaction_id, amount, currency, status=status, custom=custom
            )
            resource_type = "authorization" if "AUTHORIZATION" in paypal_type else "capture"
        body = json.dumps(make_event(paypal_type, resource, resource_type=resource_type)).encode()
        now = datetime.now(UTC)
        tolerance = timedelta(seconds=self.plugin.settings.transmission_tolerance + 600)
        if variant is WebhookVariant.VALID:
            return WebhookDelivery(self.signer.headers(body), body, paypal_type)
        if variant is WebhookVariant.TAMPERED_BODY:
            headers = self.signer.headers(body)
            tampered = body.replace(b'"value": "', b'"value": "9', 1)
            assert tampered != body
            return WebhookDelivery(headers, tampered, f"{paypal_type}, amount changed")
        if variant is WebhookVariant.WRONG_SECRET:
            headers = self.signer.headers(body, webhook_id="WH-ANOTHER-APP-0000000000000")
            return WebhookDelivery(headers, body, f"{paypal_type}, other webhook id")
        if variant is WebhookVariant.STALE_TIMESTAMP:
            return WebhookDelivery(self.signer.headers(body, sent_at=now - tolerance), body)
        if variant is WebhookVariant.FUTURE_TIMESTAMP:
            return WebhookDelivery(self.signer.headers(body, sent_at=now + tolerance), body)
        return None


@pytest.fixture(params=["offline", "remote"])
def payment_provider_harness(
    request: pytest.FixtureRequest, servers: FakeServers, pki: TestPKI, signer: WebhookSigner
) -> Iterator[PayPalHarness]:
    """The plugin against the fake, auto-approving orders as a payer would."""
    session, _, _ = wire_session(servers, pki)
    plugin = PayPalPlugin(session=session)
    plugin.initialize(
        base_config(
            servers,
            pki,
            timeout=1.0,
            max_retries=1,
            webhook_verification=request.param,
        )
    )
    servers.fake.auto_approve = True
    yield PayPalHarness(plugin, servers.fake, signer)
    session.close()


def write_pem(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path
