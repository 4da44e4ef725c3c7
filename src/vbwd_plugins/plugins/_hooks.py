"""The plugin-to-host contract, carried by pluggy, and the ``@listener`` declaration.

Hook specifications live in :class:`PluginHookSpecs`. A plugin implements a hook by
defining a method of the same name, decorated with :data:`hookimpl` (the ``vbwd_``
prefix alone is enough, as with pytest's ``pytest_`` hooks, so that a misspelt
``vbwd_*`` method is caught rather than silently ignored).

pluggy carries registration and these hooks; it is deliberately *not* on the per-event
hot path: events go through :class:`~vbwd_plugins.EventDispatcher`, which is far
cheaper per call than a pluggy hook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

import pluggy

from vbwd_plugins.errors import PluginValidationError
from vbwd_plugins.events._dispatcher import EventPriority

if TYPE_CHECKING:
    from vbwd_plugins.events._dispatcher import Event

__all__ = [
    "PROJECT_NAME",
    "ListenerSpec",
    "PluginHookSpecs",
    "declared_listeners",
    "hookimpl",
    "hookspec",
    "listener",
]

PROJECT_NAME: Final = "vbwd"
HOOK_PREFIX: Final = "vbwd_"

hookspec: Final = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin method as the implementation of a hook in :class:`PluginHookSpecs`.
hookimpl: Final = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One event listener a plugin contributes: subscribed on enable, removed on disable."""

    event_name: str
    callback: Callable[[Event], Any]
    priority: EventPriority = EventPriority.NORMAL
    timeout: float | None = None


class PluginHookSpecs:
    """Hooks the core calls on enabled plugins."""

    @hookspec
    def vbwd_event_listeners(self) -> Iterable[ListenerSpec]:  # type: ignore[empty-body]
        """Return listeners to subscribe while this plugin is enabled.

        Use it for listeners that depend on configuration; fixed ones are simpler with
        the :func:`listener` decorator.
        """

    @hookspec
    def vbwd_plugin_enabled(self, plugin_name: str) -> None:
        """Another plugin (or this one) has just been enabled."""

    @hookspec
    def vbwd_plugin_disabled(self, plugin_name: str) -> None:
        """Another plugin (or this one) has just been disabled."""


_F = TypeVar("_F", bound=Callable[..., Any])
_LISTENERS_ATTR: Final = "__vbwd_listeners__"


def listener(
    event_name: str,
    priority: EventPriority = EventPriority.NORMAL,
    *,
    timeout: float | None = None,
) -> Callable[[_F], _F]:
    """Declare a plugin method as a listener of ``event_name``.

    The manager subscribes it when the plugin is enabled and removes it when the plugin is
    disabled or uninstalled. A method may be decorated several times for several events.
    """

    def mark(func: _F) -> _F:
        marks: list[tuple[str, EventPriority, float | None]] = list(
            getattr(func, _LISTENERS_ATTR, ())
        )
        marks.append((event_name, priority, timeout))
        setattr(func, _LISTENERS_ATTR, tuple(marks))
        return func

    return mark


_class_listener_cache: dict[type, tuple[tuple[str, str, EventPriority, float | None], ...]] = {}


def declared_listeners(plugin: object) -> list[ListenerSpec]:
    """The ``@listener`` methods of ``plugin``, bound, in definition order (cached per class)."""
    cls = type(plugin)
    marks = _class_listener_cache.get(cls)
    if marks is None:
        found: list[tuple[str, str, EventPriority, float | None]] = []
        seen: set[str] = set()
        for klass in cls.__mro__:
            for attr, value in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                for event_name, priority, timeout in getattr(value, _LISTENERS_ATTR, ()):
                    found.append((attr, event_name, priority, timeout))
        marks = tuple(found)
        _class_listener_cache[cls] = marks
    return [
        ListenerSpec(event_name, getattr(plugin, attr), priority, timeout)
        for attr, event_name, priority, timeout in marks
    ]


class HookManager(pluggy.PluginManager):
    """pluggy manager that also treats undecorated ``vbwd_*`` methods as hook implementations."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(PluginHookSpecs)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        # Look the attribute up on the class so properties are not evaluated.
        if (
            opts is None
            and name.startswith(HOOK_PREFIX)
            and callable(getattr(type(plugin), name, None))
        ):
            return {
                "wrapper": False,
                "hookwrapper": False,
                "optionalhook": False,
                "tryfirst": False,
                "trylast": False,
                "specname": None,
            }
        return opts

    def validate(self, plugin: object, plugin_name: str) -> None:
        """Register and unregister ``plugin`` to let pluggy check its hooks; raise on error."""
        self.register_checked(plugin, plugin_name)
        self.unregister(plugin)

    def register_checked(self, plugin: object, plugin_name: str) -> None:
        """Register ``plugin``; raise :class:`PluginValidationError` for an unknown or bad hook."""
        try:
            self.register(plugin, name=plugin_name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginValidationError(
                f"Plugin {plugin_name!r}: {exc}", plugin_name=plugin_name
            ) from exc
        try:
            self.check_pending()  # pluggy's check for implementations without a spec
        except pluggy.PluginValidationError as exc:
            self.unregister(plugin)
            known = ", ".join(
                sorted(name for name in dir(PluginHookSpecs) if name.startswith(HOOK_PREFIX))
            )
            raise PluginValidationError(
                f"Plugin {plugin_name!r}: {exc} (known hooks: {known})",
                plugin_name=plugin_name,
            ) from exc
