"""The adapters in front of the real webhook pipeline: signed deliveries over HTTP."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.web.conftest import Start
from vbwd_plugins import (
    BasePlugin,
    Event,
    PaymentEventType,
    PluginManager,
    PluginMetadata,
    SQLiteStateStore,
    WebhookProcessor,
    listener,
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


class _Loyalty(BasePlugin):
    """A third-party plugin with an ``async def`` listener on payment.completed."""

    metadata = PluginMetadata("loyalty", "1.0.0", "tests", "credits points")

    def __init__(self) -> None:
        super().__init__()
        self.credited: list[str | None] = []

    @listener("payment.completed")
    async def credit(self, event: Event) -> None:
        await asyncio.sleep(0)
        self.credited.append(event.idempotency_key)


def test_async_plugin_listener_runs_once_per_event_over_http(
    start: Start, mock_manager: tuple[PluginManager, MockPaymentPlugin]
) -> None:
    """An async plugin listener: each event answered 200 inline and credited exactly once."""
    manager, mock = mock_manager
    loyalty = _Loyalty()
    manager.register_plugin(loyalty)
    manager.initialize_plugin("loyalty")
    manager.enable_plugin("loyalty")
    base = start(manager, None)
    bodies = [completed_body(mock), completed_body(mock)]
    for body in (*bodies, bodies[0]):
        delivery = mock.webhook_delivery(body)
        answer = requests.post(
            f"{base}/webhooks/mock", data=delivery.body, headers=delivery.headers, timeout=10
        )
        assert answer.status_code == 200, answer.text
    assert len(loyalty.credited) == 2 and len(set(loyalty.credited)) == 2


def test_only_the_failed_listener_runs_again_on_redelivery_over_http(
    start: Start, mock_manager: tuple[PluginManager, MockPaymentPlugin]
) -> None:
    """A host listener fails once: twice in total over three deliveries, the other one once."""
    manager, mock = mock_manager
    calls: Counter[str] = Counter()

    def activate(event: Event) -> None:
        calls["activate"] += 1
        if calls["activate"] == 1:
            raise RuntimeError("database briefly unavailable")

    manager.event_dispatcher.add_listener("payment.completed", activate, id="activate")
    manager.event_dispatcher.add_listener(
        "payment.completed", lambda event: calls.update(["email"]), id="email"
    )
    base = start(manager, None)
    delivery = mock.webhook_delivery(completed_body(mock))
    answers = [
        requests.post(
            f"{base}/webhooks/mock", data=delivery.body, headers=delivery.headers, timeout=10
        )
        for _ in range(3)
    ]
    assert [answer.status_code for answer in answers] == [500, 200, 200]
    assert calls == {"activate": 2, "email": 1}
