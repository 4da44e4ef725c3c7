"""PayPal's webhook signing certificates: bounded download, chain and identity checks, caches.

The certificate URL comes from an unauthenticated request, so whatever happens here can be
triggered by anyone who can reach the webhook route. Hence every download is bounded: at
most :data:`MAX_CONCURRENT_FETCHES` at a time per plugin instance (a further one is refused
at once as "certificate fetch busy", never queued), connect and read timeouts and an overall
deadline, at most :data:`MAX_CERTIFICATE_BYTES`, no redirects, no credentials and **no
retry** (the session's certificate prefixes get an adapter without retries). A URL whose
certificate failed is not fetched again for :data:`FAILURE_TTL` (a bounded negative cache);
a verified key is kept until its chain expires.

A certificate is believed only if it chains to a trusted root **and** is issued to PayPal's
signing name for the configured mode (:data:`SIGNING_CERT_NAMES`): a valid certificate for
any other name, even from a trusted CA, proves nothing about PayPal.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal, final

import certifi
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from vbwd_plugins import WebhookVerificationError

__all__ = [
    "BUSY_REASON",
    "FAILURE_TTL",
    "MAX_CERTIFICATE_BYTES",
    "MAX_CONCURRENT_FETCHES",
    "SIGNING_CERT_NAMES",
    "CertificateCache",
    "CertificateFetcher",
    "check_identity",
    "load_trust_store",
    "reject",
    "verify_certificate_chain",
]

logger = logging.getLogger(__name__)

#: The name PayPal's signing certificate is issued to, per mode (subjectAltName DNS name,
#: or the subject common name of a certificate without subjectAltName). PayPal's Java SDK
#: accepts exactly these two (``CN=messageverificationcerts…`` ending in ``.paypal.com``).
SIGNING_CERT_NAMES: Final = {
    "live": "messageverificationcerts.paypal.com",
    "sandbox": "messageverificationcerts.sandbox.paypal.com",
}
#: A signing certificate chain is a few kilobytes; refuse to read more than this.
MAX_CERTIFICATE_BYTES: Final = 64 * 1024
#: Certificate downloads in flight at once, per plugin instance.
MAX_CONCURRENT_FETCHES: Final = 2
#: How long a certificate URL that failed is refused without a new download.
FAILURE_TTL: Final = timedelta(seconds=60)
#: Upper bounds for one download (the configured timeouts apply when they are shorter).
FETCH_CONNECT_TIMEOUT: Final = 3.0
FETCH_READ_TIMEOUT: Final = 5.0
FETCH_DEADLINE: Final = 10.0
#: The refusal when :data:`MAX_CONCURRENT_FETCHES` downloads are already in flight.
BUSY_REASON: Final = (
    "certificate fetch busy: other signing-certificate downloads are in progress; "
    "PayPal delivers again later"
)

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


# -- trust, chain and identity -------------------------------------------------------------


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
#: and public CAs are dropping clientAuth from those. Its name is checked separately.
_EE_POLICY: Final = (
    ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _check_eku)
)


def check_identity(leaf: x509.Certificate, expected: str) -> None:
    """Reject ``leaf`` unless it is issued to ``expected`` (exactly; no wildcard).

    The subjectAltName DNS names decide when the extension is present (the common name is
    then ignored, as in TLS); otherwise the subject's common name must be ``expected``.
    """
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(name) for name in san.get_values_for_type(x509.DNSName)]
        where = "subjectAltName"
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        where = "common name"
    if expected not in (name.lower() for name in names):
        shown = ", ".join(repr(name[:80]) for name in names[:4]) or "no name"
        raise reject(
            f"the signing certificate is issued to {shown} ({where}), not to PayPal's "
            f"signing name {expected!r}"
        )


def verify_certificate_chain(
    pem: bytes, store: Store, at: datetime, *, expected_name: str
) -> tuple[rsa.RSAPublicKey, datetime]:
    """The leaf's RSA key and when the chain stops being valid; rejects anything else.

    ``pem`` is the leaf followed by any intermediates, as PayPal serves it. The leaf must
    be valid at ``at``, chain to a root in ``store`` and be issued to ``expected_name``.
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
    check_identity(leaf, expected_name)
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise reject("the signing certificate does not hold an RSA key")
    return key, min(cert.not_valid_after_utc for cert in chain)


# -- the bounded download -------------------------------------------------------------------


