"""Stable listener ids: host and plugin listeners, uniqueness, order, lookup."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import (
    BasePlugin,
    Event,
    EventDispatcher,
    EventPriority,
    PluginManager,
    PluginMetadata,
    listener,
)
from vbwd_plugins.errors import InvalidListenerError, PluginError
from vbwd_plugins.plugins import ListenerSpec

NAME = "payment.completed"
HERE = __name__


def activate(event: Event) -> None:
    """A module-level host listener."""


class Service:
    """A host service whose methods listen."""

    def on_payment(self, event: Event) -> None:
        """A bound-method listener."""

    def __call__(self, event: Event) -> None:
        """A callable-object listener."""


def test_host_listener_ids_default_to_module_and_qualified_name() -> None:
    """Functions, bound methods, partials and callable objects: module + qualified name."""
    dispatcher = EventDispatcher()
    service = Service()
    dispatcher.add_listener(NAME, activate)
    dispatcher.add_listener(NAME, service.on_payment)
    dispatcher.add_listener(NAME, functools.partial(functools.partial(activate)))
    dispatcher.add_listener(NAME, service)
    assert dispatcher.listener_ids(NAME) == (
        f"{HERE}.activate",
        f"{HERE}.Service.on_payment",
        f"{HERE}.activate#2",
        f"{HERE}.Service",
    )


def test_seed_call_without_an_id_keeps_working_and_repeats_get_a_suffix() -> None:
    """``add_listener(name, cb, priority)`` as in the seed; the same callback twice runs twice."""
    dispatcher = EventDispatcher()
    calls: list[str] = []
    dispatcher.add_listener(NAME, lambda event: calls.append("a"), 2)
    dispatcher.add_listener(NAME, lambda event: calls.append("b"), 2)
    dispatcher.dispatch(Event(NAME))
    assert calls == ["a", "b"]
    assert dispatcher.listener_ids(NAME) == (
        f"{HERE}.test_seed_call_without_an_id_keeps_working_and_repeats_get_a_suffix.<locals>.<lambda>",
        f"{HERE}.test_seed_call_without_an_id_keeps_working_and_repeats_get_a_suffix.<locals>.<lambda>#2",
    )


def test_explicit_id_is_used_and_a_second_listener_with_it_is_refused() -> None:
    """Two different callables with one id on one event: InvalidListenerError naming both."""
    dispatcher = EventDispatcher()
    record = dispatcher.add_listener(NAME, activate, id="activate-subscription")
    assert record.id == "activate-subscription"
    with pytest.raises(InvalidListenerError) as caught:
        dispatcher.add_listener(NAME, Service().on_payment, id="activate-subscription")
    message = str(caught.value)
    assert "'activate-subscription'" in message
    assert f"{HERE}.activate" in message and f"{HERE}.Service.on_payment" in message
    dispatcher.add_listener("payment.failed", Service().on_payment, id="activate-subscription")


@pytest.mark.parametrize("bad", ["", "x" * 201, "tab\there", 42])
def test_unusable_ids_are_refused(bad: object) -> None:
    """Ids are printable strings of 1 to 200 characters."""
    with pytest.raises(InvalidListenerError, match="listener id"):
        EventDispatcher().add_listener(NAME, activate, id=bad)  # type: ignore[arg-type]


def test_find_listener_and_removal() -> None:
    """find_listener returns the record by id; a removed listener's id is free again."""
    dispatcher = EventDispatcher()
    dispatcher.add_listener(NAME, activate, id="a")
    found = dispatcher.find_listener(NAME, "a")
    assert found is not None and found.callback is activate
    assert dispatcher.find_listener(NAME, "b") is None
    assert dispatcher.find_listener("other.event", "a") is None
    dispatcher.remove_listener(NAME, activate)
    assert dispatcher.listener_ids(NAME) == ()
    assert dispatcher.find_listener(NAME, "a") is None
    dispatcher.add_listener(NAME, Service().on_payment, id="a")


_listener_specs = st.lists(
    st.tuples(
        st.sampled_from(list(EventPriority)),
        st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"])),
    ),
    max_size=12,
)


