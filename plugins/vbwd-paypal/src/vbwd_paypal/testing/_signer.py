"""Deliveries signed with the test PKI and announced to the fake, ready to post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import rsa

from ._pki import TestPKI
from ._signing import sign_payload

if TYPE_CHECKING:
    from ._fake import FakePayPal


@dataclass
class WebhookSigner:
    """Signs webhook bodies as PayPal does, with the test PKI's signing certificate.

    ``cert_url`` is where the plugin downloads that certificate: an ``https`` URL on a PayPal
    host whose path :meth:`FakePayPal.serve_certificate` serves. Each signed body is also
    registered with the fake, whose verification endpoint (remote verification) compares
    the event it is sent with the body that was signed, as PayPal does. Creating a signer
    makes it the fake's :attr:`~FakePayPal.signer`, which signs the deliveries its billing
    controls return (until the fake is reset).
    """

    fake: FakePayPal
    pki: TestPKI
    cert_url: str

    def __post_init__(self) -> None:
        # The fake's billing controls return deliveries signed by the latest signer.
        self.fake.signer = self

    def headers(
        self,
        body: bytes,
        *,
        key: rsa.RSAPrivateKey | None = None,
        webhook_id: str | None = None,
        cert_url: str | None = None,
        sent_at: datetime | None = None,
        transmission_id: str | None = None,
        register: bool = True,
    ) -> dict[str, str]:
        """The ``PAYPAL-*`` headers for ``body``; each argument overrides one ingredient."""
        headers = sign_payload(
            body,
            key or self.pki.signing.key,
            webhook_id=webhook_id or self.fake.webhook_id,
            cert_url=cert_url or self.cert_url,
            transmission_id=transmission_id,
            sent_at=sent_at,
        )
        if register:
            self.fake.deliveries[headers["PAYPAL-TRANSMISSION-ID"]] = body
        return headers
