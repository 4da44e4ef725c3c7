"""The plugin manager: the only path that changes plugin state.

It registers plugins (validating metadata and hooks), drives the lifecycle, checks
dependencies, subscribes each enabled plugin's listeners and emits ``plugin.*`` events.
Discovery is lazy: :meth:`PluginManager.discover` lists installed plugins; a plugin is
imported only when it is registered, initialized or enabled by name.

With a :class:`StateStore`, every status and configuration change is written through
in the same operation (and undone in memory if the write fails); :meth:`PluginManager.start`
restores the recorded state and :meth:`PluginManager.refresh` applies other processes'
changes. The store is the source of truth for configuration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement

from vbwd_plugins.config._resolver import PluginStateSync, restore_plugin, snapshot_plugin
from vbwd_plugins.config._schema import public_config
from vbwd_plugins.config._secrets import FernetSecretBox, SecretBox, rotate_store
from vbwd_plugins.errors import (
    DependencyError,
    DependentsEnabledError,
    InvalidMetadataError,
    PluginAlreadyRegisteredError,
    PluginError,
    PluginHookError,
    PluginNotFoundError,
    StoreError,
)
from vbwd_plugins.events._dispatcher import Event, EventDispatcher
from vbwd_plugins.plugins._discovery import (
    DEFAULT_GROUP,
    AllowPolicy,
    DiscoveredPlugin,
    DiscoveryState,
    discover,
)
from vbwd_plugins.plugins._graph import check_requirement, dependency_order, transitive_dependents
from vbwd_plugins.plugins._hooks import HookManager, ListenerSpec, declared_listeners
from vbwd_plugins.plugins._model import BasePlugin, PluginMetadata, PluginStatus

if TYPE_CHECKING:
    from vbwd_plugins.stores._base import PluginRecord, StateStore

__all__ = ["MISSING", "LoadReport", "PluginInfo", "PluginManager"]

logger = logging.getLogger(__name__)

#: Statuses in which a plugin holds a configuration of its own.
_CONFIGURED = frozenset({PluginStatus.INITIALIZED, PluginStatus.ENABLED, PluginStatus.DISABLED})

#: Listing status of a plugin the store records but no installed distribution provides.
MISSING = "missing"


@dataclass
class LoadReport:
    """Outcome of loading several plugins: failures never stop the others."""

    loaded: list[str] = field(default_factory=list)
    failed: dict[str, PluginError] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One row of :meth:`PluginManager.describe`: what a listing shows about a plugin."""

    name: str
    version: str | None
    distribution: str | None
    status: str
    dependencies: tuple[str, ...]
    error: str | None = None


