"""The seam between recording deliveries and running them somewhere else.

``None`` as the engine means *inline*: deliveries run in the calling process right after
their transaction commits (the embedded default, no extra infrastructure). A deferred
engine (the Celery one in ``vbwd_plugins.delivery.celery``, or a host's own) only hands
delivery ids to workers; each worker runs them with a
:class:`~vbwd_plugins.delivery.DeliveryRunner` over the same store and the same listeners.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["DeliveryEngine"]


@runtime_checkable
class DeliveryEngine(Protocol):
    """Runs deliveries outside the caller: a queue, a pool of workers."""

    def submit(self, delivery_ids: Sequence[str]) -> None:
        """Hand ``delivery_ids`` over to be run; return without running them.

        Called after the deliveries were committed. Raising is allowed (the broker is
        down): the deliveries stay recorded and a sweep submits them again, so an engine
        may lose a submission but must never run a delivery inline in place of it.
        """
        ...
