"""The example host served over real HTTP on 127.0.0.1, with the providers' own fake servers.

The fakes and webhook signers come from the providers' testing kits, as in any host's tests:
``vbwd_stripe.testing`` and ``vbwd_paypal.testing`` (``pip install 'vbwd-stripe[testing]'
'vbwd-paypal[testing]'``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from vbwd_paypal.testing import FakePayPal, TestPKI, WebhookSigner, make_event
from vbwd_stripe.testing import FakeStripe, sign_payload
from werkzeug.serving import make_server

from vbwd_plugins import (
    PluginManager,
    SQLiteStateStore,
)
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.stores import PostgresStateStore, StateStore
from vbwd_plugins.testing import WebhookDelivery

try:
    import subscriptions_example
except ImportError:  # not installed: run from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import subscriptions_example

ADMIN_TOKEN = "example-admin-token"
STRIPE_KEY = "sk_test_51ExampleHostKey000000000000000001"
STRIPE_WEBHOOK_SECRET = "whsec_example_host_secret_0001"
PAYPAL_CLIENT_ID = "AcExampleHostClient000000000000000000000000000000000000000000000001"
PAYPAL_SECRET = "EKExampleHostSecret00000000000000000000000000000000000000000000001"
PAYPAL_CERT = "CERT-example-host-0001"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own VBWD_* variables out of these tests."""
    for name in list(os.environ):
        if name.startswith("VBWD_") and name != "VBWD_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)


# -- the host ------------------------------------------------------------------------------


