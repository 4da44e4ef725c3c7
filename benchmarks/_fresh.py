"""Fresh interpreters for the start-up benchmarks (import cost, CLI, discovery).

Each sample is a new process, as a user's start-up is. Every child writes and reads bytecode
in one throw-away cache (``PYTHONPYCACHEPREFIX``): a development checkout runs from source
and may have ``PYTHONDONTWRITEBYTECODE`` set, while installed libraries such as pluggy ship
compiled files; without a shared cache the comparison would time the compiler, not the import.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager


@contextmanager
def bytecode_cache() -> Iterator[dict[str, str]]:
    """An environment for the children with a bytecode cache of their own."""
    with tempfile.TemporaryDirectory(prefix="vbwd-bench-pyc-") as cache:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
        yield env


def wall_time(argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None) -> float:
    """Seconds from starting ``argv`` to its exit; output is discarded, failure raises."""
    start = time.perf_counter()
    subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def medians(
    cases: Mapping[str, Sequence[str]],
    env: Mapping[str, str],
    samples: int,
    cwd: str | None = None,
    warmup: int = 2,
) -> dict[str, float]:
    """Median wall time of each case: ``warmup`` unmeasured rounds (they fill the bytecode
    cache), then ``samples`` rounds, each running every case once in a shuffled order so
    all cases see the same machine noise."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    shuffle = random.Random(11).shuffle
    for round_ in range(warmup + samples):
        shuffle(names)
        for name in names:
            elapsed = wall_time(cases[name], env, cwd)
            if round_ >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}
