"""Events: one dispatcher with priorities, error isolation, async listeners and timeouts.

``dispatch`` runs on request paths, so its loop does nothing per listener but call it:

* Per event name the dispatcher keeps a tuple of callables in call order, rebuilt under a
  lock (copy on write) when a listener is added or removed. A dispatch reads it once: a
  consistent snapshot without locking, and a name nobody listens to costs one ``dict.get``.
* Stopping propagation does not need a flag test after every listener: while an event is
  dispatched it holds the loop's iterator, and ``stop_propagation()`` exhausts it.
* One ``try`` wraps the whole loop; after a failure the same iterator carries on in
  :meth:`EventDispatcher._resume`, so the listeners that did not fail cost nothing extra.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Self, cast, final, overload

from vbwd_plugins.errors import AsyncListenerError, InvalidListenerError, ListenerTimeoutError
from vbwd_plugins.events._serialization import decode_event, encode_event, register_event_enum

__all__ = ["Event", "EventDispatcher", "EventListener", "EventPriority", "ListenerFailure"]

#: Listener failures and timeouts are logged here (with the traceback), never printed.
logger: Final = logging.getLogger("vbwd_plugins.events")


@register_event_enum
class EventPriority(Enum):
    """Listener priority; HIGHEST runs first, equal priorities in the order they were added."""

    HIGHEST = 1
    HIGH = 2
    NORMAL = 3
    LOW = 4
    LOWEST = 5


@final
@dataclass(frozen=True, slots=True)
class ListenerFailure:
    """A listener that raised or timed out during a dispatch (kept in ``event.errors``)."""

    #: Qualified name of the listener, e.g. ``"acme_analytics.Plugin.on_payment"``.
    listener: str
    exception: Exception
    callback: Callable[..., object] = field(repr=False)


class _PropagationFlag:
    """``Event.propagation_stopped``, a descriptor-typed dataclass field.

    Setting it also exhausts the iterator of the sync dispatch in progress, so assigning
    the field and calling ``stop_propagation()`` stop the loop alike.
    """

    __slots__ = ()

    @overload
    def __get__(self, event: None, owner: type[Any] | None = None) -> bool: ...

    @overload
    def __get__(self, event: Event, owner: type[Any] | None = None) -> bool: ...

    def __get__(self, event: Event | None, owner: type[Any] | None = None) -> bool:
        return False if event is None else event._stopped  # None: the field's default

    def __set__(self, event: Event, value: bool) -> None:
        event._stopped = stopped = bool(value)
        if stopped and event._cursor is not None:
            deque(event._cursor, maxlen=0)


@dataclass(init=False)
class Event:
    """Something that happened: a ``name`` (``"payment.completed"``) and its ``data``.

    Listeners may modify ``data``. After ``stop_propagation()`` no further listener runs.
    ``errors`` lists the listeners that failed while it was dispatched.
    """

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    propagation_stopped: _PropagationFlag = _PropagationFlag()
    errors: list[ListenerFailure] = field(
        default_factory=list, init=False, repr=False, compare=False
    )
    _stopped: bool = field(default=False, init=False, repr=False, compare=False)
    # The iterator of the sync dispatch in progress, for the propagation flag to exhaust.
    _cursor: Iterator[object] | None = field(default=None, init=False, repr=False, compare=False)

    def __init__(
        self, name: str, data: dict[str, Any] | None = None, propagation_stopped: bool = False
    ) -> None:
        # Written out (not generated) so that every attribute dispatch touches is set, in
        # one order: CPython then shares the key layout and its attribute caches stay hot.
        self.name = name
        self.data = {} if data is None else data
        self._stopped = bool(propagation_stopped)
        self._cursor = None
        self.errors = []

    def stop_propagation(self) -> None:
        """Stop event propagation to remaining listeners."""
        self.propagation_stopped = True

    def to_json(self) -> str:
        """``name`` and ``data`` as JSON; Decimal, UUID, datetime, date and Enum survive."""
        return encode_event(self.name, self.data)

    @classmethod
    def from_json(cls, text: str | bytes, *, enums: Iterable[type[Enum]] = ()) -> Self:
        """The event :meth:`to_json` wrote; ``enums`` adds to the registered enum classes."""
        name, data = decode_event(text, enums=enums)
        return cls(name, data)


def _unwrap_partial(callback: object) -> object:
    while isinstance(callback, functools.partial):
        callback = callback.func
    return callback


def _qualified_name(callback: object) -> str:
    target = _unwrap_partial(callback)
    qualname = getattr(target, "__qualname__", None)
    module = getattr(target, "__module__", None)
    if not isinstance(qualname, str):  # an instance with __call__
        qualname, module = type(target).__qualname__, type(target).__module__
    name = f"{module}.{qualname}" if module else qualname
    return name if target is callback else f"functools.partial({name})"


def _is_async(callback: object) -> bool:
    """Whether calling ``callback`` makes a coroutine (``async def``, async ``__call__``)."""
    target = _unwrap_partial(callback)
    if inspect.iscoroutinefunction(target):
        return True
    if inspect.isroutine(target) or isinstance(target, type):
        return False
    return inspect.iscoroutinefunction(type(target).__call__)


@final
@dataclass(frozen=True, slots=True)
class EventListener:
    """A registered listener, as :meth:`EventDispatcher.get_listeners` returns it."""

    callback: Callable[[Event], object]
    priority: EventPriority = EventPriority.NORMAL
    #: Seconds an async listener may run; ``None``: the dispatcher's ``async_timeout``.
    timeout: float | None = None
    #: Whether the callback is a coroutine function (runs only in ``dispatch_async``).
    is_async: bool = field(init=False, compare=False)
    #: Qualified name used in logs and :class:`ListenerFailure`.
    name: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", _is_async(self.callback))
        object.__setattr__(self, "name", _qualified_name(self.callback))

    def __lt__(self, other: EventListener) -> bool:
        """Compare by priority for sorting (as in the original design)."""
        return self.priority.value < other.priority.value


@final
class _AsyncOnly:
    """Stands in for an async listener in the sync call tuple; never creates a coroutine."""

    __slots__ = ("listener",)

    def __init__(self, listener: EventListener) -> None:
        self.listener = listener

    def __call__(self, event: Event) -> None:
        raise AsyncListenerError(
            f"Listener {self.listener.name} is async and was not run: dispatch "
            f"{event.name!r} with 'await dispatcher.dispatch_async(event)'",
            listener=self.listener.name,
            event_name=event.name,
        )


def _record_failure(
    event: Event, callback: Callable[..., object], exc: Exception
) -> ListenerFailure:
    """Add ``exc`` to ``event.errors`` and log it with the event and listener names."""
    if isinstance(callback, _AsyncOnly):
        name, callback = callback.listener.name, callback.listener.callback
    else:
        name = _qualified_name(callback)
    failure = ListenerFailure(name, exc, callback)
    event.errors.append(failure)
    traceback = not isinstance(exc, AsyncListenerError | ListenerTimeoutError)
    logger.error(
        "Listener %s failed on event %r: %s: %s",
        name,
        event.name,
        type(exc).__name__,
        exc,
        exc_info=exc if traceback else None,
        extra={"event_name": event.name, "listener": name},
    )
    return failure


def _restore_cursor(event: Event, outer: Iterator[object] | None) -> None:
    """Give the event back to the dispatch it was re-dispatched from (stopped, if it was)."""
    event._cursor = outer
    if outer is not None and event._stopped:
        deque(outer, maxlen=0)


def _failure_group(event: Event, failures: list[ListenerFailure]) -> ExceptionGroup[Exception]:
    return ExceptionGroup(
        f"{len(failures)} listener(s) failed on event {event.name!r}",
        [failure.exception for failure in failures],
    )


def _check_timeout(timeout: float | None, what: str) -> None:
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise InvalidListenerError(
            f"{what} must be a number of seconds > 0 or None, not {timeout!r}"
        )


_Callback = Callable[[Event], object]


class EventDispatcher:
    """Dispatches events to listeners in priority order.

    ``strict=True`` raises an :class:`ExceptionGroup` of the listeners' exceptions after all
    listeners ran (by default they are only logged and kept in ``event.errors``).
    ``async_timeout`` is how many seconds each async listener may run in
    :meth:`dispatch_async` unless it was added with its own ``timeout`` (``None``: no limit).
    """

    __slots__ = ("_async_timeout", "_calls", "_lock", "_records", "strict")

    def __init__(self, *, strict: bool = False, async_timeout: float | None = 5.0) -> None:
        _check_timeout(async_timeout, "async_timeout")
        #: Raise the listeners' exceptions as an ExceptionGroup after each failing dispatch.
        self.strict = strict
        self._async_timeout = async_timeout
        self._lock = threading.Lock()
        self._records: dict[str, tuple[EventListener, ...]] = {}
        self._calls: dict[str, tuple[_Callback, ...]] = {}  # what dispatch() calls

    @property
    def async_timeout(self) -> float | None:
        """Default seconds an async listener may run (``None``: no limit)."""
        return self._async_timeout

    def add_listener(
        self,
        event_name: str,
        callback: Callable[[Event], object],
        priority: EventPriority = EventPriority.NORMAL,
        *,
        timeout: float | None = None,
    ) -> EventListener:
        """Register ``callback`` for ``event_name``; ``timeout`` overrides ``async_timeout``.

        ``async def`` callbacks (also partials and objects with ``async def __call__``) run
        only in :meth:`dispatch_async`. Adding the same callback twice calls it twice.
        """
        if not isinstance(event_name, str) or not event_name:
            raise InvalidListenerError(f"event_name must be a non-empty str, not {event_name!r}")
        if not callable(callback):
            raise InvalidListenerError(f"listener for {event_name!r} is not callable: {callback!r}")
        try:
            priority = EventPriority(priority)
        except ValueError:
            raise InvalidListenerError(
                f"priority must be an EventPriority, not {priority!r}"
            ) from None
        _check_timeout(timeout, "timeout")
        record = EventListener(callback, priority, timeout)
        with self._lock:
            records = sorted((*self._records.get(event_name, ()), record), key=_priority_value)
            self._publish(event_name, tuple(records))
        return record

    def remove_listener(self, event_name: str, callback: Callable[[Event], object]) -> None:
        """Remove every registration of ``callback`` (compared with ``==``) for ``event_name``."""
        with self._lock:
            records = self._records.get(event_name, ())
            kept = tuple(record for record in records if record.callback != callback)
            if len(kept) != len(records):
                self._publish(event_name, kept)

    def _publish(self, event_name: str, records: tuple[EventListener, ...]) -> None:
        """Swap in new tuples for ``event_name`` (caller holds the lock)."""
        if records:
            self._records[event_name] = records
            self._calls[event_name] = tuple(
                _AsyncOnly(record) if record.is_async else record.callback for record in records
            )
        else:
            self._calls.pop(event_name, None)
            self._records.pop(event_name, None)

    def has_listeners(self, event_name: str) -> bool:
        """Whether anything listens to ``event_name``."""
        return event_name in self._records

    def get_listeners(self, event_name: str) -> list[EventListener]:
        """The listeners of ``event_name`` in call order."""
        return list(self._records.get(event_name, ()))

    def dispatch(self, event: Event, strict: bool | None = None) -> Event:
        """Call the listeners of ``event.name`` in priority order and return ``event``.

        A listener that raises is logged and recorded in ``event.errors``; the others still
        run. An async listener is not run: it is recorded as an :class:`AsyncListenerError`.
        ``strict=`` (default: the dispatcher's setting) raises the failures as an
        ``ExceptionGroup`` after every listener ran.
        """
        # The hot path: keep it free of per-listener work (see the module docstring).
        calls = self._calls.get(event.name)
        if calls is None or event._stopped:
            return event
        outer = event._cursor  # not None when a listener re-dispatches the same event
        event._cursor = cursor = iter(calls)
        try:
            for callback in cursor:
                callback(event)
        except Exception as exc:  # noqa: BLE001 - isolation: recorded, logged, maybe re-raised
            failures = self._resume(event, cursor, callback, exc)
            _restore_cursor(event, outer)
            if self.strict if strict is None else strict:
                raise _failure_group(event, failures) from None
            return event
        if outer is None:
            event._cursor = None
        else:
            _restore_cursor(event, outer)
        return event

    @staticmethod
    def _resume(
        event: Event, cursor: Iterator[_Callback], failed: _Callback, exc: Exception
    ) -> list[ListenerFailure]:
        """Record ``failed``, then run what is left of ``cursor``, one ``try`` per listener."""
        failures = [_record_failure(event, failed, exc)]
        for callback in cursor:
            try:
                callback(event)
            except Exception as error:  # noqa: BLE001 - isolation
                failures.append(_record_failure(event, callback, error))
        return failures

    async def dispatch_async(self, event: Event, strict: bool | None = None) -> Event:
        """Like :meth:`dispatch`, and ``async`` listeners are awaited, each under its timeout.

        Listeners run one after another in priority order. A listener that times out is
        cancelled and recorded as a :class:`ListenerTimeoutError`. A sync listener that
        returns an awaitable has it awaited too.
        """
        records = self._records.get(event.name)
        if records is None or event._stopped:
            return event
        failures: list[ListenerFailure] = []
        for record in records:
            try:
                result = record.callback(event)
                if record.is_async or inspect.isawaitable(result):
                    await self._await(record, cast("Awaitable[object]", result), event)
            except Exception as exc:  # noqa: BLE001 - isolation
                failures.append(_record_failure(event, record.callback, exc))
            if event._stopped:
                break
        if failures and (self.strict if strict is None else strict):
            raise _failure_group(event, failures)
        return event

    async def _await(
        self, record: EventListener, awaitable: Awaitable[object], event: Event
    ) -> None:
        import asyncio  # only reached inside a running loop, where asyncio is loaded already

        limit = self._async_timeout if record.timeout is None else record.timeout
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                await awaitable
        except TimeoutError as exc:
            if not scope.expired():
                raise  # the listener's own TimeoutError
            raise _timed_out(record, event, limit or math.inf) from exc
        if scope.expired():  # it swallowed the cancellation and finished late
            raise _timed_out(record, event, limit or math.inf)


def _timed_out(record: EventListener, event: Event, limit: float) -> ListenerTimeoutError:
    return ListenerTimeoutError(
        f"Listener {record.name} timed out after {limit:g} s on event {event.name!r} "
        "and was cancelled",
        listener=record.name,
        event_name=event.name,
        timeout=limit,
    )


def _priority_value(record: EventListener) -> int:
    return record.priority.value
