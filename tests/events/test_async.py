"""Async listeners: dispatch_async, timeouts, and what sync dispatch does with them."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any
from unittest.mock import AsyncMock

import pytest

from tests.events._support import Recorder
from vbwd_plugins import (
    Event,
    EventDispatcher,
    EventPriority,
    PluginError,
)
from vbwd_plugins.errors import (
    AsyncListenerError,
    ListenerTimeoutError,
)

P = EventPriority


def run(dispatcher: EventDispatcher, event: Event, strict: bool | None = None) -> Event:
    """``dispatch_async`` on a fresh event loop."""
    return asyncio.run(dispatcher.dispatch_async(event, strict))


def test_sync_and_async_listeners_run_in_priority_order(recorder: Recorder) -> None:
    """dispatch_async interleaves both kinds by priority, ties in insertion order."""
    dispatcher = EventDispatcher()
    dispatcher.add_listener("x", recorder.listener("sync-normal"))
    dispatcher.add_listener("x", recorder.async_listener("async-high", delay=0.01), P.HIGH)
    dispatcher.add_listener("x", recorder.async_listener("async-normal"))
    dispatcher.add_listener("x", recorder.listener("sync-highest"), P.HIGHEST)
    event = run(dispatcher, Event("x"))
    assert recorder.calls == ["sync-highest", "async-high", "sync-normal", "async-normal"]
    assert event.errors == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_dispatch_async_honours_stop_propagation(recorder: Recorder, kind: str) -> None:
    """A sync or async listener that stops propagation is the last to run."""
    dispatcher = EventDispatcher()
    make = recorder.listener if kind == "sync" else recorder.async_listener
    dispatcher.add_listener("x", recorder.async_listener("first"), P.HIGH)
    dispatcher.add_listener("x", make("stopper", stop=True))
    dispatcher.add_listener("x", recorder.async_listener("after-async"))
    dispatcher.add_listener("x", recorder.listener("after-sync"))
    assert run(dispatcher, Event("x")).propagation_stopped
    assert recorder.calls == ["first", "stopper"]


def test_a_stopped_event_runs_no_async_listener(recorder: Recorder) -> None:
    """dispatch_async of an already stopped event calls nothing."""
    dispatcher = EventDispatcher()
    dispatcher.add_listener("x", recorder.async_listener("a"))
    run(dispatcher, Event("x", propagation_stopped=True))
    assert run(dispatcher, Event("nobody")).errors == []
    assert recorder.calls == []


def test_a_timed_out_listener_is_cancelled_recorded_and_logged(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the dispatcher's timeout the listener is cancelled; the others still run."""
    dispatcher = EventDispatcher(async_timeout=0.05)
    cancelled: list[bool] = []

    async def slow(event: Event) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    dispatcher.add_listener("x", slow, P.HIGH)
    dispatcher.add_listener("x", recorder.async_listener("after"))
    with caplog.at_level(logging.ERROR, logger="vbwd_plugins.events"):
        event = run(dispatcher, Event("x"))

    assert cancelled == [True]
    assert recorder.calls == ["after"]
    [failure] = event.errors
    assert failure.callback is slow
    assert failure.listener.endswith("<locals>.slow")
    error = failure.exception
    assert isinstance(error, ListenerTimeoutError)
    assert isinstance(error, TimeoutError) and isinstance(error, PluginError)
    assert (error.timeout, error.event_name, error.listener) == (0.05, "x", failure.listener)
    assert isinstance(error.__cause__, TimeoutError)
    [record] = caplog.records
    assert "timed out after 0.05 s" in record.getMessage()
    assert failure.listener in record.getMessage()


def test_a_listener_timeout_overrides_the_dispatcher_default(recorder: Recorder) -> None:
    """timeout= on add_listener wins over async_timeout, in both directions."""
    dispatcher = EventDispatcher(async_timeout=0.01)
    dispatcher.add_listener("x", recorder.async_listener("patient", delay=0.1), timeout=5)
    dispatcher.add_listener("x", recorder.async_listener("hasty", delay=5), timeout=0.02)
    unlimited = EventDispatcher(async_timeout=None)
    unlimited.add_listener("x", recorder.async_listener("unlimited", delay=0.05))
    logging.getLogger("vbwd_plugins.events").disabled = True
    try:
        event = run(dispatcher, Event("x"))
        assert run(unlimited, Event("x")).errors == []
    finally:
        logging.getLogger("vbwd_plugins.events").disabled = False
    assert recorder.calls == ["patient", "unlimited"]
    [failure] = event.errors
    assert isinstance(failure.exception, ListenerTimeoutError)
    assert failure.exception.timeout == 0.02


def test_a_listener_that_ignores_cancellation_is_still_reported(recorder: Recorder) -> None:
    """Swallowing the cancellation does not hide the timeout."""
    dispatcher = EventDispatcher(async_timeout=0.02)

    async def stubborn(event: Event) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            recorder.calls.append("swallowed")

    dispatcher.add_listener("x", stubborn)
    logging.getLogger("vbwd_plugins.events").disabled = True
    try:
        event = run(dispatcher, Event("x"))
    finally:
        logging.getLogger("vbwd_plugins.events").disabled = False
    assert recorder.calls == ["swallowed"]
    assert isinstance(event.errors[0].exception, ListenerTimeoutError)


