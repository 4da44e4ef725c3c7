"""Code written against the original design document keeps working with new imports."""

from __future__ import annotations

from typing import Any

import pytest

from vbwd_plugins import (
    BasePlugin,
    Event,
    EventDispatcher,
    EventPriority,
    PluginManager,
    PluginMetadata,
    PluginStatus,
)


class MockPlugin(BasePlugin):
    """A plugin written exactly as the design document's examples are."""

    def __init__(self, name: str = "mock", dependencies: list[str] | None = None) -> None:
        super().__init__()
        self._name = name
        self._dependencies = dependencies
        self.enabled_called = False
        self.disabled_called = False

    @property
    def metadata(self) -> PluginMetadata:
        return PluginMetadata(
            name=self._name,
            version="1.0.0",
            author="Test",
            description="Mock plugin",
            dependencies=self._dependencies,  # type: ignore[arg-type]  # None, as in the seed
        )

    def on_enable(self) -> None:
        self.enabled_called = True

    def on_disable(self) -> None:
        self.disabled_called = True


class NoSuperInitPlugin(BasePlugin):
    """Overrides ``__init__`` without calling ``super().__init__()``."""

    def __init__(self) -> None:
        self.custom = True

    @property
    def metadata(self) -> PluginMetadata:
        return PluginMetadata("nosuper", "1.0.0", "Test", "no super init")


def test_register_initialize_enable_disable() -> None:
    """The seed's full lifecycle through the manager works and calls the hooks."""
    manager = PluginManager()
    plugin = MockPlugin()
    manager.register_plugin(plugin)
    manager.initialize_plugin("mock", {"api_key": "x"})
    assert plugin.get_config("api_key") == "x"
    manager.enable_plugin("mock")
    assert plugin.status == PluginStatus.ENABLED and plugin.enabled_called
    assert manager.get_enabled_plugins() == [plugin]
    manager.disable_plugin("mock")
    assert plugin.status == PluginStatus.DISABLED and plugin.disabled_called
    assert manager.get_all_plugins() == [plugin]
    assert manager.get_plugin("missing") is None


def test_duplicate_registration_is_value_error() -> None:
    """Registering a name twice raises ValueError mentioning 'already registered'."""
    manager = PluginManager()
    manager.register_plugin(MockPlugin())
    with pytest.raises(ValueError, match="already registered"):
        manager.register_plugin(MockPlugin())


@pytest.mark.parametrize("action", ["initialize_plugin", "enable_plugin", "disable_plugin"])
def test_unknown_plugin_is_value_error(action: str) -> None:
    """Acting on an unknown plugin raises ValueError mentioning 'not found'."""
    with pytest.raises(ValueError, match="not found"):
        getattr(PluginManager(), action)("nope")


def test_missing_dependency_is_value_error() -> None:
    """Enabling with a missing dependency raises ValueError mentioning 'not enabled'."""
    manager = PluginManager()
    manager.register_plugin(MockPlugin("child", ["base"]))
    manager.initialize_plugin("child")
    with pytest.raises(ValueError, match="not enabled"):
        manager.enable_plugin("child")


def test_present_but_disabled_dependency_is_value_error() -> None:
    """A registered but not enabled dependency also fails with 'not enabled'."""
    manager = PluginManager()
    manager.register_plugin(MockPlugin("base"))
    manager.register_plugin(MockPlugin("child", ["base"]))
    manager.initialize_plugin("base")
    manager.initialize_plugin("child")
    with pytest.raises(ValueError, match="not enabled"):
        manager.enable_plugin("child")
    manager.enable_plugin("base")
    manager.enable_plugin("child")
    assert manager.get_plugin("child").status == PluginStatus.ENABLED  # type: ignore[union-attr]


def test_disable_with_enabled_dependents_is_value_error() -> None:
    """Disabling a plugin enabled plugins depend on fails with 'depend on it'."""
    manager = PluginManager()
    manager.register_plugin(MockPlugin("base"))
    manager.register_plugin(MockPlugin("child", ["base"]))
    for name in ("base", "child"):
        manager.initialize_plugin(name)
        manager.enable_plugin(name)
    with pytest.raises(ValueError, match="depend on it"):
        manager.disable_plugin("base")
    assert manager.get_plugin("base").status == PluginStatus.ENABLED  # type: ignore[union-attr]


def test_plugin_level_methods_and_config() -> None:
    """``BasePlugin.initialize/enable/disable`` and get/set_config behave as in the seed."""
    plugin = MockPlugin()
    with pytest.raises(ValueError, match="Cannot enable"):
        plugin.enable()
    plugin.initialize({"a": 1})
    plugin.set_config("b", 2)
    assert (plugin.get_config("a"), plugin.get_config("b"), plugin.get_config("c", 3)) == (1, 2, 3)
    plugin.enable()
    with pytest.raises(ValueError, match="Cannot enable"):
        plugin.enable()
    plugin.disable()
    with pytest.raises(ValueError, match="Cannot disable"):
        plugin.disable()


def test_subclass_without_super_init_works() -> None:
    """A subclass that never calls ``super().__init__()`` still registers and runs."""
    manager = PluginManager()
    plugin = NoSuperInitPlugin()
    manager.register_plugin(plugin)
    manager.initialize_plugin("nosuper", {"k": "v"})
    manager.enable_plugin("nosuper")
    assert plugin.status == PluginStatus.ENABLED and plugin.get_config("k") == "v"


def test_manager_emits_seed_events() -> None:
    """The manager dispatches plugin.registered/initialized/enabled/disabled with the name."""
    dispatcher = EventDispatcher()
    seen: list[tuple[str, Any]] = []
    for name in ("plugin.registered", "plugin.initialized", "plugin.enabled", "plugin.disabled"):
        dispatcher.add_listener(name, lambda e: seen.append((e.name, e.data["plugin_name"])))
    manager = PluginManager(dispatcher)
    assert manager.event_dispatcher is dispatcher
    manager.register_plugin(MockPlugin())
    manager.initialize_plugin("mock")
    manager.enable_plugin("mock")
    manager.disable_plugin("mock")
    assert seen == [
        ("plugin.registered", "mock"),
        ("plugin.initialized", "mock"),
        ("plugin.enabled", "mock"),
        ("plugin.disabled", "mock"),
    ]


def test_seed_dispatcher_semantics() -> None:
    """Priority order, stop_propagation and remove_listener work as in the seed."""
    dispatcher = EventDispatcher()
    calls: list[str] = []

    def low(event: Event) -> None:
        calls.append("low")

    def high(event: Event) -> None:
        calls.append("high")
        if event.data.get("stop"):
            event.stop_propagation()

    dispatcher.add_listener("e", low, EventPriority.LOW)
    dispatcher.add_listener("e", high, EventPriority.HIGH)
    assert dispatcher.has_listeners("e") and not dispatcher.has_listeners("other")
    assert [entry.callback for entry in dispatcher.get_listeners("e")] == [high, low]
    result = dispatcher.dispatch(Event("e"))
    assert isinstance(result, Event) and calls == ["high", "low"]
    calls.clear()
    dispatcher.dispatch(Event("e", {"stop": True}))
    assert calls == ["high"]
    dispatcher.remove_listener("e", high)
    calls.clear()
    dispatcher.dispatch(Event("e"))
    assert calls == ["low"]
