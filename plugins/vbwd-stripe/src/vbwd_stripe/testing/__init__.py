"""Testing kit for hosts that use vbwd-stripe: Stripe's webhook signer and a fake Stripe API.

* :func:`sign_payload` and :func:`make_event`: signed deliveries, as Stripe sends them.
* :class:`FakeStripe`: PaymentIntents, Refunds and billing (customers, products, prices,
  Checkout Sessions, SetupIntents, subscriptions, invoices, disputes) on 127.0.0.1 for the
  real SDK, with scripted failures (:class:`Scripted`), the events each change produces,
  a controllable clock and test controls (``complete_checkout``, ``renew``, ``retry``,
  ``open_dispute`` ...) that return the signed webhook deliveries. It needs the
  ``testing`` extra (``pip install 'vbwd-stripe[testing]'``) and is loaded on first use, so
  the signer works without it.

``import vbwd_stripe`` does not import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._webhooks import API_VERSION as API_VERSION
from ._webhooks import DEFAULT_WEBHOOK_SECRET as DEFAULT_WEBHOOK_SECRET
from ._webhooks import make_event as make_event
from ._webhooks import sign_payload as sign_payload
from ._wire import TEST_PAYMENT_METHODS as TEST_PAYMENT_METHODS
from ._wire import Scripted as Scripted
from ._wire import SeenRequest as SeenRequest

if TYPE_CHECKING:
    from ._fake import FakeStripe as FakeStripe

__all__ = [
    "API_VERSION",
    "DEFAULT_WEBHOOK_SECRET",
    "TEST_PAYMENT_METHODS",
    "FakeStripe",
    "Scripted",
    "SeenRequest",
    "make_event",
    "sign_payload",
]


def __getattr__(name: str) -> Any:
    # The fake imports pytest-httpserver and werkzeug (the ``testing`` extra).
    if name == "FakeStripe":
        try:
            from ._fake import FakeStripe
        except ImportError as exc:
            raise ImportError(
                f"vbwd_stripe.testing.FakeStripe needs {exc.name!r}: "
                "install the testing extra, pip install 'vbwd-stripe[testing]'",
                name=exc.name,
            ) from exc
        return FakeStripe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
