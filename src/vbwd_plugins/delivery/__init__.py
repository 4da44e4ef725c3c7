"""Durable event delivery: an outbox of (event, listener) deliveries, run inline or deferred."""

from vbwd_plugins.delivery._engine import DeliveryEngine as DeliveryEngine
from vbwd_plugins.delivery._model import Accepted as Accepted
from vbwd_plugins.delivery._model import Delivery as Delivery
from vbwd_plugins.delivery._model import DeliveryClaim as DeliveryClaim
from vbwd_plugins.delivery._model import DeliveryStatus as DeliveryStatus
from vbwd_plugins.delivery._model import NewEvent as NewEvent
from vbwd_plugins.delivery._model import StoredEvent as StoredEvent
from vbwd_plugins.delivery._model import WebhookReceipt as WebhookReceipt
from vbwd_plugins.delivery._model import delivery_id as delivery_id
from vbwd_plugins.delivery._model import delivery_prefix as delivery_prefix
from vbwd_plugins.delivery._model import idempotency_key as idempotency_key
from vbwd_plugins.delivery._outbox import Outbox as Outbox
from vbwd_plugins.delivery._policy import RetryPolicy as RetryPolicy
from vbwd_plugins.delivery._runner import DeliveryRunner as DeliveryRunner
from vbwd_plugins.delivery._runner import RunOutcome as RunOutcome
from vbwd_plugins.delivery._runner import RunResult as RunResult
from vbwd_plugins.delivery._service import DeliveryService as DeliveryService

__all__ = [
    "Accepted",
    "Delivery",
    "DeliveryClaim",
    "DeliveryEngine",
    "DeliveryRunner",
    "DeliveryService",
    "DeliveryStatus",
    "NewEvent",
    "Outbox",
    "RetryPolicy",
    "RunOutcome",
    "RunResult",
    "StoredEvent",
    "WebhookReceipt",
    "delivery_id",
    "delivery_prefix",
    "idempotency_key",
]
