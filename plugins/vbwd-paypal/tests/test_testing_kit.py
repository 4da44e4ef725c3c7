"""The testing kit (``vbwd_paypal.testing``): its public surface, its signer, its import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal

import vbwd_paypal.testing
from vbwd_paypal.testing import TestPKI, WebhookSigner, make_event, sign_payload

from .conftest import CERT_NAME, SANDBOX_CERT_HOST, Rig, capture_resource

CERT_URL = f"https://{SANDBOX_CERT_HOST}/v1/notifications/certs/{CERT_NAME}"


def _body() -> bytes:
    resource = capture_resource("3C679366HH908993F", 1000, "USD", custom="sub,user")
    return json.dumps(make_event("PAYMENT.CAPTURE.COMPLETED", resource)).encode()


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_exported_names() -> None:
    """`vbwd_paypal.testing` exports exactly its documented names, each of them importable."""
    assert sorted(vbwd_paypal.testing.__all__) == [
        "CERT_HOSTS",
        "DISPUTE_OUTCOMES",
        "FakePayPal",
        "Issued",
        "LoopbackTLSAdapter",
        "NoNetworkAdapter",
        "PAYPAL_CURRENCIES",
        "Recorded",
        "Script",
        "TestPKI",
        "WebhookSigner",
        "error_body",
        "make_event",
        "new_id",
        "paypal_time",
        "sign_payload",
    ]
    for name in vbwd_paypal.testing.__all__:
        assert getattr(vbwd_paypal.testing, name) is not None


def test_signature_verifies_offline_and_a_tampered_body_does_not(rig: Rig, pki: TestPKI) -> None:
    """The plugin's offline check accepts the kit's headers for the signed body only."""
    body = _body()
    headers = sign_payload(body, pki.signing.key, webhook_id=rig.fake.webhook_id, cert_url=CERT_URL)
    assert rig.plugin.verify_webhook_request(headers, body)
    tampered = body.replace(b'"value": "10.00"', b'"value": "99.00"')
    assert tampered != body
    assert not rig.plugin.verify_webhook_request(headers, tampered)
    other_key = sign_payload(
        body, pki.self_signed.key, webhook_id=rig.fake.webhook_id, cert_url=CERT_URL
    )
    assert not rig.plugin.verify_webhook_request(other_key, body)


def test_signer_verifies_remotely_and_a_tampered_body_does_not(
    make_rig: Callable[..., Rig], signer: WebhookSigner
) -> None:
    """PayPal's verification endpoint (the fake) accepts what the kit's signer registered."""
    rig = make_rig(webhook_verification="remote")
    body = _body()
    headers = signer.headers(body)
    assert rig.plugin.verify_webhook_request(headers, body)
    tampered = body.replace(b'"value": "10.00"', b'"value": "99.00"')
    assert not rig.plugin.verify_webhook_request(headers, tampered)
    assert rig.fake.calls("POST", "/v1/notifications/verify-webhook-signature")


def test_make_event_leaves_out_the_fakes_bookkeeping() -> None:
    """Keys starting with ``_`` (the fake's own fields) are not part of the event."""
    event = make_event("PAYMENT.CAPTURE.COMPLETED", {"id": "C1", "_refunded": "0"})
    assert event["resource"] == {"id": "C1"}
    assert event["event_type"] == "PAYMENT.CAPTURE.COMPLETED"
    assert event["id"].startswith("WH-")


def test_order_view_is_what_get_order_answers(rig: Rig) -> None:
    """``order_view`` (what CHECKOUT.ORDER.* webhooks carry) equals GET /v2/checkout/orders."""
    order_id = rig.plugin.create_payment_intent(Decimal("10"), "USD", "s", "u").transaction_id  # type: ignore[arg-type]
    assert order_id is not None
    rig.fake.approve(order_id)
    view = rig.fake.order_view(order_id)
    assert view == rig.plugin.client.call("GET", f"/v2/checkout/orders/{order_id}")
    assert view["status"] == "APPROVED"
    assert not any(key.startswith("_") for key in view)


def test_importing_the_plugin_does_not_import_the_kit() -> None:
    """`import vbwd_paypal` loads no testing code."""
    result = _run("import sys, vbwd_paypal; print('vbwd_paypal.testing' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_signer_and_pki_need_no_testing_extra() -> None:
    """Building the PKI and signing load neither pytest-httpserver nor werkzeug."""
    result = _run(
        "import sys, tempfile, pathlib\n"
        "from vbwd_paypal.testing import TestPKI, sign_payload\n"
        "pki = TestPKI.create(pathlib.Path(tempfile.mkdtemp()))\n"
        "sign_payload(b'{}', pki.signing.key, webhook_id='WH-1', cert_url='https://x/')\n"
        "print(sorted({'pytest_httpserver', 'werkzeug'} & set(sys.modules)))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_fake_without_the_testing_extra_names_it() -> None:
    """Without werkzeug, asking for FakePayPal says which extra to install."""
    result = _run(
        "import sys; sys.modules['werkzeug'] = None\nfrom vbwd_paypal.testing import FakePayPal"
    )
    assert result.returncode != 0
    assert "pip install 'vbwd-paypal[testing]'" in result.stderr
    assert "werkzeug" in result.stderr