@given(specs=_listener_specs)
def test_listener_ids_are_in_dispatch_order(
    specs: list[tuple[EventPriority, str | None]],
) -> None:
    """Whatever ids and priorities: listener_ids lists the ids in the order dispatch calls."""
    dispatcher = EventDispatcher()
    called: list[str] = []
    for index, (priority, wanted) in enumerate(specs):
        label = f"listener-{index}"

        def call(event: Event, label: str = label) -> None:
            called.append(label)

        try:
            dispatcher.add_listener(NAME, call, priority, id=wanted)
        except InvalidListenerError:  # an explicit id already taken
            assert wanted in dispatcher.listener_ids(NAME)
    dispatcher.dispatch(Event(NAME))
    ids = dispatcher.listener_ids(NAME)
    assert len(set(ids)) == len(ids)
    by_label = {}
    for listener_id in ids:
        found = dispatcher.find_listener(NAME, listener_id)
        assert found is not None
        by_label[found.callback.__defaults__[0]] = listener_id  # type: ignore[attr-defined]
    assert [by_label[label] for label in called] == list(ids)
    assert [record.id for record in dispatcher.get_listeners(NAME)] == list(ids)


class Loyalty(BasePlugin):
    """A plugin with a named and an unnamed listener."""

    metadata = PluginMetadata("loyalty", "1.0.0", "tests", "credits points")

    @listener(NAME, id="credit-points")
    def credit(self, event: Event) -> None:
        """Named: keeps its id when renamed."""

    @listener(NAME, EventPriority.LOW)
    @listener("payment.refunded")
    def audit(self, event: Event) -> None:
        """Unnamed: plugin name + qualified name."""

    def vbwd_event_listeners(self) -> Iterable[ListenerSpec]:
        return [ListenerSpec("payment.failed", self.audit, id="on-failure")]


def _enabled(*plugins: BasePlugin) -> PluginManager:
    manager = PluginManager()
    for plugin in plugins:
        manager.register_plugin(plugin)
        manager.initialize_plugin(plugin.metadata.name)
        manager.enable_plugin(plugin.metadata.name)
    return manager


def test_plugin_listener_ids_are_namespaced_by_the_plugin() -> None:
    """``"<plugin>:<id>"`` for named listeners, ``"<plugin>:<Class.method>"`` otherwise."""
    dispatcher = _enabled(Loyalty()).event_dispatcher
    assert dispatcher.listener_ids(NAME) == ("loyalty:credit-points", "loyalty:Loyalty.audit")
    assert dispatcher.listener_ids("payment.refunded") == ("loyalty:Loyalty.audit",)
    assert dispatcher.listener_ids("payment.failed") == ("loyalty:on-failure",)


def test_disable_and_enable_again_gives_the_same_ids() -> None:
    """Ids survive a disable/enable cycle (and a restart: they are names, not objects)."""
    manager = _enabled(Loyalty())
    before = manager.event_dispatcher.listener_ids(NAME)
    manager.disable_plugin("loyalty")
    assert manager.event_dispatcher.listener_ids(NAME) == ()
    manager.enable_plugin("loyalty")
    assert manager.event_dispatcher.listener_ids(NAME) == before


class Twice(BasePlugin):
    """A plugin giving one id to two listeners of one event."""

    metadata = PluginMetadata("twice", "1.0.0", "tests", "a mistake")

    @listener(NAME, id="same")
    def first(self, event: Event) -> None:
        """One."""

    @listener(NAME, id="same")
    def second(self, event: Event) -> None:
        """Two."""


def test_plugin_with_a_duplicate_id_is_not_enabled() -> None:
    """The enable is refused naming both listeners; nothing of it stays subscribed."""
    manager = PluginManager()
    manager.register_plugin(Twice())
    manager.initialize_plugin("twice")
    with pytest.raises(PluginError, match="'twice:same'") as caught:
        manager.enable_plugin("twice")
    assert "Twice.first" in str(caught.value) and "Twice.second" in str(caught.value)
    assert manager.event_dispatcher.listener_ids(NAME) == ()


def test_plugin_id_taken_by_a_host_listener_refuses_the_enable() -> None:
    """A host listener holding ``loyalty:credit-points`` keeps it; the plugin is refused."""
    manager = PluginManager()
    manager.event_dispatcher.add_listener(NAME, activate, id="loyalty:credit-points")
    manager.register_plugin(Loyalty())
    manager.initialize_plugin("loyalty")
    with pytest.raises(InvalidListenerError, match="is taken"):
        manager.enable_plugin("loyalty")
    assert manager.event_dispatcher.listener_ids(NAME) == ("loyalty:credit-points",)
