"""The event listeners each enabled plugin subscribed, so disabling removes exactly those."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from vbwd_plugins.errors import PluginHookError
from vbwd_plugins.events._dispatcher import EventDispatcher
from vbwd_plugins.plugins._hooks import ListenerSpec, declared_listeners
from vbwd_plugins.plugins._model import BasePlugin

__all__ = ["Subscriptions"]


class Subscriptions:
    """Subscribes plugins' listeners to one dispatcher and remembers them per plugin."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self._dispatcher = dispatcher
        self._by_plugin: dict[str, list[ListenerSpec]] = {}

    @staticmethod
    def collect(
        name: str, plugin: BasePlugin, contribute: Callable[[], Iterable[object]]
    ) -> list[ListenerSpec]:
        """``@listener`` methods plus what ``contribute`` returns (checked).

        ``contribute`` calls the plugin's ``vbwd_event_listeners`` through pluggy. Collected
        while the plugin is being enabled, so a bad contribution refuses the enable.
        """
        specs = declared_listeners(plugin)
        try:
            contributed = list(contribute())
        except Exception as exc:
            raise PluginHookError(
                f"Plugin {name!r}: vbwd_event_listeners raised {type(exc).__name__}: {exc}",
                plugin_name=name,
                hook="vbwd_event_listeners",
            ) from exc
        for spec in contributed:
            if not isinstance(spec, ListenerSpec):
                raise PluginHookError(
                    f"Plugin {name!r}: vbwd_event_listeners must return ListenerSpec "
                    f"objects, got {spec!r}",
                    plugin_name=name,
                    hook="vbwd_event_listeners",
                )
            specs.append(spec)
        return specs

    def subscribe(self, name: str, listeners: list[ListenerSpec]) -> None:
        """Add ``name``'s listeners to the dispatcher."""
        dispatcher = self._dispatcher
        for spec in listeners:
            if spec.timeout is None:  # a host's own dispatcher may not take timeout=
                dispatcher.add_listener(spec.event_name, spec.callback, spec.priority)
            else:
                dispatcher.add_listener(
                    spec.event_name, spec.callback, spec.priority, timeout=spec.timeout
                )
        self._by_plugin[name] = listeners

    def unsubscribe(self, name: str) -> None:
        """Remove the listeners ``name`` subscribed (none: nothing happens)."""
        for spec in self._by_plugin.pop(name, ()):
            self._dispatcher.remove_listener(spec.event_name, spec.callback)