def test_a_listener_raising_timeout_error_itself_is_not_a_timeout() -> None:
    """Only the dispatcher's own timeout becomes ListenerTimeoutError."""
    dispatcher = EventDispatcher()
    own = TimeoutError("upstream API timed out")

    async def calls_api(event: Event) -> None:
        raise own

    dispatcher.add_listener("x", calls_api)
    logging.getLogger("vbwd_plugins.events").disabled = True
    try:
        event = run(dispatcher, Event("x"))
    finally:
        logging.getLogger("vbwd_plugins.events").disabled = False
    assert event.errors[0].exception is own


def test_async_failures_are_isolated_and_strict_mode_groups_them(recorder: Recorder) -> None:
    """Exceptions of async listeners are recorded; strict raises them after all ran."""
    first, second = ValueError("async"), RuntimeError("sync")
    dispatcher = EventDispatcher(strict=True)
    dispatcher.add_listener("x", recorder.async_listener("a", error=first))
    dispatcher.add_listener("x", recorder.listener("b", error=second))
    dispatcher.add_listener("x", recorder.async_listener("c"))
    event = Event("x")
    logging.getLogger("vbwd_plugins.events").disabled = True
    try:
        with pytest.raises(ExceptionGroup) as raised:
            run(dispatcher, event)
        assert len(run(dispatcher, Event("x"), strict=False).errors) == 2
    finally:
        logging.getLogger("vbwd_plugins.events").disabled = False
    assert raised.value.exceptions == (first, second)
    assert recorder.calls == ["a", "b", "c", "a", "b", "c"]
    assert [f.exception for f in event.errors] == [first, second]


def test_a_sync_listener_returning_an_awaitable_is_awaited(recorder: Recorder) -> None:
    """dispatch_async awaits what a sync listener returns (e.g. a lambda calling async code)."""
    dispatcher = EventDispatcher()
    coroutine_function = recorder.async_listener("awaited")
    dispatcher.add_listener("x", lambda event: coroutine_function(event))
    run(dispatcher, Event("x"))
    assert recorder.calls == ["awaited"]


# --------------------------------------------------------------------------- sync dispatch


def test_sync_dispatch_never_calls_an_async_listener(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """dispatch() does not call it (no coroutine exists), records and logs why; others run."""
    dispatcher = EventDispatcher()
    listener = AsyncMock(return_value=None)
    dispatcher.add_listener("x", recorder.listener("before"), P.HIGH)
    dispatcher.add_listener("x", listener)
    dispatcher.add_listener("x", recorder.listener("after"), P.LOW)
    with caplog.at_level(logging.ERROR, logger="vbwd_plugins.events"):
        event = dispatcher.dispatch(Event("x"))

    listener.assert_not_called()
    assert recorder.calls == ["before", "after"]
    [failure] = event.errors
    assert failure.callback is listener
    error = failure.exception
    assert isinstance(error, AsyncListenerError) and isinstance(error, TypeError)
    assert (error.listener, error.event_name) == (failure.listener, "x")
    assert "dispatch_async" in str(error)
    assert "dispatch_async" in caplog.records[0].getMessage()
    run(dispatcher, Event("x"))
    listener.assert_awaited_once()


def test_sync_strict_dispatch_reports_the_async_listener(recorder: Recorder) -> None:
    """In strict mode the skipped async listener is part of the ExceptionGroup."""
    dispatcher = EventDispatcher(strict=True)
    dispatcher.add_listener("x", recorder.async_listener("a"))
    logging.getLogger("vbwd_plugins.events").disabled = True
    try:
        with pytest.raises(ExceptionGroup) as raised:
            dispatcher.dispatch(Event("x"))
    finally:
        logging.getLogger("vbwd_plugins.events").disabled = False
    [error] = raised.value.exceptions
    assert isinstance(error, AsyncListenerError)
    assert recorder.calls == []


class _AsyncCallable:
    async def __call__(self, event: Event) -> None: ...


class _SyncCallable:
    def __call__(self, event: Event) -> None: ...

    async def method(self, event: Event) -> None: ...


async def _coroutine_function(tag: str, event: Event) -> None: ...


def _function(tag: str, event: Event) -> None: ...


@pytest.mark.parametrize(
    ("callback", "is_async"),
    [
        (functools.partial(_coroutine_function, "t"), True),
        (functools.partial(functools.partial(_coroutine_function, "t")), True),
        (_AsyncCallable(), True),
        (functools.partial(_AsyncCallable()), True),
        (_SyncCallable().method, True),
        (AsyncMock(), True),
        (functools.partial(_function, "t"), False),
        (_SyncCallable(), False),
        (lambda event: None, False),
        (print, False),
        (_SyncCallable, False),
    ],
)
def test_async_listeners_are_recognised_when_added(
    callback: Callable[..., Any], is_async: bool
) -> None:
    """Coroutine functions are detected once, also behind partials and __call__."""
    assert EventDispatcher().add_listener("x", callback).is_async is is_async
