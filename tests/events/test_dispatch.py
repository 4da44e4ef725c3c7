"""Sync dispatch: priorities, stop-propagation, error isolation, strict mode, add and remove."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.events._support import Recorder
from vbwd_plugins import (
    Event,
    EventDispatcher,
    EventPriority,
    PluginError,
)
from vbwd_plugins.errors import InvalidListenerError
from vbwd_plugins.events import (
    EventListener,
    ListenerFailure,
)

P = EventPriority


def test_higher_priority_runs_first(dispatcher: EventDispatcher, recorder: Recorder) -> None:
    """Listeners run HIGHEST to LOWEST whatever order they were added in."""
    for priority in (P.LOW, P.HIGHEST, P.LOWEST, P.NORMAL, P.HIGH):
        dispatcher.add_listener("x", recorder.listener(priority.name), priority)
    dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["HIGHEST", "HIGH", "NORMAL", "LOW", "LOWEST"]


def test_equal_priorities_run_in_the_order_added(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """Within one priority, the listener added first runs first."""
    dispatcher.add_listener("x", recorder.listener("n1"))
    dispatcher.add_listener("x", recorder.listener("h1"), P.HIGH)
    dispatcher.add_listener("x", recorder.listener("n2"))
    dispatcher.add_listener("x", recorder.listener("h2"), P.HIGH)
    dispatcher.add_listener("x", recorder.listener("n3"), P.NORMAL)
    dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["h1", "h2", "n1", "n2", "n3"]


def test_priority_may_be_given_as_the_seed_int_value(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """An int 1..5 is read as the EventPriority of that value."""
    record = dispatcher.add_listener("x", recorder.listener("a"), 1)  # type: ignore[arg-type]
    assert record.priority is P.HIGHEST


@given(st.lists(st.sampled_from(list(EventPriority)), max_size=30))
def test_call_order_is_sorted_by_priority_and_stable(priorities: list[EventPriority]) -> None:
    """Any mix of priorities runs sorted by priority, ties in insertion order."""
    dispatcher, calls = EventDispatcher(), []
    for index, priority in enumerate(priorities):
        dispatcher.add_listener(
            "x", functools.partial(lambda i, _e: calls.append(i), index), priority
        )
    dispatcher.dispatch(Event("x"))
    assert calls == sorted(range(len(priorities)), key=lambda i: priorities[i].value)
    assert [r.priority for r in dispatcher.get_listeners("x")] == sorted(
        priorities, key=lambda p: p.value
    )


def test_dispatch_returns_the_event_listeners_modified(dispatcher: EventDispatcher) -> None:
    """dispatch returns the very event, with the changes listeners made to its data."""
    dispatcher.add_listener("x", lambda event: event.data.update(seen=True))
    event = Event("x", {"amount": 1})
    assert dispatcher.dispatch(event) is event
    assert event.data == {"amount": 1, "seen": True}
    assert event.errors == []


def test_an_event_nobody_listens_to_is_returned_untouched(dispatcher: EventDispatcher) -> None:
    """With no listeners dispatch just returns the event."""
    dispatcher.add_listener("other", lambda event: None)
    event = Event("nobody", {"a": 1})
    assert dispatcher.dispatch(event) is event
    assert event == Event("nobody", {"a": 1})
    assert not dispatcher.has_listeners("nobody")
    assert dispatcher.get_listeners("nobody") == []


# --------------------------------------------------------------------------- propagation


def test_stop_propagation_skips_the_remaining_listeners(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """The stopping listener finishes its own body; no listener after it runs."""
    finished = []

    def stopper(event: Event) -> None:
        event.stop_propagation()
        finished.append(True)

    dispatcher.add_listener("x", recorder.listener("first"), P.HIGHEST)
    dispatcher.add_listener("x", stopper, P.HIGH)
    dispatcher.add_listener("x", recorder.listener("later"))
    dispatcher.add_listener("x", recorder.listener("latest"), P.LOWEST)
    event = dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["first"]
    assert finished == [True]
    assert event.propagation_stopped is True


def test_assigning_propagation_stopped_also_stops(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """Setting the field directly (as the seed allowed) stops like stop_propagation()."""

    def stopper(event: Event) -> None:
        event.propagation_stopped = True

    dispatcher.add_listener("x", stopper)
    dispatcher.add_listener("x", recorder.listener("later"))
    assert dispatcher.dispatch(Event("x")).propagation_stopped
    assert recorder.calls == []


def test_an_event_stopped_before_dispatch_runs_no_listener(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """Dispatching an already stopped event calls nothing."""
    dispatcher.add_listener("x", recorder.listener("a"))
    event = Event("x")
    event.stop_propagation()
    dispatcher.dispatch(event)
    assert Event("x", propagation_stopped=True).propagation_stopped
    dispatcher.dispatch(Event("x", {}, True))
    assert recorder.calls == []


@given(st.integers(min_value=1, max_value=12), st.data())
def test_stop_is_honoured_right_after_the_listener_that_called_it(
    count: int, data: st.DataObject
) -> None:
    """Whichever listener stops, exactly the listeners up to it ran."""
    stop_at = data.draw(st.integers(min_value=0, max_value=count - 1))
    dispatcher, recorder = EventDispatcher(), Recorder()
    for index in range(count):
        dispatcher.add_listener("x", recorder.listener(str(index), stop=index == stop_at))
    dispatcher.dispatch(Event("x"))
    assert recorder.calls == [str(index) for index in range(stop_at + 1)]


def test_a_failing_listener_that_stopped_propagation_still_stops_it(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """stop_propagation() before raising is honoured on the error path too."""
    dispatcher.add_listener("x", recorder.listener("a", stop=True, error=ValueError("x")))
    dispatcher.add_listener("x", recorder.listener("b"))
    event = dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["a"]
    assert len(event.errors) == 1


def test_stop_after_an_earlier_failure_is_honoured(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """After a failure the remaining listeners still honour stop_propagation()."""
    dispatcher.add_listener("x", recorder.listener("a", error=ValueError("a")))
    dispatcher.add_listener("x", recorder.listener("b", stop=True))
    dispatcher.add_listener("x", recorder.listener("c"))
    dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["a", "b"]


def test_re_dispatching_the_same_event_from_a_listener(recorder: Recorder) -> None:
    """A listener may dispatch its event again (e.g. to another dispatcher); stops still work."""
    outer, inner = EventDispatcher(), EventDispatcher()
    inner.add_listener("x", recorder.listener("inner"))

    def forward_then_stop(event: Event) -> None:
        inner.dispatch(event)
        event.stop_propagation()

    outer.add_listener("x", forward_then_stop)
    outer.add_listener("x", recorder.listener("outer-after"))
    outer.dispatch(Event("x"))
    assert recorder.calls == ["inner"]


def test_a_stop_inside_a_re_dispatch_stops_the_outer_dispatch_too(recorder: Recorder) -> None:
    """The flag is the event's: stopped in a nested dispatch, the outer one stops as well."""
    outer, inner = EventDispatcher(), EventDispatcher()
    inner.add_listener("x", recorder.listener("inner", stop=True))
    outer.add_listener("x", inner.dispatch)
    outer.add_listener("x", recorder.listener("outer-after"))
    outer.dispatch(Event("x"))
    assert recorder.calls == ["inner"]


