"""Offline verification of PayPal webhook deliveries.

PayPal signs ``f"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}"``
with RSA (PKCS#1 v1.5, SHA-256) and names, in ``PAYPAL-CERT-URL``, where the certificate
of the signing key can be downloaded. Everything in a delivery comes from an
unauthenticated sender, so the cheap checks run first and nothing is fetched unless they
all pass: the headers' shape (a base64 signature of an RSA size, a plain transmission id),
the transmission time within the tolerance, and the certificate URL: ``https``, an
allow-listed PayPal host, under ``/v1/notifications/certs/``, without user-info, port,
query or fragment. PayPal's own Python SDK fetches that URL unchecked (server-side request
forgery). The download itself and the certificate's chain and identity checks are in
``_certs``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, final
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from vbwd_plugins.payments import header_value

from ._certs import CertificateCache, reject
from ._errors import PayPalError

__all__ = [
    "CERT_PATH_PREFIX",
    "WebhookHeaders",
    "WebhookVerifier",
    "check_cert_url",
    "signed_message",
    "verify_signature",
]

CERT_PATH_PREFIX: Final = "/v1/notifications/certs/"
_CERT_PATH_RE: Final = re.compile(r"/v1/notifications/certs/[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_MAX_URL_LENGTH: Final = 512
_AUTH_ALGO: Final = "SHA256withRSA"
#: PayPal's transmission ids are UUIDs; accept any short plain token.
_TRANSMISSION_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_MAX_TIME_LENGTH: Final = 64
#: An RSA signature is as long as the key: 1024 to 8192 bits.
_SIGNATURE_BYTES: Final = range(128, 1024 + 1)


# -- headers and the signed string -------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class WebhookHeaders:
    """The five ``PAYPAL-*`` headers of a delivery, checked for shape, and their parsed values."""

    transmission_id: str
    transmission_time: str
    transmission_sig: str
    cert_url: str
    auth_algo: str
    sent_at: datetime
    signature: bytes

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> WebhookHeaders:
        """Read the headers (any case); :class:`WebhookVerificationError` if one is missing
        or malformed. Pure string checks: nothing is fetched."""
        values: dict[str, str] = {}
        for field in ("transmission-id", "transmission-time", "transmission-sig", "cert-url"):
            value = header_value(headers, f"PAYPAL-{field.upper()}")
            if value is None or not value.strip():
                raise reject(f"header PAYPAL-{field.upper()} is missing")
            values[field] = value.strip()
        algo = (header_value(headers, "PAYPAL-AUTH-ALGO") or "").strip()
        if algo != _AUTH_ALGO:
            raise reject(f"PAYPAL-AUTH-ALGO must be {_AUTH_ALGO}, got {algo[:40]!r}")
        if "|" in values["transmission-id"]:
            raise reject("PAYPAL-TRANSMISSION-ID contains '|'")
        if not _TRANSMISSION_ID_RE.fullmatch(values["transmission-id"]):
            raise reject("PAYPAL-TRANSMISSION-ID is not a plain id (letters, digits, '-')")
        raw_time = values["transmission-time"]
        try:
            if len(raw_time) > _MAX_TIME_LENGTH:
                raise ValueError(raw_time)
            sent_at = datetime.fromisoformat(raw_time)
        except ValueError:
            raise reject(
                f"PAYPAL-TRANSMISSION-TIME {raw_time[:40]!r} is not an ISO 8601 time"
            ) from None
        if sent_at.utcoffset() is None:
            raise reject(f"PAYPAL-TRANSMISSION-TIME {raw_time[:40]!r} has no time zone")
        return cls(
            transmission_id=values["transmission-id"],
            transmission_time=raw_time,
            transmission_sig=values["transmission-sig"],
            cert_url=values["cert-url"],
            auth_algo=algo,
            sent_at=sent_at,
            signature=_signature_bytes(values["transmission-sig"]),
        )

    def check_time(self, now: datetime, tolerance: timedelta) -> None:
        """Reject a transmission time further than ``tolerance`` from ``now``, either way."""
        if abs(now - self.sent_at) > tolerance:
            raise reject(
                f"transmission time {self.transmission_time} is more than "
                f"{tolerance.total_seconds():.0f} s from now"
            )


def signed_message(
    transmission_id: str, transmission_time: str, webhook_id: str, body: bytes
) -> bytes:
    """The bytes PayPal signs: ids, time and the unsigned decimal CRC32 of the raw body."""
    crc = zlib.crc32(body) & 0xFFFFFFFF
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()


# -- the certificate URL -----------------------------------------------------------------


def check_cert_url(url: str, allowed_hosts: frozenset[str]) -> None:
    """Raise :class:`WebhookVerificationError` unless ``url`` is a PayPal certificate URL.

    Pure string checks; nothing is fetched. Accepted: ``https://<allow-listed
    host>/v1/notifications/certs/<name>`` and nothing else (no user-info, no port, no
    query, no fragment, no dot segments or percent-escapes in the path).
    """
    if len(url) > _MAX_URL_LENGTH or not url.isascii() or not url.isprintable() or " " in url:
        raise reject("PAYPAL-CERT-URL is not a plain URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise reject("PAYPAL-CERT-URL cannot be parsed") from None
    if parts.scheme != "https" or not url.startswith("https://"):
        raise reject(f"PAYPAL-CERT-URL must use https, got {parts.scheme or 'no'} scheme")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise reject("PAYPAL-CERT-URL must not contain user-info")
    if port is not None or ":" in parts.netloc:
        raise reject("PAYPAL-CERT-URL must not name a port")
    host = parts.netloc
    if host not in allowed_hosts:
        raise reject(f"PAYPAL-CERT-URL host {host[:100]!r} is not an allow-listed PayPal host")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise reject("PAYPAL-CERT-URL must not have a query or fragment")
    if not _CERT_PATH_RE.fullmatch(parts.path) or ".." in parts.path:
        raise reject(f"PAYPAL-CERT-URL path must be {CERT_PATH_PREFIX}<certificate name>")


def _signature_bytes(signature_b64: str) -> bytes:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise reject("PAYPAL-TRANSMISSION-SIG is not base64") from None
    if len(signature) not in _SIGNATURE_BYTES:
        raise reject(
            f"PAYPAL-TRANSMISSION-SIG is {len(signature)} bytes, not an RSA signature "
            f"({_SIGNATURE_BYTES.start} to {_SIGNATURE_BYTES.stop - 1})"
        )
    return signature


def verify_signature(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> None:
    """Raise :class:`WebhookVerificationError` unless ``signature`` signs ``message``."""
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise reject(
            "the signature does not match (body, webhook id or transmission changed)"
        ) from None


@final
class WebhookVerifier:
    """Verifies one plugin's deliveries, offline or by asking PayPal (``remote``).

    Both modes first do every check that needs no request, cheapest first: the headers'
    shape, the transmission-time tolerance, the certificate URL and ``webhook_id``; so a
    forged delivery is refused before any request in either mode. ``certificates`` then
    bounds and caches the downloads (offline); ``remote`` posts the verification request
    body and returns PayPal's JSON answer.
    """

    __slots__ = (
        "_cert_hosts",
        "_certificates",
        "_mode",
        "_now",
        "_remote",
        "_tolerance",
        "_webhook_id",
    )

    def __init__(
        self,
        *,
        webhook_id: str | None,
        mode: Literal["offline", "remote"],
        tolerance: timedelta,
        cert_hosts: frozenset[str],
        certificates: CertificateCache,
        remote: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        now: Callable[[], datetime],
    ) -> None:
        self._webhook_id: Final = webhook_id
        self._mode: Final = mode
        self._tolerance: Final = tolerance
        self._cert_hosts: Final = cert_hosts
        self._certificates: Final = certificates
        self._remote: Final = remote
        self._now: Final = now

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Return if the delivery is authentic and fresh, else raise WebhookVerificationError."""
        delivery = WebhookHeaders.from_headers(headers)
        delivery.check_time(self._now(), self._tolerance)
        check_cert_url(delivery.cert_url, self._cert_hosts)
        webhook_id = self._webhook_id
        if not webhook_id:
            raise reject("webhook_id is not configured")
        try:
            if self._mode == "remote":
                self._verify_remotely(delivery, webhook_id, body)
            else:
                key = self._certificates.public_key(delivery.cert_url)
                message = signed_message(
                    delivery.transmission_id, delivery.transmission_time, webhook_id, body
                )
                verify_signature(key, delivery.signature, message)
        except PayPalError as exc:
            raise reject(str(exc)) from exc

    def _verify_remotely(self, delivery: WebhookHeaders, webhook_id: str, body: bytes) -> None:
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise reject("the body is not JSON") from None
        answer = self._remote(
            {
                "auth_algo": delivery.auth_algo,
                "cert_url": delivery.cert_url,
                "transmission_id": delivery.transmission_id,
                "transmission_sig": delivery.transmission_sig,
                "transmission_time": delivery.transmission_time,
                "webhook_id": webhook_id,
                "webhook_event": event,
            }
        )
        status = answer.get("verification_status")
        if status != "SUCCESS":
            raise reject(f"remote verification answered {status!r}")
