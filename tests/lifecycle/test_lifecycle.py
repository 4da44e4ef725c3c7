"""Lifecycle transitions, hook failures and the ERROR status."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._support import SimplePlugin
from vbwd_plugins import (
    PluginError,
    PluginManager,
    PluginStatus,
)
from vbwd_plugins.errors import (
    PluginHookError,
    PluginStateError,
)
from vbwd_plugins.plugins._model import TRANSITIONS

S = PluginStatus


def test_statuses_cover_the_design() -> None:
    """Every status of the issue exists with its lowercase value."""
    assert {s.value for s in S} == {
        "discovered",
        "registered",
        "initialized",
        "enabled",
        "disabled",
        "uninstalled",
        "error",
    }


def test_full_cycle_with_reinitialize_reenable_and_uninstall(
    make_plugin: Callable[..., SimplePlugin],
) -> None:
    """register, initialize, enable, disable, re-initialize, re-enable, disable, uninstall."""
    manager = PluginManager()
    plugin = make_plugin()
    assert plugin.status is S.DISCOVERED
    manager.register_plugin(plugin)
    assert plugin.status is S.REGISTERED
    manager.initialize_plugin("simple", {"v": 1})
    manager.enable_plugin("simple")
    manager.disable_plugin("simple")
    manager.initialize_plugin("simple", {"v": 2})
    assert plugin.status is S.INITIALIZED and plugin.get_config("v") == 2
    manager.enable_plugin("simple")
    manager.disable_plugin("simple")
    manager.enable_plugin("simple")  # dynamic re-enable from DISABLED
    manager.disable_plugin("simple")
    manager.uninstall_plugin("simple")
    assert plugin.status is S.UNINSTALLED
    assert manager.get_plugin("simple") is None
    assert plugin.calls == [
        "on_initialize",
        "on_enable",
        "on_disable",
        "on_initialize",
        "on_enable",
        "on_disable",
        "on_enable",
        "on_disable",
        "on_uninstall",
    ]


def test_illegal_transition_names_plugin_status_and_action(
    make_plugin: Callable[..., SimplePlugin],
) -> None:
    """Enabling a registered (not initialized) plugin fails and changes nothing."""
    manager = PluginManager()
    plugin = make_plugin()
    manager.register_plugin(plugin)
    with pytest.raises(PluginStateError) as info:
        manager.enable_plugin("simple")
    err = info.value
    assert (err.plugin_name, err.status, err.action) == ("simple", S.REGISTERED, "enable")
    assert "'simple'" in str(err) and "registered" in str(err) and "enable" in str(err)
    assert plugin.status is S.REGISTERED and plugin.calls == []


def test_uninstall_refused_while_enabled(make_plugin: Callable[..., SimplePlugin]) -> None:
    """An enabled plugin cannot be uninstalled; it stays registered and enabled."""
    manager = PluginManager()
    plugin = make_plugin()
    manager.register_plugin(plugin)
    manager.initialize_plugin("simple")
    manager.enable_plugin("simple")
    with pytest.raises(PluginStateError, match="uninstall"):
        manager.uninstall_plugin("simple")
    assert manager.get_plugin("simple") is plugin and plugin.status is S.ENABLED


@pytest.mark.parametrize("hook", ["on_initialize", "on_enable", "on_disable", "on_uninstall"])
def test_failing_hook_puts_plugin_in_error_and_keeps_cause(
    make_plugin: Callable[..., SimplePlugin], hook: str
) -> None:
    """A hook that raises leaves ERROR with the cause kept; other plugins are unaffected."""
    manager = PluginManager()
    bad = make_plugin("bad", fail_on=hook)
    good = make_plugin("good")
    errors: list[dict[str, object]] = []
    manager.event_dispatcher.add_listener("plugin.error", lambda e: errors.append(e.data))
    for plugin in (bad, good):
        manager.register_plugin(plugin)
    manager.initialize_plugin("good")
    manager.enable_plugin("good")

    def drive() -> None:
        manager.initialize_plugin("bad", {"x": 1})
        manager.enable_plugin("bad")
        manager.disable_plugin("bad")
        manager.uninstall_plugin("bad")

    with pytest.raises(PluginHookError) as info:
        drive()
    assert info.value.plugin_name == "bad" and info.value.hook == hook
    assert isinstance(info.value.__cause__, RuntimeError)
    assert bad.status is S.ERROR and isinstance(bad.error, RuntimeError)
    assert errors and errors[-1]["plugin_name"] == "bad"
    assert good.status is S.ENABLED
    assert manager.get_plugin("bad") is bad  # still known, can recover
    # Re-initializing leaves ERROR.
    bad.fail_on = None
    manager.initialize_plugin("bad")
    assert bad.status is S.INITIALIZED and bad.error is None


def test_failed_initialize_restores_previous_config(
    make_plugin: Callable[..., SimplePlugin],
) -> None:
    """When on_initialize raises, the previous configuration is kept."""
    plugin = make_plugin(fail_on="on_initialize")
    with pytest.raises(PluginHookError):
        plugin.initialize({"key": "new"})
    assert plugin.get_config("key") is None
    plugin.fail_on = None
    plugin.initialize({"key": "old"})
    plugin.fail_on = "on_initialize"
    with pytest.raises(PluginHookError):
        plugin.initialize({"key": "new"})
    assert plugin.get_config("key") == "old"


def test_error_classes_subclass_builtins() -> None:
    """Every error is a PluginError and the built-in a caller would catch."""
    import vbwd_plugins.errors as v

    assert issubclass(v.PluginNotFoundError, ValueError)
    assert issubclass(v.PluginNotFoundError, LookupError)
    assert issubclass(v.PluginStateError, ValueError)
    assert issubclass(v.PluginLoadError, ImportError)
    assert issubclass(v.PluginHookError, RuntimeError)
    assert issubclass(v.DependencyCycleError, v.DependencyError)
    for name in v.__all__:
        obj = getattr(v, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, PluginError), name


ACTIONS = ["register", "initialize", "enable", "disable", "uninstall"]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from([None, *ACTIONS[1:]])),
        max_size=25,
    )
)
def test_random_lifecycles_never_reach_a_forbidden_status(
    steps: list[tuple[str, str | None]],
) -> None:
    """Random call sequences (with random hook failures) only take transitions the table allows."""
    manager = PluginManager()
    plugin = SimplePlugin()
    for action, failing in steps:
        plugin.fail_on = f"on_{failing}" if failing else None
        before = plugin.status
        registered = manager.get_plugin("simple") is plugin
        try:
            if action == "register":
                manager.register_plugin(plugin)
            else:
                getattr(manager, f"{action}_plugin")("simple")
        except PluginHookError:
            assert plugin.status is S.ERROR
            assert before in TRANSITIONS[action][0]
            continue
        except PluginError:
            assert plugin.status is before  # refused: nothing changed
            continue
        allowed, target = TRANSITIONS[action]
        assert before in allowed
        if action == "register":
            assert not registered
            assert plugin.status in (S.REGISTERED, S.INITIALIZED)
        else:
            assert registered
            assert plugin.status is target
        assert (manager.get_plugin("simple") is plugin) == (plugin.status is not S.UNINSTALLED)
