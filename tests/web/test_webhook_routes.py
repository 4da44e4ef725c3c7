"""The webhook route over real HTTP: what the adapters hand the pipeline and what they answer."""

from __future__ import annotations

import requests

from tests.web.conftest import StandInProcessor, Start
from vbwd_plugins import PluginManager


def test_raw_body_headers_and_remote_address_reach_the_pipeline(
    start: Start, manager: PluginManager, processor: StandInProcessor
) -> None:
    """The exact body bytes, every header and the client address are passed on unchanged."""
    base = start(manager)
    body = b'{"id": "evt_1", "amount": 10}\n\xff\x00 trailing bytes stay'
    response = requests.post(
        f"{base}/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": "t=1,v1=abc", "X-Custom": "kept", "Content-Type": "text/x"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"result": "handled", "provider": "stripe"}
    (call,) = processor.calls
    assert call.provider == "stripe"
    assert call.body == body
    headers = {key.lower(): value for key, value in call.headers.items()}
    assert headers["stripe-signature"] == "t=1,v1=abc"
    assert headers["x-custom"] == "kept"
    assert headers["content-type"] == "text/x"
    assert call.remote_addr == "127.0.0.1"


def test_status_and_body_come_from_the_pipeline(
    start: Start, manager: PluginManager, processor: StandInProcessor
) -> None:
    """Whatever status the pipeline returns (404, 500, ...) is what the provider sees."""
    base = start(manager)
    missing = requests.post(f"{base}/webhooks/missing", data=b"{}", timeout=10)
    assert missing.status_code == 404 and missing.json() == {"error": "unknown_provider"}
    processor.status = 500
    failed = requests.post(f"{base}/webhooks/stripe", data=b"{}", timeout=10)
    assert failed.status_code == 500


def test_webhook_route_accepts_post_only_and_limits_the_body(
    start: Start, manager: PluginManager, processor: StandInProcessor
) -> None:
    """GET is 405; a body over ``max_body_size`` is 413 and never reaches the pipeline."""
    base = start(manager, max_body_size=64)
    assert requests.get(f"{base}/webhooks/stripe", timeout=10).status_code == 405
    too_big = requests.post(f"{base}/webhooks/stripe", data=b"x" * 65, timeout=10)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "payload_too_large"

    def chunks() -> object:
        yield b"y" * 40
        yield b"y" * 40

    chunked = requests.post(f"{base}/webhooks/stripe", data=chunks(), timeout=10)  # type: ignore[arg-type]
    assert chunked.status_code == 413
    assert requests.post(f"{base}/webhooks/stripe", data=b"x" * 64, timeout=10).ok
    assert [len(call.body) for call in processor.calls] == [64]


def test_webhook_prefix_is_configurable_and_can_be_left_out(
    start: Start, manager: PluginManager, processor: StandInProcessor
) -> None:
    """``webhook_prefix`` moves the route; ``None`` mounts none."""
    moved = start(manager, webhook_prefix="/hooks/in")
    assert requests.post(f"{moved}/hooks/in/stripe", data=b"{}", timeout=10).ok
    assert requests.post(f"{moved}/webhooks/stripe", data=b"{}", timeout=10).status_code == 404
    none = start(manager, webhook_prefix=None)
    assert requests.post(f"{none}/webhooks/stripe", data=b"{}", timeout=10).status_code == 404
    assert len(processor.calls) == 1
