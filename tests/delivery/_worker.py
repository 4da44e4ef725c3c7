"""Child-process entry points for the multi-process outbox tests (run under ``spawn``)."""

from __future__ import annotations

from typing import Any

from tests.delivery._support import LEASE
from tests.stores._support import StoreTarget
from vbwd_plugins.delivery import Outbox

TIMEOUT = 60.0


def claim_all(target: StoreTarget, ids: list[str], barrier: Any, results: Any) -> None:
    """Open a store, wait for the siblings, claim every delivery; report the ids won."""
    store = target.open()
    assert isinstance(store, Outbox)
    try:
        barrier.wait(TIMEOUT)
        won = [did for did in ids if store.delivery_claim(did, lease=LEASE) is not None]
    finally:
        store.close()
    results.put(won)
