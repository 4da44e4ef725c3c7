"""The payment-provider contract, money in minor units and the standard payment events."""

from vbwd_plugins.payments._currencies import ISO_4217_EXPONENTS as ISO_4217_EXPONENTS
from vbwd_plugins.payments._events import PaymentAuthorized as PaymentAuthorized
from vbwd_plugins.payments._events import PaymentCancelled as PaymentCancelled
from vbwd_plugins.payments._events import PaymentCompleted as PaymentCompleted
from vbwd_plugins.payments._events import PaymentEventData as PaymentEventData
from vbwd_plugins.payments._events import PaymentEventType as PaymentEventType
from vbwd_plugins.payments._events import PaymentFailed as PaymentFailed
from vbwd_plugins.payments._events import PaymentPending as PaymentPending
from vbwd_plugins.payments._events import PaymentRefunded as PaymentRefunded
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
    "currency_exponent",
    "header_value",
]
