"""Dependency order, version checks, cycles, cascades and atomic set operations."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._support import SimplePlugin
from vbwd_plugins import (
    PluginManager,
    PluginStatus,
)
from vbwd_plugins.errors import (
    DependencyCycleError,
    DependencyError,
    DependentsEnabledError,
    PluginHookError,
)


def manager_with(*plugins: SimplePlugin) -> PluginManager:
    manager = PluginManager()
    for plugin in plugins:
        manager.register_plugin(plugin)
    return manager


def test_enable_plugins_orders_dependencies_first() -> None:
    """A set is enabled dependencies-first whatever order it is given in."""
    order: list[str] = []
    manager = manager_with(
        SimplePlugin("c", dependencies=["b"]),
        SimplePlugin("b", dependencies=["a>=1.0"]),
        SimplePlugin("a", version="1.5"),
    )
    manager.event_dispatcher.add_listener(
        "plugin.enabled", lambda e: order.append(e.data["plugin_name"])
    )
    assert manager.enable_plugins(["c", "a", "b"]) == ["a", "b", "c"]
    assert order == ["a", "b", "c"]
    assert manager.dependency_order() == ["a", "b", "c"]
    assert manager.disable_plugins(["a", "b", "c"]) == ["c", "b", "a"]


def test_version_mismatch_names_plugin_requirement_and_version() -> None:
    """A requirement the dependency's version does not meet fails with all three named."""
    manager = manager_with(
        SimplePlugin("base", version="1.4"), SimplePlugin("child", dependencies=["base>=2,<3"])
    )
    with pytest.raises(DependencyError) as info:
        manager.enable_plugins(["base", "child"])
    err = info.value
    assert (err.plugin_name, err.requirement, err.found_version) == ("child", "base<3,>=2", "1.4")
    assert "'child'" in str(err) and "base<3,>=2" in str(err) and "1.4" in str(err)
    # Checked before anything changed: nothing was initialized or enabled.
    assert manager.get_plugin("base").status is PluginStatus.REGISTERED  # type: ignore[union-attr]


def test_missing_dependency_names_requirement() -> None:
    """A dependency that is not registered is reported with the requirement."""
    manager = manager_with(SimplePlugin("child", dependencies=["base~=1.0"]))
    with pytest.raises(DependencyError, match=r"'child'.*'base'.*not enabled.*base~=1.0"):
        manager.enable_plugins(["child"])


def test_cycle_reports_whole_path_and_enables_nothing() -> None:
    """A cycle error prints the path a -> b -> c -> a and nothing is enabled."""
    manager = manager_with(
        SimplePlugin("a", dependencies=["b"]),
        SimplePlugin("b", dependencies=["c"]),
        SimplePlugin("c", dependencies=["a"]),
        SimplePlugin("free"),
    )
    with pytest.raises(DependencyCycleError) as info:
        manager.enable_plugins(["free", "a", "b", "c"])
    path = info.value.cycle
    assert path[0] == path[-1] and set(path) == {"a", "b", "c"} and len(path) == 4
    for first, second in itertools.pairwise(path):  # each step is "depends on"
        assert manager.get_metadata(first).dependencies == [second]
    assert " -> ".join(path) in str(info.value)
    assert manager.get_enabled_plugins() == []


def test_cascade_disables_dependents_first() -> None:
    """cascade=True disables transitive dependents in reverse order, then the plugin."""
    manager = manager_with(
        SimplePlugin("a"),
        SimplePlugin("b", dependencies=["a"]),
        SimplePlugin("c", dependencies=["b"]),
    )
    manager.enable_plugins(["a", "b", "c"])
    with pytest.raises(DependentsEnabledError) as info:
        manager.disable_plugin("a")
    assert info.value.dependents == ("b",)
    seen: list[str] = []
    manager.event_dispatcher.add_listener(
        "plugin.disabled", lambda e: seen.append(e.data["plugin_name"])
    )
    manager.disable_plugin("a", cascade=True)
    assert seen == ["c", "b", "a"]


