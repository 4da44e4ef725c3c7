"""Dependency ordering and requirement checks between plugins (graphlib + packaging).

``packaging`` is imported by the first version check, not with this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

from vbwd_plugins.errors import DependencyCycleError, DependencyError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["check_requirement", "dependency_order", "format_cycle", "transitive_dependents"]


def format_cycle(cycle: Iterable[str]) -> str:
    """``["a", "b", "a"]`` -> ``"a -> b -> a"``."""
    return " -> ".join(cycle)


def dependency_order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Return the nodes of ``graph`` (node -> its dependencies) dependencies-first.

    The order is deterministic (ties broken by name). Dependencies that are not keys of
    ``graph`` are ignored here: checking that they exist is :func:`check_requirement`'s job.
    A cycle raises :class:`DependencyCycleError` with the whole path, ``a -> b -> c -> a``,
    read as "a depends on b, which depends on c, which depends on a".
    """
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for node in sorted(graph):
        sorter.add(node, *sorted(dep for dep in graph[node] if dep in graph))
    try:
        sorter.prepare()
    except CycleError as exc:
        # graphlib reports the cycle along "is needed by" edges; reverse it to read
        # along "depends on".
        cycle = list(reversed(exc.args[1]))
        raise DependencyCycleError(
            f"Plugin dependencies form a cycle: {format_cycle(cycle)}", cycle=cycle
        ) from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def check_requirement(
    plugin_name: str, requirement: Requirement, found_version: str | None
) -> None:
    """Raise :class:`DependencyError` unless ``found_version`` satisfies ``requirement``.

    ``found_version`` is ``None`` when the dependency is not registered at all.
    """
    if found_version is None:
        raise DependencyError(
            f"Plugin {plugin_name!r} requires {str(requirement)!r}: "
            f"dependency {requirement.name!r} not found (not registered or installed)",
            plugin_name=plugin_name,
            requirement=str(requirement),
        )
    if not requirement.specifier:
        return
    from packaging.version import InvalidVersion, Version

    try:
        ok = requirement.specifier.contains(Version(found_version), prereleases=True)
    except InvalidVersion:
        ok = False
    if not ok:
        raise DependencyError(
            f"Plugin {plugin_name!r} requires {str(requirement)!r}, "
            f"but {requirement.name!r} is version {found_version}",
            plugin_name=plugin_name,
            requirement=str(requirement),
            found_version=found_version,
        )


def transitive_dependents(name: str, graph: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node of ``graph`` that depends on ``name`` directly or indirectly."""
    reverse: dict[str, set[str]] = {}
    for node, deps in graph.items():
        for dep in deps:
            reverse.setdefault(dep, set()).add(node)
    seen: set[str] = set()
    stack = [name]
    while stack:
        for dependent in reverse.get(stack.pop(), ()):
            if dependent not in seen:
                seen.add(dependent)
                stack.append(dependent)
    seen.discard(name)
    return seen
