"""The plugin-to-host contract, carried by pluggy, and the ``@listener`` declaration.

Hook specifications live in :class:`PluginHookSpecs`; a host adds its own, marked with
:data:`hookspec`. A plugin implements a hook by defining a method of the same name,
decorated with :data:`hookimpl` (the ``vbwd_`` prefix alone is enough, as with pytest's
``pytest_`` hooks, so that a misspelt ``vbwd_*`` method is caught rather than silently
ignored).

pluggy carries registration and these hooks, so wrappers, ``tryfirst``/``trylast``,
``firstresult`` and hook-call monitoring work as pluggy documents. One difference: a
plugin is third-party code, so :class:`HookManager` guards each plain (non-wrapper)
implementation - one that raises is logged naming its plugin and counts as having
returned ``None``, and the others still run. pluggy is deliberately *not* on the
per-event hot path: events go through :class:`~vbwd_plugins.EventDispatcher`, which is
far cheaper per call than a pluggy hook.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, TypeVar

import pluggy

from vbwd_plugins.errors import PluginValidationError
from vbwd_plugins.events._dispatcher import EventPriority

if TYPE_CHECKING:
    from vbwd_plugins.events._dispatcher import Event

__all__ = [
    "PROJECT_NAME",
    "HookManager",
    "ListenerSpec",
    "PluginHookSpecs",
    "declared_listeners",
    "hookimpl",
    "hookspec",
    "listener",
]

logger = logging.getLogger(__name__)

PROJECT_NAME: Final = "vbwd"
HOOK_PREFIX: Final = "vbwd_"

#: Marks a function of a host's namespace as a hook specification (see ``add_hookspecs``).
hookspec: Final = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin method as the implementation of a hook in :class:`PluginHookSpecs`.
hookimpl: Final = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One event listener a plugin contributes: subscribed on enable, removed on disable.

    ``id`` names the listener durably within the plugin; its listener id is
    ``"<plugin name>:<id>"`` (default ``"<plugin name>:<qualified name>"``, e.g.
    ``"loyalty:Loyalty.credit_points"``). Give one to keep a listener's deliveries when
    its method is renamed or moved.
    """

    event_name: str
    callback: Callable[[Event], Any]
    priority: EventPriority = EventPriority.NORMAL
    timeout: float | None = None
    id: str | None = None


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
        """Another plugin has just been disabled (a plugin is not told of its own disable)."""


_F = TypeVar("_F", bound=Callable[..., Any])
_LISTENERS_ATTR: Final = "__vbwd_listeners__"
_Mark = tuple[str, EventPriority, float | None, str | None]  # event, priority, timeout, id


def listener(
    event_name: str,
    priority: EventPriority = EventPriority.NORMAL,
    *,
    timeout: float | None = None,
    id: str | None = None,
) -> Callable[[_F], _F]:
    """Declare a plugin method as a listener of ``event_name``.

    The manager subscribes it when the plugin is enabled and removes it when the plugin is
    disabled or uninstalled. A method may be decorated several times for several events.
    ``id`` names it durably: its listener id becomes ``"<plugin name>:<id>"`` instead of
    ``"<plugin name>:<Class.method>"`` (see :class:`ListenerSpec`).
    """

    def mark(func: _F) -> _F:
        marks: list[_Mark] = list(getattr(func, _LISTENERS_ATTR, ()))
        marks.append((event_name, priority, timeout, id))
        setattr(func, _LISTENERS_ATTR, tuple(marks))
        return func

    return mark


_class_listener_cache: dict[
    type, tuple[tuple[str, str, EventPriority, float | None, str | None], ...]
] = {}


def declared_listeners(plugin: object) -> list[ListenerSpec]:
    """The ``@listener`` methods of ``plugin``, bound, in definition order (cached per class)."""
    cls = type(plugin)
    marks = _class_listener_cache.get(cls)
    if marks is None:
        found: list[tuple[str, str, EventPriority, float | None, str | None]] = []
        seen: set[str] = set()
        for klass in cls.__mro__:
            for attr, value in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                for event_name, priority, timeout, name in getattr(value, _LISTENERS_ATTR, ()):
                    found.append((attr, event_name, priority, timeout, name))
        marks = tuple(found)
        _class_listener_cache[cls] = marks
    return [
        ListenerSpec(event_name, getattr(plugin, attr), priority, timeout, name)
        for attr, event_name, priority, timeout, name in marks
    ]


