"""An example host for vbwd-plugins: subscriptions activated by payment webhooks.

See ``docs/example.md``. Run it with ``flask --app subscriptions_example run``.
"""

from ._app import create_app as create_app
from ._db import Status as Status
from ._db import Subscription as Subscription
from ._db import SubscriptionDB as SubscriptionDB
from ._service import PLANS as PLANS
from ._service import ServiceError as ServiceError
from ._service import SubscriptionService as SubscriptionService

__all__ = [
    "PLANS",
    "ServiceError",
    "Status",
    "Subscription",
    "SubscriptionDB",
    "SubscriptionService",
    "create_app",
]
