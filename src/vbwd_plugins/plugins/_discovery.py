"""Lazy discovery of installed plugins through the ``vbwd.plugins`` entry-point group.

Listing never imports a plugin module: the distribution name and version come from the
``*.dist-info`` directory name that ``importlib.metadata`` already walked, so discovery
costs about as much as ``entry_points(group=...)`` itself. A plugin is imported only when
:meth:`DiscoveredPlugin.load` is called.

What a plugin depends on is known for certain only from its class (``metadata.dependencies``).
Without importing it, :func:`declared_dependencies` reads what its *distribution* declares
(``Requires-Dist``) and names the plugins of the distributions it requires; ``vbwd-plugins
list`` shows that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, TypeAlias

from vbwd_plugins.errors import (
    PluginBlockedError,
    PluginConflictError,
    PluginLoadError,
)
from vbwd_plugins.plugins._model import BasePlugin

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "DEFAULT_GROUP",
    "AllowPolicy",
    "DiscoveredPlugin",
    "DiscoveryState",
    "declared_dependencies",
    "discover",
]

logger = logging.getLogger(__name__)

DEFAULT_GROUP: Final = "vbwd.plugins"

#: Which discovered plugins may load: names (plugin or distribution) or a predicate.
AllowPolicy: TypeAlias = "Collection[str] | Callable[[DiscoveredPlugin], bool]"

_NORMALIZE: Final = re.compile(r"[-_.]+")
#: The project name at the start of a ``Requires-Dist`` value (PEP 508).
_REQUIREMENT_NAME: Final = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


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
        return _normalize(name), version
    return _normalize(dist.metadata["Name"] or "<unknown>"), dist.version


def _normalize(name: str) -> str:
    """PEP 503 name: ``Foo.Bar_baz`` -> ``foo-bar-baz`` (without the regex in the usual case)."""
    fast = name.replace("_", "-").replace(".", "-").lower()
    return fast if "--" not in fast else _NORMALIZE.sub("-", name).lower()


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
    if eps is None:
        from importlib.metadata import entry_points

        eps = entry_points(group=group)
    by_name: dict[str, list[DiscoveredPlugin]] = {}
    for ep in eps:
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


def declared_dependencies(
    plugins: Iterable[DiscoveredPlugin],
) -> dict[DiscoveredPlugin, tuple[str, ...]]:
    """Each plugin -> the plugins its distribution requires, read from ``Requires-Dist``.

    No plugin is imported. A requirement on another distribution that provides some of
    ``plugins`` becomes one entry per plugin it provides, with the requirement's version
    specifier (which applies to the *distribution's* version): ``vbwd-stripe>=1.0`` ->
    ``stripe>=1.0``. Requirements of an extra (``; extra == "..."``) and those whose
    environment marker is false here are left out; so are plugins of the same distribution,
    whose relations only their classes' ``metadata.dependencies`` tell.
    """
    plugins = list(plugins)
    provides: dict[str, list[str]] = {}
    for plugin in plugins:
        provides.setdefault(plugin.distribution, []).append(plugin.name)
    by_distribution: dict[str, tuple[str, ...]] = {}
    found: dict[DiscoveredPlugin, tuple[str, ...]] = {}
    for plugin in plugins:
        if plugin.distribution not in by_distribution:
            by_distribution[plugin.distribution] = _required_plugins(plugin, provides)
        found[plugin] = by_distribution[plugin.distribution]
    return found


def _required_plugins(plugin: DiscoveredPlugin, provides: dict[str, list[str]]) -> tuple[str, ...]:
    dist = None if plugin.entry_point is None else plugin.entry_point.dist
    if dist is None:
        return ()
    try:
        declared = dist.requires or []
    except Exception as exc:  # noqa: BLE001 - unreadable metadata must not break a listing
        logger.warning("Cannot read the requirements of %s: %s", plugin.distribution, exc)
        return ()
    required: list[str] = []
    for text in declared:
        match = _REQUIREMENT_NAME.match(text)
        if match is None:
            continue
        target = _normalize(match.group(1))
        if target == plugin.distribution or target not in provides:
            continue  # the common case (an SDK, the core): packaging is never imported
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            logger.warning("%s declares an invalid requirement %r", plugin.distribution, text)
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        required.extend(f"{name}{requirement.specifier}" for name in sorted(provides[target]))
    return tuple(required)
