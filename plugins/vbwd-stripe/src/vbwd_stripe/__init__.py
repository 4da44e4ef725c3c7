"""vbwd-stripe: the Stripe payment provider plugin for vbwd-plugins."""

from ._config import StripeConfig as StripeConfig
from ._currency import STRIPE_CURRENCY_RULES as STRIPE_CURRENCY_RULES
from ._plugin import StripePlugin as StripePlugin
from ._version import __version__ as __version__

__all__ = ["STRIPE_CURRENCY_RULES", "StripeConfig", "StripePlugin", "__version__"]
