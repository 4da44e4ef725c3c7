"""Signed PayPal deliveries: the event envelope and the five ``PAYPAL-*`` headers.

PayPal signs ``<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>``
with SHA256withRSA and sends the signature with the URL of its certificate. The signer is
written from PayPal's documentation, independently of the plugin's verifier
(``vbwd_paypal._webhooks``), so a test signed here checks the verifier.
"""

from __future__ import annotations

import base64
import uuid
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ._wire import new_id, public


def paypal_time(moment: datetime) -> str:
    """A transmission or event time as PayPal writes it (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def transmission_message(
    transmission_id: str, transmission_time: str, webhook_id: str, body: bytes
) -> bytes:
    """The bytes PayPal signs for one delivery."""
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body)}".encode()


def sign_payload(
    payload: bytes,
    key: rsa.RSAPrivateKey,
    *,
    webhook_id: str,
    cert_url: str,
    transmission_id: str | None = None,
    sent_at: datetime | None = None,
) -> dict[str, str]:
    """The headers PayPal sends with ``payload``, signed with ``key``.

    ``cert_url`` is where the verifier downloads the certificate of ``key`` (it must be
    an allowed PayPal host); ``sent_at`` defaults to now (pass an old time to test the
    tolerance) and ``transmission_id`` to a fresh UUID.
    """
    transmission_id = transmission_id or str(uuid.uuid4())
    transmission_time = paypal_time(sent_at or datetime.now(UTC))
    message = transmission_message(transmission_id, transmission_time, webhook_id, payload)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {
        "Content-Type": "application/json",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": cert_url,
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
        "PAYPAL-TRANSMISSION-TIME": transmission_time,
    }


def make_event(
    event_type: str,
    resource: Mapping[str, Any],
    *,
    resource_type: str = "capture",
    event_id: str | None = None,
    resource_version: str = "2.0",
    summary: str | None = None,
    create_time: datetime | None = None,
) -> dict[str, Any]:
    """A PayPal webhook envelope of ``event_type`` around ``resource`` (ready for ``json.dumps``).

    Keys of ``resource`` that start with ``_`` (the fake's bookkeeping) are left out, so a
    capture read from ``FakePayPal.captures`` can be passed as it is. ``create_time``
    defaults to now.
    """
    return {
        "id": event_id or f"WH-{new_id(8)}-{new_id(17)}",
        "event_version": "1.0",
        "create_time": paypal_time(create_time or datetime.now(UTC)),
        "resource_type": resource_type,
        "resource_version": resource_version,
        "event_type": event_type,
        "summary": summary or f"{event_type} (test)",
        "resource": public(resource),
        "links": [],
    }
