"""Testing kit for hosts that use vbwd-paypal: PayPal's webhook signer, a test PKI and a fake
PayPal API.

* :func:`sign_payload` and :func:`make_event`: signed deliveries, as PayPal sends them;
  :class:`TestPKI`: a throw-away root, intermediate and signing certificates to sign with.
* :class:`FakePayPal`: tokens, Orders v2 and Payments v2 on 127.0.0.1, with scripted
  failures (:class:`Script`), certificate downloads and remote verification;
  :class:`WebhookSigner` signs with the test PKI and registers each delivery with it.
* Recurring billing on the same fake: catalog products, billing plans, subscriptions, their
  sales (refunds) and disputes, with a billing clock and test controls
  (``approve_subscription``, ``renew``, ``advance``, ``fail_renewals``, ``approve_revision``,
  ``open_dispute``, ``resolve_dispute``) that return signed deliveries
  (:class:`~vbwd_plugins.testing.WebhookDelivery`); what API calls cause waits for
  ``take_webhooks()``. ``PAYPAL_CURRENCIES`` and ``DISPUTE_OUTCOMES`` list what
  the fake accepts.
* :class:`LoopbackTLSAdapter` and :class:`NoNetworkAdapter`: ``requests`` adapters that send
  PayPal's certificate URLs to the fake's TLS port and refuse everything else.

:class:`FakePayPal` and :class:`WebhookSigner` need the ``testing`` extra
(``pip install 'vbwd-paypal[testing]'``) and are loaded on first use, so the signer and the
PKI work without it. ``import vbwd_paypal`` does not import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._adapters import LoopbackTLSAdapter as LoopbackTLSAdapter
from ._adapters import NoNetworkAdapter as NoNetworkAdapter
from ._cycles import PAYPAL_CURRENCIES as PAYPAL_CURRENCIES
from ._disputes import DISPUTE_OUTCOMES as DISPUTE_OUTCOMES
from ._pki import CERT_HOSTS as CERT_HOSTS
from ._pki import Issued as Issued
from ._pki import TestPKI as TestPKI
from ._signing import make_event as make_event
from ._signing import paypal_time as paypal_time
from ._signing import sign_payload as sign_payload
from ._wire import Recorded as Recorded
from ._wire import Script as Script
from ._wire import error_body as error_body
from ._wire import new_id as new_id

if TYPE_CHECKING:
    from ._fake import FakePayPal as FakePayPal
    from ._signer import WebhookSigner as WebhookSigner

__all__ = [
    "CERT_HOSTS",
    "DISPUTE_OUTCOMES",
    "FakePayPal",
    "Issued",
    "LoopbackTLSAdapter",
    "NoNetworkAdapter",
    "PAYPAL_CURRENCIES",
    "Recorded",
    "Script",
    "TestPKI",
    "WebhookSigner",
    "error_body",
    "make_event",
    "new_id",
    "paypal_time",
    "sign_payload",
]


def __getattr__(name: str) -> Any:
    # The fake imports werkzeug (the ``testing`` extra); the signer types against the fake.
    if name in ("FakePayPal", "WebhookSigner"):
        try:
            from ._fake import FakePayPal
            from ._signer import WebhookSigner
        except ImportError as exc:
            raise ImportError(
                f"vbwd_paypal.testing.{name} needs {exc.name!r}: "
                "install the testing extra, pip install 'vbwd-paypal[testing]'",
                name=exc.name,
            ) from exc
        return FakePayPal if name == "FakePayPal" else WebhookSigner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