class PluginManager:
    """Registers plugins and drives their lifecycle, dependencies and events.

    ``allow`` restricts which discovered plugins may load: a collection of plugin or
    distribution names, or a predicate over :class:`DiscoveredPlugin`. Plugins outside it
    are listed as blocked and never imported.

    ``store`` persists status and configuration (see :meth:`start`, :meth:`refresh`);
    ``secret_box`` encrypts secret fields for it and defaults to a
    :class:`FernetSecretBox` with the keys of ``VBWD_PLUGINS_SECRET_KEYS``.
    """

    def __init__(
        self,
        event_dispatcher: EventDispatcher | None = None,
        *,
        group: str = DEFAULT_GROUP,
        allow: AllowPolicy | None = None,
        store: StateStore | None = None,
        secret_box: SecretBox | None = None,
    ) -> None:
        self._event_dispatcher = EventDispatcher() if event_dispatcher is None else event_dispatcher
        self._group = group
        self._allow = allow
        self._plugins: dict[str, BasePlugin] = {}
        self._metadata: dict[str, PluginMetadata] = {}
        self._requirements: dict[str, tuple[Requirement, ...]] = {}
        self._discovered: dict[str, DiscoveredPlugin] = {}
        self._subscriptions: dict[str, list[ListenerSpec]] = {}
        self._hooks = HookManager()
        self._lock = threading.RLock()
        self._sync: PluginStateSync | None = None
        if store is not None:
            box = FernetSecretBox.from_env() if secret_box is None else secret_box
            self._sync = PluginStateSync(store, box)
        self._records: dict[str, PluginRecord] = {}  # the store as last read
        self._applied: dict[str, int] = {}  # record versions this process has applied
        self._sync_depth = 0  # > 0 while applying the store's state: nothing to write back

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
            metadata = self._read_metadata(plugin)
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
        """Initialize (or re-initialize) ``name`` with ``config``; loads it if only discovered."""
        with self._lock:
            plugin = self._require(name)
            sync = self._writer()
            if sync is None:
                self._run_hook(name, "initialize", lambda: plugin.initialize(config))
            else:
                # The stored configuration is used when none is given; the result is stored.
                record = sync.store.get(name)
                values, env_keys = sync.resolve(name, plugin, record, config)
                before = snapshot_plugin(plugin)
                self._run_hook(name, "initialize", lambda: plugin.initialize(values))
                self._persist(
                    name,
                    lambda: sync.write_config(name, plugin, env_keys, record),
                    undo=lambda: restore_plugin(plugin, before),
                )
        self._emit("plugin.initialized", name)

    def enable_plugin(self, name: str) -> None:
        """Enable ``name``: every dependency must be enabled and of a matching version."""
        with self._lock:
            plugin = self._require(name)
            self._check_dependencies(name)
            plugin._check("enable")
            before = snapshot_plugin(plugin)
            listeners = self._collect_listeners(name, plugin)
            self._hooks.register_checked(plugin, name)
            try:
                self._run_hook(name, "enable", plugin.enable)
            except PluginError:
                self._hooks.unregister(plugin)
                raise
            self._subscribe(name, listeners)
            self._broadcast("vbwd_plugin_enabled", name)
            self._persist_status(name, plugin, undo=lambda: self._undo_enable(name, before))
        self._emit("plugin.enabled", name)

    def disable_plugin(self, name: str, *, cascade: bool = False) -> None:
        """Disable ``name``.

        Refused while enabled plugins depend on it, unless ``cascade`` is true: then
        those dependents are disabled first, in reverse dependency order.
        """
        with self._lock:
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
        with self._lock:
            plugin = self._require(name)
            before = snapshot_plugin(plugin)
            self._run_hook(name, "uninstall", plugin.uninstall)
            self._persist_status(name, plugin, undo=lambda: restore_plugin(plugin, before))
            del self._plugins[name], self._metadata[name], self._requirements[name]
            plugin._attach_dispatcher(None)
        self._emit("plugin.uninstalled", name)

    # -- sets of plugins -------------------------------------------------------------

    def dependency_order(self, names: Iterable[str] | None = None) -> list[str]:
        """``names`` (default: every registered plugin) ordered dependencies-first."""
        with self._lock:
            selected = list(self._plugins) if names is None else list(names)
            for name in selected:
                self._require(name)
            return self._order(selected)

    def enable_plugins(
        self,
        names: Iterable[str],
        *,
        configs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Enable ``names`` in dependency order, atomically.

        Plugins only discovered are loaded; plugins not yet initialized are initialized
        with ``configs[name]`` (plugins named in ``configs`` are re-initialized). If any
        step fails, the plugins enabled by this call are disabled again in reverse order
        and the error is raised. Returns the names this call enabled, in order.
        """
        configs = configs or {}
        with self._lock:
            selected = list(dict.fromkeys(names))
            for name in selected:
                self._require(name)
            order = self._order(selected)
            for name in order:  # fail before changing anything on a static mismatch
                for requirement in self._requirements[name]:
                    if requirement.name not in self._plugins:
                        self._check_dependencies(name)
                    check_requirement(name, requirement, self._metadata[requirement.name].version)
            enabled: list[str] = []
            current = ""
            try:
                for current in order:
                    plugin = self._plugins[current]
                    if plugin.status is PluginStatus.ENABLED:
                        continue
                    if current in configs or plugin.status in (
                        PluginStatus.REGISTERED,
                        PluginStatus.ERROR,
                    ):
                        self.initialize_plugin(current, configs.get(current))
                    self.enable_plugin(current)
                    enabled.append(current)
            except PluginError as exc:
                for name in reversed(enabled):
                    try:
                        self._deactivate(name)
                    except PluginError:
                        logger.exception("Rolling back: disabling plugin %r failed", name)
                exc.add_note(
                    f"enable_plugins failed at plugin {current!r}; "
                    f"rolled back (disabled again): {list(reversed(enabled)) or 'nothing'}"
                )
                raise
            return enabled

    def disable_plugins(self, names: Iterable[str]) -> list[str]:
        """Disable ``names`` in reverse dependency order; returns the names disabled.

        Refused before anything changes while an enabled plugin outside ``names``
        depends on one of them.
        """
        with self._lock:
            selected = list(dict.fromkeys(names))
            for name in selected:
                self._require(name)
            blocking: dict[str, list[str]] = {}
            for name in selected:
                outside = self._enabled_dependents(name, transitive=True) - set(selected)
                if outside:
                    blocking[name] = sorted(outside)
            if blocking:
                first = next(iter(blocking))
                raise DependentsEnabledError(
                    f"Cannot disable plugin '{first}': plugins {blocking[first]} depend on it",
                    plugin_name=first,
                    dependents=blocking[first],
                )
            disabled: list[str] = []
            for name in reversed(self._order(selected)):
                if self._plugins[name].status is PluginStatus.ENABLED:
                    self._deactivate(name)
                    disabled.append(name)
            return disabled

    def describe(self) -> list[PluginInfo]:
        """Registered and discovered plugins, registered ones in dependency order."""
        with self._lock:
            rows: list[PluginInfo] = []
            try:
                order = self._order(list(self._plugins))
            except DependencyError:
                order = sorted(self._plugins)
            for name in order:
                plugin = self._plugins[name]
                discovered = self._discovered.get(name)
                rows.append(
                    PluginInfo(
                        name=name,
                        version=self._metadata[name].version,
                        distribution=discovered.distribution if discovered else None,
                        status=plugin.status.value,
                        dependencies=tuple(self._metadata[name].dependencies),
                        error=None if plugin.error is None else str(plugin.error),
                    )
                )
            for name, discovered in sorted(self._discovered.items()):
                if name in self._plugins:
                    continue
                status = (
                    PluginStatus.DISCOVERED.value
                    if discovered.state is DiscoveryState.AVAILABLE
                    else discovered.state.value
                )
                rows.append(
                    PluginInfo(
                        name=name,
                        version=None,
                        distribution=discovered.distribution,
                        status=status,
                        dependencies=(),
                    )
                )
            for name, record in sorted(self._records.items()):
                if name in self._plugins or name in self._discovered:
                    continue
                if record.status == PluginStatus.UNINSTALLED.value:
                    continue
                rows.append(
                    PluginInfo(
                        name=name,
                        version=None,
                        distribution=None,
                        status=MISSING,
                        dependencies=(),
                        error=f"recorded as {record.status} in the store but not installed",
                    )
                )
            return rows

    # -- persistence -----------------------------------------------------------------

    @property
    def store(self) -> StateStore | None:
        """The state store, or ``None`` when state lives in memory only."""
        return None if self._sync is None else self._sync.store

    def start(self) -> LoadReport:
        """Restore the recorded state: every plugin recorded as enabled is imported,
        initialized with its stored configuration and enabled, in dependency order.

        Plugins recorded otherwise are not imported. A plugin recorded as enabled but not
        installed (or failing to start) is logged and reported, and listed as
        :data:`MISSING` by :meth:`describe`; it never stops the others. Discovers the
        installed plugins first if :meth:`discover` was not called.
        """
        if self._sync is None:
            return LoadReport()
        if not self._discovered:
            self.discover()
        with self._lock:
            self._applied = {}
            return self.refresh()

    def refresh(self) -> LoadReport:
        """Apply changes other processes made to the store since the last start or refresh.

        Plugins recorded as no longer enabled are disabled (dependents first); plugins
        recorded as enabled are enabled with their stored configuration, and enabled
        plugins whose stored configuration changed are re-initialized (disable, initialize,
        enable), all in dependency order. ``loaded`` lists the plugins changed here;
        ``failed`` the ones that could not be, which the next refresh retries.
        """
        report = LoadReport()
        if self._sync is None:
            return report
        sync = self._sync
        with self._lock, self._applying():
            self._records = {r.plugin_name: r for r in sync.store.list()}
            changed = {
                name: record
                for name, record in self._records.items()
                if self._applied.get(name) != record.version
            }
            enabled = PluginStatus.ENABLED.value
            stopping = [
                name
                for name, record in changed.items()
                if record.status != enabled
                and name in self._plugins
                and self._plugins[name].status is PluginStatus.ENABLED
            ]
            victims = set(stopping)
            for name in stopping:
                victims |= self._enabled_dependents(name, transitive=True)
            for name in sorted(victims - set(stopping)):
                logger.warning(
                    "Plugin %r is recorded as enabled, but a dependency was disabled by "
                    "another process; disabling it here too",
                    name,
                )
            for name in reversed(self._order(victims)):
                self._sync_step(report, name, partial(self._sync_disabled, name))
            starting: list[str] = []
            for name, record in changed.items():
                if record.status == enabled:
                    try:
                        self._require(name)
                    except PluginError as exc:
                        self._report_missing(report, name, exc)
                        continue
                    starting.append(name)
                elif name in self._plugins and self._plugins[name].status in (
                    PluginStatus.INITIALIZED,
                    PluginStatus.DISABLED,
                ):
                    self._sync_step(report, name, partial(self._sync_config, name))
                elif name not in stopping:
                    self._applied[name] = record.version
            for name in self._order(starting):
                self._sync_step(report, name, partial(self._sync_enabled, name))
            for name in stopping:
                if name not in report.failed:
                    self._applied[name] = self._records[name].version
        return report

    def rotate_keys(self) -> list[str]:
        """Re-encrypt every stored secret with the first key of the secret box.

        Covers every record, installed or not; returns the plugins rewritten. Afterwards
        older keys can be removed from ``VBWD_PLUGINS_SECRET_KEYS``.
        """
        if self._sync is None:
            raise StoreError("rotate_keys() needs a PluginManager with a store")
        with self._lock:
            return rotate_store(self._sync.store, self._sync.box)

    def get_public_config(self, name: str) -> dict[str, Any]:
        """``name``'s configuration for display: JSON-safe, every secret masked.

        The plugin's own configuration once it is initialized; otherwise what the store
        records (a plugin may be registered but not initialized yet, not imported, or not
        installed at all); ``{}`` for a known plugin with no configuration anywhere.
        """
        with self._lock:
            plugin = self._plugins.get(name)
            if plugin is not None and plugin.status in _CONFIGURED:
                return public_config(plugin.config)
            record = self._sync.store.get(name) if self._sync is not None else None
            if record is not None:
                return public_config(record.config)
            if plugin is None and name not in self._discovered:
                raise PluginNotFoundError(f"Plugin '{name}' not found", plugin_name=name)
            return {}

    def _writer(self) -> PluginStateSync | None:
        """The store sync when this operation must be written through, else ``None``."""
        return self._sync if self._sync_depth == 0 else None

    @contextmanager
    def _applying(self) -> Iterator[None]:
        """Apply the store's state to memory: nothing is written back meanwhile."""
        self._sync_depth += 1
        try:
            yield
        finally:
            self._sync_depth -= 1

    def _persist(
        self, name: str, write: Callable[[], PluginRecord], *, undo: Callable[[], None]
    ) -> None:
        """Run ``write``; if it fails, ``undo`` the in-memory change and re-raise."""
        try:
            write()
        except Exception:
            try:
                with self._applying():
                    undo()
            except Exception:
                logger.exception(
                    "Plugin %r: undoing an in-memory change after a failed store write failed; "
                    "call refresh() to re-apply the stored state",
                    name,
                )
            raise

    def _persist_status(self, name: str, plugin: BasePlugin, *, undo: Callable[[], None]) -> None:
        sync = self._writer()
        if sync is not None:
            status = plugin.status.value
            self._persist(name, lambda: sync.write_status(name, plugin, status), undo=undo)

    def _undo_enable(self, name: str, before: dict[str, object]) -> None:
        self._deactivate(name)
        restore_plugin(self._plugins[name], before)

    def _undo_disable(self, name: str) -> None:
        # Listeners and hooks were already removed by _deactivate; put everything back.
        plugin = self._plugins[name]
        listeners = self._collect_listeners(name, plugin)
        self._hooks.register_checked(plugin, name)
        self._run_hook(name, "enable", plugin.enable)
        self._subscribe(name, listeners)
        self._broadcast("vbwd_plugin_enabled", name)

    def _sync_step(self, report: LoadReport, name: str, step: Callable[[], bool]) -> None:
        try:
            changed = step()
        except PluginError as exc:
            logger.error("Plugin %r: applying the stored state failed: %s", name, exc)
            report.failed[name] = exc
        else:
            if changed and name not in report.loaded:
                report.loaded.append(name)

    def _report_missing(self, report: LoadReport, name: str, exc: PluginError) -> None:
        if isinstance(exc, PluginNotFoundError):
            exc = PluginNotFoundError(
                f"Plugin '{name}' is recorded as enabled in the store but is not installed; "
                f"it stays recorded and is listed as {MISSING!r}",
                plugin_name=name,
            )
        self._applied[name] = self._records[name].version  # reported once per change
        logger.error("%s", exc)
        report.failed[name] = exc

    def _stored_values(self, name: str) -> dict[str, Any]:
        assert self._sync is not None
        plugin = self._plugins[name]
        values, _ = self._sync.resolve(name, plugin, self._records.get(name), None)
        return values

    def _sync_disabled(self, name: str) -> bool:
        self._deactivate(name)
        return True

    def _sync_config(self, name: str) -> bool:
        """Re-initialize a stopped plugin whose stored configuration changed."""
        assert self._sync is not None
        plugin = self._plugins[name]
        values = self._stored_values(name)
        changed = self._sync.differs(name, plugin, values)
        if changed:
            self.initialize_plugin(name, values)
        self._applied[name] = self._records[name].version
        return changed

    def _sync_enabled(self, name: str) -> bool:
        """Enable ``name`` with its stored configuration, or reload it if that changed."""
        assert self._sync is not None
        plugin = self._plugins[name]
        values = self._stored_values(name)
        changed = True
        if plugin.status is not PluginStatus.ENABLED:
            self.enable_plugins([name], configs={name: values})
        elif self._sync.differs(name, plugin, values):  # validates before anything stops
            self._deactivate(name)
            try:
                self.initialize_plugin(name, values)
            except PluginError:
                if self._plugins[name].status is PluginStatus.DISABLED:
                    self.enable_plugin(name)  # rejected: carry on with the old configuration
                raise
            self.enable_plugin(name)
        else:
            changed = False
        self._applied[name] = self._records[name].version
        return changed

    # -- internals -------------------------------------------------------------------

    def _require(self, name: str) -> BasePlugin:
        plugin = self._plugins.get(name)
        if plugin is not None:
            return plugin
        if name in self._discovered:
            return self.load_plugin(name)
        raise PluginNotFoundError(f"Plugin '{name}' not found", plugin_name=name)

    @staticmethod
    def _read_metadata(plugin: BasePlugin) -> PluginMetadata:
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

    def _graph(self, names: Iterable[str]) -> dict[str, list[str]]:
        return {name: [r.name for r in self._requirements[name]] for name in names}

    def _order(self, names: Iterable[str]) -> list[str]:
        return dependency_order(self._graph(names))

    def _check_dependencies(self, name: str) -> None:
        for requirement in self._requirements[name]:
            dependency = self._plugins.get(requirement.name)
            if dependency is None:
                raise DependencyError(
                    f"Plugin '{name}' cannot be enabled: dependency "
                    f"'{requirement.name}' not enabled (it is not registered; "
                    f"requirement {str(requirement)!r})",
                    plugin_name=name,
                    requirement=str(requirement),
                )
            check_requirement(name, requirement, self._metadata[requirement.name].version)
            if dependency.status is not PluginStatus.ENABLED:
                raise DependencyError(
                    f"Plugin '{name}' cannot be enabled: dependency "
                    f"'{requirement.name}' not enabled (it is {dependency.status.value})",
                    plugin_name=name,
                    requirement=str(requirement),
                    found_version=self._metadata[requirement.name].version,
                )

    def _enabled_dependents(self, name: str, *, transitive: bool) -> set[str]:
        graph = self._graph(self._plugins)
        if transitive:
            dependents = transitive_dependents(name, graph)
        else:
            dependents = {n for n, deps in graph.items() if name in deps}
        return {n for n in dependents if self._plugins[n].status is PluginStatus.ENABLED}

    def _deactivate(self, name: str) -> None:
        plugin = self._plugins[name]
        self._unsubscribe(name)
        try:
            self._run_hook(name, "disable", plugin.disable)
        finally:
            if self._hooks.is_registered(plugin):
                self._hooks.unregister(plugin)
        self._broadcast("vbwd_plugin_disabled", name)
        self._persist_status(name, plugin, undo=lambda: self._undo_disable(name))
        self._emit("plugin.disabled", name)

    def _run_hook(self, name: str, action: str, call: Callable[[], None]) -> None:
        try:
            call()
        except PluginHookError as exc:
            logger.error("Plugin %r failed to %s: %s", name, action, exc, exc_info=exc.__cause__)
            self._emit("plugin.error", name, action=action, error=type(exc.__cause__).__name__)
            raise

    def _collect_listeners(self, name: str, plugin: BasePlugin) -> list[ListenerSpec]:
        specs = declared_listeners(plugin)
        impl = getattr(type(plugin), "vbwd_event_listeners", None)
        if impl is not None:
            try:
                contributed = list(plugin.vbwd_event_listeners())  # type: ignore[attr-defined]
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

    def _subscribe(self, name: str, listeners: list[ListenerSpec]) -> None:
        dispatcher = self._event_dispatcher
        for spec in listeners:
            if spec.timeout is None:  # a host's own dispatcher may not take timeout=
                dispatcher.add_listener(spec.event_name, spec.callback, spec.priority)
            else:
                dispatcher.add_listener(
                    spec.event_name, spec.callback, spec.priority, timeout=spec.timeout
                )
        self._subscriptions[name] = listeners

    def _unsubscribe(self, name: str) -> None:
        for spec in self._subscriptions.pop(name, ()):
            self._event_dispatcher.remove_listener(spec.event_name, spec.callback)

    def _broadcast(self, hook_name: str, plugin_name: str) -> None:
        """Tell every enabled plugin about a lifecycle change; one failing never stops the rest."""
        caller = getattr(self._hooks.hook, hook_name)
        for impl in caller.get_hookimpls():
            try:
                impl.function(plugin_name=plugin_name)
            except Exception:
                logger.exception("Plugin %r: %s hook raised (ignored)", impl.plugin_name, hook_name)

    def _emit(self, event_name: str, plugin_name: str, **extra: Any) -> None:
        self._event_dispatcher.dispatch(Event(event_name, {"plugin_name": plugin_name, **extra}))
