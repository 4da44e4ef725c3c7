"""Event dispatch cost: ``EventDispatcher.dispatch`` vs a plain loop, pluggy, blinker, the seed.

One event goes to N = 1, 10, 100 listeners. Every implementation calls the *same* listener
functions; all are measured in one process, in interleaved rounds (shuffled order per
round) with the garbage collector off, ``time.perf_counter_ns`` around many calls per sample
and the bare timing-loop cost subtracted. The table shows the minimum over the samples and
ratios against the plain loop ``for cb in callbacks: cb(event)``.

Workloads:

* ``count`` (targets apply): each listener does ``event.data["hits"] += 1``, the least a real
  listener does (read the payload); it also lets the script check that every implementation
  called every listener exactly once per dispatch. With it the seed's dispatcher measures
  about 1.2x the plain loop, the calibration the targets were set against.
* ``empty`` (reported, no targets): listeners with an empty body, the worst case for any
  dispatcher since the fixed cost of a dispatch is compared with almost nothing.

    python benchmarks/bench_dispatch.py [--samples 80] [--check]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from importlib.metadata import version
from itertools import repeat
from typing import Any

import pluggy

from vbwd_plugins import (
    Event,
    EventDispatcher,
)

try:
    import blinker
except ImportError:  # an optional dev dependency
    blinker = None  # type: ignore[assignment]

SIZES = (1, 10, 100)
SAMPLE_NS = 1_000_000  # ~1 ms per sample: many short samples, so some escape the noise
Listener = Callable[[Any], None]


# --------------------------------------------------------------------------------------------
# The seed's dispatcher (sprint-4-plugin-system.md, section 4.2), verbatim but for the print.


class SeedPriority(Enum):
    HIGHEST = 1
    HIGH = 2
    NORMAL = 3
    LOW = 4
    LOWEST = 5


@dataclass
class SeedEvent:
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    propagation_stopped: bool = False

    def stop_propagation(self) -> None:
        self.propagation_stopped = True


@dataclass
class SeedListener:
    callback: Callable[[Any], None]
    priority: SeedPriority = SeedPriority.NORMAL

    def __lt__(self, other: SeedListener) -> bool:
        return self.priority.value < other.priority.value


class SeedDispatcher:
    def __init__(self) -> None:
        self._listeners: dict[str, list[SeedListener]] = {}

    def add_listener(
        self,
        event_name: str,
        callback: Callable[[Any], None],
        priority: SeedPriority = SeedPriority.NORMAL,
    ) -> None:
        if event_name not in self._listeners:
            self._listeners[event_name] = []
        listener = SeedListener(callback=callback, priority=priority)
        self._listeners[event_name].append(listener)
        self._listeners[event_name].sort()

    def dispatch(self, event: SeedEvent) -> SeedEvent:
        if event.name not in self._listeners:
            return event
        for listener in self._listeners[event.name]:
            if event.propagation_stopped:
                break
            try:  # noqa: SIM105 - the seed's code; contextlib.suppress would cost more
                listener.callback(event)
            except Exception:
                pass  # the seed printed the error here
        return event


# --------------------------------------------------------------------------------------------
# Listeners and the implementations under test.


def make_listeners(count: int, workload: str) -> list[Listener]:
    """``count`` distinct listener functions, each named ``event`` in its signature (pluggy)."""
    listeners: list[Listener] = []
    for _ in range(count):
        if workload == "count":

            def listener(event: Any) -> None:
                event.data["hits"] += 1

        else:

            def listener(event: Any) -> None:
                pass

        listeners.append(listener)
    return listeners


@dataclass
class Candidate:
    """One implementation: ``call(event)`` (or ``call(event=event)``) dispatches once."""

    label: str
    call: Callable[..., object]
    event: Any
    keyword: bool = False
    samples: list[float] = field(default_factory=list)
    calls: int = 0

    @property
    def best(self) -> float:
        return min(self.samples)


def build(listeners: list[Listener], workload: str) -> list[Candidate]:
    """Every implementation wired to the same ``listeners``."""
    name = "bench.event"
    callbacks = list(listeners)

    def plain_loop(event: Any) -> None:
        for callback in callbacks:
            callback(event)

    dispatcher = EventDispatcher()
    seed = SeedDispatcher()
    for listener in listeners:
        dispatcher.add_listener(name, listener)
        seed.add_listener(name, listener)
    candidates = [
        Candidate("plain loop", plain_loop, Event(name, {"hits": 0})),
        Candidate("EventDispatcher", dispatcher.dispatch, Event(name, {"hits": 0})),
        Candidate("seed dispatcher", seed.dispatch, SeedEvent(name, {"hits": 0})),
    ]
    if workload == "count":
        hookspec = pluggy.HookspecMarker("bench")
        hookimpl = pluggy.HookimplMarker("bench")

        class Spec:
            @hookspec
            def on_event(self, event: Any) -> None: ...

        manager = pluggy.PluginManager("bench")
        manager.add_hookspecs(Spec)
        for listener in listeners:
            plugin = type("Plugin", (), {"on_event": staticmethod(hookimpl(listener))})()
            manager.register(plugin)
        candidates.append(
            Candidate("pluggy hook", manager.hook.on_event, Event(name, {"hits": 0}), keyword=True)
        )
        if blinker is not None:
            signal = blinker.Signal()
            for listener in listeners:
                signal.connect(listener, weak=False)
            candidates.append(Candidate("blinker send", signal.send, Event(name, {"hits": 0})))
    return candidates


# --------------------------------------------------------------------------------------------
# Timing.


def run_loop(call: Callable[..., object], event: Any, loops: int, keyword: bool) -> int:
    """Nanoseconds for ``loops`` calls."""
    timer = time.perf_counter_ns
    if keyword:
        start = timer()
        for _ in repeat(None, loops):
            call(event=event)
        return timer() - start
    start = timer()
    for _ in repeat(None, loops):
        call(event)
    return timer() - start


def empty_loop(loops: int) -> int:
    """Nanoseconds the timing loop itself costs for ``loops`` iterations."""
    timer = time.perf_counter_ns
    start = timer()
    for _ in repeat(None, loops):
        pass
    return timer() - start


def measure(candidates: list[Candidate], samples: int, rng: random.Random) -> None:
    """Fill ``candidate.samples`` with ns per dispatch, interleaving the candidates."""
    loops = {}
    for candidate in candidates:  # calibrate: ~SAMPLE_NS per sample
        per_call = run_loop(candidate.call, candidate.event, 200, candidate.keyword) / 200
        loops[candidate.label] = max(50, int(SAMPLE_NS / max(per_call, 1.0)))
        candidate.calls += 200
    overhead = min(empty_loop(100_000) for _ in range(5)) / 100_000
    order = list(candidates)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(samples):
            rng.shuffle(order)
            for candidate in order:
                count = loops[candidate.label]
                elapsed = run_loop(candidate.call, candidate.event, count, candidate.keyword)
                candidate.samples.append(max(elapsed / count - overhead, 0.0))
                candidate.calls += count
    finally:
        if gc_was_enabled:
            gc.enable()


def check_calls(candidates: list[Candidate], listeners: int) -> None:
    """Every implementation called every listener once per dispatch (``count`` workload)."""
    for candidate in candidates:
        hits = candidate.event.data["hits"]
        if hits != candidate.calls * listeners:
            raise SystemExit(
                f"{candidate.label}: {hits} listener calls, expected "
                f"{candidate.calls} dispatches x {listeners}"
            )


# --------------------------------------------------------------------------------------------
# Report.


@dataclass
class Target:
    text: str
    ratio: float
    limit: float
    at_most: bool = True

    @property
    def ok(self) -> bool:
        return self.ratio <= self.limit if self.at_most else self.ratio >= self.limit


def table(results: dict[int, list[Candidate]]) -> None:
    print(f"{'N':>4}  {'implementation':<18}{'ns/dispatch':>12}{'median':>10}{'x plain loop':>14}")
    for size, candidates in results.items():
        plain = candidates[0].best
        for candidate in candidates:
            median = statistics.median(candidate.samples)
            print(
                f"{size:>4}  {candidate.label:<18}{candidate.best:>12.0f}{median:>10.0f}"
                f"{candidate.best / plain:>14.2f}"
            )
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=80, help="interleaved rounds (min taken)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args, _unknown = parser.parse_known_args()  # run.py passes every benchmark the same args
    rng = random.Random(20260101)
    print(
        f"Python {sys.version.split()[0]}, pluggy {version('pluggy')}, "
        f"blinker {version('blinker') if blinker is not None else 'not installed'}; "
        f"min of {args.samples} interleaved samples, timing-loop cost subtracted\n"
    )

    results: dict[str, dict[int, list[Candidate]]] = {"count": {}, "empty": {}}
    for workload, by_size in results.items():
        for size in SIZES:
            candidates = build(make_listeners(size, workload), workload)
            measure(candidates, args.samples, rng)
            if workload == "count":
                check_calls(candidates, size)
            by_size[size] = candidates

    # Nobody listens to the event, compared with a plain loop calling one (counting) listener.
    one_listener = build(make_listeners(1, "count"), "empty")[0]
    dispatcher = EventDispatcher()
    dispatcher.add_listener("someone.listens", make_listeners(1, "count")[0])
    nobody = Candidate("no listeners", dispatcher.dispatch, Event("nobody.listens"))
    measure([one_listener, nobody], args.samples, rng)

    print('Workload "count": each listener does event.data["hits"] += 1 (targets apply)')
    table(results["count"])
    print('Workload "empty": listeners with an empty body (worst case, reported only)')
    table(results["empty"])
    print(
        f"No listeners: EventDispatcher.dispatch {nobody.best:.0f} ns; "
        f"plain loop calling one listener {one_listener.best:.0f} ns\n"
    )

    best = {
        size: {candidate.label: candidate.best for candidate in candidates}
        for size, candidates in results["count"].items()
    }

    def vs_plain(size: int, label: str = "EventDispatcher") -> float:
        return best[size][label] / best[size]["plain loop"]

    targets = [
        Target("dispatch <= 1.10x plain loop, N = 10", vs_plain(10), 1.10),
        Target("dispatch <= 1.10x plain loop, N = 100", vs_plain(100), 1.10),
        Target(
            "pluggy / dispatch >= 4, N = 10",
            best[10]["pluggy hook"] / best[10]["EventDispatcher"],
            4.0,
            at_most=False,
        ),
        Target(
            "no-listener dispatch <= 2x one-listener loop", nobody.best / one_listener.best, 2.0
        ),
        Target("dispatch / seed < 1, N = 10", vs_plain(10) / vs_plain(10, "seed dispatcher"), 1.0),
        Target(
            "dispatch / seed < 1, N = 100", vs_plain(100) / vs_plain(100, "seed dispatcher"), 1.0
        ),
    ]
    print('Targets (workload "count")')
    for target in targets:
        print(f"  {'PASS' if target.ok else 'FAIL'}  {target.text}: {target.ratio:.2f}")
    missed = [target for target in targets if not target.ok]
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
