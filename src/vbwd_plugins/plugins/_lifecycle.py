"""Registry, lifecycle and dependency checks: the state machine every plugin change goes through.

:class:`PluginLifecycle` is the in-memory half of :class:`PluginManager`: it discovers and
registers plugins, initializes, enables, disables and uninstalls them one at a time,
checks their dependencies, subscribes their listeners, calls the lifecycle hooks and
emits ``plugin.*`` events. Each change runs inside one
:class:`~vbwd_plugins.plugins._reconciler.Change`, which the manager's store reconciler
(when there is one) reads and writes once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from vbwd_plugins.config._resolver import ConfigResolver, ResolvedConfig
from vbwd_plugins.errors import (
    DependencyError,
    DependentsEnabledError,
    InvalidListenerError,
    InvalidMetadataError,
    PluginAlreadyRegisteredError,
    PluginError,
    PluginHookError,
    PluginNotFoundError,
)
from vbwd_plugins.events._catalogue import EventCatalogue
from vbwd_plugins.events._dispatcher import Event, EventDispatcher, EventListener
from vbwd_plugins.plugins._discovery import AllowPolicy, DiscoveredPlugin, DiscoveryState, discover
from vbwd_plugins.plugins._graph import check_requirement, dependency_order, transitive_dependents
from vbwd_plugins.plugins._hooks import HookManager, ListenerSpec
from vbwd_plugins.plugins._listing import LoadReport
from vbwd_plugins.plugins._model import BasePlugin, PluginMetadata, PluginStatus
from vbwd_plugins.plugins._reconciler import (
    Change,
    StoreReconciler,
    detached,
    restore_plugin,
    snapshot_plugin,
)
from vbwd_plugins.plugins._subscriptions import Subscriptions

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["PluginLifecycle"]

logger = logging.getLogger(__name__)


class PluginLifecycle:
    """Registers plugins and moves each through its lifecycle (see :class:`PluginManager`)."""

    def __init__(
        self, event_dispatcher: EventDispatcher | None, group: str, allow: AllowPolicy | None
    ) -> None:
        self._event_dispatcher = EventDispatcher() if event_dispatcher is None else event_dispatcher
        self._group = group
        self._allow = allow
        self._plugins: dict[str, BasePlugin] = {}
        self._metadata: dict[str, PluginMetadata] = {}
        self._requirements: dict[str, tuple[Requirement, ...]] = {}
        self._discovered: dict[str, DiscoveredPlugin] = {}
        self._subscriptions = Subscriptions(self._event_dispatcher)
        self._catalogue = EventCatalogue()
        #: Refuse (rather than log) a plugin listener on an event name nothing is known to emit.
        self.strict = False
        self._hooks = HookManager()
        self._lock = threading.RLock()
        self._resolver = ConfigResolver()
        self._reconciler: StoreReconciler | None = None
        _watched(self)

    @property
    def event_dispatcher(self) -> EventDispatcher:
        """The dispatcher plugins and the host share."""
        return self._event_dispatcher

    # -- discovery -----------------------------------------------------------------

    def discover(self, group: str | None = None) -> list[DiscoveredPlugin]:
        """List installed plugins of the entry-point group without importing any."""
        found = discover(group or self._group, allow=self._allow)
        with self._lock:
            self._discovered = {}
            for plugin in found:
                self._discovered.setdefault(plugin.name, plugin)
        return found

    def get_discovered(self) -> list[DiscoveredPlugin]:
        """The result of the last :meth:`discover` (one entry per plugin name)."""
        with self._lock:
            return list(self._discovered.values())

    def load_plugin(self, name: str) -> BasePlugin:
        """Import, construct and register the discovered plugin ``name`` (idempotent)."""
        with self._lock:
            plugin = self._plugins.get(name)
            if plugin is not None:
                return plugin
            discovered = self._discovered.get(name)
            if discovered is None:
                raise PluginNotFoundError(
                    f"Plugin '{name}' not found: it is neither registered nor discovered "
                    "(call discover() first, or check the distribution is installed)",
                    plugin_name=name,
                )
            plugin = discovered.load()
            self.register_plugin(plugin)
            return plugin

    def load_plugins(self, names: Iterable[str] | None = None) -> LoadReport:
        """Load several discovered plugins; each failure is logged and reported, not raised.

        ``names`` defaults to every discovered plugin that is not blocked or in conflict.
        """
        report = LoadReport()
        if names is None:
            names = [p.name for p in self.get_discovered() if p.state is DiscoveryState.AVAILABLE]
        for name in names:
            try:
                self.load_plugin(name)
            except PluginError as exc:
                logger.error("%s", exc)
                report.failed[name] = exc
            else:
                report.loaded.append(name)
        return report

    # -- registry (the original design's API) --------------------------------------

    def register_plugin(self, plugin: BasePlugin) -> None:
        """Register a plugin instance.

        Raises :class:`InvalidMetadataError` for bad metadata,
        :class:`PluginAlreadyRegisteredError` for a duplicate name and
        :class:`PluginValidationError` for an unknown hook.
        """
        with self._lock:
            metadata = _read_metadata(plugin)
            name = metadata.name
            if name in self._plugins:
                raise PluginAlreadyRegisteredError(
                    f"Plugin '{name}' already registered", plugin_name=name
                )
            plugin._check("register")
            self._hooks.validate(plugin, name)
            plugin._transition("register")
            plugin._attach_dispatcher(self._event_dispatcher)
            self._plugins[name] = plugin
            self._metadata[name] = metadata
            self._requirements[name] = metadata.requirements()
            self._catalogue.register(metadata.emits, source=f"plugin:{name}")
        self._emit("plugin.registered", name)

    def get_plugin(self, name: str) -> BasePlugin | None:
        """The registered plugin ``name``, or ``None``."""
        return self._plugins.get(name)

    def get_all_plugins(self) -> list[BasePlugin]:
        """Every registered plugin."""
        return list(self._plugins.values())

    def get_enabled_plugins(self) -> list[BasePlugin]:
        """Every enabled plugin."""
        return [p for p in self._plugins.values() if p.status is PluginStatus.ENABLED]

    def get_metadata(self, name: str) -> PluginMetadata:
        """The metadata ``name`` had when it was registered."""
        self._require(name)
        return self._metadata[name]

    # -- lifecycle -----------------------------------------------------------------

    def initialize_plugin(self, name: str, config: Mapping[str, Any] | None = None) -> None:
        """Initialize (or re-initialize) ``name`` with ``config``; loads it if only discovered.

        Without ``config`` the stored configuration is used (without a store, the current
        one); environment variables win over both (see ``docs/configuration.md``).
        """
        with self._lock, _traced("initialize", name):
            plugin = self._require(name)
            with self._change(name, plugin) as change:
                plugin._check("initialize")  # an illegal transition wins over a bad config
                self._initialize(name, self._resolve(change, config))

    def enable_plugin(self, name: str) -> None:
        """Enable ``name``: every dependency must be enabled and of a matching version."""
        with self._lock, _traced("enable", name):
            plugin = self._require(name)
            with self._change(name, plugin) as change:
                self._check_dependencies(name)
                plugin._check("enable")
                before = snapshot_plugin(plugin)
                self._activate(name, plugin)
                change.undo.append(lambda: self._undo_enable(name, before))
        self._emit("plugin.enabled", name)

    def disable_plugin(self, name: str, *, cascade: bool = False) -> None:
        """Disable ``name``.

        Refused while enabled plugins depend on it, unless ``cascade`` is true: then
        those dependents are disabled first, in reverse dependency order.
        """
        with self._lock, _traced("disable", name):
            plugin = self._require(name)
            plugin._check("disable")
            dependents = self._enabled_dependents(name, transitive=cascade)
            if dependents and not cascade:
                raise DependentsEnabledError(
                    f"Cannot disable plugin '{name}': plugins {sorted(dependents)} depend on it "
                    "(disable them first, or pass cascade=True)",
                    plugin_name=name,
                    dependents=sorted(dependents),
                )
            for dependent in reversed(self._order(dependents)):
                self._deactivate(dependent)
            self._deactivate(name)

    def uninstall_plugin(self, name: str) -> None:
        """Run ``on_uninstall`` and forget the plugin (allowed from initialized or disabled)."""
        with self._lock, _traced("uninstall", name):
            plugin = self._require(name)
            with self._change(name, plugin) as change:
                before = snapshot_plugin(plugin)
                self._run_hook(name, "uninstall", plugin.uninstall)
                change.undo.append(lambda: restore_plugin(plugin, before))
            del self._plugins[name], self._metadata[name], self._requirements[name]
            self._catalogue.forget(f"plugin:{name}")
            plugin._attach_dispatcher(None)
        self._emit("plugin.uninstalled", name)

    # -- one change --------------------------------------------------------------------

    def _change(self, name: str, plugin: BasePlugin) -> AbstractContextManager[Change]:
        """One change of ``name``, written through to the store when there is one."""
        if self._reconciler is None:
            return nullcontext(detached(name, plugin))
        return self._reconciler.change(name, plugin)

    def _resolve(
        self,
        change: Change,
        given: Mapping[str, Any] | None,
        *,
        patch: bool = False,
        operator: bool = False,
    ) -> ResolvedConfig:
        """The configuration ``change``'s plugin gets: the one pipeline, run once."""
        plugin, record = change.plugin, change.record
        return self._resolver.resolve(
            change.name,
            type(plugin).config_schema,
            stored=None if record is None else record.config,
            current=plugin.config,
            given=given,
            patch=patch,
            operator=operator,
        )

    def _initialize(self, name: str, resolved: ResolvedConfig) -> None:
        """Initialize ``name`` with an already resolved (and validated) configuration."""
        plugin = self._plugins[name]
        with self._change(name, plugin) as change:
            before = snapshot_plugin(plugin)
            self._run_hook(name, "initialize", lambda: plugin.initialize(resolved.config))
            change.resolved = resolved
            change.undo.append(lambda: restore_plugin(plugin, before))
        self._emit("plugin.initialized", name)

    def _activate(self, name: str, plugin: BasePlugin) -> None:
        """Run ``on_enable`` and put the plugin's hooks and listeners in place."""
        self._hooks.register_checked(plugin, name)
        try:
            listeners = self._subscriptions.collect(
                name, plugin, lambda: self._hooks.contributed_listeners(plugin)
            )
            self._check_event_names(name, listeners)
            self._run_hook(name, "enable", plugin.enable)
        except PluginError:
            self._hooks.unregister(plugin)
            raise
        self._subscriptions.subscribe(name, listeners)
        self._broadcast("vbwd_plugin_enabled", name)

    def _check_event_names(self, name: str, listeners: Iterable[ListenerSpec]) -> None:
        """Log (strict: refuse, before ``on_enable``) listeners of names nothing emits."""
        for spec in listeners:
            listener = EventListener(spec.callback).name  # module.qualname, as in the logs
            problem = self._catalogue.unknown_message(spec.event_name, listener)
            if problem is None:
                continue
            if self.strict:
                raise InvalidListenerError(
                    f"Plugin {name!r} cannot be enabled: {problem} (the manager is strict)",
                    plugin_name=name,
                )
            logger.warning("Plugin %r: %s", name, problem)

    def _deactivate(self, name: str) -> None:
        """Disable ``name`` whatever depends on it (callers order dependents first)."""
        plugin = self._plugins[name]
        with self._change(name, plugin) as change:
            self._subscriptions.unsubscribe(name)
            try:
                self._run_hook(name, "disable", plugin.disable)
            finally:
                if self._hooks.is_registered(plugin):
                    self._hooks.unregister(plugin)
            self._broadcast("vbwd_plugin_disabled", name)
            change.undo.append(lambda: self._activate(name, plugin))
        self._emit("plugin.disabled", name)

    def _undo_enable(self, name: str, before: dict[str, object]) -> None:
        self._deactivate(name)
        restore_plugin(self._plugins[name], before)

    # -- internals -------------------------------------------------------------------

    def _require(self, name: str) -> BasePlugin:
        plugin = self._plugins.get(name)
        if plugin is not None:
            return plugin
        if name in self._discovered:
            return self.load_plugin(name)
        raise PluginNotFoundError(f"Plugin '{name}' not found", plugin_name=name)

    def _graph(self, names: Iterable[str]) -> dict[str, list[str]]:
        return {name: [r.name for r in self._requirements[name]] for name in names}

    def _order(self, names: Iterable[str]) -> list[str]:
        return dependency_order(self._graph(names))

    def _check_dependencies(self, name: str) -> None:
        for requirement in self._requirements[name]:
            needed = requirement.name
            dependency = self._plugins.get(needed)
            found = self._discovered.get(needed)
            run = (
                f"(CLI: `vbwd-plugins enable {needed}`, or `vbwd-plugins enable {name} "
                f"--with-dependencies`; Python: manager.enable_plugins([{needed!r}, {name!r}]), "
                "which enables them in dependency order)"
            )
            installed = found is not None and found.state is DiscoveryState.AVAILABLE
            if dependency is None and not installed:
                why = "it is not installed (no plugin of that name is registered or discovered)"
                if found is not None:
                    why = f"it is installed but {found.state.value} (see `vbwd-plugins doctor`)"
                raise DependencyError(
                    f"Plugin '{name}' cannot be enabled: dependency '{needed}' not enabled: "
                    f"{why}; requirement {str(requirement)!r}. Install the distribution that "
                    f"provides '{needed}' (or register it), then enable both {run}",
                    plugin_name=name,
                    requirement=str(requirement),
                )
            if dependency is not None:
                check_requirement(name, requirement, self._metadata[needed].version)
            if dependency is None or dependency.status is not PluginStatus.ENABLED:
                status = "only discovered" if dependency is None else dependency.status.value
                records = {} if self._reconciler is None else self._reconciler.records
                if dependency is None and needed in records:
                    status = f"recorded as {records[needed].status}"
                raise DependencyError(
                    f"Plugin '{name}' cannot be enabled: dependency '{needed}' not enabled: it "
                    f"is installed but {status}; requirement {str(requirement)!r}. Enable it "
                    f"first {run}",
                    plugin_name=name,
                    requirement=str(requirement),
                    found_version=None if dependency is None else self._metadata[needed].version,
                )

    def _enabled_dependents(self, name: str, *, transitive: bool) -> set[str]:
        graph = self._graph(self._plugins)
        if transitive:
            dependents = transitive_dependents(name, graph)
        else:
            dependents = {n for n, deps in graph.items() if name in deps}
        return {n for n in dependents if self._plugins[n].status is PluginStatus.ENABLED}

    def _run_hook(self, name: str, action: str, call: Callable[[], None]) -> None:
        try:
            call()
        except PluginHookError as exc:
            logger.error("Plugin %r failed to %s: %s", name, action, exc, exc_info=exc.__cause__)
            self._emit("plugin.error", name, action=action, error=type(exc.__cause__).__name__)
            raise

    def _broadcast(self, hook_name: str, plugin_name: str) -> None:
        """Tell every enabled plugin about a lifecycle change, through pluggy's hook caller.

        A failing implementation is logged and skipped by the hook manager's guard; a failing
        wrapper ends the call, and is logged here: the change itself has already happened.
        """
        caller = getattr(self._hooks.hook, hook_name)
        try:
            caller(plugin_name=plugin_name)
        except Exception:
            wrappers = [i.plugin_name for i in caller.get_hookimpls() if i.wrapper or i.hookwrapper]
            logger.exception("A wrapper of %s (one of %s) raised (ignored)", hook_name, wrappers)

    def _emit(self, event_name: str, plugin_name: str, **extra: Any) -> None:
        self._event_dispatcher.dispatch(Event(event_name, {"plugin_name": plugin_name, **extra}))


def _traced(action: str, name: str) -> AbstractContextManager[object]:
    """The span of one transition (a no-op without OpenTelemetry; loaded on first use)."""
    from vbwd_plugins.telemetry._spans import lifecycle_span

    return lifecycle_span(action, name)


def _watched(lifecycle: PluginLifecycle) -> None:
    """Report the plugins in the ``vbwd.plugin.status`` gauge (a weak reference)."""
    from vbwd_plugins.telemetry._state import watch_plugins

    watch_plugins(lifecycle)


def _read_metadata(plugin: BasePlugin) -> PluginMetadata:
    """The plugin's metadata, validated; a broken property is reported, not raised raw."""
    owner = type(plugin).__qualname__
    try:
        metadata = plugin.metadata
    except Exception as exc:
        raise InvalidMetadataError(
            f"Plugin {owner}: reading its metadata raised {type(exc).__name__}: {exc}",
            plugin_name=None,
            field="metadata",
        ) from exc
    if not isinstance(metadata, PluginMetadata):
        raise InvalidMetadataError(
            f"Plugin {owner}: metadata is {type(metadata).__name__}, not PluginMetadata",
            plugin_name=None,
            field="metadata",
        )
    metadata.validate()
    return metadata
