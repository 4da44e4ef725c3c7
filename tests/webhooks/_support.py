"""Helpers for the webhook pipeline tests, importable by spawned worker processes too."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vbwd_plugins import (
    Event,
    PaymentEventType,
)
from vbwd_plugins.delivery import Delivery, Outbox
from vbwd_plugins.testing import MockPaymentPlugin, WebhookDelivery

SECRET = "mock_whsec_for_the_pipeline_suite"


def completed_delivery(
    mock: MockPaymentPlugin, transaction_id: str = "mock_pay_1", **data: Any
) -> WebhookDelivery:
    """A correctly signed ``payment.completed`` delivery with a fresh event id."""
    values: dict[str, Any] = {"amount": 2900, "currency": "EUR", **data}
    body = mock.webhook_body(PaymentEventType.COMPLETED, transaction_id=transaction_id, **values)
    return mock.webhook_delivery(body)


def signed(mock: MockPaymentPlugin, payload: Any) -> WebhookDelivery:
    """Any JSON value (or raw bytes), signed with the mock's secret."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookDelivery({"Mock-Signature": mock.sign(body)}, body)


@dataclass
class SideEffects:
    """A ``payment.completed`` listener that records (in a file) every event it handled.

    ``fail_once`` names event ids whose first handling raises (before any side effect), as
    a host whose database hiccups; a marker file makes "first" hold across processes.
    """

    folder: Path
    fail_once: frozenset[str] = frozenset()
    fail_always: set[str] = field(default_factory=set)
    #: Seconds each handling takes (widens the window in which deliveries overlap).
    delay: float = 0.0

    def __call__(self, event: Event) -> None:
        event_id = str(event.data["provider_event_id"])
        if event_id in self.fail_always:
            raise RuntimeError(f"activation of {event_id} failed")
        if event_id in self.fail_once:
            try:
                fd = os.open(self.folder / f"failed-{event_id}", os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                raise RuntimeError(f"scripted failure handling {event_id}")
        if self.delay:
            time.sleep(self.delay)
        log = os.open(
            self.folder / f"effects-{os.getpid()}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT
        )
        try:
            os.write(log, f"{event_id}\n".encode())
        finally:
            os.close(log)

    def counts(self) -> Counter[str]:
        """How many times each event id was handled, over every process."""
        seen: Counter[str] = Counter()
        for path in self.folder.glob("effects-*.log"):
            seen.update(path.read_text().split())
        return seen


def deliveries_of(store: object, event_id: str, provider: str = "mock") -> list[Delivery]:
    """The deliveries recorded for one webhook of ``provider``."""
    assert isinstance(store, Outbox)
    return store.deliveries_of_webhook(provider, event_id)
