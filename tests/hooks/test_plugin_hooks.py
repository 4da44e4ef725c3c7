"""pluggy hook specifications, declared listeners and plugin.* events."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from vbwd_plugins import (
    BasePlugin,
    Event,
    EventPriority,
    PluginManager,
    PluginMetadata,
    hookimpl,
    listener,
)
from vbwd_plugins.errors import PluginValidationError
from vbwd_plugins.plugins import ListenerSpec


class Counter(BasePlugin):
    """Declares listeners with the decorator and through the pluggy hook."""

    metadata = PluginMetadata("counter", "1.0", "t", "counts payments")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.lifecycle: list[tuple[str, str]] = []

    @listener("payment.completed", EventPriority.HIGH)
    @listener("payment.refunded")
    def count(self, event: Event) -> None:
        self.seen.append(event.name)

    @hookimpl
    def vbwd_event_listeners(self) -> Iterable[ListenerSpec]:
        return [ListenerSpec("payment.failed", self.count, EventPriority.LOW)]

    @hookimpl
    def vbwd_plugin_enabled(self, plugin_name: str) -> None:
        self.lifecycle.append(("enabled", plugin_name))

    def vbwd_plugin_disabled(self, plugin_name: str) -> None:  # prefix alone marks a hook
        self.lifecycle.append(("disabled", plugin_name))


class Other(BasePlugin):
    metadata = PluginMetadata("other", "1.0", "t", "another plugin")


def fire(manager: PluginManager, *names: str) -> None:
    for name in names:
        manager.event_dispatcher.dispatch(Event(name))


def test_listeners_follow_enable_and_disable() -> None:
    """Enabling subscribes listeners, disabling removes all, re-enabling subscribes once."""
    manager = PluginManager()
    plugin = Counter()
    manager.register_plugin(plugin)
    manager.initialize_plugin("counter")
    fire(manager, "payment.completed")
    assert plugin.seen == []  # not enabled yet
    manager.enable_plugin("counter")
    fire(manager, "payment.completed", "payment.refunded", "payment.failed", "payment.other")
    assert plugin.seen == ["payment.completed", "payment.refunded", "payment.failed"]
    assert (
        manager.event_dispatcher.get_listeners("payment.completed")[0].priority
        is EventPriority.HIGH
    )
    manager.disable_plugin("counter")
    plugin.seen.clear()
    fire(manager, "payment.completed", "payment.refunded", "payment.failed")
    assert plugin.seen == []
    assert not manager.event_dispatcher.has_listeners("payment.completed")
    manager.enable_plugin("counter")
    manager.disable_plugin("counter")
    manager.enable_plugin("counter")
    fire(manager, "payment.completed")
    assert plugin.seen == ["payment.completed"]  # once, not twice
    manager.disable_plugin("counter")
    manager.uninstall_plugin("counter")
    fire(manager, "payment.completed", "payment.failed")
    assert plugin.seen == ["payment.completed"]


def test_lifecycle_hooks_are_broadcast_to_enabled_plugins() -> None:
    """Enabled plugins hear about other plugins being enabled and disabled; disabled ones do not."""
    manager = PluginManager()
    counter = Counter()
    for plugin in (counter, Other()):
        manager.register_plugin(plugin)
    manager.enable_plugins(["counter", "other"])
    manager.disable_plugin("other")
    manager.disable_plugin("counter")
    manager.enable_plugin("other")
    assert counter.lifecycle == [
        ("enabled", "counter"),
        ("enabled", "other"),
        ("disabled", "other"),
    ]


def test_misspelt_hook_is_rejected_at_registration() -> None:
    """A plugin implementing a hook that does not exist fails registration with a clear error."""

    class Typo(BasePlugin):
        metadata = PluginMetadata("typo", "1.0", "t", "misspelt hook")

        @hookimpl
        def vbwd_event_listner(self) -> list[ListenerSpec]:
            return []

    class UndecoratedTypo(BasePlugin):
        metadata = PluginMetadata("typo2", "1.0", "t", "misspelt hook")

        def vbwd_plugin_enabld(self, plugin_name: str) -> None: ...

    manager = PluginManager()
    for plugin, bad in ((Typo(), "vbwd_event_listner"), (UndecoratedTypo(), "vbwd_plugin_enabld")):
        with pytest.raises(PluginValidationError, match=bad) as info:
            manager.register_plugin(plugin)
        assert "vbwd_event_listeners" in str(info.value)  # the known hooks are listed
    assert manager.get_all_plugins() == []
    manager.register_plugin(Counter())  # the manager still works


def test_wrong_hook_signature_is_rejected() -> None:
    """A hook implementation asking for an argument the spec lacks is rejected by pluggy."""

    class BadArgs(BasePlugin):
        metadata = PluginMetadata("badargs", "1.0", "t", "bad hook args")

        @hookimpl
        def vbwd_plugin_enabled(self, plugin_name: str, extra: int) -> None: ...

    with pytest.raises(PluginValidationError, match="extra"):
        PluginManager().register_plugin(BadArgs())


def test_plugin_events_have_plugin_name() -> None:
    """registered/initialized/enabled/disabled/uninstalled/error events carry the plugin name."""
    manager = PluginManager()
    seen: list[tuple[str, str]] = []
    names = ["registered", "initialized", "enabled", "disabled", "uninstalled", "error"]
    for name in names:
        manager.event_dispatcher.add_listener(
            f"plugin.{name}", lambda e: seen.append((e.name, e.data["plugin_name"]))
        )

    class Fails(BasePlugin):
        metadata = PluginMetadata("fails", "1.0", "t", "fails to enable")

        def on_enable(self) -> None:
            raise RuntimeError("no")

    manager.register_plugin(Other())
    manager.enable_plugins(["other"])
    manager.disable_plugin("other")
    manager.uninstall_plugin("other")
    manager.register_plugin(Fails())
    with pytest.raises(RuntimeError):
        manager.enable_plugins(["fails"])
    assert seen == [
        ("plugin.registered", "other"),
        ("plugin.initialized", "other"),
        ("plugin.enabled", "other"),
        ("plugin.disabled", "other"),
        ("plugin.uninstalled", "other"),
        ("plugin.registered", "fails"),
        ("plugin.initialized", "fails"),
        ("plugin.error", "fails"),
    ]


def test_failed_enable_subscribes_nothing() -> None:
    """If on_enable raises, none of the plugin's listeners stay subscribed."""

    class FailsWithListener(Counter):
        def on_enable(self) -> None:
            raise RuntimeError("no")

    manager = PluginManager()
    plugin = FailsWithListener()
    manager.register_plugin(plugin)
    manager.initialize_plugin("counter")
    with pytest.raises(RuntimeError):
        manager.enable_plugin("counter")
    fire(manager, "payment.completed")
    assert plugin.seen == [] and not manager.event_dispatcher.has_listeners("payment.completed")
