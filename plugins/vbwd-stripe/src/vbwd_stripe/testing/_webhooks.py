"""Signed Stripe deliveries: the event envelope and the ``Stripe-Signature`` header.

The signer follows Stripe's published scheme, written independently of the plugin's
verifier (``vbwd_stripe._signature``) so that a test signed here checks the verifier
rather than agreeing with it by construction.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, Final

#: The API version the fake answers with and :func:`make_event` stamps on events: the one
#: the installed ``stripe`` SDK pins (``stripe._api_version._ApiVersion.CURRENT``).
API_VERSION: Final = "2026-10-28.endive"

#: The endpoint secret :class:`FakeStripe` signs its deliveries with unless given another.
DEFAULT_WEBHOOK_SECRET: Final = "whsec_fake_stripe_endpoint_secret"


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``.

    ``t=<timestamp>,v1=<HMAC-SHA256 of "<timestamp>." + payload keyed with secret>``;
    ``timestamp`` defaults to now (pass an old one to test the tolerance).
    """
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"


def make_event(
    event_type: str,
    obj: Mapping[str, Any],
    *,
    livemode: bool = False,
    previous_attributes: Mapping[str, Any] | None = None,
    event_id: str = "evt_test_0001",
    created: int | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A Stripe event envelope of ``event_type`` around ``obj`` (ready for ``json.dumps``)."""
    data: dict[str, Any] = {"object": dict(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = dict(previous_attributes)
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": idempotency_key},
        "type": event_type,
    }
