"""Hooks run through pluggy's caller: wrappers, order, monitoring, failures and host hooks."""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping, Sequence
from types import ModuleType

import pluggy
import pytest

from vbwd_plugins import BasePlugin, Event, PluginManager, PluginMetadata, hookimpl, hookspec
from vbwd_plugins.errors import PluginValidationError
from vbwd_plugins.plugins import ListenerSpec


class Recorder(BasePlugin):
    """A plugin named at construction that appends what it hears to a shared log."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self._meta = PluginMetadata(name, "1.0", "t", "records hook calls")
        self.log = log

    @property
    def metadata(self) -> PluginMetadata:
        return self._meta


class Plain(Recorder):
    @hookimpl
    def vbwd_plugin_enabled(self, plugin_name: str) -> None:
        self.log.append(f"{self.metadata.name} heard {plugin_name}")


class First(Recorder):
    @hookimpl(tryfirst=True)
    def vbwd_plugin_enabled(self, plugin_name: str) -> None:
        self.log.append(f"{self.metadata.name} heard {plugin_name}")


class Last(Recorder):
    @hookimpl(trylast=True)
    def vbwd_plugin_enabled(self, plugin_name: str) -> None:
        self.log.append(f"{self.metadata.name} heard {plugin_name}")


class Raising(Recorder):
    @hookimpl
    def vbwd_plugin_enabled(self, plugin_name: str) -> None:
        raise RuntimeError("listener bug")


class Wrapper(Recorder):
    @hookimpl(wrapper=True)
    def vbwd_plugin_enabled(self, plugin_name: str) -> Generator[None, object, object]:
        self.log.append(f"wrapper before {plugin_name}")
        result = yield
        self.log.append(f"wrapper after {plugin_name}: {result!r}")
        return result


class OldWrapper(Recorder):
    @hookimpl(hookwrapper=True)
    def vbwd_plugin_disabled(
        self, plugin_name: str
    ) -> Generator[None, pluggy.Result[object], None]:
        self.log.append(f"old wrapper before {plugin_name}")
        outcome = yield
        self.log.append(f"old wrapper after {plugin_name}: {outcome.get_result()!r}")

    @hookimpl
    def vbwd_plugin_enabled(self, plugin_name: str) -> None:
        self.log.append(f"{self.metadata.name} heard {plugin_name}")


def enabled(*plugins: BasePlugin) -> PluginManager:
    """A manager with ``plugins`` registered and enabled, in that order."""
    manager = PluginManager()
    for plugin in plugins:
        manager.register_plugin(plugin)
        manager.enable_plugins([plugin.metadata.name])
    return manager


def test_new_style_wrapper_sees_the_call_and_its_result() -> None:
    """A ``wrapper=True`` lifecycle hook runs around the others and receives their results."""
    log: list[str] = []
    manager = enabled(Wrapper("wrap", log), Plain("plain", log))
    log.clear()
    manager.register_plugin(Recorder("other", log))
    manager.enable_plugins(["other"])
    assert log == ["wrapper before other", "plain heard other", "wrapper after other: []"]


def test_old_style_hookwrapper_sees_the_call_and_its_result() -> None:
    """A ``hookwrapper=True`` lifecycle hook gets the outcome of the call."""
    log: list[str] = []
    manager = enabled(OldWrapper("old", log), Recorder("other", log))
    log.clear()
    manager.disable_plugin("other")
    assert log == ["old wrapper before other", "old wrapper after other: []"]


def test_tryfirst_runs_first_and_trylast_runs_last() -> None:
    """Ordering marks beat pluggy's default (last registered first)."""
    log: list[str] = []
    manager = enabled(First("first", log), Plain("middle", log), Last("last", log))
    log.clear()
    manager.register_plugin(Recorder("other", log))
    manager.enable_plugins(["other"])
    assert log == ["first heard other", "middle heard other", "last heard other"]