#: Hooks whose failure must reach the caller: a plugin's own listeners, whose failure
#: refuses its enable, are asked of it directly rather than broadcast.
_UNGUARDED: Final = frozenset({"vbwd_event_listeners"})


def _guard(function: Callable[..., Any], plugin_name: str, hook_name: str) -> Callable[..., Any]:
    """``function``, except that an exception is logged naming the plugin and becomes ``None``.

    pluggy stops a hook call at the first exception; a plugin must not be able to stop the
    others. ``None`` is what pluggy skips, so ``firstresult`` moves on to the next one.
    """

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:
            logger.exception("Plugin %r: %s hook raised (ignored)", plugin_name, hook_name)
            return None

    return guarded


class HookManager(pluggy.PluginManager):
    """pluggy manager for vbwd: guards plugins' implementations and checks host specifications.

    Undecorated ``vbwd_*`` methods count as hook implementations.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(PluginHookSpecs)

    def known_hooks(self) -> list[str]:
        """The names of every specified hook, built-in and host-added, sorted."""
        return sorted(
            name
            for name, caller in vars(self.hook).items()
            if isinstance(caller, pluggy.HookCaller) and caller.has_spec()
        )

    def add_hookspecs(self, module_or_class: ModuleType | type) -> None:
        """Add hook specifications; refuse a name already specified, and historic hooks.

        pluggy checks the implementations already registered (enabled plugins) against the
        new specifications; a mismatch raises :class:`PluginValidationError` naming the plugin.
        """
        where = getattr(module_or_class, "__name__", repr(module_or_class))
        for name in dir(module_or_class):
            opts = self.parse_hookspec_opts(module_or_class, name)
            if opts is None:
                continue
            caller = getattr(self.hook, name, None)
            if caller is not None and caller.has_spec():
                raise PluginValidationError(
                    f"Hook {name!r} in {where} is already specified; give it another name"
                )
            if opts.get("historic"):
                # PluginManager registers a plugin with pluggy each time it is enabled, so
                # replaying history would call plugins that were merely registered.
                raise PluginValidationError(
                    f"Hook {name!r} in {where} is historic, which vbwd does not support; "
                    "call it from a vbwd_plugin_enabled implementation instead"
                )
        try:
            super().add_hookspecs(module_or_class)
        except pluggy.PluginValidationError as exc:
            plugin_name = self.get_name(exc.plugin)
            raise PluginValidationError(
                f"Plugin {plugin_name!r}: {exc}", plugin_name=plugin_name
            ) from exc
        except ValueError as exc:  # pluggy found no specification in module_or_class
            raise PluginValidationError(
                f"{exc}: mark hook specifications with vbwd_plugins.hookspec"
            ) from exc

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` with pluggy, guarding each of its plain implementations."""
        plugin_name = super().register(plugin, name)
        if plugin_name is None:
            return None
        for caller in self.get_hookcallers(plugin) or ():
            if caller.name in _UNGUARDED:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    # pluggy has already read the signature; the guard takes any arguments.
                    impl.function = _guard(impl.function, plugin_name, caller.name)  # type: ignore[misc]
        return plugin_name

    def contributed_listeners(self, plugin: object) -> list[object]:
        """What ``plugin``'s own ``vbwd_event_listeners`` returns, called through pluggy.

        Only ``plugin``'s implementation (and wrappers of its own) take part, so each plugin's
        listeners are collected when it is enabled, not mixed with the others'. Exceptions
        propagate: the caller turns them into a refused enable.
        """
        others = [other for other in self.get_plugins() if other is not plugin]
        caller = self.subset_hook_caller("vbwd_event_listeners", remove_plugins=others)
        return [item for result in caller() for item in result]

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
            known = ", ".join(self.known_hooks())
            raise PluginValidationError(
                f"Plugin {plugin_name!r}: {exc} (known hooks: {known})",
                plugin_name=plugin_name,
            ) from exc
