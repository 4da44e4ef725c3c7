"""The adapters in front of the real webhook pipeline: signed deliveries over HTTP."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.web.conftest import Start
from vbwd_plugins import (
    Event,
    PaymentEventType,
    PluginManager,
    SQLiteStateStore,
    WebhookProcessor,
)
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.testing import MockPaymentPlugin, WebhookVariant


@pytest.fixture
def mock_manager(tmp_path: Path) -> Iterator[tuple[PluginManager, MockPaymentPlugin]]:
    """A manager with a SQLite store (the inbox) and the enabled mock provider."""
    store = SQLiteStateStore(tmp_path / "pipeline.sqlite3")
    manager = PluginManager(store=store, secret_box=FernetSecretBox())
    mock = MockPaymentPlugin()
    manager.register_plugin(mock)
    manager.initialize_plugin("mock", {})
    manager.enable_plugin("mock")
    yield manager, mock
    store.close()


def completed_body(mock: MockPaymentPlugin) -> bytes:
    """A ``payment.completed`` mock webhook body."""
    return mock.webhook_body(
        PaymentEventType.COMPLETED,
        transaction_id="tx_1",
        amount=1000,
        currency="EUR",
        subscription_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
    )


def test_signed_delivery_is_handled_once(
    start: Start, mock_manager: tuple[PluginManager, MockPaymentPlugin]
) -> None:
    """A valid delivery is 200 and handled; the same delivery again is 200 and not handled."""
    manager, mock = mock_manager
    seen: Counter[str] = Counter()
    manager.event_dispatcher.add_listener(
        "payment.completed", lambda event: seen.update([event.data["provider_event_id"]])
    )
    base = start(manager, WebhookProcessor(manager))
    delivery = mock.webhook_delivery(completed_body(mock))
    first = requests.post(
        f"{base}/webhooks/mock", data=delivery.body, headers=delivery.headers, timeout=10
    )
    assert first.status_code == 200 and first.json()["status"] == "processed"
    again = requests.post(
        f"{base}/webhooks/mock", data=delivery.body, headers=delivery.headers, timeout=10
    )
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert list(seen.values()) == [1]


def test_rejections(
    start: Start,
    mock_manager: tuple[PluginManager, MockPaymentPlugin],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bad signature 401 (audit-logged with the client address), malformed body 400, unknown
    provider 404."""
    manager, mock = mock_manager
    base = start(manager, WebhookProcessor(manager))
    wrong = mock.webhook_delivery(completed_body(mock), WebhookVariant.WRONG_SECRET)
    with caplog.at_level(logging.WARNING, logger="vbwd_plugins.audit"):
        rejected = requests.post(
            f"{base}/webhooks/mock", data=wrong.body, headers=wrong.headers, timeout=10
        )
    assert rejected.status_code == 401
    assert "remote_addr='127.0.0.1'" in caplog.text
    malformed = b"{this is not json"
    bad = requests.post(
        f"{base}/webhooks/mock",
        data=malformed,
        headers={"Mock-Signature": mock.sign(malformed)},
        timeout=10,
    )
    assert bad.status_code == 400
    unknown = requests.post(f"{base}/webhooks/nobody", data=b"{}", timeout=10)
    assert unknown.status_code == 404


def test_failed_handler_is_retried_by_the_redelivery(
    start: Start, mock_manager: tuple[PluginManager, MockPaymentPlugin]
) -> None:
    """A failing listener answers 500; the provider's redelivery handles the event."""
    manager, mock = mock_manager
    outcomes: list[str] = []

    def flaky(event: Event) -> None:
        if not outcomes:
            outcomes.append("failed")
            raise RuntimeError("database briefly unavailable")
        outcomes.append("ok")

    manager.event_dispatcher.add_listener("payment.completed", flaky)
    base = start(manager, None)  # the adapter builds a WebhookProcessor on manager.store
    delivery = mock.webhook_delivery(completed_body(mock))
    url = f"{base}/webhooks/mock"
    first = requests.post(url, data=delivery.body, headers=delivery.headers, timeout=10)
    assert first.status_code == 500
    assert "database" not in first.text  # the error stays in the inbox and the log
    second = requests.post(url, data=delivery.body, headers=delivery.headers, timeout=10)
    assert second.status_code == 200
    third = requests.post(url, data=delivery.body, headers=delivery.headers, timeout=10)
    assert third.json()["status"] == "duplicate"
    assert outcomes == ["failed", "ok"]
