"""The example host served over real HTTP on 127.0.0.1, with the providers' own fake servers.

The fakes are the providers' test fakes, imported by path (they are not packages):
``plugins/vbwd-stripe/tests/_fake_stripe.py`` and ``plugins/vbwd-paypal/tests/_fake_paypal.py``
(with its test PKI for signing PayPal webhooks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import re
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server

from vbwd_plugins import (
    PluginManager,
    SQLiteStateStore,
)
from vbwd_plugins.config import FernetSecretBox

try:
    import subscriptions_example
except ImportError:  # not installed: run from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import subscriptions_example

REPO = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "example-admin-token"
STRIPE_KEY = "sk_test_51ExampleHostKey000000000000000001"
STRIPE_WEBHOOK_SECRET = "whsec_example_host_secret_0001"
PAYPAL_CLIENT_ID = "AcExampleHostClient000000000000000000000000000000000000000000000001"
PAYPAL_SECRET = "EKExampleHostSecret00000000000000000000000000000000000000000000001"
PAYPAL_CERT = "CERT-example-host-0001"


def _load(name: str, relative: str) -> ModuleType:
    """Import a file of another distribution's tests under a unique module name."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fake_stripe = _load(
    "subscriptions_example_fake_stripe", "plugins/vbwd-stripe/tests/_fake_stripe.py"
)
fake_paypal = _load(
    "subscriptions_example_fake_paypal", "plugins/vbwd-paypal/tests/_fake_paypal.py"
)
test_pki = _load("subscriptions_example_pki", "plugins/vbwd-paypal/tests/_pki.py")


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

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as the API shows it."""
        response = self.api("GET", f"/subscriptions/{subscription_id}")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """The example app on a werkzeug server in a thread, with fresh databases."""
    store = SQLiteStateStore(tmp_path / "plugins.sqlite3")
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    manager = PluginManager(store=store, secret_box=box, allow={"stripe", "paypal"})
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
        store.close()


# -- Stripe --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _stripe_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stripe(_stripe_server: HTTPServer) -> Iterator[Any]:
    """A fresh fake Stripe account (``FakeStripe``) on 127.0.0.1."""
    _stripe_server.clear()
    fake = fake_stripe.FakeStripe(_stripe_server, STRIPE_KEY).install()
    yield fake
    fake.release()
    _stripe_server.clear()


@pytest.fixture
def stripe_host(host: Host, stripe: Any) -> Host:
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


def _stripe_delivery(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(
        STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return body, {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


@pytest.fixture
def stripe_delivery() -> Callable[[dict[str, Any]], tuple[bytes, dict[str, str]]]:
    """``stripe_delivery(event) -> (body, headers)``: the event signed as Stripe signs it."""
    return _stripe_delivery


# -- PayPal --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The PayPal tests' throw-away PKI (a signing certificate and its key)."""
    return test_pki.TestPKI.create(tmp_path_factory.mktemp("example-pki"))


@pytest.fixture(scope="module")
def _paypal_server() -> Iterator[tuple[HTTPServer, Any]]:
    fake = fake_paypal.FakePayPal(PAYPAL_CLIENT_ID, PAYPAL_SECRET)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(fake)
    server.start()
    fake.base_url = server.url_for("/").rstrip("/")
    yield server, fake
    server.stop()


@pytest.fixture
def paypal(_paypal_server: tuple[HTTPServer, Any], pki: Any) -> Any:
    """A fresh fake PayPal (``FakePayPal``) serving the webhook signing certificate."""
    _, fake = _paypal_server
    fake.reset()
    fake.serve_certificate(PAYPAL_CERT, pki.signing.pem)
    return fake


@pytest.fixture
def paypal_host(host: Host, paypal: Any) -> Host:
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
def paypal_signer(paypal: Any, pki: Any) -> PayPalSigner:
    """Sign a webhook body as PayPal does (SHA256withRSA over the pipe-joined string)."""

    def sign(body: bytes) -> dict[str, str]:
        transmission_id = str(uuid.uuid4())
        sent = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = f"{transmission_id}|{sent}|{paypal.webhook_id}|{zlib.crc32(body)}".encode()
        signature = pki.signing.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        paypal.deliveries[transmission_id] = body  # what PayPal's verify endpoint compares
        return {
            "Content-Type": "application/json",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": f"https://api.sandbox.paypal.com/v1/notifications/certs/{PAYPAL_CERT}",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
            "PAYPAL-TRANSMISSION-TIME": sent,
        }

    return sign


@pytest.fixture
def paypal_event() -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """``paypal_event(event_type, capture) -> envelope``: a PayPal webhook event."""
    return _paypal_event


def _paypal_event(event_type: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"WH-{uuid.uuid4().hex[:8].upper()}-{uuid.uuid4().hex[:17].upper()}",
        "event_version": "1.0",
        "create_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resource_type": "capture",
        "resource_version": "2.0",
        "event_type": event_type,
        "summary": event_type,
        "resource": {k: v for k, v in resource.items() if not k.startswith("_")},
        "links": [],
    }
