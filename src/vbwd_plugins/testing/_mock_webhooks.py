"""The mock provider's webhooks: its signature scheme, its event bodies, their translation.

::

    Mock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>

A body is ``{"id": "evt_mock_<n>", "type": "<standard event name>", "created": <unix>,
"data": {"transaction_id", "amount", "currency", "subscription_id", "user_id", ...}}``:
the mock's webhooks are named after the standard events they map to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from vbwd_plugins.errors import WebhookPayloadError
from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.payments._billing_events import BillingEventData, BillingEventType
from vbwd_plugins.payments._events import (
    PaymentAuthorized,
    PaymentCancelled,
    PaymentCompleted,
    PaymentEventData,
    PaymentEventType,
    PaymentFailed,
    PaymentPending,
    PaymentRefunded,
)
from vbwd_plugins.testing._support import WebhookVariant

__all__ = [
    "SIGNATURE_HEADER",
    "billing_body",
    "billing_events_from_payload",
    "events_from_payload",
    "signature",
    "signature_problem",
    "signed_as",
]

#: The header the mock signs with.
SIGNATURE_HEADER: Final = "Mock-Signature"
#: The last Unix second a ``datetime`` holds (9999-12-31T23:59:59Z).
_LAST_SECOND: Final = 253_402_300_799

_EVENT_CLASSES: Final[Mapping[str, type[PaymentEventData]]] = {
    PaymentEventType.COMPLETED: PaymentCompleted,
    PaymentEventType.FAILED: PaymentFailed,
    PaymentEventType.REFUNDED: PaymentRefunded,
    PaymentEventType.CANCELLED: PaymentCancelled,
    PaymentEventType.PENDING: PaymentPending,
    PaymentEventType.AUTHORIZED: PaymentAuthorized,
}


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Mock-Signature`` header value for ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def signature_problem(
    header: str | None, body: bytes, *, secret: str, now: float, tolerance: int
) -> str | None:
    """Why ``header`` does not verify ``body`` (a reason for the audit log), or ``None``."""
    if header is None:
        return f"no {SIGNATURE_HEADER} header"
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value.strip() for key, _, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not candidates:
        return f"malformed {SIGNATURE_HEADER} header"
    stamp = int(stamps[0])
    if abs(now - stamp) > tolerance:
        return "timestamp outside tolerance"
    expected = signature(secret, body, stamp).rpartition("v1=")[2]
    if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        return None
    return "no signature matched"


def signed_as(
    variant: WebhookVariant, body: bytes, *, secret: str, now: int, tolerance: int
) -> tuple[str, bytes]:
    """The header and body of ``body`` signed (rightly or wrongly) as ``variant`` says."""
    if variant is WebhookVariant.WRONG_SECRET:
        return signature(secret + "_wrong", body, now), body
    if variant is WebhookVariant.STALE_TIMESTAMP:
        return signature(secret, body, now - tolerance - 60), body
    if variant is WebhookVariant.FUTURE_TIMESTAMP:
        return signature(secret, body, now + tolerance + 60), body
    header = signature(secret, body, now)
    if variant is WebhookVariant.TAMPERED_BODY:  # the amount (or an id) changed after signing
        event = json.loads(body)
        data = event["data"]
        if isinstance(data.get("amount"), int):
            data["amount"] += 1
        else:
            data["subscription_id"] = f"{data.get('subscription_id')}-tampered"
        body = json.dumps(event, separators=(",", ":")).encode()
    return header, body


def _timestamp(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _LAST_SECOND:
        raise WebhookPayloadError(
            f"Mock webhook 'created' must be Unix seconds from 1970 to 9999, got {value!r}"
        )
    return datetime.fromtimestamp(value, UTC)


def events_from_payload(payload: Mapping[str, Any], provider: str) -> tuple[PaymentEventData, ...]:
    """The standard event a mock webhook stands for (none for other types)."""
    event_class = _EVENT_CLASSES.get(str(payload.get("type")))
    if event_class is None:
        return ()
    raw = payload.get("data")
    data: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
    fields: dict[str, Any] = {
        "provider": provider,
        "provider_event_id": payload.get("id"),
        "provider_event_type": str(payload.get("type")),
        "occurred_at": _timestamp(payload.get("created")),
    }
    names = ["transaction_id", "amount", "currency", "subscription_id", "user_id"]
    if event_class is PaymentRefunded:
        names.append("refund_id")
    if event_class is PaymentFailed:
        names += ["error_code", "error_message"]
    fields.update({name: data.get(name) for name in names})
    return (event_class(**fields),)


#: The billing events a mock webhook may stand for, by the standard name it is typed with.
_BILLING_TYPES: Final = frozenset(kind.value for kind in BillingEventType)


def billing_events_from_payload(
    payload: Mapping[str, Any], provider: str
) -> tuple[BillingEventData, ...]:
    """The standard billing event a mock webhook stands for (none for other types).

    The webhook's ``data`` holds the payload's fields (datetimes as ISO 8601 text, enums
    as their values); the provider, event id, type and time come from the envelope.
    """
    kind = str(payload.get("type"))
    if kind not in _BILLING_TYPES:
        return ()
    raw = payload.get("data")
    data: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
    data.update(
        provider=provider,
        provider_event_id=payload.get("id"),
        provider_event_type=kind,
        occurred_at=_timestamp(payload.get("created")),
    )
    return (BillingEventData.from_event(Event(name=kind, data=data)),)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def billing_body(
    event_id: str, event_type: BillingEventType, created: int, data: Mapping[str, Any]
) -> bytes:
    """The raw JSON body of a billing webhook (datetimes as ISO 8601 text, enums as values)."""
    event = {"id": event_id, "type": event_type.value, "created": created, "data": _jsonable(data)}
    return json.dumps(event, separators=(",", ":")).encode()
