"""Keeping a state store and the plugins in memory in step.

:class:`StoreReconciler` belongs to a :class:`PluginManager` that has a store. It does two
things:

- **Write-through.** Every operation that changes a plugin runs inside one
  :meth:`~StoreReconciler.change`: the plugin's record is read at most once (when the
  change needs it) and written at most once, status and configuration together, when the
  change ends. Nested operations on the same plugin (``enable_plugins`` initializing then
  enabling, a reconfiguration restarting the plugin) join the open change. If the write
  fails, the in-memory steps are undone and the error is raised.
- **Reconciliation.** :meth:`~StoreReconciler.start` restores the recorded state and
  :meth:`~StoreReconciler.refresh` applies other processes' changes. While it applies the
  store's own state nothing is written back.

Per-process conditions (``registered``, ``error``) are never written, nor are values that
come from environment variables: they belong to the deployment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Final, Protocol

from vbwd_plugins.config._resolver import ConfigResolver, ResolvedConfig
from vbwd_plugins.config._secrets import rotate_store
from vbwd_plugins.errors import PluginError, PluginNotFoundError, StoreConflictError
from vbwd_plugins.plugins._listing import MISSING, LoadReport
from vbwd_plugins.plugins._model import BasePlugin, PluginStatus

if TYPE_CHECKING:
    from vbwd_plugins.plugins._discovery import DiscoveredPlugin
    from vbwd_plugins.stores._base import PluginRecord, StateStore

__all__ = ["Change", "ManagedPlugins", "StoreReconciler", "restore_plugin", "snapshot_plugin"]

logger = logging.getLogger(__name__)

#: Statuses an operator chooses; only these are written.
_STORED: Final = frozenset(
    {
        PluginStatus.INITIALIZED,
        PluginStatus.ENABLED,
        PluginStatus.DISABLED,
        PluginStatus.UNINSTALLED,
    }
)
_ENABLED: Final = PluginStatus.ENABLED.value
#: Status-only writes re-read and retry this often when another process wrote meanwhile.
_STATUS_ATTEMPTS: Final = 5
_STATE_ATTRS: Final = ("_status", "_error", "_config", "_config_model")
_ABSENT: Final = object()


def snapshot_plugin(plugin: BasePlugin) -> dict[str, object]:
    """The plugin's status, error and configuration, to put back with :func:`restore_plugin`."""
    return {attr: plugin.__dict__.get(attr, _ABSENT) for attr in _STATE_ATTRS}


def restore_plugin(plugin: BasePlugin, snapshot: dict[str, object]) -> None:
    """Undo an in-memory change (its store write failed, or a new configuration was refused)."""
    for attr, value in snapshot.items():
        if value is _ABSENT:
            plugin.__dict__.pop(attr, None)
        else:
            plugin.__dict__[attr] = value


class ManagedPlugins(Protocol):
    """The in-memory operations of a :class:`PluginManager` that reconciliation drives."""

    def get_plugin(self, name: str) -> BasePlugin | None: ...
    def load_plugin(self, name: str) -> BasePlugin: ...
    def get_discovered(self) -> list[DiscoveredPlugin]: ...
    def discover(self, group: str | None = None) -> list[DiscoveredPlugin]: ...
    def dependency_order(self, names: Iterable[str] | None = None) -> list[str]: ...
    def enable_plugin(self, name: str) -> None: ...
    def _enabled_dependents(self, name: str, *, transitive: bool) -> set[str]: ...
    def _deactivate(self, name: str) -> None: ...
    def _reconfigure(self, name: str, resolved: ResolvedConfig) -> None: ...


@dataclass(eq=False)
class Change:
    """One change of one plugin in progress.

    ``resolved`` is set when the configuration changes; ``undo`` holds the steps that put
    memory back if the write fails, run in reverse.
    """

    name: str
    plugin: BasePlugin
    load: Callable[[], PluginRecord | None] = field(repr=False)
    resolved: ResolvedConfig | None = None
    undo: list[Callable[[], None]] = field(default_factory=list, repr=False)
    initial_status: PluginStatus = field(init=False)
    _record: PluginRecord | None = field(default=None, init=False, repr=False)
    _loaded: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.initial_status = self.plugin.status

    @property
    def record(self) -> PluginRecord | None:
        """The stored record, read on first use (at most once per change)."""
        if not self._loaded:
            self._record, self._loaded = self.load(), True
        return self._record

    def reread(self) -> PluginRecord | None:
        """Read the record again (after a conflicting write by another process)."""
        self._loaded = False
        return self.record


