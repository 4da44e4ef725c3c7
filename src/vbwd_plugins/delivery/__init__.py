"""Durable event delivery: an outbox of (event, listener) deliveries, run inline or deferred."""

from vbwd_plugins.delivery._model import Delivery as Delivery
from vbwd_plugins.delivery._model import DeliveryStatus as DeliveryStatus
from vbwd_plugins.delivery._outbox import Outbox as Outbox

__all__ = [
    "Delivery",
    "DeliveryStatus",
    "Outbox",
]
