"""The catalogue of known event names: a listener of a name nothing emits is caught."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pytest

from vbwd_plugins import (
    BasePlugin,
    Event,
    PluginManager,
    PluginMetadata,
    PluginStatus,
    hookimpl,
    listener,
)
from vbwd_plugins.errors import InvalidListenerError, InvalidMetadataError
from vbwd_plugins.events._catalogue import PLUGIN_EVENTS, EventCatalogue
from vbwd_plugins.payments import PaymentEventType
from vbwd_plugins.plugins import ListenerSpec

LIFECYCLE_LOGGER = "vbwd_plugins.plugins._lifecycle"


class Typo(BasePlugin):
    """Listens to a misspelt standard event."""

    metadata = PluginMetadata("typo", "1.0", "t", "misspells payment.completed")

    def __init__(self) -> None:
        super().__init__()
        self.enabled = False

    @listener("payment.complted")
    def on_completed(self, event: Event) -> None:
        """Never called: nothing emits this name."""

    def on_enable(self) -> None:
        self.enabled = True


class Emitter(BasePlugin):
    """Declares an event of its own."""

    metadata = PluginMetadata("loyalty", "1.0", "t", "credits points", emits=["loyalty.credited"])


class Follower(BasePlugin):
    """Listens to the event ``Emitter`` declares and to a standard one."""

    metadata = PluginMetadata("follower", "1.0", "t", "follows loyalty")

    @listener("loyalty.credited")
    @listener("payment.refunded")
    def on_event(self, event: Event) -> None:
        """Records nothing: only the subscription matters here."""


class Contributor(BasePlugin):
    """Contributes a listener of an unknown name through the pluggy hook."""

    metadata = PluginMetadata("contributor", "1.0", "t", "contributes a listener")

    @hookimpl
    def vbwd_event_listeners(self) -> Iterable[ListenerSpec]:
        return [ListenerSpec("invoice.payed", self.on_invoice)]

    def on_invoice(self, event: Event) -> None:
        """Never called."""


def _enable(manager: PluginManager, plugin: BasePlugin) -> None:
    manager.register_plugin(plugin)
    manager.initialize_plugin(plugin.metadata.name)
    manager.enable_plugin(plugin.metadata.name)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- the core's names ----------------------------------------------------------------------


def test_standard_events_are_known() -> None:
    """Every PaymentEventType and every plugin.* lifecycle event is in a new catalogue."""
    catalogue = EventCatalogue()
    assert {event.value for event in PaymentEventType} <= catalogue.names()
    assert set(PLUGIN_EVENTS) <= catalogue.names()
    assert catalogue.sources("payment.completed") == {"core"}


class Failing(BasePlugin):
    """Fails once in on_enable, so that plugin.error is emitted."""

    metadata = PluginMetadata("failing", "1.0", "t", "fails once")
    fail = True

    def on_enable(self) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("not today")


def test_every_plugin_event_the_manager_emits_is_known() -> None:
    """The plugin.* names emitted through a whole lifecycle (and an error) are all catalogued."""
    manager = PluginManager()
    seen: list[str] = []
    for name in PLUGIN_EVENTS:
        manager.event_dispatcher.add_listener(name, lambda event: seen.append(event.name))
    plugin = Failing()
    manager.register_plugin(plugin)
    manager.initialize_plugin("failing")
    with pytest.raises(Exception, match="not today"):
        manager.enable_plugin("failing")
    manager.initialize_plugin("failing")
    manager.enable_plugin("failing")
    manager.disable_plugin("failing")
    manager.uninstall_plugin("failing")
    assert set(seen) == set(PLUGIN_EVENTS)
    assert manager.check_event_names() == []


# -- plugin listeners, at enable time ------------------------------------------------------


def test_a_misspelt_listener_is_logged_with_the_closest_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not strict: the plugin is enabled, and a warning names plugin, listener and a guess."""
    manager = PluginManager()
    plugin = Typo()
    with caplog.at_level(logging.WARNING, logger=LIFECYCLE_LOGGER):
        _enable(manager, plugin)
    assert plugin.status is PluginStatus.ENABLED and plugin.enabled
    (message,) = _warnings(caplog)
    assert "Plugin 'typo'" in message
    assert "Typo.on_completed" in message
    assert "'payment.complted'" in message and "did you mean 'payment.completed'?" in message


def test_a_strict_manager_refuses_the_enable_before_on_enable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """strict=True: InvalidListenerError naming plugin and guess; on_enable never ran."""
    manager = PluginManager(strict=True)
    plugin = Typo()
    manager.register_plugin(plugin)
    manager.initialize_plugin("typo")
    with pytest.raises(InvalidListenerError, match=r"did you mean 'payment\.completed'") as info:
        manager.enable_plugin("typo")
    assert info.value.plugin_name == "typo"
    assert plugin.status is PluginStatus.INITIALIZED and not plugin.enabled
    assert not manager.event_dispatcher.has_listeners("payment.complted")
    manager.register_event_names(["payment.complted"])  # the host says it does emit it
    manager.enable_plugin("typo")
    assert manager.get_plugin("typo") in manager.get_enabled_plugins()


def test_strict_can_be_switched_on_later() -> None:
    """``manager.strict`` is a plain attribute, read at each enable."""
    manager = PluginManager()
    manager.strict = True
    manager.register_plugin(Typo())
    manager.initialize_plugin("typo")
    with pytest.raises(InvalidListenerError):
        manager.enable_plugin("typo")


