"""The event names something is known to emit, so a listener on a misspelt name is caught.

A name is known when the core emits it (the standard payment events and the ``plugin.*``
lifecycle events), when a registered plugin declares it in ``PluginMetadata.emits``, or when
the host registers it (``PluginManager.register_event_names``). The dispatcher itself stays
ignorant of the catalogue: any name can still be dispatched and listened to; the plugin
manager consults the catalogue when a plugin's listeners are subscribed.
"""

from __future__ import annotations

import difflib
import functools
import threading
from collections.abc import Iterable
from typing import Final

from vbwd_plugins.errors import InvalidListenerError

__all__ = ["CORE_SOURCE", "HOST_SOURCE", "PLUGIN_EVENTS", "EventCatalogue", "check_event_name"]

#: The lifecycle events the plugin manager emits (``data["plugin_name"]`` names the plugin).
PLUGIN_EVENTS: Final = (
    "plugin.registered",
    "plugin.initialized",
    "plugin.enabled",
    "plugin.disabled",
    "plugin.uninstalled",
    "plugin.error",
)
CORE_SOURCE: Final = "core"
HOST_SOURCE: Final = "host"
#: Longest event name the catalogue takes (far beyond any real one).
MAX_EVENT_NAME: Final = 200


def check_event_name(name: object, what: str = "event name") -> str:
    """``name`` if it can name an event: a str of 1-200 printable characters, no whitespace."""
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= MAX_EVENT_NAME
        or not name.isprintable()
        or any(char.isspace() for char in name)
    ):
        raise InvalidListenerError(
            f"{what} must be a str of 1 to {MAX_EVENT_NAME} printable characters without "
            f"whitespace, not {name!r}"
        )
    return name


@functools.cache
def _core_names() -> frozenset[str]:
    # Imported on first use: the payments domain stays out of ``import vbwd_plugins``.
    from vbwd_plugins.payments._billing_events import BillingEventType
    from vbwd_plugins.payments._events import PaymentEventType

    return (
        frozenset(PLUGIN_EVENTS)
        | {event.value for event in PaymentEventType}
        | {event.value for event in BillingEventType}
    )


class EventCatalogue:
    """Known event names and who made each known (``"core"``, ``"host"``, a plugin's name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[str, frozenset[str]] = {}  # name -> sources, besides the core

    def register(self, names: Iterable[str], source: str = HOST_SOURCE) -> None:
        """Make ``names`` known on behalf of ``source``; all are checked before any is added."""
        if isinstance(names, str):  # a lone name would otherwise be split into letters
            names = [names]
        checked = [check_event_name(name) for name in names]
        with self._lock:
            for name in checked:
                self._sources[name] = self._sources.get(name, frozenset()) | {source}

    def forget(self, source: str) -> None:
        """Drop what ``source`` registered (a plugin being uninstalled)."""
        with self._lock:
            for name, sources in list(self._sources.items()):
                if source in sources:
                    rest = sources - {source}
                    if rest:
                        self._sources[name] = rest
                    else:
                        del self._sources[name]

    def __contains__(self, name: object) -> bool:
        return name in self._sources or name in _core_names()

    def names(self) -> frozenset[str]:
        """Every known name."""
        return _core_names() | self._sources.keys()

    def sources(self, name: str) -> frozenset[str]:
        """Who made ``name`` known (empty when it is not)."""
        core = frozenset({CORE_SOURCE}) if name in _core_names() else frozenset()
        return core | self._sources.get(name, frozenset())

    def closest(self, name: str) -> str | None:
        """The known name ``name`` is most likely a misspelling of, if one is close enough."""
        matches = difflib.get_close_matches(name, sorted(self.names()), n=1, cutoff=0.6)
        return matches[0] if matches else None

    def unknown_message(self, event_name: str, listener: str) -> str | None:
        """Why ``listener`` on ``event_name`` is suspicious, or ``None`` if the name is known."""
        if event_name in self:
            return None
        closest = self.closest(event_name)
        hint = f" (did you mean {closest!r}?)" if closest is not None else ""
        return (
            f"listener {listener} is subscribed to event {event_name!r}, which nothing is "
            f"known to emit{hint}. Known names come from the core's standard events, "
            "plugins' PluginMetadata(emits=[...]) and manager.register_event_names([...])"
        )