@dataclass
class Host:
    """The running example app and handles on its state."""

    base: str
    manager: PluginManager
    db: subscriptions_example.SubscriptionDB

    def api(self, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
        """Call the host's API."""
        return requests.request(
            method, f"{self.base}/api/v1{path}", json=body, headers=headers, timeout=20
        )

    def admin(self, method: str, path: str, body: Any = None) -> requests.Response:
        """Call the plugin admin API with the operator's token."""
        return self.api(
            method, f"/admin/plugins{path}", body, Authorization=f"Bearer {ADMIN_TOKEN}"
        )

    def configure(self, provider: str, config: dict[str, Any]) -> None:
        """What an operator does: store the provider's configuration, then enable it."""
        saved = self.admin("PUT", f"/{provider}/config", config)
        assert saved.status_code == 200, saved.text
        enabled = self.admin("POST", f"/{provider}/enable", {})
        assert enabled.status_code == 200, enabled.text

    def webhook(self, provider: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        """Deliver a webhook as the provider would."""
        return requests.post(
            f"{self.base}/api/v1/webhooks/{provider}", data=body, headers=headers, timeout=20
        )

    def deliver(self, provider: str, deliveries: list[WebhookDelivery]) -> list[str]:
        """Deliver each webhook, in order, as the provider would; the pipeline's answers."""
        statuses = []
        for delivery in deliveries:
            answer = self.webhook(provider, delivery.body, dict(delivery.headers))
            assert answer.status_code == 200, (delivery.description, answer.text)
            statuses.append(answer.json()["status"])
        return statuses

    def payments(self, subscription_id: str) -> dict[str, Any]:
        """The subscription's payments, refunds and disputes as the API shows them."""
        response = self.api("GET", f"/subscriptions/{subscription_id}/payments")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as the API shows it."""
        response = self.api("GET", f"/subscriptions/{subscription_id}")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(params=["sqlite", "postgres"])
def plugin_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """The plugin store (config, webhook inbox, deliveries), once per implementation.

    PostgreSQL needs ``VBWD_TEST_POSTGRES_DSN`` (skipped, with that reason, without it) and
    gets a schema of its own, dropped afterwards.
    """
    if request.param == "sqlite":
        store: StateStore = SQLiteStateStore(tmp_path / "plugins.sqlite3")
        yield store
        store.close()
        return
    dsn = os.environ.get("VBWD_TEST_POSTGRES_DSN", "").strip()
    if not dsn:
        pytest.skip("the PostgreSQL plugin store needs VBWD_TEST_POSTGRES_DSN (CI sets it)")
    import psycopg
    from psycopg import sql

    schema = f"vbwd_example_{uuid.uuid4().hex[:12]}"
    store = PostgresStateStore(dsn, schema=schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def host(tmp_path: Path, plugin_store: StateStore) -> Iterator[Host]:
    """The example app on a werkzeug server in a thread, with fresh databases."""
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    manager = PluginManager(store=plugin_store, secret_box=box, allow={"stripe", "paypal"})
    manager.start()
    app = subscriptions_example.create_app(
        manager, database=tmp_path / "subscriptions.sqlite3", admin_token=ADMIN_TOKEN
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    service = app.extensions["subscriptions"]
    try:
        yield Host(f"http://127.0.0.1:{server.port}", manager, service.db)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


# -- Stripe --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _stripe_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stripe(_stripe_server: HTTPServer) -> Iterator[FakeStripe]:
    """A fresh fake Stripe account on 127.0.0.1."""
    _stripe_server.clear()
    fake = FakeStripe(_stripe_server, STRIPE_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET).install()
    yield fake
    fake.release()
    _stripe_server.clear()


@pytest.fixture
def stripe_host(host: Host, stripe: FakeStripe) -> Host:
    """The host with the stripe plugin configured (through the admin API) and enabled."""
    host.configure(
        "stripe",
        {
            "api_key": STRIPE_KEY,
            "webhook_secret": STRIPE_WEBHOOK_SECRET,
            "api_base": stripe.url,
            "max_network_retries": 0,
            "timeout": 10,
        },
    )
    return host


StripeDelivery = Callable[[dict[str, Any]], tuple[bytes, dict[str, str]]]


@pytest.fixture
def stripe_delivery() -> StripeDelivery:
    """``stripe_delivery(event) -> (body, headers)``: the event signed as Stripe signs it."""

    def deliver(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event).encode()
        signature = sign_payload(body, STRIPE_WEBHOOK_SECRET)
        return body, {"Stripe-Signature": signature, "Content-Type": "application/json"}

    return deliver


# -- PayPal --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A throw-away PKI: the certificate PayPal's webhooks are signed with, and its key."""
    return TestPKI.create(tmp_path_factory.mktemp("example-pki"))


@pytest.fixture(scope="module")
def _paypal_server() -> Iterator[tuple[HTTPServer, FakePayPal]]:
    fake = FakePayPal(PAYPAL_CLIENT_ID, PAYPAL_SECRET)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(fake)
    server.start()
    fake.base_url = server.url_for("/").rstrip("/")
    yield server, fake
    server.stop()


@pytest.fixture
def paypal(_paypal_server: tuple[HTTPServer, FakePayPal], pki: TestPKI) -> FakePayPal:
    """A fresh fake PayPal serving the webhook signing certificate."""
    _, fake = _paypal_server
    fake.reset()
    fake.serve_certificate(PAYPAL_CERT, pki.signing.pem)
    return fake


@pytest.fixture
def paypal_host(host: Host, paypal: FakePayPal) -> Host:
    """The host with the paypal plugin configured (signatures checked by PayPal) and enabled."""
    host.configure(
        "paypal",
        {
            "client_id": PAYPAL_CLIENT_ID,
            "client_secret": PAYPAL_SECRET,
            "webhook_id": paypal.webhook_id,
            "mode": "sandbox",
            "api_base": paypal.base_url,
            "webhook_verification": "remote",
            "max_retries": 0,
            "timeout": 10,
        },
    )
    return host


PayPalSigner = Callable[[bytes], dict[str, str]]


@pytest.fixture
def paypal_signer(paypal: FakePayPal, pki: TestPKI) -> PayPalSigner:
    """Sign a webhook body as PayPal does; the fake's verification endpoint will know it."""
    cert_url = f"https://api.sandbox.paypal.com/v1/notifications/certs/{PAYPAL_CERT}"
    return WebhookSigner(paypal, pki, cert_url).headers


@pytest.fixture
def paypal_event() -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """``paypal_event(event_type, capture) -> envelope``: a PayPal webhook event."""
    return make_event
