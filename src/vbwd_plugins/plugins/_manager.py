"""The plugin manager: the only path that changes plugin state.

:class:`PluginManager` registers plugins (validating metadata and hooks), drives the
lifecycle, checks dependencies, subscribes each enabled plugin's listeners and emits
``plugin.*`` events - the single-plugin state machine lives in
:class:`~vbwd_plugins.plugins._lifecycle.PluginLifecycle`; this module adds sets of
plugins, configuration changes, host hook specifications, listings and persistence.
Discovery is lazy: :meth:`PluginManager.discover` lists installed plugins; a plugin is
imported only when it is registered, initialized or enabled by name.

Configuration goes through one :class:`~vbwd_plugins.config._resolver.ConfigResolver`.
With a :class:`StateStore`, a :class:`~vbwd_plugins.plugins._reconciler.StoreReconciler`
writes every change through (the record read once and written once per plugin changed,
undone in memory if the write fails), restores the recorded state on
:meth:`PluginManager.start` and applies other processes' changes on
:meth:`PluginManager.refresh`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.config._resolver import ConfigResolver, ResolvedConfig
from vbwd_plugins.config._secrets import FernetSecretBox, SecretBox
from vbwd_plugins.errors import (
    DependencyError,
    DependentsEnabledError,
    InvalidListenerError,
    PluginError,
    PluginNotFoundError,
    StoreError,
)
from vbwd_plugins.events._catalogue import HOST_SOURCE
from vbwd_plugins.events._dispatcher import EventDispatcher
from vbwd_plugins.plugins._discovery import DEFAULT_GROUP, AllowPolicy
from vbwd_plugins.plugins._graph import check_requirement
from vbwd_plugins.plugins._lifecycle import PluginLifecycle
from vbwd_plugins.plugins._listing import MISSING, LoadReport, PluginInfo, describe
from vbwd_plugins.plugins._model import PluginStatus
from vbwd_plugins.plugins._reconciler import StoreReconciler

if TYPE_CHECKING:
    from types import ModuleType

    import pluggy
    from pydantic import BaseModel

    from vbwd_plugins.delivery._engine import DeliveryEngine
    from vbwd_plugins.delivery._policy import RetryPolicy
    from vbwd_plugins.delivery._service import DeliveryService
    from vbwd_plugins.events._dispatcher import Event
    from vbwd_plugins.plugins._follower import StoreFollower
    from vbwd_plugins.stores._base import StateStore

__all__ = ["MISSING", "LoadReport", "PluginInfo", "PluginManager"]

logger = logging.getLogger(__name__)

#: Statuses in which a plugin holds a configuration of its own.
_CONFIGURED: Final = frozenset(
    {PluginStatus.INITIALIZED, PluginStatus.ENABLED, PluginStatus.DISABLED}
)


class PluginManager(PluginLifecycle):
    """Registers plugins and drives their lifecycle, dependencies and events.

    ``allow`` restricts which discovered plugins may load: a collection of plugin or
    distribution names, or a predicate over :class:`DiscoveredPlugin`. Plugins outside it
    are listed as blocked and never imported.

    ``store`` persists status and configuration (see :meth:`start`, :meth:`refresh`);
    ``secret_box`` encrypts secret fields for it and defaults to a
    :class:`FernetSecretBox` with the keys of ``VBWD_PLUGINS_SECRET_KEYS``.

    ``retry_policy`` decides when a failed delivery runs again and when it is dead (see
    :class:`~vbwd_plugins.delivery.RetryPolicy`; Celery workers take theirs from
    ``vbwd_plugins.delivery.celery.install``).

    ``strict=True`` refuses what is otherwise logged as a warning: enabling a plugin with a
    listener of an event name nothing is known to emit (see :meth:`register_event_names`).
    """

    def __init__(
        self,
        event_dispatcher: EventDispatcher | None = None,
        *,
        group: str = DEFAULT_GROUP,
        allow: AllowPolicy | None = None,
        store: StateStore | None = None,
        secret_box: SecretBox | None = None,
        strict: bool = False,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__(event_dispatcher, group, allow)
        self.strict = strict
        self._retry_policy = retry_policy
        if store is not None:
            box = FernetSecretBox.from_env() if secret_box is None else secret_box
            self._resolver = ConfigResolver(box)
            self._reconciler = StoreReconciler(self, store, self._resolver, self._lock)
        elif secret_box is not None:
            self._resolver = ConfigResolver(secret_box)
        self._deliveries: DeliveryService | None = None
        self._delivery_engine: DeliveryEngine | None = None

    @property
    def store(self) -> StateStore | None:
        """The state store, or ``None`` when state lives in memory only."""
        return None if self._reconciler is None else self._reconciler.store

    # -- durable delivery ----------------------------------------------------------------

    @property
    def deliveries(self) -> DeliveryService:
        """Records durable events and runs their deliveries (see ``docs/delivery.md``).

        Created on first use over :attr:`store`, which must implement
        :class:`~vbwd_plugins.delivery.Outbox` (both shipped stores do).
        """
        service = self._deliveries
        if service is None:
            from vbwd_plugins.delivery._outbox import Outbox
            from vbwd_plugins.delivery._service import DeliveryService

            with self._lock:
                service = self._deliveries
                if service is None:
                    store = self.store
                    if not isinstance(store, Outbox):
                        raise StoreError(
                            "Durable delivery needs a store that records deliveries: create "
                            "the PluginManager with store=SQLiteStateStore(...) or "
                            f"store=PostgresStateStore(...) (it has {type(store).__name__})"
                        )
                    service = DeliveryService(
                        store,
                        self._event_dispatcher,
                        policy=self._retry_policy,
                        engine=self._delivery_engine,
                    )
                    self._deliveries = service
        return service

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """When failed deliveries run again (``None``: :class:`RetryPolicy`'s defaults)."""
        return self._retry_policy

    @property
    def delivery_engine(self) -> DeliveryEngine | None:
        """Where deliveries run: an engine (deferred), or ``None`` (inline, the default)."""
        service = self._deliveries
        return self._delivery_engine if service is None else service.engine

    def set_delivery_engine(self, engine: DeliveryEngine | None) -> None:
        """Run deliveries on ``engine`` (deferred), or inline in the caller with ``None``."""
        with self._lock:
            self._delivery_engine = engine
            if self._deliveries is not None:
                self._deliveries.engine = engine

    def publish(self, event: Event, *, connection: object | None = None) -> list[str]:
        """Record ``event`` durably with one delivery per current listener, then deliver.

        Unlike ``event_dispatcher.dispatch(event)``, every listener runs until its success
        is recorded, inline or on the delivery engine; returns the delivery ids. With
        ``connection``, recorded in the host's open transaction and not yet delivered
        (see :meth:`DeliveryService.publish`).
        """
        return self.deliveries.publish(event, connection=connection)

    # -- event names -----------------------------------------------------------------

    def register_event_names(self, names: Iterable[str]) -> None:
        """Make ``names`` known: events the host itself dispatches.

        When a plugin is enabled, each of its listeners must listen to a known name: a
        standard event of the core, one a registered plugin declares in
        ``PluginMetadata.emits``, or one registered here. Otherwise a warning naming the
        plugin, the listener and the closest known name is logged (with ``strict``, the
        enable is refused with :class:`InvalidListenerError`). A malformed name raises
        :class:`InvalidListenerError`.
        """
        self._catalogue.register(names, source=HOST_SOURCE)

    def known_event_names(self) -> list[str]:
        """Every event name known to be emitted, sorted (see :meth:`register_event_names`)."""
        return sorted(self._catalogue.names())

    def check_event_names(self) -> list[str]:
        """Check every listener subscribed now, the host's included, against the known names.

        Host listeners are not checked when added (a host may subscribe before the plugin
        emitting a name is registered): call this once the host has started. Returns one
        message per listener of an unknown name, each also logged as a warning; with
        ``strict`` raises :class:`InvalidListenerError` naming them all instead.
        """
        dispatcher = self._event_dispatcher
        problems = [
            problem
            for event_name in sorted(dispatcher._records)  # the names that have listeners
            for listener in dispatcher.get_listeners(event_name)
            if (problem := self._catalogue.unknown_message(event_name, listener.name))
        ]
        if problems and self.strict:
            raise InvalidListenerError("; ".join(problems) + " (the manager is strict)")
        for problem in problems:
            logger.warning("%s", problem)
        return problems

    # -- hooks -----------------------------------------------------------------------

    @property
    def hook(self) -> pluggy.HookRelay:
        """Calls a hook on every enabled plugin: ``manager.hook.<name>(**kwargs)``."""
        return self._hooks.hook

    @property
    def hook_manager(self) -> pluggy.PluginManager:
        """The pluggy manager behind :attr:`hook`, for ``add_hookcall_monitoring`` and tracing.

        Register plugins through this manager, never directly on the pluggy one.
        """
        return self._hooks

    def add_hookspecs(self, module_or_class: ModuleType | type) -> None:
        """Add the host's own hook specifications (functions marked with ``@hookspec``).

        Add them before registering plugins: a plugin implementing a hook no specification
        names is rejected, as a misspelt one is. Enabled plugins are checked against the new
        specifications at once (pluggy's rule); the others when they are next enabled.
        Raises :class:`PluginValidationError` for a name already specified, a historic
        hook, a namespace without specifications or a mismatching implementation.
        """
        with self._lock:
            self._hooks.add_hookspecs(module_or_class)

    # -- configuration -----------------------------------------------------------------

    def configure_plugin(
        self, name: str, config: Mapping[str, Any], *, patch: bool = False, operator: bool = False
    ) -> None:
        """Validate and apply a new configuration to ``name``, whatever its status.

        ``config`` replaces the configuration, or with ``patch`` changes only the fields it
        names; a field given as the mask (``"**********"``) keeps its secret. A stopped
        plugin is initialized with it. An enabled one is restarted with it, together with
        the enabled plugins that depend on it; if its ``on_initialize`` refuses the new
        configuration, they keep running with the old one and the error is raised. With a
        store: one read and one write.

        ``operator=True`` says the change comes from a person (the admin API and the CLI
        pass it): changing a field marked :class:`~vbwd_plugins.config.Trusted` then needs
        the secrets it guards in the same change. Host code is trusted like the environment
        and is not bound unless it passes it (see ``docs/secrets.md``).
        """
        with self._lock:
            plugin = self._require(name)
            with self._change(name, plugin) as change:
                resolved = self._resolve(change, config, patch=patch, operator=operator)
                self._reconfigure(name, resolved)

    def get_public_config(self, name: str) -> dict[str, Any]:
        """``name``'s configuration for display: JSON-safe, every secret masked.

        The plugin's own configuration once it is initialized; otherwise what the store
        records (a plugin may be registered but not initialized yet, not imported, or not
        installed at all); ``{}`` for a known plugin with no configuration anywhere.
        """
        with self._lock:
            plugin = self._plugins.get(name)
            if plugin is not None and plugin.status in _CONFIGURED:
                return self._resolver.public(plugin.config)
            store = self.store
            record = None if store is None else store.get(name)
            if record is not None:
                return self._resolver.public(record.config)
            if plugin is None and name not in self._discovered:
                raise PluginNotFoundError(f"Plugin '{name}' not found", plugin_name=name)
            return {}

    def _reconfigure(self, name: str, resolved: ResolvedConfig) -> None:
        """Apply ``resolved``: initialize a stopped plugin; restart an enabled one (and the
        enabled plugins depending on it) with it, or with the old one if it is refused."""
        plugin = self._plugins[name]
        if plugin.status is not PluginStatus.ENABLED:
            self._initialize(name, resolved)
            return
        stopped = self._order(self._enabled_dependents(name, transitive=True) | {name})
        with ExitStack() as changes:
            for other in stopped:  # each is recorded once, and only if its status changed
                changes.enter_context(self._change(other, self._plugins[other]))
            for other in reversed(stopped):
                self._deactivate(other)
            previous = plugin.config
            try:
                self._initialize(name, resolved)
            except PluginError:
                self._restart(stopped, name, previous)
                raise
            for other in stopped:
                self.enable_plugin(other)

    def _restart(
        self,
        names: list[str],
        name: str,
        previous: BaseModel | Mapping[str, Any] | None,
    ) -> None:
        """``name`` refused a new configuration: run it and ``names`` again as before."""
        plugin = self._plugins[name]
        try:
            self._run_hook(name, "initialize", lambda: plugin.initialize(previous))
            for other in names:
                self.enable_plugin(other)
        except PluginError:
            logger.exception("Plugin %r: restarting with the previous configuration failed", name)

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
                    with self._change(current, plugin):  # one read, one write for both steps
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
            try:
                order = self._order(list(self._plugins))
            except DependencyError:
                order = sorted(self._plugins)
            records = {} if self._reconciler is None else self._reconciler.records
            return describe(order, self._plugins, self._metadata, self._discovered, records)

    # -- persistence -----------------------------------------------------------------

    def start(self) -> LoadReport:
        """Restore the recorded state: every plugin recorded as enabled is imported,
        initialized with its stored configuration and enabled, in dependency order.

        Plugins recorded otherwise are not imported. A plugin recorded as enabled but not
        installed (or failing to start) is logged and reported, and listed as
        ``"missing"`` by :meth:`describe`; it never stops the others. Discovers the
        installed plugins first if :meth:`discover` was not called.
        """
        return LoadReport() if self._reconciler is None else self._reconciler.start()

    def refresh(self) -> LoadReport:
        """Apply changes other processes made to the store since the last start or refresh.

        Plugins recorded as no longer enabled are disabled (dependents first); plugins
        recorded as enabled are enabled with their stored configuration, and enabled
        plugins whose stored configuration changed are restarted with it (with the plugins
        depending on them), all in dependency order. ``loaded`` lists the plugins changed
        here; ``failed`` the ones that could not be, which the next refresh retries.
        """
        return LoadReport() if self._reconciler is None else self._reconciler.refresh()

    def follow_store(self, *, catch_up: float = 30.0) -> StoreFollower:
        """Apply other processes' changes as they happen: a started daemon thread that
        waits for a change to the store and calls :meth:`refresh` (see ``docs/workers.md``).

        Call ``.stop()`` on the returned :class:`StoreFollower` before closing the store
        (or use it as a context manager). Errors are logged and retried with backoff;
        ``catch_up`` is the longest time between two refreshes. Needs a store.
        """
        from vbwd_plugins.plugins._follower import StoreFollower

        return StoreFollower(self, catch_up=catch_up).start()

    def rotate_keys(self) -> list[str]:
        """Re-encrypt every stored secret with the first key of the secret box.

        Covers every record, installed or not; returns the plugins rewritten. Afterwards
        older keys can be removed from ``VBWD_PLUGINS_SECRET_KEYS``.
        """
        if self._reconciler is None:
            raise StoreError("rotate_keys() needs a PluginManager with a store")
        return self._reconciler.rotate_keys()
