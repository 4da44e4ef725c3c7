"""vbwd-paypal: the PayPal payment provider plugin for vbwd-plugins."""

from ._approval import ORDER_APPROVED as ORDER_APPROVED
from ._approval import OrderApproved as OrderApproved
from ._client import PayPalClient as PayPalClient
from ._config import PayPalConfig as PayPalConfig
from ._errors import PayPalAPIError as PayPalAPIError
from ._errors import PayPalError as PayPalError
from ._errors import PayPalTransportError as PayPalTransportError
from ._mapping import PAYPAL_CURRENCY_RULES as PAYPAL_CURRENCY_RULES
from ._plugin import PayPalPlugin as PayPalPlugin
from ._version import __version__ as __version__

__all__ = [
    "ORDER_APPROVED",
    "OrderApproved",
    "PAYPAL_CURRENCY_RULES",
    "PayPalAPIError",
    "PayPalClient",
    "PayPalConfig",
    "PayPalError",
    "PayPalPlugin",
    "PayPalTransportError",
    "__version__",
]