@final
class CertificateFetcher:
    """Downloads certificate chains through ``session``, bounded in number, time and size.

    At most ``max_concurrent`` downloads run at once; one more is refused immediately
    ("certificate fetch busy") so that a flood cannot hold the host's worker threads.
    Each download has connect and read timeouts and an overall ``deadline`` (checked while
    reading), reads at most :data:`MAX_CERTIFICATE_BYTES` and follows no redirect. It is
    never retried: the plugin mounts an adapter without retries on the certificate paths.
    """

    __slots__ = ("_clock", "_deadline", "_session", "_slots", "_timeout")

    def __init__(
        self,
        session: requests.Session,
        *,
        connect_timeout: float = FETCH_CONNECT_TIMEOUT,
        read_timeout: float = FETCH_READ_TIMEOUT,
        deadline: float = FETCH_DEADLINE,
        max_concurrent: int = MAX_CONCURRENT_FETCHES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session: Final = session
        self._timeout: Final = (
            min(connect_timeout, FETCH_CONNECT_TIMEOUT),
            min(read_timeout, FETCH_READ_TIMEOUT),
        )
        self._deadline: Final = deadline
        self._slots: Final = threading.BoundedSemaphore(max_concurrent)
        self._clock: Final = clock

    def __call__(self, url: str) -> bytes:
        """The body at ``url`` (checked against the allow-list by the caller)."""
        if not self._slots.acquire(blocking=False):
            raise reject(BUSY_REASON)
        try:
            return self._download(url)
        finally:
            self._slots.release()

    def _download(self, url: str) -> bytes:
        stop = self._clock() + self._deadline
        try:
            with self._session.get(
                url,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
                headers={"Accept": "application/x-pem-file, */*", "Accept-Encoding": "identity"},
            ) as response:
                if response.status_code != 200:
                    raise reject(
                        f"downloading the signing certificate failed: HTTP {response.status_code}"
                    )
                if response.headers.get("Content-Encoding", "identity").lower() != "identity":
                    raise reject("the signing certificate was sent compressed")
                return self._read(response, stop)
        except requests.Timeout:
            raise reject("the signing certificate host did not answer in time") from None
        except requests.RequestException as exc:
            raise reject(
                f"the signing certificate could not be downloaded ({type(exc).__name__})"
            ) from None

    def _read(self, response: requests.Response, stop: float) -> bytes:
        # read1 returns whatever arrived (a slow-dripping server cannot stretch one read
        # to the full buffer), so the deadline is checked at least once per read timeout.
        data = bytearray()
        try:
            while chunk := response.raw.read1(8192, decode_content=False):
                data += chunk
                if len(data) > MAX_CERTIFICATE_BYTES:
                    raise reject(
                        f"the signing certificate is larger than {MAX_CERTIFICATE_BYTES} bytes"
                    )
                if self._clock() > stop:
                    raise reject(
                        f"downloading the signing certificate took longer than {self._deadline:g} s"
                    )
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise reject("the signing certificate host did not answer in time") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise reject(
                f"the signing certificate could not be downloaded ({type(exc).__name__})"
            ) from None
        return bytes(data)


# -- the caches ------------------------------------------------------------------------------


@final
class CertificateCache:
    """Verified signing keys per certificate URL, and recent failures per URL.

    A verified key is kept until its chain's first expiry; a URL whose download or
    verification failed is refused without a request for ``failure_ttl``. Both maps are
    bounded (oldest entry evicted first). "Busy" refusals are not remembered as failures.
    """

    __slots__ = (
        "_entries",
        "_expected_name",
        "_failure_ttl",
        "_failures",
        "_fetch",
        "_lock",
        "_max_entries",
        "_max_failures",
        "_now",
        "_store",
    )

    def __init__(
        self,
        fetch: Callable[[str], bytes],
        store: Store,
        *,
        mode: Literal["sandbox", "live"],
        now: Callable[[], datetime],
        max_entries: int = 16,
        failure_ttl: timedelta = FAILURE_TTL,
        max_failures: int = 1024,
    ) -> None:
        self._fetch: Final = fetch
        self._store: Final = store
        self._expected_name: Final = SIGNING_CERT_NAMES[mode]
        self._now: Final = now
        self._max_entries: Final = max_entries
        self._failure_ttl: Final = failure_ttl
        self._max_failures: Final = max_failures
        self._lock: Final = threading.Lock()
        self._entries: OrderedDict[str, tuple[rsa.RSAPublicKey, datetime]] = OrderedDict()
        self._failures: OrderedDict[str, tuple[str, datetime]] = OrderedDict()

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        """The verified key of the certificate at ``url`` (downloaded at most once while valid)."""
        now = self._now()
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None and now < entry[1]:
                return entry[0]
            self._entries.pop(url, None)
            failure = self._failures.get(url)
            if failure is not None and now < failure[1]:
                raise reject(
                    f"{failure[0]} (a recent failure: not downloaded again for "
                    f"{self._failure_ttl.total_seconds():.0f} s)"
                )
            self._failures.pop(url, None)
        try:
            pem = self._fetch(url)
            key, expires = verify_certificate_chain(
                pem, self._store, now, expected_name=self._expected_name
            )
        except WebhookVerificationError as exc:
            if exc.reason != BUSY_REASON:
                self._remember_failure(url, exc.reason, now)
            raise
        with self._lock:
            self._entries[url] = (key, expires)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return key

    def _remember_failure(self, url: str, reason: str, now: datetime) -> None:
        with self._lock:
            self._failures[url] = (reason, now + self._failure_ttl)
            self._failures.move_to_end(url)
            while len(self._failures) > self._max_failures:
                self._failures.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached key and failure."""
        with self._lock:
            self._entries.clear()
            self._failures.clear()