def test_listeners_contributed_through_the_hook_are_checked_too() -> None:
    """A ListenerSpec from vbwd_event_listeners is checked like a @listener method."""
    manager = PluginManager(strict=True)
    manager.register_plugin(Contributor())
    manager.initialize_plugin("contributor")
    with pytest.raises(InvalidListenerError) as info:
        manager.enable_plugin("contributor")
    assert "'invoice.payed'" in str(info.value) and "Contributor.on_invoice" in str(info.value)


def test_known_names_pass_silently(caplog: pytest.LogCaptureFixture) -> None:
    """Names a registered plugin declares in ``emits`` and standard names draw no warning."""
    manager = PluginManager(strict=True)
    with caplog.at_level(logging.WARNING):
        manager.register_plugin(Emitter())
        _enable(manager, Follower())
    assert _warnings(caplog) == []
    assert manager.get_plugin("follower").status is PluginStatus.ENABLED  # type: ignore[union-attr]


def test_an_uninstalled_plugin_takes_its_names_with_it() -> None:
    """After the emitting plugin is uninstalled, its names are no longer known."""
    manager = PluginManager()
    manager.register_plugin(Emitter())
    manager.initialize_plugin("loyalty")
    assert "loyalty.credited" in manager.known_event_names()
    manager.uninstall_plugin("loyalty")
    assert "loyalty.credited" not in manager.known_event_names()
    manager.strict = True
    manager.register_plugin(Follower())
    manager.initialize_plugin("follower")
    with pytest.raises(InvalidListenerError, match=r"'loyalty\.credited'"):
        manager.enable_plugin("follower")


def test_a_name_declared_by_two_sources_survives_one_leaving() -> None:
    """A name the host also registered stays known when the plugin declaring it goes."""
    catalogue = EventCatalogue()
    catalogue.register(["loyalty.credited"], source="plugin:loyalty")
    catalogue.register("loyalty.credited")  # a lone str is one name, not letters
    catalogue.forget("plugin:loyalty")
    assert "loyalty.credited" in catalogue and catalogue.sources("loyalty.credited") == {"host"}


def test_no_guess_when_nothing_is_close() -> None:
    """The message offers a closest name only when one is similar enough."""
    message = EventCatalogue().unknown_message("zzz", "mod.listener")
    assert message is not None and "did you mean" not in message


# -- metadata: emits -----------------------------------------------------------------------


def test_emits_is_optional_and_keyword_only() -> None:
    """The seed's positional PluginMetadata works; emits defaults to [] and is keyword-only."""
    seed = PluginMetadata("stripe", "1.0.0", "VBWD Team", "Stripe", ["base"])
    assert (seed.dependencies, seed.emits) == (["base"], [])
    assert PluginMetadata("p", "1.0", "a", "d", emits=None).emits == []  # type: ignore[arg-type]
    assert PluginMetadata("p", "1.0", "a", "d", emits=("a.b",)).emits == ["a.b"]  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PluginMetadata("p", "1.0", "a", "d", [], ["a.b"])  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "emits",
    ["loyalty.credited", [""], ["two words"], [42], ["tab\there"], ["x" * 201]],
)
def test_bad_emits_refuse_registration(emits: Any) -> None:
    """emits must be a list of names; a bad one is InvalidMetadataError naming plugin and field."""

    class Bad(BasePlugin):
        metadata = PluginMetadata("bad", "1.0", "t", "bad emits", emits=emits)

    with pytest.raises(InvalidMetadataError, match=r"Plugin 'bad'.*'emits'") as info:
        PluginManager().register_plugin(Bad())
    assert info.value.field == "emits"


# -- host names and host listeners ---------------------------------------------------------


def test_host_registered_names_are_known() -> None:
    """register_event_names makes names known; a malformed one raises and adds nothing."""
    manager = PluginManager()
    manager.register_event_names(["invoice.paid", "invoice.voided"])
    assert {"invoice.paid", "invoice.voided"} <= set(manager.known_event_names())
    with pytest.raises(InvalidListenerError, match="printable"):
        manager.register_event_names(["invoice.sent", "bad name"])
    assert "invoice.sent" not in manager.known_event_names()
    assert manager.known_event_names() == sorted(manager.known_event_names())


def test_host_listeners_are_accepted_then_checked_on_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """add_listener takes any name; check_event_names reports (strict: raises) unknown ones."""
    manager = PluginManager()
    manager.event_dispatcher.add_listener("payment.refundd", lambda event: None)
    manager.event_dispatcher.add_listener("payment.refunded", lambda event: None)
    with caplog.at_level(logging.WARNING):
        (problem,) = manager.check_event_names()
    assert "'payment.refundd'" in problem and "did you mean 'payment.refunded'?" in problem
    assert _warnings(caplog) == [problem]
    manager.strict = True
    with pytest.raises(InvalidListenerError, match=r"'payment\.refundd'"):
        manager.check_event_names()
    manager.register_event_names(["payment.refundd"])
    assert manager.check_event_names() == []


def test_metadata_with_unusable_emits_can_still_be_constructed() -> None:
    """As with other fields, a bad emits is reported at registration, not at construction."""
    metadata = PluginMetadata("p", "1.0", "a", "d", emits=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidMetadataError, match="not a list of event names"):
        metadata.validate()