# --------------------------------------------------------------------------- isolation


def test_a_failing_listener_is_isolated_logged_and_recorded(
    dispatcher: EventDispatcher,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The others run; the error is logged with event, listener and traceback, never printed."""
    error = ValueError("card declined")

    def charge_fee(event: Event) -> None:
        raise error

    dispatcher.add_listener("payment.completed", recorder.listener("before"), P.HIGH)
    dispatcher.add_listener("payment.completed", charge_fee)
    dispatcher.add_listener("payment.completed", recorder.listener("after"), P.LOW)
    with caplog.at_level(logging.ERROR, logger="vbwd_plugins.events"):
        event = dispatcher.dispatch(Event("payment.completed"))

    assert recorder.calls == ["before", "after"]
    name = f"{__name__}.{charge_fee.__qualname__}"
    assert event.errors == [ListenerFailure(name, error, charge_fee)]
    [record] = caplog.records
    assert record.name == "vbwd_plugins.events"
    assert record.levelno == logging.ERROR
    assert "payment.completed" in record.getMessage()
    assert name in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is error
    assert "Traceback" in caplog.text
    assert record.event_name == "payment.completed"  # type: ignore[attr-defined]
    assert record.listener == name  # type: ignore[attr-defined]
    assert capsys.readouterr() == ("", "")


@given(st.lists(st.booleans(), max_size=15))
def test_every_listener_runs_and_every_failure_is_recorded_in_order(fails: list[bool]) -> None:
    """Whatever listeners fail, all run and the failures are listed in call order."""
    dispatcher, recorder = EventDispatcher(), Recorder()
    errors = [RuntimeError(str(i)) if fail else None for i, fail in enumerate(fails)]
    for index, error in enumerate(errors):
        dispatcher.add_listener("x", recorder.listener(str(index), error=error))
    logging.getLogger("vbwd_plugins.events").disabled = True
    try:
        event = dispatcher.dispatch(Event("x"))
    finally:
        logging.getLogger("vbwd_plugins.events").disabled = False
    assert recorder.calls == [str(i) for i in range(len(fails))]
    assert [f.exception for f in event.errors] == [e for e in errors if e is not None]


def test_strict_mode_raises_an_exception_group_after_all_listeners_ran(
    recorder: Recorder,
) -> None:
    """strict=True raises the listeners' exceptions together once every listener ran."""
    dispatcher = EventDispatcher(strict=True)
    first, second = ValueError("first"), KeyError("second")
    dispatcher.add_listener("x", recorder.listener("a", error=first))
    dispatcher.add_listener("x", recorder.listener("b"))
    dispatcher.add_listener("x", recorder.listener("c", error=second))
    event = Event("x")
    with pytest.raises(ExceptionGroup) as raised:
        dispatcher.dispatch(event)
    assert recorder.calls == ["a", "b", "c"]
    assert raised.value.exceptions == (first, second)
    assert "'x'" in str(raised.value)
    assert [f.exception for f in event.errors] == [first, second]


def test_strict_can_be_chosen_per_call(dispatcher: EventDispatcher, recorder: Recorder) -> None:
    """dispatch(event, strict=...) overrides the dispatcher's setting both ways."""
    dispatcher.add_listener("x", recorder.listener("a", error=ValueError("a")))
    with pytest.raises(ExceptionGroup):
        dispatcher.dispatch(Event("x"), strict=True)
    dispatcher.strict = True
    assert len(dispatcher.dispatch(Event("x"), strict=False).errors) == 1


def test_a_strict_dispatch_without_failures_raises_nothing(recorder: Recorder) -> None:
    """Strict mode only matters when a listener failed."""
    dispatcher = EventDispatcher(strict=True)
    dispatcher.add_listener("x", recorder.listener("a"))
    assert dispatcher.dispatch(Event("x")).errors == []


def test_base_exceptions_are_not_swallowed(dispatcher: EventDispatcher) -> None:
    """KeyboardInterrupt and SystemExit pass through: isolation is for Exception."""

    def interrupt(event: Event) -> None:
        raise KeyboardInterrupt

    dispatcher.add_listener("x", interrupt)
    with pytest.raises(KeyboardInterrupt):
        dispatcher.dispatch(Event("x"))


def test_failures_name_partials_and_callable_objects(dispatcher: EventDispatcher) -> None:
    """Listener names are qualified, also for partials, bound methods and callable objects."""

    class Handler:
        def __call__(self, event: Event) -> None:
            raise ValueError

        def method(self, event: Event) -> None:
            raise ValueError

    def function(tag: str, event: Event) -> None:
        raise ValueError(tag)

    dispatcher.add_listener("x", Handler())
    dispatcher.add_listener("x", Handler().method)
    dispatcher.add_listener("x", functools.partial(function, "t"))
    logging.getLogger("vbwd_plugins.events").disabled = True
    try:
        names = [f.listener for f in dispatcher.dispatch(Event("x")).errors]
    finally:
        logging.getLogger("vbwd_plugins.events").disabled = False
    local = f"{__name__}.test_failures_name_partials_and_callable_objects.<locals>"
    assert names == [
        f"{local}.Handler",
        f"{local}.Handler.method",
        f"functools.partial({local}.function)",
    ]


# --------------------------------------------------------------------------- add and remove


def test_remove_listener_accepts_an_equal_bound_method(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """A fresh ``obj.method`` removes the one added earlier; another object's stays."""

    class Plugin:
        def __init__(self, label: str) -> None:
            self.label = label

        def on_event(self, event: Event) -> None:
            recorder.calls.append(self.label)

    kept, removed = Plugin("kept"), Plugin("removed")
    dispatcher.add_listener("x", kept.on_event)
    dispatcher.add_listener("x", removed.on_event)
    dispatcher.remove_listener("x", removed.on_event)
    dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["kept"]
    assert [r.callback for r in dispatcher.get_listeners("x")] == [kept.on_event]


def test_remove_listener_removes_every_registration(dispatcher: EventDispatcher) -> None:
    """A callback added twice (it then runs twice) is removed entirely."""
    calls: list[int] = []

    def listen(event: Event) -> None:
        calls.append(1)

    dispatcher.add_listener("x", listen)
    dispatcher.add_listener("x", listen, P.HIGH)
    dispatcher.dispatch(Event("x"))
    assert calls == [1, 1]
    dispatcher.remove_listener("x", listen)
    assert not dispatcher.has_listeners("x")
    dispatcher.dispatch(Event("x"))
    assert calls == [1, 1]


def test_removing_what_is_not_there_is_a_no_op(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """Unknown event names and callbacks are ignored."""
    listen = recorder.listener("a")
    dispatcher.remove_listener("nothing", listen)
    dispatcher.add_listener("x", listen)
    dispatcher.remove_listener("x", recorder.listener("other"))
    dispatcher.remove_listener("y", listen)
    assert dispatcher.has_listeners("x")


def test_get_listeners_returns_records_in_call_order(dispatcher: EventDispatcher) -> None:
    """Records carry callback, priority, timeout and name; the list is a copy."""

    def low(event: Event) -> None: ...

    async def high(event: Event) -> None: ...

    dispatcher.add_listener("x", low, P.LOW)
    dispatcher.add_listener("x", high, P.HIGH, timeout=2.5)
    listeners = dispatcher.get_listeners("x")
    assert [(r.callback, r.priority, r.timeout) for r in listeners] == [
        (high, P.HIGH, 2.5),
        (low, P.LOW, None),
    ]
    assert [r.is_async for r in listeners] == [True, False]
    assert listeners[0].name.endswith(
        "test_get_listeners_returns_records_in_call_order.<locals>.high"
    )
    low_first = [listeners[1], listeners[0]]
    assert sorted(low_first) == listeners  # the seed's EventListener ordering
    listeners.clear()
    assert len(dispatcher.get_listeners("x")) == 2
    assert isinstance(dispatcher.get_listeners("x")[0], EventListener)


def test_add_listener_returns_the_record(dispatcher: EventDispatcher) -> None:
    """The returned record is the one get_listeners lists."""
    record = dispatcher.add_listener("x", print, P.LOWEST)
    assert dispatcher.get_listeners("x") == [record]


def test_a_dispatch_runs_the_listeners_registered_when_it_started(
    dispatcher: EventDispatcher, recorder: Recorder
) -> None:
    """Adding or removing listeners during a dispatch takes effect from the next one."""
    late = recorder.listener("late")
    doomed = recorder.listener("doomed")

    def reshuffle(event: Event) -> None:
        recorder.calls.append("reshuffle")
        dispatcher.add_listener("x", late, P.LOWEST)
        dispatcher.remove_listener("x", doomed)
        dispatcher.remove_listener("x", reshuffle)

    dispatcher.add_listener("x", reshuffle, P.HIGHEST)
    dispatcher.add_listener("x", doomed)
    dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["reshuffle", "doomed"]
    dispatcher.dispatch(Event("x"))
    assert recorder.calls == ["reshuffle", "doomed", "late"]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", print), {}, "event_name"),
        ((None, print), {}, "event_name"),
        (("x", "not callable"), {}, "not callable"),
        (("x", print, 0), {}, "priority"),
        (("x", print, "HIGH"), {}, "priority"),
        (("x", print), {"timeout": 0}, "timeout"),
        (("x", print), {"timeout": -1.0}, "timeout"),
        (("x", print), {"timeout": True}, "timeout"),
        (("x", print), {"timeout": "5"}, "timeout"),
    ],
)
def test_unusable_arguments_are_rejected(
    dispatcher: EventDispatcher, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    """add_listener names the bad argument; the error is a PluginError, TypeError and ValueError."""
    with pytest.raises(InvalidListenerError, match=message) as raised:
        dispatcher.add_listener(*args, **kwargs)
    assert isinstance(raised.value, PluginError)
    assert isinstance(raised.value, TypeError)
    assert isinstance(raised.value, ValueError)
    assert not dispatcher.has_listeners("x")


def test_async_timeout_is_validated() -> None:
    """The dispatcher's default timeout must be positive or None."""
    with pytest.raises(InvalidListenerError, match="async_timeout"):
        EventDispatcher(async_timeout=0)
    assert EventDispatcher(async_timeout=None).async_timeout is None
    assert EventDispatcher().async_timeout == 5.0


def test_events_compare_and_print_like_the_seed_dataclass() -> None:
    """Equality and repr use name, data and propagation_stopped; errors are left out."""
    event = Event("x", {"a": 1})
    event.errors.append(ListenerFailure("l", ValueError(), print))
    assert event == Event("x", {"a": 1})
    assert event != Event("x", {"a": 1}, propagation_stopped=True)
    assert repr(event) == "Event(name='x', data={'a': 1}, propagation_stopped=False)"
    assert Event("y").data == {}


def test_the_event_api_is_exported_from_its_packages() -> None:
    """Event names come from ``vbwd_plugins.events``, their errors from ``vbwd_plugins.errors``."""
    import vbwd_plugins.errors
    import vbwd_plugins.events

    for module, names in (
        (
            vbwd_plugins.events,
            (
                "Event",
                "EventDispatcher",
                "EventListener",
                "EventPriority",
                "ListenerFailure",
                "register_event_enum",
            ),
        ),
        (
            vbwd_plugins.errors,
            (
                "AsyncListenerError",
                "EventDeserializationError",
                "EventSerializationError",
                "InvalidListenerError",
                "ListenerTimeoutError",
            ),
        ),
    ):
        for name in names:
            assert name in module.__all__
            assert getattr(module, name).__module__.startswith("vbwd_plugins.")
