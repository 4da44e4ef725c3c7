"""Builders shared by the outbox tests and their child processes (``tests.delivery._support``)."""

from __future__ import annotations

import json
from datetime import timedelta

from vbwd_plugins.delivery import NewEvent, WebhookReceipt

LEASE = timedelta(minutes=5)


def receipt(event_id: str = "evt_1", provider: str = "mock") -> WebhookReceipt:
    """A verified webhook's inbox row."""
    payload = json.dumps({"id": event_id, "type": "payment_intent.succeeded"})
    return WebhookReceipt(provider, event_id, "payment_intent.succeeded", payload)


def event(
    event_id: str = "evt_1",
    index: int = 0,
    listeners: tuple[str, ...] = ("host:a", "host:b"),
    *,
    provider: str = "mock",
    name: str = "payment.completed",
) -> NewEvent:
    """A standard event of that webhook with one delivery per listener id."""
    uid = f"{provider}:{event_id}:{index}"
    payload = json.dumps({"name": name, "data": {"provider_event_id": event_id}})
    return NewEvent(uid, name, payload, listeners)