def test_disable_plugins_refuses_when_outside_dependent_enabled() -> None:
    """disable_plugins changes nothing while a plugin outside the set depends on one inside."""
    manager = manager_with(SimplePlugin("a"), SimplePlugin("b", dependencies=["a"]))
    manager.enable_plugins(["a", "b"])
    with pytest.raises(DependentsEnabledError, match="depend on it"):
        manager.disable_plugins(["a"])
    assert len(manager.get_enabled_plugins()) == 2


def test_enable_plugins_is_atomic() -> None:
    """When one plugin fails, those enabled by the call are disabled again in reverse order."""
    a, b = SimplePlugin("a"), SimplePlugin("b", dependencies=["a"])
    bad = SimplePlugin("c", dependencies=["b"], fail_on="on_enable")
    already = SimplePlugin("pre")
    manager = manager_with(a, b, bad, already)
    manager.enable_plugins(["pre"])
    with pytest.raises(PluginHookError) as info:
        manager.enable_plugins(["pre", "a", "b", "c"])
    assert info.value.plugin_name == "c"
    assert any("rolled back" in note and "['b', 'a']" in note for note in info.value.__notes__)
    assert a.status is PluginStatus.DISABLED and b.status is PluginStatus.DISABLED
    assert bad.status is PluginStatus.ERROR
    assert already.status is PluginStatus.ENABLED  # not enabled by this call: untouched
    assert a.calls[-1] == "on_disable" and b.calls[-1] == "on_disable"


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """Random DAGs: node i may only depend on nodes < i, then names are shuffled."""
    size = draw(st.integers(1, 12))
    names = draw(st.permutations([f"p{i}" for i in range(size)]))
    graph: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
        graph[name] = deps
    return graph


@settings(max_examples=100, deadline=None)
@given(graph=dags(), data=st.data())
def test_random_dags_enable_dependencies_first(
    graph: dict[str, list[str]], data: st.DataObject
) -> None:
    """For random DAGs every dependency is enabled before its dependent."""
    manager = manager_with(*(SimplePlugin(n, dependencies=d) for n, d in graph.items()))
    enabled: list[str] = []
    manager.event_dispatcher.add_listener(
        "plugin.enabled", lambda e: enabled.append(e.data["plugin_name"])
    )
    request = data.draw(st.permutations(list(graph)))
    manager.enable_plugins(request)
    assert sorted(enabled) == sorted(graph)
    for name, deps in graph.items():
        for dep in deps:
            assert enabled.index(dep) < enabled.index(name)
    disabled = manager.disable_plugins(data.draw(st.permutations(list(graph))))
    for name, deps in graph.items():
        for dep in deps:
            assert disabled.index(dep) > disabled.index(name)


@settings(max_examples=100, deadline=None)
@given(graph=dags(), data=st.data())
def test_random_graphs_with_a_cycle_enable_nothing(
    graph: dict[str, list[str]], data: st.DataObject
) -> None:
    """Adding a back edge to a random DAG is reported as a cycle; nothing gets enabled."""
    names = list(graph)
    source = data.draw(st.sampled_from(names))
    # Close a cycle: make some node reachable from `source` (or source itself) depend on source.
    reachable = {source}
    stack = [source]
    while stack:
        for dep in graph[stack.pop()]:
            if dep not in reachable:
                reachable.add(dep)
                stack.append(dep)
    target = data.draw(st.sampled_from(sorted(reachable)))
    if target == source:
        graph[source] = [*graph[source], "selfloop-helper"]
        graph["selfloop-helper"] = [source]
    else:
        graph[target] = [*graph[target], source]
    manager = manager_with(*(SimplePlugin(n, dependencies=d) for n, d in graph.items()))
    with pytest.raises(DependencyCycleError) as info:
        manager.enable_plugins(data.draw(st.permutations(list(graph))))
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1]
    for first, second in itertools.pairwise(cycle):
        assert second in graph[first]
    assert manager.get_enabled_plugins() == []
