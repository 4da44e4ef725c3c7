"""A host's manager factory for ``deliveries retry|sweep --factory`` in the CLI tests.

Its listener ``flaky`` fails until ``$DELIVERY_HOST_FIXED`` is set; every call it finishes is
appended to the file ``$DELIVERY_HOST_LEDGER`` (one idempotency key a line).
"""

from __future__ import annotations

import os
from pathlib import Path

from vbwd_plugins import Event, PluginManager, SQLiteStateStore

EVENT = "order.placed"


def steady(event: Event) -> None:
    """Always succeeds."""


def flaky(event: Event) -> None:
    """Fails until the host is 'fixed'; then records its effect."""
    if not os.environ.get("DELIVERY_HOST_FIXED"):
        raise RuntimeError("warehouse API unavailable")
    with Path(os.environ["DELIVERY_HOST_LEDGER"]).open("a", encoding="utf-8") as ledger:
        ledger.write(f"{event.idempotency_key}\n")


def add_listeners(manager: PluginManager) -> None:
    """The host's listeners, with stable ids."""
    manager.event_dispatcher.add_listener(EVENT, steady, id="steady")
    manager.event_dispatcher.add_listener(EVENT, flaky, id="flaky")


def make_manager() -> PluginManager:
    """The host's manager on the store the CLI uses (``$VBWD_PLUGINS_STORE``)."""
    manager = PluginManager(store=SQLiteStateStore(os.environ["VBWD_PLUGINS_STORE"]))
    add_listeners(manager)
    return manager


not_a_factory = 42
