"""A host for ``inbox replay --factory`` and ``--celery`` in the CLI tests.

:func:`make_manager` builds the host's manager on ``$VBWD_PLUGINS_STORE`` with the plugins of
the test group (the mock provider, once enabled) and the host listener
``activate-subscription``, which fails until ``$WEBHOOK_HOST_FIXED`` is set. :data:`app` is a
Celery app that records the tasks it is asked to send instead of sending them.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from tests.cli.conftest import GROUP
from vbwd_plugins import Event, PluginManager, SQLiteStateStore

LISTENER = "activate-subscription"


def activate(event: Event) -> None:
    """The host's listener: fails until the host is 'fixed'."""
    if not os.environ.get("WEBHOOK_HOST_FIXED"):
        raise RuntimeError("subscriptions table locked")


def add_listeners(manager: PluginManager) -> None:
    """The host's listeners, with stable ids."""
    manager.event_dispatcher.add_listener("payment.completed", activate, id=LISTENER)


def make_manager() -> PluginManager:
    """The host's manager on the store the CLI uses, its plugins started."""
    manager = PluginManager(group=GROUP, store=SQLiteStateStore(os.environ["VBWD_PLUGINS_STORE"]))
    manager.discover()
    manager.start()
    add_listeners(manager)
    return manager


class RecordingCelery(Celery):
    """A Celery app whose ``send_task`` records ``(name, args)`` in :attr:`sent`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def send_task(self, name: str, args: Any = None, *_: Any, **__: Any) -> None:  # type: ignore[override]
        """Record the task instead of sending it to a broker."""
        self.sent.append((name, tuple(args or ())))


app = RecordingCelery("cli-tests", broker="memory://")
