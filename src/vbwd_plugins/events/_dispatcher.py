"""Events: one dispatcher with priorities, error isolation, async listeners and timeouts.

``dispatch`` runs on request paths, so its loop does nothing per listener but call it:

* Per event name the dispatcher keeps a tuple of callables in call order, rebuilt under a
  lock (copy on write) when a listener is added or removed. A dispatch reads it once: a
  consistent snapshot without locking, and a name nobody listens to costs one ``dict.get``.
* Stopping propagation does not need a flag test after every listener: while an event is
  dispatched it holds the loop's iterator, and ``stop_propagation()`` exhausts it.
* One ``try`` wraps the whole loop; after a failure the same iterator carries on in
  :meth:`EventDispatcher._resume`, so the listeners that did not fail cost nothing extra.

Every listener has a stable *id* (:attr:`EventListener.id`), unique per event name: what a
durable delivery (:mod:`vbwd_plugins.delivery`) names, so that a worker process finds the
same listener again. Ids are worked out when a listener is added, never on dispatch.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, cast, final

from vbwd_plugins.errors import AsyncListenerError, InvalidListenerError, ListenerTimeoutError
from vbwd_plugins.events._event import Event as Event
from vbwd_plugins.events._event import ListenerFailure as ListenerFailure
from vbwd_plugins.events._serialization import register_event_enum

__all__ = [
    "Event",
    "EventDispatcher",
    "EventListener",
    "EventPriority",
    "ListenerFailure",
    "listener_id_of",
]

#: Listener failures and timeouts are logged here (with the traceback), never printed.
logger: Final = logging.getLogger("vbwd_plugins.events")
#: Longest listener id (what the stores keep for a delivery).
MAX_LISTENER_ID: Final = 200


class EventPriority(Enum):
    """Listener priority; HIGHEST runs first, equal priorities in the order they were added."""

    HIGHEST = 1
    HIGH = 2
    NORMAL = 3
    LOW = 4
    LOWEST = 5


register_event_enum(EventPriority, name="vbwd_plugins.events:EventPriority")


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


def listener_id_of(callback: object) -> str:
    """The id a listener gets when none is given: ``module.qualname`` of what it calls.

    Partials are unwrapped, a bound method is ``module.Class.method`` and an object with
    ``__call__`` is ``module.Class``; so the id survives a restart, while the callable
    itself does not.
    """
    target = _unwrap_partial(callback)
    qualname = getattr(target, "__qualname__", None)
    module = getattr(target, "__module__", None)
    if not isinstance(qualname, str):  # an instance with __call__
        qualname, module = type(target).__qualname__, type(target).__module__
    return f"{module}.{qualname}" if module else qualname


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
    #: Stable id, unique among the listeners of one event: what a delivery names
    #: (default: the callback's module and qualified name; set when the listener is added).
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", _is_async(self.callback))
        object.__setattr__(self, "name", _qualified_name(self.callback))
        if not self.id:
            object.__setattr__(self, "id", listener_id_of(self.callback))

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


def _check_id(listener_id: object, event_name: str) -> str:
    if (
        not isinstance(listener_id, str)
        or not 0 < len(listener_id) <= MAX_LISTENER_ID
        or not listener_id.isprintable()
    ):
        raise InvalidListenerError(
            f"listener id for {event_name!r} must be a printable str of 1 to "
            f"{MAX_LISTENER_ID} characters, not {listener_id!r}"
        )
    return listener_id


def _free_id(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted#2``, ``wanted#3``...: the first one not ``taken``."""
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{wanted}#{number}"
    return candidate


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
    ``trace=True`` makes each dispatch an OpenTelemetry span (see docs/operating.md); off,
    dispatch pays nothing for it.
    """

    __slots__ = ("_async_timeout", "_calls", "_ids", "_lock", "_records", "strict")
    #: Whether each dispatch is a span (set with ``trace=True``).
    trace: bool = False

    def __init__(
        self, *, strict: bool = False, async_timeout: float | None = 5.0, trace: bool = False
    ) -> None:
        if trace:  # a subclass, so that the hot path has no test for it
            self.__class__ = _TracedDispatcher
        _check_timeout(async_timeout, "async_timeout")
        #: Raise the listeners' exceptions as an ExceptionGroup after each failing dispatch.
        self.strict = strict
        self._async_timeout = async_timeout
        self._lock = threading.Lock()
        self._records: dict[str, tuple[EventListener, ...]] = {}
        self._calls: dict[str, tuple[_Callback, ...]] = {}  # what dispatch() calls
        self._ids: dict[str, tuple[str, ...]] = {}  # listener ids in call order

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
        id: str | None = None,
        timeout: float | None = None,
    ) -> EventListener:
        """Register ``callback`` for ``event_name``; ``timeout`` overrides ``async_timeout``.

        ``async def`` callbacks (also partials and objects with ``async def __call__``) run
        only in :meth:`dispatch_async`. Adding the same callback twice calls it twice.

        ``id`` names the listener durably (see :attr:`EventListener.id`); another listener
        of ``event_name`` with the same id is refused with :class:`InvalidListenerError`.
        Without one the id is the callback's module and qualified name, made unique with a
        ``#2``, ``#3``... suffix in the order such listeners are added.
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
        if id is not None:
            id = _check_id(id, event_name)
        with self._lock:
            current = self._records.get(event_name, ())
            if id is None:
                free = _free_id(listener_id_of(callback), {other.id for other in current})
                record = EventListener(callback, priority, timeout, id=free)
            else:
                record = EventListener(callback, priority, timeout, id=id)
                for other in current:
                    if other.id == id:
                        raise InvalidListenerError(
                            f"Listener id {id!r} on event {event_name!r} is taken: "
                            f"{record.name} cannot use the id of {other.name}; "
                            "give one of them another id"
                        )
            records = sorted((*current, record), key=_priority_value)
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
            self._ids[event_name] = tuple(record.id for record in records)
        else:
            self._calls.pop(event_name, None)
            self._records.pop(event_name, None)
            self._ids.pop(event_name, None)

    def has_listeners(self, event_name: str) -> bool:
        """Whether anything listens to ``event_name``."""
        return event_name in self._records

    def get_listeners(self, event_name: str) -> list[EventListener]:
        """The listeners of ``event_name`` in call order."""
        return list(self._records.get(event_name, ()))

    def listener_ids(self, event_name: str) -> tuple[str, ...]:
        """The ids of ``event_name``'s listeners, in call order (one delivery each)."""
        return self._ids.get(event_name, ())

    def find_listener(self, event_name: str, listener_id: str) -> EventListener | None:
        """The listener of ``event_name`` with id ``listener_id``, or ``None``."""
        for record in self._records.get(event_name, ()):
            if record.id == listener_id:
                return record
        return None

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
                    await self.await_listener(record, cast("Awaitable[object]", result), event)
            except Exception as exc:  # noqa: BLE001 - isolation
                failures.append(_record_failure(event, record.callback, exc))
            if event._stopped:
                break
        if failures and (self.strict if strict is None else strict):
            raise _failure_group(event, failures)
        return event

    async def await_listener(
        self, record: EventListener, awaitable: Awaitable[object], event: Event
    ) -> None:
        """Await what ``record`` returned for ``event``, under its timeout.

        Raises :class:`ListenerTimeoutError` (after cancelling it) when the time runs out;
        what the listener raises propagates. :meth:`dispatch_async` and the delivery
        runner use it, so a listener gets the same timeout either way.
        """
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


class _TracedDispatcher(EventDispatcher):
    """An :class:`EventDispatcher` whose dispatches are spans (``trace=True``)."""

    __slots__ = ()
    trace = True

    def dispatch(self, event: Event, strict: bool | None = None) -> Event:
        from vbwd_plugins.telemetry._spans import dispatch_span  # loaded when first traced

        with dispatch_span(event.name, len(self._calls.get(event.name, ()))) as span:
            return span.ended(super().dispatch(event, strict))

    async def dispatch_async(self, event: Event, strict: bool | None = None) -> Event:
        from vbwd_plugins.telemetry._spans import dispatch_span

        with dispatch_span(event.name, len(self._calls.get(event.name, ()))) as span:
            return span.ended(await super().dispatch_async(event, strict))


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
