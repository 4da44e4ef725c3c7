"""The event object: a name, its data, the propagation flag and the listeners that failed.

Kept apart from the dispatcher so that the object every listener receives reads on its own;
the dispatcher (``_dispatcher``) drives its private ``_cursor`` and ``_stopped`` fields.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Self, final, overload

from vbwd_plugins.events._serialization import decode_event, encode_event

__all__ = ["Event", "ListenerFailure"]


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

    A listener called through a durable delivery (:mod:`vbwd_plugins.delivery`) receives
    its own copy of the event with :attr:`idempotency_key` and :attr:`delivery_id` set;
    under a plain :meth:`EventDispatcher.dispatch` both are ``None``.
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
    #: The same on every attempt of one listener's delivery of this event (64 hex
    #: characters): key the listener's own effect on it. ``None`` outside a delivery.
    #: (Class-level defaults, so ``__init__`` and dispatch pay nothing for them.)
    idempotency_key: str | None = field(default=None, init=False, repr=False, compare=False)
    #: The id of the delivery this call belongs to; ``None`` outside a delivery.
    delivery_id: str | None = field(default=None, init=False, repr=False, compare=False)

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
