"""The testing kit (``vbwd_stripe.testing``): its public surface, its signer, its import cost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import pytest
import stripe
import vbwd_stripe.testing
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import FakeStripe, make_event, sign_payload

from vbwd_plugins import PluginManager
from vbwd_plugins.testing import RecordingDispatcher

from .conftest import WEBHOOK_SECRET, config_for


def _body() -> bytes:
    intent = {"id": "pi_kit", "object": "payment_intent", "amount": 2900, "currency": "eur"}
    return json.dumps(make_event("payment_intent.succeeded", intent)).encode()


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_exported_names() -> None:
    """`vbwd_stripe.testing` exports exactly its documented names, each of them importable."""
    assert sorted(vbwd_stripe.testing.__all__) == [
        "API_VERSION",
        "DEFAULT_WEBHOOK_SECRET",
        "FakeStripe",
        "Scripted",
        "SeenRequest",
        "TEST_PAYMENT_METHODS",
        "make_event",
        "sign_payload",
    ]
    for name in vbwd_stripe.testing.__all__:
        assert getattr(vbwd_stripe.testing, name) is not None


def test_signature_verifies_with_the_plugin_and_a_tampered_body_does_not(
    plugin: StripePlugin,
) -> None:
    """The plugin accepts the kit's signature for the signed body and refuses it for another."""
    body = _body()
    header = sign_payload(body, WEBHOOK_SECRET)
    assert plugin.verify_webhook(body, header)
    tampered = body.replace(b'"amount": 2900', b'"amount": 2901')
    assert tampered != body
    assert not plugin.verify_webhook(tampered, header)
    assert not plugin.verify_webhook(body, sign_payload(body, "whsec_someone_else"))


def test_signature_verifies_with_the_stripe_sdk() -> None:
    """Stripe's own SDK accepts the kit's header: the kit signs by Stripe's scheme."""
    body = _body()
    header = sign_payload(body, WEBHOOK_SECRET)
    assert stripe.WebhookSignature.verify_header(body.decode(), header, WEBHOOK_SECRET, 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body.decode() + " ", header, WEBHOOK_SECRET, 300)


def test_timestamp_is_the_one_given(plugin: StripePlugin) -> None:
    """A delivery signed an hour ago carries that time and is refused as stale."""
    body = _body()
    an_hour_ago = int(time.time()) - 3600
    header = sign_payload(body, WEBHOOK_SECRET, an_hour_ago)
    assert header.startswith(f"t={an_hour_ago},v1=")
    assert not plugin.verify_webhook(body, header)


def test_events_of_the_fake_verify_and_emit(fake: FakeStripe) -> None:
    """An event the fake produced, signed by the kit, emits the standard event."""
    dispatcher = RecordingDispatcher()
    manager = PluginManager(event_dispatcher=dispatcher)
    manager.register_plugin(StripePlugin())
    manager.initialize_plugin("stripe", config_for(fake))
    manager.enable_plugin("stripe")
    plugin = manager.get_plugin("stripe")
    assert isinstance(plugin, StripePlugin)
    intent = plugin.create_payment_intent(Decimal("12.00"), "EUR", uuid.uuid4(), uuid.uuid4())
    plugin.process_payment(intent.transaction_id, "pm_card_visa")
    (event,) = fake.events_of("payment_intent.succeeded")
    body = json.dumps(event).encode()
    dispatcher.clear()
    plugin.process_webhook({"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET)}, body)
    (emitted,) = dispatcher.events
    assert emitted.name == "payment.completed"
    assert emitted.data["transaction_id"] == intent.transaction_id


def test_importing_the_plugin_does_not_import_the_kit() -> None:
    """`import vbwd_stripe` loads no testing code."""
    result = _run("import sys, vbwd_stripe; print('vbwd_stripe.testing' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_signer_needs_no_testing_extra() -> None:
    """Importing the kit and signing loads neither pytest-httpserver nor werkzeug."""
    result = _run(
        "import sys; from vbwd_stripe.testing import sign_payload; sign_payload(b'{}', 'whsec_x');"
        "print(sorted({'pytest_httpserver', 'werkzeug'} & set(sys.modules)))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_fake_without_the_testing_extra_names_it() -> None:
    """Without pytest-httpserver, asking for FakeStripe says which extra to install."""
    result = _run(
        "import sys; sys.modules['pytest_httpserver'] = None\n"
        "from vbwd_stripe.testing import FakeStripe"
    )
    assert result.returncode != 0
    assert "pip install 'vbwd-stripe[testing]'" in result.stderr
    assert "pytest_httpserver" in result.stderr
