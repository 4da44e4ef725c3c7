"""What the manager reports about plugins: listings and the outcome of loading several."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from vbwd_plugins.errors import PluginError
from vbwd_plugins.plugins._discovery import DiscoveredPlugin, DiscoveryState
from vbwd_plugins.plugins._model import BasePlugin, PluginMetadata, PluginStatus

if TYPE_CHECKING:
    from vbwd_plugins.stores._base import PluginRecord

__all__ = ["MISSING", "LoadReport", "PluginInfo", "describe"]

#: Listing status of a plugin the store records but no installed distribution provides.
MISSING: Final = "missing"


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


def describe(
    order: Sequence[str],
    plugins: Mapping[str, BasePlugin],
    metadata: Mapping[str, PluginMetadata],
    discovered: Mapping[str, DiscoveredPlugin],
    records: Mapping[str, PluginRecord],
) -> list[PluginInfo]:
    """Registered plugins in ``order``, then discovered ones, then ones only recorded."""
    rows: list[PluginInfo] = []
    for name in order:
        plugin = plugins[name]
        found = discovered.get(name)
        status = plugin.status.value
        if plugin.status is PluginStatus.REGISTERED and found is not None and name not in records:
            # Imported here only to be looked at: to an operator it is still just installed.
            status = PluginStatus.DISCOVERED.value
        rows.append(
            PluginInfo(
                name=name,
                version=metadata[name].version,
                distribution=found.distribution if found else None,
                status=status,
                dependencies=tuple(metadata[name].dependencies),
                error=None if plugin.error is None else str(plugin.error),
            )
        )
    for name, found in sorted(discovered.items()):
        if name in plugins:
            continue
        status, error = found.state.value, None
        if found.state is DiscoveryState.AVAILABLE:
            # Not imported here: the store says where it stands (as `vbwd-plugins list` does).
            record = records.get(name)
            status = PluginStatus.DISCOVERED.value if record is None else record.status
            if status == PluginStatus.ENABLED.value:
                status = PluginStatus.DISCOVERED.value
                error = "recorded as enabled but not started in this process"
        rows.append(PluginInfo(name, None, found.distribution, status, (), error))
    for name, record in sorted(records.items()):
        if name in plugins or name in discovered:
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
