"""Lazy discovery of installed plugins through the ``vbwd.plugins`` entry-point group.

Listing never imports a plugin module: the distribution name and version come from the
``*.dist-info`` directory name that ``importlib.metadata`` already walked, so discovery
costs about as much as ``entry_points(group=...)`` itself. A plugin is imported only when
:meth:`DiscoveredPlugin.load` is called.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import Enum
from importlib.metadata import EntryPoint, entry_points
from typing import Final, TypeAlias

from vbwd_plugins.errors import (
    PluginBlockedError,
    PluginConflictError,
    PluginLoadError,
)
from vbwd_plugins.plugins._model import BasePlugin

__all__ = [
    "DEFAULT_GROUP",
    "AllowPolicy",
    "DiscoveredPlugin",
    "DiscoveryState",
    "discover",
]

logger = logging.getLogger(__name__)

DEFAULT_GROUP: Final = "vbwd.plugins"

#: Which discovered plugins may load: names (plugin or distribution) or a predicate.
AllowPolicy: TypeAlias = "Collection[str] | Callable[[DiscoveredPlugin], bool]"

_NORMALIZE: Final = re.compile(r"[-_.]+")


class DiscoveryState(Enum):
    """Whether a discovered plugin may be loaded."""

    AVAILABLE = "available"
    BLOCKED = "blocked"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class DiscoveredPlugin:
    """An installed plugin, known from its entry point only (nothing imported)."""

    name: str
    distribution: str
    version: str
    value: str
    state: DiscoveryState = DiscoveryState.AVAILABLE
    conflicts_with: tuple[str, ...] = ()
    entry_point: EntryPoint | None = field(default=None, compare=False, repr=False)

    def load(self) -> BasePlugin:
        """Import the entry point and return a constructed, checked plugin instance.

        Raises :class:`PluginLoadError` (naming plugin and distribution) for an import
        error, a wrong type, a constructor that raises, or a metadata name that differs
        from the entry-point name.
        """
        where = f"plugin {self.name!r} from distribution {self.distribution!r} {self.version}"
        if self.state is DiscoveryState.CONFLICT:
            dists = ", ".join(sorted((self.distribution, *self.conflicts_with)))
            raise PluginConflictError(
                f"Plugin name {self.name!r} is claimed by several distributions: {dists}; "
                "uninstall all but one",
                plugin_name=self.name,
                distributions=sorted((self.distribution, *self.conflicts_with)),
            )
        if self.state is DiscoveryState.BLOCKED:
            raise PluginBlockedError(
                f"Cannot load {where}: not allowed by the host's plugin policy",
                plugin_name=self.name,
                distribution=self.distribution,
            )
        if self.entry_point is None:
            raise PluginLoadError(
                f"Cannot load {where}: no entry point",
                plugin_name=self.name,
                distribution=self.distribution,
            )
        try:
            target = self.entry_point.load()
        except Exception as exc:
            raise PluginLoadError(
                f"Cannot load {where}: importing {self.value!r} failed: "
                f"{type(exc).__name__}: {exc}",
                plugin_name=self.name,
                distribution=self.distribution,
            ) from exc
        if isinstance(target, type) and issubclass(target, BasePlugin):
            try:
                plugin = target()
            except Exception as exc:
                raise PluginLoadError(
                    f"Cannot load {where}: {target.__qualname__}() raised "
                    f"{type(exc).__name__}: {exc}",
                    plugin_name=self.name,
                    distribution=self.distribution,
                ) from exc
        elif isinstance(target, BasePlugin):
            plugin = target
        else:
            raise PluginLoadError(
                f"Cannot load {where}: {self.value!r} is {target!r}, "
                "not a BasePlugin subclass or instance",
                plugin_name=self.name,
                distribution=self.distribution,
            )
        try:
            declared = plugin.metadata.name
        except Exception as exc:
            raise PluginLoadError(
                f"Cannot load {where}: reading its metadata raised {type(exc).__name__}: {exc}",
                plugin_name=self.name,
                distribution=self.distribution,
            ) from exc
        if declared != self.name:
            raise PluginLoadError(
                f"Cannot load {where}: its metadata.name is {declared!r}, "
                f"but the entry point is named {self.name!r}; they must match",
                plugin_name=self.name,
                distribution=self.distribution,
            )
        return plugin


def _name_version(ep: EntryPoint) -> tuple[str, str]:
    """Distribution name and version without reading METADATA when the path tells them."""
    dist = ep.dist
    if dist is None:
        return "<unknown>", "0"
    path = getattr(dist, "_path", None)
    stem = getattr(path, "name", "")
    base, _, suffix = stem.rpartition(".")
    if suffix == "dist-info" and "-" in base:
        name, _, version = base.partition("-")
        return _NORMALIZE.sub("-", name).lower(), version
    return _NORMALIZE.sub("-", dist.metadata["Name"] or "<unknown>").lower(), dist.version


def _allowed(plugin: DiscoveredPlugin, policy: AllowPolicy | None) -> bool:
    if policy is None:
        return True
    if callable(policy):
        return bool(policy(plugin))
    return plugin.name in policy or plugin.distribution in policy


def discover(
    group: str = DEFAULT_GROUP,
    *,
    allow: AllowPolicy | None = None,
    eps: Iterable[EntryPoint] | None = None,
) -> list[DiscoveredPlugin]:
    """List installed plugins of ``group`` sorted by name, importing none of them.

    Plugins outside ``allow`` are listed as ``BLOCKED``; a name claimed by several
    distributions is listed once per distribution as ``CONFLICT``.
    """
    by_name: dict[str, list[DiscoveredPlugin]] = {}
    for ep in entry_points(group=group) if eps is None else eps:
        dist, version = _name_version(ep)
        by_name.setdefault(ep.name, []).append(
            DiscoveredPlugin(ep.name, dist, version, ep.value, entry_point=ep)
        )
    found: list[DiscoveredPlugin] = []
    for name in sorted(by_name):
        claims = by_name[name]
        if len(claims) > 1:
            dists = [c.distribution for c in claims]
            logger.error(
                "Plugin name %r is claimed by several distributions (%s); none is loaded",
                name,
                ", ".join(sorted(dists)),
            )
            for claim in claims:
                others = tuple(d for d in dists if d != claim.distribution)
                found.append(_replace(claim, DiscoveryState.CONFLICT, others))
            continue
        plugin = claims[0]
        if not _allowed(plugin, allow):
            logger.info(
                "Plugin %r (%s) is not allowed by the host's policy; not loaded",
                name,
                plugin.distribution,
            )
            plugin = _replace(plugin, DiscoveryState.BLOCKED)
        found.append(plugin)
    return found


def _replace(
    plugin: DiscoveredPlugin, state: DiscoveryState, conflicts: tuple[str, ...] = ()
) -> DiscoveredPlugin:
    return DiscoveredPlugin(
        plugin.name,
        plugin.distribution,
        plugin.version,
        plugin.value,
        state,
        conflicts,
        plugin.entry_point,
    )
