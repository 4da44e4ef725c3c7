"""The payment-provider contract (webhooks included), money in minor units, standard events.

The standard event classes load the first time one is named (module ``__getattr__``): seven
frozen dataclasses are a noticeable part of an import that most programs never use.
"""

from typing import TYPE_CHECKING

from vbwd_plugins._lazy import lazy_names as _lazy_names
from vbwd_plugins.payments._currencies import ISO_4217_EXPONENTS as ISO_4217_EXPONENTS
from vbwd_plugins.payments._money import ISO_4217_RULES as ISO_4217_RULES
from vbwd_plugins.payments._money import CurrencyRule as CurrencyRule
from vbwd_plugins.payments._money import CurrencyRules as CurrencyRules
from vbwd_plugins.payments._money import Money as Money
from vbwd_plugins.payments._money import currency_exponent as currency_exponent
from vbwd_plugins.payments._provider import PaymentProviderPlugin as PaymentProviderPlugin
from vbwd_plugins.payments._results import Capability as Capability
from vbwd_plugins.payments._results import PaymentErrorCode as PaymentErrorCode
from vbwd_plugins.payments._results import PaymentResult as PaymentResult
from vbwd_plugins.payments._results import PaymentStatus as PaymentStatus
from vbwd_plugins.payments._results import header_value as header_value
from vbwd_plugins.payments._webhook import ReceivedWebhook as ReceivedWebhook

if TYPE_CHECKING:
    from vbwd_plugins.payments._events import PaymentAuthorized as PaymentAuthorized
    from vbwd_plugins.payments._events import PaymentCancelled as PaymentCancelled
    from vbwd_plugins.payments._events import PaymentCompleted as PaymentCompleted
    from vbwd_plugins.payments._events import PaymentEventData as PaymentEventData
    from vbwd_plugins.payments._events import PaymentEventType as PaymentEventType
    from vbwd_plugins.payments._events import PaymentFailed as PaymentFailed
    from vbwd_plugins.payments._events import PaymentPending as PaymentPending
    from vbwd_plugins.payments._events import PaymentRefunded as PaymentRefunded

__all__ = [
    "Capability",
    "CurrencyRule",
    "CurrencyRules",
    "ISO_4217_EXPONENTS",
    "ISO_4217_RULES",
    "Money",
    "PaymentAuthorized",
    "PaymentCancelled",
    "PaymentCompleted",
    "PaymentErrorCode",
    "PaymentEventData",
    "PaymentEventType",
    "PaymentFailed",
    "PaymentPending",
    "PaymentProviderPlugin",
    "PaymentRefunded",
    "PaymentResult",
    "PaymentStatus",
    "ReceivedWebhook",
    "currency_exponent",
    "header_value",
]

_EVENTS = frozenset(
    {
        "PaymentAuthorized",
        "PaymentCancelled",
        "PaymentCompleted",
        "PaymentEventData",
        "PaymentEventType",
        "PaymentFailed",
        "PaymentPending",
        "PaymentRefunded",
    }
)


__getattr__ = _lazy_names(
    __name__, globals(), dict.fromkeys(_EVENTS, "vbwd_plugins.payments._events")
)
