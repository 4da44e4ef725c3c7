"""Thread safety: listeners added and removed while other threads dispatch."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from vbwd_plugins import (
    Event,
    EventDispatcher,
    EventPriority,
)

DISPATCHERS = 4
MUTATORS = 2
ROUNDS = 1500


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Make the interpreter switch threads far more often than usual, to provoke races."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def counting(label: str) -> Callable[[Event], None]:
    """A listener that counts its calls per event in ``event.data["calls"]``."""

    def listen(event: Event) -> None:
        calls: Counter[str] = event.data["calls"]
        calls[label] += 1
        event.data["order"].append(label)

    return listen


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Start every target at once (barrier), join them, return what they raised."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            try:
                target()
            except BaseException as exc:
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(target)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_concurrent_changes_never_crash_or_double_call_a_listener() -> None:
    """Each dispatch runs each listener at most once, in order; the steady ones always run."""
    dispatcher = EventDispatcher()
    dispatcher.add_listener("x", counting("first"), EventPriority.HIGHEST)
    dispatcher.add_listener("x", counting("last"), EventPriority.LOWEST)
    transient = [counting(f"t{i}") for i in range(8)]
    events: list[list[Event]] = [[] for _ in range(DISPATCHERS)]

    def dispatch(slot: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(ROUNDS):
                event = Event("x", {"calls": Counter(), "order": []})
                events[slot].append(dispatcher.dispatch(event))

        return run

    def mutate(offset: int) -> Callable[[], None]:
        def run() -> None:
            for index in range(ROUNDS):
                # Disjoint per mutator: two threads adding the same callback would
                # legitimately register it twice.
                per_mutator = len(transient) // MUTATORS
                listener = transient[offset * per_mutator + index % per_mutator]
                dispatcher.add_listener("x", listener)
                dispatcher.remove_listener("x", listener)

        return run

    errors = run_threads(
        [dispatch(slot) for slot in range(DISPATCHERS)]
        + [mutate(offset) for offset in range(MUTATORS)]
    )

    assert errors == []
    dispatched = [event for slot in events for event in slot]
    assert len(dispatched) == DISPATCHERS * ROUNDS
    for event in dispatched:
        calls: Counter[str] = event.data["calls"]
        assert event.errors == []
        assert max(calls.values()) == 1
        assert event.data["order"][0] == "first"
        assert event.data["order"][-1] == "last"
    assert [r.callback.__qualname__ for r in dispatcher.get_listeners("x")] == [
        "counting.<locals>.listen"
    ] * 2


def test_concurrent_adds_are_all_kept_in_priority_order() -> None:
    """Listeners added from many threads at once all end up registered, sorted by priority."""
    dispatcher = EventDispatcher()
    priorities = list(EventPriority)

    def add(thread: int) -> Callable[[], None]:
        def run() -> None:
            for index in range(200):
                priority = priorities[(thread + index) % len(priorities)]
                dispatcher.add_listener("x", counting(f"{thread}-{index}"), priority)

        return run

    assert run_threads([add(thread) for thread in range(4)]) == []
    listeners = dispatcher.get_listeners("x")
    assert len(listeners) == 800
    values = [r.priority.value for r in listeners]
    assert values == sorted(values)
    event = dispatcher.dispatch(Event("x", {"calls": Counter(), "order": []}))
    assert len(event.data["calls"]) == 800
