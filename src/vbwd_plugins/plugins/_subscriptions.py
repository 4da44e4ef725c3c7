"""The event listeners each enabled plugin subscribed, so disabling removes exactly those.

Each plugin listener gets a stable id, ``"<plugin name>:<id>"``: the ``id`` given to
``@listener`` / :class:`ListenerSpec`, or else the callable's qualified name
(``"loyalty:Loyalty.credit_points"``; ``#2``, ``#3``... for further listeners of one event
with the same name). The plugin name keeps plugins from taking each other's ids.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable

from vbwd_plugins.errors import InvalidListenerError, PluginError, PluginHookError
from vbwd_plugins.events._dispatcher import EventDispatcher, listener_id_of
from vbwd_plugins.plugins._hooks import ListenerSpec, declared_listeners
from vbwd_plugins.plugins._model import BasePlugin

__all__ = ["Subscriptions", "plugin_listener_id"]


def plugin_listener_id(plugin_name: str, spec: ListenerSpec) -> str:
    """The listener id of ``spec`` before de-duplication: ``"<plugin>:<id or qualname>"``."""
    if spec.id is not None:
        if not isinstance(spec.id, str) or not spec.id:
            raise InvalidListenerError(
                f"Plugin {plugin_name!r}: listener id for {spec.event_name!r} must be a "
                f"non-empty str, not {spec.id!r}"
            )
        return f"{plugin_name}:{spec.id}"
    target = spec.callback
    while isinstance(target, functools.partial):
        target = target.func
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(qualname, str):  # an object with __call__
        qualname = type(target).__qualname__
    return f"{plugin_name}:{qualname}"


class Subscriptions:
    """Subscribes plugins' listeners to one dispatcher and remembers them per plugin."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self._dispatcher = dispatcher
        self._by_plugin: dict[str, list[ListenerSpec]] = {}

    def collect(
        self, name: str, plugin: BasePlugin, contribute: Callable[[], Iterable[object]]
    ) -> list[ListenerSpec]:
        """``@listener`` methods plus what ``contribute`` returns (checked), ids resolved.

        ``contribute`` calls the plugin's ``vbwd_event_listeners`` through pluggy. Collected
        while the plugin is being enabled, so a bad contribution or an id another listener
        of the event already has refuses the enable. Each returned spec's ``id`` is its
        full listener id.
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
        return self._resolve_ids(name, specs)

    def _resolve_ids(self, name: str, specs: list[ListenerSpec]) -> list[ListenerSpec]:
        taken: dict[tuple[str, str], ListenerSpec] = {}
        resolved: list[ListenerSpec] = []
        for spec in specs:
            wanted = plugin_listener_id(name, spec)
            full, number = wanted, 1
            if spec.id is None:
                while (spec.event_name, full) in taken:
                    number += 1
                    full = f"{wanted}#{number}"
            other = taken.get((spec.event_name, full))
            existing = self._dispatcher.find_listener(spec.event_name, full)
            holder = listener_id_of(other.callback) if other is not None else None
            if holder is None and existing is not None:
                holder = existing.name
            if holder is not None:
                raise InvalidListenerError(
                    f"Plugin {name!r}: listener id {full!r} on event {spec.event_name!r} is "
                    f"taken: {listener_id_of(spec.callback)} cannot use the id of {holder}; "
                    "give one of them another id (@listener(..., id=...))"
                )
            done = dataclasses.replace(spec, id=full)
            taken[(spec.event_name, full)] = done
            resolved.append(done)
        return resolved

    def subscribe(self, name: str, listeners: list[ListenerSpec]) -> None:
        """Add ``name``'s listeners (ids resolved by :meth:`collect`) to the dispatcher."""
        dispatcher = self._dispatcher
        added: list[ListenerSpec] = []
        try:
            for spec in listeners:
                dispatcher.add_listener(
                    spec.event_name, spec.callback, spec.priority, id=spec.id, timeout=spec.timeout
                )
                added.append(spec)
        except PluginError:
            for spec in added:
                dispatcher.remove_listener(spec.event_name, spec.callback)
            raise
        self._by_plugin[name] = listeners

    def unsubscribe(self, name: str) -> None:
        """Remove the listeners ``name`` subscribed (none: nothing happens)."""
        for spec in self._by_plugin.pop(name, ()):
            self._dispatcher.remove_listener(spec.event_name, spec.callback)
