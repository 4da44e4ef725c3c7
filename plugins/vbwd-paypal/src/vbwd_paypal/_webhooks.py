"""Offline verification of PayPal webhook deliveries.

PayPal signs ``f"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}"``
with RSA (PKCS#1 v1.5, SHA-256) and names, in ``PAYPAL-CERT-URL``, where the certificate
of the signing key can be downloaded. That URL comes from the request, so it is
attacker-controlled: PayPal's own Python SDK fetches it unchecked, which lets anyone make
the server request an arbitrary URL (server-side request forgery) and sign deliveries
with their own key. Here the URL must be ``https``, on an allow-listed PayPal host, under
``/v1/notifications/certs/``, without user-info, port, query or fragment, **before** any
request is made; the downloaded certificate must be currently valid and chain to a
trusted root. Verified keys are cached per URL until the chain's first expiry.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal, final
from urllib.parse import urlsplit

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from vbwd_plugins import WebhookVerificationError
from vbwd_plugins.payments import header_value

from ._errors import PayPalError

__all__ = [
    "CERT_PATH_PREFIX",
    "CertificateCache",
    "WebhookHeaders",
    "WebhookVerifier",
    "check_cert_url",
    "load_trust_store",
    "reject",
    "signed_message",
    "verify_certificate_chain",
    "verify_signature",
]

logger = logging.getLogger(__name__)

CERT_PATH_PREFIX: Final = "/v1/notifications/certs/"
_CERT_PATH_RE: Final = re.compile(r"/v1/notifications/certs/[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_MAX_URL_LENGTH: Final = 512
_AUTH_ALGO: Final = "SHA256withRSA"
_PEM_BLOCK_RE: Final = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
_ACCEPTED_EKUS: Final = frozenset(
    {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }
)


def reject(reason: str) -> WebhookVerificationError:
    """The error refusing a PayPal delivery for ``reason`` (fit for the audit log)."""
    return WebhookVerificationError(
        f"PayPal webhook rejected: {reason}", plugin_name="paypal", reason=reason
    )


# -- headers and the signed string -------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class WebhookHeaders:
    """The five ``PAYPAL-*`` headers of a delivery, and its parsed transmission time."""

    transmission_id: str
    transmission_time: str
    transmission_sig: str
    cert_url: str
    auth_algo: str
    sent_at: datetime

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> WebhookHeaders:
        """Read the headers (any case); :class:`WebhookVerificationError` if one is missing."""
        values: dict[str, str] = {}
        for field in ("transmission-id", "transmission-time", "transmission-sig", "cert-url"):
            value = header_value(headers, f"PAYPAL-{field.upper()}")
            if value is None or not value.strip():
                raise reject(f"header PAYPAL-{field.upper()} is missing")
            values[field] = value.strip()
        algo = (header_value(headers, "PAYPAL-AUTH-ALGO") or "").strip()
        if algo != _AUTH_ALGO:
            raise reject(f"PAYPAL-AUTH-ALGO must be {_AUTH_ALGO}, got {algo[:40]!r}")
        raw_time = values["transmission-time"]
        try:
            sent_at = datetime.fromisoformat(raw_time)
        except ValueError:
            raise reject(
                f"PAYPAL-TRANSMISSION-TIME {raw_time[:40]!r} is not an ISO 8601 time"
            ) from None
        if sent_at.utcoffset() is None:
            raise reject(f"PAYPAL-TRANSMISSION-TIME {raw_time[:40]!r} has no time zone")
        if "|" in values["transmission-id"]:
            raise reject("PAYPAL-TRANSMISSION-ID contains '|'")
        return cls(
            transmission_id=values["transmission-id"],
            transmission_time=raw_time,
            transmission_sig=values["transmission-sig"],
            cert_url=values["cert-url"],
            auth_algo=algo,
            sent_at=sent_at,
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


# -- trust and certificate verification --------------------------------------------------


@lru_cache(maxsize=8)
def load_trust_store(path: str | None = None) -> Store:
    """The trusted roots in the PEM file at ``path`` (default: the certifi bundle).

    Parsed certificate by certificate, so one malformed root cannot make every webhook
    fail; roots cryptography cannot parse are skipped (logged at debug).
    """
    bundle = Path(path if path is not None else certifi.where()).read_bytes()
    roots: list[x509.Certificate] = []
    for block in _PEM_BLOCK_RE.findall(bundle):
        try:
            with warnings.catch_warnings():
                # certifi ships a few old roots with non-positive serial numbers
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                roots.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            logger.debug("skipping a trust-store certificate cryptography cannot parse: %s", exc)
    if not roots:
        raise ValueError(f"no certificates in trust store {path or 'certifi'}")
    return Store(roots)


def _check_eku(policy: Policy, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is not None and not _ACCEPTED_EKUS.intersection(eku):
        raise ValueError("the certificate is not issued for TLS server or client use")


#: WebPKI defaults, except that the leaf may lack a subjectAltName and may carry either
#: TLS usage: PayPal's signing certificate is a public TLS certificate used for signatures,
#: and public CAs are dropping clientAuth from those.
_EE_POLICY: Final = (
    ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _check_eku)
)


def verify_certificate_chain(
    pem: bytes, store: Store, at: datetime
) -> tuple[rsa.RSAPublicKey, datetime]:
    """The leaf's RSA key and when the chain stops being valid; rejects anything else.

    ``pem`` is the leaf followed by any intermediates, as PayPal serves it. The leaf must
    be valid at ``at`` and chain to a root in ``store``.
    """
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise reject("the certificate at PAYPAL-CERT-URL is not a PEM certificate") from None
    leaf, intermediates = certs[0], certs[1:]
    if not leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc:
        raise reject(
            f"the signing certificate is not valid now (valid {leaf.not_valid_before_utc:%Y-%m-%d}"
            f" to {leaf.not_valid_after_utc:%Y-%m-%d})"
        )
    verifier = (
        PolicyBuilder()
        .store(store)
        .time(at)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(leaf, intermediates).chain
    except VerificationError as exc:
        raise reject(f"the signing certificate does not chain to a trusted root: {exc}") from None
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise reject("the signing certificate does not hold an RSA key")
    return key, min(cert.not_valid_after_utc for cert in chain)


@final
class CertificateCache:
    """Verified signing keys per certificate URL, kept until their chain expires.

    Only verified keys are cached; ``fetch`` is called with URLs that passed
    :func:`check_cert_url`. Bounded, oldest entry evicted first.
    """

    __slots__ = ("_entries", "_fetch", "_lock", "_max_entries", "_now", "_store")

    def __init__(
        self,
        fetch: Callable[[str], bytes],
        store: Store,
        *,
        now: Callable[[], datetime],
        max_entries: int = 16,
    ) -> None:
        self._fetch: Final = fetch
        self._store: Final = store
        self._now: Final = now
        self._max_entries: Final = max_entries
        self._lock: Final = threading.Lock()
        self._entries: OrderedDict[str, tuple[rsa.RSAPublicKey, datetime]] = OrderedDict()

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        """The verified key of the certificate at ``url`` (downloaded at most once while valid)."""
        now = self._now()
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None and now < entry[1]:
                return entry[0]
            self._entries.pop(url, None)
        key, expires = verify_certificate_chain(self._fetch(url), self._store, now)
        with self._lock:
            self._entries[url] = (key, expires)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return key

    def clear(self) -> None:
        """Forget every cached key."""
        with self._lock:
            self._entries.clear()


def verify_signature(key: rsa.RSAPublicKey, signature_b64: str, message: bytes) -> None:
    """Raise :class:`WebhookVerificationError` unless ``signature_b64`` signs ``message``."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise reject("PAYPAL-TRANSMISSION-SIG is not base64") from None
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise reject(
            "the signature does not match (body, webhook id or transmission changed)"
        ) from None


@final
class WebhookVerifier:
    """Verifies one plugin's deliveries, offline or by asking PayPal (``remote``).

    Both modes first read the headers, apply the transmission-time tolerance and check the
    certificate URL, so a forged URL is refused before any request in either mode.
    ``remote`` posts the verification request body and returns PayPal's JSON answer.
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
                verify_signature(key, delivery.transmission_sig, message)
        except PayPalError as exc:
            raise reject(str(exc)) from exc

    def _verify_remotely(self, delivery: WebhookHeaders, webhook_id: str, body: bytes) -> None:
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
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
