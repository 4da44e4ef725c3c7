"""An example host for vbwd-plugins: a subscription service kept true by billing events.

See ``docs/example.md``. Run it with ``flask --app subscriptions_example run``.
"""

from ._app import create_app as create_app
from ._db import SubscriptionDB as SubscriptionDB
from ._listeners import BillingListeners as BillingListeners
from ._model import Dispute as Dispute
from ._model import HandledEvent as HandledEvent
from ._model import Payment as Payment
from ._model import Refund as Refund
from ._model import Status as Status
from ._model import Subscription as Subscription
from ._plans import PLANS as PLANS
from ._plans import PlanCatalog as PlanCatalog
from ._service import ServiceError as ServiceError
from ._service import SubscriptionService as SubscriptionService

__all__ = [
    "PLANS",
    "BillingListeners",
    "Dispute",
    "HandledEvent",
    "Payment",
    "PlanCatalog",
    "Refund",
    "ServiceError",
    "Status",
    "Subscription",
    "SubscriptionDB",
    "SubscriptionService",
    "create_app",
]