def detached(name: str, plugin: BasePlugin) -> Change:
    """A change nothing is read for or written to (a manager without a store)."""
    return Change(name, plugin, load=lambda: None)


class StoreReconciler:
    """Write-through, start-up restore and refresh for one manager and its store.

    Not thread-safe on its own: every method runs under the manager's lock.
    """

    def __init__(
        self,
        manager: ManagedPlugins,
        store: StateStore,
        resolver: ConfigResolver,
        lock: threading.RLock,
    ) -> None:
        self._manager = manager
        self._store = store
        self._resolver = resolver
        self._lock = lock
        self._open: dict[str, Change] = {}
        self._records: dict[str, PluginRecord] = {}  # the store as last read
        self._applied: dict[str, int] = {}  # record versions this process has applied
        self._applying = 0  # > 0 while applying the store's own state: nothing is written

    @property
    def store(self) -> StateStore:
        """The state store."""
        return self._store

    @property
    def records(self) -> dict[str, PluginRecord]:
        """Every record as the last start or refresh read it (plus this process's writes)."""
        return dict(self._records)

    # -- write-through -----------------------------------------------------------------------

    @contextmanager
    def change(self, name: str, plugin: BasePlugin) -> Iterator[Change]:
        """Run one change of ``name``: its record is read at most once and written once.

        The write happens when the block ends, also when it raised (say, ``enable`` failed
        after ``initialize`` succeeded: what did happen is recorded, unless the plugin is
        now in ``error``). It is skipped when neither status nor configuration changed.
        """
        joined = self._open.get(name)
        if joined is not None:
            yield joined
            return
        if self._applying:
            yield Change(name, plugin, load=partial(self._records.get, name))
            return
        change = Change(name, plugin, load=partial(self._store.get, name))
        self._open[name] = change
        try:
            yield change
        except Exception:
            self._open.pop(name, None)
            self._finish(change, failed=True)
            raise
        finally:
            self._open.pop(name, None)
        self._finish(change, failed=False)

    @contextmanager
    def applying(self) -> Iterator[None]:
        """Apply the store's own state (or undo) in memory: nothing is written meanwhile."""
        self._applying += 1
        try:
            yield
        finally:
            self._applying -= 1

    def _finish(self, change: Change, *, failed: bool) -> None:
        status = change.plugin.status
        if status not in _STORED:
            return  # registered, error: per-process, never written
        if change.resolved is None and status is change.initial_status:
            return
        try:
            saved = self._write(change, status.value)
        except Exception:
            self._undo(change)
            if not failed:
                raise
            logger.exception("Plugin %r: recording a failed change failed too", change.name)
            return
        self._records[change.name] = saved
        self._applied[change.name] = saved.version

    def _write(self, change: Change, status: str) -> PluginRecord:
        name, plugin = change.name, change.plugin
        if change.resolved is not None:
            record = change.record
            return self._store.save(
                name,
                status=status,
                config=self._resolver.seal(
                    name,
                    plugin.config,
                    env_keys=change.resolved.env_keys,
                    previous=None if record is None else record.config,
                ),
                expected_version=None if record is None else record.version,
            )
        # Status only: keep the stored configuration (the source of truth). Only the status
        # changes, so a conflicting write by another process is re-read and retried.
        for attempt in range(1, _STATUS_ATTEMPTS + 1):
            record = change.record if attempt == 1 else change.reread()
            if record is None:
                schema = type(plugin).config_schema
                config = self._resolver.seal(
                    name,
                    plugin.config,
                    env_keys=self._resolver.env_keys(name, schema),
                    previous=None,
                )
            else:
                config = record.config
            try:
                return self._store.save(
                    name,
                    status=status,
                    config=config,
                    expected_version=None if record is None else record.version,
                )
            except StoreConflictError:
                if attempt == _STATUS_ATTEMPTS:
                    raise
                logger.debug("Plugin %r: status write conflicted; retrying", name)
        raise AssertionError("unreachable")  # pragma: no cover

    def _undo(self, change: Change) -> None:
        """Put memory back after a failed write; the store is not touched."""
        try:
            with self.applying():
                for step in reversed(change.undo):
                    step()
        except Exception:
            logger.exception(
                "Plugin %r: undoing an in-memory change after a failed store write failed; "
                "call refresh() to re-apply the stored state",
                change.name,
            )

    # -- reconciliation ----------------------------------------------------------------------

    def start(self) -> LoadReport:
        """Restore the recorded state (see :meth:`PluginManager.start`)."""
        if not self._manager.get_discovered():
            self._manager.discover()
        with self._lock:
            self._applied = {}
            return self.refresh()

    def refresh(self) -> LoadReport:
        """Apply other processes' changes (see :meth:`PluginManager.refresh`)."""
        report = LoadReport()
        manager = self._manager
        with self._lock, self.applying():
            self._records = {r.plugin_name: r for r in self._store.list()}
            changed = {
                name: record
                for name, record in self._records.items()
                if self._applied.get(name) != record.version
            }
            stopping = [
                name
                for name, record in changed.items()
                if record.status != _ENABLED and _is_enabled(manager.get_plugin(name))
            ]
            victims = set(stopping)
            for name in stopping:
                victims |= manager._enabled_dependents(name, transitive=True)
            for name in sorted(victims - set(stopping)):
                logger.warning(
                    "Plugin %r is recorded as enabled, but a dependency was disabled by "
                    "another process; disabling it here too",
                    name,
                )
            for name in reversed(manager.dependency_order(victims)):
                self._step(report, name, partial(self._sync_disabled, name))
            starting: list[str] = []
            for name, record in changed.items():
                plugin = manager.get_plugin(name)
                if record.status == _ENABLED:
                    try:
                        manager.load_plugin(name)
                    except PluginError as exc:
                        self._report_missing(report, name, exc)
                        continue
                    starting.append(name)
                elif plugin is not None and plugin.status in (
                    PluginStatus.INITIALIZED,
                    PluginStatus.DISABLED,
                ):
                    self._step(report, name, partial(self._sync_config, name))
                elif name not in stopping:
                    self._applied[name] = record.version
            for name in manager.dependency_order(starting):
                self._step(report, name, partial(self._sync_enabled, name))
            for name in stopping:
                if name not in report.failed:
                    self._applied[name] = self._records[name].version
        return report

    def rotate_keys(self) -> list[str]:
        """Re-encrypt every stored secret with the secret box's first key."""
        with self._lock:
            return rotate_store(self._store, self._resolver.box)

    def _step(self, report: LoadReport, name: str, step: Callable[[], bool]) -> None:
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

    def _stored(self, name: str) -> tuple[BasePlugin, ResolvedConfig]:
        """The plugin and its stored configuration, resolved (environment included)."""
        plugin = self._manager.load_plugin(name)
        record = self._records.get(name)
        resolved = self._resolver.resolve(
            name,
            type(plugin).config_schema,
            stored=None if record is None else record.config,
            current=plugin.config,
        )
        return plugin, resolved

    def _sync_disabled(self, name: str) -> bool:
        self._manager._deactivate(name)
        return True

    def _sync_config(self, name: str) -> bool:
        """Re-initialize a stopped plugin whose stored configuration changed."""
        plugin, resolved = self._stored(name)
        changed = self._resolver.differs(resolved, plugin.config)
        if changed:
            self._manager._reconfigure(name, resolved)
        self._applied[name] = self._records[name].version
        return changed

    def _sync_enabled(self, name: str) -> bool:
        """Enable ``name`` with its stored configuration, or restart it if that changed."""
        plugin, resolved = self._stored(name)  # validated before anything stops
        changed = True
        if plugin.status is not PluginStatus.ENABLED:
            self._manager._reconfigure(name, resolved)
            self._manager.enable_plugin(name)
        elif self._resolver.differs(resolved, plugin.config):
            self._manager._reconfigure(name, resolved)
        else:
            changed = False
        self._applied[name] = self._records[name].version
        return changed


def _is_enabled(plugin: BasePlugin | None) -> bool:
    return plugin is not None and plugin.status is PluginStatus.ENABLED