def test_hookcall_monitoring_sees_lifecycle_hooks_but_not_events() -> None:
    """Monitoring sees listener collection and enable/disable; event dispatch skips pluggy."""
    calls: list[tuple[str, dict[str, object]]] = []
    outcomes: list[object] = []

    def before(
        hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]
    ) -> None:
        calls.append((hook_name, dict(kwargs)))

    def after(
        outcome: pluggy.Result[object],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        outcomes.append(outcome.get_result())

    manager = PluginManager()
    manager.register_plugin(Plain("plain", []))
    undo = manager.hook_manager.add_hookcall_monitoring(before, after)
    manager.enable_plugins(["plain"])
    manager.event_dispatcher.dispatch(Event("payment.completed"))
    manager.disable_plugin("plain")
    undo()
    manager.enable_plugins(["plain"])
    assert calls == [
        ("vbwd_event_listeners", {}),
        ("vbwd_plugin_enabled", {"plugin_name": "plain"}),
        ("vbwd_plugin_disabled", {"plugin_name": "plain"}),
    ]
    assert outcomes == [[], [], []]


def test_raising_implementation_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing lifecycle hook is logged naming its plugin; it stops neither others nor change."""
    log: list[str] = []
    manager = enabled(Plain("before", log), Raising("broken", log), Plain("after", log))
    log.clear()
    manager.register_plugin(Recorder("other", log))
    with caplog.at_level(logging.ERROR):
        manager.enable_plugins(["other"])
    assert log == ["after heard other", "before heard other"]
    assert "'broken'" in caplog.text and "vbwd_plugin_enabled" in caplog.text
    assert "listener bug" in caplog.text  # the traceback is kept
    assert manager.get_plugin("other") in manager.get_enabled_plugins()


def test_raising_wrapper_is_logged_and_the_change_stands(caplog: pytest.LogCaptureFixture) -> None:
    """A wrapper that raises is logged naming the hook's wrappers; the plugin is still enabled."""

    class BadWrapper(Recorder):
        @hookimpl(wrapper=True)
        def vbwd_plugin_enabled(self, plugin_name: str) -> Generator[None, object, object]:
            result = yield
            raise RuntimeError(f"wrapper bug {result!r}")

    manager = enabled(BadWrapper("badwrap", []))
    with caplog.at_level(logging.ERROR):
        manager.register_plugin(Recorder("other", []))
        manager.enable_plugins(["other"])
    assert "badwrap" in caplog.text and "wrapper bug" in caplog.text
    assert [p.metadata.name for p in manager.get_enabled_plugins()] == ["badwrap", "other"]


class ShopSpecs:
    """Hooks a host defines for its plugins."""

    @hookspec(firstresult=True)
    def shop_shipping_quote(self, country: str) -> int | None:
        """Price of shipping to ``country`` in cents; the first answer wins."""

    @hookspec
    def shop_checkout_fields(self) -> list[str]:  # type: ignore[empty-body]
        """Extra checkout fields; every plugin's answer is collected."""


class Courier(Recorder):
    def __init__(self, name: str, log: list[str], quotes: Mapping[str, int]) -> None:
        super().__init__(name, log)
        self.quotes = quotes

    @hookimpl
    def shop_shipping_quote(self, country: str) -> int | None:
        self.log.append(f"{self.metadata.name} quoted {country}")
        return self.quotes.get(country)

    @hookimpl
    def shop_checkout_fields(self) -> list[str]:
        return [f"{self.metadata.name}_tracking"]


class BrokenCourier(Recorder):
    @hookimpl(tryfirst=True)
    def shop_shipping_quote(self, country: str) -> int | None:
        raise RuntimeError("rate table missing")


def test_host_hookspec_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    """A host adds specs, plugins implement them, the host calls them; firstresult is honoured."""
    log: list[str] = []
    manager = PluginManager()
    manager.add_hookspecs(ShopSpecs)
    for plugin in (
        Courier("fast", log, {"DE": 1500, "UK": 1200}),
        Courier("slow", log, {"DE": 900}),
        BrokenCourier("broken", log),
        Courier("idle", log, {"DE": 1}),
    ):
        manager.register_plugin(plugin)
        if plugin.metadata.name != "idle":  # "idle" stays disabled: not asked
            manager.enable_plugins([plugin.metadata.name])
    with caplog.at_level(logging.ERROR):
        assert manager.hook.shop_shipping_quote(country="DE") == 900  # last enabled asked first
        assert log == ["slow quoted DE"]  # firstresult: fast was never asked
        assert manager.hook.shop_shipping_quote(country="UK") == 1200  # slow said None
        assert manager.hook.shop_shipping_quote(country="US") is None
    assert "'broken'" in caplog.text and "rate table missing" in caplog.text
    assert manager.hook.shop_checkout_fields() == [["slow_tracking"], ["fast_tracking"]]


def test_host_hookspecs_from_a_module() -> None:
    """A module of ``@hookspec`` functions works as well as a class."""
    module = ModuleType("host_hooks")

    @hookspec
    def shop_order_placed(order_id: str) -> None:
        """An order was placed."""

    module.shop_order_placed = shop_order_placed  # type: ignore[attr-defined]
    seen: list[str] = []

    class Mailer(Recorder):
        @hookimpl
        def shop_order_placed(self, order_id: str) -> None:
            self.log.append(order_id)

    manager = PluginManager()
    manager.add_hookspecs(module)
    manager.register_plugin(Mailer("mailer", seen))
    manager.enable_plugins(["mailer"])
    manager.hook.shop_order_placed(order_id="o-1")
    assert seen == ["o-1"]


def test_misspelt_host_hook_is_rejected_at_registration() -> None:
    """An implementation matching no host spec fails registration, naming plugin and hook."""

    class Typo(Recorder):
        @hookimpl
        def shop_shiping_quote(self, country: str) -> int:
            return 1

    manager = PluginManager()
    manager.add_hookspecs(ShopSpecs)
    with pytest.raises(PluginValidationError, match="shop_shiping_quote") as info:
        manager.register_plugin(Typo("typo", []))
    assert info.value.plugin_name == "typo"
    assert "'typo'" in str(info.value) and "shop_shipping_quote" in str(info.value)  # known hooks
    assert manager.get_all_plugins() == []


def test_plugin_registered_before_its_hookspec_is_rejected() -> None:
    """Specs must come first: until the host adds it, a host hook is as unknown as a typo."""
    manager = PluginManager()
    with pytest.raises(PluginValidationError, match="unknown hook 'shop_"):
        manager.register_plugin(Courier("early", [], {}))
    manager.add_hookspecs(ShopSpecs)
    manager.register_plugin(Courier("early", [], {}))


def test_add_hookspecs_checks_enabled_plugins_at_once() -> None:
    """pluggy validates enabled plugins' optional implementations when the spec is added."""

    class Eager(Recorder):
        @hookimpl(optionalhook=True)
        def shop_shipping_quote(self, country: str, weight: int) -> int:
            return weight

    manager = enabled(Eager("eager", []))
    with pytest.raises(PluginValidationError, match="weight") as info:
        manager.add_hookspecs(ShopSpecs)
    assert info.value.plugin_name == "eager"


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (type("Clash", (), {"vbwd_plugin_enabled": hookspec(lambda plugin_name: None)}), "already"),
        (type("Historic", (), {"shop_boot": hookspec(historic=True)(lambda: None)}), "historic"),
        (type("Empty", (), {"shop_boot": lambda: None}), "hookspec"),
    ],
    ids=["taken-name", "historic", "no-specs"],
)
def test_add_hookspecs_refuses_bad_specifications(specs: type, message: str) -> None:
    """A taken name, a historic hook or a namespace without specs raises PluginValidationError."""
    manager = PluginManager()
    with pytest.raises(PluginValidationError, match=message):
        manager.add_hookspecs(specs)
    manager.add_hookspecs(ShopSpecs)  # the manager is unchanged and still usable


class Contributing(BasePlugin):
    """Contributes one listener through ``vbwd_event_listeners``, wrapped by its own wrapper."""

    metadata = PluginMetadata("contributing", "1.0.0", "t", "contributes a listener")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Event] = []
        self.wrapped: list[object] = []

    @hookimpl
    def vbwd_event_listeners(self) -> list[ListenerSpec]:
        return [ListenerSpec("payment.completed", self.seen.append)]

    @hookimpl(wrapper=True, specname="vbwd_event_listeners")
    def watch_listeners(self) -> Generator[None, list[object], list[object]]:
        result = yield
        self.wrapped.append(result)
        return result


def test_event_listeners_are_collected_through_pluggy() -> None:
    """``vbwd_event_listeners`` goes through pluggy: the plugin's own wrapper sees the call."""
    manager = PluginManager()
    plugin = Contributing()
    manager.register_plugin(plugin)
    manager.enable_plugins(["contributing"])
    manager.event_dispatcher.dispatch(Event("payment.completed"))
    assert len(plugin.seen) == 1
    assert len(plugin.wrapped) == 1
