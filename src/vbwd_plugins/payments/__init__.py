"""The payment-provider contract (webhooks and recurring billing included), money in minor
units, standard events.

The standard event and billing classes load the first time one is named (module
``__getattr__``): the event dataclasses are a noticeable part of an import that most programs
never use.
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
    from vbwd_plugins.payments._billing import BillingResult as BillingResult
    from vbwd_plugins.payments._billing import CheckoutMode as CheckoutMode
    from vbwd_plugins.payments._billing import CheckoutRequest as CheckoutRequest
    from vbwd_plugins.payments._billing import CheckoutSession as CheckoutSession
    from vbwd_plugins.payments._billing import Customer as Customer
    from vbwd_plugins.payments._billing import Interval as Interval
    from vbwd_plugins.payments._billing import PaymentMethodSetup as PaymentMethodSetup
    from vbwd_plugins.payments._billing import Plan as Plan
    from vbwd_plugins.payments._billing import Proration as Proration
    from vbwd_plugins.payments._billing import ProviderPlan as ProviderPlan
    from vbwd_plugins.payments._billing import SavedPaymentMethod as SavedPaymentMethod
    from vbwd_plugins.payments._billing import Subscription as Subscription
    from vbwd_plugins.payments._billing import SubscriptionRequest as SubscriptionRequest
    from vbwd_plugins.payments._billing import SubscriptionStatus as SubscriptionStatus
    from vbwd_plugins.payments._billing_contract import RecurringBilling as RecurringBilling
    from vbwd_plugins.payments._billing_events import BillingEventData as BillingEventData
    from vbwd_plugins.payments._billing_events import BillingEventType as BillingEventType
    from vbwd_plugins.payments._billing_events import CheckoutCompleted as CheckoutCompleted
    from vbwd_plugins.payments._billing_events import DisputeClosed as DisputeClosed
    from vbwd_plugins.payments._billing_events import DisputeEventData as DisputeEventData
    from vbwd_plugins.payments._billing_events import DisputeOpened as DisputeOpened
    from vbwd_plugins.payments._billing_events import DisputeOutcome as DisputeOutcome
    from vbwd_plugins.payments._billing_events import SubscriptionActivated as SubscriptionActivated
    from vbwd_plugins.payments._billing_events import SubscriptionCancelled as SubscriptionCancelled
    from vbwd_plugins.payments._billing_events import SubscriptionCreated as SubscriptionCreated
    from vbwd_plugins.payments._billing_events import SubscriptionEventData as SubscriptionEventData
    from vbwd_plugins.payments._billing_events import SubscriptionPastDue as SubscriptionPastDue
    from vbwd_plugins.payments._billing_events import SubscriptionPaused as SubscriptionPaused
    from vbwd_plugins.payments._billing_events import (
        SubscriptionPaymentFailed as SubscriptionPaymentFailed,
    )
    from vbwd_plugins.payments._billing_events import SubscriptionRenewed as SubscriptionRenewed
    from vbwd_plugins.payments._billing_events import SubscriptionResumed as SubscriptionResumed
    from vbwd_plugins.payments._billing_events import (
        SubscriptionTrialWillEnd as SubscriptionTrialWillEnd,
    )
    from vbwd_plugins.payments._billing_events import SubscriptionUpdated as SubscriptionUpdated
    from vbwd_plugins.payments._events import PaymentAuthorized as PaymentAuthorized
    from vbwd_plugins.payments._events import PaymentCancelled as PaymentCancelled
    from vbwd_plugins.payments._events import PaymentCompleted as PaymentCompleted
    from vbwd_plugins.payments._events import PaymentEventData as PaymentEventData
    from vbwd_plugins.payments._events import PaymentEventType as PaymentEventType
    from vbwd_plugins.payments._events import PaymentFailed as PaymentFailed
    from vbwd_plugins.payments._events import PaymentPending as PaymentPending
    from vbwd_plugins.payments._events import PaymentRefunded as PaymentRefunded

__all__ = [
    "BillingEventData",
    "BillingEventType",
    "BillingResult",
    "Capability",
    "CheckoutCompleted",
    "CheckoutMode",
    "CheckoutRequest",
    "CheckoutSession",
    "CurrencyRule",
    "CurrencyRules",
    "Customer",
    "DisputeClosed",
    "DisputeEventData",
    "DisputeOpened",
    "DisputeOutcome",
    "ISO_4217_EXPONENTS",
    "ISO_4217_RULES",
    "Interval",
    "Money",
    "PaymentAuthorized",
    "PaymentCancelled",
    "PaymentCompleted",
    "PaymentErrorCode",
    "PaymentEventData",
    "PaymentEventType",
    "PaymentFailed",
    "PaymentMethodSetup",
    "PaymentPending",
    "PaymentProviderPlugin",
    "PaymentRefunded",
    "PaymentResult",
    "PaymentStatus",
    "Plan",
    "Proration",
    "ProviderPlan",
    "ReceivedWebhook",
    "RecurringBilling",
    "SavedPaymentMethod",
    "Subscription",
    "SubscriptionActivated",
    "SubscriptionCancelled",
    "SubscriptionCreated",
    "SubscriptionEventData",
    "SubscriptionPastDue",
    "SubscriptionPaused",
    "SubscriptionPaymentFailed",
    "SubscriptionRenewed",
    "SubscriptionRequest",
    "SubscriptionResumed",
    "SubscriptionStatus",
    "SubscriptionTrialWillEnd",
    "SubscriptionUpdated",
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
    __name__,
    globals(),
    {
        **dict.fromkeys(_EVENTS, "vbwd_plugins.payments._events"),
        **dict.fromkeys(
            (
                "BillingResult",
                "CheckoutMode",
                "CheckoutRequest",
                "CheckoutSession",
                "Customer",
                "Interval",
                "PaymentMethodSetup",
                "Plan",
                "ProviderPlan",
                "Proration",
                "SavedPaymentMethod",
                "Subscription",
                "SubscriptionRequest",
                "SubscriptionStatus",
            ),
            "vbwd_plugins.payments._billing",
        ),
        **dict.fromkeys(
            (
                "BillingEventData",
                "BillingEventType",
                "CheckoutCompleted",
                "DisputeClosed",
                "DisputeEventData",
                "DisputeOpened",
                "DisputeOutcome",
                "SubscriptionActivated",
                "SubscriptionCancelled",
                "SubscriptionCreated",
                "SubscriptionEventData",
                "SubscriptionPastDue",
                "SubscriptionPaused",
                "SubscriptionPaymentFailed",
                "SubscriptionRenewed",
                "SubscriptionResumed",
                "SubscriptionTrialWillEnd",
                "SubscriptionUpdated",
            ),
            "vbwd_plugins.payments._billing_events",
        ),
        "RecurringBilling": "vbwd_plugins.payments._billing_contract",
    },
)
