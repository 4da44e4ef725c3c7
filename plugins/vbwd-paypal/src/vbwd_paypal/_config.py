"""The PayPal plugin's configuration schema."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, FilePath, SecretStr, field_validator

from vbwd_plugins.config import BaseURL, Trusted

__all__ = ["API_BASES", "DEFAULT_CATALOG_PRODUCT_ID", "DEFAULT_CERT_HOSTS", "PayPalConfig"]

#: REST API base URL per mode.
API_BASES: Final = {
    "sandbox": "https://api-m.sandbox.paypal.com",
    "live": "https://api-m.paypal.com",
}

#: Hosts PayPal serves webhook signing certificates from (seen in ``PAYPAL-CERT-URL``).
DEFAULT_CERT_HOSTS: Final = frozenset(
    {"api.paypal.com", "api.sandbox.paypal.com", "api-m.paypal.com", "api-m.sandbox.paypal.com"}
)

#: The catalog product of every plan, unless ``catalog_product_id`` names another.
DEFAULT_CATALOG_PRODUCT_ID: Final = "VBWD-SUBSCRIPTIONS"

_HOST_RE: Final = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)


class PayPalConfig(BaseModel):
    """Configuration of :class:`~vbwd_paypal.PayPalPlugin`.

    Only ``client_id`` and ``client_secret`` are required; ``webhook_id`` is needed to
    verify webhooks (it is part of what PayPal signs). The fields marked ``Trusted`` decide
    where the client secret goes or which webhooks are believed: an operator (admin API,
    CLI) changes them only with ``client_secret`` given again (see docs/secrets.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    #: REST app client id.
    client_id: str = Field(min_length=1)
    #: REST app secret; never shown, logged or stored in plaintext.
    client_secret: SecretStr
    #: Id of the webhook registered in the PayPal app (``WH-...``); part of the signed string.
    webhook_id: str | None = None
    #: ``sandbox`` or ``live``: selects the API base URL.
    mode: Annotated[Literal["sandbox", "live"], Trusted()] = "sandbox"
    #: Overrides the mode's base URL (a proxy, or a fake server in tests): https, or http
    #: to a loopback host only.
    api_base: BaseURL | None = None
    #: Read timeout of every call, in seconds.
    timeout: float = Field(default=10.0, gt=0, le=300)
    #: Connect timeout of every call, in seconds.
    connect_timeout: float = Field(default=5.0, gt=0, le=60)
    #: Retries after a 429, a 5xx, a connection error or a read timeout (0 disables).
    max_retries: int = Field(default=3, ge=0, le=10)
    #: urllib3 backoff factor: retry 1 is immediate, retry n waits ``factor * 2 ** (n - 1)`` s.
    retry_backoff: float = Field(default=0.5, ge=0, le=30)
    #: Longest single wait between retries, also caps a server's ``Retry-After``.
    retry_backoff_max: float = Field(default=10.0, ge=0, le=120)
    #: ``offline``: check the signature here; ``remote``: ask PayPal's verify endpoint.
    webhook_verification: Annotated[Literal["offline", "remote"], Trusted()] = "offline"
    #: Largest accepted difference between ``PAYPAL-TRANSMISSION-TIME`` and now, seconds.
    transmission_tolerance: int = Field(default=300, gt=0, le=86_400)
    #: PEM file of trusted roots for signing certificates; default: certifi's bundle.
    ca_bundle: Annotated[FilePath | None, Trusted()] = None
    #: Hosts a ``PAYPAL-CERT-URL`` may name; anything else is refused without a request.
    cert_hosts: Annotated[frozenset[str], Trusted()] = DEFAULT_CERT_HOSTS
    #: Capture (or authorize) an order when ``CHECKOUT.ORDER.APPROVED`` arrives.
    capture_on_approval: bool = False
    #: Hours an order's approval link works (PayPal: 3 by default; an account manager can
    #: make it 24, 48 or 72): a payment checkout session's ``expires_at``.
    order_approval_hours: int = Field(default=3, ge=1, le=72)
    #: Id of the one catalog product every billing plan ``ensure_plan`` makes belongs to
    #: (created on first use). PayPal revises a subscription only to a plan of the same
    #: product, so one product is what lets a payer move between any two plans.
    catalog_product_id: str = Field(
        default=DEFAULT_CATALOG_PRODUCT_ID, pattern=r"^[A-Za-z0-9_-]{6,50}$"
    )

    @field_validator("cert_hosts")
    @classmethod
    def _check_cert_hosts(cls, value: frozenset[str]) -> frozenset[str]:
        hosts = frozenset(host.strip().lower() for host in value)
        bad = sorted(host for host in hosts if not _HOST_RE.fullmatch(host))
        if bad:
            raise ValueError(f"not plain host names (no scheme, port or path): {bad}")
        if not hosts:
            raise ValueError("must name at least one host")
        return hosts

    @property
    def base_url(self) -> str:
        """The API base URL in effect (``api_base`` or the mode's), without trailing slash."""
        return self.api_base or API_BASES[self.mode]
